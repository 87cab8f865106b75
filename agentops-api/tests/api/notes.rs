//! Versioned notes on projects.

use reqwest::{Method, StatusCode};
use serde_json::json;

use agentops_testkit::{Backend, TestApp};

async fn notes_are_versioned_and_a_stale_write_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("Website").await;
    let path = format!("/api/v1/projects/{project}/notes/chief");
    let (status, body) = app.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "note_not_found");

    let (status, first) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"text": "copy is late", "expected_version": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["version"], 1);
    let (_, second) = app
        .call(Method::PUT, &path, Some(json!({"text": "copy is in"})))
        .await;
    assert_eq!(second["version"], 2);
    // A writer that read version 1 does not overwrite version 2.
    let (status, stale) = app
        .call(
            Method::PUT,
            &path,
            Some(json!({"text": "still late", "expected_version": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(stale["error"]["code"], "stale_version");

    assert_eq!(app.get_ok(&path).await["text"], "copy is in");
    assert_eq!(
        app.get_ok(&format!("{path}?version=1")).await["text"],
        "copy is late"
    );
    let versions = app.get_ok(&format!("{path}/versions")).await;
    let numbers: Vec<i64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
    app.call(
        Method::PUT,
        &format!("/api/v1/projects/{project}/notes/seed"),
        Some(json!({"text": "s"})),
    )
    .await;
    let all = app
        .get_ok(&format!("/api/v1/projects/{project}/notes"))
        .await;
    let keys: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["chief", "seed"]);
    assert!(app.events().await.iter().any(|e| e.kind == "note.updated"));

    for (path, body, expected) in [
        (
            path.clone(),
            json!({"text": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v1/projects/{project}/notes/..bad"),
            json!({"text": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/api/v1/projects/{}/notes/chief", uuid::Uuid::now_v7()),
            json!({"text": "x"}),
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/v1/projects/nope/notes/chief".to_owned(),
            json!({"text": "x"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, answer) = app.call(Method::PUT, &path, Some(body)).await;
        assert_eq!(status, expected, "{path}: {answer}");
    }
    // A project that is gone has no notes, nor versions of one.
    let gone = app.create_project("Gone").await;
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/v1/projects/{gone}"), None)
        .await;
    assert!(status.is_success(), "{status}");
    for path in [
        format!("/api/v1/projects/{gone}/notes"),
        format!("/api/v1/projects/{gone}/notes/chief/versions"),
    ] {
        let (status, answer) = app.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "project_not_found", "{path}");
    }
    let viewer = app.create_key("viewer").await;
    let (status, _) = app
        .call_as(
            Some(&viewer),
            Method::PUT,
            &path,
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

crate::on_both_backends!(notes_are_versioned_and_a_stale_write_is_refused);
