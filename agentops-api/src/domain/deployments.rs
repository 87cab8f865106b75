//! Deployments: the platform's own releases reporting their steps (the self-update
//! loop), so that operators are told how each went.
//!
//! A deployment moves freely among `building`, `testing` and `deploying` (a release
//! script may skip a step or go back to one), and ends in `healthy`, `rolled_back` or
//! `failed`: once final, its status no longer changes (`409 invalid_transition`), while
//! its report and metadata may still be corrected. A `PATCH`'s `report` replaces the old
//! one whole, so a reporter that retries after a lost answer cannot write it twice; its
//! `metadata` is a JSON Merge Patch, as threads' is.

use uuid::Uuid;

use agentops_sdk::types::{
    DeploymentIn, DeploymentOut, DeploymentPatch, DeploymentStatus, ErrorCode, Page,
};

use super::projects::Created;
use super::threads::merge_patch;
use super::{Checks, PageRequest, create_once, limits, paginate, request_hash};
use crate::domain::{Caller, Context};
use crate::error::DomainError;
use crate::store::{self, NewEvent, entity::deployment};

const METADATA_MAX: usize = 64 * 1024;

/// The status of a stored row: the table's `CHECK` admits only the wire names.
fn status_of(row: &deployment::Model) -> DeploymentStatus {
    row.status.parse().unwrap_or(DeploymentStatus::Failed)
}

impl From<deployment::Model> for DeploymentOut {
    fn from(row: deployment::Model) -> Self {
        DeploymentOut {
            id: row.id,
            status: status_of(&row),
            git_sha: row.git_sha,
            branch: row.branch,
            report: row.report,
            metadata: row.metadata,
            created_at: row.created_at,
            updated_at: row.updated_at,
            finished_at: row.finished_at,
        }
    }
}

impl super::IdempotentRow for deployment::Model {
    fn request_hash(&self) -> Option<&str> {
        self.request_hash.as_deref()
    }
}

fn event(kind: &'static str, deployment: &DeploymentOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: None,
        task_id: None,
        agent_id: None,
        data: serde_json::to_value(deployment).unwrap_or_default(),
    }
}

fn check_git_sha(checks: &mut Checks, sha: &str) {
    let len = sha.chars().count();
    if !(limits::GIT_SHA_MIN..=limits::GIT_SHA_MAX).contains(&len)
        || !sha.chars().all(|c| c.is_ascii_hexdigit())
    {
        checks.push(
            "git_sha",
            format!(
                "must be {} to {} hexadecimal characters",
                limits::GIT_SHA_MIN,
                limits::GIT_SHA_MAX
            ),
        );
    }
}

fn check_fields(checks: &mut Checks, report: Option<&str>, metadata: Option<&serde_json::Value>) {
    if let Some(report) = report {
        checks.text("report", report, limits::DEPLOYMENT_REPORT);
    }
    if let Some(metadata) = metadata {
        checks.object("metadata", metadata, METADATA_MAX);
    }
}

/// Records a deployment; with an idempotency key, a repeat returns the first one.
pub async fn create(
    state: &Context,
    caller: &Caller,
    input: DeploymentIn,
    idempotency_key: Option<String>,
) -> Result<Created<DeploymentOut>, DomainError> {
    let mut checks = Checks::default();
    check_git_sha(&mut checks, &input.git_sha);
    if let Some(branch) = &input.branch {
        checks.text("branch", branch, limits::DEPLOYMENT_BRANCH);
    }
    check_fields(
        &mut checks,
        input.report.as_deref(),
        input.metadata.as_ref(),
    );
    checks.finish()?;
    let hash = request_hash(&input);
    let now = store::now();
    let status = input.status.unwrap_or_default();
    let row = deployment::Model {
        id: Uuid::now_v7(),
        git_sha: input.git_sha.to_ascii_lowercase(),
        branch: input.branch.map(|branch| branch.trim().to_owned()),
        status: status.as_str().to_owned(),
        report: input.report,
        metadata: input.metadata.unwrap_or_else(|| serde_json::json!({})),
        created_by: Some(caller.key_id),
        idempotency_key: idempotency_key.clone(),
        request_hash: Some(hash.clone()),
        created_at: now,
        updated_at: now,
        finished_at: status.is_final().then_some(now),
    };
    let (db, key_id) = (&state.db, caller.key_id);
    create_once(
        idempotency_key,
        &hash,
        move |key| async move {
            Ok(store::deployments::find_by_idempotency_key(db, key_id, &key).await?)
        },
        |row| async move { Ok(DeploymentOut::from(row)) },
        || async move {
            let mut tx = state.begin().await?;
            let out = DeploymentOut::from(store::deployments::insert(tx.conn(), row).await?);
            tx.emit(event("deployment.created", &out));
            state.commit(tx).await?;
            Ok(out)
        },
    )
    .await
}

/// One deployment.
pub async fn get(state: &Context, id: Uuid) -> Result<DeploymentOut, DomainError> {
    store::deployments::find(&state.db, id)
        .await?
        .map(DeploymentOut::from)
        .ok_or_else(|| DomainError::not_found(ErrorCode::DeploymentNotFound, id))
}

/// Deployments, newest first, optionally in one status.
pub async fn list(
    state: &Context,
    status: Option<DeploymentStatus>,
    page: PageRequest,
) -> Result<Page<DeploymentOut>, DomainError> {
    let rows = store::deployments::list(
        &state.db,
        status.map(DeploymentStatus::as_str),
        page.before,
        page.limit + 1,
    )
    .await?;
    Ok(paginate(
        rows.into_iter().map(DeploymentOut::from).collect(),
        page.limit,
        |d| d.id,
    ))
}

/// Moves a deployment on: a new status (refused once it is final, unless it is the same
/// one again, so a retried step is harmless), a report replacing the old one, a merge
/// patch for the metadata. The row is locked while it changes; every change moves
/// `updated_at`, and reaching a final status sets `finished_at`.
pub async fn update(
    state: &Context,
    id: Uuid,
    patch: DeploymentPatch,
) -> Result<DeploymentOut, DomainError> {
    let mut checks = Checks::default();
    check_fields(
        &mut checks,
        patch.report.as_deref(),
        patch.metadata.as_ref(),
    );
    checks.finish()?;
    let mut tx = state.begin().await?;
    let mut row = store::deployments::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::DeploymentNotFound, id))?;
    let now = store::now();
    if let Some(status) = patch.status {
        let current = status_of(&row);
        if current.is_final() && status != current {
            return Err(DomainError::refused(
                ErrorCode::InvalidTransition,
                format!("the deployment is already {current}: its status no longer changes"),
            ));
        }
        if status != current {
            row.status = status.as_str().to_owned();
            row.finished_at = status.is_final().then_some(now);
        }
    }
    if let Some(report) = patch.report {
        row.report = Some(report);
    }
    if let Some(changes) = patch.metadata {
        merge_patch(&mut row.metadata, changes);
        // The patch was checked on its own; what it makes must fit as well.
        let mut checks = Checks::default();
        checks.object("metadata", &row.metadata, METADATA_MAX);
        checks.finish()?;
    }
    row.updated_at = now;
    let out = DeploymentOut::from(store::deployments::update(tx.conn(), row).await?);
    tx.emit(event("deployment.updated", &out));
    state.commit(tx).await?;
    Ok(out)
}
