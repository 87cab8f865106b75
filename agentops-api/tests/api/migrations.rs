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

crate::on_both_backends!(
    migrations_go_up_down_and_up_again,
    concurrent_starts_migrate_once
);
