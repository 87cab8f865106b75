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
