//! Events: the log of changes, its filters, cursors and head.

use super::*;

/// A change that happened on the platform, as stored in the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Event {
    /// Position in the log. Readers get events in increasing id order, and one that
    /// resumes after an id gets every later event exactly once.
    pub id: i64,
    /// What happened, `entity.verb` (e.g. `task.completed`).
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was made: taken in its transaction, just before the commit.
    pub created_at: DateTime<Utc>,
    /// The project it concerns, if any.
    pub project_id: Option<Uuid>,
    /// The task it concerns, if any.
    pub task_id: Option<Uuid>,
    /// The agent it concerns, if any.
    pub agent_id: Option<Uuid>,
    /// The entity after the change.
    pub data: Value,
}

/// Which events a reader wants, for `GET /api/v1/events` and the WebSocket
/// `/api/v1/events/stream`. Empty fields match everything.
///
/// ```
/// use agentops_sdk::types::EventFilter;
/// let filter = EventFilter::new().types(["task.*", "agent.online"]).since(1200);
/// assert_eq!(filter.types, ["task.*", "agent.online"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    /// Type patterns, any of which may match: `task.completed` exactly, `task.*` by
    /// prefix, `*` for all. All types if empty.
    pub types: Vec<String>,
    /// Only events about this project.
    pub project_id: Option<Uuid>,
    /// Only events about this task.
    pub task_id: Option<Uuid>,
    /// Only events about this agent.
    pub agent_id: Option<Uuid>,
    /// Only events after this id (a resume point). For a subscription without it, only
    /// events committed after the subscription started.
    pub since: Option<i64>,
}

impl EventFilter {
    /// A filter that matches every event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events whose type matches one of `patterns` (`task.*`, `agent.online`...).
    #[must_use]
    pub fn types<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.types = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Only events about this project.
    #[must_use]
    pub fn project(mut self, project_id: Uuid) -> Self {
        self.project_id = Some(project_id);
        self
    }

    /// Only events about this task.
    #[must_use]
    pub fn task(mut self, task_id: Uuid) -> Self {
        self.task_id = Some(task_id);
        self
    }

    /// Only events about this agent.
    #[must_use]
    pub fn agent(mut self, agent_id: Uuid) -> Self {
        self.agent_id = Some(agent_id);
        self
    }

    /// Only events with an id above `id`.
    #[must_use]
    pub fn since(mut self, id: i64) -> Self {
        self.since = Some(id);
        self
    }

    /// Whether `event` passes the filter (`since` included), by the server's rules.
    ///
    /// ```
    /// # use agentops_sdk::types::{Event, EventFilter};
    /// # fn check(event: &Event) -> bool {
    /// EventFilter::new().types(["task.*"]).matches(event)
    /// # }
    /// ```
    pub fn matches(&self, event: &Event) -> bool {
        let type_ok = self.types.is_empty()
            || self
                .types
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => event.kind.starts_with(prefix),
                    None => event.kind == *pattern,
                });
        type_ok
            && self.since.is_none_or(|since| event.id > since)
            && self
                .project_id
                .is_none_or(|id| event.project_id == Some(id))
            && self.task_id.is_none_or(|id| event.task_id == Some(id))
            && self.agent_id.is_none_or(|id| event.agent_id == Some(id))
    }

    /// The filter as query parameters (`types=task.*,agent.online&project_id=...`).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if !self.types.is_empty() {
            pairs.push(("types", self.types.join(",")));
        }
        if let Some(id) = self.project_id {
            pairs.push(("project_id", id.to_string()));
        }
        if let Some(id) = self.task_id {
            pairs.push(("task_id", id.to_string()));
        }
        if let Some(id) = self.agent_id {
            pairs.push(("agent_id", id.to_string()));
        }
        if let Some(since) = self.since {
            pairs.push(("since", since.to_string()));
        }
        pairs
    }
}
