//! Threads (conversations), their messages, and approvals: plans an agent proposes in a
//! thread and may carry out only once a human says OK.
//!
//! Rules kept here, each in one transaction with its events:
//! - a thread is found again by (`channel`, `external_id`): opening it twice returns the
//!   first one;
//! - a `user` message supersedes the thread's pending approval (the person moved on);
//! - a message posted with an idempotency key is stored once: a repeat answers with it
//!   and changes nothing (no event, no approval superseded);
//! - a new approval supersedes the thread's pending one: at most one is pending;
//! - only a pending approval can be approved, rejected or superseded, and only an
//!   approved one can be finished (executed or failed).

use uuid::Uuid;

use agentops_sdk::types::{
    ApprovalDecisionIn, ApprovalIn, ApprovalOut, ApprovalOutcomeIn, ApprovalStatus, ErrorCode,
    MessageIn, MessageOut, MessageRole, Page, ThreadIn, ThreadOut, ThreadPatch,
};

use super::projects::Created;
use super::{Checks, create_once, is_unique_violation, limits, paginate, request_hash};
use crate::domain::Caller;
use crate::domain::Context;
use crate::domain::PageRequest;
use crate::error::DomainError;
use crate::store::{self, NewEvent, Tx, entity};

/// The filters of a listing (defined with the query that applies them).
pub use crate::store::threads::ApprovalFilter;

const METADATA_MAX: usize = 64 * 1024;
const PLAN_MAX: usize = 256 * 1024;

impl From<entity::thread::Model> for ThreadOut {
    fn from(row: entity::thread::Model) -> Self {
        ThreadOut {
            id: row.id,
            channel: row.channel,
            external_id: row.external_id,
            title: row.title,
            metadata: row.metadata,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl From<entity::thread_message::Model> for MessageOut {
    fn from(row: entity::thread_message::Model) -> Self {
        MessageOut {
            id: row.id,
            thread_id: row.thread_id,
            role: row.role.parse().unwrap_or(MessageRole::System),
            author: row.author,
            text: row.text,
            metadata: row.metadata,
            created_at: row.created_at,
        }
    }
}

impl From<entity::approval::Model> for ApprovalOut {
    fn from(row: entity::approval::Model) -> Self {
        ApprovalOut {
            id: row.id,
            thread_id: row.thread_id,
            summary: row.summary,
            plan: row.plan,
            status: row.status.parse().unwrap_or(ApprovalStatus::Failed),
            reason: row.reason,
            result: row.result,
            decided_by: row.decided_by,
            created_at: row.created_at,
            decided_at: row.decided_at,
            updated_at: row.updated_at,
        }
    }
}

fn event(kind: &'static str, data: &impl serde::Serialize) -> NewEvent {
    NewEvent {
        kind,
        project_id: None,
        task_id: None,
        agent_id: None,
        data: serde_json::to_value(data).unwrap_or_default(),
    }
}

/// Opens a thread, or returns the one its channel already has under `external_id`.
pub async fn open(
    state: &Context,
    caller: &Caller,
    input: ThreadIn,
) -> Result<Created<ThreadOut>, DomainError> {
    let mut checks = Checks::default();
    let channel = input.channel.unwrap_or_else(|| "api".to_owned());
    checks.ident("channel", &channel, limits::CHANNEL);
    if let Some(external_id) = &input.external_id {
        checks.text("external_id", external_id, limits::EXTERNAL_ID);
    }
    if let Some(title) = &input.title {
        checks.text("title", title, limits::THREAD_TITLE);
    }
    if let Some(metadata) = &input.metadata {
        checks.object("metadata", metadata, METADATA_MAX);
    }
    checks.finish()?;
    if let Some(external_id) = &input.external_id
        && let Some(existing) =
            store::threads::find_by_external(&state.db, &channel, external_id).await?
    {
        return Ok(Created {
            value: existing.into(),
            replayed: true,
        });
    }
    let now = store::now();
    let row = entity::thread::Model {
        id: Uuid::now_v7(),
        channel: channel.clone(),
        external_id: input.external_id.clone(),
        title: input.title.map(|title| title.trim().to_owned()),
        metadata: input.metadata.unwrap_or_else(|| serde_json::json!({})),
        created_by: Some(caller.key_id),
        created_at: now,
        updated_at: now,
    };
    let result = async {
        let mut tx = state.begin().await?;
        let out = ThreadOut::from(store::threads::insert(tx.conn(), row).await?);
        tx.emit(event("thread.created", &out));
        state.commit(tx).await?;
        Ok::<_, DomainError>(out)
    }
    .await;
    match (result, input.external_id) {
        (Ok(out), _) => Ok(Created {
            value: out,
            replayed: false,
        }),
        // Two opens of one chat raced: the loser answers with the winner's thread.
        (Err(err), Some(external_id)) if is_unique_violation(&err) => {
            let existing = store::threads::find_by_external(&state.db, &channel, &external_id)
                .await?
                .ok_or(err)?;
            Ok(Created {
                value: existing.into(),
                replayed: true,
            })
        }
        (Err(err), _) => Err(err),
    }
}

/// One thread.
pub async fn get(state: &Context, id: Uuid) -> Result<ThreadOut, DomainError> {
    store::threads::find(&state.db, id)
        .await?
        .map(ThreadOut::from)
        .ok_or_else(|| DomainError::not_found(ErrorCode::ThreadNotFound, id))
}

/// Changes a thread's title, and merges `patch.metadata` into its metadata as a JSON
/// Merge Patch (RFC 7396, see `merge_patch`). The thread is locked while it changes,
/// so two patches of different keys both take effect. Every change moves `updated_at`.
pub async fn update(
    state: &Context,
    id: Uuid,
    patch: ThreadPatch,
) -> Result<ThreadOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(title) = &patch.title {
        checks.text("title", title, limits::THREAD_TITLE);
    }
    if let Some(metadata) = &patch.metadata {
        checks.object("metadata", metadata, METADATA_MAX);
    }
    checks.finish()?;
    let mut tx = state.begin().await?;
    let mut row = store::threads::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ThreadNotFound, id))?;
    if let Some(title) = patch.title {
        row.title = Some(title.trim().to_owned());
    }
    if let Some(changes) = patch.metadata {
        merge_patch(&mut row.metadata, changes);
        // The patch was checked on its own; what it makes must fit as well.
        let mut checks = Checks::default();
        checks.object("metadata", &row.metadata, METADATA_MAX);
        checks.finish()?;
    }
    row.updated_at = store::now();
    let out = ThreadOut::from(store::threads::update(tx.conn(), row).await?);
    tx.emit(event("thread.updated", &out));
    state.commit(tx).await?;
    Ok(out)
}

/// Applies `patch` to `target` as a JSON Merge Patch (RFC 7396): an object patch merges
/// key by key, recursively (a key set to `null` is removed at any depth, a key whose
/// target is not an object starts from an empty one); any other patch replaces the
/// target whole (arrays are never merged). It recurses as deep as the patch nests, which
/// validation bounds (`limits::JSON_DEPTH_MAX`).
pub(crate) fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value;
    let Value::Object(changes) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(fields) = target {
        for (key, value) in changes {
            if value.is_null() {
                fields.remove(&key);
            } else {
                merge_patch(fields.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

/// Threads, newest first, optionally of one channel (and one of its `external_id`s).
pub async fn list(
    state: &Context,
    channel: Option<&str>,
    external_id: Option<&str>,
    page: PageRequest,
) -> Result<Page<ThreadOut>, DomainError> {
    // A filter: a value no thread can have matches none.
    let rows =
        store::threads::list(&state.db, channel, external_id, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(ThreadOut::from).collect(),
        page.limit,
        |t| t.id,
    ))
}

/// Supersedes the thread's pending approval, if any (and if it is not `spare`), inside
/// `tx`.
async fn supersede_pending(
    tx: &mut Tx,
    thread_id: Uuid,
    spare: Option<Uuid>,
    why: &str,
) -> Result<(), DomainError> {
    if let Some(mut pending) = store::threads::find_pending_for_update(tx.conn(), thread_id).await?
        && Some(pending.id) != spare
    {
        pending.status = ApprovalStatus::Superseded.as_str().to_owned();
        pending.reason = Some(why.to_owned());
        pending.updated_at = store::now();
        let out = ApprovalOut::from(store::threads::update_approval(tx.conn(), pending).await?);
        tx.emit(event("approval.superseded", &out));
    }
    Ok(())
}

/// Adds a message to a thread. A `user` message supersedes its pending approval, unless
/// its `metadata.approval_id` names that approval: then it is the answer to it (the
/// person's "OK", stored before the approval is decided).
///
/// With an idempotency key, a repeat of the same request (same thread and body) returns
/// the first message and changes nothing: no second event, and the thread's pending
/// approval (perhaps a newer one) is left alone; the key with another thread or body is
/// refused.
pub async fn post_message(
    state: &Context,
    caller: &Caller,
    thread_id: Uuid,
    input: MessageIn,
    idempotency_key: Option<String>,
) -> Result<Created<MessageOut>, DomainError> {
    let mut checks = Checks::default();
    checks.text("text", &input.text, limits::MESSAGE_TEXT);
    if let Some(author) = &input.author {
        checks.text("author", author, limits::AUTHOR);
    }
    if let Some(metadata) = &input.metadata {
        checks.object("metadata", metadata, METADATA_MAX);
    }
    checks.finish()?;
    // The thread is part of the request: one key names one message in one thread.
    let hash = request_hash(&(thread_id, &input));
    let (db, key_id) = (&state.db, caller.key_id);
    create_once(
        idempotency_key.clone(),
        &hash,
        move |key| async move {
            Ok(store::threads::find_message_by_idempotency_key(db, key_id, &key).await?)
        },
        |row| async move { Ok(MessageOut::from(row)) },
        || {
            insert_message(
                state,
                caller,
                thread_id,
                input,
                idempotency_key,
                hash.clone(),
            )
        },
    )
    .await
}

impl super::IdempotentRow for entity::thread_message::Model {
    fn request_hash(&self) -> Option<&str> {
        self.request_hash.as_deref()
    }
}

/// The write of [`post_message`]: the message, the superseded approval and the events,
/// in one transaction (so a twin that loses the race on the key changes nothing).
async fn insert_message(
    state: &Context,
    caller: &Caller,
    thread_id: Uuid,
    input: MessageIn,
    idempotency_key: Option<String>,
    hash: String,
) -> Result<MessageOut, DomainError> {
    let mut tx = state.begin().await?;
    let mut thread = store::threads::find_for_update(tx.conn(), thread_id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ThreadNotFound, thread_id))?;
    if input.role == MessageRole::User {
        let answers = input
            .metadata
            .as_ref()
            .and_then(|m| m.get("approval_id"))
            .and_then(serde_json::Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok());
        supersede_pending(
            &mut tx,
            thread_id,
            answers,
            "a newer message arrived in the thread",
        )
        .await?;
    }
    let now = store::now();
    let row = entity::thread_message::Model {
        id: Uuid::now_v7(),
        thread_id,
        role: input.role.as_str().to_owned(),
        author: input.author,
        text: input.text,
        metadata: input.metadata.unwrap_or_else(|| serde_json::json!({})),
        created_by: Some(caller.key_id),
        idempotency_key,
        request_hash: Some(hash),
        created_at: now,
    };
    let out = MessageOut::from(store::threads::insert_message(tx.conn(), row).await?);
    thread.updated_at = now;
    store::threads::update(tx.conn(), thread).await?;
    tx.emit(event("thread.message", &out));
    state.commit(tx).await?;
    Ok(out)
}

/// A thread's messages, newest first (read one page of `limit` for "the last N").
pub async fn messages(
    state: &Context,
    thread_id: Uuid,
    page: PageRequest,
) -> Result<Page<MessageOut>, DomainError> {
    if store::threads::find(&state.db, thread_id).await?.is_none() {
        return Err(DomainError::not_found(ErrorCode::ThreadNotFound, thread_id));
    }
    let rows =
        store::threads::list_messages(&state.db, thread_id, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(MessageOut::from).collect(),
        page.limit,
        |m| m.id,
    ))
}

/// Proposes a plan in a thread; the thread's pending approval is superseded.
pub async fn propose(
    state: &Context,
    caller: &Caller,
    thread_id: Uuid,
    input: ApprovalIn,
) -> Result<ApprovalOut, DomainError> {
    let mut checks = Checks::default();
    checks.text("summary", &input.summary, limits::PLAN_SUMMARY);
    checks.object("plan", &input.plan, PLAN_MAX);
    checks.finish()?;
    let mut tx = state.begin().await?;
    store::threads::find_for_update(tx.conn(), thread_id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ThreadNotFound, thread_id))?;
    supersede_pending(&mut tx, thread_id, None, "a newer plan was proposed").await?;
    let now = store::now();
    let row = entity::approval::Model {
        id: Uuid::now_v7(),
        thread_id,
        summary: input.summary,
        plan: input.plan,
        status: ApprovalStatus::Pending.as_str().to_owned(),
        reason: None,
        result: None,
        created_by: Some(caller.key_id),
        decided_by: None,
        created_at: now,
        decided_at: None,
        updated_at: now,
    };
    let out = ApprovalOut::from(store::threads::insert_approval(tx.conn(), row).await?);
    tx.emit(event("approval.requested", &out));
    state.commit(tx).await?;
    Ok(out)
}

/// One approval.
pub async fn approval(state: &Context, id: Uuid) -> Result<ApprovalOut, DomainError> {
    store::threads::find_approval(&state.db, id)
        .await?
        .map(ApprovalOut::from)
        .ok_or_else(|| DomainError::not_found(ErrorCode::ApprovalNotFound, id))
}

/// Approvals, newest first.
pub async fn approvals(
    state: &Context,
    filter: &ApprovalFilter,
    page: PageRequest,
) -> Result<Page<ApprovalOut>, DomainError> {
    let rows =
        store::threads::list_approvals(&state.db, filter, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(ApprovalOut::from).collect(),
        page.limit,
        |a| a.id,
    ))
}

/// What a human decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// OK: the agent may carry it out.
    Approve,
    /// No.
    Reject,
}

/// Approves or rejects a pending approval.
pub async fn decide(
    state: &Context,
    caller: &Caller,
    id: Uuid,
    decision: Decision,
    input: ApprovalDecisionIn,
) -> Result<ApprovalOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(reason) = &input.reason {
        checks.text("reason", reason, limits::NOTE);
    }
    checks.finish()?;
    let (status, verb, kind) = match decision {
        Decision::Approve => (ApprovalStatus::Approved, "approve", "approval.approved"),
        Decision::Reject => (ApprovalStatus::Rejected, "reject", "approval.rejected"),
    };
    transition(state, id, ApprovalStatus::Pending, verb, kind, |row| {
        row.status = status.as_str().to_owned();
        row.reason = input.reason;
        row.decided_by = Some(caller.key_id);
        row.decided_at = Some(store::now());
    })
    .await
}

/// Records what carrying out an approved plan gave.
pub async fn finish(
    state: &Context,
    id: Uuid,
    input: ApprovalOutcomeIn,
) -> Result<ApprovalOut, DomainError> {
    let mut checks = Checks::default();
    match (&input.result, &input.error) {
        (Some(_), Some(_)) => checks.push("error", "give either `result` or `error`, not both"),
        (None, None) => checks.push("result", "give `result` (done) or `error` (failed)"),
        (Some(result), None) => checks.json_size("result", result, PLAN_MAX),
        (None, Some(error)) => checks.text("error", error, limits::OUTCOME_ERROR),
    }
    checks.finish()?;
    let (status, kind) = if input.error.is_some() {
        (ApprovalStatus::Failed, "approval.failed")
    } else {
        (ApprovalStatus::Executed, "approval.executed")
    };
    transition(state, id, ApprovalStatus::Approved, "finish", kind, |row| {
        row.status = status.as_str().to_owned();
        row.result = input.result;
        if input.error.is_some() {
            row.reason = input.error;
        }
    })
    .await
}

async fn transition(
    state: &Context,
    id: Uuid,
    from: ApprovalStatus,
    verb: &str,
    kind: &'static str,
    change: impl FnOnce(&mut entity::approval::Model),
) -> Result<ApprovalOut, DomainError> {
    let mut tx = state.begin().await?;
    let mut row = store::threads::find_approval_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ApprovalNotFound, id))?;
    if row.status != from.as_str() {
        return Err(DomainError::refused(
            ErrorCode::InvalidTransition,
            format!(
                "cannot {verb} an approval that is {} (only a {from} one)",
                row.status
            ),
        ));
    }
    change(&mut row);
    row.updated_at = store::now();
    let out = ApprovalOut::from(store::threads::update_approval(tx.conn(), row).await?);
    tx.emit(event(kind, &out));
    state.commit(tx).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::merge_patch;

    fn merged(target: Value, patch: Value) -> Value {
        let mut target = target;
        merge_patch(&mut target, patch);
        target
    }

    #[test]
    fn the_examples_of_rfc_7396_give_their_results() {
        // RFC 7396, appendix A: (target, patch, result).
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, result) in cases {
            assert_eq!(
                merged(target.clone(), patch.clone()),
                result,
                "{target} + {patch}"
            );
        }
    }

    #[test]
    fn nested_settings_of_two_clients_merge_and_null_removes_at_any_depth() {
        let target = json!({
            "chief": {"multitask": "queue", "since": 1},
            "telegram": {"voice": {"on": true, "speed": 1.5}},
            "keep": [1, 2],
        });
        let patch = json!({
            "chief": {"multitask": "reject"},
            "telegram": {"voice": {"speed": null, "lang": "pt"}},
            "keep": [3],
        });
        assert_eq!(
            merged(target, patch),
            json!({
                "chief": {"multitask": "reject", "since": 1},
                "telegram": {"voice": {"on": true, "lang": "pt"}},
                "keep": [3],
            })
        );
    }

    #[test]
    fn an_empty_patch_changes_nothing_and_an_object_replaces_a_scalar() {
        let target = json!({"a": 1, "b": {"c": 2}});
        assert_eq!(merged(target.clone(), json!({})), target);
        assert_eq!(
            merged(json!({"a": 1}), json!({"a": {"x": null, "y": 2}})),
            json!({"a": {"y": 2}})
        );
    }
}
