//! Previews: a server a task started (in its sandbox), shown to people through the
//! platform at `/preview/<short id>/` for a limited time.

use super::*;

/// Whether a preview can be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PreviewStatus {
    /// Served until `expires_at`.
    #[default]
    Live,
    /// Its time ran out (`410` since).
    Expired,
    /// Its agent stopped it (`410` since).
    Stopped,
}

wire_names!(PreviewStatus, "preview status", {
    Live => "live",
    Expired => "expired",
    Stopped => "stopped",
});

/// Request to show a server a task started: the platform proxies
/// `/preview/<short id>/…` to `upstream` until the preview expires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreviewIn {
    /// The task whose server it is.
    pub task_id: Uuid,
    /// Where the platform forwards requests: an `http://` base URL on a host the server
    /// allows (`AGENTOPS_PREVIEW_UPSTREAMS`; 1–500 characters). `/preview/<short id>/a/b`
    /// goes to `<upstream>a/b`.
    pub upstream: String,
    /// How long it is shown, in seconds (5–86,400; default `AGENTOPS_PREVIEW_TTL_SECS`,
    /// 1,800).
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl_seconds: Option<i64>,
    /// The port the server listens on in its sandbox, for people (1–65,535).
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub port: Option<i32>,
}

/// A preview of a task's server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreviewOut {
    /// The preview's id.
    pub id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// That task's project.
    pub project_id: Uuid,
    /// Its address on the platform: `/preview/<short id>/`.
    pub short_id: String,
    /// The path it is served at (with an API key, or the link's token).
    pub path: String,
    /// The path with a token that opens it without a key until it expires,
    /// `/preview/<short id>/~<token>/` (keep it as you would the preview itself).
    pub link: String,
    /// The port its server listens on in its sandbox, if said.
    pub port: Option<i32>,
    /// Whether it can be opened.
    pub status: PreviewStatus,
    /// When it stops being served.
    pub expires_at: DateTime<Utc>,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When its agent stopped it, if it did.
    pub stopped_at: Option<DateTime<Utc>>,
}
