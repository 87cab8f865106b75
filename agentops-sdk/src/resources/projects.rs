//! `client.projects()`: `/api/v1/projects`.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{NoteIn, NoteOut, ProjectIn, ProjectOut, ProjectPatch};

/// Projects: named groups of tasks. Get it with [`Client::projects`].
#[derive(Debug, Clone, Copy)]
pub struct Projects<'a> {
    pub(crate) client: &'a Client,
}

impl Projects<'_> {
    /// Creates a project (admin). Retries are safe: the call sends an `Idempotency-Key`,
    /// so a repeated request returns the first project.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ProjectIn;
    /// let project = client
    ///     .projects()
    ///     .create(ProjectIn { name: "website".into(), ..Default::default() })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: ProjectIn) -> Result<ProjectOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/projects")
            .json(&input)?;
        self.client.send(call.idempotent_create()).await
    }

    /// Creates a project with your own idempotency key: calling again with the same key
    /// (even from another process, days later) returns the first project. Returns the
    /// project and whether it was such a replay.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ProjectIn;
    /// let input = ProjectIn { name: "website".into(), ..Default::default() };
    /// let (project, replayed) = client.projects().create_with_key(input, "approval-42").await?;
    /// # Ok(()) }
    /// ```
    pub async fn create_with_key(
        &self,
        input: ProjectIn,
        idempotency_key: impl Into<String>,
    ) -> Result<(ProjectOut, bool)> {
        let call = self
            .client
            .call(Method::POST, "api/v1/projects")
            .json(&input)?;
        self.client
            .send_with_replay(call.with_idempotency_key(idempotency_key.into()))
            .await
    }

    /// One project.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let project = client.projects().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<ProjectOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/projects/{id}")),
            )
            .await
    }

    /// Lists projects, newest first.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let page = client.projects().list().limit(10).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<ProjectOut> {
        ListRequest::new(self.client, "api/v1/projects", "cursor")
    }

    /// Changes a project's name, description or metadata (admin).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ProjectPatch;
    /// let patch = ProjectPatch { description: Some("the new site".into()), ..Default::default() };
    /// let project = client.projects().update(id, patch).await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: Uuid, patch: ProjectPatch) -> Result<ProjectOut> {
        let call = self
            .client
            .call(Method::PATCH, &format!("api/v1/projects/{id}"))
            .json(&patch)?;
        self.client.send(call).await
    }

    /// Deletes a project whose tasks have all finished, with its tasks (admin); 409 if
    /// some have not.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// client.projects().delete(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, id: Uuid) -> Result<()> {
        self.client
            .send_empty(
                self.client
                    .call(Method::DELETE, &format!("api/v1/projects/{id}")),
            )
            .await
    }

    /// The newest version of each of a project's notes.
    pub async fn notes(&self, project_id: Uuid) -> Result<Vec<NoteOut>> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/projects/{project_id}/notes")),
            )
            .await
    }

    /// A project's note under `key`, its newest version (`None`: never written).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, project: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// if let Some(note) = client.projects().note(project, "chief").await? {
    ///     println!("v{}: {}", note.version, note.text);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn note(&self, project_id: Uuid, key: &str) -> Result<Option<NoteOut>> {
        let call = self
            .client
            .call(Method::GET, &format!("api/v1/projects/{project_id}/notes/"))
            .segment(key);
        match self.client.send(call).await {
            Ok(note) => Ok(Some(note)),
            Err(err) if err.is_not_found() && err.code() == Some("note_not_found") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Writes a new version of a project's note (agent role). With `expected_version`,
    /// a note someone else wrote meanwhile is not overwritten (`stale_version`).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, project: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::NoteIn;
    /// let note = client
    ///     .projects()
    ///     .write_note(project, "chief", NoteIn { text: "Launch slipped a week.".into(), expected_version: None })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn write_note(&self, project_id: Uuid, key: &str, input: NoteIn) -> Result<NoteOut> {
        let call = self
            .client
            .call(Method::PUT, &format!("api/v1/projects/{project_id}/notes/"))
            .segment(key)
            .json(&input)?;
        // A repeat after a lost answer would write the same text as a new version; with
        // `expected_version` it is refused instead. Either way nothing is lost.
        self.client.send(call.not_repeatable()).await
    }

    /// A note's versions, newest first (at most `limit`).
    pub async fn note_versions(
        &self,
        project_id: Uuid,
        key: &str,
        limit: u32,
    ) -> Result<Vec<NoteOut>> {
        let call = self
            .client
            .call(Method::GET, &format!("api/v1/projects/{project_id}/notes/"))
            .segment(key)
            .segment("versions")
            .query("limit", limit.to_string());
        self.client.send(call).await
    }
}
