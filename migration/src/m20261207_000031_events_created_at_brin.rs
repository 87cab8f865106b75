//! `events_created_at` becomes a BRIN index on PostgreSQL.
//!
//! Only retention reads events by age (`store::events::prune_before`: the oldest ones,
//! in id order, older than a cutoff). Events are appended in time order, so a block
//! range index (a few bytes per 128 pages) finds them as well as a B-tree did, and
//! costs nothing per event written: the B-tree took an entry, a page lock and a WAL
//! record for every event, on the hot path of every write (two events per task claimed
//! and completed). With nothing older than the cutoff the pruner's read still answers at
//! once (a bitmap scan of the block ranges), and with old events it walks the log in id
//! order as before.
//!
//! SQLite keeps its B-tree: it has no BRIN.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000031_events_created_at_brin"
    }
}

postgres_only_migration! {
    up: [
        "DROP INDEX IF EXISTS events_created_at",
        "CREATE INDEX events_created_at ON events USING brin (created_at)",
    ],
    down: [
        "DROP INDEX IF EXISTS events_created_at",
        "CREATE INDEX events_created_at ON events (created_at)",
    ],
}
