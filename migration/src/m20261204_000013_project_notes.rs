//! Project notes: short texts kept on a project under a key (`chief` for what the Chief
//! of Staff learned about it), every write a new version, so agents remember across
//! cycles and people can see what changed.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000013_project_notes"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE project_notes (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key text NOT NULL,
    version bigint NOT NULL CHECK (version > 0),
    text text NOT NULL,
    written_by uuid,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, key, version)
)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE project_notes (
    project_id blob NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key text NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    text text NOT NULL,
    written_by blob,
    created_at text NOT NULL,
    PRIMARY KEY (project_id, key, version)
)
"#;

const DOWN: &str = "DROP TABLE project_notes";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
