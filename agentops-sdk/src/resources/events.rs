//! `client.events()`: the event log (`GET /api/v1/events`) and the live stream
//! (`/api/v1/events/stream`).

use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::events::Subscription;
use crate::types::{ErrorCode, Event, EventCursor, EventCursorIn, EventFilter, EventLogHead};

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

    /// The newest event id (0 for an empty log), a `since` that starts a reader at
    /// "now", and how far retention has pruned the log.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let head = client.events().latest().await?;
    /// println!(
    ///     "the log is at #{}; events up to #{} may be gone",
    ///     head.last_id, head.pruned_through
    /// );
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

    /// The cursor saved under `name` (viewer role), or `None` if none is.
    ///
    /// A long-running consumer saves the id of the last event it has handled with
    /// [`save_cursor`](Self::save_cursor), and on start resumes after the saved id, so a
    /// restart makes it handle a few events again rather than skip what happened while
    /// it was down:
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::EventFilter;
    /// use futures_util::StreamExt;
    ///
    /// let since = match client.events().cursor("mailer").await? {
    ///     Some(cursor) => cursor.last_id,
    ///     None => client.events().latest().await?.last_id, // first run: from now on
    /// };
    /// let filter = EventFilter::new().types(["task.completed"]).since(since);
    /// let mut events = client.events().subscribe(filter);
    /// while let Some(event) = events.next().await {
    ///     let event = event?;
    ///     println!("mail: task {:?} completed", event.task_id);
    ///     client.events().save_cursor("mailer", event.id).await?;
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// A saved cursor older than the server's event retention makes the stream end with
    /// 410 `cursor_expired`: the consumer then missed events, and should reload the state
    /// it tracks and start again from [`latest`](Self::latest).
    pub async fn cursor(&self, name: &str) -> crate::Result<Option<EventCursor>> {
        let call = self.cursor_call(reqwest::Method::GET, name);
        match self.client.send(call).await {
            Ok(cursor) => Ok(Some(cursor)),
            Err(err) if err.error_code() == Some(ErrorCode::EventCursorNotFound) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Saves the cursor `name` at `last_id`, the id of the last event its consumer has
    /// handled (agent role), creating it if needed. A cursor only moves forward: saving a
    /// lower id than the stored one changes nothing, so saving late or twice is harmless.
    /// Returns the cursor as stored.
    ///
    /// Names are `[a-zA-Z0-9_.:-]`, 1–100 characters, starting with a letter or digit;
    /// `last_id` must not be beyond the newest event (422 `validation_failed`).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let cursor = client.events().save_cursor("mailer", 42).await?;
    /// assert!(cursor.last_id >= 42);
    /// # Ok(()) }
    /// ```
    pub async fn save_cursor(&self, name: &str, last_id: i64) -> crate::Result<EventCursor> {
        let call = self
            .cursor_call(reqwest::Method::PUT, name)
            .json(&EventCursorIn { last_id })?;
        self.client.send(call).await
    }

    /// Deletes the cursor `name` (agent role), so that its consumer starts afresh;
    /// 404 `event_cursor_not_found` if there is none.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// client.events().delete_cursor("mailer").await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_cursor(&self, name: &str) -> crate::Result<()> {
        let call = self.cursor_call(reqwest::Method::DELETE, name);
        self.client.send_empty(call).await
    }

    /// Every saved cursor, by name (viewer role): how far each named consumer has got.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let head = client.events().latest().await?.last_id;
    /// for cursor in client.events().cursors().await? {
    ///     println!("{} is {} events behind", cursor.name, head - cursor.last_id);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn cursors(&self) -> crate::Result<Vec<EventCursor>> {
        self.client
            .send(
                self.client
                    .call(reqwest::Method::GET, "api/v1/events/cursors"),
            )
            .await
    }

    fn cursor_call(&self, method: reqwest::Method, name: &str) -> crate::client::Call {
        self.client
            .call(method, "api/v1/events/cursors")
            .segment(name)
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
