//! Tasks: what is created, claimed, leased, completed, failed, blocked, and the batches of the agent protocol.

use super::*;

/// Where a task is in its life.
///
/// ```text
/// waiting ──(dependencies completed)──▶ queued ──claim──▶ running ──▶ completed
///                                        ▲  ▲                │  │
///                              unblock ──┘  └─ retry / lease ┘  ├──▶ blocked ──unblock──▶ queued
///                                              expiry           └──▶ failed
/// any non-final status ──cancel──▶ cancelled
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for the tasks it depends on to complete.
    Waiting,
    /// Ready to be claimed (from `not_before` on, if set).
    Queued,
    /// Claimed by an agent that holds a lease on it.
    Running,
    /// Stopped by its agent because it needs a human; `unblock` puts it back in the queue.
    Blocked,
    /// Finished successfully. Final.
    Completed,
    /// Finished unsuccessfully, with no attempt left. Final.
    Failed,
    /// Cancelled by a person or because a dependency did not complete. Final.
    Cancelled,
}

wire_names!(TaskStatus, "task status", {
    Waiting => "waiting",
    Queued => "queued",
    Running => "running",
    Blocked => "blocked",
    Completed => "completed",
    Failed => "failed",
    Cancelled => "cancelled",
});

impl TaskStatus {
    /// Whether the task can never change again.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled
        )
    }
}

/// Request to create a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskIn {
    /// The project the task belongs to.
    pub project_id: Uuid,
    /// A one-line summary (1–500 characters).
    pub title: String,
    /// The full instructions (up to 100,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What sort of work this is, used to route it to agents that can do it
    /// (`[a-z0-9_.:-]`, 1–100 characters). Default `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Tags (at most 20, each `[a-zA-Z0-9_.:/-]`, 1–64 characters). Claims may require labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Higher runs first (−1000 to 1000). Default 0.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub priority: Option<i32>,
    /// The task's input, any JSON value (up to 1 MiB serialised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Tasks that must complete before this one can be claimed (at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<Uuid>>,
    /// How many times the task may run before it fails for good (1–100). Default 3.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_attempts: Option<i32>,
}

/// A partial update of a task: absent fields are left as they are.
///
/// Only tasks that are not running and not final can be patched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    /// New title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New priority.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub priority: Option<i32>,
    /// New labels (replace the old ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// New input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// New attempt limit (not below the attempts already used).
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_attempts: Option<i32>,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TaskOut {
    /// The task's id.
    pub id: Uuid,
    /// Its project.
    pub project_id: Uuid,
    /// One-line summary.
    pub title: String,
    /// Full instructions.
    pub description: Option<String>,
    /// What sort of work it is.
    pub kind: String,
    /// Tags.
    pub labels: Vec<String>,
    /// Higher runs first.
    pub priority: i32,
    /// The task's input.
    pub input: Value,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// Tasks that must complete first.
    pub depends_on: Vec<Uuid>,
    /// Attempts that ended without success (failure or lost lease).
    pub attempts: i32,
    /// How many attempts it may use before failing for good.
    pub max_attempts: i32,
    /// The agent that holds it (while running) or last held it.
    pub agent_id: Option<Uuid>,
    /// When the current lease ends, while running.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// It will not be claimed before this time (retry back-off).
    pub not_before: Option<DateTime<Utc>>,
    /// Progress reported by the agent, from 0.0 to 1.0.
    pub progress: Option<f64>,
    /// The agent's last progress message.
    pub progress_message: Option<String>,
    /// What the agent returned on completion.
    pub result: Option<Value>,
    /// Why the last attempt failed, or why the task failed or was cancelled.
    pub error: Option<String>,
    /// Why it is blocked (what the agent needs from a human).
    pub block_reason: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was last claimed.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Request to claim runnable tasks. Fields may be added: fill what you leave out with
/// `..Default::default()`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimIn {
    /// The registered agent that will run the tasks.
    pub agent_id: Uuid,
    /// Only tasks of these kinds (any kind if absent or empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<String>>,
    /// Only tasks that carry all of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Only tasks of this project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<Uuid>,
    /// How many tasks at most (1–100). Default 1.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub limit: Option<u32>,
    /// How long the lease lasts without a heartbeat (5–3600 s). Default 60.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_seconds: Option<u32>,
    /// Tasks this agent finished, completed in the same request (and transaction) before
    /// the claim, each judged as `POST /tasks/{id}/complete` would judge it (0–100, each
    /// of a different task). A worker that finishes a task and asks for the next saves a
    /// round trip; each item's outcome is in [`ClaimOut::completed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<Vec<CompleteItem>>,
}

/// A task handed to an agent, with the token that proves it holds the lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ClaimedTask {
    /// The task, now `running`.
    #[serde(flatten)]
    pub task: TaskOut,
    /// Send this with heartbeat, complete, fail and block. A newer claim makes it stale.
    pub claim_token: Uuid,
}

/// The tasks handed out by one claim: empty when none is runnable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ClaimOut {
    /// The claimed tasks, highest priority first, then oldest first.
    pub tasks: Vec<ClaimedTask>,
    /// The outcome of each of the request's `complete` items, in their order (absent when
    /// it had none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub completed: Vec<BatchItemOut>,
}

/// Extends a task's lease and optionally reports progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskHeartbeatIn {
    /// The token from the claim.
    pub claim_token: Uuid,
    /// New lease length from now (5–3600 s); the claim's length if absent.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_seconds: Option<u32>,
    /// Progress from 0.0 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// A short progress message (up to 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Completes a running task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteIn {
    /// The token from the claim.
    pub claim_token: Uuid,
    /// What the task produced, any JSON value (up to 1 MiB serialised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// Completes many running tasks in one request: one transaction, one answer per item.
///
/// Each item is judged on its own, exactly as `POST /tasks/{id}/complete` would judge it:
/// a stale claim token fails only its own item. The items that succeed are committed
/// together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteManyIn {
    /// 1–100 completions, each of a different task.
    pub items: Vec<CompleteItem>,
}

/// One completion of a [`CompleteManyIn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CompleteItem {
    /// The task.
    pub id: Uuid,
    /// The token from the claim.
    pub claim_token: Uuid,
    /// What the task produced, any JSON value (up to 1 MiB serialised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// Extends the leases of many running tasks in one request: one transaction, one answer
/// per item, each judged as `POST /tasks/{id}/heartbeat` would judge it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeartbeatManyIn {
    /// 1–100 heartbeats, each of a different task.
    pub items: Vec<HeartbeatItem>,
}

/// One heartbeat of a [`HeartbeatManyIn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HeartbeatItem {
    /// The task.
    pub id: Uuid,
    /// The token from the claim.
    pub claim_token: Uuid,
    /// New lease length from now (5–3600 s); the claim's length if absent.
    #[serde(
        default,
        deserialize_with = "whole::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease_seconds: Option<u32>,
    /// Progress from 0.0 to 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// A short progress message (up to 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer to a batch: one outcome per item, in the order of the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BatchOut {
    /// The outcomes.
    pub items: Vec<BatchItemOut>,
}

/// The outcome of one item of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BatchItemOut {
    /// The task the item was about.
    pub id: Uuid,
    /// The HTTP status the item would have had as a request of its own: 200, or its
    /// error's (404, 409, 422).
    pub status: u16,
    /// The task after the change (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskOut>,
    /// Why the item was refused (on failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// Reports that an attempt failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FailIn {
    /// The token from the claim.
    pub claim_token: Uuid,
    /// What went wrong (1–10,000 characters).
    pub error: String,
    /// Whether another attempt may succeed. Default `true`: the task is retried after a
    /// back-off while attempts remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

/// Stops a running task because it needs a human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BlockIn {
    /// The token from the claim.
    pub claim_token: Uuid,
    /// What the agent needs (1–10,000 characters).
    pub reason: String,
}

/// Hands a running task back to the queue without using up an attempt (an agent that
/// is shutting down, or that cannot take the task after all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReleaseIn {
    /// The token from the claim.
    pub claim_token: Uuid,
    /// Why, kept in the task's `progress_message` (up to 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The newest position of the event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EventLogHead {
    /// The highest event id committed so far (0 for an empty log): a `since` that starts
    /// a reader at "now". It never goes back, even once retention has deleted every
    /// event.
    pub last_id: i64,
    /// Events up to this id may have been deleted by retention (0: none ever was). A
    /// reader refused with `cursor_expired` that can live with the gap resumes from here
    /// to get every event still kept, rather than from `last_id`.
    #[serde(default)]
    pub pruned_through: i64,
}

/// Request to save a named event cursor: the id of the last event its consumer has
/// handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventCursorIn {
    /// The id of the last event handled (0 to the log's newest id). A cursor only moves
    /// forward: a lower id than the one saved leaves it where it is.
    #[serde(deserialize_with = "whole::required")]
    pub last_id: i64,
}

/// Where a named consumer of the event stream got to, so that it resumes there after a
/// restart (`since` = `last_id`) instead of skipping what happened while it was down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EventCursor {
    /// Its name (`[a-zA-Z0-9_.:-]`, 1–100 characters, starting with a letter or digit),
    /// e.g. `telegram`.
    pub name: String,
    /// The id of the last event its consumer handled.
    pub last_id: i64,
    /// The API key that saved it last.
    pub updated_by: Option<Uuid>,
    /// When it was first saved.
    pub created_at: DateTime<Utc>,
    /// When it was saved last (even if `last_id` did not move).
    pub updated_at: DateTime<Utc>,
}

/// Puts a blocked task back in the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UnblockIn {
    /// The human's answer, passed on to the next attempt as `progress_message`
    /// (cleared without one, so the next attempt never reads older progress text as
    /// the answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Cancels a task that has not finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CancelIn {
    /// Why, kept in the task's `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How many tasks are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StatusCounts {
    /// Waiting on dependencies.
    pub waiting: u64,
    /// Ready to be claimed.
    pub queued: u64,
    /// Held by an agent.
    pub running: u64,
    /// Waiting on a person.
    pub blocked: u64,
    /// Done.
    pub completed: u64,
    /// Failed for good.
    pub failed: u64,
    /// Cancelled.
    pub cancelled: u64,
}

impl StatusCounts {
    /// The count of one status.
    pub fn get(&self, status: TaskStatus) -> u64 {
        match status {
            TaskStatus::Waiting => self.waiting,
            TaskStatus::Queued => self.queued,
            TaskStatus::Running => self.running,
            TaskStatus::Blocked => self.blocked,
            TaskStatus::Completed => self.completed,
            TaskStatus::Failed => self.failed,
            TaskStatus::Cancelled => self.cancelled,
        }
    }

    /// Adds `n` to one status.
    pub fn add(&mut self, status: TaskStatus, n: u64) {
        let slot = match status {
            TaskStatus::Waiting => &mut self.waiting,
            TaskStatus::Queued => &mut self.queued,
            TaskStatus::Running => &mut self.running,
            TaskStatus::Blocked => &mut self.blocked,
            TaskStatus::Completed => &mut self.completed,
            TaskStatus::Failed => &mut self.failed,
            TaskStatus::Cancelled => &mut self.cancelled,
        };
        *slot += n;
    }

    /// Every task counted.
    pub fn total(&self) -> u64 {
        self.waiting
            + self.queued
            + self.running
            + self.blocked
            + self.completed
            + self.failed
            + self.cancelled
    }

    /// The tasks that reached a final status (completed, failed or cancelled).
    pub fn finished(&self) -> u64 {
        self.completed + self.failed + self.cancelled
    }
}

/// One project's task counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProjectCounts {
    /// The project.
    pub project_id: Uuid,
    /// Its tasks per status.
    pub by_status: StatusCounts,
}

/// Tasks that finished in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct MinuteCount {
    /// The minute's start (UTC).
    pub minute: DateTime<Utc>,
    /// Tasks completed in it.
    pub completed: u64,
    /// Tasks that failed for good in it.
    pub failed: u64,
}

/// Where the work stands: `GET /tasks/summary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TaskSummary {
    /// Every task (of the project, if one was asked for) per status.
    pub by_status: StatusCounts,
    /// The same per project, projects without tasks left out.
    pub by_project: Vec<ProjectCounts>,
    /// Tasks finished in each of the last 60 minutes, oldest first (every minute
    /// present, zeros included); the last is the current minute.
    pub finished_per_minute: Vec<MinuteCount>,
}
