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
//! A handler that returns frees its slot at once, so the next claim goes out while the
//! outcome is still being written, and that claim carries the completions waiting at that
//! moment (`POST /tasks/claim` with `complete`): a worker that finishes a task and takes
//! the next makes one request, not two
//! ([`complete_with_claims(false)`](WorkerBuilder::complete_with_claims) turns this off).
//! Completions no claim takes, and lease heartbeats, of several tasks that come within
//! 2 ms of each other go to the server as one request (`POST /tasks/complete`,
//! `POST /tasks/heartbeat`), each task still getting its own answer. If a request that
//! carries several fails as a whole, each is sent again on its own. A refusal of the
//! content is not retried as is:
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
mod builder;
mod context;
mod runtime;

use builder::Config;
pub use builder::WorkerBuilder;
use context::lease_gone;
pub use context::{TaskContext, TaskError};
use runtime::Runtime;

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
                complete_with_claims: true,
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
