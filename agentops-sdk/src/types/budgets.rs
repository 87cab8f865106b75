//! Budgets the server enforces: a token (and optionally cost) limit per day or month for
//! everything, for proactive or reactive work, an agent, a project or a person; and the
//! reservations agents take before a model call.

use super::*;

/// What a budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BudgetTarget {
    /// Every call.
    All,
    /// Calls agents make on their own.
    Proactive,
    /// Calls a person asked for.
    Reactive,
    /// One agent's calls (`subject`: its id).
    Agent,
    /// One project's calls (`subject`: its id).
    Project,
    /// One person's calls (`subject`: as the interface names them, e.g. `@ana`).
    User,
    /// One persona's calls, whoever talks to it (`subject`: the persona's id).
    Persona,
    /// The calls of every persona one owner has (`subject`: the owner as their personas
    /// record them, e.g. `telegram:42`).
    Owner,
}

wire_names!(BudgetTarget, "budget target", {
    All => "all", Proactive => "proactive", Reactive => "reactive", Agent => "agent",
    Project => "project", User => "user", Persona => "persona", Owner => "owner",
});

impl BudgetTarget {
    /// Whether the target needs a `subject` (an agent, a project, a person, a persona,
    /// an owner).
    pub fn needs_subject(self) -> bool {
        !matches!(
            self,
            BudgetTarget::All | BudgetTarget::Proactive | BudgetTarget::Reactive
        )
    }

    /// Whether the `subject` is an id (an agent's, a project's, a persona's).
    pub fn subject_is_id(self) -> bool {
        matches!(
            self,
            BudgetTarget::Agent | BudgetTarget::Project | BudgetTarget::Persona
        )
    }
}

/// How often a budget starts over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// Every day at 00:00 in the budget's time zone.
    Day,
    /// On the first of every month at 00:00 in the budget's time zone.
    Month,
}

wire_names!(BudgetPeriod, "period", { Day => "day", Month => "month" });

/// A new budget (`POST /budgets`, admin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BudgetIn {
    /// A unique name for people (1–100 characters).
    pub name: String,
    /// What it limits.
    pub applies_to: BudgetTarget,
    /// The agent id, project id or person, for those targets; absent for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// How often it starts over.
    pub period: BudgetPeriod,
    /// The IANA time zone its periods start in (`Europe/Paris`); UTC if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Tokens (sent and received) allowed per period (1 to 10^15).
    #[serde(deserialize_with = "whole::required")]
    pub limit_tokens: u64,
    /// Estimated US dollars allowed per period, if limited (priced models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_cost_usd: Option<f64>,
    /// Whether it is enforced (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Changes to a budget (`PATCH /budgets/{id}`, admin): absent fields stay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BudgetPatch {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new token limit.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit_tokens: Option<u64>,
    /// A new cost limit in US dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_cost_usd: Option<f64>,
    /// Enforce it, or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Where a budget stands in its current period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BudgetStanding {
    /// When the current period began.
    pub period_start: DateTime<Utc>,
    /// When it starts over.
    pub resets_at: DateTime<Utc>,
    /// Tokens spent this period.
    pub used_tokens: u64,
    /// Tokens reserved by calls in flight.
    pub reserved_tokens: u64,
    /// Tokens left to reserve (never below 0).
    pub remaining_tokens: u64,
    /// Estimated US dollars spent this period.
    pub used_cost_usd: f64,
}

/// A budget and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BudgetOut {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What it limits.
    pub applies_to: BudgetTarget,
    /// The agent, project or person it limits.
    pub subject: Option<String>,
    /// How often it starts over.
    pub period: BudgetPeriod,
    /// The time zone its periods start in.
    pub time_zone: String,
    /// Tokens allowed per period.
    pub limit_tokens: u64,
    /// US dollars allowed per period, if limited.
    pub limit_cost_usd: Option<f64>,
    /// Whether it is enforced.
    pub enabled: bool,
    /// The current period.
    pub current: BudgetStanding,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A reservation before a model call (`POST /budgets/reservations`): every budget that
/// applies to the call must have room for the estimate, or the answer is `429
/// budget_exhausted` with `Retry-After` (seconds until the blocking budget starts over).
/// Settle it with the real figures ([`UsageIn::reservation_id`]) or release it; one left
/// alone is released when it expires.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReservationIn {
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
    /// The tokens the call may spend, sent and received (1 to 10^9).
    #[serde(deserialize_with = "whole::required")]
    pub tokens: u64,
    /// The model, to reserve against cost limits from its price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How long to hold it, 1–3,600 s (default 600).
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl_seconds: Option<u32>,
}

/// A reservation held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ReservationOut {
    /// Its id: pass it as [`UsageIn::reservation_id`].
    pub id: Uuid,
    /// The tokens held.
    pub tokens: u64,
    /// When it is released if not settled.
    pub expires_at: DateTime<Utc>,
    /// The budgets it holds room in.
    pub budgets: Vec<Uuid>,
}

impl ReservationIn {
    /// A reservation of `tokens` for a call made for `spender`.
    pub fn for_spender(spender: &Spender, tokens: u64) -> Self {
        Self {
            agent_id: spender.agent_id,
            project_id: spender.project_id,
            task_id: spender.task_id,
            thread_id: spender.thread_id,
            user: spender.user.clone(),
            scope: spender.scope,
            tokens,
            ..Self::default()
        }
    }
}
