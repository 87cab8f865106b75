//! `client.schedules()`: `/api/v1/schedules`.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{ScheduleIn, ScheduleOut};

/// Schedules: tasks created on a cron expression, an interval or once. Get it with
/// [`Client::schedules`].
#[derive(Debug, Clone, Copy)]
pub struct Schedules<'a> {
    pub(crate) client: &'a Client,
}

impl Schedules<'_> {
    /// Creates a schedule (admin).
    ///
    /// Not retried unless the request certainly did not reach the server: a repeat could
    /// make a second schedule.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, project: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{ScheduleIn, TaskTemplate};
    /// let daily = client
    ///     .schedules()
    ///     .create(ScheduleIn {
    ///         name: "weekday status report".into(),
    ///         project_id: project,
    ///         task: TaskTemplate {
    ///             title: "Status report".into(),
    ///             kind: Some("seed".into()),
    ///             ..TaskTemplate::default()
    ///         },
    ///         cron: Some("0 9 * * MON-FRI".into()),
    ///         time_zone: Some("Europe/Paris".into()),
    ///         ..ScheduleIn::default()
    ///     })
    ///     .await?;
    /// println!("{} — next at {:?}", daily.description, daily.next_run_at);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: ScheduleIn) -> Result<ScheduleOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/schedules")
            .json(&input)?;
        self.client.send(call.not_repeatable()).await
    }

    /// One schedule.
    pub async fn get(&self, id: Uuid) -> Result<ScheduleOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/schedules/{id}")),
            )
            .await
    }

    /// Schedules, newest first.
    pub fn list(&self) -> ListRequest<ScheduleOut> {
        ListRequest::new(self.client, "api/v1/schedules", "cursor")
    }

    /// Pauses a schedule (admin).
    pub async fn pause(&self, id: Uuid) -> Result<ScheduleOut> {
        self.client
            .send(
                self.client
                    .call(Method::POST, &format!("api/v1/schedules/{id}/pause")),
            )
            .await
    }

    /// Resumes a paused schedule (admin): it is next due from now.
    pub async fn resume(&self, id: Uuid) -> Result<ScheduleOut> {
        self.client
            .send(
                self.client
                    .call(Method::POST, &format!("api/v1/schedules/{id}/resume")),
            )
            .await
    }

    /// Deletes a schedule (admin); the tasks it created stay.
    pub async fn delete(&self, id: Uuid) -> Result<()> {
        self.client
            .send_empty(
                self.client
                    .call(Method::DELETE, &format!("api/v1/schedules/{id}")),
            )
            .await
    }
}

impl ListRequest<ScheduleOut> {
    /// Only this project's schedules.
    pub fn project(self, project_id: Uuid) -> Self {
        self.param("project_id", project_id)
    }
}
