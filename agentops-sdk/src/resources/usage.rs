//! `client.usage()`: `/api/v1/usage`, the token ledger.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{UsageGroupBy, UsageIn, UsageOut, UsageOutcome, UsageScope, UsageSummary};

/// The token ledger. Get it with [`Client::usage`].
#[derive(Debug, Clone, Copy)]
pub struct Usage<'a> {
    pub(crate) client: &'a Client,
}

impl Usage<'_> {
    /// Records one model call (agent role) and charges it to the budgets that apply.
    /// With a `reservation_id` it settles that reservation, and a repeat (a retry after
    /// a lost answer) returns the first record; without one, the client sends an
    /// `Idempotency-Key` so its own retries are safe too.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::UsageIn;
    /// let record = client
    ///     .usage()
    ///     .record(UsageIn {
    ///         provider: "api.openai.com".into(),
    ///         model: "gpt-4o-mini".into(),
    ///         tokens_in: 1200,
    ///         tokens_out: 300,
    ///         ..UsageIn::default()
    ///     })
    ///     .await?;
    /// println!("that call cost about ${:.4}", record.cost_usd.unwrap_or(0.0));
    /// # Ok(()) }
    /// ```
    pub async fn record(&self, input: UsageIn) -> Result<UsageOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/usage")
            .json(&input)?;
        self.client.send(call.idempotent_create()).await
    }

    /// Lists recorded calls, newest first; filter with the request's methods.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let calls = client.usage().list().task(task).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<UsageOut> {
        ListRequest::new(self.client, "api/v1/usage", "cursor")
    }

    /// Totals per agent, project, model, scope, person or day; filter with the request's
    /// methods, then [`send`](SummaryRequest::send).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::UsageGroupBy;
    /// let today = chrono::Utc::now().date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    /// let by_agent = client.usage().summary(UsageGroupBy::Agent).from(today).send().await?;
    /// for group in by_agent.groups {
    ///     println!("{}: {} tokens", group.key, group.totals.tokens());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn summary(&self, group_by: UsageGroupBy) -> SummaryRequest {
        SummaryRequest {
            client: self.client.clone(),
            params: vec![("group_by", group_by.as_str().to_owned())],
        }
    }
}

impl ListRequest<UsageOut> {
    /// Only this agent's calls.
    pub fn agent(self, agent_id: Uuid) -> Self {
        self.param("agent_id", agent_id)
    }

    /// Only calls for this project.
    pub fn project(self, project_id: Uuid) -> Self {
        self.param("project_id", project_id)
    }

    /// Only calls for this task.
    pub fn task(self, task_id: Uuid) -> Self {
        self.param("task_id", task_id)
    }

    /// Only calls for this thread.
    pub fn thread(self, thread_id: Uuid) -> Self {
        self.param("thread_id", thread_id)
    }

    /// Only calls for this person.
    pub fn user(self, user: impl Into<String>) -> Self {
        self.param("user", user.into())
    }

    /// Only reactive or only proactive calls.
    pub fn scope(self, scope: UsageScope) -> Self {
        self.param("scope", scope.as_str())
    }

    /// Only calls to this model.
    pub fn model(self, model: impl Into<String>) -> Self {
        self.param("model", model.into())
    }

    /// Only calls that ended so.
    pub fn outcome(self, outcome: UsageOutcome) -> Self {
        self.param("outcome", outcome.as_str())
    }

    /// Only calls recorded at or after `at`.
    pub fn from(self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.param("from", at.to_rfc3339())
    }

    /// Only calls recorded before `at`.
    pub fn to(self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.param("to", at.to_rfc3339())
    }
}

/// A `GET /usage/summary` request: add filters, then [`send`](Self::send).
#[derive(Debug, Clone)]
#[must_use = "a summary request does nothing until `send`"]
pub struct SummaryRequest {
    client: Client,
    params: Vec<(&'static str, String)>,
}

impl SummaryRequest {
    fn param(mut self, key: &'static str, value: impl ToString) -> Self {
        self.params.push((key, value.to_string()));
        self
    }

    /// Only this agent's calls.
    pub fn agent(self, agent_id: Uuid) -> Self {
        self.param("agent_id", agent_id)
    }

    /// Only calls for this project.
    pub fn project(self, project_id: Uuid) -> Self {
        self.param("project_id", project_id)
    }

    /// Only calls for this person.
    pub fn user(self, user: impl Into<String>) -> Self {
        self.param("user", user.into())
    }

    /// Only reactive or only proactive calls.
    pub fn scope(self, scope: UsageScope) -> Self {
        self.param("scope", scope.as_str())
    }

    /// Only calls to this model.
    pub fn model(self, model: impl Into<String>) -> Self {
        self.param("model", model.into())
    }

    /// Only calls recorded at or after `at`.
    pub fn from(self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.param("from", at.to_rfc3339())
    }

    /// Only calls recorded before `at`.
    pub fn to(self, at: chrono::DateTime<chrono::Utc>) -> Self {
        self.param("to", at.to_rfc3339())
    }

    /// Sends it.
    ///
    /// # Errors
    /// [`crate::Error`].
    pub async fn send(self) -> Result<UsageSummary> {
        let mut call = self.client.call(Method::GET, "api/v1/usage/summary");
        for (key, value) in &self.params {
            call = call.query(key, value);
        }
        self.client.send(call).await
    }
}
