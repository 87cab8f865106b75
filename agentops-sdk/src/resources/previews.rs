//! `client.previews()`: `/api/v1/previews`.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{PreviewIn, PreviewOut};

/// Previews of servers tasks started. Get it with [`Client::previews`].
#[derive(Debug, Clone, Copy)]
pub struct Previews<'a> {
    pub(crate) client: &'a Client,
}

impl Previews<'_> {
    /// Shows a task's server at `/preview/<short id>/` until it expires (agent). While a
    /// preview of the same task and upstream is live, asking again returns it.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::PreviewIn;
    /// let preview = client
    ///     .previews()
    ///     .create(PreviewIn { task_id: task, upstream: "http://127.0.0.1:7070/p/3f2a/".into(), ttl_seconds: Some(600), port: Some(8000) })
    ///     .await?;
    /// println!("open {}", preview.link);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: PreviewIn) -> Result<PreviewOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/previews")
            .json(&input)?;
        self.client.send(call).await
    }

    /// One preview.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let preview = client.previews().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<PreviewOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/previews/{id}")),
            )
            .await
    }

    /// Stops showing a preview (agent): it answers `410` from now on.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// client.previews().stop(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn stop(&self, id: Uuid) -> Result<PreviewOut> {
        self.client
            .send(
                self.client
                    .call(Method::POST, &format!("api/v1/previews/{id}/stop")),
            )
            .await
    }

    /// Lists previews, newest first.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let of_task = client.previews().list().task(task).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<PreviewOut> {
        ListRequest::new(self.client, "api/v1/previews", "cursor")
    }
}

impl ListRequest<PreviewOut> {
    /// Only previews of this task.
    pub fn task(self, task: Uuid) -> Self {
        self.param("task_id", task.to_string())
    }
}
