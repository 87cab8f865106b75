//! [`ListRequest`]: a listing with its filters, sent one page at a time or streamed.

use std::marker::PhantomData;

use futures_util::{Stream, StreamExt, TryStreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;

use crate::Client;
use crate::client::Call;
use crate::error::Result;
use crate::types::Page;

/// A listing request: add filters, then [`send`](Self::send) for one page or
/// [`stream`](Self::stream) for every item across pages.
///
/// ```no_run
/// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
/// use agentops_sdk::types::TaskStatus;
/// use futures_util::TryStreamExt;
///
/// let first_page = client.tasks().list().status(TaskStatus::Queued).limit(50).send().await?;
/// let every_queued: Vec<_> = client.tasks().list().status(TaskStatus::Queued).stream().try_collect().await?;
/// # Ok(()) }
/// ```
#[must_use = "a listing does nothing until `send` or `stream`"]
pub struct ListRequest<T> {
    client: Client,
    path: std::sync::Arc<str>,
    /// The query parameter that carries the cursor: `cursor` for entities, `since` for
    /// events.
    cursor_param: &'static str,
    params: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    cursor: Option<String>,
    _item: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for ListRequest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListRequest")
            .field("path", &self.path)
            .field("params", &self.params)
            .field("cursor", &self.cursor)
            .finish()
    }
}

impl<T: DeserializeOwned + Send + 'static> ListRequest<T> {
    pub(crate) fn new(
        client: &Client,
        path: impl Into<std::sync::Arc<str>>,
        cursor_param: &'static str,
    ) -> Self {
        Self {
            client: client.clone(),
            path: path.into(),
            cursor_param,
            params: Vec::new(),
            headers: Vec::new(),
            cursor: None,
            _item: PhantomData,
        }
    }

    pub(crate) fn param(mut self, key: &'static str, value: impl ToString) -> Self {
        self.params.retain(|(k, _)| *k != key);
        self.params.push((key, value.to_string()));
        self
    }

    /// Sends `name: value` with every page's request.
    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(k, _)| *k != name);
        self.headers.push((name, value.into()));
        self
    }

    /// Items per page (the server's range and default apply: 1–200, default 50, for
    /// entities; 1–1000, default 100, for events).
    pub fn limit(self, limit: u32) -> Self {
        self.param("limit", limit)
    }

    /// Start after this cursor: the `next_cursor` of a previous page.
    pub fn cursor(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }

    fn call(
        client: &Client,
        path: &str,
        cursor_param: &str,
        params: &[(&'static str, String)],
        headers: &[(&'static str, String)],
        cursor: Option<&str>,
    ) -> Call {
        let mut call = client.call(Method::GET, path);
        for (name, value) in headers {
            call = call.header(name, value.clone());
        }
        for (key, value) in params {
            if *key != cursor_param || cursor.is_none() {
                call = call.query(key, value);
            }
        }
        call.query_opt(cursor_param, cursor)
    }

    /// Fetches one page.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let page = client.projects().list().limit(20).send().await?;
    /// if let Some(cursor) = page.next_cursor {
    ///     let next = client.projects().list().limit(20).cursor(cursor).send().await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn send(self) -> Result<Page<T>> {
        let call = Self::call(
            &self.client,
            &self.path,
            self.cursor_param,
            &self.params,
            &self.headers,
            self.cursor.as_deref(),
        );
        self.client.send(call).await
    }

    /// Every item, fetching the pages one after another as the stream is polled.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use futures_util::TryStreamExt;
    /// let mut agents = client.agents().list().stream();
    /// while let Some(agent) = agents.try_next().await? {
    ///     println!("{} is {:?}", agent.name, agent.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(self) -> impl Stream<Item = Result<T>> + Send + Unpin + 'static {
        let Self {
            client,
            path,
            cursor_param,
            params,
            headers,
            cursor,
            ..
        } = self;
        let state = (client, params, Some(cursor));
        futures_util::stream::try_unfold(state, move |(client, params, next)| {
            let path = path.clone();
            let headers = headers.clone();
            async move {
                let Some(cursor) = next else {
                    return Ok::<_, crate::Error>(None);
                };
                let call = Self::call(
                    &client,
                    &path,
                    cursor_param,
                    &params,
                    &headers,
                    cursor.as_deref(),
                );
                let page: Page<T> = client.send(call).await?;
                let next = page.next_cursor.map(Some);
                Ok(Some((page.items, (client, params, next))))
            }
        })
        .map_ok(|items| futures_util::stream::iter(items.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}
