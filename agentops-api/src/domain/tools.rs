//! Tools agents write for themselves (the Seed's `create_tool`): a script with its input
//! schema and its tests, stored only with a passed result for every test, one row per
//! version.
//!
//! Self-written code is a supply-chain risk, so a new tool waits for review
//! (`pending_review`: only the task that made it may use it) until an operator approves
//! or rejects it, unless the server approves tools itself (`AGENTOPS_TOOL_APPROVAL=auto`).
//! An approved tool is offered to every later task; one that keeps failing is retired
//! (by its users or a person). `rejected` and `retired` are final; repeating the
//! decision a tool already has is answered with the tool, unchanged, so a retried tap
//! is harmless. Runs are counted one statement each (`usage_count`, `failure_count`,
//! `last_error`).

use uuid::Uuid;

use agentops_sdk::types::{
    ErrorCode, Page, ToolIn, ToolOut, ToolReviewIn, ToolRunIn, ToolRuntime, ToolStatus, ToolTest,
    ToolTestResult,
};

use super::projects::Created;
use super::{Checks, PageRequest, create_once, limits, paginate, request_hash};
use crate::config::ToolApproval;
use crate::domain::{Caller, Context};
use crate::error::DomainError;
use crate::store::tools::ToolFilter;
use crate::store::{self, NewEvent, entity::tool};

/// Bytes of JSON in a tool's input schema, and in one test's input.
const SCHEMA_MAX: usize = 16 * 1024;

impl From<tool::Model> for ToolOut {
    fn from(row: tool::Model) -> Self {
        ToolOut {
            id: row.id,
            name: row.name,
            version: row.version,
            description: row.description,
            input_schema: row.input_schema,
            runtime: row.runtime.parse().unwrap_or(ToolRuntime::Sh),
            source: row.source,
            tests: serde_json::from_value(row.tests).unwrap_or_default(),
            // The table's `CHECK` admits only the wire names.
            status: row.status.parse().unwrap_or(ToolStatus::Retired),
            author_agent_id: row.author_agent_id,
            task_id: row.task_id,
            project_id: row.project_id,
            usage_count: row.usage_count,
            failure_count: row.failure_count,
            last_error: row.last_error,
            last_used_at: row.last_used_at,
            reviewed_by: row.reviewed_by,
            review_reason: row.review_reason,
            reviewed_at: row.reviewed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl super::IdempotentRow for tool::Model {
    fn request_hash(&self) -> Option<&str> {
        self.request_hash.as_deref()
    }
}

fn event(kind: &'static str, tool: &ToolOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: tool.project_id,
        task_id: tool.task_id,
        agent_id: tool.author_agent_id,
        data: serde_json::to_value(tool).unwrap_or_default(),
    }
}

fn check(input: &ToolIn) -> Result<(), DomainError> {
    let mut checks = Checks::default();
    checks.ident("name", &input.name, limits::TOOL_NAME);
    checks.text("description", &input.description, limits::TOOL_DESCRIPTION);
    checks.object("input_schema", &input.input_schema, SCHEMA_MAX);
    if input
        .input_schema
        .get("type")
        .is_some_and(|kind| kind != "object")
    {
        checks.push(
            "input_schema",
            "must describe an object (`\"type\": \"object\"`)",
        );
    }
    checks.text("source", &input.source, limits::TOOL_SOURCE);
    let limits::Items { min, max } = limits::TOOL_TESTS;
    if !(min..=max).contains(&input.tests.len()) {
        checks.push(
            "tests",
            format!(
                "a tool needs {min} to {max} tests (got {})",
                input.tests.len()
            ),
        );
    }
    for (i, test) in input.tests.iter().enumerate() {
        let ToolTest {
            input,
            expect,
            result,
            ..
        } = test;
        let ToolTestResult {
            passed,
            output,
            error,
        } = result;
        checks.object(&format!("tests[{i}].input"), input, SCHEMA_MAX);
        checks.text(&format!("tests[{i}].expect"), expect, limits::TOOL_TEXT);
        checks.text(
            &format!("tests[{i}].result.output"),
            output,
            limits::TOOL_OUTPUT,
        );
        if let Some(error) = error {
            checks.text(
                &format!("tests[{i}].result.error"),
                error,
                limits::TOOL_OUTPUT,
            );
        }
        if !passed {
            checks.push(
                &format!("tests[{i}].result.passed"),
                "a tool is stored only once every test passes: fix it and run its tests again",
            );
        }
    }
    checks.finish()
}

/// Stores a tool as the next version of its name; with an idempotency key, a repeat
/// returns the first one. Its task (if named) gives its author and project.
pub async fn create(
    state: &Context,
    caller: &Caller,
    input: ToolIn,
    idempotency_key: Option<String>,
) -> Result<Created<ToolOut>, DomainError> {
    check(&input)?;
    let hash = request_hash(&input);
    let (db, key_id) = (&state.db, caller.key_id);
    let stored_hash = hash.clone();
    create_once(
        idempotency_key.clone(),
        &hash,
        move |key| async move {
            Ok(store::tools::find_by_idempotency_key(db, key_id, &key).await?)
        },
        |row| async move { Ok(ToolOut::from(row)) },
        || async move {
            let mut tx = state.begin().await?;
            let task = match input.task_id {
                Some(id) => Some(
                    store::tasks::find(tx.conn(), id)
                        .await?
                        .ok_or_else(|| DomainError::not_found(ErrorCode::TaskNotFound, id))?,
                ),
                None => None,
            };
            store::tools::lock_name(tx.conn(), &input.name).await?;
            let version = store::tools::latest_version(tx.conn(), &input.name)
                .await?
                .unwrap_or(0)
                + 1;
            let now = store::now();
            let auto = state.cfg.tool_approval == ToolApproval::Auto;
            let status = if auto {
                ToolStatus::Approved
            } else {
                ToolStatus::PendingReview
            };
            let row = tool::Model {
                id: Uuid::now_v7(),
                name: input.name,
                version,
                description: input.description,
                input_schema: input.input_schema,
                runtime: input.runtime.as_str().to_owned(),
                source: input.source,
                tests: serde_json::to_value(&input.tests).unwrap_or_default(),
                status: status.as_str().to_owned(),
                author_agent_id: task.as_ref().and_then(|t| t.agent_id),
                task_id: task.as_ref().map(|t| t.id),
                project_id: task.as_ref().map(|t| t.project_id),
                usage_count: 0,
                failure_count: 0,
                last_error: None,
                last_used_at: None,
                reviewed_by: auto.then(|| "auto (AGENTOPS_TOOL_APPROVAL=auto)".to_owned()),
                review_reason: None,
                reviewed_at: auto.then_some(now),
                created_by: Some(key_id),
                idempotency_key,
                request_hash: Some(stored_hash),
                created_at: now,
                updated_at: now,
            };
            let out = ToolOut::from(store::tools::insert(tx.conn(), row).await?);
            tx.emit(event("tool.created", &out));
            if auto {
                tx.emit(event("tool.approved", &out));
            }
            state.commit(tx).await?;
            Ok(out)
        },
    )
    .await
}

/// One tool.
pub async fn get(state: &Context, id: Uuid) -> Result<ToolOut, DomainError> {
    store::tools::find(&state.db, id)
        .await?
        .map(ToolOut::from)
        .ok_or_else(|| DomainError::not_found(ErrorCode::ToolNotFound, id))
}

/// Which tools a listing shows (see [`ToolFilter`]).
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// In this status.
    pub status: Option<ToolStatus>,
    /// Of this name.
    pub name: Option<String>,
    /// Made in this task.
    pub task_id: Option<Uuid>,
    /// Those this task may use.
    pub usable_by_task: Option<Uuid>,
}

/// Tools, newest first.
pub async fn list(
    state: &Context,
    filter: ListFilter,
    page: PageRequest,
) -> Result<Page<ToolOut>, DomainError> {
    if let Some(name) = &filter.name {
        let mut checks = Checks::default();
        checks.ident("name", name, limits::TOOL_NAME);
        checks.finish()?;
    }
    let rows = store::tools::list(
        &state.db,
        &ToolFilter {
            status: filter.status.map(ToolStatus::as_str),
            name: filter.name.as_deref(),
            task_id: filter.task_id,
            usable_by_task: filter.usable_by_task,
        },
        page.before,
        page.limit + 1,
    )
    .await?;
    Ok(paginate(
        rows.into_iter().map(ToolOut::from).collect(),
        page.limit,
        |t| t.id,
    ))
}

/// A change of a tool's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    /// `pending_review` → `approved`.
    Approve,
    /// `pending_review` → `rejected`.
    Reject,
    /// `pending_review` or `approved` → `retired`.
    Retire,
}

/// Approves, rejects or retires a tool. The same decision again returns the tool as it
/// is; any other change from a final status, or approving a retired tool, is `409
/// invalid_transition`.
pub async fn review(
    state: &Context,
    caller: &Caller,
    id: Uuid,
    review: Review,
    input: ToolReviewIn,
) -> Result<ToolOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(reason) = &input.reason {
        checks.text("reason", reason, limits::NOTE);
    }
    if let Some(by) = &input.by {
        checks.text("by", by, limits::AUTHOR);
    }
    checks.finish()?;
    let (to, verb, kind) = match review {
        Review::Approve => (ToolStatus::Approved, "approve", "tool.approved"),
        Review::Reject => (ToolStatus::Rejected, "reject", "tool.rejected"),
        Review::Retire => (ToolStatus::Retired, "retire", "tool.retired"),
    };
    let mut tx = state.begin().await?;
    let mut row = store::tools::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ToolNotFound, id))?;
    let from: ToolStatus = row.status.parse().unwrap_or(ToolStatus::Retired);
    if from == to {
        return Ok(ToolOut::from(row));
    }
    let allowed = match review {
        Review::Approve | Review::Reject => from == ToolStatus::PendingReview,
        Review::Retire => !from.is_final(),
    };
    if !allowed {
        return Err(DomainError::refused(
            ErrorCode::InvalidTransition,
            format!("cannot {verb} a tool that is {from}"),
        ));
    }
    let now = store::now();
    row.status = to.as_str().to_owned();
    row.reviewed_by = Some(
        input
            .by
            .map(|by| by.trim().to_owned())
            .unwrap_or_else(|| format!("key:{}", caller.key_id)),
    );
    row.review_reason = input.reason;
    row.reviewed_at = Some(now);
    row.updated_at = now;
    let out = ToolOut::from(store::tools::update(tx.conn(), row).await?);
    tx.emit(event(kind, &out));
    state.commit(tx).await?;
    Ok(out)
}

/// Counts one run of a tool (and on failure keeps why), with a `tool.used` event.
pub async fn record_run(
    state: &Context,
    id: Uuid,
    input: ToolRunIn,
) -> Result<ToolOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(error) = &input.error {
        checks.text("error", error, limits::TOOL_RUN_ERROR);
    }
    checks.finish()?;
    let error = input.error.clone();
    let mut tx = state.begin().await?;
    if !store::tools::record_run(tx.conn(), id, error.clone(), store::now()).await? {
        return Err(DomainError::not_found(ErrorCode::ToolNotFound, id));
    }
    let out = store::tools::find(tx.conn(), id)
        .await?
        .map(ToolOut::from)
        .ok_or_else(|| DomainError::not_found(ErrorCode::ToolNotFound, id))?;
    // The event belongs to the task it ran for (its project, its agent).
    let task = match input.task_id {
        Some(task) => store::tasks::find(tx.conn(), task).await?,
        None => None,
    };
    tx.emit(NewEvent {
        kind: "tool.used",
        project_id: task.as_ref().map(|t| t.project_id),
        task_id: task.as_ref().map(|t| t.id),
        agent_id: task.as_ref().and_then(|t| t.agent_id),
        data: serde_json::json!({
            "id": out.id,
            "name": out.name,
            "version": out.version,
            "ok": error.is_none(),
            "error": error,
            "task_id": input.task_id,
            "usage_count": out.usage_count,
            "failure_count": out.failure_count,
        }),
    });
    state.commit(tx).await?;
    Ok(out)
}
