//! `agentops_has_dependents(task)`: whether any task depends on `task`, asked in a
//! snapshot of its own.
//!
//! A completion asks it in its `UPDATE … RETURNING`, for each row it completed, and
//! looks for waiting dependents to release only where the answer is yes, which saves
//! a statement (a round trip) per completing transaction in the usual case of no
//! dependents. The answer has to come from a fresh snapshot: a dependent's creator
//! holds its upstream locked while it writes the dependency, so a completion of that
//! upstream waits for the creator to commit, and the `UPDATE`'s own snapshot, taken
//! before that wait, would not see the new dependency. A `VOLATILE` function takes a
//! new snapshot for each statement it runs (PostgreSQL's "Function Volatility
//! Categories"), here after the row lock was granted; PL/pgSQL keeps it from being
//! inlined into the calling statement. A creator that comes after the completion
//! waits for it, and then sees the upstream completed.
//!
//! SQLite has one writer, so the statement's own view is enough there; nothing to
//! create.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000028_dependents_seen_by_completion"
    }
}

const HAS_DEPENDENTS: &str = r#"
CREATE FUNCTION agentops_has_dependents(task uuid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM task_dependencies d WHERE d.depends_on = task);
END
$$
"#;

postgres_only_migration! {
    up: [HAS_DEPENDENTS],
    down: ["DROP FUNCTION agentops_has_dependents(uuid)"],
}
