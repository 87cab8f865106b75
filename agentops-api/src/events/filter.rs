//! Which events a reader wants: type patterns and entity ids.

use uuid::Uuid;

use agentops_sdk::types::{Event, Role};

use crate::error::DomainError;

/// A type pattern: `task.completed` exactly, `task.*` by prefix, or `*` for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypePattern {
    /// The whole type.
    Exact(String),
    /// Everything starting with this prefix (`task.`).
    Prefix(String),
}

impl TypePattern {
    fn matches(&self, kind: &str) -> bool {
        match self {
            TypePattern::Exact(exact) => kind == exact,
            TypePattern::Prefix(prefix) => kind.starts_with(prefix.as_str()),
        }
    }
}

/// A reader's filter. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Any of these type patterns (all types if empty).
    pub types: Vec<TypePattern>,
    /// Only events about this project.
    pub project_id: Option<Uuid>,
    /// Only events about this task.
    pub task_id: Option<Uuid>,
    /// Only events about this agent.
    pub agent_id: Option<Uuid>,
    /// Whether key events may be shown (admins only: they describe credentials).
    pub include_keys: bool,
}

/// Most comma-separated entries `types` may have (empty ones count: the OpenAPI
/// document states this limit as a pattern, which cannot tell them apart).
pub const TYPE_PATTERNS_MAX: usize = 50;

/// The OpenAPI pattern of `types`: up to [`TYPE_PATTERNS_MAX`] comma-separated entries,
/// each empty, `*`, a type (`[a-z_.]+`) or a type prefix ending in `*`, with spaces
/// around them allowed.
pub fn types_pattern() -> String {
    let entry = r"\s*[a-z_.]*\*?\s*";
    format!("^{entry}(,{entry}){{0,{}}}$", TYPE_PATTERNS_MAX - 1)
}

impl EventFilter {
    /// Parses `types` (comma-separated patterns) and the ids, for a caller with `role`.
    pub fn parse(
        types: Option<&str>,
        project_id: Option<Uuid>,
        task_id: Option<Uuid>,
        agent_id: Option<Uuid>,
        role: Role,
    ) -> Result<Self, DomainError> {
        let mut patterns = Vec::new();
        let entries = types.unwrap_or_default().split(',');
        if entries.clone().count() > TYPE_PATTERNS_MAX {
            return Err(DomainError::invalid(
                "types",
                format!("at most {TYPE_PATTERNS_MAX} patterns"),
            ));
        }
        for raw in entries.map(str::trim).filter(|p| !p.is_empty()) {
            let valid_char = |c: char| c.is_ascii_lowercase() || c == '_' || c == '.';
            let pattern = if raw == "*" {
                TypePattern::Prefix(String::new())
            } else if let Some(prefix) = raw.strip_suffix('*') {
                if !prefix.chars().all(valid_char) {
                    return Err(invalid_pattern(raw));
                }
                TypePattern::Prefix(prefix.to_owned())
            } else if raw.chars().all(valid_char) {
                TypePattern::Exact(raw.to_owned())
            } else {
                return Err(invalid_pattern(raw));
            };
            patterns.push(pattern);
        }
        Ok(Self {
            types: patterns,
            project_id,
            task_id,
            agent_id,
            include_keys: role == Role::Admin,
        })
    }

    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Event) -> bool {
        (self.include_keys || !event.kind.starts_with("key."))
            && (self.types.is_empty() || self.types.iter().any(|p| p.matches(&event.kind)))
            && self
                .project_id
                .is_none_or(|id| event.project_id == Some(id))
            && self.task_id.is_none_or(|id| event.task_id == Some(id))
            && self.agent_id.is_none_or(|id| event.agent_id == Some(id))
    }
}

fn invalid_pattern(raw: &str) -> DomainError {
    DomainError::invalid(
        "types",
        format!("`{raw}` is not a type pattern (e.g. `task.completed`, `task.*`, `*`)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, project: Option<Uuid>) -> Event {
        Event {
            id: 1,
            kind: kind.to_owned(),
            created_at: chrono::Utc::now(),
            project_id: project,
            task_id: None,
            agent_id: None,
            data: serde_json::Value::Null,
        }
    }

    #[test]
    fn patterns_match_exactly_or_by_prefix() {
        let filter =
            EventFilter::parse(Some("task.*, agent.online"), None, None, None, Role::Viewer)
                .unwrap();
        assert!(filter.matches(&event("task.completed", None)));
        assert!(filter.matches(&event("agent.online", None)));
        assert!(!filter.matches(&event("agent.offline", None)));
        assert!(!filter.matches(&event("project.created", None)));
    }

    #[test]
    fn key_events_are_for_admins_only() {
        let viewer = EventFilter::parse(Some("*"), None, None, None, Role::Viewer).unwrap();
        let admin = EventFilter::parse(None, None, None, None, Role::Admin).unwrap();
        assert!(!viewer.matches(&event("key.created", None)));
        assert!(admin.matches(&event("key.created", None)));
    }

    #[test]
    fn ids_must_match_and_bad_patterns_are_refused() {
        let project = Uuid::new_v4();
        let filter = EventFilter::parse(None, Some(project), None, None, Role::Agent).unwrap();
        assert!(filter.matches(&event("task.created", Some(project))));
        assert!(!filter.matches(&event("task.created", None)));
        assert!(EventFilter::parse(Some("task.*.x*y"), None, None, None, Role::Admin).is_err());
        assert!(EventFilter::parse(Some("Task"), None, None, None, Role::Admin).is_err());
    }
}
