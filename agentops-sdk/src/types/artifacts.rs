//! Artifacts: files attached to projects and tasks.

use super::*;

/// A file an agent attached to a task or a project. Its bytes are at `links.content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ArtifactOut {
    /// The artifact's id.
    pub id: Uuid,
    /// The task it belongs to, if any.
    pub task_id: Option<Uuid>,
    /// The project it belongs to (the task's project for a task's artifact).
    pub project_id: Uuid,
    /// Its file name (metadata only: never a path on the server).
    pub name: String,
    /// Its media type, e.g. `text/plain; charset=utf-8`.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, lowercase hex; also the `ETag` of its content.
    pub sha256: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// Where to find it.
    pub links: ArtifactLinks,
}

/// URLs of an artifact, relative to the server's base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ArtifactLinks {
    /// Its metadata: `/api/v1/artifacts/{id}`.
    #[serde(rename = "self")]
    pub self_: String,
    /// Its bytes: `/api/v1/artifacts/{id}/content` (supports `Range`).
    pub content: String,
}
