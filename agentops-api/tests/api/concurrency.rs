//! Many claimers at once: every task is handed out and completed exactly once.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, id_of};

/// `claimers` agents race over `tasks` tasks with batch claims; afterwards every task is
/// completed, none was claimed twice, none was lost.
async fn concurrent_claimers_complete_every_task_exactly_once(
    backend: Backend,
    tasks: usize,
    claimers: usize,
) {
    let app = Arc::new(TestApp::spawn(backend).await);
    let project = app.create_project("load").await;
    let mut all = Vec::with_capacity(tasks);
    // Create in parallel batches to keep set-up short.
    for chunk in (0..tasks).collect::<Vec<_>>().chunks(50) {
        let created = futures_util::future::join_all(chunk.iter().map(|i| {
            let app = app.clone();
            async move {
                id_of(
                    &app.create_task(project, json!({ "title": format!("t{i}") }))
                        .await,
                )
            }
        }))
        .await;
        all.extend(created);
    }

    let mut workers = Vec::new();
    for w in 0..claimers {
        let app = app.clone();
        workers.push(tokio::spawn(async move {
            let agent = app.register_agent(&format!("claimer-{w}")).await;
            let mut completed: Vec<Uuid> = Vec::new();
            let mut empty_rounds = 0;
            while empty_rounds < 3 {
                let batch = app
                    .claim(agent, json!({ "limit": 5, "lease_seconds": 300 }))
                    .await;
                if batch.is_empty() {
                    empty_rounds += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                empty_rounds = 0;
                for task in batch {
                    let id = id_of(&task);
                    let token = task["claim_token"].as_str().unwrap();
                    let (status, body) = app
                        .post(
                            &format!("/api/v1/tasks/{id}/complete"),
                            json!({ "claim_token": token, "result": { "by": w } }),
                        )
                        .await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                    completed.push(id);
                }
            }
            completed
        }));
    }
    let mut completions: HashMap<Uuid, usize> = HashMap::new();
    for worker in workers {
        for id in worker.await.unwrap() {
            *completions.entry(id).or_default() += 1;
        }
    }

    assert_eq!(completions.len(), tasks, "every task was completed");
    assert!(
        completions.values().all(|&n| n == 1),
        "no task was completed twice"
    );
    for id in &all {
        assert!(completions.contains_key(id), "task {id} was lost");
    }
    let events = app.events().await;
    let claimed = events.iter().filter(|e| e.kind == "task.claimed").count();
    let done = events.iter().filter(|e| e.kind == "task.completed").count();
    assert_eq!(claimed, tasks, "no task was claimed twice");
    assert_eq!(done, tasks);
    // Event ids are strictly increasing in the log.
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    let remaining = app.get_ok("/api/v1/tasks?status=running").await;
    assert!(
        remaining["items"].as_array().unwrap().is_empty(),
        "no task is left claimed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_claimers_over_two_thousand_tasks_on_postgres() {
    concurrent_claimers_complete_every_task_exactly_once(Backend::Postgres, 2000, 32).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_claimers_over_three_hundred_tasks_on_sqlite() {
    concurrent_claimers_complete_every_task_exactly_once(Backend::Sqlite, 300, 8).await;
}
