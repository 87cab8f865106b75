//! `client.events()`: the event log (`GET /api/v1/events`) and the live stream
//! (`/api/v1/events/stream`).

use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::events::Subscription;
use crate::types::{Event, EventFilter, EventLogHead};

/// The event log and live event stream. Get it with [`Client::events`].
#[derive(Debug, Clone, Copy)]
pub struct Events<'a> {
    pub(crate) client: &'a Client,
}

impl Events<'_> {
    /// Lists events from the log in ascending id order (viewer role). Page with
    /// [`since`](ListRequest::since): each page's `next_cursor` is its last id.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use futures_util::TryStreamExt;
    /// // Every task event so far, page after page.
    /// let events: Vec<_> = client.events().list().types(["task.*"]).since(0).stream().try_collect().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<Event> {
        ListRequest::new(self.client, "api/v1/events", "since")
    }

    /// The newest event id (0 for an empty log): a `since` that starts a reader at "now".
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let head = client.events().latest().await?;
    /// println!("the log is at #{}", head.last_id);
    /// # Ok(()) }
    /// ```
    pub async fn latest(&self) -> crate::Result<EventLogHead> {
        self.client
            .send(
                self.client
                    .call(reqwest::Method::GET, "api/v1/events/latest"),
            )
            .await
    }

    /// Applies a whole [`EventFilter`] to a listing.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, task_id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::EventFilter;
    /// let timeline = client.events().list_filtered(&EventFilter::new().task(task_id).since(0)).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list_filtered(&self, filter: &EventFilter) -> ListRequest<Event> {
        filter
            .query_pairs()
            .into_iter()
            .fold(self.list(), |list, (key, value)| list.param(key, value))
    }

    /// Subscribes to events matching `filter` over a WebSocket: a [`Stream`] of events in
    /// increasing id order that reconnects by itself (with back-off) and resumes after
    /// the last event it delivered, so across a dropped connection or a server restart
    /// every event is delivered exactly once.
    ///
    /// With `filter.since`, the stream first replays everything after that id from the
    /// log; without it, it starts with the events committed after the subscription
    /// starts: on its first poll, or when [`Subscription::start`] is awaited.
    ///
    /// [`Stream`]: futures_util::Stream
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::EventFilter;
    /// use futures_util::StreamExt;
    ///
    /// let mut events = client.events().subscribe(EventFilter::new().types(["task.completed", "task.failed"]));
    /// while let Some(event) = events.next().await {
    ///     let event = event?;
    ///     println!("#{} {} {:?}", event.id, event.kind, event.task_id);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self, filter: EventFilter) -> Subscription {
        Subscription::new(self.client.clone(), filter)
    }
}

impl ListRequest<Event> {
    /// Only events with an id above `id` (the resume point; `0` for the whole log).
    pub fn since(self, id: i64) -> Self {
        self.param("since", id)
    }

    /// Only events whose type matches one of `patterns` (`task.*`, `agent.online`).
    pub fn types<I, S>(self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let joined: Vec<String> = patterns.into_iter().map(Into::into).collect();
        self.param("types", joined.join(","))
    }

    /// Only events about this project.
    pub fn project(self, project_id: Uuid) -> Self {
        self.param("project_id", project_id)
    }

    /// Only events about this task.
    pub fn task(self, task_id: Uuid) -> Self {
        self.param("task_id", task_id)
    }

    /// Only events about this agent.
    pub fn agent(self, agent_id: Uuid) -> Self {
        self.param("agent_id", agent_id)
    }
}
