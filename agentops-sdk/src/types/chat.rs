//! The Chief of Staff's HTTP API (`POST /chat` on its own port).

use super::*;

/// A message to the Chief of Staff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatIn {
    /// The message.
    pub text: String,
    /// An existing thread to continue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<Uuid>,
    /// Or the channel it comes from (`telegram`, `web`, `voice`, default `api`)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// …and the channel's id for the conversation (a Telegram chat id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Derived artifacts to keep with the message (a voice note's `transcript`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl ChatIn {
    /// A message in the conversation `external_id` of `channel`.
    pub fn on(channel: &str, external_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            thread_id: None,
            channel: Some(channel.to_owned()),
            external_id: Some(external_id.into()),
            author: None,
            metadata: None,
        }
    }
}

/// The Chief of Staff's reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatOut {
    /// The conversation.
    pub thread_id: Uuid,
    /// What it says.
    pub reply: String,
    /// The plan waiting for an OK, when the reply proposes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalOut>,
}
