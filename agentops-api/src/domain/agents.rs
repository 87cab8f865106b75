//! Agents: registration, heartbeats and presence.

use std::time::Duration;

use uuid::Uuid;

use agentops_sdk::types::{AgentIn, AgentOut, AgentStatus, ErrorCode, Page};

use super::limits::{AGENT_NAME, AGENT_VERSION, CAPABILITIES, CAPABILITY, KIND};
use super::{Checks, paginate};
use crate::domain::Context;
use crate::domain::PageRequest;
use crate::error::DomainError;
use crate::store::{self, NewEvent, entity::agent};

const METADATA_MAX: usize = 64 * 1024;

/// The wire form of an agent row. Presence is derived from the last heartbeat and the
/// TTL, so it is right even between two reaper passes.
pub fn to_out(row: agent::Model, ttl: Duration) -> AgentOut {
    let fresh = store::now() - row.last_heartbeat_at
        < chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    AgentOut {
        id: row.id,
        name: row.name,
        kind: row.kind,
        capabilities: serde_json::from_value(row.capabilities).unwrap_or_default(),
        version: row.version,
        metadata: row.metadata,
        status: if fresh {
            AgentStatus::Online
        } else {
            AgentStatus::Offline
        },
        last_heartbeat_at: row.last_heartbeat_at,
        created_at: row.created_at,
    }
}

fn agent_event(kind: &'static str, agent: &AgentOut) -> NewEvent {
    NewEvent {
        kind,
        project_id: None,
        task_id: None,
        agent_id: Some(agent.id),
        data: serde_json::to_value(agent).unwrap_or_default(),
    }
}

/// Registers an agent, or updates and returns the one with the same name. Registering
/// counts as a heartbeat.
pub async fn register(state: &Context, input: AgentIn) -> Result<AgentOut, DomainError> {
    let mut checks = Checks::default();
    checks.ident("name", &input.name, AGENT_NAME);
    if let Some(kind) = &input.kind {
        checks.ident("kind", kind, KIND);
    }
    if let Some(capabilities) = &input.capabilities {
        checks.count("capabilities", capabilities.len(), CAPABILITIES);
        for (i, capability) in capabilities.iter().enumerate() {
            checks.text(&format!("capabilities.{i}"), capability, CAPABILITY);
        }
    }
    if let Some(version) = &input.version {
        checks.text("version", version, AGENT_VERSION);
    }
    if let Some(metadata) = &input.metadata {
        checks.object("metadata", metadata, METADATA_MAX);
    }
    checks.finish()?;

    let ttl = state.cfg.agent_ttl();
    let now = store::now();
    let attempt = async {
        let mut tx = state.begin().await?;
        let (row, kind) = match store::agents::find_by_name_for_update(tx.conn(), &input.name)
            .await?
        {
            Some(mut row) => {
                if let Some(kind) = &input.kind {
                    row.kind = kind.clone();
                }
                if let Some(capabilities) = &input.capabilities {
                    row.capabilities = serde_json::json!(capabilities);
                }
                if input.version.is_some() {
                    row.version = input.version.clone();
                }
                if let Some(metadata) = &input.metadata {
                    row.metadata = metadata.clone();
                }
                row.status = "online".to_owned();
                row.last_heartbeat_at = now;
                row.updated_at = now;
                (
                    store::agents::update(tx.conn(), row).await?,
                    "agent.updated",
                )
            }
            None => {
                let row = agent::Model {
                    id: Uuid::now_v7(),
                    name: input.name.clone(),
                    kind: input.kind.clone().unwrap_or_else(|| "custom".to_owned()),
                    capabilities: serde_json::json!(input.capabilities.clone().unwrap_or_default()),
                    version: input.version.clone(),
                    metadata: input
                        .metadata
                        .clone()
                        .unwrap_or_else(|| serde_json::json!({})),
                    status: "online".to_owned(),
                    last_heartbeat_at: now,
                    created_at: now,
                    updated_at: now,
                };
                (
                    store::agents::insert(tx.conn(), row).await?,
                    "agent.registered",
                )
            }
        };
        let out = to_out(row, ttl);
        tx.emit(agent_event(kind, &out));
        state.commit(tx).await?;
        Ok::<_, DomainError>(out)
    };
    match attempt.await {
        // Two registrations of a new name raced; the second finds the first's row.
        Err(err) if super::is_unique_violation(&err) => Box::pin(register(state, input)).await,
        other => other,
    }
}

/// Records a heartbeat; an agent that was offline comes back online (with an event).
pub async fn heartbeat(state: &Context, id: Uuid) -> Result<AgentOut, DomainError> {
    let ttl = state.cfg.agent_ttl();
    let mut tx = state.begin().await?;
    let mut row = store::agents::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::AgentNotFound, id))?;
    let was_offline = row.status != "online";
    let now = store::now();
    row.status = "online".to_owned();
    row.last_heartbeat_at = now;
    row.updated_at = now;
    let out = to_out(store::agents::update(tx.conn(), row).await?, ttl);
    if was_offline {
        tx.emit(agent_event("agent.online", &out));
    }
    state.commit(tx).await?;
    Ok(out)
}

/// One agent.
pub async fn get(state: &Context, id: Uuid) -> Result<AgentOut, DomainError> {
    store::agents::find(&state.db, id)
        .await?
        .map(|row| to_out(row, state.cfg.agent_ttl()))
        .ok_or_else(|| DomainError::not_found(ErrorCode::AgentNotFound, id))
}

/// Agents, newest first.
pub async fn list(state: &Context, page: PageRequest) -> Result<Page<AgentOut>, DomainError> {
    let ttl = state.cfg.agent_ttl();
    let rows = store::agents::list(&state.db, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(|row| to_out(row, ttl)).collect(),
        page.limit,
        |a| a.id,
    ))
}

/// Marks agents silent for longer than the TTL offline, with an `agent.offline` event
/// each. Returns how many changed.
pub async fn mark_silent_offline(state: &Context) -> Result<usize, DomainError> {
    let ttl = state.cfg.agent_ttl();
    let cutoff = store::now() - chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let mut tx = state.begin().await?;
    let rows = store::agents::list_silent_for_update(tx.conn(), cutoff, 500).await?;
    let count = rows.len();
    for mut row in rows {
        row.status = "offline".to_owned();
        row.updated_at = store::now();
        let out = to_out(store::agents::update(tx.conn(), row).await?, ttl);
        tx.emit(agent_event("agent.offline", &out));
    }
    state.commit(tx).await?;
    Ok(count)
}
