//! The core schema: API keys, projects, tasks (with labels and dependencies), agents and
//! the event log.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000001_create_core"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'agent', 'viewer')),
    prefix text NOT NULL,
    secret_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    revoked_at timestamptz
);

CREATE TABLE projects (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    description text,
    metadata jsonb NOT NULL,
    created_by uuid,
    idempotency_key text,
    request_hash text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX projects_idempotency ON projects (created_by, idempotency_key);

CREATE TABLE agents (
    id uuid PRIMARY KEY,
    name text NOT NULL UNIQUE,
    kind text NOT NULL,
    capabilities jsonb NOT NULL,
    version text,
    metadata jsonb NOT NULL,
    status text NOT NULL CHECK (status IN ('online', 'offline')),
    last_heartbeat_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE tasks (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title text NOT NULL,
    description text,
    kind text NOT NULL,
    labels jsonb NOT NULL,
    priority integer NOT NULL,
    input jsonb NOT NULL,
    status text NOT NULL CHECK (status IN ('waiting', 'queued', 'running', 'blocked', 'completed', 'failed', 'cancelled')),
    attempts integer NOT NULL,
    max_attempts integer NOT NULL,
    agent_id uuid REFERENCES agents (id) ON DELETE SET NULL,
    claim_token uuid,
    lease_seconds integer,
    lease_expires_at timestamptz,
    not_before timestamptz,
    progress double precision,
    progress_message text,
    result jsonb,
    error text,
    block_reason text,
    created_by uuid,
    idempotency_key text,
    request_hash text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    started_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX tasks_claimable ON tasks (priority DESC, created_at, id) WHERE status = 'queued';
CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_status ON tasks (status);
CREATE INDEX tasks_project ON tasks (project_id, id);
CREATE INDEX tasks_agent ON tasks (agent_id);
CREATE UNIQUE INDEX tasks_idempotency ON tasks (created_by, idempotency_key);

CREATE TABLE task_labels (
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    label text NOT NULL,
    PRIMARY KEY (task_id, label)
);
CREATE INDEX task_labels_label ON task_labels (label, task_id);

CREATE TABLE task_dependencies (
    task_id uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    depends_on uuid NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on)
);
CREATE INDEX task_dependencies_upstream ON task_dependencies (depends_on);

CREATE TABLE events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type text NOT NULL,
    created_at timestamptz NOT NULL,
    project_id uuid,
    task_id uuid,
    agent_id uuid,
    data jsonb NOT NULL
);
CREATE INDEX events_created_at ON events (created_at);
CREATE INDEX events_task ON events (task_id, id);
CREATE INDEX events_project ON events (project_id, id)
"#;

// SQLite: uuids are 16-byte blobs, JSON is text, times are RFC 3339 text in UTC (which
// sorts chronologically). `AUTOINCREMENT` keeps event ids from ever being reused, even
// after retention deletes the newest rows.
const SQLITE_UP: &str = r#"
CREATE TABLE api_keys (
    id blob PRIMARY KEY NOT NULL,
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'agent', 'viewer')),
    prefix text NOT NULL,
    secret_hash text NOT NULL UNIQUE,
    created_at text NOT NULL,
    expires_at text,
    revoked_at text
);

CREATE TABLE projects (
    id blob PRIMARY KEY NOT NULL,
    name text NOT NULL,
    description text,
    metadata text NOT NULL,
    created_by blob,
    idempotency_key text,
    request_hash text,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
CREATE UNIQUE INDEX projects_idempotency ON projects (created_by, idempotency_key);

CREATE TABLE agents (
    id blob PRIMARY KEY NOT NULL,
    name text NOT NULL UNIQUE,
    kind text NOT NULL,
    capabilities text NOT NULL,
    version text,
    metadata text NOT NULL,
    status text NOT NULL CHECK (status IN ('online', 'offline')),
    last_heartbeat_at text NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
);

CREATE TABLE tasks (
    id blob PRIMARY KEY NOT NULL,
    project_id blob NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title text NOT NULL,
    description text,
    kind text NOT NULL,
    labels text NOT NULL,
    priority integer NOT NULL,
    input text NOT NULL,
    status text NOT NULL CHECK (status IN ('waiting', 'queued', 'running', 'blocked', 'completed', 'failed', 'cancelled')),
    attempts integer NOT NULL,
    max_attempts integer NOT NULL,
    agent_id blob REFERENCES agents (id) ON DELETE SET NULL,
    claim_token blob,
    lease_seconds integer,
    lease_expires_at text,
    not_before text,
    progress real,
    progress_message text,
    result text,
    error text,
    block_reason text,
    created_by blob,
    idempotency_key text,
    request_hash text,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    started_at text,
    finished_at text
);
CREATE INDEX tasks_claimable ON tasks (priority DESC, created_at, id) WHERE status = 'queued';
CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE status = 'running';
CREATE INDEX tasks_status ON tasks (status);
CREATE INDEX tasks_project ON tasks (project_id, id);
CREATE INDEX tasks_agent ON tasks (agent_id);
CREATE UNIQUE INDEX tasks_idempotency ON tasks (created_by, idempotency_key);

CREATE TABLE task_labels (
    task_id blob NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    label text NOT NULL,
    PRIMARY KEY (task_id, label)
);
CREATE INDEX task_labels_label ON task_labels (label, task_id);

CREATE TABLE task_dependencies (
    task_id blob NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    depends_on blob NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    PRIMARY KEY (task_id, depends_on)
);
CREATE INDEX task_dependencies_upstream ON task_dependencies (depends_on);

CREATE TABLE events (
    id integer PRIMARY KEY AUTOINCREMENT,
    type text NOT NULL,
    created_at text NOT NULL,
    project_id blob,
    task_id blob,
    agent_id blob,
    data text NOT NULL
);
CREATE INDEX events_created_at ON events (created_at);
CREATE INDEX events_task ON events (task_id, id);
CREATE INDEX events_project ON events (project_id, id)
"#;

const DOWN: &str = r#"
DROP TABLE events;
DROP TABLE task_dependencies;
DROP TABLE task_labels;
DROP TABLE tasks;
DROP TABLE agents;
DROP TABLE projects;
DROP TABLE api_keys
"#;

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
