//! Migrations apply and roll back on both backends.

use sea_orm::{ConnectionTrait, Statement};

use agentops_testkit::{Backend, TestDb};

async fn table_names(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        }
    };
    db.query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect()
}

async fn migrations_go_up_down_and_up_again(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let db = agentops_api::store::connect(&test_db.url, 2).await.unwrap();
    agentops_api::store::migrate(&db).await.unwrap();
    let tables = table_names(&db).await;
    for table in [
        "agents",
        "api_keys",
        "events",
        "projects",
        "task_dependencies",
        "task_labels",
        "tasks",
    ] {
        assert!(
            tables.contains(&table.to_owned()),
            "{table} missing from {tables:?}"
        );
    }
    // Applying again is a no-op.
    agentops_api::store::migrate(&db).await.unwrap();

    agentops_api::store::migrate_down(&db, None).await.unwrap();
    let tables = table_names(&db).await;
    assert_eq!(
        tables,
        ["seaql_migrations"],
        "only the bookkeeping table is left"
    );

    agentops_api::store::migrate(&db).await.unwrap();
    assert!(table_names(&db).await.contains(&"tasks".to_owned()));
    db.close().await.unwrap();
}

async fn concurrent_starts_migrate_once(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let mut handles = Vec::new();
    for _ in 0..4 {
        let url = test_db.url.clone();
        handles.push(tokio::spawn(async move {
            let db = agentops_api::store::connect(&url, 2).await.unwrap();
            agentops_api::store::migrate(&db).await
        }));
    }
    for handle in handles {
        handle
            .await
            .unwrap()
            .expect("every concurrent migration succeeds");
    }
}

/// `sql` with `$n` placeholders run with `values` on `db`'s backend.
async fn run(db: &sea_orm::DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) {
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => sql.to_owned(),
        _ => sql.replace('$', "?"),
    };
    db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap();
}

/// How many migrations to roll back so that `name` is undone (it and every later one).
fn steps_to_undo(name: &str) -> u32 {
    use migration::MigratorTrait;
    let names: Vec<String> = migration::Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let at = names
        .iter()
        .position(|n| n == name)
        .expect("a known migration");
    (names.len() - at) as u32
}

async fn count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

/// The migration that lets budgets target personas rebuilds SQLite's `budgets` table:
/// a budget's spend in its current period and the reservations holding room in it are
/// all still there after it (dropping the old table would otherwise cascade to them),
/// and undoing it keeps them too.
async fn the_persona_budgets_migration_keeps_periods_and_reservations(backend: Backend) {
    let test_db = TestDb::create(backend).await;
    let db = agentops_api::store::connect(&test_db.url, 2).await.unwrap();
    agentops_api::store::migrate(&db).await.unwrap();
    let steps = steps_to_undo("m20261205_000021_persona_budgets");
    agentops_api::store::migrate_down(&db, Some(steps))
        .await
        .unwrap();
    let (budget, reservation) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::hours(1);
    run(
        &db,
        "INSERT INTO budgets (id, name, applies_to, subject, period, time_zone, limit_tokens, \
         enabled, created_at, updated_at) VALUES ($1, 'team', 'all', NULL, 'day', 'UTC', 1000, \
         true, $2, $2)",
        vec![budget.into(), now.into()],
    )
    .await;
    run(
        &db,
        "INSERT INTO budget_periods (budget_id, period_start, used_tokens, reserved_tokens) \
         VALUES ($1, $2, 300, 200)",
        vec![budget.into(), start.into()],
    )
    .await;
    run(
        &db,
        "INSERT INTO budget_reservations (id, created_at, expires_at, state, tokens, \
         cost_micros, scope) VALUES ($1, $2, $2, 'held', 200, 0, 'reactive')",
        vec![reservation.into(), now.into()],
    )
    .await;
    run(
        &db,
        "INSERT INTO budget_reservation_legs (reservation_id, budget_id, period_start) \
         VALUES ($1, $2, $3)",
        vec![reservation.into(), budget.into(), start.into()],
    )
    .await;
    let kept = "SELECT (SELECT COUNT(*) FROM budgets) + \
                (SELECT COUNT(*) FROM budget_periods WHERE used_tokens = 300 AND reserved_tokens = 200) + \
                (SELECT COUNT(*) FROM budget_reservation_legs) AS n";
    assert_eq!(count(&db, kept).await, 3);

    agentops_api::store::migrate(&db).await.unwrap();
    assert_eq!(count(&db, kept).await, 3, "kept through the rebuild");
    run(
        &db,
        "INSERT INTO budgets (id, name, applies_to, subject, period, time_zone, limit_tokens, \
         enabled, created_at, updated_at) VALUES ($1, 'bard', 'persona', 'x', 'day', 'UTC', 10, \
         true, $2, $2)",
        vec![uuid::Uuid::now_v7().into(), now.into()],
    )
    .await;
    // Deleting a budget still deletes its periods: the rebuilt table is the one referenced.
    run(
        &db,
        "DELETE FROM budgets WHERE id = $1",
        vec![budget.into()],
    )
    .await;
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM budget_periods").await,
        0,
        "the periods go with their budget"
    );
    agentops_api::store::migrate_down(&db, Some(steps))
        .await
        .unwrap();
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM budgets").await,
        0,
        "a budget on a persona cannot stay when the target is gone"
    );
    db.close().await.unwrap();
}

crate::on_both_backends!(
    the_persona_budgets_migration_keeps_periods_and_reservations,
    migrations_go_up_down_and_up_again,
    concurrent_starts_migrate_once
);
