//! Many claimers at once: every task is handed out and completed exactly once.

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use agentops_testkit::{Backend, TestApp, id_of};

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

/// Claims and completions that arrive together share a transaction (group commit), and
/// each is still answered as it would be alone: with one lane, sixteen agents claiming
/// and completing at once go through in fewer commits than requests; a stale token in a
/// shared batch is refused on its own; a completion repeated while the first is in
/// flight gets the completed task; every change has its one event.
async fn writes_that_arrive_together_share_commits_and_keep_their_own_outcomes(backend: Backend) {
    use agentops_api::metrics::WriteLabels;

    let app = Arc::new(TestApp::spawn_with(backend, |cfg| cfg.write_lanes = 1).await);
    let project = app.create_project("group-commit").await;
    let agents = 16;
    for i in 0..agents {
        app.create_task(project, json!({ "title": format!("g{i}") }))
            .await;
    }
    let mut agent_ids = Vec::new();
    for i in 0..agents {
        agent_ids.push(app.register_agent(&format!("grouped-{i}")).await);
    }
    let claims = futures_util::future::join_all(agent_ids.iter().map(|&agent| {
        let app = app.clone();
        async move { app.claim(agent, json!({ "lease_seconds": 300 })).await }
    }))
    .await;
    let claimed: Vec<(Uuid, String)> = claims
        .iter()
        .map(|tasks| {
            assert_eq!(tasks.len(), 1, "each agent got its own task: {tasks:?}");
            (
                id_of(&tasks[0]),
                tasks[0]["claim_token"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let distinct: std::collections::HashSet<Uuid> = claimed.iter().map(|(id, _)| *id).collect();
    assert_eq!(distinct.len(), agents, "no task was handed out twice");

    // Every task completed at once, the first one twice over, plus a stale token.
    let mut calls: Vec<(Uuid, String, StatusCode)> = claimed
        .iter()
        .map(|(id, token)| (*id, token.clone(), StatusCode::OK))
        .collect();
    calls.push((claimed[0].0, claimed[0].1.clone(), StatusCode::OK));
    calls.push((
        claimed[1].0,
        Uuid::new_v4().to_string(),
        StatusCode::CONFLICT,
    ));
    let answers = futures_util::future::join_all(calls.iter().map(|(id, token, _)| {
        let app = app.clone();
        async move {
            app.post(
                &format!("/api/v1/tasks/{id}/complete"),
                json!({ "claim_token": token, "result": { "id": id } }),
            )
            .await
        }
    }))
    .await;
    for ((id, _, expected), (status, body)) in calls.iter().zip(&answers) {
        assert_eq!(status, expected, "{id}: {body}");
        if *status == StatusCode::OK {
            assert_eq!(body["id"], id.to_string());
            assert_eq!(body["status"], "completed");
            assert_eq!(body["result"]["id"], id.to_string(), "its own result");
        } else {
            assert_eq!(body["error"]["code"], "stale_claim");
        }
    }

    let events = app.events().await;
    for kind in ["task.claimed", "task.completed"] {
        let mut ids: Vec<&str> = events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.data["id"].as_str().unwrap())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(
            events.iter().filter(|e| e.kind == kind).count(),
            agents,
            "one {kind} per task"
        );
        assert_eq!(ids.len(), agents, "{kind}: one per task");
    }
    let metrics = &app.state.metrics;
    for (kind, calls) in [("claim", agents), ("complete", agents + 2)] {
        let labels = WriteLabels { kind };
        let batches = metrics.write_batches.get_or_create(&labels).get();
        let carried = metrics.write_batch_calls.get_or_create(&labels).get();
        assert_eq!(carried, calls as u64, "{kind}: every call was carried once");
        assert!(
            batches < carried,
            "{kind}: {carried} calls took {batches} commits"
        );
    }

    // Claims with different filters in one batch: each is dealt only what it asked for,
    // and larger limits take more, until the tasks run out.
    for kind in ["alpha", "beta"] {
        for i in 0..4 {
            app.create_task(
                project,
                json!({ "title": format!("{kind}{i}"), "kind": kind }),
            )
            .await;
        }
    }
    let asks: Vec<(Uuid, &str, u32)> = agent_ids
        .iter()
        .take(8)
        .enumerate()
        .map(|(i, &agent)| {
            if i % 2 == 0 {
                (agent, "alpha", 2)
            } else {
                (agent, "beta", 1)
            }
        })
        .collect();
    let dealt = futures_util::future::join_all(asks.iter().map(|&(agent, kind, limit)| {
        let app = app.clone();
        async move {
            app.claim(
                agent,
                json!({ "kinds": [kind], "limit": limit, "lease_seconds": 300 }),
            )
            .await
        }
    }))
    .await;
    let mut per_kind: HashMap<&str, usize> = HashMap::new();
    for ((_, kind, limit), tasks) in asks.iter().zip(&dealt) {
        assert!(tasks.len() <= *limit as usize, "{tasks:?}");
        for task in tasks {
            assert_eq!(task["kind"], *kind, "a claim got a task it did not ask for");
        }
        *per_kind.entry(kind).or_default() += tasks.len();
    }
    assert_eq!(
        per_kind["alpha"], 4,
        "four alpha claims of two share four tasks"
    );
    assert_eq!(per_kind["beta"], 4, "four beta claims of one take one each");
}

crate::on_both_backends!(writes_that_arrive_together_share_commits_and_keep_their_own_outcomes);

/// A row being updated is locked `FOR NO KEY UPDATE`: other writers of that row wait, but
/// writes that only reference it do not (PostgreSQL's foreign-key checks take
/// `FOR KEY SHARE`). So an agent's heartbeat does not hold up its claims, a project's
/// rename does not hold up the tasks being created in it, and a task's transition does
/// not hold up what is attached to it. Deleting a project locks it `FOR UPDATE`, which
/// does hold them up: no task slips in between its emptiness check and its delete.
#[tokio::test]
async fn updates_leave_writes_that_reference_the_row_free_and_deletes_hold_them() {
    use agentops_api::store;
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};

    let app = TestApp::spawn(Backend::Postgres).await;
    let project = app.create_project("locks").await;
    let agent = app.register_agent("locked-agent").await;
    let task = id_of(&app.create_task(project, json!({})).await);
    let db = &app.state.db;
    // What a foreign-key check takes on the row it points at, but failing at once
    // instead of waiting.
    let key_share = |table: &'static str, id: Uuid| {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT 1 FROM {table} WHERE id = $1 FOR KEY SHARE NOWAIT"),
            [id.into()],
        ))
    };
    // A request that would wait behind a lock fails the test instead of hanging it.
    let patience = std::time::Duration::from_secs(30);

    let held = db.begin().await.expect("begin");
    let locked = (
        store::agents::find_for_update(&held, agent).await,
        store::projects::find_for_update(&held, project).await,
        store::tasks::find_for_update(&held, task).await,
    );
    assert!(matches!(locked, (Ok(Some(_)), Ok(Some(_)), Ok(Some(_)))));
    for (table, id) in [("agents", agent), ("projects", project), ("tasks", task)] {
        key_share(table, id)
            .await
            .unwrap_or_else(|err| panic!("a reference to the locked {table} row waits: {err}"));
    }
    // For real, through the API, while the locks are held: a task is created in the
    // project and claimed by the agent (the claim writes the agent's id on the task).
    let created = tokio::time::timeout(patience, app.create_task(project, json!({})))
        .await
        .expect("creating a task waited for the project's update lock");
    let claimed = tokio::time::timeout(patience, app.claim(agent, json!({})))
        .await
        .expect("claiming waited for the agent's update lock");
    assert_eq!(
        claimed.iter().map(id_of).collect::<Vec<_>>(),
        vec![id_of(&created)],
        "the claim skips the locked task and takes the new one"
    );
    held.rollback().await.expect("rollback");

    let deleting = db.begin().await.expect("begin");
    assert!(matches!(
        store::projects::find_for_delete(&deleting, project).await,
        Ok(Some(_))
    ));
    let refused = key_share("projects", project).await;
    assert!(
        refused.is_err(),
        "a task could be inserted into a project being deleted"
    );
    deleting.rollback().await.expect("rollback");
}
