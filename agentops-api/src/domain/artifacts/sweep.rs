//! The sweep: abandoned uploads and objects without a row are removed, on a timer.

use super::*;

/// What one sweep pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Abandoned uploads removed (temporary files, multipart uploads).
    pub stale_uploads: u64,
    /// Objects without a row removed.
    pub orphans: u64,
}

/// Removes what crashes leave in the store: uploads abandoned for `older_than`, and
/// objects older than that without a row (a crash between finalising an object and
/// recording it, or between deleting a row and its object; and the objects of artifacts
/// deleted with their project).
///
/// An object can be without a row for a moment in normal operation too (finalised, row
/// not yet committed; S3 dates a multipart object from the start of its upload), so an
/// orphan is deleted only if it still has no row after `recheck_after`. Every replica may
/// sweep: deleting is idempotent.
pub async fn sweep(
    state: &Context,
    older_than: Duration,
    recheck_after: Duration,
) -> Result<SweepReport, ArtifactError> {
    let cutoff = SystemTime::now()
        .checked_sub(older_than)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let stale_uploads = state.storage.remove_stale_uploads(cutoff).await?;
    let orphans = without_rows(state, state.storage.list_objects(cutoff).await?).await?;
    let mut removed = 0;
    if !orphans.is_empty() {
        tokio::time::sleep(recheck_after).await;
        for id in without_rows(state, orphans).await? {
            state.storage.delete(id).await?;
            removed += 1;
        }
    }
    Ok(SweepReport {
        stale_uploads,
        orphans: removed,
    })
}

async fn without_rows(state: &Context, ids: Vec<Uuid>) -> Result<Vec<Uuid>, ArtifactError> {
    let mut orphans = Vec::new();
    for batch in ids.chunks(500) {
        let existing: HashSet<Uuid> = store::artifacts::existing(&state.db, batch)
            .await?
            .into_iter()
            .collect();
        orphans.extend(batch.iter().filter(|id| !existing.contains(id)));
    }
    Ok(orphans)
}

/// Sweeps at start and then every [`ORPHAN_AGE`], until aborted.
pub async fn run_sweeper(state: Context) {
    loop {
        match sweep(&state, ORPHAN_AGE, ORPHAN_RECHECK).await {
            Ok(report) if report != SweepReport::default() => {
                tracing::info!(
                    stale_uploads = report.stale_uploads,
                    orphans = report.orphans,
                    "removed abandoned artifact uploads and objects"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "artifact sweep failed; retrying later"),
        }
        tokio::time::sleep(ORPHAN_AGE).await;
    }
}
