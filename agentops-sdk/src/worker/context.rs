//! What a handler gets and gives back: [`TaskContext`] (the task, its lease, progress,
//! artifacts, questions to a human) and [`TaskError`] (a failure, retryable or not).

use super::*;

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
    pub(super) message: String,
    pub(super) retryable: bool,
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
    pub(super) inner: Arc<ContextInner>,
}

pub(super) struct ContextInner {
    pub(super) client: Client,
    pub(super) task: TaskOut,
    pub(super) claim_token: Uuid,
    pub(super) cancel: CancellationToken,
    pub(super) state: AtomicU8,
    /// The handler ended the attempt itself (blocked): nothing left to write.
    pub(super) finished: AtomicBool,
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

    pub(super) fn lose_lease(&self) {
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

    pub(super) fn shut_down(&self) {
        let _ = self.inner.state.compare_exchange(
            RUNNING,
            SHUTTING_DOWN,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.inner.cancel.cancel();
    }

    pub(super) fn is_finished(&self) -> bool {
        self.inner.finished.load(Ordering::Acquire)
    }
}

/// Whether an error on a claimed task means the attempt is no longer ours.
pub(super) fn lease_gone(err: &crate::Error) -> bool {
    err.is_stale_claim() || err.is_invalid_transition() || err.is_not_found()
}
