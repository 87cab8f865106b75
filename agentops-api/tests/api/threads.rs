//! Threads, messages and approvals.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use agentops_testkit::{Backend, TestApp, id_of};

async fn open_chat(app: &TestApp, external_id: &str) -> Uuid {
    let thread = app
        .post_ok(
            "/api/v1/threads",
            json!({"channel": "telegram", "external_id": external_id, "title": "Ana"}),
            StatusCode::CREATED,
        )
        .await;
    id_of(&thread)
}

async fn propose(app: &TestApp, thread: Uuid, summary: &str) -> Value {
    app.post_ok(
        &format!("/api/v1/threads/{thread}/approvals"),
        json!({"summary": summary, "plan": {"actions": [{"create_project": {"name": summary}}]}}),
        StatusCode::CREATED,
    )
    .await
}

async fn status_of(app: &TestApp, approval: &Value) -> String {
    app.get_ok(&format!(
        "/api/v1/approvals/{}",
        approval["id"].as_str().unwrap()
    ))
    .await["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `POST /threads/{thread}/messages` with `Idempotency-Key: idempotency` as API key
/// `key`; returns the status, whether the answer says it replayed, and the body.
async fn post_keyed(
    app: &TestApp,
    key: &str,
    thread: Uuid,
    idempotency: &str,
    body: Value,
) -> (StatusCode, bool, Value) {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/threads/{thread}/messages")))
        .bearer_auth(key)
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

async fn message_texts(app: &TestApp, thread: Uuid) -> Vec<String> {
    app.get_ok(&format!("/api/v1/threads/{thread}/messages"))
        .await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn event_count(app: &TestApp, kind: &str) -> usize {
    app.events()
        .await
        .into_iter()
        .filter(|e| e.kind == kind)
        .count()
}

async fn a_channel_finds_its_thread_again_and_messages_come_back_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = open_chat(&app, "42").await;
    // Opening the same chat again finds it (200), without a second thread.
    let (status, again) = app
        .post(
            "/api/v1/threads",
            json!({"channel": "telegram", "external_id": "42"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(id_of(&again), id);
    assert_eq!(again["title"], "Ana");
    // Without an external id every open is a new thread, on the `api` channel.
    let other = app
        .post_ok("/api/v1/threads", json!({}), StatusCode::CREATED)
        .await;
    assert_eq!(other["channel"], "api");

    for (role, text) in [("user", "hello"), ("assistant", "hi"), ("user", "status?")] {
        let message = app
            .post_ok(
                &format!("/api/v1/threads/{id}/messages"),
                json!({"role": role, "text": text, "author": "ana", "metadata": {"n": 1}}),
                StatusCode::CREATED,
            )
            .await;
        assert_eq!(message["thread_id"], id.to_string());
        assert_eq!(message["role"], role);
    }
    let page = app
        .get_ok(&format!("/api/v1/threads/{id}/messages?limit=2"))
        .await;
    let texts: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["status?", "hi"]);
    let rest = app
        .get_ok(&format!(
            "/api/v1/threads/{id}/messages?limit=2&cursor={}",
            page["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(rest["items"][0]["text"], "hello");
    assert!(rest["next_cursor"].is_null());

    let chats = app.get_ok("/api/v1/threads?channel=telegram").await;
    assert_eq!(chats["items"].as_array().unwrap().len(), 1);
    let kinds: Vec<String> = app.events().await.into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("thread."))
            .collect::<Vec<_>>(),
        [
            "thread.created",
            "thread.created",
            "thread.message",
            "thread.message",
            "thread.message"
        ]
    );
}

async fn one_plan_is_pending_per_thread_and_a_user_message_supersedes_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let thread = open_chat(&app, "7").await;
    let first = propose(&app, thread, "Will: create project A").await;
    assert_eq!(first["status"], "pending");
    let second = propose(&app, thread, "Will: create project B").await;
    assert_eq!(status_of(&app, &first).await, "superseded");
    let superseded = app
        .get_ok(&format!(
            "/api/v1/approvals/{}",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(superseded["reason"], "a newer plan was proposed");

    // The agent's own reply leaves the plan pending; the person's next message does not.
    app.post_ok(
        &format!("/api/v1/threads/{thread}/messages"),
        json!({"role": "assistant", "text": "Understood: B. OK?"}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(status_of(&app, &second).await, "pending");
    app.post_ok(
        &format!("/api/v1/threads/{thread}/messages"),
        json!({"role": "user", "text": "actually, call it C"}),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(status_of(&app, &second).await, "superseded");
    let (status, body) = app
        .post(
            &format!(
                "/api/v1/approvals/{}/approve",
                second["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "invalid_transition");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot approve an approval that is superseded"),
        "{body}"
    );

    // Another thread's plans are its own.
    let elsewhere = open_chat(&app, "8").await;
    let third = propose(&app, thread, "Will: create project C").await;
    let other = propose(&app, elsewhere, "Will: something else").await;
    assert_eq!(status_of(&app, &third).await, "pending");
    assert_eq!(status_of(&app, &other).await, "pending");
    let pending = app.get_ok("/api/v1/approvals?status=pending").await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 2);
    let mine = app
        .get_ok(&format!("/api/v1/approvals?thread_id={thread}"))
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 3);
}

async fn an_approved_plan_is_finished_once_and_a_rejected_one_never(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let thread = open_chat(&app, "9").await;
    let plan = propose(&app, thread, "Will: create project A").await;
    let id = plan["id"].as_str().unwrap();

    // Not before it is approved.
    let (status, _) = app
        .post(
            &format!("/api/v1/approvals/{id}/finish"),
            json!({"result": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A body is optional on approve.
    let (status, approved) = app
        .call(
            Method::POST,
            &format!("/api/v1/approvals/{id}/approve"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert!(approved["decided_by"].is_string());
    assert!(approved["decided_at"].is_string());
    // Approved plans are what an agent still owes.
    let owed = app.get_ok("/api/v1/approvals?status=approved").await;
    assert_eq!(owed["items"][0]["id"], id);

    let done = app
        .post_ok(
            &format!("/api/v1/approvals/{id}/finish"),
            json!({"result": {"project_id": "p"}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(done["status"], "executed");
    assert_eq!(done["result"], json!({"project_id": "p"}));
    let (status, _) = app
        .post(
            &format!("/api/v1/approvals/{id}/finish"),
            json!({"error": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let doomed = propose(&app, thread, "Will: delete everything").await;
    let doomed_id = doomed["id"].as_str().unwrap();
    let rejected = app
        .post_ok(
            &format!("/api/v1/approvals/{doomed_id}/reject"),
            json!({"reason": "no"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["reason"], "no");
    let (status, _) = app
        .post(&format!("/api/v1/approvals/{doomed_id}/approve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let failing = propose(&app, thread, "Will: create project B").await;
    let failing_id = failing["id"].as_str().unwrap();
    app.post_ok(
        &format!("/api/v1/approvals/{failing_id}/approve"),
        json!({}),
        StatusCode::OK,
    )
    .await;
    let failed = app
        .post_ok(
            &format!("/api/v1/approvals/{failing_id}/finish"),
            json!({"error": "the project name is taken"}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["reason"], "the project name is taken");

    let kinds: Vec<String> = app
        .events()
        .await
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("approval."))
        .collect();
    assert_eq!(
        kinds,
        [
            "approval.requested",
            "approval.approved",
            "approval.executed",
            "approval.requested",
            "approval.rejected",
            "approval.requested",
            "approval.approved",
            "approval.failed"
        ]
    );
}

async fn bad_input_and_wrong_roles_get_clear_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let thread = open_chat(&app, "1").await;
    for (path, body, field) in [
        (
            "/api/v1/threads",
            json!({"channel": "Tele Gram"}),
            "channel",
        ),
        ("/api/v1/threads", json!({"external_id": ""}), "external_id"),
        ("/api/v1/threads", json!({"metadata": [1]}), "metadata"),
        (
            &format!("/api/v1/threads/{thread}/messages") as &str,
            json!({"role": "user", "text": ""}),
            "text",
        ),
        (
            &format!("/api/v1/threads/{thread}/approvals") as &str,
            json!({"summary": "x", "plan": "not an object"}),
            "plan",
        ),
    ] {
        let (status, body) = app.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}");
        assert_eq!(body["error"]["code"], "validation_failed");
        assert!(body.to_string().contains(field), "{body}");
    }
    let (status, body) = app
        .post(
            &format!("/api/v1/threads/{thread}/messages"),
            json!({"role": "robot", "text": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let missing = Uuid::now_v7();
    let (status, body) = app
        .post(
            &format!("/api/v1/threads/{missing}/messages"),
            json!({"role": "user", "text": "hi"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "thread_not_found");
    let (status, _) = app
        .get(&format!("/api/v1/threads/{missing}/messages"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app.get("/api/v1/threads/not-a-uuid/messages").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_id");
    let (status, _) = app.get("/api/v1/approvals?status=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app
        .post(
            &format!("/api/v1/approvals/{missing}/finish"),
            json!({"result": 1, "error": "both"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Agents talk and propose; only an admin (a person) approves; viewers only read.
    let agent = app.create_key("agent").await;
    let viewer = app.create_key("viewer").await;
    let plan = propose(&app, thread, "Will: x").await;
    let approve = format!("/api/v1/approvals/{}/approve", plan["id"].as_str().unwrap());
    let (status, _) = app
        .call_as(Some(&agent), Method::POST, &approve, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(
            Some(&agent),
            Method::POST,
            &format!("/api/v1/threads/{thread}/messages"),
            Some(json!({"role": "assistant", "text": "hi"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = app
        .call_as(
            Some(&viewer),
            Method::POST,
            &format!("/api/v1/threads/{thread}/messages"),
            Some(json!({"role": "user", "text": "hi"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .call_as(Some(&viewer), Method::GET, "/api/v1/approvals", None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn racing_opens_of_one_chat_make_one_thread(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let opens = (0..8).map(|_| {
        app.post(
            "/api/v1/threads",
            json!({"channel": "telegram", "external_id": "race"}),
        )
    });
    let results = futures_util::future::join_all(opens).await;
    let ids: std::collections::BTreeSet<Uuid> = results
        .iter()
        .map(|(status, body)| {
            assert!(status.is_success(), "{status} {body}");
            id_of(body)
        })
        .collect();
    assert_eq!(ids.len(), 1);
}

async fn a_patch_merges_metadata_keys_and_null_removes_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, opened) = app
        .post(
            "/api/v1/threads",
            json!({"channel": "web", "external_id": "m", "metadata": {"keep": 1, "drop": 2}}),
        )
        .await;
    let thread = id_of(&opened);
    let path = format!("/api/v1/threads/{thread}");
    // Two clients, each setting its own key.
    let (status, first) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"metadata": {"multitask": "reject"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, second) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"title": "Ana's chat", "metadata": {"voice": true, "drop": null}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["title"], "Ana's chat");
    assert_eq!(
        second["metadata"],
        json!({"keep": 1, "multitask": "reject", "voice": true})
    );
    assert_eq!(app.get_ok(&path).await["metadata"], second["metadata"]);
    let kinds: Vec<String> = app.events().await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "thread.updated").count(), 2);

    // Bad input, an unknown thread, a viewer.
    for body in [
        json!({"metadata": [1]}),
        json!({"metadata": "x"}),
        json!({"title": "x".repeat(201)}),
        json!({"colour": "red"}),
        json!(["title"]),
    ] {
        let (status, answer) = app.call(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    let (status, answer) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/threads/{}", Uuid::now_v7()),
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["error"]["code"], "thread_not_found");
    let viewer = app.create_key("viewer").await;
    let (status, _) = app
        .call_as(
            Some(&viewer),
            Method::PATCH,
            &path,
            Some(json!({"title": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn a_message_posted_twice_with_one_key_is_stored_and_announced_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let thread = open_chat(&app, "idem").await;
    let first_plan = propose(&app, thread, "Will: create project A").await;
    let body = json!({"role": "user", "text": "actually, call it B", "author": "ana"});

    let (status, replayed, first) = post_keyed(&app, &app.key, thread, "tg:1", body.clone()).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{first}");
    assert_eq!(status_of(&app, &first_plan).await, "superseded");
    // The agent proposes again after the message; a retry of that message must not
    // supersede the new plan.
    let second_plan = propose(&app, thread, "Will: create project B").await;
    let (status, replayed, again) = post_keyed(&app, &app.key, thread, "tg:1", body.clone()).await;
    assert_eq!((status, replayed), (StatusCode::OK, true), "{again}");
    assert_eq!(again, first);
    assert_eq!(status_of(&app, &second_plan).await, "pending");
    assert_eq!(message_texts(&app, thread).await, ["actually, call it B"]);
    assert_eq!(event_count(&app, "thread.message").await, 1);
    assert_eq!(event_count(&app, "approval.superseded").await, 1);

    // The key with another text, or with the same message in another thread, is refused.
    let other_thread = open_chat(&app, "idem-2").await;
    for (thread, body) in [
        (thread, json!({"role": "user", "text": "something else"})),
        (other_thread, body.clone()),
    ] {
        let (status, _, refused) = post_keyed(&app, &app.key, thread, "tg:1", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["code"], "idempotency_key_reused");
    }
    assert_eq!(message_texts(&app, thread).await.len(), 1);
    assert!(message_texts(&app, other_thread).await.is_empty());
    assert_eq!(status_of(&app, &second_plan).await, "pending");

    // Keys are each caller's own: another key's "tg:1" is another message.
    let agent = app.create_key("agent").await;
    let (status, replayed, theirs) = post_keyed(&app, &agent, thread, "tg:1", body).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{theirs}");
    assert_ne!(theirs["id"], first["id"]);
    assert_eq!(message_texts(&app, thread).await.len(), 2);
    assert_eq!(event_count(&app, "thread.message").await, 2);
}

async fn racing_posts_with_one_key_store_one_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let thread = open_chat(&app, "race-idem").await;
    let plan = propose(&app, thread, "Will: create project A").await;
    let body = json!({"role": "user", "text": "done: report", "author": "chief"});
    let posts = (0..8).map(|_| post_keyed(&app, &app.key, thread, "plan-done:1", body.clone()));
    let results = futures_util::future::join_all(posts).await;
    let ids: std::collections::BTreeSet<Uuid> = results
        .iter()
        .map(|(status, _, body)| {
            assert!(status.is_success(), "{status} {body}");
            id_of(body)
        })
        .collect();
    assert_eq!(ids.len(), 1);
    let created = results
        .iter()
        .filter(|(status, replayed, _)| *status == StatusCode::CREATED && !replayed)
        .count();
    assert_eq!(created, 1, "one post made it, the others replayed it");
    assert_eq!(message_texts(&app, thread).await.len(), 1);
    assert_eq!(event_count(&app, "thread.message").await, 1);
    assert_eq!(event_count(&app, "approval.superseded").await, 1);
    assert_eq!(status_of(&app, &plan).await, "superseded");
}

fn time_of(value: &Value, field: &str) -> chrono::DateTime<chrono::Utc> {
    value[field]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{field} is not a time: {value}"))
}

async fn a_patch_moves_updated_at_and_refuses_a_blank_title(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, opened) = app
        .post(
            "/api/v1/threads",
            json!({"channel": "web", "external_id": "t", "title": "Ana"}),
        )
        .await;
    let path = format!("/api/v1/threads/{}", id_of(&opened));
    let mut before = time_of(&opened, "updated_at");
    for patch in [
        json!({"title": "  Ana's chat  "}),
        json!({"metadata": {"voice": true}}),
        json!({"metadata": {"voice": null}}),
    ] {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let (status, patched) = app.call(Method::PATCH, &path, Some(patch.clone())).await;
        assert_eq!(status, StatusCode::OK, "{patch}: {patched}");
        let after = time_of(&patched, "updated_at");
        assert!(after > before, "{patch} left updated_at at {after}");
        assert_eq!(patched["created_at"], opened["created_at"]);
        assert_eq!(app.get_ok(&path).await, patched);
        before = after;
    }
    let thread = app.get_ok(&path).await;
    assert_eq!(thread["title"], "Ana's chat", "the title is trimmed");

    // A blank title is refused, as a blank project name or task title is; nothing changes.
    for title in ["", "   ", "\t\n"] {
        let (status, refused) = app
            .call(Method::PATCH, &path, Some(json!({"title": title})))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{title:?}: {refused}"
        );
        assert_eq!(refused["error"]["code"], "validation_failed");
        assert_eq!(
            refused["error"]["details"][0]["field"], "title",
            "{refused}"
        );
        let (status, refused) = app.post("/api/v1/threads", json!({"title": title})).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{title:?}: {refused}"
        );
    }
    assert_eq!(app.get_ok(&path).await, thread);
}

async fn a_patch_merges_nested_metadata_as_rfc_7396_says(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, opened) = app
        .post(
            "/api/v1/threads",
            json!({"channel": "web", "external_id": "n", "metadata": {
                "chief": {"multitask": "queue", "since": 1},
                "telegram": {"voice": {"on": true, "speed": 1.5}},
                "tags": ["a", "b"],
                "count": 1,
            }}),
        )
        .await;
    let path = format!("/api/v1/threads/{}", id_of(&opened));
    let (status, patched) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"metadata": {
                "chief": {"multitask": "reject"},
                "telegram": {"voice": {"speed": null, "lang": "pt"}},
                "tags": ["c"],
                "count": {"n": 2, "gone": null},
                "fresh": {"a": {"b": null, "c": 3}},
            }})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["metadata"],
        json!({
            "chief": {"multitask": "reject", "since": 1},
            "telegram": {"voice": {"on": true, "lang": "pt"}},
            "tags": ["c"],
            "count": {"n": 2},
            "fresh": {"a": {"c": 3}},
        })
    );
    assert_eq!(app.get_ok(&path).await["metadata"], patched["metadata"]);

    // Each patch fits, but what they make together must fit as well (64 KiB).
    let half = "x".repeat(40 * 1024);
    let (status, answer) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"metadata": {"one": half}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (status, answer) = app
        .call(
            Method::PATCH,
            &path,
            Some(json!({"metadata": {"two": half}})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        answer["error"]["details"][0]["field"], "metadata",
        "{answer}"
    );
    assert!(app.get_ok(&path).await["metadata"].get("two").is_none());
}

crate::on_both_backends!(
    a_patch_merges_metadata_keys_and_null_removes_one,
    a_patch_merges_nested_metadata_as_rfc_7396_says,
    a_patch_moves_updated_at_and_refuses_a_blank_title,
    a_message_posted_twice_with_one_key_is_stored_and_announced_once,
    racing_posts_with_one_key_store_one_message,
    a_channel_finds_its_thread_again_and_messages_come_back_newest_first,
    one_plan_is_pending_per_thread_and_a_user_message_supersedes_it,
    an_approved_plan_is_finished_once_and_a_rejected_one_never,
    bad_input_and_wrong_roles_get_clear_errors,
    racing_opens_of_one_chat_make_one_thread,
);
