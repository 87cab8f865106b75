//! The token ledger and the budgets the server enforces: records, totals, reservations
//! refused with `429 budget_exhausted`, settling, releasing, expiry, warnings, and
//! concurrent reservers that never take more than the limit.

use std::time::Duration;

use agentops_api::config::Price;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use agentops_testkit::{Backend, TestApp, id_of};

fn priced(cfg: &mut agentops_api::config::ApiConfig) {
    cfg.prices = vec![Price {
        model: "gpt-4o-mini".into(),
        input: 0.15,
        output: 0.6,
    }];
}

async fn record(app: &TestApp, body: Value) -> Value {
    app.post_ok("/api/v1/usage", body, StatusCode::CREATED)
        .await
}

async fn calls_are_recorded_priced_listed_and_summed(backend: Backend) {
    let app = TestApp::spawn_with(backend, priced).await;
    let project = app.create_project("Website").await;
    let (writer, reviewer) = (Uuid::now_v7(), Uuid::now_v7());
    let first = record(
        &app,
        json!({"agent_id": writer, "project_id": project, "provider": "api.openai.com",
               "model": "gpt-4o-mini-2024-07-18", "tokens_in": 1_000_000, "tokens_out": 500_000,
               "latency_ms": 1200, "user": "@ana"}),
    )
    .await;
    // 1M in at $0.15 and 0.5M out at $0.60, priced by the model's family.
    assert_eq!(first["cost_usd"], json!(0.45));
    assert_eq!(first["scope"], "reactive");
    assert_eq!(first["kind"], "chat");
    assert_eq!(first["outcome"], "ok");
    record(
        &app,
        json!({"agent_id": reviewer, "provider": "local", "model": "llama3", "tokens_in": 10,
               "tokens_out": 5, "scope": "proactive", "outcome": "error", "error": "timeout"}),
    )
    .await;
    record(
        &app,
        json!({"agent_id": writer, "project_id": project, "provider": "api.openai.com",
               "model": "gpt-4o-mini", "tokens_in": 100, "tokens_out": 0}),
    )
    .await;

    let listed = app
        .get_ok(&format!("/api/v1/usage?agent_id={writer}"))
        .await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["id"], first["id"], "newest first");
    let proactive = app
        .get_ok("/api/v1/usage?scope=proactive&outcome=error")
        .await;
    assert_eq!(proactive["items"][0]["error"], "timeout");
    assert_eq!(
        proactive["items"][0]["cost_usd"],
        Value::Null,
        "no price for llama3"
    );

    let by_agent = app.get_ok("/api/v1/usage/summary?group_by=agent").await;
    assert_eq!(
        by_agent["groups"][0]["key"],
        writer.to_string(),
        "{by_agent}"
    );
    assert_eq!(by_agent["groups"][0]["calls"], 2);
    assert_eq!(by_agent["groups"][0]["tokens_in"], 1_000_100);
    assert_eq!(by_agent["groups"][1]["errors"], 1);
    assert_eq!(by_agent["total"]["calls"], 3);
    assert_eq!(by_agent["total"]["tokens_out"], 500_005);
    let by_day = app.get_ok("/api/v1/usage/summary?group_by=day").await;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(by_day["groups"][0]["key"], today, "{by_day}");
    let by_user = app
        .get_ok(&format!(
            "/api/v1/usage/summary?group_by=user&project_id={project}"
        ))
        .await;
    let keys: Vec<&str> = by_user["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["@ana", "none"]);

    // Bad input is refused with a clear 4xx.
    let (status, body) = app
        .post(
            "/api/v1/usage",
            json!({"provider": "", "model": "m", "tokens_in": 1, "tokens_out": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["details"][0]["field"], "provider");
    let (status, body) = app.get("/api/v1/usage/summary?group_by=planet").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app.call_as(None, Method::GET, "/api/v1/usage", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn create_budget(app: &TestApp, body: Value) -> Value {
    app.post_ok("/api/v1/budgets", body, StatusCode::CREATED)
        .await
}

async fn reserve(app: &TestApp, body: Value) -> (StatusCode, Value, Option<u64>) {
    let response = app
        .http
        .post(app.url("/api/v1/budgets/reservations"))
        .bearer_auth(&app.key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, response.json().await.unwrap(), retry_after)
}

async fn a_budget_refuses_what_it_has_no_room_for_and_settling_gives_room_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agent = Uuid::now_v7();
    let budget = create_budget(
        &app,
        json!({"name": "writer daily", "applies_to": "agent", "subject": agent.to_string(),
               "period": "day", "limit_tokens": 1000}),
    )
    .await;
    let id = id_of(&budget);
    assert_eq!(budget["current"]["remaining_tokens"], 1000);
    assert_eq!(budget["time_zone"], "UTC");

    let (status, held, _) = reserve(&app, json!({"agent_id": agent, "tokens": 600})).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(held["budgets"], json!([id.to_string()]));
    let standing = app.get_ok(&format!("/api/v1/budgets/{id}")).await;
    assert_eq!(standing["current"]["reserved_tokens"], 600);
    assert_eq!(standing["current"]["remaining_tokens"], 400);

    // No room for 500 more: refused, with the time the budget starts over.
    let (status, refused, retry_after) =
        reserve(&app, json!({"agent_id": agent, "tokens": 500})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused["error"]["code"], "budget_exhausted");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("writer daily") && message.contains("400 tokens left"),
        "{message}"
    );
    let retry_after = retry_after.expect("Retry-After");
    assert!((1..=86_400).contains(&retry_after), "{retry_after}");
    // Another agent's calls are not limited by it.
    let (status, _, _) = reserve(&app, json!({"agent_id": Uuid::now_v7(), "tokens": 500})).await;
    assert_eq!(status, StatusCode::CREATED);

    // The call spent 300, not 600: settling gives the rest back.
    let settled = record(
        &app,
        json!({"agent_id": agent, "provider": "p", "model": "m", "tokens_in": 200,
               "tokens_out": 100, "reservation_id": held["id"]}),
    )
    .await;
    let standing = app.get_ok(&format!("/api/v1/budgets/{id}")).await;
    assert_eq!(standing["current"]["used_tokens"], 300);
    assert_eq!(standing["current"]["reserved_tokens"], 0);
    // Settling again (a retry after a lost answer) returns the same record, charged once.
    let (status, again) = app
        .post(
            "/api/v1/usage",
            json!({"agent_id": agent, "provider": "p", "model": "m", "tokens_in": 200,
                   "tokens_out": 100, "reservation_id": held["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], settled["id"]);
    let standing = app.get_ok(&format!("/api/v1/budgets/{id}")).await;
    assert_eq!(standing["current"]["used_tokens"], 300);

    // A reservation released gives its room back; releasing twice changes nothing.
    let (_, held, _) = reserve(&app, json!({"agent_id": agent, "tokens": 700})).await;
    let path = format!(
        "/api/v1/budgets/reservations/{}",
        held["id"].as_str().unwrap()
    );
    for _ in 0..2 {
        let (status, _) = app.call(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let standing = app.get_ok(&format!("/api/v1/budgets/{id}")).await;
    assert_eq!(standing["current"]["remaining_tokens"], 700);
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/budgets/reservations/{}", Uuid::now_v7()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "reservation_not_found");

    // Spending without a reservation still counts: 80 % warns once, 100 % says so once.
    for _ in 0..3 {
        record(
            &app,
            json!({"agent_id": agent, "provider": "p", "model": "m", "tokens_in": 200, "tokens_out": 0}),
        )
        .await;
    }
    let kinds: Vec<String> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind.starts_with("budget.") && e.data["id"] == id.to_string())
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["budget.created", "budget.exhausted", "budget.warning"],
        "the refusal said exhausted; then 80 % was crossed; 100 % was already told"
    );
    let standing = app.get_ok(&format!("/api/v1/budgets/{id}")).await;
    assert_eq!(standing["current"]["used_tokens"], 900);
    // Disabled, it refuses nothing.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/budgets/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = reserve(&app, json!({"agent_id": agent, "tokens": 5000})).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn budgets_are_validated_listed_changed_and_deleted(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| cfg.proactive_daily_tokens = 0).await;
    for (body, field) in [
        (
            json!({"name": "x", "applies_to": "agent", "period": "day", "limit_tokens": 5}),
            "subject",
        ),
        (
            json!({"name": "x", "applies_to": "all", "subject": "a", "period": "day", "limit_tokens": 5}),
            "subject",
        ),
        (
            json!({"name": "x", "applies_to": "project", "subject": "nope", "period": "day", "limit_tokens": 5}),
            "subject",
        ),
        (
            json!({"name": "x", "applies_to": "all", "period": "day", "limit_tokens": 0}),
            "limit_tokens",
        ),
        (
            json!({"name": "x", "applies_to": "all", "period": "day", "limit_tokens": 5, "time_zone": "Mars/Olympus"}),
            "time_zone",
        ),
        (
            json!({"name": " ", "applies_to": "all", "period": "day", "limit_tokens": 5}),
            "name",
        ),
        (
            json!({"name": "x", "applies_to": "all", "period": "day", "limit_tokens": 5, "limit_cost_usd": -1.0}),
            "limit_cost_usd",
        ),
    ] {
        let (status, answer) = app.post("/api/v1/budgets", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {answer}"
        );
        assert_eq!(answer["error"]["details"][0]["field"], field, "{answer}");
    }
    let (status, answer) = app
        .post(
            "/api/v1/budgets",
            json!({"name": "x", "applies_to": "everyone", "period": "day", "limit_tokens": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");

    let monthly = create_budget(
        &app,
        json!({"name": "team", "applies_to": "all", "period": "month", "time_zone": "Europe/Paris",
               "limit_tokens": 5_000_000, "limit_cost_usd": 12.5}),
    )
    .await;
    assert_eq!(monthly["limit_cost_usd"], json!(12.5));
    let (status, twin) = app
        .post(
            "/api/v1/budgets",
            json!({"name": "team", "applies_to": "all", "period": "day", "limit_tokens": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{twin}");
    let id = id_of(&monthly);
    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/budgets/{id}"),
            Some(json!({"limit_tokens": 10})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["limit_tokens"], 10);
    assert_eq!(patched["name"], "team");
    let listed = app.get_ok("/api/v1/budgets").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/v1/budgets/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&format!("/api/v1/budgets/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "budget_not_found");
    let viewer = app.create_key("viewer").await;
    let (status, _) = app
        .call_as(
            Some(&viewer),
            Method::POST,
            "/api/v1/budgets",
            Some(json!({"name": "v", "applies_to": "all", "period": "day", "limit_tokens": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn proactive_work_is_capped_by_default_and_forgotten_reservations_expire(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let listed = app.get_ok("/api/v1/budgets").await;
    let default = &listed["items"][0];
    assert_eq!(default["name"], "default proactive");
    assert_eq!(default["applies_to"], "proactive");
    assert_eq!(default["limit_tokens"], 7_000_000);
    let id = default["id"].as_str().unwrap().to_owned();

    // Reactive work is not limited by it; proactive work is.
    let (status, held, _) = reserve(&app, json!({"tokens": 6_999_000, "scope": "reactive"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(held["budgets"], json!([]));
    let (status, held, _) = reserve(
        &app,
        json!({"tokens": 6_999_000, "scope": "proactive", "ttl_seconds": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(held["budgets"], json!([id]));
    let (status, _, _) = reserve(&app, json!({"tokens": 5_000, "scope": "proactive"})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Nobody settles it: the reaper releases it once it expires.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let budget = app.get_ok(&format!("/api/v1/budgets/{id}")).await;
        if budget["current"]["reserved_tokens"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never released: {budget}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _, _) = reserve(&app, json!({"tokens": 5_000, "scope": "proactive"})).await;
    assert_eq!(status, StatusCode::CREATED);
    // Settling a reservation that expired still records and charges what was spent.
    let late = record(
        &app,
        json!({"scope": "proactive", "provider": "p", "model": "m", "tokens_in": 42,
               "tokens_out": 0, "reservation_id": held["id"]}),
    )
    .await;
    assert_eq!(late["reservation_id"], held["id"]);
    let budget = app.get_ok(&format!("/api/v1/budgets/{id}")).await;
    assert_eq!(budget["current"]["used_tokens"], 42);
}

/// A persona's conversation with `person` (its thread), made by a first message.
async fn conversation(app: &TestApp, owner: &str, slug: &str, person: &str) -> (Uuid, Uuid) {
    let response = app
        .http
        .post(app.url("/api/v1/personas"))
        .bearer_auth(&app.key)
        .header("X-On-Behalf-Of", owner)
        .json(
            &json!({"name": slug, "slug": slug, "system_prompt": "Be brief.",
                      "model": "m", "visibility": "public"}),
        )
        .send()
        .await
        .unwrap();
    let status = response.status();
    let persona: Value = response.json().await.unwrap();
    assert!(
        status == StatusCode::CREATED || status == StatusCode::CONFLICT,
        "{persona}"
    );
    let persona = app.get_ok(&format!("/api/v1/personas/{slug}")).await;
    let chat = app
        .http
        .post(app.url(&format!("/api/v1/personas/{slug}/chat?wait=0")))
        .bearer_auth(&app.key)
        .header("X-On-Behalf-Of", person)
        .json(&json!({"text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), StatusCode::ACCEPTED);
    let chat: Value = chat.json().await.unwrap();
    (
        id_of(&persona),
        chat["thread_id"].as_str().unwrap().parse().unwrap(),
    )
}

/// A budget on a persona limits the calls made in its conversations, whoever talks to
/// it; a budget on an owner limits all their personas' calls together. The server finds
/// the persona from the conversation: the caller names only the thread.
async fn budgets_on_a_persona_and_on_its_owner_limit_its_conversations(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| cfg.proactive_daily_tokens = 0).await;
    let (bard, bard_with_bo) = conversation(&app, "telegram:1", "bard", "telegram:7").await;
    let (_, bard_with_cy) = conversation(&app, "telegram:1", "bard", "telegram:8").await;
    let (_, sage_with_bo) = conversation(&app, "telegram:1", "sage", "telegram:7").await;
    let (_, other_with_bo) = conversation(&app, "telegram:2", "other", "telegram:7").await;

    for (body, field) in [
        (
            json!({"name": "x", "applies_to": "persona", "period": "day", "limit_tokens": 5}),
            "subject",
        ),
        (
            json!({"name": "x", "applies_to": "persona", "subject": "bard", "period": "day", "limit_tokens": 5}),
            "subject",
        ),
        (
            json!({"name": "x", "applies_to": "owner", "period": "day", "limit_tokens": 5}),
            "subject",
        ),
    ] {
        let (status, answer) = app.post("/api/v1/budgets", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {answer}"
        );
        assert_eq!(answer["error"]["details"][0]["field"], field, "{answer}");
    }

    let on_bard = create_budget(
        &app,
        json!({"name": "bard daily", "applies_to": "persona", "subject": bard.to_string().to_uppercase(),
               "period": "day", "limit_tokens": 1_000}),
    )
    .await;
    assert_eq!(on_bard["applies_to"], "persona");
    assert_eq!(on_bard["subject"], bard.to_string());
    let on_owner = create_budget(
        &app,
        json!({"name": "owner 1 daily", "applies_to": "owner", "subject": "telegram:1",
               "period": "day", "limit_tokens": 1_500}),
    )
    .await;

    // Bo's and Cy's conversations with the bard share its budget.
    let (status, held, _) = reserve(&app, json!({"thread_id": bard_with_bo, "tokens": 600})).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    let mut holds: Vec<Value> = held["budgets"].as_array().unwrap().clone();
    holds.sort_by_key(|b| b.as_str().unwrap().to_owned());
    let mut both = vec![on_bard["id"].clone(), on_owner["id"].clone()];
    both.sort_by_key(|b| b.as_str().unwrap().to_owned());
    assert_eq!(holds, both, "{held}");
    let (status, refused, retry_after) =
        reserve(&app, json!({"thread_id": bard_with_cy, "tokens": 600})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(refused["error"]["code"], "budget_exhausted");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bard daily"),
        "{refused}"
    );
    assert!(retry_after.is_some_and(|s| s <= 86_400));

    // The sage is the same owner's: only the owner's budget applies, and it has 900 left.
    let (status, held, _) = reserve(&app, json!({"thread_id": sage_with_bo, "tokens": 800})).await;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(held["budgets"], json!([on_owner["id"]]));
    let (status, refused, _) =
        reserve(&app, json!({"thread_id": sage_with_bo, "tokens": 200})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("owner 1 daily"),
        "{refused}"
    );

    // Another owner's persona, and calls outside any persona, are not limited by them.
    for body in [
        json!({"thread_id": other_with_bo, "tokens": 5_000}),
        json!({"user": "telegram:1", "tokens": 5_000}),
        json!({"tokens": 5_000}),
    ] {
        let (status, held, _) = reserve(&app, body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{body} → {held}");
        assert_eq!(held["budgets"], json!([]), "{body} → {held}");
    }

    // What a persona's calls really spent counts too: recorded without a reservation.
    app.call(
        Method::DELETE,
        &format!("/api/v1/budgets/{}", on_owner["id"].as_str().unwrap()),
        None,
    )
    .await;
    record(
        &app,
        json!({"thread_id": bard_with_cy, "provider": "local", "model": "m",
               "tokens_in": 300, "tokens_out": 100}),
    )
    .await;
    let standing = app
        .get_ok(&format!(
            "/api/v1/budgets/{}",
            on_bard["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(standing["current"]["used_tokens"], 400, "{standing}");
    assert_eq!(standing["current"]["reserved_tokens"], 600, "{standing}");
}

crate::on_both_backends!(
    budgets_on_a_persona_and_on_its_owner_limit_its_conversations,
    calls_are_recorded_priced_listed_and_summed,
    a_budget_refuses_what_it_has_no_room_for_and_settling_gives_room_back,
    budgets_are_validated_listed_changed_and_deleted,
    proactive_work_is_capped_by_default_and_forgotten_reservations_expire,
);

/// 32 agents reserve at once against a budget with room for ten calls, and settle with
/// what they reserved, but for one agent whose calls spend more than their estimate: the
/// period never admits more than its room, and ends at most that overshoot above it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservers_never_overspend_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let limit = 10_000u64;
    let per_call = 1_000u64;
    let overshoot = 150u64;
    let budget = create_budget(
        &app,
        json!({"name": "small", "applies_to": "all", "period": "day", "limit_tokens": limit}),
    )
    .await;
    let id = id_of(&budget);
    let mut calls = Vec::new();
    for agent in 0..32u64 {
        let spent_out = if agent == 0 { overshoot } else { 0 };
        let app_http = app.http.clone();
        let (url, key) = (app.url(""), app.key.clone());
        calls.push(tokio::spawn(async move {
            let mut granted = 0u64;
            for _ in 0..3 {
                let response = app_http
                    .post(format!("{url}/api/v1/budgets/reservations"))
                    .bearer_auth(&key)
                    .json(&json!({"tokens": per_call}))
                    .send()
                    .await
                    .unwrap();
                match response.status() {
                    StatusCode::CREATED => {
                        let held: Value = response.json().await.unwrap();
                        granted += 1;
                        let settled = app_http
                            .post(format!("{url}/api/v1/usage"))
                            .bearer_auth(&key)
                            .json(&json!({"provider": "p", "model": "m",
                                          "tokens_in": per_call, "tokens_out": spent_out,
                                          "reservation_id": held["id"]}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(settled.status(), StatusCode::CREATED);
                    }
                    StatusCode::TOO_MANY_REQUESTS => {}
                    other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
                }
            }
            (granted, granted * (per_call + spent_out))
        }));
    }
    let (mut granted, mut spent) = (0, 0);
    for call in calls {
        let (calls, tokens) = call.await.unwrap();
        granted += calls;
        spent += tokens;
    }
    let standing = app.get_ok(&format!("/api/v1/budgets/{id}")).await;
    let used = standing["current"]["used_tokens"].as_u64().unwrap();
    assert_eq!(standing["current"]["reserved_tokens"], 0);
    assert_eq!(used, spent, "every settled call counted once");
    assert!(
        granted <= limit / per_call,
        "{granted} calls admitted into room for ten"
    );
    assert!(
        granted >= limit / per_call - 1,
        "only {granted} calls got through"
    );
    assert!(
        used <= limit + overshoot,
        "spent {used} of {limit}: more than the one agent's overshoot"
    );
    let summed = app.get_ok("/api/v1/usage/summary?group_by=scope").await;
    assert_eq!(summed["total"]["calls"], granted);
}

/// Two changes of one budget at once (an operator renames it while another raises its
/// limit): the second waits for the first and patches what it left, so both stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_of_a_budget_both_stay_on_postgres() {
    let app = TestApp::spawn_with(Backend::Postgres, |cfg| cfg.proactive_daily_tokens = 0).await;
    let budget = create_budget(
        &app,
        json!({"name": "writers", "applies_to": "all", "period": "day", "limit_tokens": 1000}),
    )
    .await;
    let id = id_of(&budget);
    // The first change, under way: the row held as a change holds it, not yet committed.
    let renaming = [
        format!("SELECT id FROM budgets WHERE id = '{id}' FOR NO KEY UPDATE"),
        format!("UPDATE budgets SET name = 'editors' WHERE id = '{id}'"),
    ];
    let path = format!("/api/v1/budgets/{id}");
    let raise = app.call(Method::PATCH, &path, Some(json!({"limit_tokens": 5000})));
    let (status, raised) = app.while_held(&renaming, raise).await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    let standing = app.get_ok(&path).await;
    assert_eq!(standing["limit_tokens"], 5000, "{standing}");
    assert_eq!(
        standing["name"], "editors",
        "the rename was undone: {standing}"
    );
}
