//! `client.deployments()`: `/api/v1/deployments`.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{DeploymentIn, DeploymentOut, DeploymentPatch, DeploymentStatus};

/// Deployments of the platform and the steps they report. Get it with
/// [`Client::deployments`].
#[derive(Debug, Clone, Copy)]
pub struct Deployments<'a> {
    pub(crate) client: &'a Client,
}

impl Deployments<'_> {
    /// Records a deployment (admin). Retries are safe: the call sends an
    /// `Idempotency-Key`, so a repeated request returns the first deployment.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::DeploymentIn;
    /// let deployment = client
    ///     .deployments()
    ///     .create(DeploymentIn { git_sha: "4f2a9c1".into(), branch: Some("main".into()), ..Default::default() })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: DeploymentIn) -> Result<DeploymentOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/deployments")
            .json(&input)?;
        self.client.send(call.idempotent_create()).await
    }

    /// Records a deployment with your own idempotency key: calling again with the same
    /// key returns the first deployment. Returns the deployment and whether it was such
    /// a replay.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::DeploymentIn;
    /// let input = DeploymentIn { git_sha: "4f2a9c1".into(), ..Default::default() };
    /// let (deployment, replayed) = client.deployments().create_with_key(input, "release-v1.4.0").await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_with_key(
        &self,
        input: DeploymentIn,
        idempotency_key: impl Into<String>,
    ) -> Result<(DeploymentOut, bool)> {
        let call = self
            .client
            .call(Method::POST, "api/v1/deployments")
            .json(&input)?;
        self.client
            .send_with_replay(call.with_idempotency_key(idempotency_key.into()))
            .await
    }

    /// Moves a deployment on (admin): a new status, a report that replaces the old one,
    /// a merge patch for the metadata. A final deployment refuses another status
    /// (`409 invalid_transition`).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{DeploymentPatch, DeploymentStatus};
    /// let patch = DeploymentPatch {
    ///     status: Some(DeploymentStatus::Healthy),
    ///     report: Some("v1.4.0 is live; health check passed".into()),
    ///     ..Default::default()
    /// };
    /// let deployment = client.deployments().update(id, patch).await?;
    /// assert!(deployment.status.is_final());
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: Uuid, patch: DeploymentPatch) -> Result<DeploymentOut> {
        let call = self
            .client
            .call(Method::PATCH, &format!("api/v1/deployments/{id}"))
            .json(&patch)?;
        self.client.send(call).await
    }

    /// One deployment.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let deployment = client.deployments().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<DeploymentOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/deployments/{id}")),
            )
            .await
    }

    /// Lists deployments, newest first.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::DeploymentStatus;
    /// let rollbacks = client.deployments().list().status(DeploymentStatus::RolledBack).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<DeploymentOut> {
        ListRequest::new(self.client, "api/v1/deployments", "cursor")
    }
}

impl ListRequest<DeploymentOut> {
    /// Only deployments in this status.
    pub fn status(self, status: DeploymentStatus) -> Self {
        self.param("status", status.as_str())
    }
}
