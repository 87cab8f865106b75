//! Projects: named groups of tasks.

use uuid::Uuid;

use agentops_sdk::types::{ErrorCode, Page, ProjectIn, ProjectOut, ProjectPatch};

use super::{Checks, create_once, paginate, request_hash};
use crate::domain::Caller;
use crate::domain::Context;
use crate::domain::PageRequest;
use crate::error::DomainError;
use crate::store::{self, NewEvent, entity::project};

const METADATA_MAX: usize = 64 * 1024;

impl From<project::Model> for ProjectOut {
    fn from(row: project::Model) -> Self {
        ProjectOut {
            id: row.id,
            name: row.name,
            description: row.description,
            metadata: row.metadata,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn project_event(kind: &'static str, project: &ProjectOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: Some(project.id),
        task_id: None,
        agent_id: None,
        data: serde_json::to_value(project).unwrap_or_default(),
    }
}

fn check_fields(
    checks: &mut Checks,
    name: Option<&str>,
    description: Option<&str>,
    metadata: Option<&serde_json::Value>,
) {
    if let Some(name) = name {
        checks.text("name", name, super::limits::PROJECT_NAME);
    }
    if let Some(description) = description {
        checks.text(
            "description",
            description,
            super::limits::PROJECT_DESCRIPTION,
        );
    }
    if let Some(metadata) = metadata {
        checks.object("metadata", metadata, METADATA_MAX);
    }
}

/// Whether a create returned a new project or replayed an earlier one.
pub struct Created<T> {
    /// The entity.
    pub value: T,
    /// `true` if an earlier request with the same idempotency key created it.
    pub replayed: bool,
}

/// Creates a project; with an idempotency key, a repeat returns the first project.
pub async fn create(
    state: &Context,
    caller: &Caller,
    input: ProjectIn,
    idempotency_key: Option<String>,
) -> Result<Created<ProjectOut>, DomainError> {
    let mut checks = Checks::default();
    check_fields(
        &mut checks,
        Some(&input.name),
        input.description.as_deref(),
        input.metadata.as_ref(),
    );
    checks.finish()?;
    let hash = request_hash(&input);
    let now = store::now();
    let row = project::Model {
        id: Uuid::now_v7(),
        name: input.name.trim().to_owned(),
        description: input.description,
        metadata: input.metadata.unwrap_or_else(|| serde_json::json!({})),
        created_by: Some(caller.key_id),
        idempotency_key: idempotency_key.clone(),
        request_hash: Some(hash.clone()),
        created_at: now,
        updated_at: now,
    };
    let (db, key_id) = (&state.db, caller.key_id);
    create_once(
        idempotency_key,
        &hash,
        move |key| async move {
            Ok(store::projects::find_by_idempotency_key(db, key_id, &key).await?)
        },
        |row| async move { Ok(ProjectOut::from(row)) },
        || async move {
            let mut tx = state.begin().await?;
            let row = store::projects::insert(tx.conn(), row).await?;
            let out = ProjectOut::from(row);
            tx.emit(project_event("project.created", &out));
            state.commit(tx).await?;
            Ok(out)
        },
    )
    .await
}

impl super::IdempotentRow for project::Model {
    fn request_hash(&self) -> Option<&str> {
        self.request_hash.as_deref()
    }
}

/// One project.
pub async fn get(state: &Context, id: Uuid) -> Result<ProjectOut, DomainError> {
    store::projects::find(&state.db, id)
        .await?
        .map(ProjectOut::from)
        .ok_or_else(|| DomainError::not_found(ErrorCode::ProjectNotFound, id))
}

/// Projects, newest first.
pub async fn list(state: &Context, page: PageRequest) -> Result<Page<ProjectOut>, DomainError> {
    let rows = store::projects::list(&state.db, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(ProjectOut::from).collect(),
        page.limit,
        |p| p.id,
    ))
}

/// Changes a project's name, description or metadata.
pub async fn update(
    state: &Context,
    id: Uuid,
    patch: ProjectPatch,
) -> Result<ProjectOut, DomainError> {
    let mut checks = Checks::default();
    check_fields(
        &mut checks,
        patch.name.as_deref(),
        patch.description.as_deref(),
        patch.metadata.as_ref(),
    );
    checks.finish()?;
    let mut tx = state.begin().await?;
    let mut row = store::projects::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ProjectNotFound, id))?;
    if let Some(name) = patch.name {
        row.name = name.trim().to_owned();
    }
    if let Some(description) = patch.description {
        row.description = Some(description);
    }
    if let Some(metadata) = patch.metadata {
        row.metadata = metadata;
    }
    row.updated_at = store::now();
    let out = ProjectOut::from(store::projects::update(tx.conn(), row).await?);
    tx.emit(project_event("project.updated", &out));
    state.commit(tx).await?;
    Ok(out)
}

/// Deletes a project and its finished tasks; refused while any task is unfinished.
pub async fn delete(state: &Context, id: Uuid) -> Result<(), DomainError> {
    let mut tx = state.begin().await?;
    // Its schedules first (the delete removes them too): a replica firing one holds it
    // while the task it fires is created, in a transaction of its own that needs the
    // project row. Taking the project first and then waiting for the schedule would be a
    // deadlock the database cannot see (the firing waits in the application, not on a
    // lock); this way the firing finishes and its task is counted below.
    store::schedules::lock_of_project(tx.conn(), id).await?;
    // `FOR UPDATE`: a task being created in the project waits for the outcome, so none
    // slips in between the check below and the delete.
    let row = store::projects::find_for_delete(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::ProjectNotFound, id))?;
    if store::tasks::project_has_unfinished(tx.conn(), id).await? {
        return Err(DomainError::refused(
            ErrorCode::ProjectNotEmpty,
            "the project has unfinished tasks: cancel them first",
        ));
    }
    store::projects::delete(tx.conn(), id).await?;
    tx.emit(project_event("project.deleted", &ProjectOut::from(row)));
    state.commit(tx).await?;
    Ok(())
}
