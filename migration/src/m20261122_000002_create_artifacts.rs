//! Artifacts: metadata of the files agents attach to tasks and projects. The bytes live
//! in the artifact store (a local directory or an S3 bucket), keyed by the artifact's id.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261122_000002_create_artifacts"
    }
}

// Deleting a project (or its tasks) deletes their artifact rows by cascade; the bytes they
// leave behind have no row any more and are removed by the storage sweep.
const POSTGRES_UP: &str = r#"
CREATE TABLE artifacts (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    task_id uuid REFERENCES tasks (id) ON DELETE CASCADE,
    name text NOT NULL,
    content_type text NOT NULL,
    size bigint NOT NULL CHECK (size >= 0),
    sha256 text NOT NULL,
    created_by uuid,
    created_at timestamptz NOT NULL
);
CREATE INDEX artifacts_project ON artifacts (project_id, id);
CREATE INDEX artifacts_task ON artifacts (task_id, id)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE artifacts (
    id blob PRIMARY KEY NOT NULL,
    project_id blob NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    task_id blob REFERENCES tasks (id) ON DELETE CASCADE,
    name text NOT NULL,
    content_type text NOT NULL,
    size integer NOT NULL CHECK (size >= 0),
    sha256 text NOT NULL,
    created_by blob,
    created_at text NOT NULL
);
CREATE INDEX artifacts_project ON artifacts (project_id, id);
CREATE INDEX artifacts_task ON artifacts (task_id, id)
"#;

const DOWN: &str = "DROP TABLE artifacts";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
