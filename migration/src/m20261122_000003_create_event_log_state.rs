//! The event log's bookkeeping: how far retention has pruned it, so a reader resuming
//! from before that point is told its cursor expired instead of silently missing events.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000003_create_event_log_state"
    }
}

// One row: every event with an id at or below `pruned_through` may have been deleted.
const POSTGRES_UP: &str = r#"
CREATE TABLE event_log_state (
    id smallint PRIMARY KEY CHECK (id = 1),
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO event_log_state (id, pruned_through) VALUES (1, 0)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE event_log_state (
    id integer PRIMARY KEY NOT NULL CHECK (id = 1),
    pruned_through integer NOT NULL DEFAULT 0
);
INSERT INTO event_log_state (id, pruned_through) VALUES (1, 0)
"#;

const DOWN: &str = "DROP TABLE event_log_state";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
