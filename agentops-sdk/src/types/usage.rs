//! The token ledger: one record per model call (chat now; transcription and speech once
//! voice exists), what it cost, and totals grouped for dashboards.

use super::*;

/// Why a call was made: a person asked (`reactive`), or an agent acted on its own
/// (`proactive`: schedules, the Chief of Staff's own rounds). Budgets can cap each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageScope {
    /// A person asked for it.
    #[default]
    Reactive,
    /// An agent acted on its own.
    Proactive,
}

wire_names!(UsageScope, "scope", { Reactive => "reactive", Proactive => "proactive" });

/// What kind of model call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    /// A chat completion.
    #[default]
    Chat,
    /// Speech to text.
    Transcription,
    /// Text to speech.
    Speech,
}

wire_names!(UsageKind, "usage kind", {
    Chat => "chat", Transcription => "transcription", Speech => "speech",
});

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageOutcome {
    /// It answered.
    #[default]
    Ok,
    /// It failed (its tokens, if the provider counted any, still count).
    Error,
}

wire_names!(UsageOutcome, "outcome", { Ok => "ok", Error => "error" });

/// Who and what a call was for: the fields [`UsageIn`] and [`ReservationIn`] share.
/// Every field is optional; the more is given, the finer the ledger can be read and the
/// more budgets can apply.
///
/// The request bodies repeat these fields rather than `#[serde(flatten)]` this struct:
/// serde's `deny_unknown_fields` (which every request body has) does not work with
/// `flatten`, and the OpenAPI schema would turn into an `allOf`. Build them with
/// [`UsageIn::for_spender`] and [`ReservationIn::for_spender`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spender {
    /// The agent that made the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Uuid>,
    /// The project it was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// The task it was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<Uuid>,
    /// The conversation it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<Uuid>,
    /// The person it was for (as the interface names them, e.g. `@ana`; 1–200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Reactive (a person asked; the default) or proactive.
    #[serde(default)]
    pub scope: UsageScope,
}

/// One model call to put in the ledger (`POST /usage`).
///
/// With a `reservation_id` it settles that reservation (see [`ReservationIn`]): the
/// reserved estimate is replaced by these real figures, and sending it again returns the
/// record already made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UsageIn {
    /// The agent that made the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<Uuid>,
    /// The project it was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// The task it was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<Uuid>,
    /// The conversation it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<Uuid>,
    /// The person it was for (as the interface names them, e.g. `@ana`; 1–200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Reactive (a person asked; the default) or proactive.
    #[serde(default)]
    pub scope: UsageScope,
    /// The kind of call (`chat` if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<UsageKind>,
    /// The provider (the API's host, or a name such as `openai`; 1–200 characters).
    pub provider: String,
    /// The model, as the provider named it (1–200 characters).
    pub model: String,
    /// Tokens sent (prompt).
    #[serde(deserialize_with = "whole::required")]
    pub tokens_in: u64,
    /// Tokens received (completion).
    #[serde(deserialize_with = "whole::required")]
    pub tokens_out: u64,
    /// How long the call took, in milliseconds.
    #[serde(default, deserialize_with = "whole::required")]
    pub latency_ms: u64,
    /// How it ended.
    #[serde(default)]
    pub outcome: UsageOutcome,
    /// Why it failed, for `error` (at most 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The reservation this call settles, if one was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<Uuid>,
}

/// One recorded model call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsageOut {
    /// Its id (time-ordered).
    pub id: Uuid,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The agent that made the call.
    pub agent_id: Option<Uuid>,
    /// The project it was for.
    pub project_id: Option<Uuid>,
    /// The task it was for.
    pub task_id: Option<Uuid>,
    /// The conversation it answered.
    pub thread_id: Option<Uuid>,
    /// The person it was for.
    pub user: Option<String>,
    /// Reactive or proactive.
    pub scope: UsageScope,
    /// The kind of call.
    pub kind: UsageKind,
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Tokens sent.
    pub tokens_in: u64,
    /// Tokens received.
    pub tokens_out: u64,
    /// Estimated cost in US dollars from the server's price table
    /// (`AGENTOPS_PRICES`); absent when the model has no price there.
    pub cost_usd: Option<f64>,
    /// How long the call took, in milliseconds.
    pub latency_ms: u64,
    /// How it ended.
    pub outcome: UsageOutcome,
    /// Why it failed.
    pub error: Option<String>,
    /// The reservation it settled.
    pub reservation_id: Option<Uuid>,
}

/// What usage totals are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UsageGroupBy {
    /// Per agent (its id; `none` for calls made without one).
    Agent,
    /// Per project.
    Project,
    /// Per model.
    Model,
    /// Reactive and proactive.
    Scope,
    /// Per person.
    User,
    /// Per calendar day (UTC), `YYYY-MM-DD`.
    Day,
}

wire_names!(UsageGroupBy, "grouping", {
    Agent => "agent", Project => "project", Model => "model", Scope => "scope",
    User => "user", Day => "day",
});

/// Totals over a set of calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsageTotals {
    /// How many calls.
    pub calls: u64,
    /// How many of them failed.
    pub errors: u64,
    /// Tokens sent.
    pub tokens_in: u64,
    /// Tokens received.
    pub tokens_out: u64,
    /// Estimated cost in US dollars of the calls whose model has a price.
    pub cost_usd: f64,
}

impl UsageTotals {
    /// Tokens sent and received.
    pub fn tokens(&self) -> u64 {
        self.tokens_in + self.tokens_out
    }
}

/// The totals of one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsageGroup {
    /// The group's key: an agent or project id, a model, a scope, a person, a day; `none`
    /// for calls that carry no such value.
    pub key: String,
    /// Its totals.
    #[serde(flatten)]
    pub totals: UsageTotals,
}

/// `GET /usage/summary`: totals per group, biggest spender first (by day: oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct UsageSummary {
    /// What the groups are.
    pub group_by: UsageGroupBy,
    /// The groups.
    pub groups: Vec<UsageGroup>,
    /// Totals over every group.
    pub total: UsageTotals,
}

impl UsageIn {
    /// A record of a call made for `spender`, with its figures still to fill in.
    pub fn for_spender(spender: &Spender) -> Self {
        Self {
            agent_id: spender.agent_id,
            project_id: spender.project_id,
            task_id: spender.task_id,
            thread_id: spender.thread_id,
            user: spender.user.clone(),
            scope: spender.scope,
            ..Self::default()
        }
    }
}
