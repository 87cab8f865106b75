//! Threads (conversations), their messages, and approvals.

use super::*;

/// Request to open a conversation thread, or find the one a channel already has.
///
/// With an `external_id`, the pair (`channel`, `external_id`) names one thread for good:
/// a repeat returns the existing thread (200) instead of creating another (201), so an
/// interface can map its own chat ids to threads without keeping state.
///
/// ```
/// use agentops_sdk::types::ThreadIn;
/// let chat = ThreadIn::for_channel("telegram", "123456789");
/// assert_eq!(chat.external_id.as_deref(), Some("123456789"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThreadIn {
    /// Where the conversation happens: `api` (default), `telegram`, `web`, `voice`… (1–32
    /// characters: lower-case letters, digits, `_`, `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The channel's own id for it (a Telegram chat id), up to 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// A title for people (1–200 characters, not blank; surrounding spaces are trimmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Free-form JSON object (up to 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl ThreadIn {
    /// The thread of `external_id` on `channel`.
    pub fn for_channel(channel: impl Into<String>, external_id: impl Into<String>) -> Self {
        Self {
            channel: Some(channel.into()),
            external_id: Some(external_id.into()),
            ..Self::default()
        }
    }
}

/// A conversation thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ThreadOut {
    /// The thread's id.
    pub id: Uuid,
    /// Where the conversation happens.
    pub channel: String,
    /// The channel's own id for it.
    pub external_id: Option<String>,
    /// Its title.
    pub title: Option<String>,
    /// Caller-defined JSON object.
    pub metadata: Value,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed: its last message, or a change of its title or metadata.
    pub updated_at: DateTime<Utc>,
}

/// A change to a thread: absent fields are left as they are.
///
/// `metadata` is applied to the thread's metadata as a JSON Merge Patch (RFC 7396):
/// objects merge key by key at every depth, a key given as `null` is removed (at any
/// depth), any other value (a string, a number, an array) replaces what was there, and
/// keys not given are kept. So two clients may each keep their own settings on one
/// thread (a chat's voice replies, the Chief's policy for messages that arrive while it
/// works), even inside one shared object, without overwriting each other's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThreadPatch {
    /// New title (1–200 characters, not blank; surrounding spaces are trimmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A merge patch for the metadata (a JSON object; `null` removes a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageRole {
    /// A person.
    User,
    /// The agent that answers in the thread.
    Assistant,
    /// The platform or an agent, about the conversation (a plan carried out, an error).
    System,
}

wire_names!(MessageRole, "message role", { User => "user", Assistant => "assistant", System => "system" });

/// Request to add a message to a thread. A `user` message supersedes the thread's
/// pending approval, if any: what the person says next replaces the plan they did not
/// approve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    /// Who wrote it.
    pub role: MessageRole,
    /// The text (1–32,000 characters).
    pub text: String,
    /// The person or agent, as the channel names them (up to 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Free-form JSON object (up to 64 KiB): derived artifacts such as a voice note's
    /// transcript, the approval a reply proposes…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl MessageIn {
    /// A message from a person.
    pub fn user(text: impl Into<String>) -> Self {
        Self {
            role: MessageRole::User,
            text: text.into(),
            author: None,
            metadata: None,
        }
    }

    /// A reply from the agent.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self {
            role: MessageRole::Assistant,
            ..Self::user(text)
        }
    }
}

/// A message of a thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MessageOut {
    /// The message's id (ordered by time of writing).
    pub id: Uuid,
    /// Its thread.
    pub thread_id: Uuid,
    /// Who wrote it.
    pub role: MessageRole,
    /// The person or agent, as the channel names them.
    pub author: Option<String>,
    /// The text.
    pub text: String,
    /// Caller-defined JSON object.
    pub metadata: Value,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// Where an approval is in its life.
///
/// ```text
/// pending ──approve──▶ approved ──finish──▶ executed
///    │                              └─────▶ failed
///    ├──reject──▶ rejected
///    └──a newer approval or user message in the thread──▶ superseded
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for a human.
    Pending,
    /// A human said OK; the proposing agent now carries it out.
    Approved,
    /// A human said no. Final.
    Rejected,
    /// Replaced by a newer proposal or message before anyone decided. Final.
    Superseded,
    /// Carried out. Final.
    Executed,
    /// Carrying it out failed. Final.
    Failed,
}

wire_names!(ApprovalStatus, "approval status", {
    Pending => "pending",
    Approved => "approved",
    Rejected => "rejected",
    Superseded => "superseded",
    Executed => "executed",
    Failed => "failed",
});

/// Request to propose a plan in a thread; it supersedes the thread's pending approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalIn {
    /// One sentence for the human: "Understood: … Will: …" (1–2,000 characters).
    pub summary: String,
    /// What will be done, as the proposing agent will read it back (a JSON object, up to
    /// 256 KiB).
    pub plan: Value,
}

/// A human's decision on an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecisionIn {
    /// Why (up to 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What carrying out an approved plan gave: a result, or an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalOutcomeIn {
    /// What was done (any JSON, up to 256 KiB); the approval becomes `executed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why it could not be done (1–10,000 characters); the approval becomes `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A plan proposed in a thread, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApprovalOut {
    /// The approval's id.
    pub id: Uuid,
    /// The thread it was proposed in.
    pub thread_id: Uuid,
    /// The sentence shown to the human.
    pub summary: String,
    /// What will be (or was) done.
    pub plan: Value,
    /// Where it is in its life.
    pub status: ApprovalStatus,
    /// The decision's reason, or the error of a failed execution.
    pub reason: Option<String>,
    /// What carrying it out gave.
    pub result: Option<Value>,
    /// The key that approved or rejected it.
    pub decided_by: Option<Uuid>,
    /// When it was proposed.
    pub created_at: DateTime<Utc>,
    /// When a human decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}
