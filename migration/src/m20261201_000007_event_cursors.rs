//! Saved event cursors: a long-running consumer of the event stream (the Telegram bot, a
//! webhook forwarder, a dashboard's notifier) records the id of the last event it has
//! handled under a name, and resumes after it when it restarts, instead of starting at
//! the stream's head and silently skipping what happened while it was down.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000007_event_cursors"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE event_cursors (
    name text PRIMARY KEY,
    last_id bigint NOT NULL CHECK (last_id >= 0),
    updated_by uuid,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE event_cursors (
    name text PRIMARY KEY NOT NULL,
    last_id integer NOT NULL CHECK (last_id >= 0),
    updated_by blob,
    created_at text NOT NULL,
    updated_at text NOT NULL
)
"#;

const DOWN: &str = "DROP TABLE event_cursors";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
