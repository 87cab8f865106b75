//! Projects.

use reqwest::{Method, StatusCode};
use serde_json::json;

use agentops_testkit::{Backend, TestApp, id_of};

async fn projects_can_be_created_read_changed_listed_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .post_ok(
            "/api/v1/projects",
            json!({ "name": "Launch", "description": "go", "metadata": { "owner": "ana" } }),
            StatusCode::CREATED,
        )
        .await;
    let id = id_of(&created);
    assert_eq!(app.get_ok(&format!("/api/v1/projects/{id}")).await, created);

    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/projects/{id}"),
            Some(json!({ "name": "Launch v2" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["name"], "Launch v2");
    assert_eq!(patched["description"], "go");

    for i in 0..4 {
        app.create_project(&format!("p{i}")).await;
    }
    let first = app.get_ok("/api/v1/projects?limit=3").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app
        .get_ok(&format!("/api/v1/projects?limit=3&cursor={cursor}"))
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert!(second["next_cursor"].is_null());
    assert_eq!(second["items"][1]["id"], created["id"], "oldest last");

    // A project with unfinished tasks cannot be deleted; once they are finished it can.
    let task = app.create_task(id, json!({})).await;
    let (status, body) = app
        .call(Method::DELETE, &format!("/api/v1/projects/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "project_not_empty");
    app.post_ok(
        &format!("/api/v1/tasks/{}/cancel", task["id"].as_str().unwrap()),
        json!({}),
        StatusCode::OK,
    )
    .await;
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/v1/projects/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/projects/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    let kinds: Vec<String> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.project_id == Some(id))
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "project.created",
            "project.updated",
            "task.created",
            "task.cancelled",
            "project.deleted"
        ]
    );
}

crate::on_both_backends!(projects_can_be_created_read_changed_listed_and_deleted);

/// A request the database picks as a deadlock's victim is answered 503 `unavailable`
/// (its transaction was undone, so sending it again is safe), not 500; sent again, it
/// succeeds. The deadlock: a rename holds the project and then wants its schedule, while
/// the delete holds the schedule and waits for the project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_victim_is_told_to_retry_on_postgres() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn(Backend::Postgres).await;
    let project = app.create_project("Ops").await;
    let schedule = crate::schedules::hourly_schedule(&app, project).await;
    let rename = app.state.db.begin().await.unwrap();
    for sql in [
        // This session never looks for deadlocks: the request's session finds it.
        "SET LOCAL deadlock_timeout = '100s'".to_owned(),
        format!("SELECT id FROM projects WHERE id = '{project}' FOR NO KEY UPDATE"),
    ] {
        rename.execute_unprepared(&sql).await.unwrap();
    }
    let path = format!("/api/v1/projects/{project}");
    let delete = app.call(Method::DELETE, &path, None);
    let rename_then_schedule = async {
        app.until_blocked_by(&rename).await;
        rename
            .execute_unprepared(&format!(
                "SELECT id FROM schedules WHERE id = '{schedule}' FOR UPDATE"
            ))
            .await
            .unwrap();
        rename.commit().await.unwrap();
    };
    let ((status, body), ()) = tokio::join!(delete, rename_then_schedule);
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let (status, body) = app.call(Method::DELETE, &path, None).await;
    assert!(status.is_success(), "{status}: {body}");
}
