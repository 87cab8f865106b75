//! Every class of bad input answers the right 4xx with a JSON error body.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use agentops_testkit::{Backend, TestApp};

async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .request(method, app.url(path))
        .bearer_auth(&app.key)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "{status} {body}"
    );
    (status, body)
}

fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

async fn every_error_class_has_its_status_and_a_json_body(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| cfg.max_body_bytes = 64 * 1024).await;
    let project = app.create_project("p").await;
    let json_type = Some("application/json");

    // 400: malformed JSON, bad ids, bad query strings, bad idempotency keys.
    let (status, body) = raw(
        &app,
        Method::POST,
        "/api/v1/projects",
        json_type,
        b"{\"name\": ".to_vec(),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let (status, body) = raw(&app, Method::GET, "/api/v1/tasks/not-a-uuid", None, vec![]).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_id")
    );
    let (status, body) = raw(
        &app,
        Method::GET,
        "/api/v1/tasks?project_id=nope",
        None,
        vec![],
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    let (status, body) = raw(&app, Method::GET, "/api/v1/projects?limit=0", None, vec![]).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
    let (status, body) = raw(
        &app,
        Method::GET,
        "/api/v1/projects?cursor=garbage",
        None,
        vec![],
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
    let response = app
        .http
        .post(app.url("/api/v1/projects"))
        .bearer_auth(&app.key)
        .header("Idempotency-Key", "has space")
        .json(&json!({ "name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // 415: not JSON.
    let (status, body) = raw(
        &app,
        Method::POST,
        "/api/v1/projects",
        Some("text/plain"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );

    // 413: over the body limit.
    let big = json!({ "name": "x", "description": "y".repeat(100 * 1024) })
        .to_string()
        .into_bytes();
    let (status, body) = raw(&app, Method::POST, "/api/v1/projects", json_type, big).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );

    // 422: unknown, missing and mistyped fields; values out of range.
    for bad in [
        json!({ "name": "x", "colour": "red" }),
        json!({ "description": "no name" }),
        json!({ "name": 42 }),
    ] {
        let (status, body) = raw(
            &app,
            Method::POST,
            "/api/v1/projects",
            json_type,
            bad.to_string().into_bytes(),
        )
        .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            "{bad}"
        );
    }
    // An array is not read into a struct by position: only objects are bodies.
    for (method, path, bad) in [
        (Method::POST, "/api/v1/projects".to_owned(), json!(["x"])),
        (
            Method::PATCH,
            format!("/api/v1/projects/{project}"),
            json!(["renamed"]),
        ),
        (
            Method::POST,
            "/api/v1/keys".to_owned(),
            json!(["k1", "viewer"]),
        ),
    ] {
        let (status, body) =
            raw(&app, method, &path, json_type, bad.to_string().into_bytes()).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            "{path} {bad}"
        );
    }
    assert_eq!(
        app.get_ok(&format!("/api/v1/projects/{project}")).await["name"],
        "p"
    );
    let (status, body) = app.post("/api/v1/tasks", json!({ "project_id": project, "title": "", "priority": 5000, "labels": ["ok", "bad label"], "max_attempts": 0 })).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["title", "labels.1", "priority", "max_attempts"]);
    let (status, body) = app
        .post(
            "/api/v1/projects",
            json!({ "name": "x", "metadata": [1, 2] }),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let (status, body) = app
        .post(
            "/api/v1/tasks",
            json!({ "project_id": project, "title": "t", "input": "z".repeat(1024 * 1024) }),
        )
        .await;
    // Over the 64 KiB body limit of this server before it is over the 1 MiB input limit.
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let agent = app.register_agent("w").await;
    let (status, body) = app
        .post(
            "/api/v1/tasks/claim",
            json!({ "agent_id": agent, "limit": 1000, "lease_seconds": 1 }),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );

    // 404: unknown ids and routes.
    let missing = Uuid::now_v7();
    for path in [
        format!("/api/v1/tasks/{missing}"),
        format!("/api/v1/projects/{missing}"),
        format!("/api/v1/agents/{missing}"),
    ] {
        let (status, body) = raw(&app, Method::GET, &path, None, vec![]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(code(&body).ends_with("_not_found"), "{body}");
    }
    let (status, body) = app
        .post(
            "/api/v1/tasks",
            json!({ "project_id": missing, "title": "t" }),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "project_not_found")
    );
    let (status, body) = app
        .post("/api/v1/tasks/claim", json!({ "agent_id": missing }))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "agent_not_found")
    );
    let (status, body) = raw(&app, Method::GET, "/api/v1/nothing-here", None, vec![]).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "route_not_found")
    );

    // 405.
    let (status, body) = raw(
        &app,
        Method::PUT,
        "/api/v1/projects",
        json_type,
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );

    // 409: an illegal transition.
    let task = app.create_task(project, json!({})).await;
    let (status, body) = app
        .post(
            &format!("/api/v1/tasks/{}/unblock", task["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "invalid_transition")
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap()),
            json!({ "claim_token": Uuid::new_v4() }),
        )
        .await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "stale_claim"));

    // No request above produced a server error.
    let metrics = app.metrics().await;
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("agentops_http_requests_total") && l.contains("status=\"5")),
        "{metrics}"
    );
}

/// Writes `sent` on a new connection to `app` and reads until the server closes it
/// (at most 30 s, a guard against hanging, which panics with `hung`): what came back,
/// and how the reading ended.
async fn send_raw(app: &TestApp, sent: &[&[u8]], hung: &str) -> (Vec<u8>, std::io::Result<usize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(authority).await.unwrap();
    for part in sent {
        socket.write_all(part).await.unwrap();
    }
    let mut answer = Vec::new();
    let ended = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        socket.read_to_end(&mut answer),
    )
    .await
    .expect(hung);
    (answer, ended)
}

/// Sends a request head announcing a 100-byte body and only `sent` of it, then waits
/// for the answer: (status line, body).
async fn stall(app: &TestApp, head: &str, sent: &[u8]) -> (String, Value) {
    let authority = app.base.trim_start_matches("http://");
    let request = format!(
        "{head}\r\nhost: {authority}\r\nauthorization: Bearer {}\r\ncontent-length: 100\r\nconnection: close\r\n\r\n",
        app.key
    );
    let (answer, ended) = send_raw(
        app,
        &[request.as_bytes(), sent],
        "a stalled body is answered, not waited on for ever",
    )
    .await;
    ended.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.lines().next().unwrap_or_default().to_owned();
    (
        status,
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer}")),
    )
}

async fn a_body_that_stops_coming_is_answered_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| cfg.body_idle_timeout_secs = 1).await;
    let project = app.create_project("stalls").await;

    let (status, body) = stall(
        &app,
        "POST /api/v1/projects HTTP/1.1\r\ncontent-type: application/json",
        b"{\"name\": ",
    )
    .await;
    assert!(status.contains(" 400 "), "{status} {body}");
    assert_eq!(code(&body), "unreadable_body");

    let (status, body) = stall(
        &app,
        &format!(
            "POST /api/v1/artifacts?project_id={project}&name=half.bin HTTP/1.1\r\ncontent-type: application/octet-stream"
        ),
        &[7; 40],
    )
    .await;
    assert!(status.contains(" 400 "), "{status} {body}");
    assert_eq!(code(&body), "body_interrupted");
    let listed = app.get_ok("/api/v1/artifacts").await;
    assert_eq!(listed["items"], json!([]), "{listed}");
    let projects = app.get_ok("/api/v1/projects").await;
    assert_eq!(
        projects["items"].as_array().map(Vec::len),
        Some(1),
        "{projects}"
    );
}

/// A client that never finishes its request's headers has its connection closed after
/// `AGENTOPS_HEADER_READ_TIMEOUT_SECS` instead of holding it for ever.
async fn a_client_that_never_finishes_its_headers_is_cut_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| cfg.header_read_timeout_secs = 1).await;
    let authority = app.base.trim_start_matches("http://");
    let head = format!("GET /health HTTP/1.1\r\nhost: {authority}\r\n");
    // Closed or reset, either way the connection is gone.
    let (answer, _ended) = send_raw(
        &app,
        &[head.as_bytes()],
        "the server closes a connection whose headers never end",
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains(" 200 "), "{answer}");
    // The server itself still answers.
    assert_eq!(app.get_ok("/health").await["status"], "ok");
}

crate::on_both_backends!(
    numbers_too_large_to_read_back_are_refused_and_large_ones_kept,
    nul_characters_are_refused_everywhere_on_both_databases,
    a_client_that_never_finishes_its_headers_is_cut_off,
    every_error_class_has_its_status_and_a_json_body,
    a_body_that_stops_coming_is_answered_and_nothing_is_stored,
);

/// PostgreSQL stores neither NUL in `text` nor `\u0000` in `jsonb`; SQLite stores both.
/// Every way in refuses them up front, so both databases answer alike, with a 4xx.
async fn nul_characters_are_refused_everywhere_on_both_databases(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let thread = app
        .post_ok(
            "/api/v1/threads",
            json!({"channel": "web", "external_id": "nul"}),
            StatusCode::CREATED,
        )
        .await;
    let messages = format!(
        "/api/v1/threads/{}/messages",
        thread["id"].as_str().unwrap()
    );
    let bodies = [
        (
            "/api/v1/tasks",
            json!({"project_id": project, "title": "t", "input": {"k": "a\u{0}b"}}),
        ),
        (
            "/api/v1/threads",
            json!({"channel": "web", "external_id": "x", "metadata": {"k\u{0}": 1}}),
        ),
        (
            messages.as_str(),
            json!({"role": "user", "text": "hi", "metadata": {"deep": [{"k": "\u{0}"}]}}),
        ),
    ];
    for (path, body) in bodies {
        let (status, answer) = app.post(path, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_body", "{answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains("NUL"),
            "{answer}"
        );
    }
    for (method, path) in [
        (Method::GET, "/api/v1/threads?channel=%00"),
        (Method::GET, "/api/v1/tasks?kind=a%00"),
        (Method::GET, "/api/v1/events/cursors/a%00b"),
        (Method::DELETE, "/api/v1/events/cursors/a%00b"),
    ] {
        let (status, answer) = app.call(method.clone(), path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
    }
    // A backslash followed by `u0000` is only text, and is stored as sent.
    let (status, stored) = app
        .post(
            &messages,
            json!({"role": "user", "text": "write \\u0000 to end a C string"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["text"], "write \\u0000 to end a C string");
}

/// PostgreSQL keeps a JSON number as an exact decimal and writes it out in full when read;
/// near `f64::MAX` that no longer reads back as a float, so a row holding one could
/// never be read again (every read of it a 500). Such numbers are refused up front on
/// both databases; large ones within the bound are stored and read back.
async fn numbers_too_large_to_read_back_are_refused_and_large_ones_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let huge = json!(f64::MAX);
    let bodies = [
        (
            "/api/v1/projects",
            json!({"name": "n", "metadata": {"x": huge}}),
            "metadata.x",
        ),
        (
            "/api/v1/tasks",
            json!({"project_id": project, "title": "t", "input": {"a": [1, -1.7976931348623157e308]}}),
            "input.a.1",
        ),
        (
            "/api/v1/threads",
            json!({"channel": "web", "external_id": "big", "metadata": {"x": 1e301}}),
            "metadata.x",
        ),
    ];
    for (path, body, field) in bodies {
        let (status, answer) = app.post(path, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{answer}");
        assert_eq!(
            answer["error"]["details"][0]["field"], field,
            "{path}: {answer}"
        );
    }

    // A completion carrying one is refused, and the task can still be completed.
    let task = app.create_task(project, json!({"title": "t"})).await;
    let agent = app.register_agent("w").await;
    let claimed = app.claim(agent, json!({})).await;
    let token = claimed[0]["claim_token"].as_str().unwrap().to_owned();
    let complete = format!("/api/v1/tasks/{}/complete", task["id"].as_str().unwrap());
    let (status, answer) = app
        .post(
            &complete,
            json!({"claim_token": token, "result": {"x": huge}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let done = app
        .post_ok(
            &complete,
            json!({"claim_token": token, "result": {"x": 1e300, "y": -2.5e-300, "n": u64::MAX}}),
            StatusCode::OK,
        )
        .await;
    let read = app
        .get_ok(&format!("/api/v1/tasks/{}", task["id"].as_str().unwrap()))
        .await;
    for answer in [&done, &read] {
        let x = answer["result"]["x"].as_f64().unwrap();
        assert!((x / 1e300 - 1.0).abs() < 1e-12, "{answer}");
        let y = answer["result"]["y"].as_f64().unwrap();
        assert!((y / -2.5e-300 - 1.0).abs() < 1e-12, "{answer}");
        assert_eq!(answer["result"]["n"], json!(u64::MAX), "{answer}");
    }
}
