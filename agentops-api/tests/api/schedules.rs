//! Schedules: tasks created on a cron expression, an interval or once; exactly one task
//! per due time however many replicas fire them; missed runs skipped or run once.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use agentops_testkit::{Backend, TestApp, id_of};

async fn scheduled_tasks(app: &TestApp, schedule: &str) -> Vec<Value> {
    let page = app
        .get_ok(&format!(
            "/api/v1/tasks?label=schedule:{schedule}&limit=200"
        ))
        .await;
    page["items"].as_array().cloned().unwrap_or_default()
}

/// A schedule of `project` due every hour (next due an hour from now); its id.
pub(crate) async fn hourly_schedule(app: &TestApp, project: uuid::Uuid) -> String {
    let created = app
        .post_ok(
            "/api/v1/schedules",
            json!({"name": "hourly", "project_id": project, "every_seconds": 3600,
                   "task": {"title": "tick"}}),
            StatusCode::CREATED,
        )
        .await;
    id_of(&created).to_string()
}

async fn wait_for_runs(app: &TestApp, schedule: &str, runs: u64) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = app.get_ok(&format!("/api/v1/schedules/{schedule}")).await;
        if got["runs"].as_u64().unwrap_or(0) >= runs {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ran {runs} times: {got}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Puts the schedule's next due time at `at` (as a restart after an outage finds it).
async fn set_next_run(app: &TestApp, schedule: &str, at: chrono::DateTime<chrono::Utc>) {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "UPDATE schedules SET next_run_at = $1 WHERE id = $2",
        _ => "UPDATE schedules SET next_run_at = ?1 WHERE id = ?2",
    };
    let id: uuid::Uuid = schedule.parse().unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [at.into(), id.into()],
    ))
    .await
    .unwrap();
}

async fn a_cron_schedule_creates_its_tasks_until_paused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("Ops").await;
    let created = app
        .post_ok(
            "/api/v1/schedules",
            json!({"name": "heartbeat", "project_id": project, "cron": "* * * * * *",
                   "task": {"title": "ping", "kind": "ops", "labels": ["routine"],
                            "input": {"url": "http://example.com"}}}),
            StatusCode::CREATED,
        )
        .await;
    let id = id_of(&created).to_string();
    assert_eq!(created["status"], "active");
    assert_eq!(created["missed"], "skip");
    assert!(created["next_run_at"].is_string());
    assert!(
        created["description"].as_str().unwrap().contains("UTC"),
        "{created}"
    );

    let ran = wait_for_runs(&app, &id, 2).await;
    let tasks = scheduled_tasks(&app, &id).await;
    assert_eq!(
        tasks.len() as u64,
        ran["runs"].as_u64().unwrap(),
        "{tasks:?}"
    );
    let task = &tasks[0];
    assert_eq!(task["title"], "ping");
    assert_eq!(task["kind"], "ops");
    assert_eq!(task["input"]["url"], "http://example.com");
    let labels = task["labels"].as_array().unwrap();
    assert!(
        labels.contains(&json!("routine")) && labels.contains(&json!(format!("schedule:{id}")))
    );
    assert!(ran["last_task_id"].is_string());

    let paused = app
        .post_ok(
            &format!("/api/v1/schedules/{id}/pause"),
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(paused["status"], "paused");
    let runs = app.get_ok(&format!("/api/v1/schedules/{id}")).await["runs"].clone();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.get_ok(&format!("/api/v1/schedules/{id}")).await["runs"],
        runs
    );
    let resumed = app
        .post_ok(
            &format!("/api/v1/schedules/{id}/resume"),
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(resumed["status"], "active");
    wait_for_runs(&app, &id, runs.as_u64().unwrap() + 1).await;

    let fired = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == "schedule.fired")
        .count();
    assert!(fired >= 2, "{fired}");

    let (status, _) = app
        .call(Method::DELETE, &format!("/api/v1/schedules/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "schedule_not_found");
    assert!(
        !scheduled_tasks(&app, &id).await.is_empty(),
        "its tasks stay"
    );
}

async fn schedules_are_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("Ops").await;
    let task = json!({"title": "t"});
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    for (body, field) in [
        (
            json!({"name": "x", "project_id": project, "task": task}),
            "cron",
        ),
        (
            json!({"name": "x", "project_id": project, "task": task, "cron": "0 9 * * *", "every_seconds": 3600}),
            "cron",
        ),
        (
            json!({"name": "x", "project_id": project, "task": task, "cron": "every day at nine"}),
            "cron",
        ),
        (
            json!({"name": "x", "project_id": project, "task": task, "every_seconds": 5}),
            "every_seconds",
        ),
        (
            json!({"name": "x", "project_id": project, "task": task, "at": past}),
            "at",
        ),
        (
            json!({"name": "x", "project_id": project, "task": task, "cron": "0 9 * * *", "time_zone": "Moon/Base"}),
            "time_zone",
        ),
        (
            json!({"name": "x", "project_id": project, "task": {"title": ""}, "cron": "0 9 * * *"}),
            "task.title",
        ),
        (
            json!({"name": "", "project_id": project, "task": task, "cron": "0 9 * * *"}),
            "name",
        ),
    ] {
        let (status, answer) = app.post("/api/v1/schedules", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {answer}"
        );
        assert_eq!(answer["error"]["details"][0]["field"], field, "{answer}");
    }
    let (status, answer) = app
        .post(
            "/api/v1/schedules",
            json!({"name": "x", "project_id": uuid::Uuid::now_v7(), "task": task, "cron": "0 9 * * *"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    // Weekdays at nine in Paris: in winter, 08:00 UTC.
    let weekday = app
        .post_ok(
            "/api/v1/schedules",
            json!({"name": "report", "project_id": project, "task": task,
                   "cron": "0 9 * * MON-FRI", "time_zone": "Europe/Paris"}),
            StatusCode::CREATED,
        )
        .await;
    let next: chrono::DateTime<chrono::Utc> =
        weekday["next_run_at"].as_str().unwrap().parse().unwrap();
    let local = next.with_timezone(&chrono_tz::Europe::Paris);
    assert_eq!(local.format("%H:%M").to_string(), "09:00");
    assert!(!["Sat", "Sun"].contains(&local.format("%a").to_string().as_str()));
    let once = app
        .post_ok(
            "/api/v1/schedules",
            json!({"name": "remind", "project_id": project, "task": task,
                   "at": (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339()}),
            StatusCode::CREATED,
        )
        .await;
    let id = id_of(&once).to_string();
    let done = wait_for_runs(&app, &id, 1).await;
    assert_eq!(done["status"], "finished");
    assert_eq!(done["next_run_at"], Value::Null);
    let listed = app
        .get_ok(&format!("/api/v1/schedules?project_id={project}"))
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    let viewer = app.create_key("viewer").await;
    let (status, _) = app
        .call_as(
            Some(&viewer),
            Method::POST,
            &format!("/api/v1/schedules/{id}/pause"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn missed_runs_are_skipped_or_run_once_and_never_twice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("Ops").await;
    let mut ids = Vec::new();
    for missed in ["skip", "run_once"] {
        let created = app
            .post_ok(
                "/api/v1/schedules",
                json!({"name": missed, "project_id": project, "task": {"title": missed},
                       "every_seconds": 3600, "missed": missed}),
                StatusCode::CREATED,
            )
            .await;
        ids.push(id_of(&created).to_string());
    }
    // The platform was down for three and a half hours across their due times (half an
    // hour off the hourly grid, so the next run on the grid is half an hour away, never
    // a few milliseconds away when the reaper happens to run at a grid point).
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(3) - chrono::Duration::minutes(30);
    for id in &ids {
        set_next_run(&app, id, long_ago).await;
    }
    let run_once = wait_for_runs(&app, &ids[1], 1).await;
    assert_eq!(
        scheduled_tasks(&app, &ids[1]).await.len(),
        1,
        "one run for all the missed ones"
    );
    let next: chrono::DateTime<chrono::Utc> =
        run_once["next_run_at"].as_str().unwrap().parse().unwrap();
    assert!(next > chrono::Utc::now(), "then on from now: {next}");
    let skip = app.get_ok(&format!("/api/v1/schedules/{}", ids[0])).await;
    assert_eq!(skip["runs"], 0);
    assert!(
        skip["next_run_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            > chrono::Utc::now()
    );
    assert!(scheduled_tasks(&app, &ids[0]).await.is_empty());

    // A replica that created the task and died before moving the schedule on: the next
    // pass finds the same due time and makes no second task.
    let fired_at = long_ago;
    set_next_run(&app, &ids[1], fired_at).await;
    agentops_api::domain::schedules::fire_due(&app.state)
        .await
        .unwrap();
    assert_eq!(
        scheduled_tasks(&app, &ids[1]).await.len(),
        1,
        "idempotent per due time"
    );
}

crate::on_both_backends!(
    a_cron_schedule_creates_its_tasks_until_paused,
    schedules_are_validated,
    missed_runs_are_skipped_or_run_once_and_never_twice,
);

/// Pausing a schedule while a replica fires it keeps the run that firing records: the
/// pause waits for the firing to commit and saves the row it left, not an older copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_while_a_replica_fires_keeps_its_run_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let project = app.create_project("Ops").await;
    let id = hourly_schedule(&app, project).await;
    // A replica firing it: the row held as a firing pass holds it, its run recorded,
    // not yet committed.
    let firing = [
        format!("SELECT id FROM schedules WHERE id = '{id}' FOR UPDATE"),
        format!(
            "UPDATE schedules SET runs = runs + 1, last_run_at = now(), \
             next_run_at = next_run_at + interval '1 hour' WHERE id = '{id}'"
        ),
    ];
    let pause_path = format!("/api/v1/schedules/{id}/pause");
    let (status, paused) = app
        .while_held(&firing, app.post(&pause_path, json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["runs"], 1, "{paused}");
    let schedule = app.get_ok(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(
        schedule["runs"], 1,
        "the firing's run was undone: {schedule}"
    );
    assert_eq!(schedule["status"], "paused", "{schedule}");
    assert!(!schedule["last_run_at"].is_null(), "{schedule}");
}

/// A due time whose task cannot be created for want of the database (here, no pool
/// connection within the acquire timeout) is not skipped: the schedule stays due, and
/// the next pass creates the task and records the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_failure_leaves_the_run_due_on_postgres() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn_with(Backend::Postgres, |cfg| {
        cfg.db_max_connections = 2;
        cfg.db_acquire_timeout_secs = 1;
        // Only this test fires the schedule.
        cfg.reaper_interval_ms = 3_600_000;
    })
    .await;
    let project = app.create_project("Ops").await;
    let id = hourly_schedule(&app, project).await;
    let due = chrono::Utc::now() - chrono::Duration::seconds(1);
    set_next_run(&app, &id, due).await;
    let before = app.get_ok(&format!("/api/v1/schedules/{id}")).await;
    // One of the pool's two connections held: the pass's claim takes the other, and
    // its task's transaction finds none.
    let held = app.state.db.begin().await.unwrap();
    let fired = agentops_api::domain::schedules::fire_due(&app.state)
        .await
        .unwrap();
    assert_eq!(fired, 0);
    held.rollback().await.unwrap();
    let after = app.get_ok(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(after["runs"], 0, "{after}");
    assert_eq!(
        after["next_run_at"], before["next_run_at"],
        "the due time was skipped: {after}"
    );
    assert!(scheduled_tasks(&app, &id).await.is_empty());
    let fired = agentops_api::domain::schedules::fire_due(&app.state)
        .await
        .unwrap();
    assert_eq!(fired, 1);
    let after = app.get_ok(&format!("/api/v1/schedules/{id}")).await;
    assert_eq!(after["runs"], 1, "{after}");
    assert_eq!(scheduled_tasks(&app, &id).await.len(), 1);
}

/// Deleting a project while a replica fires one of its schedules: the firing holds the
/// schedule while its task is created in a transaction of its own, which needs the
/// project row. The delete waits for the firing without holding that row, so the task
/// is created, the firing ends, and the delete is refused (the project has a task now)
/// rather than the two waiting on each other for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_project_while_its_schedule_fires_does_not_hang_on_postgres() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(Backend::Postgres).await;
    let project = app.create_project("Ops").await;
    let id = hourly_schedule(&app, project).await;
    // The firing: the schedule held as a pass holds it; its task comes next.
    let firing = app.state.db.begin().await.unwrap();
    firing
        .execute_unprepared(&format!(
            "SELECT id FROM schedules WHERE id = '{id}' FOR UPDATE"
        ))
        .await
        .unwrap();
    let path = format!("/api/v1/projects/{project}");
    let delete = app.call(Method::DELETE, &path, None);
    let fire = async {
        app.until_blocked_by(&firing).await;
        // The firing's task, in a transaction of its own.
        let task = tokio::time::timeout(
            Duration::from_secs(10),
            app.post(
                "/api/v1/tasks",
                json!({"project_id": project, "title": "tick"}),
            ),
        )
        .await;
        firing.commit().await.unwrap();
        task
    };
    let ((status, deleted), task) = tokio::join!(delete, fire);
    let (task_status, task) =
        task.expect("the firing's task waited on the delete, which waited on the firing");
    assert_eq!(task_status, StatusCode::CREATED, "{task}");
    assert_eq!(status, StatusCode::CONFLICT, "{deleted}");
    assert_eq!(deleted["error"]["code"], "project_not_empty");
}

/// Eight "replicas" fire the same every-second schedule as fast as they can for three
/// seconds: each due time makes exactly one task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_replicas_fire_each_due_time_once_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let project = app.create_project("Ops").await;
    let created = app
        .post_ok(
            "/api/v1/schedules",
            json!({"name": "tick", "project_id": project, "cron": "* * * * * *",
                   "task": {"title": "tick"}}),
            StatusCode::CREATED,
        )
        .await;
    let id = id_of(&created).to_string();
    let stop = tokio::time::Instant::now() + Duration::from_secs(3);
    let mut replicas = Vec::new();
    for _ in 0..8 {
        let state = app.state.clone();
        replicas.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < stop {
                agentops_api::domain::schedules::fire_due(&state)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    for replica in replicas {
        replica.await.unwrap();
    }
    // The server's own reaper fires it too: pausing waits for a pass that holds the
    // schedule (its task and its run commit together with respect to us) and stops the
    // rest, so the counts below are read at rest.
    app.post_ok(
        &format!("/api/v1/schedules/{id}/pause"),
        json!({}),
        StatusCode::OK,
    )
    .await;
    let schedule = app.get_ok(&format!("/api/v1/schedules/{id}")).await;
    let runs = schedule["runs"].as_u64().unwrap();
    let tasks = scheduled_tasks(&app, &id).await;
    assert_eq!(tasks.len() as u64, runs, "one task per recorded run");
    assert!(
        (2..=5).contains(&runs),
        "{runs} runs in three seconds of a per-second schedule"
    );
    let fired = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == "schedule.fired")
        .count() as u64;
    assert_eq!(fired, runs);
}
