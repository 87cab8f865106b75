//! API keys: roles, and the keys people and agents present.

use super::*;

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including key management.
    Admin,
    /// Register itself, claim and run tasks, and read.
    Agent,
    /// Read only.
    Viewer,
}

wire_names!(Role, "role", { Admin => "admin", Agent => "agent", Viewer => "viewer" });

/// Request to create an API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    /// A label for people (1–100 characters), e.g. `seed-worker-1`.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// When the key stops working; never if absent.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key as listed: never contains the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyOut {
    /// The key's id.
    pub id: Uuid,
    /// Its label.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The first characters of the secret, to recognise it (`aok_3f9c…`).
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// For a session (`POST /sessions`): the key it was made from, which it dies with.
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

/// Request to start a session: a short-lived key with the caller's role, made from the
/// caller's key and revoked with it (the dashboard's login). Every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SessionIn {
    /// A label for people (1–100 characters), e.g. `dashboard (Firefox)`; `session of
    /// <key name>` if absent.
    #[serde(default)]
    pub name: Option<String>,
    /// How long the session lasts, in seconds (300–2,592,000; 12 hours if absent). Never
    /// beyond the expiry of the key it is made from.
    #[serde(default, deserialize_with = "whole::optional")]
    pub ttl_seconds: Option<u32>,
}

/// A newly created API key: the only response that ever contains the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyCreated {
    /// The key's metadata.
    #[serde(flatten)]
    pub key: ApiKeyOut,
    /// The secret to send as `Authorization: Bearer <secret>`. Shown once; store it now.
    pub secret: String,
}
