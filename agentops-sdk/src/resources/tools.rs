//! `client.tools()`: `/api/v1/tools`.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{ToolIn, ToolOut, ToolReviewIn, ToolRunIn, ToolStatus};

/// Tools agents write for themselves, their review and their runs. Get it with
/// [`Client::tools`].
#[derive(Debug, Clone, Copy)]
pub struct Tools<'a> {
    pub(crate) client: &'a Client,
}

impl Tools<'_> {
    /// Stores a tool whose tests passed (agent): the next version of its name, waiting
    /// for review unless the server approves tools itself. Retries are safe: the call
    /// sends an `Idempotency-Key`, so a repeated request returns the first tool.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{ToolIn, ToolRuntime, ToolTest, ToolTestResult};
    /// use serde_json::json;
    /// let tool = client
    ///     .tools()
    ///     .create(ToolIn {
    ///         name: "shout".into(),
    ///         description: "Upper-cases `text`.".into(),
    ///         input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}}),
    ///         runtime: ToolRuntime::Sh,
    ///         source: "printf '%s\\n' \"$ARG_TEXT\" | tr a-z A-Z".into(),
    ///         tests: vec![ToolTest {
    ///             input: json!({"text": "hi"}),
    ///             expect: "HI".into(),
    ///             exact: true,
    ///             result: ToolTestResult { passed: true, output: "HI".into(), error: None },
    ///         }],
    ///         task_id: None,
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: ToolIn) -> Result<ToolOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/tools")
            .json(&input)?;
        self.client.send(call.idempotent_create()).await
    }

    /// One tool.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let tool = client.tools().get(id).await?;
    /// println!("{} v{}: {}", tool.name, tool.version, tool.status);
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<ToolOut> {
        self.client
            .send(self.client.call(Method::GET, &format!("api/v1/tools/{id}")))
            .await
    }

    /// Lists tools, newest first.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ToolStatus;
    /// let waiting = client.tools().list().status(ToolStatus::PendingReview).send().await?;
    /// let mine = client.tools().list().usable_by_task(task).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<ToolOut> {
        ListRequest::new(self.client, "api/v1/tools", "cursor")
    }

    /// Approves a tool waiting for review (admin): every later task is offered it. 409
    /// if it was rejected or retired.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ToolReviewIn;
    /// let tool = client.tools().approve(id, ToolReviewIn { by: Some("ana".into()), ..Default::default() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn approve(&self, id: Uuid, review: ToolReviewIn) -> Result<ToolOut> {
        self.decide(id, "approve", review).await
    }

    /// Rejects a tool waiting for review (admin).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ToolReviewIn;
    /// let tool = client.tools().reject(id, ToolReviewIn { reason: Some("reads ~/.ssh".into()), ..Default::default() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn reject(&self, id: Uuid, review: ToolReviewIn) -> Result<ToolOut> {
        self.decide(id, "reject", review).await
    }

    /// Retires a tool (agent): it is no longer offered.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ToolReviewIn;
    /// let tool = client.tools().retire(id, ToolReviewIn { reason: Some("fails on every input".into()), ..Default::default() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn retire(&self, id: Uuid, review: ToolReviewIn) -> Result<ToolOut> {
        self.decide(id, "retire", review).await
    }

    async fn decide(&self, id: Uuid, verb: &str, review: ToolReviewIn) -> Result<ToolOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/tools/{id}/{verb}"))
            .json(&review)?;
        self.client.send(call).await
    }

    /// Reports one run of a tool (agent).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ToolRunIn;
    /// client.tools().record_run(id, ToolRunIn { error: Some("exit 2".into()), task_id: None }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn record_run(&self, id: Uuid, run: ToolRunIn) -> Result<ToolOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/tools/{id}/runs"))
            .json(&run)?;
        self.client.send(call).await
    }
}

impl ListRequest<ToolOut> {
    /// Only tools in this status.
    pub fn status(self, status: ToolStatus) -> Self {
        self.param("status", status.as_str())
    }

    /// Only versions of this name.
    pub fn name(self, name: &str) -> Self {
        self.param("name", name)
    }

    /// Only tools made in this task.
    pub fn task(self, task: Uuid) -> Self {
        self.param("task_id", task.to_string())
    }

    /// Only tools this task may use: approved ones, and those it made that wait for
    /// review.
    pub fn usable_by_task(self, task: Uuid) -> Self {
        self.param("usable_by_task", task.to_string())
    }
}
