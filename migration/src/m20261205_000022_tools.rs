//! Tools agents write for themselves: a script with its input schema and tests, one row
//! per version (`name`, `version` unique), with a review status (`pending_review`,
//! `approved`, `rejected`, `retired`) and a usage record. The task it was made in (and
//! that task's project and agent) is kept so that a pending tool is offered to that task
//! only. A create may carry an idempotency key, unique per creating key.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000022_tools"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE tools (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    version integer NOT NULL,
    description text NOT NULL,
    input_schema jsonb NOT NULL,
    runtime text NOT NULL CHECK (runtime IN ('sh', 'python')),
    source text NOT NULL,
    tests jsonb NOT NULL,
    status text NOT NULL CHECK (status IN ('pending_review', 'approved', 'rejected', 'retired')),
    author_agent_id uuid,
    task_id uuid,
    project_id uuid,
    usage_count bigint NOT NULL,
    failure_count bigint NOT NULL,
    last_error text,
    last_used_at timestamptz,
    reviewed_by text,
    review_reason text,
    reviewed_at timestamptz,
    created_by uuid,
    idempotency_key text,
    request_hash text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX tools_name_version ON tools (name, version);
CREATE INDEX tools_status ON tools (status, id);
CREATE INDEX tools_task ON tools (task_id, id);
CREATE UNIQUE INDEX tools_idempotency ON tools (created_by, idempotency_key)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE tools (
    id blob PRIMARY KEY NOT NULL,
    name text NOT NULL,
    version integer NOT NULL,
    description text NOT NULL,
    input_schema text NOT NULL,
    runtime text NOT NULL CHECK (runtime IN ('sh', 'python')),
    source text NOT NULL,
    tests text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending_review', 'approved', 'rejected', 'retired')),
    author_agent_id blob,
    task_id blob,
    project_id blob,
    usage_count integer NOT NULL,
    failure_count integer NOT NULL,
    last_error text,
    last_used_at text,
    reviewed_by text,
    review_reason text,
    reviewed_at text,
    created_by blob,
    idempotency_key text,
    request_hash text,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE UNIQUE INDEX tools_name_version ON tools (name, version);
CREATE INDEX tools_status ON tools (status, id);
CREATE INDEX tools_task ON tools (task_id, id);
CREATE UNIQUE INDEX tools_idempotency ON tools (created_by, idempotency_key)
"#;

const DOWN: &str = "DROP TABLE tools";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
