//! Database migrations for AgentOps, for both SQLite (embedded default) and PostgreSQL.
//!
//! Each migration carries hand-written SQL for each backend rather than a portable
//! builder: the two backends need different types (`uuid`/`jsonb`/`timestamptz` versus
//! SQLite's affinities) and different id generation for the event log, and reading the
//! exact DDL is worth more here than portability we would not use.
//!
//! This crate owns the schema and nothing else: no queries, no business rules.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_core;
mod m20261122_000002_create_artifacts;

/// The ordered list of AgentOps migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_core::Migration),
            Box::new(m20261122_000002_create_artifacts::Migration),
        ]
    }
}

/// Runs each `;`-separated statement of `sql` in order.
pub(crate) async fn run_sql(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}
