//! The test harness: a real API server on `127.0.0.1:0` over a fresh database.
//!
//! SQLite tests get a file in a temporary directory; PostgreSQL tests get a database of
//! their own on the server named by `TEST_DATABASE_URL` (default: the local server as
//! user `postgres`), created before and dropped after the test.

use std::time::Duration;

use agentops_api::Server;
use agentops_api::config::ApiConfig;
use agentops_api::state::AppState;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use uuid::Uuid;

/// The admin key every test server is started with.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server used for tests.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let url = format!("{}/{name}", &base[..authority_end]);
    match query {
        Some(query) => format!("{url}?{query}"),
        None => url,
    }
}

/// A throwaway database: a SQLite file or a PostgreSQL database, removed on drop.
pub struct TestDb {
    pub url: String,
    pg_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn create(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
                pg_name: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
                // Named after the test run (set by scripts/test.sh) so leftovers can be
                // dropped without touching another run's databases.
                let run = std::env::var("AGENTOPS_TEST_RUN").unwrap_or_else(|_| "adhoc".to_owned());
                let name = format!("agentops_test_{run}_{}", Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|err| {
                    panic!(
                        "cannot reach PostgreSQL at {admin_url} ({err}); run the tests with \
                         `scripts/test.sh`, which starts one, or set TEST_DATABASE_URL"
                    )
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                Self {
                    url: with_database(&admin_url, &name),
                    pg_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async context: use a private runtime on a plain thread.
        let admin_url = postgres_admin_url();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok();
                    }
                });
            }
        })
        .join();
    }
}

/// The configuration of a test server (fast reaper, short back-off).
pub fn test_config(db: &TestDb) -> ApiConfig {
    let mut cfg = ApiConfig::defaults();
    cfg.bind = "127.0.0.1:0".parse().unwrap();
    cfg.data_dir = db.dir().to_path_buf();
    cfg.database_url = Some(db.url.clone());
    cfg.admin_key = Some(ADMIN_KEY.to_owned());
    cfg.reaper_interval_ms = 50;
    cfg.retry_base_ms = 10;
    cfg.retry_max_ms = 50;
    cfg.rate_limit_per_second = 100_000;
    cfg.rate_limit_burst = 100_000;
    cfg.db_max_connections = 40;
    cfg
}

/// A running API server and an HTTP client for it.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub key: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Kept alive for the server's lifetime; dropped (and deleted) after it.
    _db: TestDb,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut ApiConfig)) -> Self {
        init_test_logging();
        let db = TestDb::create(backend).await;
        let mut cfg = test_config(&db);
        configure(&mut cfg);
        Self::spawn_on(db, cfg).await
    }

    pub async fn spawn_on(db: TestDb, cfg: ApiConfig) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let server = Server::start(cfg).await.expect("server starts");
        let state = server.state().clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.serve(listener, async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            state,
            key: ADMIN_KEY.to_owned(),
            shutdown: Some(tx),
            server: Some(handle),
            _db: db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with `key` (or none).
    pub async fn call_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(Some(&self.key), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// POST that must answer `expected`; returns the body.
    pub async fn post_ok(&self, path: &str, body: Value, expected: StatusCode) -> Value {
        let (status, value) = self.post(path, body).await;
        assert_eq!(status, expected, "POST {path} answered {status}: {value}");
        value
    }

    pub async fn get_ok(&self, path: &str) -> Value {
        let (status, value) = self.get(path).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "GET {path} answered {status}: {value}"
        );
        value
    }

    pub async fn create_project(&self, name: &str) -> Uuid {
        let body = self
            .post_ok(
                "/api/v1/projects",
                json!({ "name": name }),
                StatusCode::CREATED,
            )
            .await;
        id_of(&body)
    }

    pub async fn create_task(&self, project_id: Uuid, extra: Value) -> Value {
        let mut body = json!({ "project_id": project_id, "title": "a task" });
        merge(&mut body, extra);
        self.post_ok("/api/v1/tasks", body, StatusCode::CREATED)
            .await
    }

    pub async fn register_agent(&self, name: &str) -> Uuid {
        let body = self
            .post_ok("/api/v1/agents", json!({ "name": name }), StatusCode::OK)
            .await;
        id_of(&body)
    }

    /// Claims with `body` merged over `{agent_id}`; returns the claimed tasks.
    pub async fn claim(&self, agent_id: Uuid, extra: Value) -> Vec<Value> {
        let mut body = json!({ "agent_id": agent_id });
        merge(&mut body, extra);
        let out = self
            .post_ok("/api/v1/tasks/claim", body, StatusCode::OK)
            .await;
        out["tasks"].as_array().cloned().unwrap_or_default()
    }

    pub async fn create_key(&self, role: &str) -> String {
        let body = self
            .post_ok(
                "/api/v1/keys",
                json!({ "name": format!("{role}-key"), "role": role }),
                StatusCode::CREATED,
            )
            .await;
        body["secret"].as_str().unwrap().to_owned()
    }

    /// Every event in the log, oldest first.
    pub async fn events(&self) -> Vec<agentops_sdk::types::Event> {
        agentops_api::store::events::list_after(&self.state.db, 0, 1_000_000)
            .await
            .unwrap()
    }

    /// Waits until `check` holds for the task, polling; panics after `timeout`.
    pub async fn wait_for_task(
        &self,
        id: Uuid,
        timeout: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let task = self.get_ok(&format!("/api/v1/tasks/{id}")).await;
            if check(&task) {
                return task;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task never reached the expected state: {task}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            handle.abort();
        }
    }
}

pub fn id_of(value: &Value) -> Uuid {
    value["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no id in {value}"))
}

pub fn merge(target: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (target.as_object_mut(), extra) {
        for (k, v) in extra {
            target.insert(k, v);
        }
    }
}

fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            ))
            .with_test_writer()
            .try_init();
    }
}

/// Generates `sqlite::name` and `postgres::name` tests that call `name(backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}
