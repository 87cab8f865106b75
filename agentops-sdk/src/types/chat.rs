//! The Chief of Staff's HTTP API (`POST /chat` on its own port).

use super::*;

/// A message to the Chief of Staff.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    /// What to do if the Chief is still busy with this conversation (deciding on an
    /// earlier message, or carrying out its approved plan); the conversation's own
    /// setting (its thread's `metadata.multitask`) or `enqueue` if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multitask: Option<Multitask>,
}

/// What the Chief of Staff does with a message that arrives while it is still busy with
/// the same conversation, as LangGraph's double-texting strategies do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Multitask {
    /// Handle it once the current work is done, in order (the default).
    #[default]
    Enqueue,
    /// Keep it, and answer at once that it is still working on something else.
    Reject,
    /// Stop the current work at its next safe point (between two model turns, or two
    /// steps of a plan; what was done stays done), then handle the new message.
    Interrupt,
}

impl Multitask {
    /// The policy's name: `enqueue`, `reject` or `interrupt`.
    pub fn as_str(self) -> &'static str {
        match self {
            Multitask::Enqueue => "enqueue",
            Multitask::Reject => "reject",
            Multitask::Interrupt => "interrupt",
        }
    }
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
            multitask: None,
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

/// What the Chief of Staff's `POST /voice` answers: what it heard, then its answer to
/// that as if it had been typed (the fields of [`ChatOut`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceOut {
    /// The words heard.
    pub heard: String,
    /// How long the audio was, when the engine says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The answer.
    #[serde(flatten)]
    pub chat: ChatOut,
}

/// The body of the Chief of Staff's `POST /speech`: text to speak (answered as
/// OGG/Opus).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeechIn {
    /// What to say (1–4,096 characters; a longer text is spoken up to a sentence that
    /// fits).
    pub text: String,
}

/// The thread-message metadata key of a voice note's transcript: `{"text", "model",
/// "seconds"}`.
pub const VOICE_TRANSCRIPT: &str = "voice_transcript";

/// What the Chief of Staff's `POST /image` answers: what the picture shows, then its
/// answer to the picture and its caption (the fields of [`ChatOut`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageOut {
    /// What the picture shows, as a model that sees described it.
    pub seen: String,
    /// The answer.
    #[serde(flatten)]
    pub chat: ChatOut,
}

/// The thread-message metadata key of a picture's description: `{"description",
/// "model", "caption", "content_type", "bytes"}`.
pub const IMAGE_JSON: &str = "image_json";

/// The text of a person's message that is a picture without a caption.
pub const PICTURE_ONLY: &str = "(a picture)";

/// The thread-message metadata key of the Chief's lines on how a plan's tasks are going
/// (its value: the plan's approval id). An interface may deliver such a message quietly
/// and not read it aloud; the Chief leaves them out of the history it thinks with.
pub const PLAN_PROGRESS: &str = "plan_progress";

/// The thread-message metadata key of the Chief's message passing on the question a
/// plan's task blocked on (its value: the plan's approval id; `task_id` names the task).
pub const PLAN_QUESTION: &str = "plan_question";

/// The prefix of the label on every task an approved plan of the Chief created
/// (`plan:<approval id>`): the Chief tells the plan's conversation how they go, so an
/// interface leaves its own notices of them out of that conversation.
pub const PLAN_LABEL: &str = "plan:";

impl TaskOut {
    /// The approval of the Chief's plan that created this task (its [`PLAN_LABEL`]
    /// label), if one did.
    pub fn plan(&self) -> Option<Uuid> {
        self.labels
            .iter()
            .find_map(|l| l.strip_prefix(PLAN_LABEL))
            .and_then(|id| Uuid::parse_str(id).ok())
    }
}
