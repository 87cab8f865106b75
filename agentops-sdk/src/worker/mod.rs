//! The worker runtime: everything between "here is my handler" and a well-behaved agent.
//!
//! A [`Worker`] registers an agent, keeps its heartbeat, claims tasks in batches up to its
//! concurrency, runs the handler for each with a [`TaskContext`] (input, progress,
//! artifacts, blocking, cancellation), extends each lease while the handler runs, and
//! writes the outcome: the handler's value completes the task; an error or a panic fails
//! it with the message (retryable unless the error says otherwise).
//!
//! ```no_run
//! use agentops_sdk::{Client, TaskContext, Worker};
//! use serde_json::json;
//!
//! # async fn example() -> agentops_sdk::Result<()> {
//! Worker::builder(Client::from_env()?)
//!     .name("echo")
//!     .kinds(["echo"])
//!     .concurrency(4)
//!     .run(|task: TaskContext| async move { Ok(json!({ "echo": task.input() })) })
//!     .await
//! # }
//! ```
//!
//! # Leases
//!
//! Each claimed task is heartbeated every `heartbeat_interval` (a third of the lease by
//! default). If the server answers that the claim is stale (the lease expired and the
//! task went back to the queue, or it was cancelled), or if no heartbeat was answered
//! before the lease's end, the task's context is cancelled ([`TaskContext::cancelled`],
//! [`TaskContext::is_lease_lost`]) and whatever the handler returns is discarded: the
//! task now belongs to someone else.
//!
//! The lease's end is counted from when the claim or the last answered heartbeat was
//! *sent*, less a margin (a tenth of the lease, at most 1 s) for delays between this
//! process and the server's clock, so the handler is told to stop before the server can
//! hand the task to another worker. A heartbeat to a server that accepts connections but
//! never answers is given up at that point too, whatever the client's own timeout.
//!
//! # Outcomes
//!
//! The handler's outcome (complete, fail, or release on shutdown) is sent again through
//! transient failures (connection errors, timeouts, 5xx, 429), with back-off, while the
//! lease is kept by heartbeats, until it lands, the lease is lost, or one lease length
//! has passed since the handler returned (the shutdown grace for a release).
//! Completions and lease heartbeats of several tasks that come within 2 ms of each other
//! go to the server as one request (`POST /tasks/complete`, `POST /tasks/heartbeat`),
//! each task still getting its own answer. A refusal of the content is not retried as
//! is:
//!
//! - a failure message the server refuses (over 10,000 characters, or with control
//!   characters such as the escape codes of coloured output) is sent once more with the
//!   control characters but `\n`, `\t` and `\r` removed, cut to 10,000 characters;
//! - a result the server refuses (over 1 MiB of JSON) fails the task for good with
//!   "result rejected: <the server's reason>".
//!
//! # Shutdown
//!
//! On Ctrl-C or SIGTERM (unless [`handle_signals(false)`](WorkerBuilder::handle_signals)),
//! or when a [`ShutdownHandle`] is triggered, the worker stops claiming and waits up to
//! the grace period for the running handlers. Handlers still running then are cancelled
//! and their tasks released (`POST /tasks/{id}/release`, which uses up no attempt) with
//! "worker shutting down", so another worker picks them up at once. [`Worker::run`]
//! returns after that (the releases are retried for up to another grace period if the
//! server is unreachable).
//!
//! Dropping the future of [`Worker::run`] (aborting its task) stops everything at once,
//! handlers included, without telling the server: its leases then expire and the tasks
//! are retried elsewhere. That is the crash path, and it is safe too.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod batch;

use crate::Client;
use crate::error::Result;
use crate::resources::ArtifactUpload;
use crate::types::{
    AgentIn, ArtifactOut, BlockIn, ClaimIn, ClaimedTask, CompleteItem, FailIn, HeartbeatItem,
    ReleaseIn, TaskHeartbeatIn, TaskOut,
};

const MIN_LEASE: Duration = Duration::from_secs(5);
const MAX_LEASE: Duration = Duration::from_secs(3600);
const MAX_BATCH: usize = 100;
/// How long a handler whose lease was lost may take to notice before it is aborted.
const LOST_LEASE_GRACE: Duration = Duration::from_secs(5);
/// The most taken off a lease's end to allow for delays between us and the server's clock.
const LEASE_MARGIN_MAX: Duration = Duration::from_secs(1);
/// The first and the longest wait between two tries at writing an outcome.
const WRITE_RETRY_FIRST: Duration = Duration::from_millis(250);
const WRITE_RETRY_MAX: Duration = Duration::from_secs(5);
/// The API's limit on a failure message, in characters (`error` of `POST /tasks/{id}/fail`).
const MAX_ERROR_CHARS: usize = 10_000;
/// What a failure without a message is reported as.
const NO_MESSAGE: &str = "handler failed without a message";

/// A task's failure, as returned by a handler: a message, and whether another attempt
/// may succeed (default: yes).
///
/// Any error type converts with `?` (its whole `source()` chain becomes the message):
///
/// ```no_run
/// use agentops_sdk::{TaskContext, TaskError};
/// use serde_json::{Value, json};
///
/// async fn handle(task: TaskContext) -> Result<Value, TaskError> {
///     let url = task.input()["url"]
///         .as_str()
///         .ok_or_else(|| TaskError::permanent("input.url is missing"))?;
///     let n: u32 = url.len().to_string().parse()?; // any std error converts
///     Ok(json!({ "length": n }))
/// }
/// ```
pub struct TaskError {
    message: String,
    retryable: bool,
}

impl TaskError {
    /// A failure that another attempt may not repeat (a timeout, a flaky upstream): the
    /// task is retried while it has attempts left.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure no retry can fix (bad input): the task fails for good at once.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }

    /// The message reported to the server.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the task may be retried.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl std::fmt::Debug for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskError")
            .field("message", &self.message)
            .field("retryable", &self.retryable)
            .finish()
    }
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for TaskError {
    fn from(err: E) -> Self {
        let mut message = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        TaskError::new(message)
    }
}

const RUNNING: u8 = 0;
const LEASE_LOST: u8 = 1;
const SHUTTING_DOWN: u8 = 2;

/// What a handler gets for one claimed task: the task, its lease, and ways to report.
///
/// Cheap to clone; all clones refer to the same attempt.
#[derive(Clone)]
pub struct TaskContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    client: Client,
    task: TaskOut,
    claim_token: Uuid,
    cancel: CancellationToken,
    state: AtomicU8,
    /// The handler ended the attempt itself (blocked): nothing left to write.
    finished: AtomicBool,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("task_id", &self.inner.task.id)
            .field("title", &self.inner.task.title)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl TaskContext {
    /// A context for a task claimed by hand, for running a handler outside a [`Worker`]
    /// (in tests, for instance). Nothing heartbeats it: report progress to extend it.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, claimed: agentops_sdk::types::ClaimedTask) {
    /// let ctx = agentops_sdk::TaskContext::new(client, claimed);
    /// assert!(!ctx.is_cancelled());
    /// # }
    /// ```
    pub fn new(client: Client, claimed: ClaimedTask) -> Self {
        Self {
            inner: Arc::new(ContextInner {
                client,
                task: claimed.task,
                claim_token: claimed.claim_token,
                cancel: CancellationToken::new(),
                state: AtomicU8::new(RUNNING),
                finished: AtomicBool::new(false),
            }),
        }
    }

    /// The task as it was when claimed.
    ///
    /// ```no_run
    /// # fn example(task: agentops_sdk::TaskContext) {
    /// println!("{} (attempt {})", task.task().title, task.task().attempts + 1);
    /// # }
    /// ```
    pub fn task(&self) -> &TaskOut {
        &self.inner.task
    }

    /// The task's id.
    ///
    /// ```no_run
    /// # fn example(task: agentops_sdk::TaskContext) {
    /// println!("working on {}", task.id());
    /// # }
    /// ```
    pub fn id(&self) -> Uuid {
        self.inner.task.id
    }

    /// The task's input.
    ///
    /// ```no_run
    /// # fn example(task: agentops_sdk::TaskContext) {
    /// let text = task.input()["text"].as_str().unwrap_or_default();
    /// # }
    /// ```
    pub fn input(&self) -> &Value {
        &self.inner.task.input
    }

    /// The claim token of this attempt.
    ///
    /// ```no_run
    /// # fn example(task: agentops_sdk::TaskContext) {
    /// let token = task.claim_token();
    /// # }
    /// ```
    pub fn claim_token(&self) -> Uuid {
        self.inner.claim_token
    }

    /// The client, for anything else the handler needs (creating follow-up tasks...).
    ///
    /// ```no_run
    /// # async fn example(task: agentops_sdk::TaskContext) -> agentops_sdk::Result<()> {
    /// let project = task.client().projects().get(task.task().project_id).await?;
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Reports progress (0.0 to 1.0) with a message; it also extends the lease. If the
    /// lease turns out to be lost, the context is cancelled and the error
    /// [`is_stale_claim`](crate::Error::is_stale_claim).
    ///
    /// ```no_run
    /// # async fn example(task: agentops_sdk::TaskContext) -> agentops_sdk::Result<()> {
    /// task.progress(0.5, "downloaded; now parsing").await?;
    /// # Ok(()) }
    /// ```
    pub async fn progress(&self, fraction: f64, message: impl Into<String>) -> Result<()> {
        self.heartbeat(Some(fraction.clamp(0.0, 1.0)), Some(message.into()))
            .await
    }

    /// Reports a progress message without a fraction (extends the lease too).
    ///
    /// ```no_run
    /// # async fn example(task: agentops_sdk::TaskContext) -> agentops_sdk::Result<()> {
    /// task.message("waiting for the upstream API").await?;
    /// # Ok(()) }
    /// ```
    pub async fn message(&self, message: impl Into<String>) -> Result<()> {
        self.heartbeat(None, Some(message.into())).await
    }

    async fn heartbeat(&self, progress: Option<f64>, message: Option<String>) -> Result<()> {
        let input = TaskHeartbeatIn {
            claim_token: self.inner.claim_token,
            lease_seconds: None,
            progress,
            message,
        };
        match self.inner.client.tasks().heartbeat(self.id(), input).await {
            Ok(_) => Ok(()),
            Err(err) => {
                if lease_gone(&err) {
                    self.lose_lease();
                }
                Err(err)
            }
        }
    }

    /// Attaches a file to the task (an artifact), from bytes in memory; see
    /// [`Artifacts`](crate::resources::Artifacts) for streams and files.
    ///
    /// ```no_run
    /// # async fn example(task: agentops_sdk::TaskContext) -> agentops_sdk::Result<()> {
    /// let report = format!("# Report for {}\n", task.task().title);
    /// task.upload("report.md", "text/markdown", report).await?;
    /// # Ok(()) }
    /// ```
    pub async fn upload(
        &self,
        name: impl Into<String>,
        content_type: impl Into<String>,
        bytes: impl Into<bytes::Bytes>,
    ) -> Result<ArtifactOut> {
        let upload = ArtifactUpload::for_task(self.id(), name).content_type(content_type);
        self.inner.client.artifacts().upload(upload, bytes).await
    }

    /// Blocks the task because it needs a human: the lease ends, the task shows as
    /// blocked with `reason`, and an operator's `unblock` queues it again. Return from
    /// the handler right after: its result is not written.
    ///
    /// ```no_run
    /// # use agentops_sdk::{TaskContext, TaskError};
    /// # use serde_json::{Value, json};
    /// async fn handle(task: TaskContext) -> Result<Value, TaskError> {
    ///     if task.input().get("api_key").is_none() {
    ///         task.block("I need an API key for the weather service").await?;
    ///         return Ok(Value::Null);
    ///     }
    ///     Ok(json!({ "forecast": "sunny" }))
    /// }
    /// ```
    pub async fn block(&self, reason: impl Into<String>) -> Result<()> {
        let input = BlockIn {
            claim_token: self.inner.claim_token,
            reason: reason.into(),
        };
        match self.inner.client.tasks().block(self.id(), input).await {
            Ok(_) => {
                self.inner.finished.store(true, Ordering::Release);
                Ok(())
            }
            Err(err) => {
                if lease_gone(&err) {
                    self.lose_lease();
                }
                Err(err)
            }
        }
    }

    /// Resolves when the handler should stop: the lease was lost (the server said so,
    /// or no heartbeat was answered before its end), or the worker's shutdown grace
    /// period ran out.
    ///
    /// ```no_run
    /// # use agentops_sdk::{TaskContext, TaskError};
    /// # use serde_json::{Value, json};
    /// # async fn long_computation() -> u64 { 42 }
    /// async fn handle(task: TaskContext) -> Result<Value, TaskError> {
    ///     tokio::select! {
    ///         answer = long_computation() => Ok(json!({ "answer": answer })),
    ///         () = task.cancelled() => Err(TaskError::new("cancelled")),
    ///     }
    /// }
    /// ```
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await;
    }

    /// A token cancelled with this context, to hand to code that takes one.
    ///
    /// ```no_run
    /// # fn example(task: agentops_sdk::TaskContext) {
    /// let token = task.cancellation_token();
    /// tokio::spawn(async move { token.cancelled().await; /* clean up */ });
    /// # }
    /// ```
    pub fn cancellation_token(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// Whether the handler should stop (see [`cancelled`](Self::cancelled)).
    ///
    /// ```no_run
    /// # fn example(task: agentops_sdk::TaskContext) {
    /// for chunk in 0..100 {
    ///     if task.is_cancelled() { break; }
    /// }
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Whether the lease was lost: the task may already run elsewhere, and nothing this
    /// attempt produces will be written.
    ///
    /// ```no_run
    /// # fn example(task: agentops_sdk::TaskContext) {
    /// if task.is_lease_lost() {
    ///     // Undo local side effects if needed; the result will be discarded.
    /// }
    /// # }
    /// ```
    pub fn is_lease_lost(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == LEASE_LOST
    }

    /// Whether the worker is shutting down and its grace period ran out: the task will be
    /// released for another worker.
    ///
    /// ```no_run
    /// # fn example(task: agentops_sdk::TaskContext) {
    /// if task.is_shutting_down() { /* save a checkpoint */ }
    /// # }
    /// ```
    pub fn is_shutting_down(&self) -> bool {
        self.inner.state.load(Ordering::Acquire) == SHUTTING_DOWN
    }

    fn lose_lease(&self) {
        if self.inner.finished.load(Ordering::Acquire) {
            return;
        }
        let _ = self.inner.state.compare_exchange(
            RUNNING,
            LEASE_LOST,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.inner.cancel.cancel();
    }

    fn shut_down(&self) {
        let _ = self.inner.state.compare_exchange(
            RUNNING,
            SHUTTING_DOWN,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.inner.cancel.cancel();
    }

    fn is_finished(&self) -> bool {
        self.inner.finished.load(Ordering::Acquire)
    }
}

/// Whether an error on a claimed task means the attempt is no longer ours.
fn lease_gone(err: &crate::Error) -> bool {
    err.is_stale_claim() || err.is_invalid_transition() || err.is_not_found()
}

/// Stops a [`Worker`] gracefully from elsewhere in the program; cheap to clone.
///
/// ```no_run
/// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
/// use agentops_sdk::{TaskContext, Worker};
/// let worker = Worker::builder(client).name("echo").build();
/// let stop = worker.shutdown_handle();
/// tokio::spawn(async move {
///     tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
///     stop.shutdown();
/// });
/// worker.run(|task: TaskContext| async move { Ok(task.input().clone()) }).await
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct ShutdownHandle {
    token: CancellationToken,
}

impl ShutdownHandle {
    /// Asks the worker to stop claiming and finish (see the [module docs](self)).
    pub fn shutdown(&self) {
        self.token.cancel();
    }

    /// Whether shutdown was asked for.
    pub fn is_shutdown(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// Configures a [`Worker`]; get one with [`Worker::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct WorkerBuilder {
    client: Client,
    config: Config,
}

#[derive(Debug, Clone)]
struct Config {
    name: Option<String>,
    agent_kind: Option<String>,
    version: Option<String>,
    metadata: Option<Value>,
    kinds: Vec<String>,
    labels: Vec<String>,
    project_id: Option<Uuid>,
    concurrency: usize,
    batch_size: Option<usize>,
    lease: Duration,
    heartbeat_interval: Option<Duration>,
    agent_heartbeat_interval: Duration,
    poll_interval: Duration,
    shutdown_grace: Duration,
    handle_signals: bool,
    shutdown: ShutdownHandle,
}

impl WorkerBuilder {
    /// The agent's unique name (required): workers started with the same name share one
    /// agent record.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(name.into());
        self
    }

    /// What sort of agent it is (`seed`, `custom`...; default `custom`).
    pub fn agent_kind(mut self, kind: impl Into<String>) -> Self {
        self.config.agent_kind = Some(kind.into());
        self
    }

    /// The agent's software version, shown with the agent.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.config.version = Some(version.into());
        self
    }

    /// Free-form JSON object stored with the agent.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.config.metadata = Some(metadata);
        self
    }

    /// Claim only tasks of these kinds (any kind if never called); also registered as the
    /// agent's capabilities.
    pub fn kinds<I, S>(mut self, kinds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.kinds = kinds.into_iter().map(Into::into).collect();
        self
    }

    /// Claim only tasks carrying all of these labels.
    pub fn labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.labels = labels.into_iter().map(Into::into).collect();
        self
    }

    /// Claim only tasks of this project.
    pub fn project(mut self, project_id: Uuid) -> Self {
        self.config.project_id = Some(project_id);
        self
    }

    /// How many handlers may run at once (default 1).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.config.concurrency = concurrency.max(1);
        self
    }

    /// How many tasks one claim may ask for, at most (default: the concurrency, capped
    /// at 100). A claim never asks for more than the free handler slots.
    pub fn batch_size(mut self, batch: usize) -> Self {
        self.config.batch_size = Some(batch.clamp(1, MAX_BATCH));
        self
    }

    /// The lease asked for each task (5 s to 1 h; default 60 s). A handler that stops
    /// being heartbeated (the process froze or died) loses its task after this long. If
    /// no heartbeat is answered for this long (the server is down or hangs), the
    /// handler's context is cancelled a little before the server may give the task to
    /// another worker (see the [module docs](self)). It is also how long an outcome is
    /// retried through a server outage once the handler returned.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease.clamp(MIN_LEASE, MAX_LEASE);
        self
    }

    /// How often running tasks' leases are extended (default: a third of the lease).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = Some(interval.max(Duration::from_millis(100)));
        self
    }

    /// How often the agent's own heartbeat is sent (default 10 s; keep it well under the
    /// server's agent TTL, 30 s by default).
    pub fn agent_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.agent_heartbeat_interval = interval.max(Duration::from_millis(100));
        self
    }

    /// How long to wait before claiming again when the queue was empty (default 1 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// How long running handlers may take to finish once shutdown starts (default 30 s);
    /// the release of the tasks still running then is retried for up to as long again
    /// if the server is unreachable.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// Whether Ctrl-C and SIGTERM start a graceful shutdown (default `true`).
    pub fn handle_signals(mut self, enabled: bool) -> Self {
        self.config.handle_signals = enabled;
        self
    }

    /// A handle that stops the worker built from this builder.
    ///
    /// ```no_run
    /// # fn example(client: agentops_sdk::Client) {
    /// let builder = agentops_sdk::Worker::builder(client).name("echo");
    /// let stop = builder.shutdown_handle();
    /// # }
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.config.shutdown.clone()
    }

    /// Finishes the configuration.
    ///
    /// ```no_run
    /// # fn example(client: agentops_sdk::Client) {
    /// let worker = agentops_sdk::Worker::builder(client).name("echo").concurrency(8).build();
    /// # }
    /// ```
    pub fn build(self) -> Worker {
        Worker {
            client: self.client,
            config: self.config,
        }
    }

    /// Builds the worker and runs it with `handler` (see [`Worker::run`]).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::{TaskContext, Worker};
    /// Worker::builder(client)
    ///     .name("upper")
    ///     .kinds(["upper"])
    ///     .run(|task: TaskContext| async move {
    ///         let text = task.input()["text"].as_str().unwrap_or_default().to_uppercase();
    ///         Ok(serde_json::json!({ "text": text }))
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn run<H, Fut, T>(self, handler: H) -> Result<()>
    where
        H: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<T, TaskError>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        self.build().run(handler).await
    }
}

type HandlerResult = std::result::Result<Value, TaskError>;
type BoxedHandler =
    Arc<dyn Fn(TaskContext) -> Pin<Box<dyn Future<Output = HandlerResult> + Send>> + Send + Sync>;

/// A configured worker; see the [module docs](self).
#[derive(Debug)]
pub struct Worker {
    client: Client,
    config: Config,
}

impl Worker {
    /// Starts configuring a worker that talks to the server through `client` (whose key
    /// needs the agent role).
    ///
    /// ```no_run
    /// # fn example(client: agentops_sdk::Client) {
    /// let builder = agentops_sdk::Worker::builder(client).name("echo").kinds(["echo"]);
    /// # }
    /// ```
    pub fn builder(client: Client) -> WorkerBuilder {
        WorkerBuilder {
            client,
            config: Config {
                name: None,
                agent_kind: None,
                version: None,
                metadata: None,
                kinds: Vec::new(),
                labels: Vec::new(),
                project_id: None,
                concurrency: 1,
                batch_size: None,
                lease: Duration::from_secs(60),
                heartbeat_interval: None,
                agent_heartbeat_interval: Duration::from_secs(10),
                poll_interval: Duration::from_secs(1),
                shutdown_grace: Duration::from_secs(30),
                handle_signals: true,
                shutdown: ShutdownHandle::default(),
            },
        }
    }

    /// A handle that stops this worker gracefully.
    ///
    /// ```no_run
    /// # fn example(client: agentops_sdk::Client) {
    /// let worker = agentops_sdk::Worker::builder(client).name("echo").build();
    /// let stop = worker.shutdown_handle();
    /// # }
    /// ```
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.config.shutdown.clone()
    }

    /// Registers the agent and runs until shut down: claims tasks, runs `handler` on
    /// each, writes the outcomes (retried through server outages; see the
    /// [module docs](self)). A panic in `handler`, in its synchronous part or in its
    /// future, fails the task with the panic's message. Returns `Ok(())` after a
    /// graceful shutdown.
    ///
    /// # Errors
    /// If the agent cannot be registered (bad key, no name, server unreachable after the
    /// client's retries). Failures after that are logged and retried, never returned.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::{TaskContext, TaskError, Worker};
    /// Worker::builder(client)
    ///     .name("validator")
    ///     .run(|task: TaskContext| async move {
    ///         match task.input().get("value") {
    ///             Some(value) => Ok(value.clone()),
    ///             None => Err(TaskError::permanent("input has no `value`")),
    ///         }
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn run<H, Fut, T>(self, handler: H) -> Result<()>
    where
        H: Fn(TaskContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<T, TaskError>> + Send + 'static,
        T: Serialize + Send + 'static,
    {
        let handler: BoxedHandler = Arc::new(move |ctx| {
            let fut = handler(ctx);
            Box::pin(async move {
                let value = fut.await?;
                serde_json::to_value(value).map_err(|err| {
                    TaskError::new(format!("cannot serialise the handler's result: {err}"))
                })
            })
        });
        Runtime::start(self.client, self.config, handler)
            .await?
            .run()
            .await;
        Ok(())
    }
}

/// Aborts a spawned task when dropped, so nothing outlives a dropped worker.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Runtime {
    client: Client,
    config: Config,
    handler: BoxedHandler,
    agent_id: Uuid,
    /// Cancelled when the grace period is over: remaining tasks are released.
    force: CancellationToken,
    /// Completions, sent together when they come close together.
    completions: batch::Batcher<batch::Complete>,
    /// Lease heartbeats, likewise.
    heartbeats: batch::Batcher<batch::Heartbeat>,
    _agent_heartbeat: AbortOnDrop<()>,
    _signals: Option<AbortOnDrop<()>>,
}

impl Runtime {
    async fn start(client: Client, config: Config, handler: BoxedHandler) -> Result<Self> {
        let name = config
            .name
            .clone()
            .ok_or_else(|| crate::Error::Config("a worker needs a name".into()))?;
        let agent = client
            .agents()
            .register(AgentIn {
                name,
                kind: config.agent_kind.clone(),
                capabilities: (!config.kinds.is_empty()).then(|| config.kinds.clone()),
                version: config.version.clone(),
                metadata: config.metadata.clone(),
            })
            .await?;
        tracing::info!(agent_id = %agent.id, name = %agent.name, "worker registered");
        let agent_heartbeat = {
            let client = client.clone();
            let interval = config.agent_heartbeat_interval;
            let id = agent.id;
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    if let Err(err) = client.agents().heartbeat(id).await {
                        tracing::warn!(error = %err, "agent heartbeat failed");
                    }
                }
            }))
        };
        let signals = config.handle_signals.then(|| {
            let shutdown = config.shutdown.clone();
            AbortOnDrop(tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutdown signal received");
                shutdown.shutdown();
            }))
        });
        Ok(Self {
            completions: batch::Batcher::start(client.clone()),
            heartbeats: batch::Batcher::start(client.clone()),
            client,
            config,
            handler,
            agent_id: agent.id,
            force: CancellationToken::new(),
            _agent_heartbeat: agent_heartbeat,
            _signals: signals,
        })
    }

    async fn run(self) {
        let stop = self.config.shutdown.token.clone();
        let mut running: JoinSet<()> = JoinSet::new();
        let batch = self
            .config
            .batch_size
            .unwrap_or(self.config.concurrency)
            .clamp(1, MAX_BATCH);
        let mut failures: u32 = 0;
        while !stop.is_cancelled() {
            while let Some(done) = running.try_join_next() {
                log_supervisor_end(done);
            }
            let free = self.config.concurrency.saturating_sub(running.len());
            if free == 0 {
                tokio::select! {
                    done = running.join_next() => if let Some(done) = done { log_supervisor_end(done) },
                    () = stop.cancelled() => {}
                }
                continue;
            }
            let asked = Instant::now();
            match self.claim(free.min(batch)).await {
                Ok(claimed) if !claimed.is_empty() => {
                    failures = 0;
                    for task in claimed {
                        running.spawn(self.supervise(task, asked));
                    }
                }
                Ok(_) => {
                    failures = 0;
                    tokio::select! {
                        () = tokio::time::sleep(self.config.poll_interval) => {}
                        () = stop.cancelled() => {}
                    }
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let delay = self
                        .config
                        .poll_interval
                        .saturating_mul(1 << failures.min(5))
                        .min(Duration::from_secs(30));
                    tracing::warn!(error = %err, ?delay, "claim failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => {}
                    }
                }
            }
        }
        // Handlers that ended while the loop slept are not in flight any more.
        while let Some(done) = running.try_join_next() {
            log_supervisor_end(done);
        }
        tracing::info!(
            in_flight = running.len(),
            grace = ?self.config.shutdown_grace,
            "worker shutting down: no new claims, finishing in-flight tasks"
        );
        let grace = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                done = running.join_next() => match done {
                    Some(done) => log_supervisor_end(done),
                    None => break,
                },
                () = &mut grace => {
                    tracing::warn!(remaining = running.len(), "grace period over: releasing the remaining tasks");
                    self.force.cancel();
                    break;
                }
            }
        }
        while let Some(done) = running.join_next().await {
            log_supervisor_end(done);
        }
        tracing::info!("worker stopped");
    }

    async fn claim(&self, limit: usize) -> Result<Vec<ClaimedTask>> {
        let input = ClaimIn {
            agent_id: self.agent_id,
            kinds: (!self.config.kinds.is_empty()).then(|| self.config.kinds.clone()),
            labels: (!self.config.labels.is_empty()).then(|| self.config.labels.clone()),
            project_id: self.config.project_id,
            limit: Some(u32::try_from(limit).unwrap_or(1)),
            lease_seconds: Some(u32::try_from(self.config.lease.as_secs()).unwrap_or(60)),
        };
        Ok(self.client.tasks().claim(input).await?.tasks)
    }

    /// Runs one task: the handler, its lease heartbeats, and the writing of its outcome.
    ///
    /// `asked` is when the claim was sent: the server started the lease after that.
    fn supervise(
        &self,
        claimed: ClaimedTask,
        asked: Instant,
    ) -> impl Future<Output = ()> + Send + 'static {
        let ctx = TaskContext::new(self.client.clone(), claimed);
        let handler = self.handler.clone();
        let force = self.force.clone();
        let lease = self.config.lease;
        let every = self.config.heartbeat_interval.unwrap_or(lease / 3);
        let grace = self.config.shutdown_grace;
        let client = self.client.clone();
        let completions = self.completions.clone();
        let heartbeats = self.heartbeats.clone();
        async move {
            let id = ctx.id();
            // The handler is called inside the spawned task, so that a panic in its
            // synchronous part (before its first `.await`) fails the task like any other
            // panic instead of killing this supervisor.
            let mut handle = AbortOnDrop(tokio::spawn({
                let ctx = ctx.clone();
                async move { handler(ctx).await }
            }));
            // Kept beating while the outcome is written, too; cancelled once the lease is
            // gone.
            let lost = CancellationToken::new();
            let _heartbeat = AbortOnDrop(tokio::spawn(keep_lease(
                heartbeats,
                ctx.clone(),
                lost.clone(),
                lease,
                every,
                asked,
            )));
            let outcome = tokio::select! {
                joined = &mut handle.0 => Some(joined),
                () = ctx.cancelled() => {
                    // The lease was lost (found by the heartbeat, or by the handler's own
                    // progress or block call): give the handler a moment to return, then
                    // stop it.
                    tokio::time::timeout(LOST_LEASE_GRACE, &mut handle.0).await.ok()
                }
                () = force.cancelled() => {
                    ctx.shut_down();
                    handle.0.abort();
                    None
                }
            };
            if ctx.is_lease_lost() {
                tracing::info!(task_id = %id, "result discarded: the lease was lost");
                return;
            }
            if ctx.is_finished() {
                return;
            }
            let writer = Writer {
                client: &client,
                completions: &completions,
                ctx: &ctx,
                lost: &lost,
            };
            let (error, retryable) = match outcome {
                None => {
                    // Shutting down is not the task's fault: hand it back without using
                    // up one of its attempts.
                    writer.release(Instant::now() + grace).await;
                    return;
                }
                Some(Ok(Ok(value))) => {
                    writer.complete(value, Instant::now() + lease).await;
                    return;
                }
                Some(Ok(Err(err))) => (err.message, err.retryable),
                Some(Err(joined)) if joined.is_panic() => (
                    format!("handler panicked: {}", panic_message(joined.into_panic())),
                    true,
                ),
                Some(Err(_)) => ("handler was cancelled".to_owned(), true),
            };
            writer.fail(error, retryable, Instant::now() + lease).await;
        }
    }
}

/// Heartbeats `ctx`'s task every `every` until aborted, and once the lease is gone (the
/// server said so, or no heartbeat was answered before its end) cancels `lost` and the
/// context.
///
/// The lease's end is counted from when the claim (`asked`) or the last answered
/// heartbeat was sent, less a margin: the server started it later than that, so this end
/// comes first and the handler stops before the task can be handed to another worker.
async fn keep_lease(
    heartbeats: batch::Batcher<batch::Heartbeat>,
    ctx: TaskContext,
    lost: CancellationToken,
    lease: Duration,
    every: Duration,
    asked: Instant,
) {
    let id = ctx.id();
    let margin = (lease / 10).min(LEASE_MARGIN_MAX);
    let mut ends = asked + lease - margin;
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ran_out = tokio::select! {
            _ = ticks.tick() => false,
            () = tokio::time::sleep_until(ends) => true,
        };
        if ctx.is_finished() {
            // Blocked by the handler: the attempt is over, nothing left to keep.
            return;
        }
        if ran_out {
            tracing::warn!(task_id = %id, "lease ran out without a heartbeat; cancelling the handler");
            break;
        }
        let sent = Instant::now();
        // Bounded by the lease's end: a server that takes the request but never answers
        // must not keep the handler going once the task may run elsewhere.
        match tokio::time::timeout_at(ends, extend(&heartbeats, &ctx, lease)).await {
            Ok(Ok(())) => ends = sent + lease - margin,
            Ok(Err(err)) if lease_gone(&err) => {
                tracing::warn!(task_id = %id, error = %err, "lease lost; cancelling the handler");
                break;
            }
            Ok(Err(err)) => {
                tracing::warn!(task_id = %id, error = %err, "lease heartbeat failed");
            }
            Err(_) => {
                tracing::warn!(task_id = %id, "lease ran out waiting for a heartbeat's answer; cancelling the handler");
                break;
            }
        }
    }
    lost.cancel();
    ctx.lose_lease();
}

/// Extends the lease, together with the worker's other tasks' heartbeats of the moment.
async fn extend(
    heartbeats: &batch::Batcher<batch::Heartbeat>,
    ctx: &TaskContext,
    lease: Duration,
) -> Result<()> {
    let item = HeartbeatItem {
        id: ctx.id(),
        claim_token: ctx.claim_token(),
        lease_seconds: Some(u32::try_from(lease.as_secs()).unwrap_or(60)),
        progress: None,
        message: None,
    };
    heartbeats.call(item).await.map(|_| ())
}

/// Why an outcome was not written.
enum Unwritten {
    /// The lease was lost while trying: the task is someone else's now.
    LeaseLost,
    /// Transient failures until the deadline; the last one, if any.
    OutOfTime(Option<crate::Error>),
    /// The server refused it for good.
    Refused(crate::Error),
}

/// Writes one attempt's outcome.
struct Writer<'a> {
    client: &'a Client,
    /// Completions go through the worker's batcher.
    completions: &'a batch::Batcher<batch::Complete>,
    ctx: &'a TaskContext,
    /// Cancelled by [`keep_lease`] once the lease is gone.
    lost: &'a CancellationToken,
}

impl Writer<'_> {
    async fn complete(&self, value: Value, deadline: Instant) {
        let id = self.ctx.id();
        let item = CompleteItem {
            id,
            claim_token: self.ctx.claim_token(),
            result: Some(value),
        };
        let sent = self
            .send(deadline, |_| {
                let (completions, item) = (self.completions.clone(), item.clone());
                async move { completions.call(item).await }
            })
            .await;
        match sent {
            Ok(_) => tracing::debug!(task_id = %id, "task completed"),
            Err(Unwritten::Refused(err)) if refused_for_content(&err) => {
                // Sending it again cannot help, and leaving the task running would only
                // have it re-run after its lease until it is dead: fail it for good.
                tracing::warn!(task_id = %id, error = %err, "the result was refused; failing the task");
                let message = format!("result rejected: {}", api_message(&err));
                self.fail(message, false, deadline).await;
            }
            Err(unwritten) => log_unwritten(id, "complete the task", unwritten),
        }
    }

    async fn fail(&self, error: String, retryable: bool, deadline: Instant) {
        let id = self.ctx.id();
        let error = if error.trim().is_empty() {
            NO_MESSAGE.to_owned()
        } else {
            error
        };
        let send = |error: String| {
            let input = FailIn {
                claim_token: self.ctx.claim_token(),
                error,
                retryable: Some(retryable),
            };
            self.send(deadline, move |client| {
                let input = input.clone();
                async move { client.tasks().fail(id, input).await }
            })
        };
        let mut sent = send(error.clone()).await;
        if let Err(Unwritten::Refused(err)) = &sent
            && refused_for_content(err)
        {
            tracing::warn!(task_id = %id, error = %err, "the failure message was refused; sending it cleaned and cut");
            sent = send(clean_message(&error)).await;
        }
        match sent {
            Ok(task) => tracing::info!(task_id = %id, status = %task.status, "task failed"),
            Err(unwritten) => log_unwritten(id, "report the failure", unwritten),
        }
    }

    async fn release(&self, deadline: Instant) {
        let id = self.ctx.id();
        let input = ReleaseIn {
            claim_token: self.ctx.claim_token(),
            reason: Some("worker shutting down".to_owned()),
        };
        let sent = self
            .send(deadline, |client| {
                let input = input.clone();
                async move { client.tasks().release(id, input).await }
            })
            .await;
        match sent {
            Ok(_) => tracing::info!(task_id = %id, "task released for another worker"),
            Err(unwritten) => log_unwritten(id, "release the task", unwritten),
        }
    }

    /// Sends the request made by `request` until it lands, again after each transient
    /// failure (with back-off), until the lease is lost or `deadline`.
    async fn send<F, Fut>(&self, deadline: Instant, request: F) -> Result<TaskOut, Unwritten>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<TaskOut>>,
    {
        let mut delay = WRITE_RETRY_FIRST;
        let mut last = None;
        loop {
            tokio::select! {
                biased;
                sent = tokio::time::timeout_at(deadline, request(self.client.clone())) => match sent {
                    Ok(Ok(task)) => return Ok(task),
                    Ok(Err(err)) if is_transient(&err) => {
                        tracing::debug!(task_id = %self.ctx.id(), error = %err, ?delay, "cannot write the outcome yet; retrying");
                        last = Some(err);
                    }
                    Ok(Err(err)) => return Err(Unwritten::Refused(err)),
                    Err(_) => return Err(Unwritten::OutOfTime(last)),
                },
                () = self.lost.cancelled() => return Err(Unwritten::LeaseLost),
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = tokio::time::sleep_until(deadline) => return Err(Unwritten::OutOfTime(last)),
                () = self.lost.cancelled() => return Err(Unwritten::LeaseLost),
            }
            delay = delay.saturating_mul(2).min(WRITE_RETRY_MAX);
        }
    }
}

fn log_unwritten(id: Uuid, what: &str, unwritten: Unwritten) {
    match unwritten {
        Unwritten::LeaseLost => {
            tracing::warn!(task_id = %id, "cannot {what}: the lease was lost; the task will run again");
        }
        Unwritten::OutOfTime(last) => {
            let error = last.map_or_else(|| "no answer".to_owned(), |err| err.to_string());
            tracing::warn!(task_id = %id, %error, "cannot {what} in time; its lease will expire");
        }
        // After a try whose answer was lost, this is the sign it landed.
        Unwritten::Refused(err) if lease_gone(&err) => {
            tracing::info!(task_id = %id, error = %err, "cannot {what}: the task is no longer ours");
        }
        Unwritten::Refused(err) => {
            tracing::error!(task_id = %id, error = %err, "cannot {what}; its lease will expire");
        }
    }
}

/// Whether sending the same request again later may succeed.
fn is_transient(err: &crate::Error) -> bool {
    err.is_retryable() || err.status().is_some_and(|status| status.is_server_error())
}

/// Whether the server refused the request for what it carries (too big, invalid).
fn refused_for_content(err: &crate::Error) -> bool {
    err.is_invalid_request() || err.status() == Some(reqwest::StatusCode::PAYLOAD_TOO_LARGE)
}

/// The server's explanation of an API error, or the error itself.
fn api_message(err: &crate::Error) -> String {
    match err {
        crate::Error::Api { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// `message` as the API takes a failure message ([`crate::text::clean`]), at most
/// [`MAX_ERROR_CHARS`] characters (a cut one ends with `…`), not blank.
fn clean_message(message: &str) -> String {
    let cleaned = crate::text::truncate(&crate::text::clean(message), MAX_ERROR_CHARS);
    if cleaned.is_empty() {
        NO_MESSAGE.to_owned()
    } else {
        cleaned
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

fn log_supervisor_end(done: std::result::Result<(), tokio::task::JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        tracing::error!(error = %err, "task supervisor panicked");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn api(status: StatusCode) -> crate::Error {
        crate::Error::Api {
            status,
            code: String::new(),
            message: "why".to_owned(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    #[test]
    fn a_cleaned_message_keeps_line_breaks_and_tabs_and_fits_the_limit() {
        assert_eq!(
            clean_message("\u{1b}[31mred\u{1b}[0m\n\tnext\r\n\u{0}"),
            "red\n\tnext"
        );
        let long = "é".repeat(MAX_ERROR_CHARS + 1);
        let cut = clean_message(&long);
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
        assert!(cut.ends_with("é…"));
        assert_eq!(
            clean_message(&"é".repeat(MAX_ERROR_CHARS)),
            "é".repeat(MAX_ERROR_CHARS)
        );
        assert_eq!(clean_message("\u{7}\u{1b}"), NO_MESSAGE);
    }

    #[test]
    fn outages_are_retried_and_refusals_of_content_are_not() {
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::TOO_MANY_REQUESTS,
        ] {
            assert!(is_transient(&api(status)), "{status}");
            assert!(!refused_for_content(&api(status)), "{status}");
        }
        assert!(is_transient(&crate::Error::Timeout));
        for status in [
            StatusCode::BAD_REQUEST,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNPROCESSABLE_ENTITY,
        ] {
            assert!(!is_transient(&api(status)), "{status}");
            assert!(refused_for_content(&api(status)), "{status}");
        }
        assert!(!is_transient(&api(StatusCode::CONFLICT)));
        assert_eq!(api_message(&api(StatusCode::UNPROCESSABLE_ENTITY)), "why");
    }
}
