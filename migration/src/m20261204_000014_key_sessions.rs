//! Sessions: short-lived keys made from another key (the dashboard's login), so a person
//! pastes a long-lived key once and the browser holds only something that expires, can
//! be ended on its own (logout), and dies with the key it came from.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000014_key_sessions"
    }
}

const POSTGRES_UP: &str = r#"
ALTER TABLE api_keys ADD COLUMN parent_id uuid REFERENCES api_keys (id);
CREATE INDEX api_keys_parent ON api_keys (parent_id) WHERE parent_id IS NOT NULL;
"#;

const SQLITE_UP: &str = r#"
-- No REFERENCES: SQLite cannot drop a column that a foreign key names (down).
ALTER TABLE api_keys ADD COLUMN parent_id blob;
CREATE INDEX api_keys_parent ON api_keys (parent_id) WHERE parent_id IS NOT NULL;
"#;

const DOWN: &str = r#"
DROP INDEX api_keys_parent;
ALTER TABLE api_keys DROP COLUMN parent_id;
"#;

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
