//! Tasks: creation with dependencies and idempotency, the status machine, leased claims,
//! fencing by claim token, retries with back-off and the lease reaper.
//!
//! `attempts` counts attempts that ended without success (a failure report or an expired
//! lease). While `attempts < max_attempts` such an ending puts the task back in the queue
//! after a back-off (`not_before`); the attempt that reaches `max_attempts` fails the task
//! for good (`task.dead`). Blocking and unblocking do not use up attempts.
//!
//! The claim token is cleared whenever a task stops running for any reason other than
//! completing, so every later call with the old token is refused as stale (409). It is
//! kept on completion so a retried `complete` (same token) is answered with the
//! completed task instead of an error.

use std::collections::{HashMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use agentops_sdk::types::{
    BatchItemOut, BatchOut, BlockIn, CancelIn, ClaimIn, ClaimOut, ClaimedTask, CompleteIn,
    CompleteManyIn, ErrorCode, FailIn, HeartbeatItem, HeartbeatManyIn, Page, ReleaseIn,
    TaskHeartbeatIn, TaskIn, TaskOut, TaskPatch, TaskStatus, UnblockIn,
};

use super::projects::Created;
use super::task_status::{TaskAction, not_allowed, transition};
use super::{Checks, create_once, limits, paginate, request_hash};
use crate::coalesce::{Coalescer, Keyed};
use crate::domain::Caller;
use crate::domain::Context;
use crate::domain::PageRequest;
use crate::error::DomainError;
use crate::store::{
    self, NewEvent, Tx,
    tasks::{Completion, Model},
};

/// The filters of a listing (defined with the query that applies them).
pub use crate::store::tasks::ListFilter;

pub(crate) const INPUT_MAX: usize = 1024 * 1024;
const DEFAULT_MAX_ATTEMPTS: i32 = 3;
const DEFAULT_LEASE_SECONDS: u32 = 60;

fn status_of(row: &Model) -> TaskStatus {
    row.status.into()
}

/// The wire form of a task row, given its dependencies.
pub fn to_out(row: Model, depends_on: Vec<Uuid>) -> Result<TaskOut, DomainError> {
    let status = status_of(&row);
    Ok(TaskOut {
        id: row.id,
        project_id: row.project_id,
        title: row.title,
        description: row.description,
        kind: row.kind,
        labels: serde_json::from_value(row.labels).unwrap_or_default(),
        priority: row.priority,
        input: row.input,
        status,
        depends_on,
        attempts: row.attempts,
        max_attempts: row.max_attempts,
        agent_id: row.agent_id,
        lease_expires_at: row.lease_expires_at,
        not_before: row.not_before,
        progress: row.progress,
        progress_message: row.progress_message,
        result: row.result,
        error: row.error,
        block_reason: row.block_reason,
        created_at: row.created_at,
        updated_at: row.updated_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
    })
}

/// Wire forms of several rows, fetching their dependencies in one query.
async fn to_outs<C: sea_orm::ConnectionTrait>(
    conn: &C,
    rows: Vec<Model>,
) -> Result<Vec<TaskOut>, DomainError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut deps = store::tasks::dependencies_of(conn, &ids).await?;
    rows.into_iter()
        .map(|row| {
            let depends_on = deps.remove(&row.id).unwrap_or_default();
            to_out(row, depends_on)
        })
        .collect()
}

async fn to_out_one<C: sea_orm::ConnectionTrait>(
    conn: &C,
    row: Model,
) -> Result<TaskOut, DomainError> {
    Ok(to_outs(conn, vec![row]).await?.remove(0))
}

fn task_event(kind: &'static str, task: &TaskOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: Some(task.project_id),
        task_id: Some(task.id),
        agent_id: task.agent_id,
        data: serde_json::to_value(task).unwrap_or_default(),
    }
}

/// Saves `row` and records `kind` for it; returns the wire form.
async fn save(tx: &mut Tx, row: Model, kind: &'static str) -> Result<TaskOut, DomainError> {
    let row = store::tasks::update(tx.conn(), row).await?;
    let out = to_out_one(tx.conn(), row).await?;
    tx.emit(task_event(kind, &out));
    Ok(out)
}

fn normalise_labels(labels: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    labels
        .iter()
        .filter(|label| seen.insert(label.as_str()))
        .cloned()
        .collect()
}

pub(crate) fn check_labels(checks: &mut Checks, labels: &[String]) {
    checks.count("labels", labels.len(), limits::LABELS);
    for (i, label) in labels.iter().enumerate() {
        checks.ident(&format!("labels.{i}"), label, limits::LABEL);
    }
}

/// Creates a task; with an idempotency key, a repeat returns the first task.
pub async fn create(
    state: &Context,
    caller: &Caller,
    input: TaskIn,
    idempotency_key: Option<String>,
) -> Result<Created<TaskOut>, DomainError> {
    let mut checks = Checks::default();
    checks.text("title", &input.title, limits::TASK_TITLE);
    if let Some(description) = &input.description {
        checks.text("description", description, limits::TASK_DESCRIPTION);
    }
    if let Some(kind) = &input.kind {
        checks.ident("kind", kind, limits::KIND);
    }
    if let Some(labels) = &input.labels {
        check_labels(&mut checks, labels);
    }
    if let Some(priority) = input.priority {
        checks.range("priority", i64::from(priority), limits::PRIORITY);
    }
    if let Some(value) = &input.input {
        checks.json_size("input", value, INPUT_MAX);
    }
    if let Some(max_attempts) = input.max_attempts {
        checks.range(
            "max_attempts",
            i64::from(max_attempts),
            limits::MAX_ATTEMPTS,
        );
    }
    let depends_on: Vec<Uuid> = {
        let mut seen = HashSet::new();
        let deps = input.depends_on.clone().unwrap_or_default();
        checks.count("depends_on", deps.len(), limits::DEPENDS_ON);
        let mut deps: Vec<Uuid> = deps.into_iter().filter(|id| seen.insert(*id)).collect();
        deps.sort();
        deps
    };
    checks.finish()?;

    let hash = request_hash(&input);
    let (db, key_id) = (&state.db, caller.key_id);
    create_once(
        idempotency_key.clone(),
        &hash,
        move |key| async move { Ok(store::tasks::find_by_idempotency_key(db, key_id, &key).await?) },
        move |row| to_out_one(db, row),
        || insert_task(state, caller, &input, &depends_on, idempotency_key, hash.clone()),
    )
    .await
}

impl super::IdempotentRow for Model {
    fn request_hash(&self) -> Option<&str> {
        self.request_hash.as_deref()
    }
}

async fn insert_task(
    state: &Context,
    caller: &Caller,
    input: &TaskIn,
    depends_on: &[Uuid],
    idempotency_key: Option<String>,
    hash: String,
) -> Result<TaskOut, DomainError> {
    let mut tx = state.begin().await?;
    if store::projects::find(tx.conn(), input.project_id)
        .await?
        .is_none()
    {
        return Err(DomainError::not_found(
            ErrorCode::ProjectNotFound,
            input.project_id,
        ));
    }
    // Lock the upstream tasks (shared) so none of them finishes between our look at its
    // status and our commit: its completion then sees this task among its dependents.
    let upstream = store::tasks::find_many_for_share(tx.conn(), depends_on).await?;
    let statuses: HashMap<Uuid, TaskStatus> = upstream
        .iter()
        .map(|row| Ok((row.id, status_of(row))))
        .collect::<Result<_, DomainError>>()?;
    let mut checks = Checks::default();
    let mut all_completed = true;
    for (i, id) in depends_on.iter().enumerate() {
        match statuses.get(id) {
            None => checks.push(
                &format!("depends_on.{i}"),
                format!("task {id} does not exist"),
            ),
            Some(status @ (TaskStatus::Failed | TaskStatus::Cancelled)) => checks.push(
                &format!("depends_on.{i}"),
                format!("task {id} is {status}, so this task could never run"),
            ),
            Some(TaskStatus::Completed) => {}
            Some(_) => all_completed = false,
        }
    }
    checks.finish()?;

    let now = store::now();
    let labels = normalise_labels(input.labels.as_deref().unwrap_or_default());
    let row = Model {
        id: Uuid::now_v7(),
        project_id: input.project_id,
        title: input.title.trim().to_owned(),
        description: input.description.clone(),
        kind: input.kind.clone().unwrap_or_else(|| "default".to_owned()),
        labels: serde_json::json!(labels),
        priority: input.priority.unwrap_or(0),
        input: input.input.clone().unwrap_or(serde_json::Value::Null),
        status: if all_completed {
            TaskStatus::Queued
        } else {
            TaskStatus::Waiting
        }
        .into(),
        attempts: 0,
        max_attempts: input.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
        agent_id: None,
        claim_token: None,
        claim_key: None,
        lease_seconds: None,
        lease_expires_at: None,
        not_before: None,
        progress: None,
        progress_message: None,
        result: None,
        error: None,
        block_reason: None,
        created_by: Some(caller.key_id),
        idempotency_key,
        request_hash: Some(hash),
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    };
    let row = store::tasks::insert(tx.conn(), row, &labels, depends_on).await?;
    let out = to_out(row, depends_on.to_vec())?;
    tx.emit(task_event("task.created", &out));
    state.commit(tx).await?;
    Ok(out)
}

/// One task.
pub async fn get(state: &Context, id: Uuid) -> Result<TaskOut, DomainError> {
    let row = store::tasks::find(&state.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::TaskNotFound, id))?;
    to_out_one(&state.db, row).await
}

/// Tasks matching `filter`, newest first.
pub async fn list(
    state: &Context,
    filter: &store::tasks::ListFilter,
    page: PageRequest,
) -> Result<Page<TaskOut>, DomainError> {
    let rows = store::tasks::list(&state.db, filter, page.before, page.limit + 1).await?;
    let items = to_outs(&state.db, rows).await?;
    Ok(paginate(items, page.limit, |t| t.id))
}

async fn load_for_update(tx: &Tx, id: Uuid) -> Result<Model, DomainError> {
    store::tasks::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::TaskNotFound, id))
}

/// Changes the fields of a task that is not running and not finished.
pub async fn update(state: &Context, id: Uuid, patch: TaskPatch) -> Result<TaskOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(title) = &patch.title {
        checks.text("title", title, limits::TASK_TITLE);
    }
    if let Some(description) = &patch.description {
        checks.text("description", description, limits::TASK_DESCRIPTION);
    }
    if let Some(priority) = patch.priority {
        checks.range("priority", i64::from(priority), limits::PRIORITY);
    }
    if let Some(labels) = &patch.labels {
        check_labels(&mut checks, labels);
    }
    if let Some(value) = &patch.input {
        checks.json_size("input", value, INPUT_MAX);
    }
    if let Some(max_attempts) = patch.max_attempts {
        checks.range(
            "max_attempts",
            i64::from(max_attempts),
            limits::MAX_ATTEMPTS,
        );
    }
    checks.finish()?;

    let mut tx = state.begin().await?;
    let mut row = load_for_update(&tx, id).await?;
    transition(status_of(&row), TaskAction::Change)?;
    if let Some(max_attempts) = patch.max_attempts
        && max_attempts <= row.attempts
    {
        return Err(DomainError::invalid(
            "max_attempts",
            format!("must be above the {} attempts already used", row.attempts),
        ));
    }
    if let Some(title) = patch.title {
        row.title = title.trim().to_owned();
    }
    if let Some(description) = patch.description {
        row.description = Some(description);
    }
    if let Some(priority) = patch.priority {
        row.priority = priority;
    }
    if let Some(labels) = patch.labels {
        let labels = normalise_labels(&labels);
        store::tasks::replace_labels(tx.conn(), id, &labels).await?;
        row.labels = serde_json::json!(labels);
    }
    if let Some(input) = patch.input {
        row.input = input;
    }
    if let Some(max_attempts) = patch.max_attempts {
        row.max_attempts = max_attempts;
    }
    row.updated_at = store::now();
    let out = save(&mut tx, row, "task.updated").await?;
    state.commit(tx).await?;
    Ok(out)
}

/// Cancels a task that has not finished (a running one too: its agent's next call is
/// refused), and every task waiting on it.
pub async fn cancel(state: &Context, id: Uuid, input: CancelIn) -> Result<TaskOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(reason) = &input.reason {
        checks.text("reason", reason, limits::CANCEL_REASON);
    }
    checks.finish()?;
    let mut tx = state.begin().await?;
    let mut row = load_for_update(&tx, id).await?;
    row.status = transition(status_of(&row), TaskAction::Cancel)?.into();
    let now = store::now();
    row.error = Some(input.reason.unwrap_or_else(|| "cancelled".to_owned()));
    end_lease(&mut row);
    row.finished_at = Some(now);
    row.updated_at = now;
    let out = save(&mut tx, row, "task.cancelled").await?;
    cancel_dependents(&mut tx, id, TaskStatus::Cancelled).await?;
    state.commit(tx).await?;
    Ok(out)
}

fn end_lease(row: &mut Model) {
    row.claim_token = None;
    row.lease_expires_at = None;
}

fn lease_seconds(value: Option<u32>, default: u32) -> Result<u32, DomainError> {
    let seconds = value.unwrap_or(default);
    let mut checks = Checks::default();
    checks.range("lease_seconds", i64::from(seconds), limits::LEASE_SECONDS);
    checks.finish().map(|()| seconds)
}

mod writes;
pub use writes::{TaskWrites, claim, complete, complete_many};

/// Loads a task for an agent's call and checks that `token` is its current claim.
async fn load_claimed(
    tx: &Tx,
    id: Uuid,
    token: Uuid,
    action: &str,
) -> Result<(Model, TaskStatus), DomainError> {
    let row = load_for_update(tx, id).await?;
    let status = status_of(&row);
    check_claim(&row, token, status, action)?;
    Ok((row, status))
}

/// Refuses `token` unless it is the task's current claim.
fn check_claim(
    row: &Model,
    token: Uuid,
    status: TaskStatus,
    action: &str,
) -> Result<(), DomainError> {
    if row.claim_token != Some(token) {
        return Err(DomainError::refused(
            ErrorCode::StaleClaim,
            format!(
                "cannot {action}: this claim token is not the task's current claim \
                 (the task is {status}; its lease may have expired or it was cancelled)"
            ),
        ));
    }
    Ok(())
}

/// Extends a running task's lease and records progress.
pub async fn heartbeat(
    state: &Context,
    id: Uuid,
    input: TaskHeartbeatIn,
) -> Result<TaskOut, DomainError> {
    let mut checks = Checks::default();
    check_heartbeat(
        &mut checks,
        "",
        input.lease_seconds,
        input.progress,
        input.message.as_deref(),
    );
    checks.finish()?;
    let mut tx = state.begin().await?;
    let out = heartbeat_in(&mut tx, id, input).await?;
    state.commit(tx).await?;
    Ok(out)
}

fn check_heartbeat(
    checks: &mut Checks,
    prefix: &str,
    lease_seconds: Option<u32>,
    progress: Option<f64>,
    message: Option<&str>,
) {
    if let Some(seconds) = lease_seconds {
        checks.range(
            &format!("{prefix}lease_seconds"),
            i64::from(seconds),
            limits::LEASE_SECONDS,
        );
    }
    let limits::Float { min, max } = limits::PROGRESS;
    if let Some(progress) = progress
        && !(min..=max).contains(&progress)
    {
        checks.push(
            &format!("{prefix}progress"),
            format!("must be between {min:.1} and {max:.1}"),
        );
    }
    if let Some(message) = message {
        checks.text(&format!("{prefix}message"), message, limits::NOTE);
    }
}

/// [`heartbeat`] inside `tx`, its input already checked.
async fn heartbeat_in(
    tx: &mut Tx,
    id: Uuid,
    input: TaskHeartbeatIn,
) -> Result<TaskOut, DomainError> {
    let (mut row, status) = load_claimed(tx, id, input.claim_token, "heartbeat").await?;
    transition(status, TaskAction::Heartbeat)?;
    let seconds = lease_seconds(
        input.lease_seconds,
        row.lease_seconds
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(DEFAULT_LEASE_SECONDS),
    )?;
    let now = store::now();
    row.lease_expires_at = Some(now + chrono::Duration::seconds(i64::from(seconds)));
    row.lease_seconds = Some(seconds as i32);
    let reported = input.progress.is_some() || input.message.is_some();
    if let Some(progress) = input.progress {
        row.progress = Some(progress);
    }
    if let Some(message) = input.message {
        row.progress_message = Some(message);
    }
    row.updated_at = now;
    if reported {
        save(tx, row, "task.progress").await
    } else {
        // A bare lease extension is not worth an event.
        to_out_one(tx.conn(), store::tasks::update(tx.conn(), row).await?).await
    }
}

/// Heartbeats many running tasks in one transaction; each item is judged on its own.
pub async fn heartbeat_many(
    state: &Context,
    input: HeartbeatManyIn,
) -> Result<BatchOut, DomainError> {
    let mut checks = Checks::default();
    check_batch(
        &mut checks,
        "items",
        limits::BATCH,
        input.items.iter().map(|item| item.id),
    );
    for (i, item) in input.items.iter().enumerate() {
        check_heartbeat(
            &mut checks,
            &format!("items.{i}."),
            item.lease_seconds,
            item.progress,
            item.message.as_deref(),
        );
    }
    checks.finish()?;
    // In task id order, so two batches over the same tasks lock them in the same order
    // and cannot deadlock; answered in the items' order.
    let mut order: Vec<(usize, HeartbeatItem)> = input.items.into_iter().enumerate().collect();
    order.sort_by_key(|(_, item)| item.id);
    let mut outcomes: Vec<Option<BatchItemOut>> = vec![None; order.len()];
    let mut tx = state.begin().await?;
    for (i, item) in order {
        let id = item.id;
        let input = TaskHeartbeatIn {
            claim_token: item.claim_token,
            lease_seconds: item.lease_seconds,
            progress: item.progress,
            message: item.message,
        };
        outcomes[i] = Some(match heartbeat_in(&mut tx, id, input).await {
            Ok(task) => item_done(task),
            // A database failure fails the whole batch, which then changed nothing.
            Err(DomainError::Db(err)) => return Err(DomainError::Db(err)),
            Err(refused) => item_refused(id, refused),
        });
    }
    state.commit(tx).await?;
    Ok(BatchOut {
        items: outcomes.into_iter().flatten().collect(),
    })
}

/// [`limits::BATCH`] items, each about a different task.
fn check_batch(
    checks: &mut Checks,
    field: &str,
    rule: limits::Items,
    ids: impl ExactSizeIterator<Item = Uuid>,
) {
    checks.count(field, ids.len(), rule);
    let mut seen = HashSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id) {
            checks.push(
                &format!("{field}.{i}.id"),
                "names a task an earlier item already names",
            );
        }
    }
}

/// A batch item's outcome for a task it changed (or found as it asked).
fn item_done(task: TaskOut) -> BatchItemOut {
    BatchItemOut {
        id: task.id,
        status: 200,
        task: Some(task),
        error: None,
    }
}

/// A batch item's outcome for `refused`, as its own request would have been answered.
fn item_refused(id: Uuid, refused: DomainError) -> BatchItemOut {
    let (status, error) = crate::error::ApiError::from(refused).to_parts();
    BatchItemOut {
        id,
        status: status.as_u16(),
        task: None,
        error: Some(error),
    }
}

/// Records a failed attempt: retried after a back-off while attempts remain and the error
/// is retryable, failed for good otherwise.
pub async fn fail(state: &Context, id: Uuid, input: FailIn) -> Result<TaskOut, DomainError> {
    let mut checks = Checks::default();
    checks.text("error", &input.error, limits::TASK_PROBLEM);
    checks.finish()?;
    let mut tx = state.begin().await?;
    // `end_attempt` refuses a task that is not running.
    let (row, _) = load_claimed(&tx, id, input.claim_token, "fail").await?;
    let retryable = input.retryable.unwrap_or(true);
    let out = end_attempt(&mut tx, &state.cfg, row, input.error, retryable).await?;
    state.commit(tx).await?;
    Ok(out)
}

/// Stops a running task because it needs a human; the lease ends.
pub async fn block(state: &Context, id: Uuid, input: BlockIn) -> Result<TaskOut, DomainError> {
    let mut checks = Checks::default();
    checks.text("reason", &input.reason, limits::TASK_PROBLEM);
    checks.finish()?;
    let mut tx = state.begin().await?;
    let (mut row, status) = load_claimed(&tx, id, input.claim_token, "block").await?;
    row.status = transition(status, TaskAction::Block)?.into();
    row.block_reason = Some(input.reason);
    end_lease(&mut row);
    row.updated_at = store::now();
    let out = save(&mut tx, row, "task.blocked").await?;
    state.commit(tx).await?;
    Ok(out)
}

/// Hands a running task back to the queue at once, without using up an attempt.
pub async fn release(state: &Context, id: Uuid, input: ReleaseIn) -> Result<TaskOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(reason) = &input.reason {
        checks.text("reason", reason, limits::NOTE);
    }
    checks.finish()?;
    let mut tx = state.begin().await?;
    let (mut row, status) = load_claimed(&tx, id, input.claim_token, "release").await?;
    row.status = transition(status, TaskAction::Release)?.into();
    row.not_before = None;
    if let Some(reason) = input.reason {
        row.progress_message = Some(reason);
    }
    end_lease(&mut row);
    row.updated_at = store::now();
    let out = save(&mut tx, row, "task.released").await?;
    state.commit(tx).await?;
    Ok(out)
}

/// Puts a blocked task back in the queue, with the human's note for the next attempt.
///
/// The note replaces `progress_message` (cleared when there is none): the next attempt,
/// and anyone reading the `task.unblocked` event, then takes that field as the human's
/// answer, never the agent's own progress text from before it blocked.
pub async fn unblock(state: &Context, id: Uuid, input: UnblockIn) -> Result<TaskOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(note) = &input.note {
        checks.text("note", note, limits::NOTE);
    }
    checks.finish()?;
    let mut tx = state.begin().await?;
    let mut row = load_for_update(&tx, id).await?;
    row.status = transition(status_of(&row), TaskAction::Unblock)?.into();
    row.not_before = None;
    row.progress_message = input.note;
    row.updated_at = store::now();
    let out = save(&mut tx, row, "task.unblocked").await?;
    state.commit(tx).await?;
    Ok(out)
}

/// The delay before retry number `attempts` (1-based): doubling from the base, capped.
fn backoff(cfg: &crate::config::ApiConfig, attempts: i32) -> chrono::Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(30);
    let millis = cfg
        .retry_base_ms
        .saturating_mul(1u64 << exponent)
        .min(cfg.retry_max_ms);
    chrono::Duration::milliseconds(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// Ends the current attempt of a running task without success.
async fn end_attempt(
    tx: &mut Tx,
    cfg: &crate::config::ApiConfig,
    mut row: Model,
    error: String,
    retryable: bool,
) -> Result<TaskOut, DomainError> {
    let now = store::now();
    let retry = retryable && row.attempts + 1 < row.max_attempts;
    let to = transition(status_of(&row), TaskAction::Fail { retry })?;
    row.status = to.into();
    row.attempts += 1;
    end_lease(&mut row);
    row.updated_at = now;
    let id = row.id;
    if retry {
        row.not_before = Some(now + backoff(cfg, row.attempts));
        row.error = Some(error);
        return save(tx, row, "task.requeued").await;
    }
    let kind = if retryable {
        row.error = Some(format!(
            "{error} (attempt {} of {}: no attempts left)",
            row.attempts, row.max_attempts
        ));
        "task.dead"
    } else {
        row.error = Some(error);
        "task.failed"
    };
    row.finished_at = Some(now);
    let out = save(tx, row, kind).await?;
    cancel_dependents(tx, id, TaskStatus::Failed).await?;
    Ok(out)
}

/// Queues the tasks waiting on any of `upstreams` (tasks that just completed) whose
/// dependencies have now all completed.
async fn release_dependents_of_any(tx: &mut Tx, upstreams: &[Uuid]) -> Result<(), DomainError> {
    for mut row in store::tasks::waiting_dependents_of_any_for_update(tx.conn(), upstreams).await? {
        if store::tasks::unfinished_dependency_count(tx.conn(), row.id).await? == 0 {
            row.status = transition(status_of(&row), TaskAction::DependenciesDone)?.into();
            row.updated_at = store::now();
            save(tx, row, "task.queued").await?;
        }
    }
    Ok(())
}

/// Cancels, transitively, every task waiting on `upstream`, which ended as `how`.
async fn cancel_dependents(
    tx: &mut Tx,
    upstream: Uuid,
    how: TaskStatus,
) -> Result<(), DomainError> {
    let mut queue = VecDeque::from([(upstream, how)]);
    while let Some((upstream, how)) = queue.pop_front() {
        for mut row in store::tasks::waiting_dependents_for_update(tx.conn(), upstream).await? {
            let now = store::now();
            row.status = transition(status_of(&row), TaskAction::Cancel)?.into();
            row.error = Some(format!("dependency {upstream} was {how}"));
            row.finished_at = Some(now);
            row.updated_at = now;
            let id = row.id;
            save(tx, row, "task.cancelled").await?;
            queue.push_back((id, TaskStatus::Cancelled));
        }
    }
    Ok(())
}

/// Ends the attempts whose lease expired: re-queued with a back-off, or failed for good
/// on their last attempt. Returns how many were reaped.
pub async fn reap_expired_leases(
    state: &Context,
    now: DateTime<Utc>,
) -> Result<usize, DomainError> {
    let mut tx = state.begin().await?;
    let rows = store::tasks::expired_leases_for_update(tx.conn(), now, 200).await?;
    let count = rows.len();
    for row in rows {
        let error = format!(
            "lease expired: agent {} sent no heartbeat before {}",
            row.agent_id
                .map_or_else(|| "?".to_owned(), |id| id.to_string()),
            row.lease_expires_at
                .map_or_else(String::new, |at| at.to_rfc3339()),
        );
        end_attempt(&mut tx, &state.cfg, row, error, true).await?;
    }
    state.commit(tx).await?;
    state.metrics.lease_expiries.inc_by(count as u64);
    Ok(count)
}

/// Task counts by status, every status present (zero if none).
pub async fn counts_by_status(state: &Context) -> Result<Vec<(TaskStatus, i64)>, DomainError> {
    let counts: HashMap<String, i64> = store::tasks::count_by_status(&state.db)
        .await?
        .into_iter()
        .collect();
    Ok(TaskStatus::ALL
        .into_iter()
        .map(|status| (status, counts.get(status.as_str()).copied().unwrap_or(0)))
        .collect())
}

/// Where the work stands: counts per status (overall and per project) and the tasks
/// finished in each of the last 60 minutes, of one project if given.
pub async fn summary(
    state: &Context,
    project_id: Option<Uuid>,
) -> Result<agentops_sdk::types::TaskSummary, DomainError> {
    use agentops_sdk::types::{MinuteCount, ProjectCounts, StatusCounts, TaskSummary};
    use chrono::{DurationRound, TimeDelta};

    let mut by_status = StatusCounts::default();
    let mut by_project: std::collections::BTreeMap<Uuid, StatusCounts> = Default::default();
    for (project, status, n) in
        store::tasks::count_by_project_and_status(&state.db, project_id).await?
    {
        let Ok(status) = status.parse::<TaskStatus>() else {
            continue;
        };
        let n = u64::try_from(n).unwrap_or(0);
        by_status.add(status, n);
        by_project.entry(project).or_default().add(status, n);
    }
    let now = store::now()
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap_or_else(|_| store::now());
    let first = now - TimeDelta::minutes(59);
    let mut finished_per_minute: Vec<MinuteCount> = (0..60)
        .map(|i| MinuteCount {
            minute: first + TimeDelta::minutes(i),
            completed: 0,
            failed: 0,
        })
        .collect();
    for (minute, status, n) in
        store::tasks::finished_per_minute(&state.db, first, project_id).await?
    {
        let Ok(minute) =
            chrono::NaiveDateTime::parse_from_str(&format!("{minute}:00"), "%Y-%m-%d %H:%M:%S")
        else {
            continue;
        };
        let index = (minute.and_utc() - first).num_minutes();
        let Some(slot) = usize::try_from(index)
            .ok()
            .and_then(|i| finished_per_minute.get_mut(i))
        else {
            continue;
        };
        let n = u64::try_from(n).unwrap_or(0);
        if status == TaskStatus::Completed.as_str() {
            slot.completed += n;
        } else {
            slot.failed += n;
        }
    }
    Ok(TaskSummary {
        by_status,
        by_project: by_project
            .into_iter()
            .map(|(project_id, by_status)| ProjectCounts {
                project_id,
                by_status,
            })
            .collect(),
        finished_per_minute,
    })
}
