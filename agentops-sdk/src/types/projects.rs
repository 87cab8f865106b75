//! Projects: the containers of tasks.

use super::*;

/// Request to create a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectIn {
    /// The project's name (1–200 characters).
    pub name: String,
    /// What the project is about (up to 10,000 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// Free-form JSON object for the caller's own use (up to 64 KiB).
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// A partial update of a project: absent fields are left as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New metadata (replaces the old object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// A project: a named group of tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProjectOut {
    /// The project's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Caller-defined JSON object.
    pub metadata: Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new version of a project's note (`PUT /projects/{id}/notes/{key}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoteIn {
    /// The note (1–20,000 characters).
    pub text: String,
    /// The version this one replaces: if the note has moved on since (someone else wrote
    /// it), the write is refused with `409 stale_version` rather than lost. Absent: write
    /// whatever the newest version is.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_version: Option<u64>,
}

/// One version of a project's note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NoteOut {
    /// The project.
    pub project_id: Uuid,
    /// The note's key (`chief` for the Chief of Staff's).
    pub key: String,
    /// Its version, from 1.
    pub version: u64,
    /// The text.
    pub text: String,
    /// The API key that wrote it.
    pub written_by: Option<Uuid>,
    /// When.
    pub created_at: DateTime<Utc>,
}
