//! The event log and the live stream: ordering, resume, replicas, Redis outages, filters.

use std::time::Duration;

use agentops_testkit::{Backend as B, TestServer, redis_url, use_redis};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use agentops_testkit::{ADMIN_KEY, Backend, PrivateRedis, TestApp, id_of, metrics_of};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the event stream of the server at `base` with `query` (e.g. `since=0&types=task.*`).
async fn connect(
    base: &str,
    key: Option<&str>,
    query: &str,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let url = format!(
        "{}/api/v1/events/stream?{query}",
        base.replacen("http", "ws", 1)
    );
    let mut request = url.into_client_request().unwrap();
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(ws, _)| ws)
}

/// Reads the next event, skipping pings; `None` on close or after `timeout`.
async fn next_event(ws: &mut Ws, timeout: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let message = tokio::time::timeout_at(deadline, ws.next())
            .await
            .ok()??
            .ok()?;
        match message {
            Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// Reads events until one has `id >= until`; returns their ids.
async fn read_until(ws: &mut Ws, until: i64) -> Vec<i64> {
    let mut ids = Vec::new();
    while ids.last().is_none_or(|&last| last < until) {
        let event = next_event(ws, Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("stream ended after {ids:?}, waiting for {until}"));
        ids.push(event["id"].as_i64().unwrap());
    }
    ids
}

async fn log_ids(app: &TestApp, keep: impl Fn(&agentops_sdk::types::Event) -> bool) -> Vec<i64> {
    app.events()
        .await
        .into_iter()
        .filter(|e| keep(e))
        .map(|e| e.id)
        .collect()
}

async fn the_stream_replays_the_log_then_goes_live_without_gap_or_duplicate(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    for _ in 0..20 {
        app.create_task(project, json!({})).await;
    }
    let midway = app.events().await[10].id;
    let mut ws = connect(&app.base, Some(ADMIN_KEY), &format!("since={midway}"))
        .await
        .unwrap();
    // Writes keep happening while the subscriber moves from replay to live.
    let writer = {
        let base = app.base.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..30 {
                let response = http
                    .post(format!("{base}/api/v1/tasks"))
                    .bearer_auth(ADMIN_KEY)
                    .json(&json!({ "project_id": project, "title": format!("live {i}") }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
            }
        })
    };
    writer.await.unwrap();
    let last = app.events().await.last().unwrap().id;
    let received = read_until(&mut ws, last).await;
    let expected = log_ids(&app, |e| e.id > midway && !e.kind.starts_with("key.")).await;
    assert_eq!(received, expected);
}

async fn the_log_can_be_read_over_http_with_filters_and_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let p1 = app.create_project("p1").await;
    let p2 = app.create_project("p2").await;
    let t1 = id_of(&app.create_task(p1, json!({})).await);
    app.create_task(p2, json!({})).await;
    let agent = app.register_agent("w").await;
    app.claim(agent, json!({ "project_id": p1 })).await;

    let all = app.get_ok("/api/v1/events?limit=1000").await;
    let kinds: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"key.created"),
        "admins see key events: {kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| k.starts_with("task.")).count(), 3);

    let viewer = app.create_key("viewer").await;
    let (status, seen) = app
        .call_as(
            Some(&viewer),
            reqwest::Method::GET,
            "/api/v1/events?limit=1000",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        seen["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["type"].as_str().unwrap().starts_with("key."))
    );

    let tasks_of_p1 = app
        .get_ok(&format!("/api/v1/events?types=task.*&project_id={p1}"))
        .await;
    let kinds: Vec<&str> = tasks_of_p1["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["task.created", "task.claimed"]);
    let claimed = app
        .get_ok(&format!("/api/v1/events?types=task.claimed&task_id={t1}"))
        .await;
    assert_eq!(claimed["items"][0]["data"]["status"], "running");
    assert_eq!(claimed["items"][0]["agent_id"], json!(agent));

    // Paging: the cursor is the `since` of the next page.
    let mut since = 0;
    let mut ids = Vec::new();
    loop {
        let page = app
            .get_ok(&format!("/api/v1/events?since={since}&limit=2"))
            .await;
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => since = next.parse().unwrap(),
            None => break,
        }
    }
    assert_eq!(ids, log_ids(&app, |_| true).await);

    for bad in [
        "types=Task",
        "limit=0",
        "limit=5000",
        "since=-1",
        "since=abc",
    ] {
        let (status, body) = app.get(&format!("/api/v1/events?{bad}")).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {status} {body}"
        );
    }
}

async fn the_stream_filters_and_needs_a_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let viewer = app.create_key("viewer").await;
    let project = app.create_project("p").await;
    let other = app.create_project("other").await;

    let refused = connect(&app.base, None, "since=0").await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 401)
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    // Browsers pass the key as a query parameter.
    let mut by_query = connect(
        &app.base,
        None,
        &format!("since=0&types=project.*&access_token={viewer}"),
    )
    .await
    .unwrap();
    let first = next_event(&mut by_query, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(first["type"], "project.created");

    let mut filtered = connect(
        &app.base,
        Some(&viewer),
        &format!("types=task.completed,task.created&project_id={project}"),
    )
    .await
    .unwrap();
    app.create_task(other, json!({})).await;
    app.create_key("agent").await;
    let mine = app.create_task(project, json!({})).await;
    let event = next_event(&mut filtered, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(event["type"], "task.created");
    assert_eq!(event["task_id"], mine["id"]);
    assert_eq!(event["data"]["title"], "a task");
    // Nothing else matched (the other project's task, the key).
    assert!(
        next_event(&mut filtered, Duration::from_millis(300))
            .await
            .is_none()
    );

    let bad = connect(&app.base, Some(&viewer), "types=BAD").await;
    assert!(
        matches!(bad, Err(tokio_tungstenite::tungstenite::Error::Http(ref r)) if r.status() == 422),
        "{bad:?}"
    );
}

/// Many concurrent writers; readers reconnect over and over with `since` = the last id
/// they saw. Every reader must end with exactly the log, in order.
async fn resuming_readers_miss_nothing_under_concurrent_writers(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let project = app.create_project("p").await;
    let start = app.events().await.last().unwrap().id;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                let agent = app.register_agent(&format!("writer-{w}")).await;
                for i in 0..25 {
                    app.create_task(project, json!({ "title": format!("w{w}-{i}") }))
                        .await;
                    if i % 3 == 0 {
                        for claimed in app.claim(agent, json!({})).await {
                            app.post_ok(
                                &format!("/api/v1/tasks/{}/complete", id_of(&claimed)),
                                json!({ "claim_token": claimed["claim_token"] }),
                                StatusCode::OK,
                            )
                            .await;
                        }
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let base = app.base.clone();
            tokio::spawn(async move {
                let mut seen: Vec<i64> = Vec::new();
                let mut last = start;
                let mut round = 0usize;
                loop {
                    let mut ws = connect(&base, Some(ADMIN_KEY), &format!("since={last}"))
                        .await
                        .unwrap();
                    round += 1;
                    // Read a few events, then drop the connection.
                    let take = 1 + (round * 7 + r) % 13;
                    let mut quiet = false;
                    for _ in 0..take {
                        match next_event(&mut ws, Duration::from_millis(800)).await {
                            Some(event) => {
                                last = event["id"].as_i64().unwrap();
                                seen.push(last);
                            }
                            None => {
                                quiet = true;
                                break;
                            }
                        }
                    }
                    drop(ws);
                    if quiet {
                        return seen;
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let expected = log_ids(&app, |e| e.id > start && !e.kind.starts_with("key.")).await;
    assert!(expected.len() > 250);
    for reader in readers {
        let mut seen = reader.await.unwrap();
        // A reader that went quiet before the writers finished catches up now.
        let mut ws = connect(
            &app.base,
            Some(ADMIN_KEY),
            &format!("since={}", seen.last().copied().unwrap_or(start)),
        )
        .await
        .unwrap();
        if seen.last().copied().unwrap_or(start) < *expected.last().unwrap() {
            seen.extend(read_until(&mut ws, *expected.last().unwrap()).await);
        }
        assert_eq!(
            seen, expected,
            "a resuming reader saw a gap, a duplicate or a reordering"
        );
    }
}

/// "From now on" starts when the handshake is answered, not when the session task
/// happens to run: an event written right after connecting reaches every subscriber.
async fn a_subscriber_without_since_gets_everything_written_after_it_connected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let mut subscribers = Vec::new();
    for _ in 0..40 {
        subscribers.push(
            connect(&app.base, Some(ADMIN_KEY), "types=task.created")
                .await
                .unwrap(),
        );
    }
    let task = app.create_task(project, json!({})).await;
    for ws in &mut subscribers {
        let event = next_event(ws, Duration::from_secs(10))
            .await
            .expect("the event written after connecting");
        assert_eq!(event["task_id"], task["id"]);
    }
}

async fn named_cursors_only_move_forward_and_refuse_bad_input(backend: Backend) {
    use reqwest::Method;
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    for _ in 0..3 {
        app.create_task(project, json!({})).await;
    }
    let head = app.get_ok("/api/v1/events/latest").await["last_id"]
        .as_i64()
        .unwrap();
    assert!(head >= 4, "the log has the project and its tasks: {head}");

    let (status, body) = app.get("/api/v1/events/cursors/telegram").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "event_cursor_not_found");

    let save = |last_id: Value| {
        let app = &app;
        async move {
            app.call(
                Method::PUT,
                "/api/v1/events/cursors/telegram",
                Some(json!({ "last_id": last_id })),
            )
            .await
        }
    };
    let (status, saved) = save(json!(head - 1)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["name"], "telegram");
    assert_eq!(saved["last_id"], head - 1);
    assert_eq!(saved["created_at"], saved["updated_at"]);

    // Forward moves it; back (a late save from another replica) leaves it.
    let (_, saved) = save(json!(head)).await;
    assert_eq!(saved["last_id"], head);
    let (status, saved) = save(json!(1)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["last_id"], head, "a cursor never moves back");
    assert_eq!(
        app.get_ok("/api/v1/events/cursors/telegram").await["last_id"],
        head
    );

    // Beyond the log's head, negative, or not a number: 422 with the field named.
    for (bad, code) in [
        (json!(head + 1000), "validation_failed"),
        (json!(-1), "validation_failed"),
    ] {
        let (status, body) = save(bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["error"]["code"], code);
        assert_eq!(body["error"]["details"][0]["field"], "last_id");
    }
    let (status, body) = save(json!("ten")).await;
    assert!(status.is_client_error(), "{status} {body}");
    assert!(body["error"]["code"].is_string(), "{body}");

    for bad in ["-leading-dash", ".", "has%20space", &"x".repeat(101)] {
        let (status, body) = app
            .call(
                Method::PUT,
                &format!("/api/v1/events/cursors/{bad}"),
                Some(json!({ "last_id": 1 })),
            )
            .await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::NOT_FOUND,
            "{bad}: {status} {body}"
        );
        assert!(body["error"]["code"].is_string(), "{bad}: {body}");
    }

    // Viewers read; only agents and admins save or delete.
    let viewer = app.create_key("viewer").await;
    let (status, listed) = app
        .call_as(Some(&viewer), Method::GET, "/api/v1/events/cursors", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (status, _) = app
        .call_as(
            Some(&viewer),
            Method::PUT,
            "/api/v1/events/cursors/mine",
            Some(json!({ "last_id": 1 })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let agent_key = app.create_key("agent").await;
    let (status, saved) = app
        .call_as(
            Some(&agent_key),
            Method::PUT,
            "/api/v1/events/cursors/worker:1",
            Some(json!({ "last_id": 2 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let names: Vec<String> = app
        .get_ok("/api/v1/events/cursors")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["telegram", "worker:1"]);

    let (status, _) = app
        .call(Method::DELETE, "/api/v1/events/cursors/telegram", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .call(Method::DELETE, "/api/v1/events/cursors/telegram", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = app.get("/api/v1/events/cursors/telegram").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

crate::on_both_backends!(
    named_cursors_only_move_forward_and_refuse_bad_input,
    a_subscriber_without_since_gets_everything_written_after_it_connected,
    the_stream_replays_the_log_then_goes_live_without_gap_or_duplicate,
    the_log_can_be_read_over_http_with_filters_and_pages,
    the_stream_filters_and_needs_a_key,
    resuming_readers_miss_nothing_under_concurrent_writers,
    events_past_their_retention_are_pruned_and_older_cursors_expire,
    when_retention_prunes_every_event_the_head_stays_put,
    the_log_shows_every_write_answered_before_the_read,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_replica_sees_writes_made_through_another() {
    let a = TestServer::spawn_with(B::Postgres, |cfg| use_redis(cfg, &redis_url())).await;
    let b = a.spawn_replica().await;
    wait_until_ready(&b.base).await;
    let mut ws = connect(&b.base, Some(ADMIN_KEY), "types=project.*,task.*")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let project: Value = http
        .post(a.url("/api/v1/projects"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "name": "via A" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = next_event(&mut ws, Duration::from_secs(10))
        .await
        .expect("the event crossed replicas");
    assert_eq!(event["type"], "project.created");
    assert_eq!(event["project_id"], project["id"]);
    let ready: Value = http
        .get(b.url("/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["fanout"], "ok (redis)");
    // B measured how long the event took from A's commit to its arrival over Redis.
    let metrics = metrics_of(&http, &b.url("/metrics")).await;
    let arrivals: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("agentops_event_redis_lag_seconds_count "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Redis lag histogram in {metrics}"));
    assert!(arrivals >= 1, "{metrics}");
}

async fn wait_until_ready(base: &str) {
    let http = reqwest::Client::new();
    for _ in 0..100 {
        let ready: Value = http
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ready["status"] == "ok" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} never became ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_while_redis_is_down() {
    let mut redis = PrivateRedis::start();
    let a = TestServer::spawn_with(B::Postgres, |cfg| use_redis(cfg, &redis.url())).await;
    let b = a.spawn_replica().await;
    wait_until_ready(&a.base).await;
    wait_until_ready(&b.base).await;
    let http = reqwest::Client::new();
    let project: Value = http
        .post(a.url("/api/v1/projects"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "name": "p" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let since = project_created_id(&a).await;
    let mut on_a = connect(
        &a.base,
        Some(ADMIN_KEY),
        &format!("since={since}&types=task.*"),
    )
    .await
    .unwrap();
    let mut on_b = connect(
        &b.base,
        Some(ADMIN_KEY),
        &format!("since={since}&types=task.*"),
    )
    .await
    .unwrap();

    let create = |n: usize| {
        let http = http.clone();
        let url = a.url("/api/v1/tasks");
        let project = project["id"].clone();
        async move {
            for i in 0..n {
                let response = http
                    .post(&url)
                    .bearer_auth(ADMIN_KEY)
                    .json(&json!({ "project_id": project, "title": format!("t{i}") }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    response.status(),
                    StatusCode::CREATED,
                    "writes succeed whatever Redis does"
                );
            }
        }
    };
    create(5).await;
    redis.stop();
    create(10).await;
    let ready: Value = http
        .get(a.url("/ready"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert!(
        ready["checks"]["fanout"]
            .as_str()
            .unwrap()
            .starts_with("error")
    );
    let last_during_outage = last_event_id(&a).await;
    // Both subscribers, including the one on the other replica, get every event.
    let on_b_ids = read_until(&mut on_b, last_during_outage).await;
    let on_a_ids = read_until(&mut on_a, last_during_outage).await;
    redis.restart();
    create(5).await;
    let last = last_event_id(&a).await;
    let mut on_b_ids = on_b_ids;
    on_b_ids.extend(read_until(&mut on_b, last).await);
    let mut on_a_ids = on_a_ids;
    on_a_ids.extend(read_until(&mut on_a, last).await);
    a.state.events.flush().await.unwrap();
    let expected: Vec<i64> = agentops_api::store::events::list_after(
        &a.state.db,
        since,
        a.state.events.delivered(),
        10_000,
    )
    .await
    .unwrap()
    .into_iter()
    .filter(|e| e.kind.starts_with("task."))
    .map(|e| e.id)
    .collect();
    assert_eq!(expected.len(), 20);
    assert_eq!(on_a_ids, expected);
    assert_eq!(on_b_ids, expected);
    wait_until_ready(&b.base).await;
}

async fn project_created_id(server: &TestServer) -> i64 {
    server.state.events.flush().await.unwrap();
    agentops_api::store::events::list_after(
        &server.state.db,
        0,
        server.state.events.delivered(),
        10_000,
    )
    .await
    .unwrap()
    .into_iter()
    .rfind(|e| e.kind == "project.created")
    .unwrap()
    .id
}

async fn last_event_id(server: &TestServer) -> i64 {
    server.state.events.flush().await.unwrap();
    agentops_api::store::events::max_id(&server.state.db, server.state.events.delivered())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_tell_a_subscriber_whose_filter_matches_nothing_where_it_stands() {
    let server = TestServer::spawn_with(B::Sqlite, |cfg| cfg.event_ping_ms = 100).await;
    let mut ws = connect(&server.base, Some(ADMIN_KEY), "types=nothing.matches")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for name in ["a", "b", "c"] {
        let response = http
            .post(server.url("/api/v1/projects"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let head = last_event_id(&server).await;
    let mut positions = Vec::new();
    while positions.last().is_none_or(|p| *p < head) {
        assert!(
            positions.len() < 200,
            "no ping reached #{head}: {positions:?}"
        );
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server pings")
        {
            Some(Ok(Message::Ping(payload))) => {
                let text = std::str::from_utf8(&payload).unwrap();
                positions.push(text.parse::<i64>().unwrap());
            }
            other => panic!("expected only pings, got {other:?}"),
        }
    }
    assert!(positions.is_sorted(), "{positions:?}");
    assert_eq!(positions.last(), Some(&head));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_falls_behind_is_closed_with_a_reason_to_resume() {
    let server = TestServer::spawn_with(B::Sqlite, |cfg| {
        cfg.event_buffer = 16;
        cfg.max_body_bytes = 4 * 1024 * 1024;
    })
    .await;
    let mut ws = connect(&server.base, Some(ADMIN_KEY), "types=task.*")
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let project: Value = http
        .post(server.url("/api/v1/projects"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "name": "p" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Large events (a task's input may be up to 1 MiB), and a subscriber that does not
    // read: socket buffers fill (about a dozen of these events on loopback), then the
    // subscriber's queue (16). The subscriber reads again once 40 are written, well
    // within the 30 s the server waits for a client to take a frame, and must then find
    // the close frame telling it where to resume.
    let blob = "x".repeat(768 * 1024);
    let url = server.url("/api/v1/tasks");
    let (written_tx, mut written) = tokio::sync::watch::channel(0usize);
    let writing = tokio::spawn(async move {
        for i in 0..64 {
            let response = http.post(&url).bearer_auth(ADMIN_KEY)
                .json(&json!({ "project_id": project["id"], "title": format!("big {i}"), "input": { "blob": blob } }))
                .send().await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let _ = written_tx.send(i + 1);
        }
    });
    tokio::time::timeout(Duration::from_secs(120), written.wait_for(|n| *n >= 40))
        .await
        .expect("40 events written within 120 s")
        .unwrap();
    let mut received = 0;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the server acts")
            .expect("a frame")
        {
            Ok(Message::Text(_)) => received += 1,
            Ok(Message::Close(frame)) => break frame.expect("a close frame with a reason"),
            Ok(_) => {}
            Err(err) => {
                panic!("connection broke without a close frame after {received} events: {err}")
            }
        }
    };
    assert_eq!(u16::from(close.code), 4000);
    assert!(close.reason.contains("since="), "{}", close.reason);
    assert!(received < 64);
    assert_eq!(server.state.metrics.slow_subscribers.get(), 1, "counted");
    writing.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_server_closes_streams_so_clients_resume_elsewhere() {
    let server = TestServer::spawn(B::Sqlite).await;
    let mut ws = connect(&server.base, Some(ADMIN_KEY), "since=0")
        .await
        .unwrap();
    assert!(next_event(&mut ws, Duration::from_secs(5)).await.is_some());
    let stopping = tokio::spawn(server.stop());
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(frame))) => break frame.expect("a close frame"),
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.code), 1012);
    assert!(close.reason.contains("since="));
    let _ = ws.close(None).await;
    let _ = stopping.await;
}

async fn events_past_their_retention_are_pruned_and_older_cursors_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_project("p").await;
    app.create_project("q").await;
    let events = app.events().await;
    let (oldest, kept) = (events[0].id, events[1].id);
    // Before pruning, reading from the very start is fine.
    let (status, _) = app.get("/api/v1/events?since=0").await;
    assert_eq!(status, StatusCode::OK);

    // The server's own reaper may get to the aged event first: check what is left, not
    // who deleted it.
    agentops_testkit::age_events(&app.state, oldest, chrono::Duration::days(40)).await;
    agentops_api::reaper::prune_events(&app.state)
        .await
        .unwrap();
    let remaining: Vec<i64> = app.events().await.iter().map(|e| e.id).collect();
    assert!(!remaining.contains(&oldest));
    assert_eq!(remaining.len(), events.len() - 1);

    // A reader that had not seen the pruned event is told, over HTTP and WebSocket.
    let (status, body) = app.get("/api/v1/events?since=0").await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["error"]["code"], "cursor_expired");
    match connect(&app.base, Some(ADMIN_KEY), "since=0").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 410);
        }
        other => panic!("expected 410 Gone, got {other:?}"),
    }
    // One that had seen it resumes as usual, and gets the rest.
    let (status, page) = app.get(&format!("/api/v1/events?since={oldest}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["id"], kept);
    let mut ws = connect(&app.base, Some(ADMIN_KEY), &format!("since={oldest}"))
        .await
        .unwrap();
    let first = next_event(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(first["id"], kept);
}

/// A quiet platform can see retention delete its whole log. The head must not fall
/// back to 0 then, or every reader resuming from it would be told its cursor expired.
async fn when_retention_prunes_every_event_the_head_stays_put(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_project("p").await;
    let (_, latest) = app.get("/api/v1/events/latest").await;
    let head = latest["last_id"].as_i64().unwrap();
    assert!(head > 0);
    assert_eq!(latest["pruned_through"], 0, "nothing was pruned yet");
    agentops_testkit::age_events(&app.state, head, chrono::Duration::days(400)).await;
    agentops_api::reaper::prune_events(&app.state)
        .await
        .unwrap();
    assert!(app.events().await.is_empty(), "the log is empty");

    let (status, latest) = app.get("/api/v1/events/latest").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(latest["last_id"], head, "the head stays where it was");
    assert_eq!(latest["pruned_through"], head);
    // Readers at the head resume, over HTTP and WebSocket, and a cursor can be saved there.
    let (status, page) = app.get(&format!("/api/v1/events?since={head}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"], json!([]));
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/events/cursors/quiet",
            Some(json!({"last_id": head})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ws = connect(&app.base, Some(ADMIN_KEY), &format!("since={head}"))
        .await
        .unwrap();
    // Live readers (no `since`) start there too, and what comes next gets a new id.
    let mut live = connect(&app.base, Some(ADMIN_KEY), "").await.unwrap();
    app.create_project("q").await;
    for ws in [&mut ws, &mut live] {
        let next = next_event(ws, Duration::from_secs(10)).await.unwrap();
        assert_eq!(next["type"], "project.created");
        assert!(next["id"].as_i64().unwrap() > head, "{next}");
    }
    // A reader from before the head is told what it missed is gone.
    let (status, body) = app.get(&format!("/api/v1/events?since={}", head - 1)).await;
    assert_eq!(status, StatusCode::GONE, "{body}");
}

/// Reads frames until one that is not an event; the events before it are dropped.
async fn next_control(ws: &mut Ws) -> Message {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server answers in time")
            .expect("the connection is open")
            .expect("a valid frame")
        {
            Message::Text(_) => {}
            other => return other,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_answers_pings_ignores_client_data_and_echoes_a_close() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let server = TestServer::spawn(B::Sqlite).await;
    let mut ws = connect(&server.base, Some(ADMIN_KEY), "types=project.*")
        .await
        .unwrap();
    ws.send(Message::Ping("are you there".into()))
        .await
        .unwrap();
    assert_eq!(
        next_control(&mut ws).await,
        Message::Pong("are you there".into())
    );
    // What a client sends is read and dropped; the stream goes on.
    ws.send(Message::Text("hello".into())).await.unwrap();
    ws.send(Message::Binary(vec![1u8; 1000].into()))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let created = http
        .post(server.url("/api/v1/projects"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "name": "after the chatter" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let event = next_event(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(event["data"]["name"], "after the chatter");

    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    match next_control(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected the close to be echoed, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server ends the connection")
            .is_none_or(|frame| frame.is_err())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_too_much_is_closed_with_1009() {
    let server = TestServer::spawn(B::Sqlite).await;
    let mut ws = connect(&server.base, Some(ADMIN_KEY), "").await.unwrap();
    ws.send(Message::Binary(vec![0u8; 100 * 1024].into()))
        .await
        .unwrap();
    match next_control(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a close with 1009, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_request_to_the_stream_is_refused_with_a_json_error() {
    let server = TestServer::spawn(B::Sqlite).await;
    let response = reqwest::Client::new()
        .get(server.url("/api/v1/events/stream"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_a_websocket_request");

    let opening = |version: &'static str, key: &'static str| {
        reqwest::Client::new()
            .get(server.url("/api/v1/events/stream"))
            .bearer_auth(ADMIN_KEY)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", version)
            .header("sec-websocket-key", key)
            .send()
    };
    // Another version: 426 with the version spoken (RFC 6455, section 4.4).
    let response = opening("8", "dGhlIHNhbXBsZSBub25jZQ==").await.unwrap();
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_websocket_version");
    // A key that is not a base64-encoded 16-byte nonce.
    let response = opening("13", "not a nonce").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_a_websocket_request");
}

/// Opens a write transaction that has a transaction id, as a write under way has before
/// it appends its events (the append is a write's last statement before commit).
async fn open_write(app: &TestApp) -> sea_orm::DatabaseTransaction {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let txn = app.state.db.begin().await.unwrap();
    txn.execute_unprepared("SELECT pg_current_xact_id()")
        .await
        .unwrap();
    txn
}

/// Appends one `test.long` event `{"n": n}` in `txn`, as `Tx::commit` does.
async fn append_long(
    txn: &sea_orm::DatabaseTransaction,
    n: u32,
) -> Vec<agentops_sdk::types::Event> {
    agentops_api::store::events::append(
        txn,
        vec![agentops_api::store::NewEvent {
            kind: "test.long",
            project_id: None,
            task_id: None,
            agent_id: None,
            data: json!({ "n": n }),
        }],
    )
    .await
    .unwrap()
}

/// Commits `txn` and hands its events to the fan-out, as `AppState::commit` does.
async fn commit_write(
    app: &TestApp,
    txn: sea_orm::DatabaseTransaction,
    events: Vec<agentops_sdk::types::Event>,
) {
    txn.commit().await.unwrap();
    app.state.events.committed(events);
}

/// A short write through the API, which must be answered while long transactions are
/// still open: writers do not wait for each other.
async fn short_write(app: &TestApp, name: &str) {
    tokio::time::timeout(Duration::from_secs(10), app.create_project(name))
        .await
        .unwrap_or_else(|_| panic!("the write of {name} waited for a transaction still open"));
}

/// A reader that connects after `last`, takes `want` events, and leaves.
async fn take_delivered(app: &TestApp, last: &mut i64, seen: &mut Vec<i64>, want: usize) {
    let mut ws = connect(&app.base, Some(ADMIN_KEY), &format!("since={last}"))
        .await
        .unwrap();
    for _ in 0..want {
        let event = next_event(&mut ws, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("only {seen:?} arrived after {last}"));
        *last = event["id"].as_i64().unwrap();
        seen.push(*last);
    }
}

/// The ids `GET /events?since=…` returns.
async fn page_ids(app: &TestApp, since: i64) -> Vec<i64> {
    let (status, page) = app.get(&format!("/api/v1/events?since={since}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

/// PostgreSQL writers commit side by side and never wait for each other: a transaction
/// held open holds up no short write. Before it appends its events it holds up no
/// reader either (the short writes' events are delivered, and shown over HTTP, at
/// once). Once it has drawn its ids, the events drawn after them wait for it: readers
/// get ids in order, so a reader that resumed past a later event would otherwise miss
/// it. A write that rolls back after drawing leaves a hole, which readers step over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_transactions_hold_up_no_writer_and_no_reader_misses_their_events() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn(B::Postgres).await;
    app.create_project("before").await;
    let start = app.events().await.last().unwrap().id;
    let mut seen: Vec<i64> = Vec::new();
    let mut last = start;

    let first = open_write(&app).await;
    short_write(&app, "s1").await;
    take_delivered(&app, &mut last, &mut seen, 1).await;
    assert_eq!(page_ids(&app, start).await, seen, "s1 is shown at once");
    let long1 = append_long(&first, 1).await;
    short_write(&app, "s2").await;
    // s2's id is above long1's, which is not committed: no reader gets s2 yet.
    let settled = agentops_api::store::events::list_after(&app.state.db, last, 0, 100)
        .await
        .unwrap();
    assert!(settled.is_empty(), "{settled:?}");
    commit_write(&app, first, long1).await;
    take_delivered(&app, &mut last, &mut seen, 2).await;
    // A write that draws an id and rolls back.
    let second = app.state.db.begin().await.unwrap();
    let abandoned = append_long(&second, 2).await[0].id;
    second.rollback().await.unwrap();
    short_write(&app, "s3").await;
    take_delivered(&app, &mut last, &mut seen, 1).await;
    assert!(last > abandoned);

    let log: Vec<(i64, String)> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.id > start)
        .map(|e| {
            let what = match e.kind.as_str() {
                "test.long" => format!("long{}", e.data["n"]),
                _ => e.data["name"].as_str().unwrap().to_owned(),
            };
            (e.id, what)
        })
        .collect();
    let order: Vec<&str> = log.iter().map(|(_, what)| what.as_str()).collect();
    assert_eq!(
        order,
        ["s1", "long1", "s2", "s3"],
        "events in the order of their ids"
    );
    let ids: Vec<i64> = log.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        seen, ids,
        "a resuming reader saw a gap, a duplicate or a reordering"
    );
    // Over HTTP too, from any point.
    for from in std::iter::once(start).chain(ids.iter().copied()) {
        let want: Vec<i64> = ids.iter().copied().filter(|&id| id > from).collect();
        assert_eq!(page_ids(&app, from).await, want, "GET /events?since={from}");
    }
}

/// The case a plain "committed before the oldest open transaction" test gets wrong: a
/// transaction that got its transaction id *after* another drew a lower event id. B
/// starts first, A second (so A's transaction id is the higher), A draws id `x`, B draws
/// `y > x` and commits. Every transaction older than B's has ended, yet `x` is still in
/// flight: `y` is not settled until A ends, in the log and in the live stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_is_settled_only_once_every_lower_id_drawn_before_it_has_ended() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = TestApp::spawn_with(B::Postgres, |cfg| cfg.event_poll_ms = 50).await;
    app.create_project("warm-up").await;
    let mut live = app.state.events.subscribe();
    let a = app.state.db.begin().await.unwrap();
    let b = open_write(&app).await;
    a.execute_unprepared("SELECT pg_current_xact_id()")
        .await
        .unwrap();
    let x = append_long(&a, 1).await;
    let y = append_long(&b, 2).await;
    let (x_id, y_id) = (x[0].id, y[0].id);
    assert!(x_id < y_id);
    commit_write(&app, b, y).await;
    let head = agentops_api::store::events::settled_head(&app.state.db, x_id - 1)
        .await
        .unwrap();
    assert_eq!(head, x_id - 1, "y is committed but x, below it, is not");
    assert!(
        agentops_api::store::events::list_after(&app.state.db, x_id - 1, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The hub holds y back too, through several looks at the log (the warm-up's event
    // may still arrive meanwhile).
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(event) = live.try_recv() {
        assert!(
            event.event.id < x_id,
            "{} was broadcast before x",
            event.event.id
        );
    }
    commit_write(&app, a, x).await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .expect("both are delivered once x commits")
            .unwrap();
        if event.event.id >= x_id {
            got.push(event.event.id);
        }
    }
    assert_eq!(got, [x_id, y_id]);
    // The log agrees once every older transaction of the server has ended (other tests'
    // migrations may hold it back a while).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let head = agentops_api::store::events::settled_head(&app.state.db, x_id - 1)
            .await
            .unwrap();
        if head == y_id {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "settled head {head}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A PostgreSQL server whose hub polls every 100 ms, and a stream of its `test.*` events.
async fn polling_app_watching_tests() -> (TestApp, Ws) {
    let app = TestApp::spawn_with(B::Postgres, |cfg| cfg.event_poll_ms = 100).await;
    let ws = connect(&app.base, Some(ADMIN_KEY), "types=test.*")
        .await
        .unwrap();
    (app, ws)
}

/// An event whose writer committed but died before handing it to the fan-out (a crashed
/// replica) is found by the poll, and delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_committed_by_a_writer_that_died_are_still_delivered() {
    use sea_orm::TransactionTrait;
    let (app, mut ws) = polling_app_watching_tests().await;
    let txn = app.state.db.begin().await.unwrap();
    append_long(&txn, 7).await;
    txn.commit().await.unwrap();
    let event = next_event(&mut ws, Duration::from_secs(10))
        .await
        .expect("the orphaned event was delivered");
    assert_eq!(event["type"], "test.long");
    assert_eq!(event["data"]["n"], 7);
}

/// A replica of the version before migration 27 (still running while a release rolls)
/// queues its events in the outbox when the ordering lock is busy, and its sequencer
/// moves them. One that stopped before its sequencer ran leaves them there: this
/// version's poll moves them into the log, and delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_an_earlier_version_left_in_its_outbox_are_moved_and_delivered() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let (app, mut ws) = polling_app_watching_tests().await;
    // Another writer of that version holds the ordering lock.
    let holder = app.state.db.begin().await.unwrap();
    holder
        .execute_unprepared("SELECT pg_advisory_xact_lock(7243819113002)")
        .await
        .unwrap();
    let txn = app.state.db.begin().await.unwrap();
    // The previous version's append: the lock is busy, so it queues the event.
    let numbered = txn
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM agentops_append_events_ids(CAST($1 AS jsonb), now(), 5000)",
            [json!([{ "type": "test.legacy", "data": { "n": 3 } }])
                .to_string()
                .into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(numbered, 0, "the event was queued");
    txn.commit().await.unwrap();
    holder.commit().await.unwrap();
    let event = next_event(&mut ws, Duration::from_secs(10))
        .await
        .expect("the queued event was moved and delivered");
    assert_eq!(event["type"], "test.legacy");
    assert_eq!(event["data"]["n"], 3);
    let outbox = app
        .state
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM event_outbox",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(outbox, 0);
}

/// A write answered before a read of the log is in what the read returns, at once.
async fn the_log_shows_every_write_answered_before_the_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..20 {
        let project = app.create_project(&format!("p{i}")).await;
        let (status, head) = app.get("/api/v1/events/latest").await;
        assert_eq!(status, StatusCode::OK);
        let (status, page) = app
            .get(&format!(
                "/api/v1/events?since={}&project_id={project}",
                head["last_id"].as_i64().unwrap() - 1
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["items"][0]["type"], "project.created", "{page}");
        assert_eq!(page["items"][0]["project_id"], project.to_string());
    }
}

/// A writer publishes its events whole (the database answers only their ids): what
/// subscribers get is what the log holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_publishes_its_events_as_the_log_holds_them() {
    // A poll slow enough that only the writer can have published the event.
    let app = TestApp::spawn_with(B::Postgres, |cfg| cfg.event_poll_ms = 60_000).await;
    app.create_project("warm-up").await;
    let mut live = app.state.events.subscribe();
    let project = app.create_project("after").await;
    // The warm-up's event may still be on its way to the hub.
    let published = loop {
        let event = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .expect("the writer publishes what it logged")
            .unwrap()
            .event
            .clone();
        if event.kind != "project.created" || event.data["name"] != "warm-up" {
            break event;
        }
    };
    assert_eq!(published.kind, "project.created");
    assert_eq!(published.project_id, Some(project));
    assert_eq!(published.data["name"], "after");
    let log: Vec<agentops_sdk::types::Event> = agentops_api::store::events::list_after(
        &app.state.db,
        0,
        app.state.events.delivered(),
        1_000,
    )
    .await
    .unwrap();
    let stored = log
        .iter()
        .find(|e| e.project_id == Some(project))
        .expect("the writer's event is in the log at commit");
    assert_eq!(&published, stored);
}

/// Reads until the server closes the stream; its close frame.
async fn close_of(ws: &mut Ws) -> tokio_tungstenite::tungstenite::protocol::CloseFrame {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server closes the stream")
            .expect("a frame")
        {
            Ok(Message::Close(frame)) => return frame.expect("a close frame with a reason"),
            Ok(_) => {}
            Err(err) => panic!("connection broke without a close frame: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_key_is_revoked_or_expires() {
    let server = TestServer::spawn_with(B::Sqlite, |cfg| cfg.event_ping_ms = 100).await;
    let http = reqwest::Client::new();
    let create = |body: Value| {
        let http = http.clone();
        let url = server.url("/api/v1/keys");
        async move {
            let created: Value = http
                .post(url)
                .bearer_auth(ADMIN_KEY)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            created
        }
    };
    // Revoked (here, or on any other replica: the stream asks the database).
    let key = create(json!({"name": "watcher", "role": "viewer"})).await;
    let mut ws = connect(&server.base, key["secret"].as_str(), "")
        .await
        .unwrap();
    let revoked = http
        .delete(server.url(&format!("/api/v1/keys/{}", key["id"].as_str().unwrap())))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let close = close_of(&mut ws).await;
    assert_eq!(u16::from(close.code), 4001);
    assert_eq!(
        close.reason.as_str(),
        "the API key was revoked or has expired"
    );

    // Expired while the stream was open.
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let key = create(json!({"name": "brief", "role": "viewer", "expires_at": soon})).await;
    let mut ws = connect(&server.base, key["secret"].as_str(), "")
        .await
        .unwrap();
    let close = close_of(&mut ws).await;
    assert_eq!(u16::from(close.code), 4001);
    assert!(chrono::Utc::now() >= soon);

    // A key that stays valid keeps its stream.
    let mut ws = connect(&server.base, Some(ADMIN_KEY), "").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(800);
    while let Ok(frame) = tokio::time::timeout_at(deadline, ws.next()).await {
        assert!(
            matches!(frame, Some(Ok(Message::Ping(_)))),
            "only pings: {frame:?}"
        );
    }
}
