//! Task life cycle: claims, leases, fencing, retries, dependencies, idempotency.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use agentops_testkit::{Backend, TestApp, id_of};

fn token_of(claimed: &serde_json::Value) -> String {
    claimed["claim_token"]
        .as_str()
        .expect("claim token")
        .to_owned()
}

async fn a_claimed_task_can_be_completed_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let task = app
        .create_task(project, json!({ "input": { "n": 1 }, "kind": "echo" }))
        .await;
    assert_eq!(task["status"], "queued");
    let agent = app.register_agent("worker").await;

    let claimed = app.claim(agent, json!({})).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0]["id"], task["id"]);
    assert_eq!(claimed[0]["status"], "running");
    assert_eq!(claimed[0]["agent_id"], json!(agent));
    assert!(claimed[0]["lease_expires_at"].is_string());
    let token = token_of(&claimed[0]);
    let id = id_of(&task);

    let done = app
        .post_ok(
            &format!("/api/v1/tasks/{id}/complete"),
            json!({ "claim_token": token, "result": { "ok": true } }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["result"], json!({ "ok": true }));
    assert!(done["finished_at"].is_string());

    // A retried completion with the same token gets the same answer, not an error.
    let again = app
        .post_ok(
            &format!("/api/v1/tasks/{id}/complete"),
            json!({ "claim_token": token, "result": { "ok": false } }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(again["result"], json!({ "ok": true }));
    // But the task cannot be failed afterwards.
    let (status, body) = app
        .post(
            &format!("/api/v1/tasks/{id}/fail"),
            json!({ "claim_token": token, "error": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        app.claim(agent, json!({})).await.is_empty(),
        "a completed task is never handed out again"
    );

    let kinds = app.task_event_kinds(id).await;
    assert_eq!(kinds, ["task.created", "task.claimed", "task.completed"]);
}

async fn claims_follow_priority_then_age_and_respect_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let low = app
        .create_task(project, json!({ "title": "low", "priority": -5 }))
        .await;
    let old_high = app
        .create_task(project, json!({ "title": "old high", "priority": 10 }))
        .await;
    let new_high = app
        .create_task(project, json!({ "title": "new high", "priority": 10 }))
        .await;
    let gpu = app
        .create_task(
            project,
            json!({ "title": "gpu", "priority": 100, "kind": "render", "labels": ["gpu", "eu"] }),
        )
        .await;
    let agent = app.register_agent("w").await;

    // Kind and label filters.
    assert!(
        app.claim(
            agent,
            json!({ "kinds": ["render"], "labels": ["gpu", "us"] })
        )
        .await
        .is_empty()
    );
    let claimed = app
        .claim(agent, json!({ "kinds": ["render"], "labels": ["gpu"] }))
        .await;
    assert_eq!(claimed[0]["id"], gpu["id"]);

    // A batch comes highest priority first, then oldest first.
    let batch = app
        .claim(agent, json!({ "limit": 10, "kinds": ["default"] }))
        .await;
    let ids: Vec<_> = batch.iter().map(|t| t["id"].clone()).collect();
    assert_eq!(
        ids,
        [
            old_high["id"].clone(),
            new_high["id"].clone(),
            low["id"].clone()
        ]
    );
    let tokens: std::collections::HashSet<_> = batch.iter().map(token_of).collect();
    assert_eq!(tokens.len(), 3, "each claimed task has its own token");
    assert!(app.claim(agent, json!({ "limit": 10 })).await.is_empty());
}

async fn an_expired_lease_requeues_the_task_and_fences_the_old_holder(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let task = app.create_task(project, json!({})).await;
    let id = id_of(&task);
    let first = app.register_agent("first").await;
    let second = app.register_agent("second").await;

    let claimed = app.claim(first, json!({ "lease_seconds": 5 })).await;
    let stale = token_of(&claimed[0]);
    // Force the lease into the past rather than sleeping through it.
    expire_lease(&app, id).await;

    let requeued = app
        .wait_for_task_json(id, Duration::from_secs(10), |t| t["status"] == "queued")
        .await;
    assert_eq!(requeued["attempts"], 1);
    assert!(
        requeued["error"]
            .as_str()
            .unwrap()
            .contains("lease expired")
    );
    assert!(requeued["not_before"].is_string(), "retries back off");

    let reclaimed = loop {
        let got = app.claim(second, json!({})).await;
        if !got.is_empty() {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let fresh = token_of(&reclaimed[0]);
    assert_ne!(fresh, stale);

    for (action, body) in [
        ("heartbeat", json!({ "claim_token": stale })),
        ("complete", json!({ "claim_token": stale, "result": 1 })),
        ("fail", json!({ "claim_token": stale, "error": "late" })),
        ("block", json!({ "claim_token": stale, "reason": "late" })),
    ] {
        let (status, body) = app
            .post(&format!("/api/v1/tasks/{id}/{action}"), body)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {body}");
        assert_eq!(body["error"]["code"], "stale_claim", "{action}");
    }
    let current = app.get_ok(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(current["status"], "running");
    assert_eq!(current["agent_id"], json!(second));

    app.post_ok(
        &format!("/api/v1/tasks/{id}/complete"),
        json!({ "claim_token": fresh }),
        StatusCode::OK,
    )
    .await;
    let kinds = app.task_event_kinds(id).await;
    assert_eq!(
        kinds,
        [
            "task.created",
            "task.claimed",
            "task.requeued",
            "task.claimed",
            "task.completed"
        ]
    );
}

async fn expire_lease(app: &TestApp, id: Uuid) {
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    let row = agentops_api::store::entity::task::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut row = row.into_active_model();
    row.lease_expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::seconds(1)));
    row.update(&app.state.db).await.unwrap();
}

async fn heartbeats_extend_the_lease_and_report_progress(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let id = id_of(&app.create_task(project, json!({})).await);
    let agent = app.register_agent("w").await;
    let claimed = app.claim(agent, json!({ "lease_seconds": 10 })).await;
    let token = token_of(&claimed[0]);
    let before: chrono::DateTime<chrono::Utc> = claimed[0]["lease_expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let beat = app
        .post_ok(&format!("/api/v1/tasks/{id}/heartbeat"), json!({ "claim_token": token, "lease_seconds": 600, "progress": 0.5, "message": "halfway" }), StatusCode::OK)
        .await;
    let after: chrono::DateTime<chrono::Utc> =
        beat["lease_expires_at"].as_str().unwrap().parse().unwrap();
    assert!(after > before + chrono::Duration::seconds(500));
    assert_eq!(beat["progress"], 0.5);
    assert_eq!(beat["progress_message"], "halfway");

    let (status, body) = app
        .post(
            &format!("/api/v1/tasks/{id}/heartbeat"),
            json!({ "claim_token": token, "progress": 1.5 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"][0]["field"], "progress");

    let progress_events = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == "task.progress")
        .count();
    assert_eq!(progress_events, 1);
}

async fn failures_retry_with_backoff_until_max_attempts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let id = id_of(&app.create_task(project, json!({ "max_attempts": 3 })).await);
    let agent = app.register_agent("w").await;

    for attempt in 1..=3 {
        let claimed = loop {
            let got = app.claim(agent, json!({})).await;
            if !got.is_empty() {
                break got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let after = app
            .post_ok(
                &format!("/api/v1/tasks/{id}/fail"),
                json!({ "claim_token": token_of(&claimed[0]), "error": format!("boom {attempt}") }),
                StatusCode::OK,
            )
            .await;
        assert_eq!(after["attempts"], attempt);
        if attempt < 3 {
            assert_eq!(after["status"], "queued");
            assert!(after["not_before"].is_string());
        } else {
            assert_eq!(after["status"], "failed");
            let error = after["error"].as_str().unwrap();
            assert!(
                error.contains("boom 3") && error.contains("no attempts left"),
                "{error}"
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(app.claim(agent, json!({})).await.is_empty());
    let kinds = app.task_event_kinds(id).await;
    assert_eq!(kinds.last().map(String::as_str), Some("task.dead"));
}

async fn lease_expiry_on_the_last_attempt_fails_the_task_for_good(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let id = id_of(&app.create_task(project, json!({ "max_attempts": 1 })).await);
    let agent = app.register_agent("w").await;
    app.claim(agent, json!({ "lease_seconds": 5 })).await;
    expire_lease(&app, id).await;
    let dead = app
        .wait_for_task_json(id, Duration::from_secs(10), |t| t["status"] == "failed")
        .await;
    assert_eq!(dead["attempts"], 1);
    let error = dead["error"].as_str().unwrap();
    assert!(
        error.contains("lease expired") && error.contains("attempt 1 of 1"),
        "{error}"
    );
}

async fn a_non_retryable_failure_is_final(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let id = id_of(&app.create_task(project, json!({ "max_attempts": 5 })).await);
    let agent = app.register_agent("w").await;
    let claimed = app.claim(agent, json!({})).await;
    let failed = app
        .post_ok(&format!("/api/v1/tasks/{id}/fail"), json!({ "claim_token": token_of(&claimed[0]), "error": "bad input", "retryable": false }), StatusCode::OK)
        .await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"], "bad input");
}

async fn dependencies_gate_claiming_and_failures_cascade(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let a = id_of(&app.create_task(project, json!({ "title": "a" })).await);
    let b = id_of(&app.create_task(project, json!({ "title": "b" })).await);
    let c = app
        .create_task(project, json!({ "title": "c", "depends_on": [a, b] }))
        .await;
    let d = app
        .create_task(project, json!({ "title": "d", "depends_on": [c["id"]] }))
        .await;
    assert_eq!(c["status"], "waiting");
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!(c["depends_on"], json!(expected));
    let agent = app.register_agent("w").await;

    // Only a and b are claimable.
    let batch = app.claim(agent, json!({ "limit": 10 })).await;
    assert_eq!(batch.len(), 2);
    let token = |id: Uuid| token_of(batch.iter().find(|t| t["id"] == json!(id)).unwrap());
    app.post_ok(
        &format!("/api/v1/tasks/{a}/complete"),
        json!({ "claim_token": token(a) }),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.get_ok(&format!("/api/v1/tasks/{}", id_of(&c))).await["status"],
        "waiting"
    );
    app.post_ok(
        &format!("/api/v1/tasks/{b}/complete"),
        json!({ "claim_token": token(b) }),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        app.get_ok(&format!("/api/v1/tasks/{}", id_of(&c))).await["status"],
        "queued"
    );

    // c fails for good: d, waiting on it, is cancelled.
    let claimed = app.claim(agent, json!({})).await;
    assert_eq!(claimed[0]["id"], c["id"]);
    app.post_ok(
        &format!("/api/v1/tasks/{}/fail", id_of(&c)),
        json!({ "claim_token": token_of(&claimed[0]), "error": "no", "retryable": false }),
        StatusCode::OK,
    )
    .await;
    let d = app.get_ok(&format!("/api/v1/tasks/{}", id_of(&d))).await;
    assert_eq!(d["status"], "cancelled");
    assert!(d["error"].as_str().unwrap().contains("failed"));

    // A task cannot depend on one that can never complete, nor on one that does not exist.
    let (status, body) = app
        .post(
            "/api/v1/tasks",
            json!({ "project_id": project, "title": "e", "depends_on": [c["id"], Uuid::now_v7()] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"].as_array().unwrap().len(), 2);
}

async fn cancelling_reaches_waiting_dependents_and_fences_the_agent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let a = id_of(&app.create_task(project, json!({})).await);
    let b = id_of(&app.create_task(project, json!({ "depends_on": [a] })).await);
    let agent = app.register_agent("w").await;
    let claimed = app.claim(agent, json!({})).await;

    let cancelled = app
        .post_ok(
            &format!("/api/v1/tasks/{a}/cancel"),
            json!({ "reason": "not needed" }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["error"], "not needed");
    assert_eq!(
        app.get_ok(&format!("/api/v1/tasks/{b}")).await["status"],
        "cancelled"
    );
    let (status, body) = app
        .post(
            &format!("/api/v1/tasks/{a}/complete"),
            json!({ "claim_token": token_of(&claimed[0]) }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "stale_claim");
    // Cancelling twice is an illegal transition; so is a body-less cancel of a final task.
    let (status, body) = app
        .call(Method::POST, &format!("/api/v1/tasks/{a}/cancel"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "invalid_transition");
}

async fn a_blocked_task_waits_for_a_human(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let id = id_of(&app.create_task(project, json!({})).await);
    let agent = app.register_agent("w").await;
    let claimed = app.claim(agent, json!({})).await;
    let blocked = app
        .post_ok(
            &format!("/api/v1/tasks/{id}/block"),
            json!({ "claim_token": token_of(&claimed[0]), "reason": "which account?" }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(blocked["block_reason"], "which account?");
    assert!(app.claim(agent, json!({})).await.is_empty());

    let (status, _) = app
        .post(
            &format!("/api/v1/tasks/{id}/unblock"),
            json!({ "bogus": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let unblocked = app
        .post_ok(
            &format!("/api/v1/tasks/{id}/unblock"),
            json!({ "note": "use the EU one" }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(unblocked["status"], "queued");
    assert_eq!(
        unblocked["attempts"], 0,
        "blocking does not use up attempts"
    );
    let again = app.claim(agent, json!({})).await;
    assert_eq!(again[0]["progress_message"], "use the EU one");
    let (status, body) = app
        .call(Method::POST, &format!("/api/v1/tasks/{id}/unblock"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

async fn unblocking_without_a_note_leaves_no_stale_progress_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let id = id_of(&app.create_task(project, json!({})).await);
    let agent = app.register_agent("w").await;
    let mut answers = Vec::new();
    for unblock in [
        None,
        Some(json!({})),
        Some(json!({ "note": "use the EU one" })),
    ] {
        let claimed = app.claim(agent, json!({})).await;
        let token = token_of(&claimed[0]);
        app.post_ok(
            &format!("/api/v1/tasks/{id}/heartbeat"),
            json!({ "claim_token": token, "message": "step 1/2: ask \"Which env?\"" }),
            StatusCode::OK,
        )
        .await;
        app.post_ok(
            &format!("/api/v1/tasks/{id}/block"),
            json!({ "claim_token": token, "reason": "Which env?" }),
            StatusCode::OK,
        )
        .await;

        let (status, unblocked) = app
            .call(
                Method::POST,
                &format!("/api/v1/tasks/{id}/unblock"),
                unblock,
            )
            .await;

        assert_eq!(status, StatusCode::OK, "{unblocked}");
        answers.push(unblocked["progress_message"].clone());
    }
    // The next attempt reads the human's answer from `progress_message`: absent when
    // they gave none, never the agent's own text from before it blocked.
    assert_eq!(answers, [Value::Null, Value::Null, json!("use the EU one")]);
    let events: Vec<Value> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.task_id == Some(id) && e.kind == "task.unblocked")
        .map(|e| e.data["progress_message"].clone())
        .collect();
    assert_eq!(events, answers);
    let again = app.claim(agent, json!({})).await;
    assert_eq!(again[0]["progress_message"], "use the EU one");
}

async fn the_same_idempotency_key_returns_the_first_task(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let body = json!({ "project_id": project, "title": "once" });
    let send = |body: serde_json::Value, key: &'static str| {
        let app = &app;
        async move {
            let response = app
                .http
                .post(app.url("/api/v1/tasks"))
                .bearer_auth(&app.key)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let replayed = response.headers().get("idempotent-replayed").is_some();
            (
                status,
                replayed,
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (s1, r1, first) = send(body.clone(), "key-1").await;
    let (s2, r2, second) = send(body.clone(), "key-1").await;
    assert_eq!((s1, r1), (StatusCode::CREATED, false));
    assert_eq!((s2, r2), (StatusCode::OK, true));
    assert_eq!(first["id"], second["id"]);

    let (s3, _, reused) = send(
        json!({ "project_id": project, "title": "different" }),
        "key-1",
    )
    .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused["error"]["code"], "idempotency_key_reused");

    // Concurrent requests with one key still make one task.
    let results = futures_util::future::join_all((0..8).map(|_| send(body.clone(), "key-2"))).await;
    let ids: std::collections::HashSet<_> = results
        .iter()
        .map(|(s, _, v)| {
            assert!(s.is_success(), "{v}");
            v["id"].clone()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let page = app
        .get_ok(&format!("/api/v1/tasks?project_id={project}&limit=200"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
}

async fn tasks_can_be_patched_only_while_not_running(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let id = id_of(&app.create_task(project, json!({ "labels": ["a"] })).await);
    let patched = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tasks/{id}"),
            Some(json!({ "title": "new", "priority": 7, "labels": ["b", "b", "c"] })),
        )
        .await;
    assert_eq!(patched.0, StatusCode::OK, "{}", patched.1);
    assert_eq!(patched.1["labels"], json!(["b", "c"]));
    let by_label = app.get_ok("/api/v1/tasks?label=c").await;
    assert_eq!(by_label["items"].as_array().unwrap().len(), 1);
    assert!(
        app.get_ok("/api/v1/tasks?label=a").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let agent = app.register_agent("w").await;
    app.claim(agent, json!({})).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/tasks/{id}"),
            Some(json!({ "title": "x" })),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "invalid_transition");
}

async fn task_listing_filters_and_paginates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let p1 = app.create_project("p1").await;
    let p2 = app.create_project("p2").await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(id_of(&app.create_task(p1, json!({ "title": format!("t{i}"), "kind": if i % 2 == 0 { "even" } else { "odd" } })).await));
    }
    app.create_task(p2, json!({})).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/tasks?project_id={p1}&limit=3&cursor={c}"),
            None => format!("/api/v1/tasks?project_id={p1}&limit=3"),
        };
        let page = app.get_ok(&path).await;
        for item in page["items"].as_array().unwrap() {
            seen.push(id_of(item));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(
        seen, created,
        "all of the project's tasks, newest first, each once"
    );

    let odd = app
        .get_ok(&format!("/api/v1/tasks?project_id={p1}&kind=odd"))
        .await;
    assert_eq!(odd["items"].as_array().unwrap().len(), 3);
    let queued = app.get_ok("/api/v1/tasks?status=queued&limit=200").await;
    assert_eq!(queued["items"].as_array().unwrap().len(), 8);
    let agent = app.register_agent("w").await;
    app.claim(agent, json!({ "limit": 2, "project_id": p2 }))
        .await;
    let mine = app.get_ok(&format!("/api/v1/tasks?agent_id={agent}")).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let (status, body) = app.get("/api/v1/tasks?status=sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_query");
}

async fn a_released_task_goes_back_to_the_queue_without_using_an_attempt(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let id = id_of(&app.create_task(project, json!({ "max_attempts": 1 })).await);
    let agent = app.register_agent("w").await;
    let claimed = app.claim(agent, json!({})).await;
    let token = token_of(&claimed[0]);
    let released = app
        .post_ok(
            &format!("/api/v1/tasks/{id}/release"),
            json!({ "claim_token": token, "reason": "worker shutting down" }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(released["status"], "queued");
    assert_eq!(released["attempts"], 0);
    assert!(released["not_before"].is_null(), "claimable at once");
    assert_eq!(released["progress_message"], "worker shutting down");
    let (status, body) = app
        .post(
            &format!("/api/v1/tasks/{id}/complete"),
            json!({ "claim_token": token }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("stale_claim"))
    );
    // With one attempt allowed, the task still runs: releasing used none.
    let again = app.claim(agent, json!({})).await;
    app.post_ok(
        &format!("/api/v1/tasks/{id}/complete"),
        json!({ "claim_token": token_of(&again[0]) }),
        StatusCode::OK,
    )
    .await;
    let kinds = app.task_event_kinds(id).await;
    assert_eq!(
        kinds,
        [
            "task.created",
            "task.claimed",
            "task.released",
            "task.claimed",
            "task.completed"
        ]
    );
}

/// `POST /tasks/claim` with `Idempotency-Key: key`; returns whether it says it replayed,
/// and the claimed tasks.
async fn claim_keyed(app: &TestApp, agent: Uuid, key: &str, extra: Value) -> (bool, Vec<Value>) {
    let (replayed, out) = claim_with_key(app, agent, key, extra).await;
    (replayed, list(&out, "tasks"))
}

/// `POST /tasks/claim` with `Idempotency-Key: key` and `extra` fields; returns whether
/// it says it replayed, and its body.
async fn claim_with_key(app: &TestApp, agent: Uuid, key: &str, extra: Value) -> (bool, Value) {
    let mut body = json!({ "agent_id": agent });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let response = app
        .http
        .post(app.url("/api/v1/tasks/claim"))
        .bearer_auth(agentops_testkit::ADMIN_KEY)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (replayed, response.json().await.unwrap())
}

/// The array `field` of `out` (empty if absent).
fn list(out: &Value, field: &str) -> Vec<Value> {
    out[field].as_array().cloned().unwrap_or_default()
}

async fn a_repeated_claim_gets_the_same_tasks_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    for i in 0..5 {
        app.create_task(project, json!({ "title": format!("t{i}") }))
            .await;
    }
    let agent = app.register_agent("w").await;

    let (replayed, first) = claim_keyed(&app, agent, "claim-1", json!({ "limit": 2 })).await;
    assert!(!replayed);
    assert_eq!(first.len(), 2);
    // The answer was lost; the agent asks again with the same key: the same tasks, the
    // same tokens, the same leases, and nothing more is claimed.
    let (replayed, again) = claim_keyed(&app, agent, "claim-1", json!({ "limit": 2 })).await;
    assert!(replayed);
    assert_eq!(again, first);
    let running = app.get_ok("/api/v1/tasks?status=running").await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(running, 2);
    let claimed_events = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == "task.claimed")
        .count();
    assert_eq!(
        claimed_events, 2,
        "a replay changes nothing, so it emits nothing"
    );

    // Another key claims afresh; another agent's "claim-1" is its own.
    let (replayed, next) = claim_keyed(&app, agent, "claim-2", json!({})).await;
    assert!(!replayed);
    assert_eq!(next.len(), 1);
    assert!(first.iter().all(|t| t["id"] != next[0]["id"]));
    let other = app.register_agent("v").await;
    let (replayed, theirs) = claim_keyed(&app, other, "claim-1", json!({})).await;
    assert!(!replayed);
    assert_eq!(theirs.len(), 1);

    // Once the claim's tasks are finished, its key holds nothing: a late repeat claims
    // what is runnable then, as a new claim would.
    for task in &first {
        let id = task["id"].as_str().unwrap();
        app.post_ok(
            &format!("/api/v1/tasks/{id}/complete"),
            json!({ "claim_token": token_of(task), "result": { "done": true } }),
            StatusCode::OK,
        )
        .await;
    }
    let (replayed, late) = claim_keyed(&app, agent, "claim-1", json!({ "limit": 5 })).await;
    assert!(!replayed);
    assert_eq!(late.len(), 1, "the one task still queued");

    // Two repeats racing: one claim, and both answers carry it.
    for i in 0..3 {
        app.create_task(project, json!({ "title": format!("r{i}") }))
            .await;
    }
    let (a, b) = tokio::join!(
        claim_keyed(&app, agent, "race", json!({})),
        claim_keyed(&app, agent, "race", json!({})),
    );
    assert_eq!(a.1, b.1);
    assert_eq!(a.1.len(), 1);
    assert!(a.0 != b.0, "one claimed, the other replayed");
    let queued = app.get_ok("/api/v1/tasks?status=queued").await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(queued, 2);
}

/// `POST /tasks/complete`: many completions in one request and one transaction, each
/// judged on its own; a stale token, an unknown task or a task not running fails only
/// its own item, and a repeat of the batch changes nothing.
async fn a_batch_completes_each_task_on_its_own_terms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let downstream_of = app.create_task(project, json!({ "title": "first" })).await;
    let waiting = app
        .create_task(
            project,
            json!({ "title": "after", "depends_on": [id_of(&downstream_of)] }),
        )
        .await;
    assert_eq!(waiting["status"], "waiting");
    for i in 0..3 {
        app.create_task(project, json!({ "title": format!("t{i}") }))
            .await;
    }
    let agent = app.register_agent("worker").await;
    let claimed = app.claim(agent, json!({ "limit": 10 })).await;
    assert_eq!(claimed.len(), 4, "the waiting task is not runnable yet");
    let unknown = Uuid::new_v4();
    let mut items: Vec<Value> = claimed
        .iter()
        .enumerate()
        .map(|(i, task)| {
            json!({ "id": task["id"], "claim_token": task["claim_token"], "result": { "i": i } })
        })
        .collect();
    // A stale token for the last one, and a task that does not exist.
    items[3]["claim_token"] = json!(Uuid::new_v4());
    items.push(json!({ "id": unknown, "claim_token": Uuid::new_v4() }));
    let out = app
        .post_ok(
            "/api/v1/tasks/complete",
            json!({ "items": items }),
            StatusCode::OK,
        )
        .await;
    let outcomes = out["items"].as_array().unwrap();
    assert_eq!(outcomes.len(), 5);
    for (i, outcome) in outcomes.iter().enumerate().take(3) {
        assert_eq!(
            outcome["id"], claimed[i]["id"],
            "answers keep the request's order"
        );
        assert_eq!(outcome["status"], 200, "{outcome}");
        assert_eq!(outcome["task"]["status"], "completed");
        assert_eq!(outcome["task"]["result"], json!({ "i": i }));
        assert!(outcome.get("error").is_none());
    }
    assert_eq!(outcomes[3]["status"], 409, "{}", outcomes[3]);
    assert_eq!(outcomes[3]["error"]["code"], "stale_claim");
    assert!(outcomes[3].get("task").is_none());
    assert_eq!(outcomes[4]["id"], json!(unknown));
    assert_eq!(outcomes[4]["status"], 404);
    assert_eq!(outcomes[4]["error"]["code"], "task_not_found");
    // The refused item is still running; completing the first task queued its dependent.
    let (_, fourth) = app
        .get(&format!(
            "/api/v1/tasks/{}",
            claimed[3]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(fourth["status"], "running");
    let (_, after) = app.get(&format!("/api/v1/tasks/{}", id_of(&waiting))).await;
    assert_eq!(after["status"], "queued");
    for task in &claimed[..3] {
        let kinds = app.task_event_kinds(id_of(task)).await;
        assert_eq!(kinds, ["task.created", "task.claimed", "task.completed"]);
    }

    // The same batch again (its answer was lost): the same answers, nothing twice.
    let again = app
        .post_ok(
            "/api/v1/tasks/complete",
            json!({ "items": items }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(again["items"][0]["task"]["result"], json!({ "i": 0 }));
    assert_eq!(again["items"][3]["status"], 409);
    for task in &claimed[..3] {
        assert_eq!(app.task_event_kinds(id_of(task)).await.len(), 3);
    }
}

/// `POST /tasks/claim` with `complete`: the tasks the agent finished are completed in
/// the claim's own transaction, before it, each judged on its own (a stale token fails
/// only its item and the claim still goes on); a completion that releases a dependent
/// lets the same claim take it; a repeat completes nothing twice; an unknown agent
/// completes nothing; a malformed list is refused whole.
async fn a_claim_completes_what_the_agent_finished_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let first = app.create_task(project, json!({ "title": "first" })).await;
    let second = app.create_task(project, json!({ "title": "second" })).await;
    let after = app
        .create_task(
            project,
            json!({ "title": "after", "depends_on": [id_of(&first)] }),
        )
        .await;
    let agent = app.register_agent("worker").await;
    let claimed = app.claim(agent, json!({ "limit": 2 })).await;
    assert_eq!(claimed.len(), 2);
    let items = json!([
        { "id": claimed[0]["id"], "claim_token": claimed[0]["claim_token"], "result": { "n": 1 } },
        { "id": claimed[1]["id"], "claim_token": Uuid::new_v4() },
    ]);
    let (replayed, next, completed) = claim_completing(&app, agent, "next-1", &items).await;
    assert!(!replayed);
    assert_eq!(completed.len(), 2, "{completed:?}");
    assert_eq!(completed[0]["id"], claimed[0]["id"]);
    assert_eq!(completed[0]["status"], 200);
    assert_eq!(completed[0]["task"]["status"], "completed");
    assert_eq!(completed[0]["task"]["result"], json!({ "n": 1 }));
    assert_eq!(completed[1]["status"], 409, "{}", completed[1]);
    assert_eq!(completed[1]["error"]["code"], "stale_claim");
    // The completion released the dependent, and the same claim took it.
    assert_eq!(next.len(), 1);
    assert_eq!(next[0]["id"], after["id"]);
    let (_, still) = app.get(&format!("/api/v1/tasks/{}", id_of(&second))).await;
    assert_eq!(still["status"], "running", "a stale token changes nothing");
    assert_eq!(
        app.task_event_kinds(id_of(&claimed[0])).await,
        ["task.created", "task.claimed", "task.completed"]
    );
    let log = app.events().await;
    let position = |kind: &str, id: &Value| {
        log.iter()
            .position(|e| e.kind == kind && e.task_id.map(|t| json!(t)) == Some(id.clone()))
            .unwrap()
    };
    assert!(
        position("task.completed", &claimed[0]["id"]) < position("task.claimed", &after["id"]),
        "the completion's event comes before the claim's"
    );

    // The answer was lost; the same request again: the same tasks, nothing twice.
    let (replayed, again, completed) = claim_completing(&app, agent, "next-1", &items).await;
    assert!(replayed);
    assert_eq!(again, next);
    assert_eq!(completed[0]["status"], 200);
    assert_eq!(completed[0]["task"]["result"], json!({ "n": 1 }));
    assert_eq!(app.task_event_kinds(id_of(&claimed[0])).await.len(), 3);

    // An unknown agent: 404, and its completions are not made.
    let token = claimed[1]["claim_token"].clone();
    let (status, body) = app
        .post(
            "/api/v1/tasks/claim",
            json!({ "agent_id": Uuid::new_v4(),
                    "complete": [{ "id": claimed[1]["id"], "claim_token": token }] }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, still) = app.get(&format!("/api/v1/tasks/{}", id_of(&second))).await;
    assert_eq!(still["status"], "running");

    // Malformed lists are refused whole, before anything is done.
    let item = json!({ "id": claimed[1]["id"], "claim_token": token });
    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({ "id": Uuid::new_v4(), "claim_token": token }))
        .collect();
    for (complete, field) in [
        (json!([item, item]), "complete.1.id"),
        (json!(too_many), "complete"),
        (json!([{ "id": claimed[1]["id"] }]), ""),
    ] {
        let (status, body) = app
            .post(
                "/api/v1/tasks/claim",
                json!({ "agent_id": agent, "complete": complete }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        if !field.is_empty() {
            assert_eq!(body["error"]["details"][0]["field"], field, "{body}");
        }
    }
    let (_, still) = app.get(&format!("/api/v1/tasks/{}", id_of(&second))).await;
    assert_eq!(still["status"], "running");
}

/// `POST /tasks/claim` with `Idempotency-Key: key` completing `items`: whether it says
/// it replayed, the claimed tasks, and the completions' outcomes.
async fn claim_completing(
    app: &TestApp,
    agent: Uuid,
    key: &str,
    items: &Value,
) -> (bool, Vec<Value>, Vec<Value>) {
    let (replayed, out) = claim_with_key(app, agent, key, json!({ "complete": items })).await;
    (replayed, list(&out, "tasks"), list(&out, "completed"))
}

/// Batches are refused whole for what no item could fix: none, too many, a task named
/// twice, a result too big, unknown fields, an array instead of an object.
async fn a_malformed_batch_is_refused_whole(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = Uuid::new_v4();
    let token = Uuid::new_v4();
    let item = json!({ "id": id, "claim_token": token });
    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({ "id": Uuid::new_v4(), "claim_token": token }))
        .collect();
    for (path, body, field) in [
        ("/api/v1/tasks/complete", json!({ "items": [] }), "items"),
        (
            "/api/v1/tasks/complete",
            json!({ "items": too_many }),
            "items",
        ),
        (
            "/api/v1/tasks/complete",
            json!({ "items": [item, item] }),
            "items.1.id",
        ),
        (
            "/api/v1/tasks/heartbeat",
            json!({ "items": [item, item] }),
            "items.1.id",
        ),
        (
            "/api/v1/tasks/heartbeat",
            json!({ "items": [{ "id": id, "claim_token": token, "progress": 2.0 }] }),
            "items.0.progress",
        ),
    ] {
        let (status, body) = app.post(path, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed");
        assert!(
            body["error"]["details"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["field"] == field),
            "{path}: {body}"
        );
    }
    let big = "x".repeat(1024 * 1024);
    let (status, body) = app
        .post(
            "/api/v1/tasks/complete",
            json!({ "items": [{ "id": id, "claim_token": token, "result": big }] }),
        )
        .await;
    assert!(
        status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::PAYLOAD_TOO_LARGE,
        "{status}: {body}"
    );
    for body in [
        json!({ "items": [item], "extra": 1 }),
        json!([item]),
        json!({ "items": [{ "id": id, "claim_token": token, "lease": 1 }] }),
    ] {
        let (status, answer) = app.post("/api/v1/tasks/complete", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
}

/// `POST /tasks/heartbeat`: many leases extended at once, each item on its own.
async fn a_batch_of_heartbeats_extends_each_lease(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    for _ in 0..2 {
        app.create_task(project, json!({})).await;
    }
    let agent = app.register_agent("worker").await;
    let claimed = app
        .claim(agent, json!({ "limit": 2, "lease_seconds": 10 }))
        .await;
    let before: Vec<String> = claimed
        .iter()
        .map(|t| t["lease_expires_at"].as_str().unwrap().to_owned())
        .collect();
    let out = app
        .post_ok(
            "/api/v1/tasks/heartbeat",
            json!({ "items": [
                { "id": claimed[0]["id"], "claim_token": claimed[0]["claim_token"], "lease_seconds": 600 },
                { "id": claimed[1]["id"], "claim_token": Uuid::new_v4(), "lease_seconds": 600 },
            ] }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(out["items"][0]["status"], 200, "{out}");
    let extended = out["items"][0]["task"]["lease_expires_at"]
        .as_str()
        .unwrap();
    assert!(
        extended > before[0].as_str(),
        "{extended} after {}",
        before[0]
    );
    assert_eq!(out["items"][1]["status"], 409);
    assert_eq!(out["items"][1]["error"]["code"], "stale_claim");
    let (_, second) = app
        .get(&format!(
            "/api/v1/tasks/{}",
            claimed[1]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(second["lease_expires_at"], before[1].as_str());
}

/// The summary counts every task per status, overall and per project, and puts what
/// finished in the current minute of its 60-minute series.
async fn the_summary_counts_tasks_per_status_project_and_minute(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let empty = app.get_ok("/api/v1/tasks/summary").await;
    assert_eq!(empty["by_status"]["queued"], 0);
    assert_eq!(empty["finished_per_minute"].as_array().unwrap().len(), 60);

    let (a, b) = (app.create_project("a").await, app.create_project("b").await);
    for _ in 0..3 {
        app.create_task(a, json!({ "kind": "k", "max_attempts": 1 }))
            .await;
    }
    app.create_task(b, json!({ "kind": "other" })).await;
    let agent = app.register_agent("w").await;
    let claimed = app
        .claim(agent, json!({ "kinds": ["k"], "limit": 2 }))
        .await;
    assert_eq!(claimed.len(), 2);
    let done = |t: &Value, verb: &str, body: Value| {
        let mut body = body;
        body["claim_token"] = t["claim_token"].clone();
        (
            format!("/api/v1/tasks/{}/{verb}", t["id"].as_str().unwrap()),
            body,
        )
    };
    let (path, body) = done(&claimed[0], "complete", json!({ "result": {} }));
    app.post_ok(&path, body, StatusCode::OK).await;
    let (path, body) = done(&claimed[1], "fail", json!({ "error": "broken" }));
    app.post_ok(&path, body, StatusCode::OK).await;

    let all = app.get_ok("/api/v1/tasks/summary").await;
    assert_eq!(
        all["by_status"],
        json!({ "waiting": 0, "queued": 2, "running": 0, "blocked": 0,
                "completed": 1, "failed": 1, "cancelled": 0 })
    );
    let projects = all["by_project"].as_array().unwrap();
    assert_eq!(projects.len(), 2);
    let of_a = projects
        .iter()
        .find(|p| p["project_id"] == json!(a))
        .unwrap();
    assert_eq!(of_a["by_status"]["completed"], 1);
    assert_eq!(of_a["by_status"]["queued"], 1);
    let minutes = all["finished_per_minute"].as_array().unwrap();
    let finished: u64 = minutes
        .iter()
        .map(|m| m["completed"].as_u64().unwrap() + m["failed"].as_u64().unwrap())
        .sum();
    assert_eq!(finished, 2);
    // Finished just now: in the last minute (or the one before, at a minute's turn).
    assert!(
        minutes[58..]
            .iter()
            .any(|m| m["completed"] == 1 || m["failed"] == 1),
        "{minutes:?}"
    );

    let only_b = app
        .get_ok(&format!("/api/v1/tasks/summary?project_id={b}"))
        .await;
    assert_eq!(only_b["by_status"]["queued"], 1);
    assert_eq!(only_b["by_status"]["completed"], 0);
    assert_eq!(only_b["by_project"].as_array().unwrap().len(), 1);
    let (status, _) = app.get("/api/v1/tasks/summary?project_id=nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

crate::on_both_backends!(
    the_summary_counts_tasks_per_status_project_and_minute,
    a_released_task_goes_back_to_the_queue_without_using_an_attempt,
    a_claimed_task_can_be_completed_once,
    claims_follow_priority_then_age_and_respect_filters,
    an_expired_lease_requeues_the_task_and_fences_the_old_holder,
    heartbeats_extend_the_lease_and_report_progress,
    failures_retry_with_backoff_until_max_attempts,
    lease_expiry_on_the_last_attempt_fails_the_task_for_good,
    a_non_retryable_failure_is_final,
    dependencies_gate_claiming_and_failures_cascade,
    cancelling_reaches_waiting_dependents_and_fences_the_agent,
    a_blocked_task_waits_for_a_human,
    unblocking_without_a_note_leaves_no_stale_progress_text,
    the_same_idempotency_key_returns_the_first_task,
    a_repeated_claim_gets_the_same_tasks_back,
    tasks_can_be_patched_only_while_not_running,
    task_listing_filters_and_paginates,
    a_batch_completes_each_task_on_its_own_terms,
    a_claim_completes_what_the_agent_finished_first,
    a_malformed_batch_is_refused_whole,
    a_batch_of_heartbeats_extends_each_lease,
);

/// A dependent created while its upstream's completion waits for the creator's lock on
/// the upstream is released when that completion goes through. PostgreSQL only: SQLite
/// has one writer, so the two cannot overlap there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_created_while_its_upstream_completes_is_released() {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let app = TestApp::spawn(Backend::Postgres).await;
    let project = app.create_project("race").await;
    let upstream = id_of(&app.create_task(project, json!({"title": "up"})).await);
    let agent = app.register_agent("racer").await;
    let claimed = app.claim(agent, json!({})).await;
    let token = claimed[0]["claim_token"].as_str().unwrap().to_owned();

    // What creating a dependent does, held open: the upstream locked `FOR SHARE`, the new
    // waiting task and its dependency written, nothing committed yet.
    let dependent = Uuid::new_v4();
    let tx = app.state.db.begin().await.unwrap();
    for sql in [
        format!("SELECT 1 FROM tasks WHERE id = '{upstream}' FOR SHARE"),
        format!(
            "CREATE TEMP TABLE copy ON COMMIT DROP AS SELECT * FROM tasks WHERE id = '{upstream}'"
        ),
        format!(
            "UPDATE copy SET id = '{dependent}', title = 'down', status = 'waiting', \
             agent_id = NULL, claim_token = NULL, claim_key = NULL, lease_expires_at = NULL, \
             started_at = NULL, idempotency_key = NULL"
        ),
        "INSERT INTO tasks SELECT * FROM copy".to_owned(),
        format!(
            "INSERT INTO task_dependencies (task_id, depends_on) VALUES ('{dependent}', '{upstream}')"
        ),
    ] {
        tx.execute_unprepared(&sql).await.unwrap();
    }

    // The completion waits for that lock...
    let (http, url, key) = (
        app.http.clone(),
        app.url(&format!("/api/v1/tasks/{upstream}/complete")),
        app.key.clone(),
    );
    let completion = tokio::spawn(async move {
        http.post(url)
            .bearer_auth(key)
            .json(&json!({"claim_token": token}))
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!completion.is_finished(), "the completion did not wait");
    // ...and goes through once the dependent is committed.
    tx.commit().await.unwrap();
    assert_eq!(completion.await.unwrap(), StatusCode::OK);

    let down = app.get_ok(&format!("/api/v1/tasks/{dependent}")).await;
    assert_eq!(down["status"], "queued", "{down}");
    assert_eq!(down["depends_on"], json!([upstream]));
}

/// PostgreSQL runs a batch of claims with the completions they carry as one statement
/// (`store::tasks::claim_round`), whose events' data is written by SQL: each must read
/// as the API shows the task, the claimed one as the claim answered it, the completed
/// one as `GET /tasks/{id}` shows it, field by field and timestamp by timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_round_writes_each_task_as_the_api_shows_it_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let project = app.create_project("round").await;
    for extra in [
        json!({
            "title": "a \"quoted\" ünïcode title",
            "description": "two\nlines\t and a \\ backslash",
            "labels": ["x", "y"],
            "priority": 5,
            "input": {"n": 1.5, "list": [1, null, "s"], "nested": {"deep": true}},
        }),
        json!({"title": "b", "kind": "other", "max_attempts": 7}),
    ] {
        app.create_task(project, extra).await;
    }
    let agent = app.register_agent("rounder").await;
    let claimed = app
        .post_ok(
            "/api/v1/tasks/claim",
            json!({"agent_id": agent, "limit": 2}),
            StatusCode::OK,
        )
        .await["tasks"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let done: Vec<Value> = claimed
        .iter()
        .map(|task| {
            json!({"id": task["id"], "claim_token": task["claim_token"],
                   "result": {"ok": true, "share": 0.25, "list": [1, 2.5]}})
        })
        .collect();
    let out = app
        .post_ok(
            "/api/v1/tasks/claim",
            json!({"agent_id": agent, "complete": done}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(out["completed"].as_array().unwrap().len(), 2, "{out}");
    // A completion on its own goes the same way.
    let third = id_of(&app.create_task(project, json!({"title": "c"})).await);
    let held = app.claim(agent, json!({})).await;
    assert_eq!(id_of(&held[0]), third);
    app.post_ok(
        &format!("/api/v1/tasks/{third}/complete"),
        json!({"claim_token": held[0]["claim_token"], "result": [1, "two"]}),
        StatusCode::OK,
    )
    .await;

    let events = app.events().await;
    let completed_alone = events
        .iter()
        .find(|e| e.task_id == Some(third) && e.kind == "task.completed")
        .expect("its completion's event");
    assert_eq!(
        completed_alone.data,
        app.get_ok(&format!("/api/v1/tasks/{third}")).await
    );
    for task in &claimed {
        let id = id_of(task);
        let event = |kind: &str| {
            events
                .iter()
                .find(|e| e.task_id == Some(id) && e.kind == kind)
                .unwrap_or_else(|| panic!("no {kind} event for {id}"))
                .clone()
        };
        let mut as_claimed = task.clone();
        as_claimed.as_object_mut().unwrap().remove("claim_token");
        let on_claim = event("task.claimed");
        assert_eq!(on_claim.data, as_claimed);
        assert_eq!(on_claim.agent_id, Some(agent));
        assert_eq!(on_claim.project_id, Some(project));
        let shown = app.get_ok(&format!("/api/v1/tasks/{id}")).await;
        assert_eq!(shown["status"], "completed");
        let on_completion = event("task.completed");
        assert_eq!(on_completion.data, shown);
        assert_eq!(on_completion.agent_id, Some(agent));
    }
}

/// The one-statement round takes the plain case itself, and leaves to the API's general
/// path, having changed nothing, whatever needs explaining: a repeated keyed claim, a
/// completion that does not apply, an unknown agent, a completed task with dependents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_round_leaves_what_it_cannot_explain_to_the_general_path_on_postgres() {
    use agentops_api::store::{
        self,
        tasks::{ClaimParams, Completion, claim_round},
    };

    let app = TestApp::spawn(Backend::Postgres).await;
    let db = &app.state.db;
    let project = app.create_project("round").await;
    let first = id_of(&app.create_task(project, json!({"priority": 9})).await);
    let agent = app.register_agent("rounder").await;
    let params = |agent_id: Uuid, key: &str| ClaimParams {
        agent_id,
        kinds: Vec::new(),
        labels: Vec::new(),
        project_id: None,
        limit: 1,
        lease_seconds: 60,
        now: store::now(),
        claim_key: Some(key.to_owned()),
    };
    let now = store::now();

    let claim = params(agent, "k1");
    let rows = claim_round(db, &[&claim], &[], now, now)
        .await
        .unwrap()
        .expect("the plain claim is the round's own");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].call_no, rows[0].completed), (Some(0), false));
    let token = rows[0].claim_token.expect("a claim token");
    let data: Value = serde_json::from_str(&rows[0].task).unwrap();
    assert_eq!(data, app.get_ok(&format!("/api/v1/tasks/{first}")).await);
    assert_eq!(data["id"], json!(first));

    let second = id_of(&app.create_task(project, json!({})).await);
    let status_of = |id: Uuid| {
        let app = &app;
        async move { app.get_ok(&format!("/api/v1/tasks/{id}")).await["status"].clone() }
    };
    // A repeat of the keyed claim.
    let repeat = params(agent, "k1");
    assert!(
        claim_round(db, &[&repeat], &[], now, now)
            .await
            .unwrap()
            .is_none()
    );
    // A completion under a stale token.
    let stale = Completion {
        id: first,
        claim_token: Uuid::new_v4(),
        result: Value::Null,
    };
    let fresh = params(agent, "k2");
    assert!(
        claim_round(db, &[&fresh], &[&stale], now, now)
            .await
            .unwrap()
            .is_none()
    );
    // An agent that does not exist, beside one that does.
    let nobody = params(Uuid::new_v4(), "k3");
    assert!(
        claim_round(db, &[&fresh, &nobody], &[], now, now)
            .await
            .unwrap()
            .is_none()
    );
    // A completion of a task another one depends on.
    app.create_task(project, json!({"depends_on": [first]}))
        .await;
    let good = Completion {
        id: first,
        claim_token: token,
        result: json!({"r": 1}),
    };
    assert!(
        claim_round(db, &[&fresh], &[&good], now, now)
            .await
            .unwrap()
            .is_none()
    );

    // Nothing of it stayed: the first task still runs, the second still waits.
    assert_eq!(status_of(first).await, "running");
    assert_eq!(status_of(second).await, "queued");
    let kinds = app.task_event_kinds(first).await;
    assert_eq!(kinds, ["task.created", "task.claimed"]);
}

/// Timestamps and whole numbers written by SQL for the round's events read exactly as
/// the API's serializer writes them (RFC 3339 in UTC, `Z`, 0, 3 or 6 fractional digits;
/// `1.0` for a whole `f64`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_writes_times_and_floats_as_the_api_does_on_postgres() {
    use chrono::TimeZone;
    use sea_orm::{ConnectionTrait, DbBackend, Statement};

    let app = TestApp::spawn(Backend::Postgres).await;
    let ask = |sql: &'static str, value: sea_orm::Value| {
        let db = app.state.db.clone();
        async move {
            let row = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    [value],
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get::<String>("", "out").unwrap()
        }
    };
    let base = chrono::Utc
        .with_ymd_and_hms(2026, 12, 6, 19, 2, 24)
        .unwrap();
    for micros in [0, 5, 120_000, 123_000, 123_400, 999_999, 1_000] {
        let at = base + chrono::Duration::microseconds(micros);
        let written = ask("SELECT agentops_json_time($1) AS out", at.into()).await;
        assert_eq!(
            format!("\"{written}\""),
            serde_json::to_string(&at).unwrap()
        );
    }
    for x in [1.0f64, 0.0, 0.5, 0.25, 0.1, 0.3333333333333333] {
        let written = ask("SELECT agentops_json_float($1)::text AS out", x.into()).await;
        assert_eq!(written, serde_json::to_string(&x).unwrap(), "{x}");
    }
}
