//! Budgets on a persona (`subject`: its id) and on a persona owner (`subject`: the owner
//! as the persona records them): two more values of `budgets.applies_to`.
//!
//! PostgreSQL replaces the column's CHECK constraint. SQLite cannot alter a CHECK, so
//! the table is rebuilt: the new table is filled from the old one, which is dropped and
//! the new one renamed in its place. Dropping `budgets` cascades to its periods and
//! reservation legs (foreign keys are on), so those are kept aside in plain tables
//! first and put back after, as they were.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000021_persona_budgets"
    }
}

const POSTGRES_UP: &str = r#"
ALTER TABLE budgets DROP CONSTRAINT budgets_applies_to_check;
ALTER TABLE budgets ADD CONSTRAINT budgets_applies_to_check
    CHECK (applies_to IN ('all', 'proactive', 'reactive', 'agent', 'project', 'user',
                          'persona', 'owner'))
"#;

const POSTGRES_DOWN: &str = r#"
DELETE FROM budgets WHERE applies_to IN ('persona', 'owner');
ALTER TABLE budgets DROP CONSTRAINT budgets_applies_to_check;
ALTER TABLE budgets ADD CONSTRAINT budgets_applies_to_check
    CHECK (applies_to IN ('all', 'proactive', 'reactive', 'agent', 'project', 'user'))
"#;

/// The SQLite rebuild with `$TARGETS` the allowed `applies_to` values.
const SQLITE_REBUILD: &str = r#"
CREATE TABLE budgets_rebuilt (
    id blob PRIMARY KEY NOT NULL,
    name text NOT NULL UNIQUE,
    applies_to text NOT NULL CHECK (applies_to IN ($TARGETS)),
    subject text,
    period text NOT NULL CHECK (period IN ('day', 'month')),
    time_zone text NOT NULL,
    limit_tokens integer NOT NULL CHECK (limit_tokens > 0),
    limit_cost_micros integer CHECK (limit_cost_micros > 0),
    enabled boolean NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL
);
INSERT INTO budgets_rebuilt (id, name, applies_to, subject, period, time_zone, limit_tokens,
        limit_cost_micros, enabled, created_at, updated_at)
    SELECT id, name, applies_to, subject, period, time_zone, limit_tokens, limit_cost_micros,
           enabled, created_at, updated_at
    FROM budgets WHERE applies_to IN ($TARGETS);
CREATE TABLE budget_periods_kept AS SELECT * FROM budget_periods
    WHERE budget_id IN (SELECT id FROM budgets_rebuilt);
CREATE TABLE budget_reservation_legs_kept AS SELECT * FROM budget_reservation_legs
    WHERE budget_id IN (SELECT id FROM budgets_rebuilt);
DROP TABLE budgets;
ALTER TABLE budgets_rebuilt RENAME TO budgets;
INSERT INTO budget_periods (budget_id, period_start, used_tokens, reserved_tokens,
        used_cost_micros, reserved_cost_micros, warned, exhausted)
    SELECT budget_id, period_start, used_tokens, reserved_tokens, used_cost_micros,
           reserved_cost_micros, warned, exhausted
    FROM budget_periods_kept;
INSERT INTO budget_reservation_legs (reservation_id, budget_id, period_start)
    SELECT reservation_id, budget_id, period_start FROM budget_reservation_legs_kept;
DROP TABLE budget_periods_kept;
DROP TABLE budget_reservation_legs_kept
"#;

const OLD_TARGETS: &str = "'all', 'proactive', 'reactive', 'agent', 'project', 'user'";
const NEW_TARGETS: &str =
    "'all', 'proactive', 'reactive', 'agent', 'project', 'user', 'persona', 'owner'";

#[expect(
    elided_lifetimes_in_paths,
    reason = "the async_trait signature must match MigrationTrait's exactly"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        migrate(manager, POSTGRES_UP, NEW_TARGETS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        migrate(manager, POSTGRES_DOWN, OLD_TARGETS).await
    }
}

/// `postgres` on PostgreSQL; on SQLite the rebuild allowing `targets`, sent as one script
/// so that all of it runs on one connection (a rollback runs outside a transaction, and
/// another connection of the pool would not see the table renamed in its place).
async fn migrate(manager: &SchemaManager<'_>, postgres: &str, targets: &str) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::DbBackend;
    match manager.get_database_backend() {
        DbBackend::Sqlite => {
            let script = SQLITE_REBUILD.replace("$TARGETS", targets);
            manager.get_connection().execute_unprepared(&script).await?;
            Ok(())
        }
        _ => crate::run_for_backend(manager, postgres, "").await,
    }
}
