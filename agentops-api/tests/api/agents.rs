//! Agents: registration, heartbeats, presence.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use agentops_testkit::{Backend, TestApp, id_of};

async fn registering_a_known_name_returns_the_same_agent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app
        .post_ok("/api/v1/agents", json!({ "name": "seed-1", "kind": "seed", "capabilities": ["shell"], "version": "1.0" }), StatusCode::OK)
        .await;
    let again = app
        .post_ok(
            "/api/v1/agents",
            json!({ "name": "seed-1", "version": "1.1" }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(first["id"], again["id"]);
    assert_eq!(again["version"], "1.1");
    assert_eq!(again["capabilities"], json!(["shell"]));
    assert_eq!(again["status"], "online");
    let list = app.get_ok("/api/v1/agents").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    let (status, body) = app
        .post("/api/v1/agents", json!({ "name": "has space" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Concurrent first registrations of one name make one agent.
    let results = futures_util::future::join_all(
        (0..6).map(|_| app.post("/api/v1/agents", json!({ "name": "racer" }))),
    )
    .await;
    let ids: std::collections::HashSet<_> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::OK, "{b}");
            b["id"].clone()
        })
        .collect();
    assert_eq!(ids.len(), 1);
}

async fn a_silent_agent_goes_offline_and_a_heartbeat_brings_it_back(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| cfg.agent_ttl_seconds = 1).await;
    let id = app.register_agent("sleepy").await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let agent = app.get_ok(&format!("/api/v1/agents/{id}")).await;
    assert_eq!(agent["status"], "offline");
    // The reaper records the transition as an event.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !app
        .events()
        .await
        .iter()
        .any(|e| e.kind == "agent.offline" && e.agent_id == Some(id))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no agent.offline event"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back = app
        .post_ok(
            &format!("/api/v1/agents/{id}/heartbeat"),
            json!({}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(back["status"], "online");
    assert_eq!(id_of(&back), id);
    let kinds: Vec<String> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.agent_id == Some(id))
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["agent.registered", "agent.offline", "agent.online"]);
}

crate::on_both_backends!(
    registering_a_known_name_returns_the_same_agent,
    a_silent_agent_goes_offline_and_a_heartbeat_brings_it_back,
);
