//! Wire types of the AgentOps HTTP API, defined once and shared by the server and the client.
//!
//! The server (`agentops-api`) serialises exactly these types and the client deserialises
//! them, so any disagreement between the two is a compile error rather than a runtime
//! surprise. Request bodies are `*In` (creation) or `*Patch` (partial update) and reject
//! unknown fields; responses are `*Out`. Times are RFC 3339 in UTC; ids are UUIDs.
//!
//! This module has no I/O and is always compiled, even without the `client` feature.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use crate::error_code::{ErrorCode, UnknownErrorCode};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Gives a fieldless wire enum, from one table of its variants and their names on the wire
/// (the `snake_case` names serde uses): `ALL`, `as_str`, `Display` and `FromStr`.
macro_rules! wire_names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: [$ty; [$($name),+].len()] = [$($ty::$variant),+];

            /// The name on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        format!(concat!("unknown ", $what, " `{}` (expected one of: {})"), s, names.join(", "))
                    })
            }
        }
    };
}

/// The body of every error response: `{"error": {"code": "…", "message": "…"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

impl ErrorBody {
    /// The body of an error answer with `code` (whose [`ErrorCode::status`] is the
    /// answer's status) and no field details.
    ///
    /// ```
    /// use agentops_sdk::types::{ErrorBody, ErrorCode};
    ///
    /// let body = ErrorBody::new(ErrorCode::ThreadNotFound, "no thread 7");
    /// assert_eq!(body.error.code, "thread_not_found");
    /// assert_eq!(body.error.error_code().map(|code| code.status()), Some(404));
    /// ```
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.as_str().to_owned(),
                message: message.into(),
                details: Vec::new(),
            },
        }
    }
}

/// The detail of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `task_not_found` or `validation_failed`
    /// (one of [`ErrorCode`], kept as sent so that a newer server's codes survive).
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
    /// Per-field problems, for validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

impl ErrorDetail {
    /// The code as an [`ErrorCode`], or `None` for one this SDK does not know.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code.parse().ok()
    }
}

/// One invalid field in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct FieldError {
    /// The field's name, dotted for nested fields (`labels.2`).
    pub field: String,
    /// Why the value was refused.
    pub message: String,
}

/// One page of a cursor-paginated listing.
///
/// Pass `next_cursor` back as `?cursor=` to get the following page; it is `None` on the
/// last page. Cursors are opaque: do not build or parse them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Page<T> {
    /// The items of this page, newest first.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

// ---------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including key management.
    Admin,
    /// Register itself, claim and run tasks, and read.
    Agent,
    /// Read only.
    Viewer,
}

wire_names!(Role, "role", { Admin => "admin", Agent => "agent", Viewer => "viewer" });

/// Request to create an API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    /// A label for people (1–100 characters), e.g. `seed-worker-1`.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// When the key stops working; never if absent.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// An API key as listed: never contains the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyOut {
    /// The key's id.
    pub id: Uuid,
    /// Its label.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The first characters of the secret, to recognise it (`aok_3f9c…`).
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A newly created API key: the only response that ever contains the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKeyCreated {
    /// The key's metadata.
    #[serde(flatten)]
    pub key: ApiKeyOut,
    /// The secret to send as `Authorization: Bearer <secret>`. Shown once; store it now.
    pub secret: String,
}

// ---------------------------------------------------------------------------------------
// Projects
// ---------------------------------------------------------------------------------------

/// Request to create a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectIn {
    /// The project's name (1–200 characters).
    pub name: String,
    /// What the project is about (up to 10,000 characters).
    #[serde(default)]
    pub description: Option<String>,
    /// Free-form JSON object for the caller's own use (up to 64 KiB).
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// A partial update of a project: absent fields are left as they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New metadata (replaces the old object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// A project: a named group of tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProjectOut {
    /// The project's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// Caller-defined JSON object.
    pub metadata: Value,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------

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

/// Request to claim runnable tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ClaimOut {
    /// The claimed tasks, highest priority first, then oldest first.
    pub tasks: Vec<ClaimedTask>,
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

// ---------------------------------------------------------------------------------------
// Agents
// ---------------------------------------------------------------------------------------

/// Whether an agent has sent a heartbeat recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// A heartbeat arrived within the server's agent TTL.
    Online,
    /// No heartbeat within the TTL.
    Offline,
}

/// Registers an agent. Registering a name that exists returns that agent, updated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentIn {
    /// Unique name (`[a-zA-Z0-9_.:-]`, 1–100 characters).
    pub name: String,
    /// What sort of agent it is (`seed`, `chief_of_staff`, `custom`…). Default `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Task kinds or skills it offers (at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
    /// Its software version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Free-form JSON object (up to 64 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// An agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AgentOut {
    /// The agent's id.
    pub id: Uuid,
    /// Its unique name.
    pub name: String,
    /// What sort of agent it is.
    pub kind: String,
    /// What it offers.
    pub capabilities: Vec<String>,
    /// Its software version.
    pub version: Option<String>,
    /// Free-form JSON object.
    pub metadata: Value,
    /// Online if it sent a heartbeat within the server's agent TTL.
    pub status: AgentStatus,
    /// Its last heartbeat.
    pub last_heartbeat_at: DateTime<Utc>,
    /// When it first registered.
    pub created_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------------

/// A change that happened on the platform, as stored in the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Event {
    /// Position in the log: strictly increasing in commit order.
    pub id: i64,
    /// What happened, `entity.verb` (e.g. `task.completed`).
    #[serde(rename = "type")]
    pub kind: String,
    /// When the change was made: taken in its transaction, just before the commit.
    pub created_at: DateTime<Utc>,
    /// The project it concerns, if any.
    pub project_id: Option<Uuid>,
    /// The task it concerns, if any.
    pub task_id: Option<Uuid>,
    /// The agent it concerns, if any.
    pub agent_id: Option<Uuid>,
    /// The entity after the change.
    pub data: Value,
}

/// Which events a reader wants, for `GET /api/v1/events` and the WebSocket
/// `/api/v1/events/stream`. Empty fields match everything.
///
/// ```
/// use agentops_sdk::types::EventFilter;
/// let filter = EventFilter::new().types(["task.*", "agent.online"]).since(1200);
/// assert_eq!(filter.types, ["task.*", "agent.online"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    /// Type patterns, any of which may match: `task.completed` exactly, `task.*` by
    /// prefix, `*` for all. All types if empty.
    pub types: Vec<String>,
    /// Only events about this project.
    pub project_id: Option<Uuid>,
    /// Only events about this task.
    pub task_id: Option<Uuid>,
    /// Only events about this agent.
    pub agent_id: Option<Uuid>,
    /// Only events after this id (a resume point). For a subscription without it, only
    /// events committed after the subscription started.
    pub since: Option<i64>,
}

impl EventFilter {
    /// A filter that matches every event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events whose type matches one of `patterns` (`task.*`, `agent.online`...).
    #[must_use]
    pub fn types<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.types = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Only events about this project.
    #[must_use]
    pub fn project(mut self, project_id: Uuid) -> Self {
        self.project_id = Some(project_id);
        self
    }

    /// Only events about this task.
    #[must_use]
    pub fn task(mut self, task_id: Uuid) -> Self {
        self.task_id = Some(task_id);
        self
    }

    /// Only events about this agent.
    #[must_use]
    pub fn agent(mut self, agent_id: Uuid) -> Self {
        self.agent_id = Some(agent_id);
        self
    }

    /// Only events with an id above `id`.
    #[must_use]
    pub fn since(mut self, id: i64) -> Self {
        self.since = Some(id);
        self
    }

    /// Whether `event` passes the filter (`since` included), by the server's rules.
    ///
    /// ```
    /// # use agentops_sdk::types::{Event, EventFilter};
    /// # fn check(event: &Event) -> bool {
    /// EventFilter::new().types(["task.*"]).matches(event)
    /// # }
    /// ```
    pub fn matches(&self, event: &Event) -> bool {
        let type_ok = self.types.is_empty()
            || self
                .types
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => event.kind.starts_with(prefix),
                    None => event.kind == *pattern,
                });
        type_ok
            && self.since.is_none_or(|since| event.id > since)
            && self
                .project_id
                .is_none_or(|id| event.project_id == Some(id))
            && self.task_id.is_none_or(|id| event.task_id == Some(id))
            && self.agent_id.is_none_or(|id| event.agent_id == Some(id))
    }

    /// The filter as query parameters (`types=task.*,agent.online&project_id=...`).
    pub fn query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if !self.types.is_empty() {
            pairs.push(("types", self.types.join(",")));
        }
        if let Some(id) = self.project_id {
            pairs.push(("project_id", id.to_string()));
        }
        if let Some(id) = self.task_id {
            pairs.push(("task_id", id.to_string()));
        }
        if let Some(id) = self.agent_id {
            pairs.push(("agent_id", id.to_string()));
        }
        if let Some(since) = self.since {
            pairs.push(("since", since.to_string()));
        }
        pairs
    }
}

// ---------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------

/// Answer of `/health` and `/ready`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct HealthOut {
    /// `ok`, `degraded` or `unavailable`.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// Per-dependency state (`database`, later `fanout`, `storage`): `ok` or an error.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub checks: std::collections::BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------
// Artifacts
// ---------------------------------------------------------------------------------------

/// A file an agent attached to a task or a project. Its bytes are at `links.content`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ArtifactOut {
    /// The artifact's id.
    pub id: Uuid,
    /// The task it belongs to, if any.
    pub task_id: Option<Uuid>,
    /// The project it belongs to (the task's project for a task's artifact).
    pub project_id: Uuid,
    /// Its file name (metadata only: never a path on the server).
    pub name: String,
    /// Its media type, e.g. `text/plain; charset=utf-8`.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, lowercase hex; also the `ETag` of its content.
    pub sha256: String,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// Where to find it.
    pub links: ArtifactLinks,
}

/// URLs of an artifact, relative to the server's base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ArtifactLinks {
    /// Its metadata: `/api/v1/artifacts/{id}`.
    #[serde(rename = "self")]
    pub self_: String,
    /// Its bytes: `/api/v1/artifacts/{id}/content` (supports `Range`).
    pub content: String,
}

// ---------------------------------------------------------------------------------------
// Threads (conversations) and approvals
// ---------------------------------------------------------------------------------------

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
    /// A title for people (up to 200 characters).
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
    /// When its last message was added.
    pub updated_at: DateTime<Utc>,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str`, `FromStr` and serde agree on every wire name.
    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display + std::str::FromStr,
        T: Serialize + serde::de::DeserializeOwned,
    {
        for &value in all {
            let name = value.to_string();
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                Value::String(name.clone())
            );
            assert_eq!(name.parse::<T>().ok(), Some(value));
        }
    }

    #[test]
    fn wire_names_match_serde() {
        round_trips(&Role::ALL);
        round_trips(&TaskStatus::ALL);
        round_trips(&MessageRole::ALL);
        round_trips(&ApprovalStatus::ALL);
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let err = "owner".parse::<Role>().unwrap_err();
        assert_eq!(
            err,
            "unknown role `owner` (expected one of: admin, agent, viewer)"
        );
        assert!("Queued".parse::<TaskStatus>().is_err());
    }
}

/// Integer request fields read the way JSON Schema's `integer` is defined: any number
/// with no fractional part, so `80.0` (as some JSON encoders write whole floats) is 80.
/// A fraction or a value out of the field's range is still refused.
mod whole {
    use serde::de::{Deserializer, Error, Unexpected, Visitor};

    struct Whole;

    impl Visitor<'_> for Whole {
        type Value = i128;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer")
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<i128, E> {
            Ok(i128::from(v))
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<i128, E> {
            Ok(i128::from(v))
        }

        fn visit_f64<E: Error>(self, v: f64) -> Result<i128, E> {
            // Beyond ±2^63 no f64 is a value any field here can hold anyway.
            if v.fract() == 0.0 && v.abs() < 9.3e18 {
                Ok(v as i128)
            } else {
                Err(E::invalid_type(Unexpected::Float(v), &self))
            }
        }
    }

    /// A whole number.
    pub fn required<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
        let v = d.deserialize_any(Whole)?;
        T::try_from(v).map_err(|_| {
            D::Error::invalid_value(
                Unexpected::Other(&format!("integer `{v}`")),
                &"an integer in the field's range",
            )
        })
    }

    /// An optional whole number (`null` or absent is `None`).
    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i128>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        struct Maybe<T>(std::marker::PhantomData<T>);
        impl<'de, T: TryFrom<i128>> Visitor<'de> for Maybe<T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer or null")
            }
            fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
                required(d).map(Some)
            }
        }
        d.deserialize_option(Maybe(std::marker::PhantomData))
    }

    #[cfg(test)]
    mod tests {
        #[derive(serde::Deserialize, Debug)]
        struct Probe {
            #[serde(default, deserialize_with = "super::optional")]
            limit: Option<u32>,
            #[serde(deserialize_with = "super::required")]
            id: i64,
        }

        fn probe(json: &str) -> Result<Probe, serde_json::Error> {
            serde_json::from_str(json)
        }

        #[test]
        fn whole_floats_read_as_integers_and_fractions_do_not() {
            let p = probe(r#"{"limit": 80.0, "id": -3}"#).unwrap();
            assert_eq!((p.limit, p.id), (Some(80), -3));
            assert_eq!(probe(r#"{"limit": null, "id": 1e3}"#).unwrap().limit, None);
            assert_eq!(probe(r#"{"id": 7}"#).unwrap().limit, None);
            assert!(probe(r#"{"limit": 1.5, "id": 1}"#).is_err());
            assert!(probe(r#"{"limit": -1, "id": 1}"#).is_err());
            assert!(probe(r#"{"limit": 4294967296, "id": 1}"#).is_err());
            assert!(probe(r#"{"limit": "3", "id": 1}"#).is_err());
            assert!(probe(r#"{"id": 1e30}"#).is_err());
        }
    }
}

// --- The Chief of Staff's HTTP API (`POST /chat` on its own port) ---

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
