//! `client.agents()`: `/api/v1/agents`.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{AgentIn, AgentOut};

/// Agents: registration, heartbeats and presence. Get it with [`Client::agents`].
#[derive(Debug, Clone, Copy)]
pub struct Agents<'a> {
    pub(crate) client: &'a Client,
}

impl Agents<'_> {
    /// Registers an agent (agent role); registering a name that exists returns that
    /// agent, updated, so it is safe to call on every start (and to retry).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::AgentIn;
    /// let agent = client
    ///     .agents()
    ///     .register(AgentIn {
    ///         name: "echo-1".into(),
    ///         capabilities: Some(vec!["echo".into()]),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn register(&self, input: AgentIn) -> Result<AgentOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/agents")
            .json(&input)?;
        self.client.send(call).await
    }

    /// One agent.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let agent = client.agents().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<AgentOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/agents/{id}")),
            )
            .await
    }

    /// Lists agents, newest first, with their presence.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let page = client.agents().list().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<AgentOut> {
        ListRequest::new(self.client, "api/v1/agents", "cursor")
    }

    /// Records the agent's heartbeat: it shows as online for the server's agent TTL.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// client.agents().heartbeat(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn heartbeat(&self, id: Uuid) -> Result<AgentOut> {
        self.client
            .send(
                self.client
                    .call(Method::POST, &format!("api/v1/agents/{id}/heartbeat")),
            )
            .await
    }
}
