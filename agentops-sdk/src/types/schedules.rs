//! Schedules: a task template and when to create it.

use super::*;

/// The task a schedule creates each time it fires.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskTemplate {
    /// The task's title (1–500 characters).
    pub title: String,
    /// What to do, for people and agents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which agents may claim it (`seed`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The task's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Labels (at most 19: the schedule adds `schedule:<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Priority (-1000..=1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// Attempts before it is dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i32>,
}

/// What a schedule does about due times that passed while nothing could fire them (the
/// platform was down, or the schedule paused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MissedRuns {
    /// Skip them: the next run is the next due time from now.
    #[default]
    Skip,
    /// Run once for all of them, then go on from now.
    RunOnce,
}

wire_names!(MissedRuns, "missed-runs policy", { Skip => "skip", RunOnce => "run_once" });

/// Whether a schedule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScheduleStatus {
    /// It fires at `next_run_at`.
    Active,
    /// Paused: it does not fire until resumed.
    Paused,
    /// A one-time schedule that has fired.
    Finished,
}

wire_names!(ScheduleStatus, "schedule status", {
    Active => "active", Paused => "paused", Finished => "finished",
});

/// A new schedule (`POST /schedules`, admin): exactly one of `cron`, `every_seconds` and
/// `at`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleIn {
    /// A name for people (1–200 characters).
    pub name: String,
    /// The project its tasks go to.
    pub project_id: Uuid,
    /// The task it creates.
    pub task: TaskTemplate,
    /// A cron expression, five fields (minute hour day month weekday) or six with
    /// seconds first; `@daily` and the like; `MON-FRI`, `L`, `#` as croner reads them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Every this many seconds (60 to 31,536,000), the first one an interval from now.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub every_seconds: Option<u64>,
    /// Once, at this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// The IANA time zone a cron expression is read in (UTC if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// What to do about due times missed while nothing could fire them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed: Option<MissedRuns>,
}

/// A schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ScheduleOut {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// The project its tasks go to.
    pub project_id: Uuid,
    /// The task it creates.
    pub task: TaskTemplate,
    /// Its cron expression, if it has one.
    pub cron: Option<String>,
    /// Its interval in seconds, if it has one.
    pub every_seconds: Option<u64>,
    /// Its one time, if it has one.
    pub at: Option<DateTime<Utc>>,
    /// When it fires, in words (`At 09:00 on Monday through Friday`).
    pub description: String,
    /// The time zone its cron expression is read in.
    pub time_zone: String,
    /// What it does about missed due times.
    pub missed: MissedRuns,
    /// Whether it fires.
    pub status: ScheduleStatus,
    /// When it fires next (none when paused or finished).
    pub next_run_at: Option<DateTime<Utc>>,
    /// When it last fired.
    pub last_run_at: Option<DateTime<Utc>>,
    /// The task it last created.
    pub last_task_id: Option<Uuid>,
    /// How many times it fired.
    pub runs: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}
