//! Repeat-safe messages: a thread message remembers the `Idempotency-Key` it was posted
//! with and a fingerprint of that request, so a message is stored once however often it
//! is sent: a client that retries after losing the answer, the Chief of Staff reporting
//! a plan done from several replicas or after a restart, the Telegram bot posting an
//! update that Telegram delivered twice.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000016_message_idempotency"
    }
}

// A key is unique per API key that posted with it, as for projects, tasks and artifacts
// (not per thread: the request fingerprint covers the thread, so the same key in another
// thread is refused as reused rather than silently making a second message). Messages
// posted without a key (NULL) are left out of the index.
const UP: &str = r#"
ALTER TABLE thread_messages ADD COLUMN idempotency_key text;
ALTER TABLE thread_messages ADD COLUMN request_hash text;
CREATE UNIQUE INDEX thread_messages_idempotency ON thread_messages (created_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL
"#;

const DOWN: &str = r#"
DROP INDEX thread_messages_idempotency;
ALTER TABLE thread_messages DROP COLUMN request_hash;
ALTER TABLE thread_messages DROP COLUMN idempotency_key
"#;

sql_migration!(postgres: UP, sqlite: UP, down: DOWN);
