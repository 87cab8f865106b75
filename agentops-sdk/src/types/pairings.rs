//! Pairings: the allowlist of chats an interface (the Telegram bot) serves. A chat the
//! bot does not know asks for a one-time code; an operator approves the code; approved
//! chats are the allowlist.

use super::*;

/// Where a chat's pairing stands.
///
/// `expired` is never stored: it is how the API reports a `pending` pairing whose code
/// has run out (`expires_at` passed). A request body may only ask for `pending` or
/// `approved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PairingStatus {
    /// A code was issued and waits for an operator's approval (for an hour).
    #[default]
    Pending,
    /// The chat is allowed.
    Approved,
    /// The chat was allowed and no longer is.
    Revoked,
    /// The code ran out before anyone approved it (reported, never stored).
    Expired,
}

wire_names!(PairingStatus, "pairing status", {
    Pending => "pending",
    Approved => "approved",
    Revoked => "revoked",
    Expired => "expired",
});

impl PairingStatus {
    /// Whether the chat is on the allowlist.
    ///
    /// ```
    /// use agentops_sdk::types::PairingStatus;
    ///
    /// assert!(PairingStatus::Approved.is_allowed());
    /// assert!(!PairingStatus::Pending.is_allowed());
    /// ```
    pub fn is_allowed(self) -> bool {
        self == PairingStatus::Approved
    }
}

/// Request to pair a chat: issue it a code (`pending`, the default) or approve it at
/// once (`approved`).
///
/// A pending request for a chat that is already approved, or that holds a code still
/// valid, changes nothing and answers the pairing as it is (the same code), so a chat
/// that writes many times is given one code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PairingIn {
    /// The interface, such as `telegram` (1–40 of `[a-z0-9_-]`).
    pub channel: String,
    /// The chat's id on that channel, as text (1–100 of `[A-Za-z0-9_@.:-]`).
    pub chat: String,
    /// A label for people, such as `@alice (Alice Smith)` (up to 200 characters). An
    /// empty one keeps the label the chat already has.
    #[serde(default)]
    pub name: String,
    /// `pending` (default): issue a code; `approved`: allow the chat now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PairingStatus>,
}

/// Request to approve the pending pairing that holds a code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PairingApprove {
    /// The code as the chat was told it: case, spaces and dashes do not matter
    /// (`abcd-2345` is `ABCD2345`).
    pub code: String,
    /// Who approves, recorded as `decided_by` (1–200 characters); the approving key's
    /// name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Request to revoke a pairing; the body may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PairingRevoke {
    /// Who revokes, recorded as `decided_by` (1–200 characters); the revoking key's
    /// name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A chat's pairing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PairingOut {
    /// The pairing's id.
    pub id: Uuid,
    /// The interface (`telegram`).
    pub channel: String,
    /// The chat's id on that channel.
    pub chat: String,
    /// A label for people (may be empty).
    pub name: String,
    /// Where it stands (`expired`: a pending code that ran out).
    pub status: PairingStatus,
    /// The one-time code, 8 characters of `A-Z` and `2-9`; only while `pending`, never
    /// in events.
    pub code: Option<String>,
    /// When the pending code runs out (pending and expired only).
    pub expires_at: Option<DateTime<Utc>>,
    /// Who approved or revoked it last: the `by` given, else the key's name.
    pub decided_by: Option<String>,
    /// When the chat first asked.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}
