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
//! task went back to the queue, or it was cancelled), or if no heartbeat succeeded before
//! the lease's end, the task's context is cancelled ([`TaskContext::cancelled`],
//! [`TaskContext::is_lease_lost`]) and whatever the handler returns is discarded: the
//! task now belongs to someone else.
//!
//! # Shutdown
//!
//! On Ctrl-C or SIGTERM (unless [`handle_signals(false)`](WorkerBuilder::handle_signals)),
//! or when a [`ShutdownHandle`] is triggered, the worker stops claiming and waits up to
//! the grace period for the running handlers. Handlers still running then are cancelled
//! and their tasks released (`POST /tasks/{id}/release`, which uses up no attempt) with
//! "worker shutting down", so another worker picks them up at once. [`Worker::run`] returns after that.
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

use crate::Client;
use crate::error::Result;
use crate::resources::ArtifactUpload;
use crate::types::{
    AgentIn, ArtifactOut, BlockIn, ClaimIn, ClaimedTask, CompleteIn, FailIn, ReleaseIn,
    TaskHeartbeatIn, TaskOut,
};

const MIN_LEASE: Duration = Duration::from_secs(5);
const MAX_LEASE: Duration = Duration::from_secs(3600);
const MAX_BATCH: usize = 100;
/// How long a handler whose lease was lost may take to notice before it is aborted.
const LOST_LEASE_GRACE: Duration = Duration::from_secs(5);

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

    /// Resolves when the handler should stop: the lease was lost, or the worker's
    /// shutdown grace period ran out.
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
    /// being heartbeated (the process froze or died) loses its task after this long.
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

    /// How long running handlers may take to finish once shutdown starts (default 30 s).
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
    /// each, writes the outcomes. Returns `Ok(())` after a graceful shutdown.
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
            match self.claim(free.min(batch)).await {
                Ok(claimed) if !claimed.is_empty() => {
                    failures = 0;
                    for task in claimed {
                        running.spawn(self.supervise(task));
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
    fn supervise(&self, claimed: ClaimedTask) -> impl Future<Output = ()> + Send + 'static {
        let ctx = TaskContext::new(self.client.clone(), claimed);
        let handler = self.handler.clone();
        let force = self.force.clone();
        let lease = self.config.lease;
        let every = self.config.heartbeat_interval.unwrap_or(lease / 3);
        let client = self.client.clone();
        async move {
            let id = ctx.id();
            let mut handle = AbortOnDrop(tokio::spawn(handler(ctx.clone())));
            let mut lease_ends = Instant::now() + lease;
            let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let outcome = loop {
                tokio::select! {
                    joined = &mut handle.0 => break Some(joined),
                    () = ctx.cancelled() => {
                        // The handler's own progress or block call found the lease lost:
                        // give it a moment to return, then stop it.
                        break tokio::time::timeout(LOST_LEASE_GRACE, &mut handle.0).await.ok();
                    }
                    _ = ticks.tick(), if !ctx.is_finished() => {
                        match extend(&client, &ctx, lease).await {
                            Ok(()) => lease_ends = Instant::now() + lease,
                            Err(err) if lease_gone(&err) => {
                                tracing::warn!(task_id = %id, error = %err, "lease lost; cancelling the handler");
                                ctx.lose_lease();
                            }
                            Err(err) => {
                                tracing::warn!(task_id = %id, error = %err, "lease heartbeat failed");
                                if Instant::now() >= lease_ends {
                                    tracing::warn!(task_id = %id, "lease ran out without a heartbeat; cancelling the handler");
                                    ctx.lose_lease();
                                }
                            }
                        }
                        if ctx.is_lease_lost() {
                            // Give the handler a moment to notice, then stop it.
                            break tokio::time::timeout(LOST_LEASE_GRACE, &mut handle.0).await.ok();
                        }
                    }
                    () = force.cancelled() => {
                        ctx.shut_down();
                        handle.0.abort();
                        break None;
                    }
                }
            };
            if ctx.is_lease_lost() {
                tracing::info!(task_id = %id, "result discarded: the lease was lost");
                return;
            }
            if ctx.is_finished() {
                return;
            }
            let (error, retryable) = match outcome {
                None => {
                    // Shutting down is not the task's fault: hand it back without using
                    // up one of its attempts.
                    let input = ReleaseIn {
                        claim_token: ctx.claim_token(),
                        reason: Some("worker shutting down".to_owned()),
                    };
                    match client.tasks().release(id, input).await {
                        Ok(_) => tracing::info!(task_id = %id, "task released for another worker"),
                        Err(err) => {
                            tracing::warn!(task_id = %id, error = %err, "cannot release the task; its lease will expire")
                        }
                    }
                    return;
                }
                Some(Ok(Ok(value))) => {
                    let input = CompleteIn {
                        claim_token: ctx.claim_token(),
                        result: Some(value),
                    };
                    match client.tasks().complete(id, input).await {
                        Ok(_) => tracing::debug!(task_id = %id, "task completed"),
                        Err(err) => {
                            tracing::warn!(task_id = %id, error = %err, "cannot complete the task")
                        }
                    }
                    return;
                }
                Some(Ok(Err(err))) => (err.message, err.retryable),
                Some(Err(joined)) if joined.is_panic() => (
                    format!("handler panicked: {}", panic_message(joined.into_panic())),
                    true,
                ),
                Some(Err(_)) => ("handler was cancelled".to_owned(), true),
            };
            let error = if error.trim().is_empty() {
                "handler failed without a message".to_owned()
            } else {
                error
            };
            let input = FailIn {
                claim_token: ctx.claim_token(),
                error,
                retryable: Some(retryable),
            };
            match client.tasks().fail(id, input).await {
                Ok(task) => tracing::info!(task_id = %id, status = %task.status, "task failed"),
                Err(err) => {
                    tracing::warn!(task_id = %id, error = %err, "cannot report the failure")
                }
            }
        }
    }
}

async fn extend(client: &Client, ctx: &TaskContext, lease: Duration) -> Result<()> {
    let input = TaskHeartbeatIn {
        claim_token: ctx.claim_token(),
        lease_seconds: Some(u32::try_from(lease.as_secs()).unwrap_or(60)),
        progress: None,
        message: None,
    };
    client.tasks().heartbeat(ctx.id(), input).await.map(|_| ())
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
