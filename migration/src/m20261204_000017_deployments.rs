//! Deployments: the platform's own releases, each moving through its steps (`building`,
//! `testing`, `deploying`) to a final status (`healthy`, `rolled_back`, `failed`), so
//! the self-update loop can tell operators how a release went. A create may carry an
//! idempotency key, unique per creating key, as projects' do.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000017_deployments"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE deployments (
    id uuid PRIMARY KEY,
    git_sha text NOT NULL,
    branch text,
    status text NOT NULL CHECK (status IN ('building', 'testing', 'deploying', 'healthy', 'rolled_back', 'failed')),
    report text,
    metadata jsonb NOT NULL,
    created_by uuid,
    idempotency_key text,
    request_hash text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE UNIQUE INDEX deployments_idempotency ON deployments (created_by, idempotency_key);
CREATE INDEX deployments_status ON deployments (status, id)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE deployments (
    id blob PRIMARY KEY NOT NULL,
    git_sha text NOT NULL,
    branch text,
    status text NOT NULL CHECK (status IN ('building', 'testing', 'deploying', 'healthy', 'rolled_back', 'failed')),
    report text,
    metadata text NOT NULL,
    created_by blob,
    idempotency_key text,
    request_hash text,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    finished_at text
);
CREATE UNIQUE INDEX deployments_idempotency ON deployments (created_by, idempotency_key);
CREATE INDEX deployments_status ON deployments (status, id)
"#;

const DOWN: &str = "DROP TABLE deployments";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
