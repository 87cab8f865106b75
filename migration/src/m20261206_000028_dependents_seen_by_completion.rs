//! `agentops_with_dependents(tasks)`: those of `tasks` that any task depends on, asked
//! in a snapshot of its own.
//!
//! A completion asks it once, about every row its `UPDATE` completed, in the same
//! statement (the argument reads the whole `UPDATE`'s output, so the update, with any
//! lock waits, is over before the call), and looks for waiting dependents to release
//! only for those rows, which saves a statement (a round trip) per completing
//! transaction in the usual case of no dependents.
//!
//! The answer has to come from a fresh snapshot: a dependent's creator holds its
//! upstream locked while it writes the dependency, so a completion of that upstream
//! waits for the creator to commit, and the `UPDATE`'s own snapshot, taken before that
//! wait, would not see the new dependency. A `VOLATILE` function takes a new snapshot
//! for each statement it runs (PostgreSQL's "Function Volatility Categories"), here
//! after the rows' locks were granted; PL/pgSQL keeps it from being inlined into the
//! calling statement. A creator that comes after the completion
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

const WITH_DEPENDENTS: &str = r#"
CREATE FUNCTION agentops_with_dependents(tasks uuid[]) RETURNS uuid[]
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN ARRAY(SELECT DISTINCT d.depends_on FROM task_dependencies d
                 WHERE d.depends_on = ANY (tasks));
END
$$
"#;

postgres_only_migration! {
    up: [WITH_DEPENDENTS],
    down: ["DROP FUNCTION agentops_with_dependents(uuid[])"],
}
