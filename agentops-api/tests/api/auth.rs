//! API keys, roles and rate limits.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use agentops_testkit::{Backend, PrivateRedis, TestApp, id_of};

async fn each_role_may_do_what_it_should_and_nothing_more(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.create_project("p").await;
    let task = id_of(&app.create_task(project, json!({})).await);
    let agent_key = app.create_key("agent").await;
    let viewer_key = app.create_key("viewer").await;
    let agent = id_of(
        &app.call_as(
            Some(&agent_key),
            Method::POST,
            "/api/v1/agents",
            Some(json!({ "name": "a1" })),
        )
        .await
        .1,
    );

    // (method, path, body, admin, agent, viewer): whether each role is allowed.
    let cases: Vec<(Method, String, Option<Value>, bool, bool, bool)> = vec![
        (
            Method::GET,
            "/api/v1/projects".into(),
            None,
            true,
            true,
            true,
        ),
        (
            Method::GET,
            format!("/api/v1/projects/{project}"),
            None,
            true,
            true,
            true,
        ),
        (Method::GET, "/api/v1/tasks".into(), None, true, true, true),
        (
            Method::GET,
            format!("/api/v1/tasks/{task}"),
            None,
            true,
            true,
            true,
        ),
        (Method::GET, "/api/v1/agents".into(), None, true, true, true),
        (
            Method::POST,
            "/api/v1/agents".into(),
            Some(json!({ "name": "a2" })),
            true,
            true,
            false,
        ),
        (
            Method::POST,
            format!("/api/v1/agents/{agent}/heartbeat"),
            None,
            true,
            true,
            false,
        ),
        (
            Method::POST,
            "/api/v1/tasks/claim".into(),
            Some(json!({ "agent_id": agent, "kinds": ["none"] })),
            true,
            true,
            false,
        ),
        (
            Method::POST,
            "/api/v1/projects".into(),
            Some(json!({ "name": "x" })),
            true,
            false,
            false,
        ),
        (
            Method::PATCH,
            format!("/api/v1/projects/{project}"),
            Some(json!({ "name": "y" })),
            true,
            false,
            false,
        ),
        (
            Method::POST,
            "/api/v1/tasks".into(),
            Some(json!({ "project_id": project, "title": "t" })),
            true,
            false,
            false,
        ),
        (
            Method::PATCH,
            format!("/api/v1/tasks/{task}"),
            Some(json!({ "priority": 1 })),
            true,
            false,
            false,
        ),
        (Method::GET, "/api/v1/keys".into(), None, true, false, false),
        (
            Method::POST,
            "/api/v1/keys".into(),
            Some(json!({ "name": "k", "role": "viewer" })),
            true,
            false,
            false,
        ),
    ];
    for (method, path, body, admin_ok, agent_ok, viewer_ok) in cases {
        for (key, allowed, role) in [
            (&app.key, admin_ok, "admin"),
            (&agent_key, agent_ok, "agent"),
            (&viewer_key, viewer_ok, "viewer"),
        ] {
            let (status, response) = app
                .call_as(Some(key), method.clone(), &path, body.clone())
                .await;
            if allowed {
                assert!(
                    status.is_success(),
                    "{role} {method} {path} should be allowed: {status} {response}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {response}"
                );
                assert_eq!(response["error"]["code"], "forbidden");
            }
        }
    }
    // Task control that needs a human is admin-only; agents may not cancel or unblock.
    for action in ["cancel", "unblock"] {
        let (status, _) = app
            .call_as(
                Some(&agent_key),
                Method::POST,
                &format!("/api/v1/tasks/{task}/{action}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "agent {action}");
    }
    // Forbidden is decided before the body is read.
    let (status, _) = app
        .call_as(
            Some(&viewer_key),
            Method::POST,
            "/api/v1/projects",
            Some(json!("not an object")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn keys_are_shown_once_listed_without_secrets_and_revocable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .post_ok(
            "/api/v1/keys",
            json!({ "name": "ci", "role": "viewer" }),
            StatusCode::CREATED,
        )
        .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("aok_"));
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

    let listed = app.get_ok("/api/v1/keys").await;
    let text = listed.to_string();
    assert!(!text.contains(&secret), "listing never shows a secret");
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == created["id"])
    );
    // The database holds only a hash.
    let row = agentops_api::store::keys::find_active(&app.state.db, id_of(&created))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(row.secret_hash, secret);
    assert_eq!(row.secret_hash.len(), 64);

    assert_eq!(
        app.call_as(Some(&secret), Method::GET, "/api/v1/projects", None)
            .await
            .0,
        StatusCode::OK
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{}", created["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app
        .call_as(Some(&secret), Method::GET, "/api/v1/projects", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{}", created["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let kinds: Vec<String> = app
        .events()
        .await
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("key."))
        .collect();
    assert!(
        kinds.ends_with(&["key.created".to_owned(), "key.revoked".to_owned()]),
        "{kinds:?}"
    );
}

async fn missing_wrong_and_expired_keys_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app
        .call_as(None, Method::GET, "/api/v1/projects", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = app
        .call_as(
            Some("aok_not-a-real-key"),
            Method::GET,
            "/api/v1/projects",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let response = app
        .http
        .get(app.url("/api/v1/projects"))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("www-authenticate").is_some());

    let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
    let created = app
        .post_ok(
            "/api/v1/keys",
            json!({ "name": "short", "role": "viewer", "expires_at": soon }),
            StatusCode::CREATED,
        )
        .await;
    let secret = created["secret"].as_str().unwrap();
    assert_eq!(
        app.call_as(Some(secret), Method::GET, "/api/v1/projects", None)
            .await
            .0,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(
        app.call_as(Some(secret), Method::GET, "/api/v1/projects", None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let past = chrono::Utc::now() - chrono::Duration::seconds(5);
    let (status, _) = app
        .post(
            "/api/v1/keys",
            json!({ "name": "past", "role": "viewer", "expires_at": past }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post("/api/v1/keys", json!({ "name": "bad", "role": "root" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn a_key_over_its_rate_limit_gets_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| {
        cfg.rate_limit_per_second = 1;
        cfg.rate_limit_burst = 3;
    })
    .await;
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..6 {
        let response = app
            .http
            .get(app.url("/api/v1/projects"))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited");
        }
    }
    assert_eq!(&statuses[..3], &[StatusCode::OK; 3]);
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    let seconds: u64 = retry_after.expect("Retry-After header").parse().unwrap();
    assert!((1..=2).contains(&seconds));
    // Health endpoints are not rate limited or authenticated.
    for _ in 0..5 {
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
}

async fn the_first_start_generates_an_admin_key_file(backend: Backend) {
    let db = agentops_testkit::TestDb::create(backend).await;
    let mut cfg = agentops_testkit::test_config(&db);
    cfg.admin_key = None;
    let server = agentops_api::Server::start(cfg.clone()).await.unwrap();
    let agentops_api::Bootstrap::Generated { secret, path } = server.bootstrap() else {
        panic!("expected a generated key, got {:?}", server.bootstrap());
    };
    let on_disk = std::fs::read_to_string(path).unwrap();
    assert_eq!(on_disk.trim(), secret);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let caller = agentops_api::auth::authenticate_secret(&server.state().authenticator(), secret)
        .await
        .unwrap();
    assert_eq!(caller.role, agentops_sdk::types::Role::Admin);
    // A second start finds keys and generates nothing.
    let again = agentops_api::Server::start(cfg).await.unwrap();
    assert_eq!(again.bootstrap(), &agentops_api::Bootstrap::Existing);
}

/// A session is a short-lived key of the caller's role, made from the caller's key: it
/// works like it, ends on its own (logout), dies with its key, and stays out of listings.
async fn sessions_act_as_their_key_end_on_logout_and_die_with_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let viewer = app.create_key("viewer").await;
    let (status, session) = app
        .call_as(
            Some(&viewer),
            Method::POST,
            "/api/v1/sessions",
            Some(json!({ "name": "dashboard", "ttl_seconds": 3600 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["role"], "viewer");
    assert_eq!(session["name"], "dashboard");
    assert!(!session["parent_id"].is_null());
    let expires: chrono::DateTime<chrono::Utc> =
        session["expires_at"].as_str().unwrap().parse().unwrap();
    let left = expires - chrono::Utc::now();
    assert!(left > chrono::Duration::minutes(59) && left <= chrono::Duration::hours(1));
    let secret = session["secret"].as_str().unwrap().to_owned();

    // It reads like its key, and may not write any more than its key.
    let (status, me) = app
        .call_as(Some(&secret), Method::GET, "/api/v1/keys/me", None)
        .await;
    assert_eq!(
        (status, me["role"].clone()),
        (StatusCode::OK, json!("viewer"))
    );
    let (status, _) = app
        .call_as(
            Some(&secret),
            Method::POST,
            "/api/v1/projects",
            Some(json!({ "name": "nope" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Sessions are not listed among the keys.
    let listed = app.get_ok("/api/v1/keys").await.to_string();
    assert!(!listed.contains(session["id"].as_str().unwrap()));

    // Logout ends it at once; a key that is not a session cannot end itself this way.
    let (status, body) = app
        .call_as(
            Some(&viewer),
            Method::DELETE,
            "/api/v1/sessions/current",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "not_a_session");
    let (status, _) = app
        .call_as(
            Some(&secret),
            Method::DELETE,
            "/api/v1/sessions/current",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call_as(Some(&secret), Method::GET, "/api/v1/keys/me", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Revoking the key revokes its sessions (also one made from a session), at once.
    let (_, first) = app
        .call_as(Some(&viewer), Method::POST, "/api/v1/sessions", None)
        .await;
    assert_eq!(first["name"].as_str().unwrap(), "session of viewer-key");
    let first = first["secret"].as_str().unwrap().to_owned();
    let (_, second) = app
        .call_as(Some(&first), Method::POST, "/api/v1/sessions", None)
        .await;
    let second = second["secret"].as_str().unwrap().to_owned();
    for secret in [&first, &second] {
        let (status, _) = app
            .call_as(Some(secret), Method::GET, "/api/v1/keys/me", None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let viewer_id = id_of(
        &app.call_as(Some(&viewer), Method::GET, "/api/v1/keys/me", None)
            .await
            .1,
    );
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/v1/keys/{viewer_id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for secret in [&first, &second] {
        let (status, _) = app
            .call_as(Some(secret), Method::GET, "/api/v1/keys/me", None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    // Out-of-range lives are refused with the field named.
    for ttl in [0, 299, 2_592_001] {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/v1/sessions",
                Some(json!({ "ttl_seconds": ttl })),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{ttl}: {body}");
        assert_eq!(body["error"]["details"][0]["field"], "ttl_seconds");
    }
}

async fn ended_sessions_are_pruned_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let viewer = app.create_key("viewer").await;
    let session = |key: String| {
        let app = &app;
        async move {
            let (status, made) = app
                .call_as(
                    Some(&key),
                    Method::POST,
                    "/api/v1/sessions",
                    Some(json!({ "name": "dashboard" })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{made}");
            made
        }
    };
    let live = session(viewer.clone()).await;
    let ended = session(viewer.clone()).await;
    let ended_secret = ended["secret"].as_str().unwrap().to_owned();
    let child = session(ended_secret.clone()).await;
    for secret in [child["secret"].as_str().unwrap(), ended_secret.as_str()] {
        let (status, _) = app
            .call_as(
                Some(secret),
                Method::DELETE,
                "/api/v1/sessions/current",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let revoked = app
        .post_ok(
            "/api/v1/keys",
            json!({ "name": "old", "role": "viewer" }),
            StatusCode::CREATED,
        )
        .await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{}", revoked["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let db = &app.state.db;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    // Nothing has ended long enough ago yet.
    let now = chrono::Utc::now() - agentops_api::reaper::ENDED_SESSIONS_KEPT;
    assert_eq!(
        agentops_api::store::keys::prune_ended_sessions(db, now)
            .await
            .unwrap(),
        0
    );
    // Both ended sessions (a session made from a session hangs from the same key); the
    // live session and every ordinary key, revoked or not, stay.
    assert_eq!(
        agentops_api::store::keys::prune_ended_sessions(db, later)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        agentops_api::store::keys::prune_ended_sessions(db, later)
            .await
            .unwrap(),
        0
    );
    let gone = |id: &Value| {
        let id: uuid::Uuid = id.as_str().unwrap().parse().unwrap();
        async move {
            agentops_api::store::keys::find_active(db, id)
                .await
                .unwrap()
                .is_none()
        }
    };
    assert!(!gone(&live["id"]).await, "a live session stays");
    assert!(gone(&ended["id"]).await);
    let (status, _) = app
        .call_as(
            Some(live["secret"].as_str().unwrap()),
            Method::GET,
            "/api/v1/projects",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        agentops_api::store::keys::count_all(db).await.unwrap(),
        4,
        "admin, viewer, the revoked key and the live session"
    );
}

crate::on_both_backends!(
    ended_sessions_are_pruned_and_nothing_else,
    sessions_act_as_their_key_end_on_logout_and_die_with_it,
    each_role_may_do_what_it_should_and_nothing_more,
    keys_are_shown_once_listed_without_secrets_and_revocable,
    missing_wrong_and_expired_keys_are_refused,
    a_key_over_its_rate_limit_gets_429_with_retry_after,
    the_first_start_generates_an_admin_key_file,
);

/// With Redis, replicas share each key's budget: what a key spent on one replica it
/// cannot spend again on another. While Redis is down each replica keeps a budget of
/// its own and requests still go through; once it is back, the budget is shared again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_each_keys_rate_limit_through_redis() {
    use agentops_testkit::{Backend as B, TestServer, use_redis};

    let mut redis = PrivateRedis::start();
    let a = TestServer::spawn_with(B::Postgres, |cfg| {
        use_redis(cfg, &redis.url());
        cfg.rate_limit_per_second = 1;
        cfg.rate_limit_burst = 4;
    })
    .await;
    let b = a.spawn_replica().await;
    let http = reqwest::Client::new();
    let statuses = |server: &TestServer, n: usize| {
        let (http, url) = (http.clone(), server.url("/api/v1/projects"));
        async move {
            let mut statuses = Vec::new();
            for _ in 0..n {
                let response = http
                    .get(&url)
                    .bearer_auth(agentops_testkit::ADMIN_KEY)
                    .send()
                    .await
                    .unwrap();
                if response.status() == StatusCode::TOO_MANY_REQUESTS {
                    let retry_after: u64 = response.headers()["retry-after"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
                }
                statuses.push(response.status());
            }
            statuses
        }
    };
    let ok = |statuses: &[StatusCode]| statuses.iter().filter(|s| **s == StatusCode::OK).count();

    // A spends the burst; B, with a budget of its own, would allow 4 more. One
    // request a second comes back, so B may get one or two in, never four.
    assert_eq!(statuses(&a, 4).await, [StatusCode::OK; 4]);
    let on_b = statuses(&b, 4).await;
    assert!(ok(&on_b) < 4, "B did not see what A spent: {on_b:?}");
    assert!(a.state.keys.limits().shared() && b.state.keys.limits().shared());

    // Redis down: each replica falls back to its own budget (untouched so far).
    redis.stop();
    let on_a = statuses(&a, 4).await;
    assert_eq!(
        on_a,
        [StatusCode::OK; 4],
        "requests must go on while Redis is down"
    );
    assert!(!a.state.keys.limits().shared());
    assert!(
        a.state
            .metrics
            .render()
            .contains("agentops_rate_limit_redis_fallbacks_total 1\n"),
        "the fallback is counted once"
    );

    // Redis back (empty, as after a failover): once the back-off is over, a request
    // probes it and the budget is shared again. B then finds the probe's spending there.
    redis.restart();
    let deadline = std::time::Instant::now()
        + agentops_api::rate_limit::REDIS_BACKOFF
        + std::time::Duration::from_secs(30);
    while !a.state.keys.limits().shared() {
        assert!(
            std::time::Instant::now() < deadline,
            "A never went back to Redis"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        statuses(&a, 1).await;
    }
    let on_b = statuses(&b, 4).await;
    assert!(ok(&on_b) < 4, "B did not see what A spent: {on_b:?}");
    assert!(b.state.keys.limits().shared());
}

/// Two revocations of one key at once: the second waits for the first, finds the key
/// revoked, and answers 404 without revoking (or telling) it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_twice_at_once_is_revoked_once_on_postgres() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let created = app
        .post_ok(
            "/api/v1/keys",
            json!({ "name": "ci", "role": "viewer" }),
            StatusCode::CREATED,
        )
        .await;
    let id = id_of(&created);
    // The first revocation, under way: the row held as a revocation holds it.
    let first = [
        format!("SELECT id FROM api_keys WHERE id = '{id}' FOR NO KEY UPDATE"),
        format!("UPDATE api_keys SET revoked_at = now() WHERE id = '{id}'"),
    ];
    let path = format!("/api/v1/keys/{id}");
    let (status, body) = app
        .while_held(&first, app.call(Method::DELETE, &path, None))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "key_not_found");
    let told = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == "key.revoked")
        .count();
    assert_eq!(
        told, 0,
        "the second revocation told a revocation it did not make"
    );
}
