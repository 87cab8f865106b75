//! Repeat-safe uploads: an artifact remembers the `Idempotency-Key` it was uploaded with
//! and a fingerprint of that upload, so a client that retries after losing the answer
//! gets the first artifact back instead of a second copy.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000004_artifact_idempotency"
    }
}

// A key is unique per API key that uploaded with it, as for projects and tasks; rows
// without a key (NULL) never collide.
const UP: &str = r#"
ALTER TABLE artifacts ADD COLUMN idempotency_key text;
ALTER TABLE artifacts ADD COLUMN request_hash text;
CREATE UNIQUE INDEX artifacts_idempotency ON artifacts (created_by, idempotency_key)
"#;

const DOWN: &str = r#"
DROP INDEX artifacts_idempotency;
ALTER TABLE artifacts DROP COLUMN request_hash;
ALTER TABLE artifacts DROP COLUMN idempotency_key
"#;

sql_migration!(postgres: UP, sqlite: UP, down: DOWN);
