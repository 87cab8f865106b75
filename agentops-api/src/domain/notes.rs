//! Project notes: short texts on a project under a key, every write a new version.
//!
//! Agents keep what they learned about a project here (the Chief of Staff's proactive
//! rounds write `chief`), read it back on their next round, and people see its history.
//! A write may name the version it replaces (`expected_version`): if someone wrote in
//! between, it is refused with `stale_version` instead of silently losing their words.

use uuid::Uuid;

use agentops_sdk::types::{ErrorCode, NoteIn, NoteOut};

use super::{Caller, Checks, Context, limits};
use crate::error::DomainError;
use crate::store::entity::project_note::Model;
use crate::store::{self, NewEvent};

fn out(row: Model) -> NoteOut {
    NoteOut {
        project_id: row.project_id,
        key: row.key,
        version: row.version.max(0) as u64,
        text: row.text,
        written_by: row.written_by,
        created_at: row.created_at,
    }
}

fn check_key(key: &str) -> Result<(), DomainError> {
    let mut checks = Checks::default();
    checks.ident("key", key, limits::NOTE_KEY);
    checks.finish()
}

async fn project_exists(state: &Context, project_id: Uuid) -> Result<(), DomainError> {
    store::projects::find(&state.db, project_id)
        .await?
        .map(|_| ())
        .ok_or_else(|| DomainError::not_found(ErrorCode::ProjectNotFound, project_id))
}

/// Writes a new version of a note.
pub async fn write(
    state: &Context,
    caller: &Caller,
    project_id: Uuid,
    key: &str,
    input: NoteIn,
) -> Result<NoteOut, DomainError> {
    check_key(key)?;
    let mut checks = Checks::default();
    checks.text("text", &input.text, limits::NOTE_TEXT);
    checks.finish()?;
    project_exists(state, project_id).await?;
    let mut tx = state.begin().await?;
    let current = store::notes::find(tx.conn(), project_id, key, None)
        .await?
        .map_or(0, |n| n.version);
    if let Some(expected) = input.expected_version
        && i64::try_from(expected).unwrap_or(i64::MAX) != current
    {
        return Err(DomainError::refused(
            ErrorCode::StaleVersion,
            format!("the note is at version {current}, not {expected}: read it again, then write"),
        ));
    }
    let inserted = store::notes::insert(
        tx.conn(),
        Model {
            project_id,
            key: key.to_owned(),
            version: current + 1,
            text: input.text,
            written_by: Some(caller.key_id),
            created_at: store::now(),
        },
    )
    .await;
    let row = match inserted {
        Ok(row) => row,
        // A concurrent writer took this version: the write replaced a version that is
        // no longer the newest.
        Err(err)
            if matches!(
                err.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            return Err(DomainError::refused(
                ErrorCode::StaleVersion,
                format!(
                    "the note moved past version {current} meanwhile: read it again, then write"
                ),
            ));
        }
        Err(err) => return Err(err.into()),
    };
    let note = out(row);
    tx.emit(NewEvent {
        kind: "note.updated",
        project_id: Some(project_id),
        task_id: None,
        agent_id: None,
        data: serde_json::to_value(&note).unwrap_or_default(),
    });
    state.commit(tx).await?;
    Ok(note)
}

/// A note: its newest version, or the one asked for.
pub async fn get(
    state: &Context,
    project_id: Uuid,
    key: &str,
    version: Option<i64>,
) -> Result<NoteOut, DomainError> {
    check_key(key)?;
    store::notes::find(&state.db, project_id, key, version)
        .await?
        .map(out)
        .ok_or_else(|| {
            DomainError::not_found(ErrorCode::NoteNotFound, format!("{project_id}/{key}"))
        })
}

/// The newest version of each of a project's notes.
pub async fn list(state: &Context, project_id: Uuid) -> Result<Vec<NoteOut>, DomainError> {
    project_exists(state, project_id).await?;
    Ok(store::notes::latest(&state.db, project_id)
        .await?
        .into_iter()
        .map(out)
        .collect())
}

/// A note's versions, newest first (at most `limit`, below `before`).
pub async fn versions(
    state: &Context,
    project_id: Uuid,
    key: &str,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<NoteOut>, DomainError> {
    check_key(key)?;
    // A deleted (or never made) project has no notes to list: 404, as for its list.
    project_exists(state, project_id).await?;
    Ok(
        store::notes::versions(&state.db, project_id, key, before, limit)
            .await?
            .into_iter()
            .map(out)
            .collect(),
    )
}
