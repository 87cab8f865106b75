//! Previews tell their expiry: `expiry_told` is set, and a `preview.expired` event
//! emitted, by the reaper pass that finds a preview past `expires_at` (once, whichever
//! replica finds it). Previews that expired before this migration are told on the first
//! pass after it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000024_preview_expiry"
    }
}

const POSTGRES_UP: &str = r#"
ALTER TABLE previews ADD COLUMN expiry_told boolean NOT NULL DEFAULT false;
CREATE INDEX previews_untold ON previews (expires_at) WHERE NOT stopped AND NOT expiry_told
"#;

const SQLITE_UP: &str = r#"
ALTER TABLE previews ADD COLUMN expiry_told boolean NOT NULL DEFAULT false;
CREATE INDEX previews_untold ON previews (expires_at) WHERE stopped = 0 AND expiry_told = 0
"#;

const DOWN: &str = r#"
DROP INDEX previews_untold;
ALTER TABLE previews DROP COLUMN expiry_told
"#;

sql_migration!(postgres: POSTGRES_UP, sqlite: SQLITE_UP, down: DOWN);
