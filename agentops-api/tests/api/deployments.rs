//! Deployments: the platform's releases reporting their steps.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use agentops_sdk::types::{DeploymentIn, DeploymentPatch, DeploymentStatus};
use agentops_testkit::{Backend, TestApp};

fn deployment(sha: &str) -> DeploymentIn {
    DeploymentIn {
        git_sha: sha.to_owned(),
        branch: Some("main".to_owned()),
        ..Default::default()
    }
}

fn status(status: DeploymentStatus) -> DeploymentPatch {
    DeploymentPatch {
        status: Some(status),
        ..Default::default()
    }
}

/// `POST /deployments` with `Idempotency-Key: idempotency`; returns the status, whether
/// the answer says it replayed, and the body.
async fn post_keyed(app: &TestApp, idempotency: &str, body: Value) -> (StatusCode, bool, Value) {
    let response = app
        .http
        .post(app.url("/api/v1/deployments"))
        .bearer_auth(&app.key)
        .header("idempotency-key", idempotency)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (status, replayed, response.json().await.unwrap())
}

async fn deployments_can_be_recorded_read_and_listed_by_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let deployments = app.client.deployments();

    let created = deployments
        .create(DeploymentIn {
            git_sha: "4F2A9C1D".into(),
            branch: Some("  release  ".into()),
            report: Some("v1.4.0".into()),
            metadata: Some(json!({ "tag": "v1.4.0" })),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.git_sha, "4f2a9c1d", "kept in lower case");
    assert_eq!(created.branch.as_deref(), Some("release"));
    assert_eq!(created.status, DeploymentStatus::Building, "the default");
    assert_eq!(created.report.as_deref(), Some("v1.4.0"));
    assert_eq!(created.metadata, json!({ "tag": "v1.4.0" }));
    assert!(created.finished_at.is_none());
    assert_eq!(deployments.get(created.id).await.unwrap(), created);

    let failed = deployments
        .create(DeploymentIn {
            status: Some(DeploymentStatus::Failed),
            ..deployment(&"a".repeat(40))
        })
        .await
        .unwrap();
    assert!(failed.finished_at.is_some(), "created final");
    assert_eq!(failed.metadata, json!({}));
    let third = deployments.create(deployment("0123456")).await.unwrap();

    let all = deployments.list().send().await.unwrap();
    let ids: Vec<Uuid> = all.items.iter().map(|d| d.id).collect();
    assert_eq!(ids, [third.id, failed.id, created.id], "newest first");
    let page = deployments.list().limit(2).send().await.unwrap();
    assert_eq!(page.items.len(), 2);
    let rest = deployments
        .list()
        .limit(2)
        .cursor(page.next_cursor.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.items, std::slice::from_ref(&created));
    assert!(rest.next_cursor.is_none());

    let building = deployments
        .list()
        .status(DeploymentStatus::Building)
        .send()
        .await
        .unwrap();
    let ids: Vec<Uuid> = building.items.iter().map(|d| d.id).collect();
    assert_eq!(ids, [third.id, created.id]);
    let failed_only = deployments
        .list()
        .status(DeploymentStatus::Failed)
        .send()
        .await
        .unwrap();
    assert_eq!(failed_only.items, [failed]);
    let (code, body) = app.get("/api/v1/deployments?status=exploded").await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_query");

    let missing = deployments.get(Uuid::now_v7()).await.unwrap_err();
    assert_eq!(missing.code(), Some("deployment_not_found"));
}

async fn a_patch_moves_the_status_replaces_the_report_and_merges_metadata(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let deployments = app.client.deployments();
    let created = deployments
        .create(DeploymentIn {
            report: Some("building v2".into()),
            metadata: Some(json!({ "tag": "v2", "steps": { "build": "ok" }, "gone": 1 })),
            ..deployment("abcdef0")
        })
        .await
        .unwrap();

    let testing = deployments
        .update(
            created.id,
            DeploymentPatch {
                status: Some(DeploymentStatus::Testing),
                report: Some("tests running".into()),
                metadata: Some(json!({ "steps": { "test": "running" }, "gone": null })),
            },
        )
        .await
        .unwrap();
    assert_eq!(testing.status, DeploymentStatus::Testing);
    assert_eq!(testing.report.as_deref(), Some("tests running"), "replaced");
    assert_eq!(
        testing.metadata,
        json!({ "tag": "v2", "steps": { "build": "ok", "test": "running" } })
    );
    assert!(testing.updated_at > created.updated_at);
    assert!(testing.finished_at.is_none());

    // A report-only patch keeps the status.
    let noted = deployments
        .update(
            created.id,
            DeploymentPatch {
                report: Some("tests passed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(noted.status, DeploymentStatus::Testing);
    assert_eq!(noted.metadata, testing.metadata);

    let deploying = deployments
        .update(created.id, status(DeploymentStatus::Deploying))
        .await
        .unwrap();
    assert_eq!(deploying.report.as_deref(), Some("tests passed"));
    let healthy = deployments
        .update(created.id, status(DeploymentStatus::Healthy))
        .await
        .unwrap();
    assert_eq!(healthy.status, DeploymentStatus::Healthy);
    assert!(healthy.finished_at.is_some());
    assert_eq!(deployments.get(created.id).await.unwrap(), healthy);

    let kinds: Vec<(String, Value)> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind.starts_with("deployment."))
        .map(|e| (e.kind, e.data["status"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("deployment.created".to_owned(), json!("building")),
            ("deployment.updated".to_owned(), json!("testing")),
            ("deployment.updated".to_owned(), json!("testing")),
            ("deployment.updated".to_owned(), json!("deploying")),
            ("deployment.updated".to_owned(), json!("healthy")),
        ]
    );
    let last = app.events().await.into_iter().last().unwrap();
    assert_eq!(
        serde_json::from_value::<agentops_sdk::types::DeploymentOut>(last.data).unwrap(),
        healthy,
        "an event carries the deployment"
    );
}

async fn a_final_deployment_refuses_another_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let deployments = app.client.deployments();
    for end in [
        DeploymentStatus::Healthy,
        DeploymentStatus::RolledBack,
        DeploymentStatus::Failed,
    ] {
        let created = deployments.create(deployment("1234567")).await.unwrap();
        let finished = deployments.update(created.id, status(end)).await.unwrap();
        assert!(finished.status.is_final());
        let finished_at = finished.finished_at.expect("finished");

        for next in DeploymentStatus::ALL.into_iter().filter(|s| *s != end) {
            let err = deployments
                .update(created.id, status(next))
                .await
                .unwrap_err();
            assert_eq!(
                err.status().map(|s| s.as_u16()),
                Some(409),
                "{end} → {next}"
            );
            assert!(err.is_invalid_transition(), "{end} → {next}: {err}");
        }
        // The same final status again is a harmless repeat; the report may still change.
        let repeated = deployments
            .update(
                created.id,
                DeploymentPatch {
                    status: Some(end),
                    report: Some("post-mortem: see #12".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(repeated.status, end);
        assert_eq!(repeated.finished_at, Some(finished_at));
        assert_eq!(repeated.report.as_deref(), Some("post-mortem: see #12"));
    }
}

async fn bad_deployments_are_refused_with_the_error_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (json!({ "git_sha": "abc12" }), "git_sha", "too short"),
        (json!({ "git_sha": "a".repeat(41) }), "git_sha", "too long"),
        (json!({ "git_sha": "zzzzzzz" }), "git_sha", "not hex"),
        (
            json!({ "git_sha": "abcdef0", "report": "x".repeat(20_001) }),
            "report",
            "report too long",
        ),
        (
            json!({ "git_sha": "abcdef0", "branch": "b".repeat(201) }),
            "branch",
            "branch too long",
        ),
        (
            json!({ "git_sha": "abcdef0", "metadata": [1] }),
            "metadata",
            "metadata not an object",
        ),
    ];
    for (body, field, why) in cases {
        let (code, answer) = app.post("/api/v1/deployments", body).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{why}");
        assert_eq!(answer["error"]["details"][0]["field"], field, "{why}");
        assert!(answer["error"]["message"].is_string(), "{why}");
    }
    let (code, answer) = app
        .post(
            "/api/v1/deployments",
            json!({ "git_sha": "abcdef0", "status": "exploded" }),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_body");
    let (code, answer) = app
        .post(
            "/api/v1/deployments",
            json!({ "git_sha": "abcdef0", "colour": "red" }),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_body");

    let created = app
        .post_ok(
            "/api/v1/deployments",
            json!({ "git_sha": "abcdef0" }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/api/v1/deployments/{}", created["id"].as_str().unwrap());
    for (body, expected) in [
        (json!({ "status": "exploded" }), "invalid_body"),
        (json!({ "report": "x".repeat(20_001) }), "validation_failed"),
        (json!({ "git_sha": "1234567" }), "invalid_body"),
    ] {
        let (code, answer) = app.call(Method::PATCH, &path, Some(body)).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["code"], expected);
    }
    let (code, answer) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/deployments/{}", Uuid::now_v7()),
            Some(json!({ "status": "testing" })),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "deployment_not_found");
    // Nothing refused changed the deployment.
    assert_eq!(app.get_ok(&path).await, created);
}

async fn viewers_read_deployments_and_only_admins_record_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .post_ok(
            "/api/v1/deployments",
            json!({ "git_sha": "abcdef0" }),
            StatusCode::CREATED,
        )
        .await;
    let path = format!("/api/v1/deployments/{}", created["id"].as_str().unwrap());
    for role in ["viewer", "agent"] {
        let key = app.create_key(role).await;
        let (code, answer) = app
            .call_as(
                Some(&key),
                Method::POST,
                "/api/v1/deployments",
                Some(json!({ "git_sha": "abcdef0" })),
            )
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{role}");
        assert_eq!(answer["error"]["code"], "forbidden");
        let (code, _) = app
            .call_as(
                Some(&key),
                Method::PATCH,
                &path,
                Some(json!({ "status": "failed" })),
            )
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{role}");
        let (code, one) = app.call_as(Some(&key), Method::GET, &path, None).await;
        assert_eq!((code, &one), (StatusCode::OK, &created), "{role}");
        let (code, list) = app
            .call_as(Some(&key), Method::GET, "/api/v1/deployments", None)
            .await;
        assert_eq!(code, StatusCode::OK, "{role}");
        assert_eq!(list["items"][0], created);
    }
    let (code, _) = app
        .call_as(None, Method::GET, "/api/v1/deployments", None)
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}

async fn a_create_with_an_idempotency_key_is_recorded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({ "git_sha": "abcdef0", "branch": "main" });
    let (code, replayed, first) = post_keyed(&app, "release-v1", body.clone()).await;
    assert_eq!((code, replayed), (StatusCode::CREATED, false));
    let (code, replayed, again) = post_keyed(&app, "release-v1", body).await;
    assert_eq!((code, replayed), (StatusCode::OK, true));
    assert_eq!(again, first);
    let (code, _, refused) = post_keyed(&app, "release-v1", json!({ "git_sha": "1234567" })).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["code"], "idempotency_key_reused");

    // The SDK: its own key, and the replay told apart.
    let input = deployment("7654321");
    let (made, replayed) = app
        .client
        .deployments()
        .create_with_key(input.clone(), "release-v2")
        .await
        .unwrap();
    assert!(!replayed);
    let (again, replayed) = app
        .client
        .deployments()
        .create_with_key(input, "release-v2")
        .await
        .unwrap();
    assert!(replayed);
    assert_eq!(again, made);

    let page = app.client.deployments().list().send().await.unwrap();
    assert_eq!(page.items.len(), 2, "one per key");
    let created_events = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == "deployment.created")
        .count();
    assert_eq!(created_events, 2, "a replay emits nothing");
}

crate::on_both_backends!(
    deployments_can_be_recorded_read_and_listed_by_status,
    a_patch_moves_the_status_replaces_the_report_and_merges_metadata,
    a_final_deployment_refuses_another_status,
    bad_deployments_are_refused_with_the_error_envelope,
    viewers_read_deployments_and_only_admins_record_them,
    a_create_with_an_idempotency_key_is_recorded_once,
);
