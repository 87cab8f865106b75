//! `client.tasks()`: `/api/v1/tasks`, including the agent protocol.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{
    BatchOut, BlockIn, CancelIn, ClaimIn, ClaimOut, CompleteIn, CompleteManyIn, FailIn,
    HeartbeatManyIn, ReleaseIn, TaskHeartbeatIn, TaskIn, TaskOut, TaskPatch, TaskStatus,
    TaskSummary, UnblockIn,
};

/// Tasks and the agent protocol. Get it with [`Client::tasks`].
///
/// The agent protocol: [`claim`](Self::claim) hands out tasks with a lease and a claim
/// token; [`heartbeat`](Self::heartbeat) extends the lease; [`complete`](Self::complete),
/// [`fail`](Self::fail) and [`block`](Self::block) end the attempt. Only the current
/// claim token is accepted: an error with
/// [`is_stale_claim`](crate::Error::is_stale_claim) means the lease was lost. The
/// [`worker`](crate::worker) runtime does all of this for you.
#[derive(Debug, Clone, Copy)]
pub struct Tasks<'a> {
    pub(crate) client: &'a Client,
}

impl Tasks<'_> {
    /// Creates a task (admin). Retries are safe: the call sends an `Idempotency-Key`, so
    /// a repeated request returns the first task instead of making a second.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, project_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::TaskIn;
    /// use serde_json::json;
    /// let task = client
    ///     .tasks()
    ///     .create(TaskIn {
    ///         project_id,
    ///         title: "Say hello".into(),
    ///         kind: Some("echo".into()),
    ///         input: Some(json!({ "text": "hello" })),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: TaskIn) -> Result<TaskOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/tasks")
            .json(&input)?;
        self.client.send(call.idempotent_create()).await
    }

    /// Creates a task with your own idempotency key: calling again with the same key
    /// returns the first task. Returns the task and whether it was such a replay.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, project_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::TaskIn;
    /// let input = TaskIn { project_id, title: "Nightly report".into(), ..Default::default() };
    /// let (task, replayed) = client.tasks().create_with_key(input, "report-2026-01-31").await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_with_key(
        &self,
        input: TaskIn,
        idempotency_key: impl Into<String>,
    ) -> Result<(TaskOut, bool)> {
        let call = self
            .client
            .call(Method::POST, "api/v1/tasks")
            .json(&input)?;
        self.client
            .send_with_replay(call.with_idempotency_key(idempotency_key.into()))
            .await
    }

    /// One task.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let task = client.tasks().get(id).await?;
    /// println!("{} is {}", task.title, task.status);
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<TaskOut> {
        self.client
            .send(self.client.call(Method::GET, &format!("api/v1/tasks/{id}")))
            .await
    }

    /// Lists tasks, newest first; narrow it with the filters of [`ListRequest<TaskOut>`].
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, project_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::TaskStatus;
    /// let page = client
    ///     .tasks()
    ///     .list()
    ///     .project(project_id)
    ///     .status(TaskStatus::Running)
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<TaskOut> {
        ListRequest::new(self.client, "api/v1/tasks", "cursor")
    }

    /// Where the work stands: tasks per status, overall and per project, and the tasks
    /// finished in each of the last 60 minutes; of one project if `project` is given.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let summary = client.tasks().summary(None).await?;
    /// println!("{} running, {} blocked", summary.by_status.running, summary.by_status.blocked);
    /// # Ok(()) }
    /// ```
    pub async fn summary(&self, project: Option<Uuid>) -> Result<TaskSummary> {
        let call = self
            .client
            .call(Method::GET, "api/v1/tasks/summary")
            .query_opt("project_id", project);
        self.client.send(call).await
    }

    /// Changes a task that is not running and not finished (admin).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::TaskPatch;
    /// let task = client
    ///     .tasks()
    ///     .update(id, TaskPatch { priority: Some(10), ..Default::default() })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: Uuid, patch: TaskPatch) -> Result<TaskOut> {
        let call = self
            .client
            .call(Method::PATCH, &format!("api/v1/tasks/{id}"))
            .json(&patch)?;
        self.client.send(call).await
    }

    /// Cancels a task that has not finished, and the tasks waiting on it (admin). A
    /// running task's agent learns it at its next heartbeat (stale claim).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::CancelIn;
    /// let task = client
    ///     .tasks()
    ///     .cancel(id, CancelIn { reason: Some("not needed any more".into()) })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn cancel(&self, id: Uuid, input: CancelIn) -> Result<TaskOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/tasks/{id}/cancel"))
            .json(&input)?;
        self.client.send(call).await
    }

    /// Puts a blocked task back in the queue, with an optional note for its next attempt
    /// (admin).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::UnblockIn;
    /// let task = client
    ///     .tasks()
    ///     .unblock(id, UnblockIn { note: Some("the password is in the vault".into()) })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn unblock(&self, id: Uuid, input: UnblockIn) -> Result<TaskOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/tasks/{id}/unblock"))
            .json(&input)?;
        self.client.send(call).await
    }

    /// Claims up to `limit` runnable tasks for an agent (agent role), each `running` with
    /// a lease and a claim token; empty when nothing is runnable.
    ///
    /// Retried safely: the claim carries an `Idempotency-Key` drawn for this call, so a
    /// repeat after a lost answer gets back the tasks (and claim tokens) the first claim
    /// took, instead of leaving them to wait out their lease and use up an attempt.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, agent_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ClaimIn;
    /// let claimed = client
    ///     .tasks()
    ///     .claim(ClaimIn {
    ///         agent_id,
    ///         kinds: Some(vec!["echo".into()]),
    ///         labels: None,
    ///         project_id: None,
    ///         limit: Some(10),
    ///         lease_seconds: Some(60),
    ///         complete: None,
    ///     })
    ///     .await?;
    /// for claimed in claimed.tasks {
    ///     println!("got {} (token {})", claimed.task.id, claimed.claim_token);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn claim(&self, input: ClaimIn) -> Result<ClaimOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/tasks/claim")
            .json(&input)?;
        self.client.send(call.idempotent_create()).await
    }

    /// Extends a running task's lease, optionally reporting progress (agent role).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid, token: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::TaskHeartbeatIn;
    /// let result = client
    ///     .tasks()
    ///     .heartbeat(id, TaskHeartbeatIn {
    ///         claim_token: token,
    ///         lease_seconds: None,
    ///         progress: Some(0.5),
    ///         message: Some("half way".into()),
    ///     })
    ///     .await;
    /// if let Err(err) = &result {
    ///     if err.is_stale_claim() {
    ///         // The lease was lost: stop working on this task.
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn heartbeat(&self, id: Uuid, input: TaskHeartbeatIn) -> Result<TaskOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/tasks/{id}/heartbeat"))
            .json(&input)?;
        self.client.send(call).await
    }

    /// Completes a running task with its result (agent role). Repeating it with the same
    /// claim token returns the completed task, so retries are safe.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid, token: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::CompleteIn;
    /// use serde_json::json;
    /// let done = client
    ///     .tasks()
    ///     .complete(id, CompleteIn { claim_token: token, result: Some(json!({ "ok": true })) })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn complete(&self, id: Uuid, input: CompleteIn) -> Result<TaskOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/tasks/{id}/complete"))
            .json(&input)?;
        self.client.send(call).await
    }

    /// Completes many running tasks in one request and one server transaction (agent
    /// role). Each item gets its own outcome, in request order: a stale claim token fails
    /// only its own item (`status` 409). Like [`complete`](Self::complete), repeating a
    /// completion that landed returns the completed task, so a batch is safe to retry.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, a: uuid::Uuid, b: uuid::Uuid, token: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{CompleteItem, CompleteManyIn};
    /// use serde_json::json;
    /// let items = [a, b]
    ///     .into_iter()
    ///     .map(|id| CompleteItem { id, claim_token: token, result: Some(json!({ "ok": true })) })
    ///     .collect();
    /// let outcome = client.tasks().complete_many(CompleteManyIn { items }).await?;
    /// for item in outcome.items {
    ///     if let Some(error) = item.error {
    ///         eprintln!("{} was not completed: {}", item.id, error.message);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn complete_many(&self, input: CompleteManyIn) -> Result<BatchOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/tasks/complete")
            .json(&input)?;
        self.client.send(call).await
    }

    /// Extends the leases of many running tasks in one request (agent role); each item
    /// gets its own outcome, in request order.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid, token: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{HeartbeatItem, HeartbeatManyIn};
    /// let item = HeartbeatItem {
    ///     id,
    ///     claim_token: token,
    ///     lease_seconds: Some(60),
    ///     progress: None,
    ///     message: None,
    /// };
    /// let outcome = client.tasks().heartbeat_many(HeartbeatManyIn { items: vec![item] }).await?;
    /// assert_eq!(outcome.items.len(), 1);
    /// # Ok(()) }
    /// ```
    pub async fn heartbeat_many(&self, input: HeartbeatManyIn) -> Result<BatchOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/tasks/heartbeat")
            .json(&input)?;
        self.client.send(call).await
    }

    /// Reports a failed attempt (agent role): the task is retried after a back-off while
    /// attempts remain and `retryable` is not `false`, and fails for good otherwise.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid, token: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::FailIn;
    /// let task = client
    ///     .tasks()
    ///     .fail(id, FailIn { claim_token: token, error: "upstream timed out".into(), retryable: Some(true) })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn fail(&self, id: Uuid, input: FailIn) -> Result<TaskOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/tasks/{id}/fail"))
            .json(&input)?;
        self.client.send(call).await
    }

    /// Blocks a running task because it needs a human (agent role); the lease ends and
    /// [`unblock`](Self::unblock) puts it back in the queue.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid, token: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::BlockIn;
    /// let task = client
    ///     .tasks()
    ///     .block(id, BlockIn { claim_token: token, reason: "need the staging password".into() })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn block(&self, id: Uuid, input: BlockIn) -> Result<TaskOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/tasks/{id}/block"))
            .json(&input)?;
        self.client.send(call).await
    }

    /// Hands a running task back to the queue without using up an attempt (agent role),
    /// for an agent that is shutting down or cannot take the task after all.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid, token: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ReleaseIn;
    /// let task = client
    ///     .tasks()
    ///     .release(id, ReleaseIn { claim_token: token, reason: Some("worker shutting down".into()) })
    ///     .await?;
    /// assert_eq!(task.status, agentops_sdk::types::TaskStatus::Queued);
    /// # Ok(()) }
    /// ```
    pub async fn release(&self, id: Uuid, input: ReleaseIn) -> Result<TaskOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/tasks/{id}/release"))
            .json(&input)?;
        self.client.send(call).await
    }
}

impl ListRequest<TaskOut> {
    /// Only this project's tasks.
    pub fn project(self, project_id: Uuid) -> Self {
        self.param("project_id", project_id)
    }

    /// Only tasks in this status.
    pub fn status(self, status: TaskStatus) -> Self {
        self.param("status", status.as_str())
    }

    /// Only tasks of this kind.
    pub fn kind(self, kind: impl Into<String>) -> Self {
        self.param("kind", kind.into())
    }

    /// Only tasks carrying this label.
    pub fn label(self, label: impl Into<String>) -> Self {
        self.param("label", label.into())
    }

    /// Only tasks held (or last held) by this agent.
    pub fn agent(self, agent_id: Uuid) -> Self {
        self.param("agent_id", agent_id)
    }
}
