//! The event outbox (PostgreSQL only): write transactions put their events here, and the
//! sequencer moves them into `events`, numbering them in the order it moves them.
//!
//! Writers then never wait for each other: ids are given out after commit, by one short
//! transaction at a time, instead of inside every writer's transaction under a global
//! lock (see `agentops-api/src/store/events.rs`). SQLite has one writer at a time, so it
//! keeps writing to `events` directly and gets no outbox.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261203_000008_event_outbox"
    }
}

// `seq` only orders the rows the sequencer moves in one batch; it is never shown.
const POSTGRES_UP: &str = r#"
CREATE TABLE event_outbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type text NOT NULL,
    created_at timestamptz NOT NULL,
    project_id uuid,
    task_id uuid,
    agent_id uuid,
    data jsonb NOT NULL
) WITH (
    -- Every row is deleted within milliseconds of its insert: vacuum it often, so the
    -- sequencer's scan from the head of the index does not walk a long trail of dead
    -- entries between autovacuum's default thresholds.
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_cost_delay = 0
)
"#;

const SQLITE_UP: &str = "";

const DOWN: &str = "DROP TABLE IF EXISTS event_outbox";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
