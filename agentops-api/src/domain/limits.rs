//! The limits of request fields, in one place: validation checks these values, and the
//! OpenAPI document declares them from the same table (`FIELDS`, applied by
//! `apply`), so a client generator or a fuzzer knows what the server accepts.
//!
//! What a schema cannot say (a key's expiry in the future, a cursor not beyond the
//! newest event, a field that only makes sense with another) stays in the validation
//! and is named in the field's description.

use agentops_sdk::limits as sdk;
use serde_json::{Value, json};

/// Text of `min..=max` characters without control characters other than tab, line feed
/// and carriage return; with `min > 0` it must not be blank.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text {
    pub min: usize,
    pub max: usize,
}

/// An identifier: 1..=`max` characters of a set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Name {
    pub max: usize,
    pub chars: Chars,
}

/// The characters a [`Name`] may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chars {
    /// `[a-zA-Z0-9_.:-]`: kinds, agent names.
    Name,
    /// Names plus `/`: labels.
    Label,
    /// `[a-z0-9_-]`: channels.
    Channel,
    /// Names starting with a letter or digit: event cursors (never `.` or `..`).
    Cursor,
    /// `[A-Za-z0-9_@.:-]`: a chat's id on its channel.
    Chat,
    /// `[A-Za-z0-9 -]`: a pairing code as a person types it.
    Code,
    /// `[A-Za-z0-9_-]`: a persona's slug (safe in a Telegram deep link).
    Slug,
    /// `[a-z0-9_]` starting with a lower-case letter: a tool's function name.
    Ident,
}

impl Chars {
    /// Whether `value`, non-empty, is made of these characters.
    pub fn admit(self, value: &str) -> bool {
        let first_ok = match self {
            Chars::Cursor => value.starts_with(|c: char| c.is_ascii_alphanumeric()),
            Chars::Ident => value.starts_with(|c: char| c.is_ascii_lowercase()),
            _ => true,
        };
        first_ok && value.chars().all(|c| self.allows(c))
    }

    /// Whether `c` may appear in such a name (anywhere but, for cursors, first).
    fn allows(self, c: char) -> bool {
        match self {
            Chars::Name | Chars::Cursor => {
                c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
            }
            Chars::Label => c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-' | '/'),
            Chars::Channel => {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')
            }
            Chars::Chat => c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '.' | ':' | '-'),
            Chars::Code => c.is_ascii_alphanumeric() || matches!(c, ' ' | '-'),
            Chars::Slug => c.is_ascii_alphanumeric() || matches!(c, '_' | '-'),
            Chars::Ident => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_',
        }
    }

    /// What the characters are, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Chars::Name => "letters, digits, `_`, `.`, `:` and `-`",
            Chars::Label => "letters, digits, `_`, `.`, `:`, `/` and `-`",
            Chars::Channel => "lower-case letters, digits, `_` and `-`",
            Chars::Cursor => {
                "letters, digits, `_`, `.`, `:` and `-`, starting with a letter or a digit"
            }
            Chars::Chat => "letters, digits, `_`, `@`, `.`, `:` and `-`",
            Chars::Code => "letters, digits, spaces and `-`",
            Chars::Slug => "letters, digits, `_` and `-`",
            Chars::Ident => "lower-case letters, digits and `_`, starting with a letter",
        }
    }

    fn pattern(self, max: usize) -> String {
        match self {
            Chars::Name => format!("^[a-zA-Z0-9_.:-]{{1,{max}}}$"),
            Chars::Label => format!("^[a-zA-Z0-9_.:/-]{{1,{max}}}$"),
            Chars::Channel => format!("^[a-z0-9_-]{{1,{max}}}$"),
            Chars::Cursor => format!("^[a-zA-Z0-9][a-zA-Z0-9_.:-]{{0,{}}}$", max - 1),
            Chars::Chat => format!("^[a-zA-Z0-9_@.:-]{{1,{max}}}$"),
            Chars::Code => format!("^[a-zA-Z0-9 -]{{1,{max}}}$"),
            Chars::Slug => format!("^[a-zA-Z0-9_-]{{1,{max}}}$"),
            Chars::Ident => format!("^[a-z][a-z0-9_]{{0,{}}}$", max - 1),
        }
    }
}

/// An integer within `min..=max`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Int {
    pub min: i64,
    pub max: i64,
}

/// A list of `min..=max` items.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Items {
    pub min: usize,
    pub max: usize,
}

pub(crate) const PROJECT_NAME: Text = Text {
    min: 1,
    max: sdk::PROJECT_NAME,
};
pub(crate) const PROJECT_DESCRIPTION: Text = Text {
    min: 0,
    max: sdk::PROJECT_DESCRIPTION,
};
pub(crate) const TASK_TITLE: Text = Text {
    min: 1,
    max: sdk::TASK_TITLE,
};
pub(crate) const TASK_DESCRIPTION: Text = Text {
    min: 0,
    max: sdk::TASK_DESCRIPTION,
};
/// Why a task was cancelled.
pub(crate) const CANCEL_REASON: Text = Text {
    min: 0,
    max: sdk::CANCEL_REASON,
};
/// A task's failure or the reason it is blocked: never empty.
pub(crate) const TASK_PROBLEM: Text = Text {
    min: 1,
    max: 10_000,
};
/// Short notes: a heartbeat's message, why a task is released or unblocked, why a plan
/// is rejected.
pub(crate) const NOTE: Text = Text {
    min: 0,
    max: sdk::NOTE,
};
pub(crate) const KEY_NAME: Text = Text { min: 1, max: 100 };
pub(crate) const CAPABILITY: Text = Text { min: 1, max: 100 };
pub(crate) const AGENT_VERSION: Text = Text { min: 1, max: 100 };
pub(crate) const EXTERNAL_ID: Text = Text { min: 1, max: 200 };
pub(crate) const THREAD_TITLE: Text = Text { min: 1, max: 200 };
pub(crate) const MESSAGE_TEXT: Text = Text {
    min: 1,
    max: 32_000,
};
pub(crate) const AUTHOR: Text = Text { min: 1, max: 200 };
pub(crate) const PLAN_SUMMARY: Text = Text { min: 1, max: 2_000 };
/// Why an approved plan's run failed.
pub(crate) const OUTCOME_ERROR: Text = Text {
    min: 1,
    max: 10_000,
};

pub(crate) const NOTE_TEXT: Text = Text {
    min: 1,
    max: 20_000,
};
pub(crate) const SCHEDULE_NAME: Text = Text {
    min: 1,
    max: sdk::SCHEDULE_NAME,
};
pub(crate) const BUDGET_NAME: Text = Text { min: 1, max: 100 };
/// The branch a deployment was built from.
pub(crate) const DEPLOYMENT_BRANCH: Text = Text { min: 1, max: 200 };
/// What a deployment reports about itself (replaced whole by each `PATCH`).
pub(crate) const DEPLOYMENT_REPORT: Text = Text {
    min: 0,
    max: 20_000,
};
/// Hexadecimal characters in a deployment's commit: an abbreviated or a full SHA-1.
pub(crate) const GIT_SHA_MIN: usize = 7;
pub(crate) const GIT_SHA_MAX: usize = 40;
/// A pairing's label for people (may be empty).
pub(crate) const PAIRING_NAME: Text = Text {
    min: 0,
    max: sdk::PAIRING_NAME,
};
/// A persona's name.
pub(crate) const PERSONA_NAME: Text = Text { min: 1, max: 100 };
/// What a persona is, for people choosing one.
pub(crate) const PERSONA_DESCRIPTION: Text = Text { min: 0, max: 500 };
/// What a persona is like: its system prompt.
pub(crate) const PERSONA_PROMPT: Text = Text { min: 1, max: 8_000 };
/// A persona's model, as its provider names it.
pub(crate) const PERSONA_MODEL: Text = Text { min: 1, max: 200 };
/// A persona's first message to a new person.
pub(crate) const PERSONA_GREETING: Text = Text { min: 0, max: 1_000 };
/// An owner's provider key (stored sealed).
pub(crate) const PERSONA_PROVIDER_KEY: Text = Text { min: 0, max: 500 };
/// The way back to a person talking to a persona.
pub(crate) const PERSONA_VIA: Text = Text { min: 1, max: 100 };
/// A persona's owner, or who acts (`X-On-Behalf-Of`).
pub(crate) const PERSONA_OWNER: Text = Text { min: 1, max: 200 };
/// What a tool does, for the model.
pub(crate) const TOOL_DESCRIPTION: Text = Text { min: 1, max: 1_000 };
/// A tool's script.
pub(crate) const TOOL_SOURCE: Text = Text {
    min: 1,
    max: 64_000,
};
/// What a tool's test expects, and what a test's run gave.
pub(crate) const TOOL_TEXT: Text = Text { min: 1, max: 4_000 };
/// Why a tool's run failed.
pub(crate) const TOOL_RUN_ERROR: Text = Text { min: 1, max: 2_000 };
/// What a test's run gave (may be empty).
pub(crate) const TOOL_OUTPUT: Text = Text { min: 0, max: 4_000 };
/// A provider's or a model's name in the ledger.
pub(crate) const USAGE_NAME: Text = Text { min: 1, max: 200 };

pub(crate) const KIND: Name = Name {
    max: sdk::KIND,
    chars: Chars::Name,
};
pub(crate) const AGENT_NAME: Name = Name {
    max: 100,
    chars: Chars::Name,
};
pub(crate) const LABEL: Name = Name {
    max: 64,
    chars: Chars::Label,
};
pub(crate) const CHANNEL: Name = Name {
    max: 32,
    chars: Chars::Channel,
};
/// The interface a pairing belongs to (`telegram`).
pub(crate) const PAIRING_CHANNEL: Name = Name {
    max: 40,
    chars: Chars::Channel,
};
/// A chat's id on its channel, as text.
pub(crate) const PAIRING_CHAT: Name = Name {
    max: 100,
    chars: Chars::Chat,
};
/// A persona's slug: its address in links.
pub(crate) const PERSONA_SLUG: Name = Name {
    max: 64,
    chars: Chars::Slug,
};
/// A pairing code as typed: case, spaces and dashes do not matter.
pub(crate) const PAIRING_CODE: Name = Name {
    max: 64,
    chars: Chars::Code,
};
/// A tool's function name.
pub(crate) const TOOL_NAME: Name = Name {
    max: 64,
    chars: Chars::Ident,
};
pub(crate) const NOTE_KEY: Name = Name {
    max: 100,
    chars: Chars::Cursor,
};
pub(crate) const CURSOR_NAME: Name = Name {
    max: 100,
    chars: Chars::Cursor,
};

/// A session's life, in seconds: five minutes to thirty days.
pub(crate) const SESSION_TTL: Int = Int {
    min: 300,
    max: 2_592_000,
};
pub(crate) const PRIORITY: Int = Int {
    min: -1000,
    max: 1000,
};
pub(crate) const MAX_ATTEMPTS: Int = Int { min: 1, max: 100 };
pub(crate) const CLAIM_LIMIT: Int = Int { min: 1, max: 100 };
pub(crate) const LEASE_SECONDS: Int = Int { min: 5, max: 3600 };
pub(crate) const EVENT_ID: Int = Int {
    min: 0,
    max: i64::MAX,
};
pub(crate) const BUDGET_TOKENS: Int = Int {
    min: 1,
    max: 1_000_000_000_000_000,
};
pub(crate) const RESERVE_TOKENS: Int = Int {
    min: 1,
    max: 1_000_000_000,
};
pub(crate) const RESERVATION_TTL: Int = Int { min: 1, max: 3_600 };
/// Tokens of one recorded call.
pub(crate) const CALL_TOKENS: Int = Int {
    min: 0,
    max: 1_000_000_000_000,
};
/// Milliseconds one recorded call took (a day at most).
pub(crate) const LATENCY_MS: Int = Int {
    min: 0,
    max: 86_400_000,
};
pub(crate) const PAGE_LIMIT: Int = Int { min: 1, max: 200 };
pub(crate) const EVENT_PAGE_LIMIT: Int = Int { min: 1, max: 1000 };

pub(crate) const LABELS: Items = Items { min: 0, max: 20 };
pub(crate) const DEPENDS_ON: Items = Items {
    min: 0,
    max: sdk::DEPENDS_ON,
};
pub(crate) const CLAIM_KINDS: Items = Items { min: 0, max: 100 };
pub(crate) const CAPABILITIES: Items = Items { min: 0, max: 100 };
/// A tool's tests (and their results).
pub(crate) const TOOL_TESTS: Items = Items { min: 1, max: 20 };
/// How long a preview is shown, in seconds.
pub(crate) const PREVIEW_TTL: Int = Int {
    min: 5,
    max: 86_400,
};
/// A TCP port.
pub(crate) const PORT: Int = Int {
    min: 1,
    max: 65_535,
};
/// Items of one batched complete or heartbeat.
pub(crate) const BATCH: Items = Items { min: 1, max: 100 };
/// Completions a claim carries (`ClaimIn.complete`): none, or as many as a batch.
pub(crate) const CLAIM_COMPLETIONS: Items = Items {
    min: 0,
    max: BATCH.max,
};

/// A number within `min..=max`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Float {
    pub min: f64,
    pub max: f64,
}

/// A task's reported progress.
pub(crate) const PROGRESS: Float = Float { min: 0.0, max: 1.0 };
/// A persona's sampling temperature.
pub(crate) const TEMPERATURE: Float = Float { min: 0.0, max: 2.0 };
/// Messages one person may send a persona a day.
pub(crate) const DAILY_LIMIT: Int = Int {
    min: 1,
    max: 100_000,
};
/// A budget's limit in US dollars.
pub(crate) const BUDGET_COST: Float = Float {
    min: 0.000_001,
    max: 1_000_000_000.0,
};

/// What a field must be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    Text(Text),
    Name(Name),
    Int(Int),
    Items(Items),
    Float(Float),
    /// A JSON object (free-form inside).
    Object,
    /// Any JSON value (see [`free_form`]).
    Any,
    /// 64 hexadecimal characters.
    Sha256,
    /// A git commit: [`GIT_SHA_MIN`] to [`GIT_SHA_MAX`] hexadecimal characters.
    GitSha,
    /// A Telegram bot token (the bot's id, `:`, 20–200 of `A-Za-z0-9_-`), or empty
    /// (none).
    BotToken,
    /// A page cursor: empty, or a UUID in any form `Uuid::parse_str` reads.
    Cursor,
    /// An artifact's file name (see `artifacts::check_name`).
    FileName,
    /// An `Idempotency-Key`: 1–255 visible ASCII characters.
    IdempotencyKey,
    /// An object with no properties but those its schema lists.
    Closed,
    /// The event filter's `types` (see `events::filter::types_pattern`).
    EventTypes,
    /// An object with exactly one of two fields given (and not `null`).
    ExactlyOne(&'static str, &'static str),
    /// One of these names: a request that takes only some values of a wider wire enum.
    OneOf(&'static [&'static str]),
    /// `true` only.
    IsTrue,
    /// An `http(s)://` base URL ending in `/` (see [`UPSTREAM_PATTERN`]).
    Upstream,
}

/// An `http(s)://` base URL with no query, ending in `/`: a host name (its last label
/// starting with a letter) or an IPv4 address, an optional port, path segments of URL
/// characters.
pub(crate) const UPSTREAM_PATTERN: &str = concat!(
    r"^https?://",
    r"(((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*)",
    r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?",
    r"/([A-Za-z0-9._~!$&'()*+,;=:@-]+/)*$"
);

/// Where each rule applies: `Schema.field` (a body property), `Schema.field[]` (each
/// item of a list), or `METHOD /path?param` (a parameter; `*` for every operation).
pub(crate) const FIELDS: &[(&str, Rule)] = &[
    ("ProjectIn.name", Rule::Text(PROJECT_NAME)),
    ("ProjectIn.description", Rule::Text(PROJECT_DESCRIPTION)),
    ("ProjectIn.metadata", Rule::Object),
    ("ProjectPatch.name", Rule::Text(PROJECT_NAME)),
    ("ProjectPatch.description", Rule::Text(PROJECT_DESCRIPTION)),
    ("ProjectPatch.metadata", Rule::Object),
    ("TaskIn.title", Rule::Text(TASK_TITLE)),
    ("TaskIn.description", Rule::Text(TASK_DESCRIPTION)),
    ("TaskIn.kind", Rule::Name(KIND)),
    ("TaskIn.labels", Rule::Items(LABELS)),
    ("TaskIn.labels[]", Rule::Name(LABEL)),
    ("TaskIn.priority", Rule::Int(PRIORITY)),
    ("TaskIn.input", Rule::Any),
    ("TaskIn.max_attempts", Rule::Int(MAX_ATTEMPTS)),
    ("TaskIn.depends_on", Rule::Items(DEPENDS_ON)),
    ("TaskPatch.title", Rule::Text(TASK_TITLE)),
    ("TaskPatch.description", Rule::Text(TASK_DESCRIPTION)),
    ("TaskPatch.labels", Rule::Items(LABELS)),
    ("TaskPatch.labels[]", Rule::Name(LABEL)),
    ("TaskPatch.priority", Rule::Int(PRIORITY)),
    ("TaskPatch.input", Rule::Any),
    ("TaskPatch.max_attempts", Rule::Int(MAX_ATTEMPTS)),
    ("CancelIn.reason", Rule::Text(CANCEL_REASON)),
    ("ClaimIn.limit", Rule::Int(CLAIM_LIMIT)),
    ("ClaimIn.kinds", Rule::Items(CLAIM_KINDS)),
    ("ClaimIn.kinds[]", Rule::Name(KIND)),
    ("ClaimIn.labels", Rule::Items(LABELS)),
    ("ClaimIn.labels[]", Rule::Name(LABEL)),
    ("ClaimIn.lease_seconds", Rule::Int(LEASE_SECONDS)),
    ("ClaimIn.complete", Rule::Items(CLAIM_COMPLETIONS)),
    ("TaskHeartbeatIn.lease_seconds", Rule::Int(LEASE_SECONDS)),
    ("TaskHeartbeatIn.progress", Rule::Float(PROGRESS)),
    ("TaskHeartbeatIn.message", Rule::Text(NOTE)),
    ("HeartbeatManyIn.items", Rule::Items(BATCH)),
    ("HeartbeatItem.lease_seconds", Rule::Int(LEASE_SECONDS)),
    ("HeartbeatItem.progress", Rule::Float(PROGRESS)),
    ("HeartbeatItem.message", Rule::Text(NOTE)),
    ("CompleteIn.result", Rule::Any),
    ("CompleteManyIn.items", Rule::Items(BATCH)),
    ("CompleteItem.result", Rule::Any),
    ("FailIn.error", Rule::Text(TASK_PROBLEM)),
    ("BlockIn.reason", Rule::Text(TASK_PROBLEM)),
    ("ReleaseIn.reason", Rule::Text(NOTE)),
    ("UnblockIn.note", Rule::Text(NOTE)),
    ("ApiKeyIn.name", Rule::Text(KEY_NAME)),
    ("SessionIn.name", Rule::Text(KEY_NAME)),
    ("SessionIn.ttl_seconds", Rule::Int(SESSION_TTL)),
    ("AgentIn.name", Rule::Name(AGENT_NAME)),
    ("AgentIn.kind", Rule::Name(KIND)),
    ("AgentIn.capabilities", Rule::Items(CAPABILITIES)),
    ("AgentIn.capabilities[]", Rule::Text(CAPABILITY)),
    ("AgentIn.version", Rule::Text(AGENT_VERSION)),
    ("AgentIn.metadata", Rule::Object),
    ("ThreadIn.channel", Rule::Name(CHANNEL)),
    ("ThreadIn.external_id", Rule::Text(EXTERNAL_ID)),
    ("ThreadIn.title", Rule::Text(THREAD_TITLE)),
    ("ThreadIn.metadata", Rule::Object),
    ("ThreadPatch.title", Rule::Text(THREAD_TITLE)),
    ("ThreadPatch.metadata", Rule::Object),
    ("MessageIn.text", Rule::Text(MESSAGE_TEXT)),
    ("MessageIn.author", Rule::Text(AUTHOR)),
    ("MessageIn.metadata", Rule::Object),
    ("ApprovalIn.summary", Rule::Text(PLAN_SUMMARY)),
    ("ApprovalIn.plan", Rule::Object),
    ("ApprovalDecisionIn.reason", Rule::Text(NOTE)),
    ("ApprovalOutcomeIn.result", Rule::Any),
    ("ApprovalOutcomeIn.error", Rule::Text(OUTCOME_ERROR)),
    ("EventCursorIn.last_id", Rule::Int(EVENT_ID)),
    ("UsageIn.user", Rule::Text(AUTHOR)),
    ("UsageIn.provider", Rule::Text(USAGE_NAME)),
    ("UsageIn.model", Rule::Text(USAGE_NAME)),
    ("UsageIn.tokens_in", Rule::Int(CALL_TOKENS)),
    ("UsageIn.tokens_out", Rule::Int(CALL_TOKENS)),
    ("UsageIn.latency_ms", Rule::Int(LATENCY_MS)),
    ("UsageIn.error", Rule::Text(NOTE)),
    ("ReservationIn.user", Rule::Text(AUTHOR)),
    ("ReservationIn.tokens", Rule::Int(RESERVE_TOKENS)),
    ("ReservationIn.model", Rule::Text(USAGE_NAME)),
    ("ReservationIn.ttl_seconds", Rule::Int(RESERVATION_TTL)),
    ("NoteIn.text", Rule::Text(NOTE_TEXT)),
    ("DeploymentIn.git_sha", Rule::GitSha),
    ("DeploymentIn.branch", Rule::Text(DEPLOYMENT_BRANCH)),
    ("DeploymentIn.report", Rule::Text(DEPLOYMENT_REPORT)),
    ("DeploymentIn.metadata", Rule::Object),
    ("DeploymentPatch.report", Rule::Text(DEPLOYMENT_REPORT)),
    ("DeploymentPatch.metadata", Rule::Object),
    ("ToolIn.name", Rule::Name(TOOL_NAME)),
    ("ToolIn.description", Rule::Text(TOOL_DESCRIPTION)),
    ("ToolIn.input_schema", Rule::Object),
    ("ToolIn.source", Rule::Text(TOOL_SOURCE)),
    ("ToolIn.tests", Rule::Items(TOOL_TESTS)),
    ("ToolTest.input", Rule::Object),
    ("ToolTest.expect", Rule::Text(TOOL_TEXT)),
    ("ToolTestResult.passed", Rule::IsTrue),
    ("ToolTestResult.output", Rule::Text(TOOL_OUTPUT)),
    ("ToolTestResult.error", Rule::Text(TOOL_OUTPUT)),
    ("ToolReviewIn.reason", Rule::Text(NOTE)),
    ("ToolReviewIn.by", Rule::Text(AUTHOR)),
    ("ToolRunIn.error", Rule::Text(TOOL_RUN_ERROR)),
    ("GET /api/v1/tools?name", Rule::Name(TOOL_NAME)),
    ("PreviewIn.upstream", Rule::Upstream),
    ("PreviewIn.ttl_seconds", Rule::Int(PREVIEW_TTL)),
    ("PreviewIn.port", Rule::Int(PORT)),
    ("PairingIn.channel", Rule::Name(PAIRING_CHANNEL)),
    ("PairingIn.chat", Rule::Name(PAIRING_CHAT)),
    ("PairingIn.name", Rule::Text(PAIRING_NAME)),
    ("PairingIn.status", Rule::OneOf(&["pending", "approved"])),
    ("PairingApprove.code", Rule::Name(PAIRING_CODE)),
    ("PairingApprove.by", Rule::Text(AUTHOR)),
    ("PairingRevoke.by", Rule::Text(AUTHOR)),
    ("PersonaIn.name", Rule::Text(PERSONA_NAME)),
    ("PersonaIn.slug", Rule::Name(PERSONA_SLUG)),
    ("PersonaIn.description", Rule::Text(PERSONA_DESCRIPTION)),
    ("PersonaIn.system_prompt", Rule::Text(PERSONA_PROMPT)),
    ("PersonaIn.model", Rule::Text(PERSONA_MODEL)),
    ("PersonaIn.temperature", Rule::Float(TEMPERATURE)),
    ("PersonaIn.greeting", Rule::Text(PERSONA_GREETING)),
    ("PersonaIn.daily_limit", Rule::Int(DAILY_LIMIT)),
    (
        "PersonaIn.provider_api_key",
        Rule::Text(PERSONA_PROVIDER_KEY),
    ),
    ("PersonaIn.owner", Rule::Text(PERSONA_OWNER)),
    ("PersonaPatch.name", Rule::Text(PERSONA_NAME)),
    ("PersonaPatch.slug", Rule::Name(PERSONA_SLUG)),
    ("PersonaPatch.description", Rule::Text(PERSONA_DESCRIPTION)),
    ("PersonaPatch.system_prompt", Rule::Text(PERSONA_PROMPT)),
    ("PersonaPatch.model", Rule::Text(PERSONA_MODEL)),
    ("PersonaPatch.temperature", Rule::Float(TEMPERATURE)),
    ("PersonaPatch.greeting", Rule::Text(PERSONA_GREETING)),
    (
        "PersonaPatch.daily_limit",
        Rule::Int(Int {
            min: 0,
            max: DAILY_LIMIT.max,
        }),
    ),
    (
        "PersonaPatch.provider_api_key",
        Rule::Text(PERSONA_PROVIDER_KEY),
    ),
    ("PersonaIn.telegram_bot_token", Rule::BotToken),
    ("PersonaPatch.telegram_bot_token", Rule::BotToken),
    ("GET /api/v1/personas?owner", Rule::Text(PERSONA_OWNER)),
    ("PersonaChatIn.user", Rule::Text(PERSONA_OWNER)),
    ("PersonaChatIn.text", Rule::Text(MESSAGE_TEXT)),
    ("PersonaChatIn.via", Rule::Text(PERSONA_VIA)),
    (
        "POST /api/v1/personas/{persona}/chat?wait",
        Rule::Int(Int { min: 0, max: 120 }),
    ),
    ("GET /api/v1/pairings?channel", Rule::Name(PAIRING_CHANNEL)),
    ("GET /api/v1/pairings?chat", Rule::Name(PAIRING_CHAT)),
    (
        "* /api/v1/projects/{id}/notes/{key}?key",
        Rule::Name(NOTE_KEY),
    ),
    (
        "* /api/v1/projects/{id}/notes/{key}/versions?key",
        Rule::Name(NOTE_KEY),
    ),
    ("ScheduleIn.name", Rule::Text(SCHEDULE_NAME)),
    (
        "ScheduleIn.every_seconds",
        Rule::Int(Int {
            min: 60,
            max: 31_536_000,
        }),
    ),
    ("TaskTemplate.title", Rule::Text(TASK_TITLE)),
    ("TaskTemplate.description", Rule::Text(TASK_DESCRIPTION)),
    ("TaskTemplate.kind", Rule::Name(KIND)),
    (
        "TaskTemplate.labels",
        Rule::Items(Items { min: 0, max: 19 }),
    ),
    ("TaskTemplate.labels[]", Rule::Name(LABEL)),
    ("TaskTemplate.priority", Rule::Int(PRIORITY)),
    ("TaskTemplate.input", Rule::Any),
    ("TaskTemplate.max_attempts", Rule::Int(MAX_ATTEMPTS)),
    ("BudgetIn.name", Rule::Text(BUDGET_NAME)),
    ("BudgetIn.limit_tokens", Rule::Int(BUDGET_TOKENS)),
    ("BudgetIn.limit_cost_usd", Rule::Float(BUDGET_COST)),
    ("BudgetPatch.name", Rule::Text(BUDGET_NAME)),
    ("BudgetPatch.limit_tokens", Rule::Int(BUDGET_TOKENS)),
    ("BudgetPatch.limit_cost_usd", Rule::Float(BUDGET_COST)),
    ("GET /api/v1/usage?user", Rule::Text(AUTHOR)),
    ("GET /api/v1/usage?model", Rule::Text(USAGE_NAME)),
    ("GET /api/v1/usage/summary?user", Rule::Text(AUTHOR)),
    ("GET /api/v1/usage/summary?model", Rule::Text(USAGE_NAME)),
    (
        "* /api/v1/events/cursors/{name}?name",
        Rule::Name(CURSOR_NAME),
    ),
    ("*?limit", Rule::Int(PAGE_LIMIT)),
    ("GET /api/v1/events?limit", Rule::Int(EVENT_PAGE_LIMIT)),
    (
        "GET /api/v1/events/stream?limit",
        Rule::Int(EVENT_PAGE_LIMIT),
    ),
    ("GET /api/v1/events?since", Rule::Int(EVENT_ID)),
    ("GET /api/v1/events/stream?since", Rule::Int(EVENT_ID)),
    ("POST /api/v1/artifacts?sha256", Rule::Sha256),
    ("POST /api/v1/artifacts?name", Rule::FileName),
    ("UploadForm", Rule::Closed),
    ("UploadForm.sha256", Rule::Sha256),
    ("UploadForm.name", Rule::FileName),
    ("ApprovalOutcomeIn", Rule::ExactlyOne("result", "error")),
    ("*?cursor", Rule::Cursor),
    ("GET /api/v1/events?types", Rule::EventTypes),
    ("GET /api/v1/events/stream?types", Rule::EventTypes),
    ("*?Idempotency-Key", Rule::IdempotencyKey),
];

const UUID: &str = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";

/// Control characters other than tab, line feed and carriage return (Unicode `Cc`).
const CONTROL: &str = r"\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F";

/// The largest magnitude a number in free-form JSON may have (see `Checks::json_size`).
pub const JSON_NUMBER_MAX: f64 = 1e300;

/// The JSON Schema of `rule`'s constraints, to merge into a field's schema.
fn constraints(rule: Rule) -> Value {
    match rule {
        Rule::Text(Text { min, max }) => {
            let pattern = if min > 0 {
                format!("^[^{CONTROL}]*[^\\s{CONTROL}][^{CONTROL}]*$")
            } else {
                format!("^[^{CONTROL}]*$")
            };
            json!({"minLength": min, "maxLength": max, "pattern": pattern})
        }
        Rule::Name(Name { max, chars }) => {
            json!({"minLength": 1, "maxLength": max, "pattern": chars.pattern(max)})
        }
        Rule::Int(Int { min, max }) => json!({"minimum": min, "maximum": max}),
        Rule::Items(Items { min, max }) => json!({"minItems": min, "maxItems": max}),
        Rule::Float(Float { min, max }) => json!({"minimum": min, "maximum": max}),
        // A free-form value that must be an object: said as the free-form schema narrowed
        // to objects rather than as an object of free-form values, which says the same but
        // sends schemathesis' negative generation into endless recursion.
        Rule::Object => json!({"type": "object", "$ref": "#/components/schemas/JsonValue"}),
        Rule::Any => free_form(),
        Rule::Sha256 => json!({"pattern": "^[0-9a-fA-F]{64}$"}),
        Rule::GitSha => json!({
            "minLength": GIT_SHA_MIN,
            "maxLength": GIT_SHA_MAX,
            "pattern": format!("^[0-9a-fA-F]{{{GIT_SHA_MIN},{GIT_SHA_MAX}}}$"),
        }),
        Rule::BotToken => json!({
            "maxLength": 219,
            "pattern": "^([0-9]{1,18}:[A-Za-z0-9_-]{20,200})?$",
        }),
        Rule::Cursor => json!({
            "pattern": format!("^(|[0-9a-fA-F]{{32}}|{UUID}|\\{{{UUID}\\}}|urn:uuid:{UUID})$")
        }),
        Rule::FileName => {
            // No control character or path separator, and something besides dots and
            // spaces.
            let not = r"\u0000-\u001F\u007F-\u009F/\\";
            json!({
                "minLength": 1,
                "maxLength": super::artifacts::NAME_MAX,
                "pattern": format!("^[^{not}]*[^.\\s{not}][^{not}]*$"),
            })
        }
        Rule::IdempotencyKey => json!({"pattern": "^[!-~]{1,255}$"}),
        Rule::Closed => json!({"additionalProperties": false}),
        Rule::EventTypes => json!({"pattern": crate::events::filter::types_pattern()}),
        Rule::ExactlyOne(a, b) => {
            let given = |field: &str, other: &str| {
                json!({
                    "required": [field],
                    "properties": {field: {"not": {"type": "null"}}, other: {"type": "null"}},
                })
            };
            json!({"anyOf": [given(a, b), given(b, a)]})
        }
        Rule::OneOf(names) => json!({"type": "string", "enum": names}),
        Rule::IsTrue => json!({"const": true}),
        Rule::Upstream => json!({"minLength": 1, "maxLength": 500, "pattern": UPSTREAM_PATTERN}),
    }
}

/// How deeply free-form JSON (`input`, `result`, `metadata`, `plan`) may nest: arrays
/// and objects inside each other at most this many levels deep.
pub const JSON_DEPTH_MAX: usize = 16;

/// Any JSON value the server can store and give back: numbers within
/// ±[`JSON_NUMBER_MAX`], strings without NUL (which PostgreSQL refuses), at most
/// [`JSON_DEPTH_MAX`] levels deep.
pub(crate) fn free_form() -> Value {
    json!({"$ref": "#/components/schemas/JsonValue"})
}

/// The component [`free_form`] refers to. It refers to itself, for the values inside
/// arrays and objects: one schema with a list of types rather than an `anyOf` of one
/// branch per type, since each keyword applies to its own type only, so this says the
/// same and fuzzers need not try every combination of branches at every level. The
/// depth limit is stated in words: written out level by level, it makes a document
/// fuzzers cannot explore in reasonable time.
fn json_value_schema() -> Value {
    let itself = json!({"$ref": "#/components/schemas/JsonValue"});
    json!({
        "description": format!(
            "Any JSON value, at most {JSON_DEPTH_MAX} levels of arrays and objects deep, \
             with numbers within ±1e300 and no NUL (U+0000) in its strings or keys."
        ),
        "type": ["null", "boolean", "number", "string", "array", "object"],
        "minimum": -JSON_NUMBER_MAX,
        "maximum": JSON_NUMBER_MAX,
        "pattern": "^[^\\u0000]*$",
        "items": itself,
        "propertyNames": {"pattern": "^[^\\u0000]*$"},
        "additionalProperties": itself,
    })
}

/// Merges [`FIELDS`] into `doc` (an OpenAPI document as JSON).
///
/// # Panics
/// If an entry names a schema, property or parameter the document does not have, so
/// that a renamed field cannot silently lose its constraints (a unit test builds the
/// document).
pub(crate) fn apply(doc: &mut Value) {
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert("JsonValue".to_owned(), json_value_schema());
    }
    for (at, rule) in FIELDS {
        let found = match at.split_once('?') {
            Some((operation, param)) => apply_to_parameter(doc, operation, param, *rule),
            None => apply_to_property(doc, at, *rule),
        };
        assert!(found, "limits: {at} is not in the OpenAPI document");
    }
}

fn apply_to_property(doc: &mut Value, at: &str, rule: Rule) -> bool {
    let Some((schema, field)) = at.split_once('.') else {
        // The whole schema.
        let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{at}")) else {
            return false;
        };
        merge(schema, rule, false);
        return true;
    };
    let (field, items) = match field.strip_suffix("[]") {
        Some(field) => (field, true),
        None => (field, false),
    };
    // A field that may be left out is an `Option`, which also reads `null` as absent.
    let optional = !doc
        .pointer(&format!("/components/schemas/{schema}/required"))
        .and_then(Value::as_array)
        .is_some_and(|required| required.iter().any(|r| r == field));
    let pointer = format!("/components/schemas/{schema}/properties/{field}");
    let Some(property) = doc.pointer_mut(&pointer) else {
        return false;
    };
    let target = if items {
        match property.get_mut("items") {
            Some(items) => items,
            None => return false,
        }
    } else {
        property
    };
    merge(target, rule, optional && !items);
    true
}

fn apply_to_parameter(doc: &mut Value, operation: &str, param: &str, rule: Rule) -> bool {
    let (method, path) = operation.split_once(' ').unwrap_or((operation, "*"));
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return false;
    };
    let mut found = false;
    for (p, item) in paths.iter_mut() {
        if path != "*" && p != path {
            continue;
        }
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (m, op) in item.iter_mut() {
            if method != "*" && !m.eq_ignore_ascii_case(method) {
                continue;
            }
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for p in params {
                if p.get("name").and_then(Value::as_str) == Some(param)
                    && let Some(schema) = p.get_mut("schema")
                {
                    merge(schema, rule, false);
                    found = true;
                }
            }
        }
    }
    found
}

/// Adds `rule`'s constraints to `schema`. A nullable field (`type: [T, "null"]`, or
/// `optional`) keeps accepting `null`: string and number keywords do not apply to it.
fn merge(schema: &mut Value, rule: Rule, optional: bool) {
    let constraints = constraints(rule);
    match (rule, schema.as_object_mut()) {
        (Rule::Any | Rule::Object | Rule::OneOf(_), Some(object)) => {
            let nullable = optional
                || object
                    .get("type")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().any(|t| t == "null"));
            let description = object.get("description").cloned();
            let mut replaced = if nullable {
                json!({"anyOf": [{"type": "null"}, constraints]})
            } else {
                constraints
            };
            if let (Some(description), Some(replaced)) = (description, replaced.as_object_mut()) {
                replaced.insert("description".to_owned(), description);
            }
            *schema = replaced;
        }
        (_, Some(object)) => {
            if let Some(constraints) = constraints.as_object() {
                for (key, value) in constraints {
                    object.insert(key.clone(), value.clone());
                }
            }
        }
        (_, None) => {}
    }
}
