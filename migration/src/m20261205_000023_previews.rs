//! Previews: a server a task started in its sandbox, proxied by the platform at
//! `/preview/<short_id>/` to `upstream` until `expires_at`. `short_id` is unique; the
//! token opens it without an API key (it is shown to whoever may read the preview).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000023_previews"
    }
}

const POSTGRES_UP: &str = r#"
CREATE TABLE previews (
    id uuid PRIMARY KEY,
    task_id uuid NOT NULL,
    project_id uuid NOT NULL,
    short_id text NOT NULL,
    token text NOT NULL,
    upstream text NOT NULL,
    port integer,
    stopped boolean NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    stopped_at timestamptz
);
CREATE UNIQUE INDEX previews_short_id ON previews (short_id);
CREATE INDEX previews_task ON previews (task_id, id)
"#;

const SQLITE_UP: &str = r#"
CREATE TABLE previews (
    id blob PRIMARY KEY NOT NULL,
    task_id blob NOT NULL,
    project_id blob NOT NULL,
    short_id text NOT NULL,
    token text NOT NULL,
    upstream text NOT NULL,
    port integer,
    stopped boolean NOT NULL,
    expires_at text NOT NULL,
    created_at text NOT NULL,
    stopped_at text
);
CREATE UNIQUE INDEX previews_short_id ON previews (short_id);
CREATE INDEX previews_task ON previews (task_id, id)
"#;

const DOWN: &str = "DROP TABLE previews";

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
