//! Health, readiness, metrics and the OpenAPI document.

use std::time::{Duration, Instant};

use agentops_testkit::{ADMIN_KEY, TcpProxy, postgres_admin_url};
use reqwest::StatusCode;
use serde_json::{Value, json};

use agentops_testkit::{Backend, TestApp};

async fn health_ready_and_metrics_answer_without_a_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    app.create_task(project, json!({})).await;
    app.create_task(project, json!({})).await;

    let health: Value = app
        .http
        .get(app.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["database"], "ok");

    let metrics = app.metrics().await;
    assert!(
        metrics.contains("agentops_tasks{status=\"queued\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("agentops_tasks{status=\"completed\"} 0"));
    assert!(metrics.contains(
        "agentops_http_requests_total{method=\"POST\",route=\"/api/v1/tasks\",status=\"201\"} 2"
    ));
    assert!(metrics.contains("agentops_http_request_duration_seconds_bucket"));
    assert!(metrics.contains("agentops_task_claims_total 0"));
    assert!(metrics.contains("agentops_lease_expiries_total"));
}

async fn ready_reports_503_when_the_database_is_gone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.state.db.clone().close().await.unwrap();
    let response = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert!(
        body["checks"]["database"]
            .as_str()
            .unwrap()
            .starts_with("error")
    );
    // The process itself is still healthy.
    assert_eq!(
        app.http
            .get(app.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

async fn the_openapi_document_describes_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc: Value = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/keys",
        "/api/v1/keys/{id}",
        "/api/v1/projects",
        "/api/v1/projects/{id}",
        "/api/v1/tasks",
        "/api/v1/tasks/{id}",
        "/api/v1/tasks/claim",
        "/api/v1/tasks/{id}/heartbeat",
        "/api/v1/tasks/{id}/complete",
        "/api/v1/tasks/{id}/fail",
        "/api/v1/tasks/{id}/block",
        "/api/v1/tasks/{id}/release",
        "/api/v1/events",
        "/api/v1/events/latest",
        "/api/v1/events/stream",
        "/api/v1/events/cursors",
        "/api/v1/events/cursors/{name}",
        "/api/v1/tasks/{id}/unblock",
        "/api/v1/tasks/{id}/cancel",
        "/api/v1/agents",
        "/api/v1/agents/{id}",
        "/api/v1/agents/{id}/heartbeat",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "missing {path} in {:?}",
            paths.keys().collect::<Vec<_>>()
        );
    }
    assert!(doc["components"]["schemas"]["TaskOut"].is_object());
    assert!(doc["components"]["schemas"]["EventCursor"].is_object());
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let page = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("swagger"));
}

/// While PostgreSQL is down, `/ready` says so within about 1.5 s and requests are
/// refused after the configured acquire timeout, both 503 with `Retry-After`; once it is
/// back, requests succeed again without a restart. (Before: both hung for the pool's
/// 30 s acquire timeout, and the 503 had no `Retry-After`.) Here the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_is_reported_promptly_and_ridden_out() {
    database_outage(TcpProxy::cut).await;
}

/// The same when the network to PostgreSQL is lost: connections stay open, silent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_database_network_is_reported_promptly_and_ridden_out() {
    database_outage(TcpProxy::partition).await;
}

/// Connections the server ends while they sit in the pool (a restart, an operator's
/// `pg_terminate_backend`) cost no write. A connection used in the last second is handed
/// out without a ping (`store::PING_AFTER_IDLE`), so a write's `BEGIN` finds it lost and
/// begins again on another (`Tx::begin`); one idle for longer (a slow machine) is pinged
/// and replaced by the pool instead. A read that meets one is refused 503
/// `unavailable`, never 500, and succeeds when asked again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_server_ended_cost_no_write() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let app = TestApp::spawn_with(Backend::Postgres, |cfg| cfg.db_max_connections = 4).await;
    let db = app.state.db.clone();
    let name = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_database() AS name",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "name")
        .unwrap();
    let admin = sea_orm::Database::connect(postgres_admin_url())
        .await
        .unwrap();
    for round in 0..3 {
        // Every connection of the pool busy at once, then back in it, just used.
        let app = &app;
        futures_util::future::join_all(
            (0..4).map(|i| async move { app.create_project(&format!("warm-{round}-{i}")).await }),
        )
        .await;
        let ended = admin
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS ended \
                 FROM pg_stat_activity WHERE datname = $1",
                [name.clone().into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "ended")
            .unwrap();
        assert!(ended >= 1, "round {round}: no connection to end");
        for i in 0..6 {
            app.create_project(&format!("after-{round}-{i}")).await;
        }
        let mut answers = Vec::new();
        for _ in 0..6 {
            let (status, body) = app.get("/api/v1/projects").await;
            if status != StatusCode::OK {
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                assert_eq!(body["error"]["code"], "unavailable");
            }
            answers.push(status);
        }
        assert_eq!(answers.last(), Some(&StatusCode::OK), "{answers:?}");
    }
    admin.close().await.unwrap();
}

async fn database_outage(outage: fn(&TcpProxy)) {
    let proxy = TcpProxy::start_for(&postgres_admin_url(), 5432).await;
    let app = TestApp::spawn_with(Backend::Postgres, |cfg| {
        let url = cfg.database_url.clone().unwrap();
        cfg.database_url = Some(proxy.url_through(&url));
        cfg.db_acquire_timeout_secs = 2;
    })
    .await;
    app.create_project("before").await;

    outage(&proxy);
    let started = Instant::now();
    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.headers()["retry-after"], "2");
    assert!(waited < Duration::from_secs(5), "/ready took {waited:?}");
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");

    let started = Instant::now();
    let (status, body) = app.get("/api/v1/projects").await;
    let waited = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        waited < Duration::from_secs(8),
        "the request took {waited:?}"
    );
    let response = app
        .http
        .post(app.url("/api/v1/projects"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "during"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "2");

    // Back up: the pool reconnects on its own.
    proxy.restore();
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        status = app.get("/api/v1/projects").await.0;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK);
    app.create_project("after").await;
    let ready = app.http.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

/// The document is exact about what every operation can answer and what it accepts:
/// the shared error answers on every route, 403 exactly where a viewer key is refused
/// (checked against the server here), optional bodies never `null`, and the limits
/// validation enforces.
async fn the_openapi_document_states_statuses_roles_and_limits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc: Value = app.get_ok("/api/v1/openapi.json").await;
    let viewer = app.create_key("viewer").await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1") || path.ends_with("/stream") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
            for status in ["401", "429", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            let role = op["security"][0]["bearer"][0].as_str().unwrap();
            assert_eq!(
                responses.contains_key("403"),
                role != "viewer"
                    || path.starts_with("/api/v1/artifacts/{id}") && method == "delete"
                    // Who acts decides (X-On-Behalf-Of, a persona's owner).
                    || path.starts_with("/api/v1/personas"),
                "{method} {path} ({role})"
            );
            if let Some(body) = op.get("requestBody") {
                let schema = body["content"]["application/json"]["schema"].to_string();
                assert!(!schema.contains("\"null\""), "{method} {path}: {schema}");
            }
            // The server agrees: a viewer key is refused (403) exactly where a role
            // above viewer is declared, before anything else is looked at.
            let url = app.url(
                &path
                    .replace("{id}", &uuid::Uuid::new_v4().to_string())
                    .replace("{name}", "n"),
            );
            let request = app
                .http
                .request(method.to_uppercase().parse().unwrap(), url)
                .bearer_auth(&viewer)
                .json(&json!({}));
            let status = request.send().await.unwrap().status();
            assert_eq!(
                status == StatusCode::FORBIDDEN,
                role != "viewer",
                "{method} {path} ({role}) answered a viewer {status}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 49, "{checked}");
    let title = &doc["components"]["schemas"]["TaskIn"]["properties"]["title"];
    assert_eq!(
        (title["minLength"].as_u64(), title["maxLength"].as_u64()),
        (Some(1), Some(500))
    );
    let limit = &doc["components"]["schemas"]["ClaimIn"]["properties"]["limit"];
    assert_eq!(
        (limit["minimum"].as_i64(), limit["maximum"].as_i64()),
        (Some(1), Some(100))
    );
    let cancel = &doc["paths"]["/api/v1/tasks/{id}/cancel"]["post"]["requestBody"];
    assert_eq!(cancel["required"], false);
    // Free-form JSON is one schema referring to itself, not a tower of levels.
    let free = &doc["components"]["schemas"]["JsonValue"];
    assert_eq!(free["items"]["$ref"], "#/components/schemas/JsonValue");
    assert!(doc["components"]["schemas"].get("JsonValue1").is_none());
    // Form fields are sent or not: never `null`.
    let form = doc["components"]["schemas"]["UploadForm"]["properties"].to_string();
    assert!(!form.contains("\"null\""), "{form}");
    // Free-text query parameters say what the query extractor refuses, and it does.
    let kind = doc["paths"]["/api/v1/tasks"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "kind")
        .unwrap();
    assert_eq!(kind["schema"]["pattern"], "^[^\\u0000]*$");
    let nul = app
        .http
        .get(app.url("/api/v1/tasks?kind=a%00b"))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(nul.status(), StatusCode::BAD_REQUEST);
    // A create links to the operations on what it created, and the link leads there.
    let links = &doc["paths"]["/api/v1/projects"]["post"]["responses"]["201"]["links"];
    for operation in ["get_project", "update_project", "delete_project"] {
        assert_eq!(links[operation]["operationId"], operation);
        assert_eq!(links[operation]["parameters"]["id"], "$response.body#/id");
    }
    let approvals = &doc["paths"]["/api/v1/threads/{id}/approvals"]["post"]["responses"]["201"];
    assert_eq!(approvals["links"]["approve"]["operationId"], "approve");
}

crate::on_both_backends!(
    the_openapi_document_states_statuses_roles_and_limits,
    health_ready_and_metrics_answer_without_a_key,
    ready_reports_503_when_the_database_is_gone,
    the_openapi_document_describes_every_route,
);
