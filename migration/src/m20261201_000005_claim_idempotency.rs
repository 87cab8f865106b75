//! Repeat-safe claims: a running task remembers the `Idempotency-Key` of the claim that
//! holds its lease, so an agent that lost the answer to a claim and repeats it gets the
//! same tasks (and claim tokens) back, instead of leaving them to wait out their lease
//! and use up an attempt.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000005_claim_idempotency"
    }
}

// Only running tasks are looked up by their claim's key, so only they are indexed.
const UP: &str = r#"
ALTER TABLE tasks ADD COLUMN claim_key text;
CREATE INDEX tasks_claim_key ON tasks (agent_id, claim_key) WHERE status = 'running'
"#;

const DOWN: &str = r#"
DROP INDEX tasks_claim_key;
ALTER TABLE tasks DROP COLUMN claim_key
"#;

sql_migration!(postgres: UP, sqlite: UP, down: DOWN);
