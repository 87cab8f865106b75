//! Schedules: a task template and when to create it (a cron expression in a time zone,
//! an interval, or one time). Every API replica fires due schedules; a due row is
//! claimed with `FOR UPDATE SKIP LOCKED` (PostgreSQL), and the task it creates carries
//! an idempotency key made of the schedule's id and due time, so each due time makes one
//! task whatever the number of replicas.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000012_schedules"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE schedules (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    template jsonb NOT NULL,
    cron text,
    every_seconds bigint CHECK (every_seconds > 0),
    run_at timestamptz,
    time_zone text NOT NULL,
    missed text NOT NULL CHECK (missed IN ('skip', 'run_once')),
    paused boolean NOT NULL,
    next_run_at timestamptz,
    last_run_at timestamptz,
    last_task_id uuid,
    runs bigint NOT NULL DEFAULT 0,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CHECK ((cron IS NOT NULL)::int + (every_seconds IS NOT NULL)::int + (run_at IS NOT NULL)::int = 1)
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE NOT paused AND next_run_at IS NOT NULL;
CREATE INDEX schedules_project ON schedules (project_id)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE schedules (
    id blob PRIMARY KEY NOT NULL,
    name text NOT NULL,
    project_id blob NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    template text NOT NULL,
    cron text,
    every_seconds integer CHECK (every_seconds > 0),
    run_at text,
    time_zone text NOT NULL,
    missed text NOT NULL CHECK (missed IN ('skip', 'run_once')),
    paused boolean NOT NULL,
    next_run_at text,
    last_run_at text,
    last_task_id blob,
    runs integer NOT NULL DEFAULT 0,
    created_by blob NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    CHECK ((cron IS NOT NULL) + (every_seconds IS NOT NULL) + (run_at IS NOT NULL) = 1)
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE NOT paused AND next_run_at IS NOT NULL;
CREATE INDEX schedules_project ON schedules (project_id)
"#;

const DOWN: &str = "DROP TABLE schedules";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
