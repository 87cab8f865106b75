//! Pairings: the allowlist of chats the Telegram bot serves, with one-time codes.

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use agentops_sdk::types::{PairingIn, PairingOut, PairingStatus};
use agentops_testkit::{Backend, TestApp};

/// The name of the key the tests' admin calls carry.
const ADMIN_NAME: &str = "admin (AGENTOPS_ADMIN_KEY)";

fn chat(chat: &str) -> PairingIn {
    PairingIn {
        channel: "telegram".into(),
        chat: chat.into(),
        name: format!("@{chat}"),
        status: None,
    }
}

/// Moves the pairing's code expiry to `at` (as an hour passing would).
async fn set_expiry(app: &TestApp, id: Uuid, at: chrono::DateTime<chrono::Utc>) {
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => "UPDATE pairings SET expires_at = $1 WHERE id = $2",
        _ => "UPDATE pairings SET expires_at = ?1 WHERE id = ?2",
    };
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        sql,
        [at.into(), id.into()],
    ))
    .await
    .expect("move the expiry");
}

async fn expire(app: &TestApp, id: Uuid) {
    set_expiry(app, id, chrono::Utc::now() - chrono::Duration::seconds(1)).await;
}

/// The pairing events in the log: (kind, data).
async fn pairing_events(app: &TestApp) -> Vec<(String, Value)> {
    app.events()
        .await
        .into_iter()
        .filter(|e| e.kind.starts_with("pairing."))
        .map(|e| (e.kind, e.data))
        .collect()
}

async fn a_request_issues_one_code_and_repeats_answer_the_same(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body =
        json!({ "channel": "telegram", "chat": "123456789", "name": "@alice (Alice Smith)" });
    let first = app
        .post_ok("/api/v1/pairings", body.clone(), StatusCode::CREATED)
        .await;
    assert_eq!(first["status"], "pending");
    assert_eq!(first["channel"], "telegram");
    assert_eq!(first["chat"], "123456789");
    assert_eq!(first["name"], "@alice (Alice Smith)");
    assert!(first["decided_by"].is_null());
    let code = first["code"].as_str().unwrap();
    assert_eq!(code.len(), 8);
    assert!(
        code.chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='9').contains(&c))
    );
    let expires: chrono::DateTime<chrono::Utc> =
        first["expires_at"].as_str().unwrap().parse().unwrap();
    let created: chrono::DateTime<chrono::Utc> =
        first["created_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - created, chrono::Duration::hours(1));

    // The chat writes again: the same pairing, the same code, nothing written.
    for _ in 0..3 {
        let again = app
            .post_ok("/api/v1/pairings", body.clone(), StatusCode::OK)
            .await;
        assert_eq!(again, first);
    }
    let via_sdk = app
        .client
        .pairings()
        .create(&chat("123456789"))
        .await
        .unwrap();
    assert_eq!(via_sdk.code.as_deref(), Some(code));
    assert_eq!(
        via_sdk.name, "@alice (Alice Smith)",
        "a request does not rename"
    );
    assert_eq!(pairing_events(&app).await.len(), 1, "one code, one event");

    // Another chat gets another code; the same chat on another channel is another chat.
    let other = app.client.pairings().create(&chat("42")).await.unwrap();
    assert_ne!(other.code.as_deref(), Some(code));
    let elsewhere = app
        .client
        .pairings()
        .create(&PairingIn {
            channel: "slack".into(),
            ..chat("123456789")
        })
        .await
        .unwrap();
    assert_ne!(elsewhere.id, via_sdk.id);
    assert_eq!(
        app.client.pairings().get(via_sdk.id).await.unwrap(),
        via_sdk
    );
}

async fn a_code_approves_its_chat_whatever_its_case_spaces_and_dashes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pairings = app.client.pairings();
    // As typed: exactly, in lower case, with a dash, with spaces.
    let typings: [fn(&str) -> String; 4] = [
        |code| code.to_owned(),
        |code| code.to_ascii_lowercase(),
        |code| format!("{}-{}", &code[..4], &code[4..]).to_ascii_lowercase(),
        |code| format!(" {} {} ", &code[..4], &code[4..]),
    ];
    for (i, typing) in typings.iter().enumerate() {
        let pending = pairings.create(&chat(&format!("chat{i}"))).await.unwrap();
        let code = pending.code.clone().unwrap();
        let typed = typing(&code);
        let by = (i % 2 == 0).then_some("@operator");
        let approved = pairings.approve(&typed, by).await.unwrap();
        assert_eq!(approved.id, pending.id, "{typed}");
        assert_eq!(approved.status, PairingStatus::Approved);
        assert!(approved.status.is_allowed());
        assert_eq!(approved.code, None, "the code is used up");
        assert_eq!(approved.expires_at, None);
        assert_eq!(
            approved.decided_by.as_deref(),
            Some(by.unwrap_or(ADMIN_NAME)),
            "`by`, else the key's name"
        );
        assert!(approved.updated_at > pending.updated_at);
        // The code cannot be used twice, and the approved chat keeps being approved.
        let again = pairings.approve(&code, None).await.unwrap_err();
        assert_eq!(again.code(), Some("pairing_not_found"));
        assert_eq!(again.status().map(|s| s.as_u16()), Some(404));
        let asked = pairings.create(&chat(&format!("chat{i}"))).await.unwrap();
        assert_eq!(
            asked, approved,
            "an approved chat asking again stays as it is"
        );
    }

    let (code, body) = app
        .post("/api/v1/pairings/approve", json!({ "code": "ZZZZ-ZZZZ" }))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "pairing_not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expire after an hour"),
        "{body}"
    );
    let kinds: Vec<String> = pairing_events(&app)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(kinds.len(), 8);
    assert!(kinds.iter().step_by(2).all(|k| k == "pairing.requested"));
    assert!(
        kinds
            .iter()
            .skip(1)
            .step_by(2)
            .all(|k| k == "pairing.approved")
    );
}

async fn an_expired_code_is_refused_and_the_chat_is_given_a_new_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pairings = app.client.pairings();
    let pending = pairings.create(&chat("777")).await.unwrap();
    let old = pending.code.clone().unwrap();
    expire(&app, pending.id).await;

    let shown = pairings.get(pending.id).await.unwrap();
    assert_eq!(shown.status, PairingStatus::Expired);
    assert_eq!(shown.code, None, "an expired code is never shown");
    assert!(shown.expires_at.is_some());

    let err = pairings.approve(&old, None).await.unwrap_err();
    assert_eq!(err.code(), Some("pairing_not_found"));
    assert!(err.to_string().contains("expire after an hour"), "{err}");

    // Writing again issues a new code (200: the chat is known).
    let (status, renewed) = app
        .call(
            Method::POST,
            "/api/v1/pairings",
            Some(json!({ "channel": "telegram", "chat": "777" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let renewed: PairingOut = serde_json::from_value(renewed).unwrap();
    assert_eq!(renewed.id, pending.id);
    assert_eq!(renewed.status, PairingStatus::Pending);
    let new = renewed.code.clone().unwrap();
    assert_ne!(new, old);
    assert!(renewed.expires_at > pending.expires_at);
    assert_eq!(renewed.name, "@777", "an empty name keeps the label");
    assert!(pairings.approve(&old, None).await.is_err());
    assert_eq!(
        pairings.approve(&new, None).await.unwrap().status,
        PairingStatus::Approved
    );
}

async fn a_revoked_chat_can_ask_again_and_gets_a_new_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pairings = app.client.pairings();
    let pending = pairings.create(&chat("555")).await.unwrap();
    let code = pending.code.clone().unwrap();
    let approved = pairings.approve(&code, None).await.unwrap();

    let revoked = pairings.revoke(approved.id, Some("@boss")).await.unwrap();
    assert_eq!(revoked.status, PairingStatus::Revoked);
    assert_eq!(revoked.decided_by.as_deref(), Some("@boss"));
    assert!(!revoked.status.is_allowed());
    // Again: unchanged, no new event.
    let again = pairings.revoke(approved.id, None).await.unwrap();
    assert_eq!(again, revoked);
    // A bodyless revoke is accepted (and records the key's name).
    let other = pairings.create(&chat("556")).await.unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            &format!("/api/v1/pairings/{}/revoke", other.id),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "revoked");
    assert_eq!(body["decided_by"], ADMIN_NAME);
    assert!(body["code"].is_null());
    // A revoked pending code no longer works.
    let err = pairings
        .approve(other.code.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("pairing_not_found"));

    let asked = pairings.create(&chat("555")).await.unwrap();
    assert_eq!(asked.id, pending.id);
    assert_eq!(asked.status, PairingStatus::Pending);
    assert!(asked.code.is_some());
    assert_ne!(asked.code, Some(code));
    assert_eq!(asked.decided_by, None, "no decision on the new request yet");

    let missing = pairings.revoke(Uuid::now_v7(), None).await.unwrap_err();
    assert_eq!(missing.code(), Some("pairing_not_found"));
    let missing = pairings.get(Uuid::now_v7()).await.unwrap_err();
    assert_eq!(missing.code(), Some("pairing_not_found"));

    let kinds: Vec<String> = pairing_events(&app)
        .await
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(
        kinds,
        [
            "pairing.requested",
            "pairing.approved",
            "pairing.revoked",
            "pairing.requested",
            "pairing.revoked",
            "pairing.requested",
        ]
    );
}

async fn an_operator_can_approve_a_chat_directly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let direct = json!({ "channel": "telegram", "chat": "-100200300", "name": "ops group", "status": "approved" });
    let made = app
        .post_ok("/api/v1/pairings", direct.clone(), StatusCode::CREATED)
        .await;
    assert_eq!(made["status"], "approved");
    assert!(made["code"].is_null());
    assert!(made["expires_at"].is_null());
    assert_eq!(made["decided_by"], ADMIN_NAME);
    let again = app
        .post_ok("/api/v1/pairings", direct, StatusCode::OK)
        .await;
    assert_eq!(again, made, "approving an approved chat changes nothing");

    // A pending chat, and a revoked one, approved directly.
    let pending = app.client.pairings().create(&chat("9")).await.unwrap();
    let approved = app
        .client
        .pairings()
        .create(&PairingIn {
            status: Some(PairingStatus::Approved),
            ..chat("9")
        })
        .await
        .unwrap();
    assert_eq!(approved.id, pending.id);
    assert_eq!(approved.status, PairingStatus::Approved);
    assert_eq!(approved.code, None);
    let err = app
        .client
        .pairings()
        .approve(pending.code.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some("pairing_not_found"),
        "the old code is gone"
    );
    app.client
        .pairings()
        .revoke(approved.id, None)
        .await
        .unwrap();
    let back = app
        .client
        .pairings()
        .create(&PairingIn {
            status: Some(PairingStatus::Approved),
            ..chat("9")
        })
        .await
        .unwrap();
    assert_eq!(back.status, PairingStatus::Approved);

    for status in ["revoked", "expired", "exploded"] {
        let (code, body) = app
            .post(
                "/api/v1/pairings",
                json!({ "channel": "telegram", "chat": "1", "status": status }),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}: {body}");
    }
}

async fn at_most_fifty_codes_wait_on_a_channel(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pairings = app.client.pairings();
    let mut first = None;
    for i in 0..50 {
        let made = pairings.create(&chat(&format!("c{i}"))).await.unwrap();
        first.get_or_insert(made);
    }
    let first = first.unwrap();
    // The oldest code expires in 10 minutes.
    let soon = chrono::Utc::now() + chrono::Duration::minutes(10);
    set_expiry(&app, first.id, soon).await;

    let response = app
        .http
        .post(app.url("/api/v1/pairings"))
        .bearer_auth(&app.key)
        .json(&json!({ "channel": "telegram", "chat": "one-too-many" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((590..=600).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many pending pairing requests"),
        "{body}"
    );

    // Chats with a code still get theirs; approved chats and other channels are not held.
    let known = pairings.create(&chat("c3")).await.unwrap();
    assert_eq!(known.status, PairingStatus::Pending);
    assert!(known.code.is_some());
    let direct = pairings
        .create(&PairingIn {
            status: Some(PairingStatus::Approved),
            ..chat("vip")
        })
        .await
        .unwrap();
    assert_eq!(direct.status, PairingStatus::Approved);
    pairings
        .create(&PairingIn {
            channel: "slack".into(),
            ..chat("elsewhere")
        })
        .await
        .unwrap();

    // An expired code makes room.
    expire(&app, first.id).await;
    let made = pairings.create(&chat("one-too-many")).await.unwrap();
    assert_eq!(made.status, PairingStatus::Pending);
}

async fn listings_filter_by_channel_status_and_chat(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pairings = app.client.pairings();
    let a = pairings.create(&chat("a")).await.unwrap();
    let b = pairings.create(&chat("b")).await.unwrap();
    let c = pairings.create(&chat("c")).await.unwrap();
    let d = pairings
        .create(&PairingIn {
            channel: "slack".into(),
            ..chat("d")
        })
        .await
        .unwrap();
    pairings
        .approve(b.code.as_deref().unwrap(), None)
        .await
        .unwrap();
    pairings.revoke(c.id, None).await.unwrap();
    expire(&app, a.id).await;

    let ids = |page: agentops_sdk::types::Page<PairingOut>| -> Vec<Uuid> {
        page.items.iter().map(|p| p.id).collect()
    };
    let all = pairings.list().send().await.unwrap();
    assert_eq!(ids(all.clone()), [d.id, c.id, b.id, a.id], "newest first");
    assert!(all.items.iter().all(|p| p.code.is_none() || p.id == d.id));
    assert_eq!(all.items[3].status, PairingStatus::Expired);
    assert_eq!(
        ids(pairings.list().channel("telegram").send().await.unwrap()),
        [c.id, b.id, a.id]
    );
    for (status, expected) in [
        (PairingStatus::Pending, vec![d.id]),
        (PairingStatus::Expired, vec![a.id]),
        (PairingStatus::Approved, vec![b.id]),
        (PairingStatus::Revoked, vec![c.id]),
    ] {
        let page = pairings.list().status(status).send().await.unwrap();
        assert!(page.items.iter().all(|p| p.status == status), "{status}");
        assert_eq!(ids(page), expected, "{status}");
    }
    assert_eq!(
        ids(pairings
            .list()
            .channel("telegram")
            .chat("b")
            .send()
            .await
            .unwrap()),
        [b.id]
    );
    assert!(
        pairings
            .list()
            .channel("slack")
            .chat("b")
            .send()
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let page = pairings.list().limit(3).send().await.unwrap();
    assert_eq!(page.items.len(), 3);
    let rest = pairings
        .list()
        .limit(3)
        .cursor(page.next_cursor.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ids(rest), [a.id]);

    for query in [
        "status=exploded",
        "channel=Telegram",
        "chat=a%20b",
        "limit=0",
    ] {
        let (code, body) = app.get(&format!("/api/v1/pairings?{query}")).await;
        assert!(
            code == StatusCode::BAD_REQUEST || code == StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {code} {body}"
        );
    }
}

async fn events_tell_of_each_change_without_the_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pending = app.client.pairings().create(&chat("e1")).await.unwrap();
    let approved = app
        .client
        .pairings()
        .approve(pending.code.as_deref().unwrap(), Some("@op"))
        .await
        .unwrap();
    let revoked = app
        .client
        .pairings()
        .revoke(pending.id, None)
        .await
        .unwrap();

    let events = pairing_events(&app).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        ["pairing.requested", "pairing.approved", "pairing.revoked"]
    );
    for (_, data) in &events {
        assert!(data["code"].is_null(), "{data}");
        assert!(
            !data.to_string().contains(pending.code.as_deref().unwrap()),
            "{data}"
        );
    }
    let as_out = |data: &Value| serde_json::from_value::<PairingOut>(data.clone()).unwrap();
    assert_eq!(
        as_out(&events[0].1),
        PairingOut {
            code: None,
            ..pending
        }
    );
    assert_eq!(as_out(&events[1].1), approved);
    assert_eq!(as_out(&events[2].1), revoked);

    // A viewer reads them, still without the code.
    let viewer = app.create_key("viewer").await;
    let (code, body) = app
        .call_as(
            Some(&viewer),
            Method::GET,
            "/api/v1/events?since=0&types=pairing.*",
            None,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 3);
}

async fn only_admins_touch_pairings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let made = app.client.pairings().create(&chat("x")).await.unwrap();
    let one = format!("/api/v1/pairings/{}", made.id);
    let revoke = format!("/api/v1/pairings/{}/revoke", made.id);
    let body = json!({ "channel": "telegram", "chat": "y" });
    let approve = json!({ "code": made.code.clone().unwrap() });
    for role in ["viewer", "agent"] {
        let key = app.create_key(role).await;
        for (method, path, body) in [
            (Method::POST, "/api/v1/pairings", Some(body.clone())),
            (
                Method::POST,
                "/api/v1/pairings/approve",
                Some(approve.clone()),
            ),
            (Method::GET, "/api/v1/pairings", None),
            (Method::GET, one.as_str(), None),
            (Method::POST, revoke.as_str(), None),
        ] {
            let (code, answer) = app.call_as(Some(&key), method.clone(), path, body).await;
            assert_eq!(code, StatusCode::FORBIDDEN, "{role} {method} {path}");
            assert_eq!(answer["error"]["code"], "forbidden");
        }
    }
    let (code, _) = app
        .call_as(None, Method::GET, "/api/v1/pairings", None)
        .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.client.pairings().get(made.id).await.unwrap(),
        made,
        "nothing refused changed it"
    );
}

async fn bad_pairing_requests_are_refused_with_the_error_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (json!({ "channel": "Telegram", "chat": "1" }), "channel"),
        (json!({ "channel": "", "chat": "1" }), "channel"),
        (json!({ "channel": "t".repeat(41), "chat": "1" }), "channel"),
        (json!({ "channel": "telegram", "chat": "" }), "chat"),
        (json!({ "channel": "telegram", "chat": "a b" }), "chat"),
        (
            json!({ "channel": "telegram", "chat": "1".repeat(101) }),
            "chat",
        ),
        (
            json!({ "channel": "telegram", "chat": "1", "name": "n".repeat(201) }),
            "name",
        ),
        (
            json!({ "channel": "telegram", "chat": "1", "name": "bell\u{7}" }),
            "name",
        ),
    ];
    for (body, field) in cases {
        let (code, answer) = app.post("/api/v1/pairings", body.clone()).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed", "{body}");
        assert_eq!(answer["error"]["details"][0]["field"], field, "{body}");
    }
    for body in [
        json!({ "channel": "telegram", "chat": "1", "colour": "red" }),
        json!({ "channel": "telegram" }),
        json!({ "channel": "telegram", "chat": "1", "name": null }),
    ] {
        let (code, answer) = app.post("/api/v1/pairings", body.clone()).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_body", "{body}");
    }
    let (code, answer) = app
        .post(
            "/api/v1/pairings",
            json!({ "channel": "telegram", "chat": "1", "name": "nul\u{0}" }),
        )
        .await;
    assert!(code.is_client_error(), "{code} {answer}");
    for body in [
        json!({ "code": "" }),
        json!({ "code": "abc_def" }),
        json!({ "code": "ABCD2345", "by": "" }),
        json!({ "code": "ABCD2345", "by": "b".repeat(201) }),
        json!({ "code": "ABCD2345", "extra": 1 }),
    ] {
        let (code, answer) = app.post("/api/v1/pairings/approve", body.clone()).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
    let made = app.client.pairings().create(&chat("1")).await.unwrap();
    let (code, answer) = app
        .post(
            &format!("/api/v1/pairings/{}/revoke", made.id),
            json!({ "by": "" }),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(
        app.client.pairings().get(made.id).await.unwrap(),
        made,
        "nothing refused changed it"
    );
}

crate::on_both_backends!(
    a_request_issues_one_code_and_repeats_answer_the_same,
    a_code_approves_its_chat_whatever_its_case_spaces_and_dashes,
    an_expired_code_is_refused_and_the_chat_is_given_a_new_one,
    a_revoked_chat_can_ask_again_and_gets_a_new_code,
    an_operator_can_approve_a_chat_directly,
    at_most_fifty_codes_wait_on_a_channel,
    listings_filter_by_channel_status_and_chat,
    events_tell_of_each_change_without_the_code,
    only_admins_touch_pairings,
    bad_pairing_requests_are_refused_with_the_error_envelope,
);
