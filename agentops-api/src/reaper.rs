//! The background reaper: ends attempts whose lease expired, tells previews that
//! expired, marks silent agents offline, prunes events past their retention and session
//! keys that ended.
//!
//! Every replica runs one. On PostgreSQL they skip rows another replica holds
//! (`SKIP LOCKED`), so running several is safe and only adds capacity.

use std::time::Duration;

use crate::domain;
use crate::domain::Context;
use crate::store;

/// Runs forever (until the task is aborted), one pass per reaper interval.
pub async fn run(state: Context) {
    let mut interval = tokio::time::interval(Duration::from_millis(state.cfg.reaper_interval_ms));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        interval.tick().await;
        if let Err(err) = pass(&state).await {
            tracing::warn!(error = ?err, "reaper pass failed; retrying next interval");
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(tokio::time::Instant::now());
            if let Err(err) = prune_events(&state).await {
                tracing::warn!(error = ?err, "event pruning failed; retrying later");
            }
            if let Err(err) = prune_sessions(&state).await {
                tracing::warn!(error = ?err, "session pruning failed; retrying later");
            }
        }
    }
}

const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Deletes events older than the retention period, in batches.
pub async fn prune_events(state: &Context) -> Result<u64, crate::error::DomainError> {
    let retention =
        chrono::Duration::days(i64::try_from(state.cfg.event_retention_days).unwrap_or(36_500));
    let cutoff = store::now() - retention;
    let mut total = 0;
    loop {
        let tx = store::Tx::begin(&state.db).await?;
        let pruned = store::events::prune_before(tx.conn(), cutoff, 10_000).await?;
        tx.commit().await?;
        total += pruned;
        if pruned < 10_000 {
            break;
        }
    }
    if total > 0 {
        tracing::info!(pruned = total, "pruned events past their retention");
    }
    Ok(total)
}

/// How long an ended session key (signed out, expired, or revoked with its key) is kept
/// before it is deleted.
pub const ENDED_SESSIONS_KEPT: chrono::Duration = chrono::Duration::days(1);

/// Deletes session keys that ended more than [`ENDED_SESSIONS_KEPT`] ago: every sign-in
/// to the dashboard makes one, and they would otherwise pile up for good.
pub async fn prune_sessions(state: &Context) -> Result<u64, crate::error::DomainError> {
    let pruned =
        store::keys::prune_ended_sessions(&state.db, store::now() - ENDED_SESSIONS_KEPT).await?;
    if pruned > 0 {
        tracing::info!(pruned, "deleted session keys that ended");
    }
    Ok(pruned)
}

/// One pass: reaps expired leases in batches until none is left, then agents.
pub async fn pass(state: &Context) -> Result<(), crate::error::DomainError> {
    loop {
        let reaped = domain::tasks::reap_expired_leases(state, store::now()).await?;
        if reaped > 0 {
            tracing::info!(reaped, "re-queued or failed tasks whose lease expired");
        }
        if reaped < 200 {
            break;
        }
    }
    let fired = domain::schedules::fire_due(state).await?;
    if fired > 0 {
        tracing::info!(fired, "schedules created their tasks");
    }
    let released = domain::budgets::release_expired(state).await?;
    if released > 0 {
        tracing::info!(released, "released budget reservations that expired");
    }
    let expired = domain::previews::tell_expired(state).await?;
    if expired > 0 {
        tracing::info!(expired, "previews expired");
    }
    let offline = domain::agents::mark_silent_offline(state).await?;
    if offline > 0 {
        tracing::info!(offline, "agents went offline");
    }
    Ok(())
}
