//! The background reaper: ends attempts whose lease expired and marks silent agents
//! offline.
//!
//! Every replica runs one. On PostgreSQL they skip rows another replica holds
//! (`SKIP LOCKED`), so running several is safe and only adds capacity.

use std::time::Duration;

use crate::domain;
use crate::state::AppState;
use crate::store;

/// Runs forever (until the task is aborted), one pass per reaper interval.
pub async fn run(state: AppState) {
    let mut interval = tokio::time::interval(Duration::from_millis(state.cfg.reaper_interval_ms));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(err) = pass(&state).await {
            tracing::warn!(error = ?err, "reaper pass failed; retrying next interval");
        }
    }
}

/// One pass: reaps expired leases in batches until none is left, then agents.
pub async fn pass(state: &AppState) -> Result<(), crate::error::DomainError> {
    loop {
        let reaped = domain::tasks::reap_expired_leases(state, store::now()).await?;
        if reaped > 0 {
            tracing::info!(reaped, "re-queued or failed tasks whose lease expired");
        }
        if reaped < 200 {
            break;
        }
    }
    let offline = domain::agents::mark_silent_offline(state).await?;
    if offline > 0 {
        tracing::info!(offline, "agents went offline");
    }
    Ok(())
}
