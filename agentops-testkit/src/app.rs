//! A real API server with an SDK client pointed at it, and the fault-injecting proxies
//! that produce what a healthy server cannot (503 bursts, lost answers, cut connections).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::server::TestServer;
pub use crate::server::{ADMIN_KEY, Backend};
use agentops_api::config::ApiConfig;
use agentops_api::state::AppState;
use agentops_sdk::Client;
use agentops_sdk::types::{AgentIn, ProjectIn, TaskIn, TaskOut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A running API server, an SDK client and a raw HTTP client for it, both with the
/// admin key.
pub struct TestApp {
    pub server: TestServer,
    /// The SDK's client.
    pub client: Client,
    /// `http://addr` (the same as `server.base`).
    pub base: String,
    /// The server's state (the same as `server.state`).
    pub state: AppState,
    /// A plain HTTP client for raw requests ([`crate::http`]); it reuses connections,
    /// as real clients do.
    pub http: reqwest::Client,
    /// The key raw requests carry (the admin key).
    pub key: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`spawn`](Self::spawn), with `configure` applied to the server's settings.
    pub async fn spawn_with(backend: Backend, configure: impl FnOnce(&mut ApiConfig)) -> Self {
        crate::server::init_logging();
        let server = TestServer::spawn_with(backend, configure).await;
        let client = client_for(&server.base, ADMIN_KEY);
        Self {
            base: server.base.clone(),
            state: server.state.clone(),
            // An answer that comes before its body was read must leave the connection
            // usable or say it closes.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            key: ADMIN_KEY.to_owned(),
            server,
            client,
        }
    }

    pub async fn project(&self) -> Uuid {
        Self::project_with(&self.client).await
    }

    pub async fn project_with(client: &Client) -> Uuid {
        client
            .projects()
            .create(ProjectIn {
                name: "p".into(),
                ..Default::default()
            })
            .await
            .expect("create project")
            .id
    }

    pub async fn task(&self, project_id: Uuid, kind: &str, input: serde_json::Value) -> TaskOut {
        self.client
            .tasks()
            .create(TaskIn {
                project_id,
                title: format!("a {kind} task"),
                kind: Some(kind.to_owned()),
                input: Some(input),
                ..Default::default()
            })
            .await
            .expect("create task")
    }

    pub async fn agent(&self, name: &str) -> Uuid {
        self.client
            .agents()
            .register(AgentIn {
                name: name.into(),
                ..Default::default()
            })
            .await
            .expect("register agent")
            .id
    }

    /// Polls the task until `check` holds; panics after `timeout`.
    pub async fn wait_for_task(
        &self,
        id: Uuid,
        timeout: Duration,
        check: impl Fn(&TaskOut) -> bool,
    ) -> TaskOut {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let task = self.client.tasks().get(id).await.expect("get task");
            if check(&task) {
                return task;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task never reached the expected state: {task:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Every event in the log, oldest first, read through the SDK.
    pub async fn all_events(&self) -> Vec<agentops_sdk::types::Event> {
        use futures_util::TryStreamExt;
        self.client
            .events()
            .list()
            .since(0)
            .limit(1000)
            .stream()
            .try_collect()
            .await
            .expect("list events")
    }

    /// Returns once some session waits for a lock that `holder` (a transaction the test
    /// holds open on PostgreSQL) holds: a request racing that transaction has reached the
    /// row it locked (`pg_blocking_pids`). Panics after 20 s.
    pub async fn until_blocked_by(&self, holder: &impl sea_orm::ConnectionTrait) {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let pid = holder
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_backend_pid() AS pid",
            ))
            .await
            .expect("read the holder's backend")
            .expect("one row")
            .try_get::<i32>("", "pid")
            .expect("a pid");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let waiting = self
                .state
                .db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT count(*) AS waiting FROM pg_stat_activity \
                     WHERE $1 = ANY (pg_blocking_pids(pid))",
                    [pid.into()],
                ))
                .await
                .expect("read pg_stat_activity")
                .expect("one row")
                .try_get::<i64>("", "waiting")
                .expect("a count");
            if waiting > 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing waited for the held transaction's locks"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Runs `request` while the test holds a transaction that has run `statements`
    /// (PostgreSQL: a change in flight, such as a replica's), and commits that
    /// transaction once `request` is blocked by it ([`Self::until_blocked_by`]);
    /// `request`'s output.
    pub async fn while_held<T>(
        &self,
        statements: &[String],
        request: impl std::future::Future<Output = T>,
    ) -> T {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let held = self
            .state
            .db
            .begin()
            .await
            .expect("begin the held transaction");
        for sql in statements {
            held.execute_unprepared(sql)
                .await
                .expect("a statement of the held transaction");
        }
        let release = async {
            self.until_blocked_by(&held).await;
            held.commit().await.expect("commit the held transaction");
        };
        let (out, ()) = tokio::join!(request, release);
        out
    }

    /// Ends the current lease of a running task now, as if its holder had gone silent
    /// (the reaper re-queues it on its next pass, within 50 ms in tests).
    pub async fn expire_lease(&self, task_id: Uuid) {
        use sea_orm::{ConnectionTrait, Statement};
        let state = &self.server.state;
        let db = &state.db;
        let backend = db.get_database_backend();
        let sql = match backend {
            sea_orm::DbBackend::Postgres => "UPDATE tasks SET lease_expires_at = $1 WHERE id = $2",
            _ => "UPDATE tasks SET lease_expires_at = ?1 WHERE id = ?2",
        };
        let token =
            |row: Option<agentops_api::store::tasks::Model>| row.and_then(|r| r.claim_token);
        let held = token(
            agentops_api::store::tasks::find(db, task_id)
                .await
                .expect("read task"),
        );
        // The server accepts the holder's heartbeat until the lease is reaped, so a
        // heartbeat landing between this update and the reaper extends the lease again:
        // repeat until the reaper has ended the attempt.
        loop {
            let past = chrono::Utc::now() - chrono::Duration::seconds(1);
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [past.into(), task_id.into()],
            ))
            .await
            .expect("expire lease");
            agentops_api::reaper::pass(state)
                .await
                .expect("reaper pass");
            let now = token(
                agentops_api::store::tasks::find(db, task_id)
                    .await
                    .expect("read task"),
            );
            if now != held {
                return;
            }
        }
    }
}

/// A client with quick retries, for tests.
pub fn client_for(base: &str, key: &str) -> Client {
    Client::builder()
        .base_url(base)
        .api_key(key)
        .timeout(Duration::from_secs(20))
        .retry_delays(Duration::from_millis(20), Duration::from_millis(300))
        .build()
        .expect("client")
}

// ---------------------------------------------------------------------------------------
// An HTTP/1.1 proxy that decides, request by request, what the client gets.
// ---------------------------------------------------------------------------------------

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer `status` itself (with `Retry-After` if given) without forwarding.
    Status(u16, Option<u64>),
    /// Forward it, let the server process it, then cut the connection instead of
    /// answering: the client cannot know whether it was applied.
    DropAnswer,
}

/// A request that reached the proxy.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    /// Whether it was forwarded to the server.
    pub forwarded: bool,
    /// Its body, as text.
    pub body: String,
}

/// An answer the proxy gives itself, instead of forwarding, to every request of a method
/// and path whose body contains some text: how a server of another version would answer
/// it, for instance.
#[derive(Debug, Clone)]
pub struct AnswerRule {
    pub method: String,
    pub path: String,
    pub body_contains: String,
    pub status: u16,
    /// The JSON body of the answer.
    pub answer: String,
}

#[derive(Default)]
struct Plan {
    faults: VecDeque<Fault>,
    /// Apply this fault to every request once `faults` is empty.
    always: Option<Fault>,
    rules: Vec<AnswerRule>,
    seen: Vec<Seen>,
}

/// The proxy; requests pass through unless faults are queued.
pub struct FaultProxy {
    pub base: String,
    plan: Arc<Mutex<Plan>>,
    task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let plan = Arc::new(Mutex::new(Plan::default()));
        let shared = plan.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                connections.spawn(serve_connection(client, upstream, shared.clone()));
            }
        });
        Self {
            base: format!("http://{addr}"),
            plan,
            task,
        }
    }

    /// Applies `faults` to the next requests, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.plan.lock().unwrap().faults.extend(faults);
    }

    /// Applies `fault` to every request from now on (`None` to stop).
    pub fn always(&self, fault: Option<Fault>) {
        self.plan.lock().unwrap().always = fault;
    }

    /// Answers the requests `rule` matches with its answer, from now on.
    pub fn answer_when(&self, rule: AnswerRule) {
        self.plan.lock().unwrap().rules.push(rule);
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.plan.lock().unwrap().seen.clone()
    }
}

struct Request {
    head: Vec<u8>,
    body: Vec<u8>,
    method: String,
    path: String,
    idempotency_key: Option<String>,
}

async fn serve_connection(mut client: TcpStream, upstream: SocketAddr, plan: Arc<Mutex<Plan>>) {
    let mut server: Option<TcpStream> = None;
    let mut buffer = Vec::new();
    let mut server_buffer = Vec::new();
    loop {
        let Some(request) = read_message(&mut client, &mut buffer, true).await else {
            return;
        };
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let (fault, rule) = {
            let mut plan = plan.lock().unwrap();
            let rule = plan
                .rules
                .iter()
                .find(|rule| {
                    rule.method == request.method
                        && rule.path == request.path
                        && body.contains(&rule.body_contains)
                })
                .cloned();
            let fault = if rule.is_some() {
                None
            } else {
                plan.faults.pop_front().or_else(|| plan.always.clone())
            };
            let forwarded = rule.is_none() && !matches!(fault, Some(Fault::Status(..)));
            plan.seen.push(Seen {
                method: request.method.clone(),
                path: request.path.clone(),
                idempotency_key: request.idempotency_key.clone(),
                forwarded,
                body,
            });
            (fault, rule)
        };
        if let Some(rule) = rule {
            let answer = format!(
                "HTTP/1.1 {} Answered\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                rule.status,
                rule.answer.len(),
                rule.answer
            );
            if client.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        if let Some(Fault::Status(status, retry_after)) = fault {
            let retry = retry_after.map_or(String::new(), |s| format!("Retry-After: {s}\r\n"));
            let body = format!(
                "{{\"error\":{{\"code\":\"injected\",\"message\":\"injected {status}\"}}}}"
            );
            let answer = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n{retry}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(answer.as_bytes()).await;
            let _ = client.shutdown().await;
            return;
        }
        if server.is_none() {
            match TcpStream::connect(upstream).await {
                Ok(stream) => server = Some(stream),
                Err(_) => return,
            }
        }
        let Some(upstream_conn) = server.as_mut() else {
            return;
        };
        if upstream_conn.write_all(&request.head).await.is_err()
            || upstream_conn.write_all(&request.body).await.is_err()
        {
            return;
        }
        let Some(response) = read_message(upstream_conn, &mut server_buffer, false).await else {
            return;
        };
        if fault == Some(Fault::DropAnswer) {
            // The server applied the request; the client never hears of it.
            return;
        }
        if client.write_all(&response.head).await.is_err()
            || client.write_all(&response.body).await.is_err()
        {
            return;
        }
    }
}

/// Reads one HTTP/1.1 message (head and Content-Length body) from `stream`.
async fn read_message(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    is_request: bool,
) -> Option<Request> {
    let head_end = loop {
        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head: Vec<u8> = buffer.drain(..head_end).collect();
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut idempotency_key = None;
    let mut no_body = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            let value = value.trim();
            match name.as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "idempotency-key" => idempotency_key = Some(value.to_owned()),
                "transfer-encoding" => panic!("the test proxy does not speak chunked encoding"),
                _ => {}
            }
        }
    }
    if !is_request && (path == "204" || path == "304") {
        no_body = true;
    }
    let length = if no_body { 0 } else { length };
    while buffer.len() < length {
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body: Vec<u8> = buffer.drain(..length).collect();
    Some(Request {
        head,
        body,
        method,
        path,
        idempotency_key,
    })
}

// ---------------------------------------------------------------------------------------
// A TCP proxy whose connections can be cut, held silent, or refused.
// ---------------------------------------------------------------------------------------

/// What [`CuttableProxy`] does with the bytes and connections it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Passes bytes through both ways.
    Pass,
    /// Keeps every connection open, and takes new ones, but passes nothing on: a server
    /// that accepts requests and never answers.
    Stall,
    /// Closes new connections at once: a server that is down.
    Refuse,
}

/// Passes bytes through both ways until [`cut`](Self::cut), [`stall`](Self::stall) or
/// [`refuse`](Self::refuse).
pub struct CuttableProxy {
    pub base: String,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    mode: tokio::sync::watch::Sender<Mode>,
    task: JoinHandle<()>,
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

impl CuttableProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let shared = connections.clone();
        let (mode, watching) = tokio::sync::watch::channel(Mode::Pass);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() == Mode::Refuse {
                    drop(client);
                    continue;
                }
                let handle = tokio::spawn(pass_through(client, upstream, watching.clone()));
                shared.lock().unwrap().push(handle);
            }
        });
        Self {
            base: format!("http://{addr}"),
            connections,
            mode,
            task,
        }
    }

    /// Cuts every open connection (both sides see a reset or EOF).
    pub fn cut(&self) {
        for handle in self.connections.lock().unwrap().drain(..) {
            handle.abort();
        }
    }

    /// Holds every connection, open ones and new ones, silent (`true`) until called
    /// with `false`: what was held is then passed on.
    pub fn stall(&self, stalled: bool) {
        self.set(if stalled { Mode::Stall } else { Mode::Pass });
    }

    /// Cuts every open connection and closes new ones at once (`true`), until called
    /// with `false`.
    pub fn refuse(&self, refused: bool) {
        self.set(if refused { Mode::Refuse } else { Mode::Pass });
        if refused {
            self.cut();
        }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Passes bytes between `client` and a new connection to `upstream` until either side
/// ends, holding them while the proxy is stalled.
async fn pass_through(
    client: TcpStream,
    upstream: SocketAddr,
    mode: tokio::sync::watch::Receiver<Mode>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, mode.clone());
    let down = pump(server_read, client_write, mode);
    tokio::pin!(up, down);
    // An EOF one way leaves the other way open; an error ends both, as
    // `copy_bidirectional` does.
    tokio::select! {
        clean = &mut up => if clean { down.await; },
        clean = &mut down => if clean { up.await; },
    }
}

/// Copies `from` to `to`; returns `true` at EOF (after passing it on), `false` on an
/// error.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut mode: tokio::sync::watch::Receiver<Mode>,
) -> bool {
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) => return to.shutdown().await.is_ok(),
            Ok(n) => n,
            Err(_) => return false,
        };
        if mode.wait_for(|mode| *mode != Mode::Stall).await.is_err()
            || to.write_all(&chunk[..n]).await.is_err()
        {
            return false;
        }
    }
}
