//! Agents: their registration and status.

use super::*;

/// Whether an agent has sent a heartbeat recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// A heartbeat arrived within the server's agent TTL.
    Online,
    /// No heartbeat within the TTL.
    Offline,
}

/// Registers an agent. Registering a name that exists returns that agent, updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentIn {
    /// Unique name (`[a-zA-Z0-9_.:-]`, 1–100 characters).
    pub name: String,
    /// What sort of agent it is (`seed`, `chief_of_staff`, `custom`…). Default `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Task kinds or skills it offers (at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// Its software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Free-form JSON object (up to 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// An agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentOut {
    /// The agent's id.
    pub id: Uuid,
    /// Its unique name.
    pub name: String,
    /// What sort of agent it is.
    pub kind: String,
    /// What it offers.
    pub capabilities: Vec<String>,
    /// Its software version.
    pub version: Option<String>,
    /// Free-form JSON object.
    pub metadata: Value,
    /// Online if it sent a heartbeat within the server's agent TTL.
    pub status: AgentStatus,
    /// Its last heartbeat.
    pub last_heartbeat_at: DateTime<Utc>,
    /// When it first registered.
    pub created_at: DateTime<Utc>,
}
