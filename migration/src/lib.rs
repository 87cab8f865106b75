//! Database migrations for AgentOps, for both SQLite (embedded default) and PostgreSQL.
//!
//! Each migration carries hand-written SQL for each backend rather than a portable
//! builder: the two backends need different types (`uuid`/`jsonb`/`timestamptz` versus
//! SQLite's affinities) and different id generation for the event log, and reading the
//! exact DDL is worth more here than portability we would not use.
//!
//! This crate owns the schema and nothing else: no queries, no business rules.

pub use sea_orm_migration::prelude::*;

/// Implements `MigrationTrait` for the module's `Migration` with hand-written SQL: one
/// script per backend going up, one script going down.
macro_rules! sql_migration {
    (postgres: $postgres:expr, sqlite: $sqlite:expr, down: $down:expr $(,)?) => {
        #[expect(
            elided_lifetimes_in_paths,
            reason = "the async_trait signature must match MigrationTrait's exactly"
        )]
        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::run_for_backend(manager, $postgres, $sqlite).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::run_sql(manager, $down).await
            }
        }
    };
}

/// Implements `MigrationTrait` for a migration only PostgreSQL needs (database functions,
/// the event outbox): each statement runs whole, in order (function bodies hold
/// semicolons); SQLite has nothing to do.
macro_rules! postgres_only_migration {
    (up: [$($up:expr),* $(,)?], down: [$($down:expr),* $(,)?] $(,)?) => {
        #[expect(
            elided_lifetimes_in_paths,
            reason = "the async_trait signature must match MigrationTrait's exactly"
        )]
        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::run_on_postgres(manager, &[$($up),*]).await
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                $crate::run_on_postgres(manager, &[$($down),*]).await
            }
        }
    };
}

mod m20261122_000001_create_core;
mod m20261122_000002_create_artifacts;
mod m20261122_000003_create_event_log_state;
mod m20261201_000004_artifact_idempotency;
mod m20261201_000005_claim_idempotency;
mod m20261201_000006_threads_and_approvals;
mod m20261201_000007_event_cursors;
mod m20261203_000008_event_outbox;
mod m20261203_000009_write_functions;
mod m20261204_000010_lock_claimants;
mod m20261204_000011_usage_and_budgets;
mod m20261204_000012_schedules;
mod m20261204_000013_project_notes;
mod m20261204_000014_key_sessions;
mod m20261204_000015_tasks_status_order;
mod m20261204_000016_message_idempotency;
mod m20261204_000017_deployments;
mod m20261204_000018_pairings;
mod m20261205_000019_personas;
mod m20261205_000020_persona_bots;
mod m20261205_000021_persona_budgets;
mod m20261205_000022_tools;
mod m20261205_000023_previews;
mod m20261205_000024_preview_expiry;
mod m20261205_000025_sequencer_by_index;
mod m20261206_000026_append_returns_ids;
mod m20261206_000027_events_written_once;
mod m20261206_000028_dependents_seen_by_completion;
mod m20261207_000029_append_draws_in_a_loop;
mod m20261207_000030_claim_round;
mod m20261207_000031_events_created_at_brin;

/// The ordered list of AgentOps migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_core::Migration),
            Box::new(m20261122_000002_create_artifacts::Migration),
            Box::new(m20261122_000003_create_event_log_state::Migration),
            Box::new(m20261201_000004_artifact_idempotency::Migration),
            Box::new(m20261201_000005_claim_idempotency::Migration),
            Box::new(m20261201_000006_threads_and_approvals::Migration),
            Box::new(m20261201_000007_event_cursors::Migration),
            Box::new(m20261203_000008_event_outbox::Migration),
            Box::new(m20261203_000009_write_functions::Migration),
            Box::new(m20261204_000010_lock_claimants::Migration),
            Box::new(m20261204_000011_usage_and_budgets::Migration),
            Box::new(m20261204_000012_schedules::Migration),
            Box::new(m20261204_000013_project_notes::Migration),
            Box::new(m20261204_000014_key_sessions::Migration),
            Box::new(m20261204_000015_tasks_status_order::Migration),
            Box::new(m20261204_000016_message_idempotency::Migration),
            Box::new(m20261204_000017_deployments::Migration),
            Box::new(m20261204_000018_pairings::Migration),
            Box::new(m20261205_000019_personas::Migration),
            Box::new(m20261205_000020_persona_bots::Migration),
            Box::new(m20261205_000021_persona_budgets::Migration),
            Box::new(m20261205_000022_tools::Migration),
            Box::new(m20261205_000023_previews::Migration),
            Box::new(m20261205_000024_preview_expiry::Migration),
            Box::new(m20261205_000025_sequencer_by_index::Migration),
            Box::new(m20261206_000026_append_returns_ids::Migration),
            Box::new(m20261206_000027_events_written_once::Migration),
            Box::new(m20261206_000028_dependents_seen_by_completion::Migration),
            Box::new(m20261207_000029_append_draws_in_a_loop::Migration),
            Box::new(m20261207_000030_claim_round::Migration),
            Box::new(m20261207_000031_events_created_at_brin::Migration),
        ]
    }
}

/// Runs `postgres` or `sqlite` (each `;`-separated statements), whichever matches the
/// connection's backend; any other backend is refused.
pub(crate) async fn run_for_backend(
    manager: &SchemaManager<'_>,
    postgres: &str,
    sqlite: &str,
) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::DbBackend;
    match manager.get_database_backend() {
        DbBackend::Postgres => run_sql(manager, postgres).await,
        DbBackend::Sqlite => run_sql(manager, sqlite).await,
        other => Err(DbErr::Migration(format!(
            "unsupported database backend {other:?}: use SQLite or PostgreSQL"
        ))),
    }
}

/// Runs each `;`-separated statement of `sql` in order.
/// Runs each of `statements` whole, in order, on PostgreSQL; nothing on other backends.
pub(crate) async fn run_on_postgres(
    manager: &SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::DbBackend;
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}

pub(crate) async fn run_sql(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}
