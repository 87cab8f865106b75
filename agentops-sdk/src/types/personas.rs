//! Persona agents: agents anyone creates (a name, what they are like, a model), shares
//! by link, and talks to; every person's conversation with a persona is their own.
//!
//! A persona is owned by the person who created it (`owner`, as the interface names
//! them: `telegram:123456789`, `web:ana`, or `key:<id>` for an API key acting for
//! itself). An interface holding an admin key acts for its people with the
//! `X-On-Behalf-Of` header; without it, an admin key acts as the platform's operator,
//! and any other key as itself.

use super::*;

/// Who may find and talk to a persona.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only its owner.
    #[default]
    Private,
    /// Anyone with its link (its id or slug); not listed.
    Link,
    /// Anyone; listed.
    Public,
}

wire_names!(Visibility, "visibility", {
    Private => "private",
    Link => "link",
    Public => "public",
});

/// Whether a persona takes new conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PersonaStatus {
    /// It answers.
    #[default]
    Active,
    /// Its owner deleted it: it takes no new messages; its history is kept for the owner.
    Deleted,
}

wire_names!(PersonaStatus, "persona status", {
    Active => "active",
    Deleted => "deleted",
});

/// Request to create a persona.
///
/// ```
/// use agentops_sdk::types::{PersonaIn, Visibility};
///
/// let pirate = PersonaIn {
///     visibility: Some(Visibility::Link),
///     ..PersonaIn::new("Captain Byte", "You are a cheerful pirate who explains computers.", "llama-3.3-70b-instruct")
/// };
/// assert_eq!(pirate.name, "Captain Byte");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PersonaIn {
    /// Its name (1–100 characters).
    pub name: String,
    /// Its address in links (`https://t.me/<bot>?start=<slug>`): 1–64 of
    /// `A-Za-z0-9_-`, unique whatever the case. Made from the name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// What it is, for people choosing one (up to 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What it is like: the system prompt it answers with (1–8,000 characters).
    pub system_prompt: String,
    /// The model it thinks with (1–200 characters, as the provider names it).
    pub model: String,
    /// Sampling temperature, 0–2 (default 0.7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Its first message to a new person (up to 1,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// Who may find it (default `private`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// Messages one person may send it a day (UTC), 1–100,000; none: no limit.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub daily_limit: Option<u32>,
    /// The owner's own key for the model's provider (up to 500 characters): stored
    /// encrypted, never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_api_key: Option<String>,
    /// A Telegram bot token made with @BotFather (`123456:ABC…`): the persona is then
    /// also that bot, answering anyone who writes to it. Stored encrypted, never shown
    /// again; one bot is one persona.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_bot_token: Option<String>,
    /// Who owns it (1–200 characters). Only an admin key without `X-On-Behalf-Of` may
    /// name an owner; otherwise the owner is who acts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl PersonaIn {
    /// A persona named `name`, like `system_prompt`, thinking with `model`.
    pub fn new(
        name: impl Into<String>,
        system_prompt: impl Into<String>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            system_prompt: system_prompt.into(),
            model: model.into(),
            ..Self::default()
        }
    }
}

/// A change to a persona: absent fields are left as they are. A change of
/// `system_prompt`, `model`, `temperature` or `greeting` makes a new version (the old
/// ones stay readable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PersonaPatch {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New slug (links with the old one stop working).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// New model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// New temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// New greeting; `""` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// New visibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// New daily limit per person; `0` removes the limit.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub daily_limit: Option<u32>,
    /// A new provider key; `""` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_api_key: Option<String>,
    /// A new Telegram bot token for the persona's own bot; `""` removes it (the bot
    /// stops answering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_bot_token: Option<String>,
}

/// A persona.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonaOut {
    /// Its id.
    pub id: Uuid,
    /// Its address in links.
    pub slug: String,
    /// Its name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// Who owns it.
    pub owner: String,
    /// Who may find it.
    pub visibility: Visibility,
    /// Whether it takes new messages.
    pub status: PersonaStatus,
    /// Its current version (1 at creation).
    pub version: u32,
    /// Its system prompt: shown to its owner (and an operator) only.
    pub system_prompt: Option<String>,
    /// The model it thinks with.
    pub model: String,
    /// Its sampling temperature.
    pub temperature: f64,
    /// Its first message to a new person.
    pub greeting: Option<String>,
    /// Messages one person may send it a day (UTC); none: no limit.
    pub daily_limit: Option<u32>,
    /// Whether its owner gave their own provider key (the key is never shown).
    pub has_provider_key: bool,
    /// The id of the Telegram bot it also is (the part of its token before `:`; the
    /// token is never shown), if its owner gave one.
    #[serde(default)]
    pub telegram_bot_id: Option<i64>,
    /// What people said to it today (UTC): in reads (`GET`) by its owner only.
    #[serde(default)]
    pub today: Option<PersonaUsage>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// How much a persona was talked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonaUsage {
    /// Messages people sent it.
    pub messages: u64,
    /// How many people sent them.
    pub people: u64,
}

/// The models people may choose for a persona (`GET /models`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonaModelsOut {
    /// The models, as the LLM provider names them, the platform's first choice first.
    /// Empty: the operator named none, and any model name is taken.
    pub models: Vec<String>,
}

/// One person's conversation with a persona, as its owner sees it
/// (`GET /personas/{persona}/conversations`); its messages are
/// `GET /personas/{persona}/conversations/{thread_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonaConversationOut {
    /// The conversation (a thread of channel `persona`).
    pub thread_id: Uuid,
    /// Who the persona talks with, as the interface names them (`telegram:42`).
    pub person: String,
    /// Messages in it, both ways (the greeting included).
    pub messages: u64,
    /// When it began.
    pub started_at: DateTime<Utc>,
    /// When its last message was written.
    pub last_message_at: Option<DateTime<Utc>>,
}

/// One version of a persona: what it was like from `created_at` on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonaVersionOut {
    /// The persona.
    pub persona_id: Uuid,
    /// The version (1, 2…).
    pub version: u32,
    /// Its system prompt: shown to the owner (and an operator) only.
    pub system_prompt: Option<String>,
    /// Its model.
    pub model: String,
    /// Its temperature.
    pub temperature: f64,
    /// Its greeting.
    pub greeting: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A message to a persona: `POST /personas/{persona}/chat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PersonaChatIn {
    /// Who speaks (1–200 characters, as the interface names them: `telegram:42`). Each
    /// person has their own conversation with a persona. Who acts when absent
    /// (`key:<id>` for a key acting for itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// What they say (1–32,000 characters).
    pub text: String,
    /// The way back to the person (1–100 characters), when an interface has more than
    /// one (`telegram-bot:123` for a persona's own Telegram bot): kept on the message
    /// and on its answer ([`persona_keys::VIA`]), so the answer goes back the way the
    /// message came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// What a persona was told, and its answer if it came in time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonaChatOut {
    /// The person's conversation with the persona (one per person and persona).
    pub thread_id: Uuid,
    /// The person's message, as kept.
    pub message_id: Uuid,
    /// The persona's version that answers it.
    pub persona_version: u32,
    /// The persona's answer, if it came within the wait (else it comes later in the
    /// thread: `GET /threads/{thread_id}/messages`, or the event stream).
    pub reply: Option<MessageOut>,
}

/// A persona's secrets, **sealed** (`GET /personas/{persona}/secrets`, for the
/// platform's own runtimes holding an admin key): each opens only with the platform's
/// master key (`AGENTOPS_SECRET_KEY`, see `agentops_sdk::secrets`) and for this persona
/// and field ([`persona_keys::secret_context`]). No endpoint ever answers them in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PersonaSecretsOut {
    /// The persona.
    pub persona_id: Uuid,
    /// Its owner's provider key, sealed.
    pub provider_api_key: Option<String>,
    /// Its Telegram bot's token, sealed.
    pub telegram_bot_token: Option<String>,
}

/// The thread-message metadata keys of a conversation with a persona: which persona,
/// which of its versions, and who speaks.
pub mod persona_keys {
    /// The persona's id.
    pub const PERSONA: &str = "persona_id";
    /// The persona's version the message was written to (the person's) or by (its
    /// answer).
    pub const VERSION: &str = "persona_version";
    /// Who speaks with it.
    pub const USER: &str = "persona_user";
    /// The thread channel of conversations with personas.
    pub const CHANNEL: &str = "persona";
    /// The way back to the person ([`super::PersonaChatIn::via`]), on their message and
    /// on its answer.
    pub const VIA: &str = "persona_via";

    /// The sealed field of a persona's provider key.
    pub const PROVIDER_API_KEY: &str = "provider_api_key";
    /// The sealed field of a persona's Telegram bot token.
    pub const TELEGRAM_BOT_TOKEN: &str = "telegram_bot_token";

    /// What persona `persona`'s sealed `field` is bound to (the associated data of its
    /// seal): a sealed value copied to another persona or field does not open.
    ///
    /// ```
    /// use agentops_sdk::types::persona_keys::{secret_context, PROVIDER_API_KEY};
    ///
    /// let id = uuid::Uuid::nil();
    /// assert_eq!(
    ///     secret_context(id, PROVIDER_API_KEY),
    ///     "persona:00000000-0000-0000-0000-000000000000:provider_api_key"
    /// );
    /// ```
    pub fn secret_context(persona: uuid::Uuid, field: &str) -> String {
        format!("persona:{persona}:{field}")
    }
}
