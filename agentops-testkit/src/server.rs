//! A real API server on `127.0.0.1:0` over a throwaway database, for the API's
//! integration tests and the end-to-end tests of the SDK and agents.
//!
//! SQLite servers get a file in a temporary directory; PostgreSQL servers get a database
//! of their own on the server named by `TEST_DATABASE_URL` (default: the local server as
//! user `postgres`), created before and dropped after the test. Database names carry
//! `AGENTOPS_TEST_RUN` (set by `scripts/test.sh`) so a run can clean up after itself
//! without touching another's.

use std::net::SocketAddr;
use std::time::Duration;

use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;

use agentops_api::Server;
use agentops_api::config::ApiConfig;
use agentops_api::state::AppState;

/// The admin key every test server is started with.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef0123456789";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the test PostgreSQL server.
    Postgres,
}

/// The Redis server used for tests (`TEST_REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Points `cfg` at `url` with a channel prefix of its own, so concurrent tests sharing
/// one Redis never hear each other.
pub fn use_redis(cfg: &mut ApiConfig, url: &str) {
    cfg.redis_url = Some(url.to_owned());
    cfg.redis_prefix = format!("agentops-test:{}:", Uuid::new_v4().simple());
    // A busy test machine may take longer than production's 250 ms to answer; a test
    // that means to see Redis fail stops it.
    cfg.redis_timeout_ms = 5_000;
}

/// The PostgreSQL server used for tests.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A throwaway database (and a temporary data directory), removed on drop.
pub struct TestDb {
    /// Its connection URL.
    pub url: String,
    pg_name: Option<String>,
    dir: tempfile::TempDir,
}

impl TestDb {
    /// Creates an empty database on `backend`.
    ///
    /// # Panics
    /// If the PostgreSQL server cannot be reached or the database cannot be created.
    pub async fn create(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
                pg_name: None,
                dir,
            },
            Backend::Postgres => {
                let admin_url = postgres_admin_url();
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
                    url: agentops_api::store::with_database_name(&admin_url, &name),
                    pg_name: Some(name),
                    dir,
                }
            }
        }
    }

    /// Its temporary data directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
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

/// The master key test servers seal secrets under (32 bytes, base64).
pub const SECRET_KEY: &str = "dGVzdC1tYXN0ZXIta2V5LW9mLTMyLWJ5dGVzLWxvbmc=";

/// The configuration of a test server: a fast reaper, short back-offs, no rate limit to
/// speak of, and [`ADMIN_KEY`].
pub fn test_config(db: &TestDb) -> ApiConfig {
    let mut cfg = ApiConfig::defaults();
    cfg.bind = "127.0.0.1:0".parse().expect("address");
    cfg.data_dir = db.dir().to_path_buf();
    cfg.database_url = Some(db.url.clone());
    cfg.admin_key = Some(ADMIN_KEY.to_owned());
    // One master key for every test server, as replicas of one platform share theirs.
    cfg.secret_key = Some(SECRET_KEY.to_owned());
    cfg.reaper_interval_ms = 50;
    cfg.retry_base_ms = 10;
    cfg.retry_max_ms = 50;
    cfg.rate_limit_per_second = 100_000;
    cfg.rate_limit_burst = 100_000;
    cfg.db_max_connections = 40;
    cfg
}

/// A running API server.
pub struct TestServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// `http://addr`.
    pub base: String,
    /// Its shared state (database pool, configuration).
    pub state: AppState,
    cfg: ApiConfig,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    db: Option<TestDb>,
}

impl TestServer {
    /// A server over a fresh database on `backend`.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server over a fresh database, with `configure` applied to [`test_config`].
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut ApiConfig)) -> Self {
        let db = TestDb::create(backend).await;
        let mut cfg = test_config(&db);
        configure(&mut cfg);
        Self::spawn_on(db, cfg, "127.0.0.1:0".parse().expect("address")).await
    }

    /// A server over `db` with `cfg`, listening on `addr`.
    ///
    /// # Panics
    /// If the server cannot start or bind.
    pub async fn spawn_on(db: TestDb, cfg: ApiConfig, addr: SocketAddr) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let server = Server::start(cfg.clone()).await.expect("server starts");
        let state = server.state().clone();
        let listener = bind_retrying(addr).await;
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.serve(listener, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            base: format!("http://{addr}"),
            state,
            cfg,
            shutdown: Some(tx),
            handle: Some(handle),
            db: Some(db),
        }
    }

    /// A second replica: another server on a new port over the same database (and the
    /// same Redis, if any), with the same configuration.
    pub async fn spawn_replica(&self) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let server = Server::start(self.cfg.clone())
            .await
            .expect("replica starts");
        let state = server.state().clone();
        let listener = bind_retrying("127.0.0.1:0".parse().expect("address")).await;
        let addr = listener.local_addr().expect("local address");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.serve(listener, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            base: format!("http://{addr}"),
            state,
            cfg: self.cfg.clone(),
            shutdown: Some(tx),
            handle: Some(handle),
            db: None,
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server (finishing in-flight requests) and closes its pool; returns its
    /// database and configuration so it can be started again.
    pub async fn stop(mut self) -> (TestDb, ApiConfig) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
        self.state.db.clone().close().await.ok();
        let db = self
            .db
            .take()
            .expect("stop() the first server, not a replica");
        (db, self.cfg.clone())
    }

    /// Stops the server, waits `downtime`, and starts it again on the same address and
    /// database.
    pub async fn restart(self, downtime: Duration) -> Self {
        let addr = self.addr;
        let (db, cfg) = self.stop().await;
        tokio::time::sleep(downtime).await;
        Self::spawn_on(db, cfg, addr).await
    }
}

async fn bind_retrying(addr: SocketAddr) -> tokio::net::TcpListener {
    let mut last = None;
    for _ in 0..50 {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(err) => last = Some(err),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind {addr}: {last:?}");
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// Sends the server's logs to the test output when `TEST_LOG` is set (filtered by
/// `RUST_LOG`, default `info`); tests are silent otherwise.
pub fn init_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            ))
            .with_test_writer()
            .try_init();
    }
}

/// Backdates every event with an id up to `through` by `age`, so that retention
/// ([`agentops_api::reaper::prune_events`]) treats them as old.
///
/// # Panics
///
/// If the database refuses the update.
pub async fn age_events(state: &AppState, through: i64, age: chrono::Duration) {
    let backend = state.db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "UPDATE events SET created_at = $1 WHERE id <= $2",
        _ => "UPDATE events SET created_at = ? WHERE id <= ?",
    };
    state
        .db
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            backend,
            sql,
            [(chrono::Utc::now() - age).into(), through.into()],
        ))
        .await
        .expect("backdate events");
}

/// Generates `sqlite::name` and `postgres::name` tests that call `name(backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A TCP proxy in front of a server (PostgreSQL, Redis) that a test can take down and
/// bring back: an outage of a shared server without stopping it for other tests.
///
/// [`cut`](Self::cut) drops every open connection and closes new ones as soon as they
/// are accepted, as a stopped server would; [`partition`](Self::partition) leaves them
/// all open but carries no more bytes, as a lost network does.
pub struct TcpProxy {
    addr: SocketAddr,
    mode: std::sync::Arc<tokio::sync::watch::Sender<ProxyMode>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProxyMode {
    Up,
    Cut,
    Partitioned,
}

impl TcpProxy {
    /// Starts a proxy on a free loopback port forwarding to `target`.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = bind_retrying("127.0.0.1:0".parse().expect("address")).await;
        let addr = listener.local_addr().expect("local address");
        let mode = std::sync::Arc::new(tokio::sync::watch::Sender::new(ProxyMode::Up));
        let shared = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut mode = shared.subscribe();
                tokio::spawn(async move {
                    // A connection made while partitioned waits, silent, for the network.
                    let now = mode
                        .wait_for(|m| *m != ProxyMode::Partitioned)
                        .await
                        .map(|m| *m)
                        .ok();
                    if now != Some(ProxyMode::Up) {
                        return;
                    }
                    let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    let down = async {
                        mode.wait_for(|m| *m != ProxyMode::Up)
                            .await
                            .map(|m| *m)
                            .ok()
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        now = down => {
                            if now == Some(ProxyMode::Partitioned) {
                                // Hold both ends open, carrying nothing, until it heals
                                // (then drop them, as timeouts on either side would have).
                                let _ = mode.wait_for(|m| *m != ProxyMode::Partitioned).await;
                            }
                        }
                    }
                });
            }
        });
        Self { addr, mode, task }
    }

    /// Starts a proxy to the server `url` names (`scheme://[user@]host[:port]/...`),
    /// `default_port` if it names none.
    ///
    /// # Panics
    /// If the host cannot be resolved.
    pub async fn start_for(url: &str, default_port: u16) -> Self {
        let host = &url[host_span(url)];
        let host = if host
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            host.to_owned()
        } else {
            format!("{host}:{default_port}")
        };
        let target = tokio::net::lookup_host(&host)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .unwrap_or_else(|| panic!("cannot resolve {host}"));
        Self::start(target).await
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (`scheme://[user@]host:port/...`) with its host and port replaced by the
    /// proxy's.
    pub fn url_through(&self, url: &str) -> String {
        let span = host_span(url);
        format!("{}{}{}", &url[..span.start], self.addr, &url[span.end..])
    }

    /// Takes the server "down": drops every connection through the proxy and closes new
    /// ones at once.
    pub fn cut(&self) {
        self.mode.send_replace(ProxyMode::Cut);
    }

    /// Loses the network: every connection stays open but carries nothing more, and new
    /// ones are accepted and then left waiting.
    pub fn partition(&self) {
        self.mode.send_replace(ProxyMode::Partitioned);
    }

    /// Brings the server back; connections frozen by a partition are closed, as timeouts
    /// on either side would have done.
    pub fn restore(&self) {
        self.mode.send_replace(ProxyMode::Up);
    }
}

/// Where `host[:port]` lies in `scheme://[user@]host[:port]/...`.
fn host_span(url: &str) -> std::ops::Range<usize> {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |i| scheme_end + i);
    let host_start = url[scheme_end..authority_end]
        .rfind('@')
        .map_or(scheme_end, |i| scheme_end + i + 1);
    host_start..authority_end
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}
