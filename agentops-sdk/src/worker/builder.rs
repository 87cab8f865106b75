//! [`WorkerBuilder`]: a worker's settings, checked when it is built.

use super::*;

/// Configures a [`Worker`]; get one with [`Worker::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct WorkerBuilder {
    pub(super) client: Client,
    pub(super) config: Config,
}

#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) name: Option<String>,
    pub(super) agent_kind: Option<String>,
    pub(super) version: Option<String>,
    pub(super) metadata: Option<Value>,
    pub(super) kinds: Vec<String>,
    pub(super) labels: Vec<String>,
    pub(super) project_id: Option<Uuid>,
    pub(super) concurrency: usize,
    pub(super) batch_size: Option<usize>,
    pub(super) complete_with_claims: bool,
    pub(super) lease: Duration,
    pub(super) heartbeat_interval: Option<Duration>,
    pub(super) agent_heartbeat_interval: Duration,
    pub(super) poll_interval: Duration,
    pub(super) shutdown_grace: Duration,
    pub(super) handle_signals: bool,
    pub(super) shutdown: ShutdownHandle,
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

    /// Whether a claim carries the completions of the tasks that just finished (default
    /// `true`): a worker that finishes a task and takes the next then makes one request
    /// (`POST /tasks/claim` with `complete`) instead of two. With `false`, completions
    /// always go in requests of their own (still batched when they come together).
    pub fn complete_with_claims(mut self, yes: bool) -> Self {
        self.config.complete_with_claims = yes;
        self
    }

    /// The lease asked for each task (5 s to 1 h; default 60 s). A handler that stops
    /// being heartbeated (the process froze or died) loses its task after this long. If
    /// no heartbeat is answered for this long (the server is down or hangs), the
    /// handler's context is cancelled a little before the server may give the task to
    /// another worker (see the [module docs](crate::worker)). It is also how long an outcome is
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
