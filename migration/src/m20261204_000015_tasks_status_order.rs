//! Tasks of one status, newest first, straight from an index: the dashboard's and the
//! API's `GET /tasks?status=…` page. `(status, id)` replaces the index on `status`
//! alone (which also served the counts per status), so a write touches no more indexes
//! than before.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261204_000015_tasks_status_order"
    }
}

const UP: &str = r#"
CREATE INDEX tasks_status_id ON tasks (status, id);
DROP INDEX tasks_status;
"#;

const DOWN: &str = r#"
CREATE INDEX tasks_status ON tasks (status);
DROP INDEX tasks_status_id;
"#;

sql_migration!(postgres: UP, sqlite: UP, down: DOWN);
