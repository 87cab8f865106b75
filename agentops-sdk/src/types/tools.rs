//! Tools agents write for themselves: a script (shell or Python) run in a sandbox, with
//! its input schema and its own tests, stored once the tests pass and offered to later
//! tasks once a person (or the `auto` setting) approves it.

use super::*;

/// Where a tool is in its life.
///
/// A new tool waits for review (usable only by the task that made it) unless the server
/// approves tools automatically (`AGENTOPS_TOOL_APPROVAL=auto`). `rejected` and
/// `retired` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Waiting for a person: only the task that made it may use it.
    #[default]
    PendingReview,
    /// Offered to every later task.
    Approved,
    /// A person refused it. Final.
    Rejected,
    /// Taken out of use (it kept failing, or a person retired it). Final.
    Retired,
}

wire_names!(ToolStatus, "tool status", {
    PendingReview => "pending_review",
    Approved => "approved",
    Rejected => "rejected",
    Retired => "retired",
});

impl ToolStatus {
    /// Whether the status can no longer change.
    ///
    /// ```
    /// use agentops_sdk::types::ToolStatus;
    ///
    /// assert!(ToolStatus::Retired.is_final());
    /// assert!(!ToolStatus::PendingReview.is_final());
    /// ```
    pub fn is_final(self) -> bool {
        matches!(self, ToolStatus::Rejected | ToolStatus::Retired)
    }
}

/// What runs a tool's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ToolRuntime {
    /// `/bin/sh`.
    #[default]
    Sh,
    /// `python3`.
    Python,
}

wire_names!(ToolRuntime, "tool runtime", {
    Sh => "sh",
    Python => "python",
});

/// One test of a tool: run it with `input`, and its output must contain `expect` (or,
/// with `exact`, be exactly `expect`, both trimmed); `result` is how it went when the
/// author ran it in its sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolTest {
    /// The tool's arguments for this test (a JSON object).
    pub input: Value,
    /// What the output must contain (1–4,000 characters).
    pub expect: String,
    /// Whether the whole output, trimmed, must equal `expect` (default: contain it).
    #[serde(default)]
    pub exact: bool,
    /// How it went when the author ran it.
    pub result: ToolTestResult,
}

/// How one test went when the author ran it in its sandbox. Only tools whose tests all
/// passed are stored, so `passed` is always `true` here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolTestResult {
    /// Whether the output matched and the script succeeded: must be `true` (a tool is
    /// stored only once every test passes).
    pub passed: bool,
    /// The end of what the script wrote (up to 4,000 characters).
    #[serde(default)]
    pub output: String,
    /// Why it failed, if it did (up to 4,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Request to store a tool. Its tests must have passed: each carries its passed result
/// (the server stores no tool whose tests failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolIn {
    /// The function name models call it by: a lower-case letter, then lower-case
    /// letters, digits and `_` (up to 64). A name already taken gets the next version.
    pub name: String,
    /// What it does and when to use it, for the model (1–1,000 characters).
    pub description: String,
    /// JSON Schema of its arguments (an object schema).
    pub input_schema: Value,
    /// What runs `source` (default `sh`).
    #[serde(default)]
    pub runtime: ToolRuntime,
    /// The script (1–64,000 characters). It gets its arguments as JSON on standard input
    /// and each top-level scalar argument as `$ARG_<NAME>` (upper case); what it writes
    /// to standard output is its answer, and a non-zero exit is a failure.
    pub source: String,
    /// Its tests (1–20), each with how it went.
    pub tests: Vec<ToolTest>,
    /// The task it was made in: its agent is the author, and while the tool waits for
    /// review only that task may use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<Uuid>,
}

/// Why a tool's status changes (approve, reject, retire): the reason, and who decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolReviewIn {
    /// Why (up to 2,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who decided, for people reading it later (e.g. `telegram:@ana`; 1–200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// One use of a tool, reported by the agent that ran it: it went well unless `error`
/// says why it did not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolRunIn {
    /// Why it failed (1–2,000 characters), kept as the tool's `last_error`; absent for a
    /// run that went well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The task it ran for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<Uuid>,
}

/// A tool an agent wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ToolOut {
    /// The tool's id (one per version).
    pub id: Uuid,
    /// Its function name.
    pub name: String,
    /// Its version: 1 for the first tool of its name, then one more for each.
    pub version: i32,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments.
    pub input_schema: Value,
    /// What runs `source`.
    pub runtime: ToolRuntime,
    /// The script.
    pub source: String,
    /// Its tests, with how they went when the author ran them.
    pub tests: Vec<ToolTest>,
    /// Where it is in its life.
    pub status: ToolStatus,
    /// The agent that wrote it (the agent of its task), if known.
    pub author_agent_id: Option<Uuid>,
    /// The task it was made in.
    pub task_id: Option<Uuid>,
    /// That task's project.
    pub project_id: Option<Uuid>,
    /// Runs reported.
    pub usage_count: i64,
    /// Runs reported as failed.
    pub failure_count: i64,
    /// The last failure's reason.
    pub last_error: Option<String>,
    /// When it last ran.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Who approved, rejected or retired it (as they said, else `key:<id>`), and why.
    pub reviewed_by: Option<String>,
    /// Why it was approved, rejected or retired, if said.
    pub review_reason: Option<String>,
    /// When its status last changed after it was made.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}
