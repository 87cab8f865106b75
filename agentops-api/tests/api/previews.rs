//! Previews: a task's server shown at `/preview/<short id>/` through the platform, with
//! a key or the link's token, until it expires or is stopped.

use axum::Router;
use axum::routing::{get, post};
use reqwest::{Method, StatusCode};
use serde_json::json;

use agentops_sdk::types::{PreviewIn, PreviewStatus};
use agentops_testkit::{Backend, TestApp};

/// A task's server stand-in: `/` answers a page, `/echo` the query, `/post` the body.
async fn upstream() -> String {
    let app = Router::new()
        .route("/base/", get(|| async { "<h1>Counter</h1>" }))
        .route(
            "/base/echo",
            get(
                |uri: axum::http::Uri, headers: axum::http::HeaderMap| async move {
                    format!(
                        "query={} auth={} cookie={}",
                        uri.query().unwrap_or(""),
                        headers.contains_key("authorization"),
                        headers.contains_key("cookie")
                    )
                },
            ),
        )
        .route(
            "/base/post",
            post(|body: String| async move { format!("got {body}") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/base/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

async fn a_preview_is_served_with_a_key_or_its_link_until_it_is_stopped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "seed", json!({})).await;
    let base = upstream().await;
    let previews = app.client.previews();
    let input = PreviewIn {
        task_id: task.id,
        upstream: base.clone(),
        ttl_seconds: Some(600),
        port: Some(8000),
    };
    let preview = previews.create(input.clone()).await.unwrap();
    assert_eq!(preview.status, PreviewStatus::Live);
    assert_eq!(preview.short_id, task.id.simple().to_string()[20..]);
    assert_eq!(preview.path, format!("/preview/{}/", preview.short_id));
    assert!(preview.link.starts_with(&format!("{}~", preview.path)) && preview.link.ends_with('/'));
    assert_eq!((preview.project_id, preview.port), (project, Some(8000)));
    let left = (preview.expires_at - preview.created_at).num_seconds();
    assert_eq!(left, 600);
    assert_eq!(
        previews.create(input).await.unwrap().id,
        preview.id,
        "the live one"
    );
    assert_eq!(previews.get(preview.id).await.unwrap(), preview);
    let listed = previews.list().task(task.id).send().await.unwrap().items;
    assert_eq!(listed, std::slice::from_ref(&preview));

    // No key, no token: 401. The link: the page, sandboxed in an origin of its own, and
    // its relative links keep the token.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(app.url(&preview.path)).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let answer = browser.get(app.url(&preview.link)).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let csp = answer.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.starts_with("sandbox ") && !csp.contains("allow-same-origin"),
        "{csp}"
    );
    assert_eq!(answer.headers()["referrer-policy"], "no-referrer");
    assert_eq!(answer.text().await.unwrap(), "<h1>Counter</h1>");
    let echo = browser
        .get(app.url(&format!("{}echo?a=1&b=2", preview.link)))
        .header("cookie", "agentops_session=secret")
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), StatusCode::OK);
    assert_eq!(
        echo.text().await.unwrap(),
        "query=a=1&b=2 auth=false cookie=false",
        "the platform's credentials never reach the task's server"
    );
    // An API key works too, and bodies go through.
    let posted = browser
        .post(app.url(&format!("{}post", preview.path)))
        .bearer_auth(&app.key)
        .body("three clicks")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.text().await.unwrap(), "got three clicks");
    let slashless = browser
        .get(app.url(preview.path.trim_end_matches('/')))
        .send()
        .await
        .unwrap();
    assert_eq!(slashless.status(), StatusCode::PERMANENT_REDIRECT);
    let bare_link = browser
        .get(app.url(preview.link.trim_end_matches('/')))
        .send()
        .await
        .unwrap();
    assert_eq!(bare_link.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(bare_link.headers()["location"], preview.link.as_str());
    let wrong = browser
        .get(app.url(&format!("{}~nope/", preview.path)))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let stopped = previews.stop(preview.id).await.unwrap();
    assert_eq!(stopped.status, PreviewStatus::Stopped);
    assert!(stopped.stopped_at.is_some());
    let gone = browser.get(app.url(&preview.link)).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::GONE);
    let body: serde_json::Value = gone.json().await.unwrap();
    assert_eq!(body["error"]["code"], "preview_gone");
    let kinds: Vec<String> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind.starts_with("preview."))
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["preview.started", "preview.stopped"]);

    // A second server of the same task gets an address of its own.
    let second = upstream().await;
    let other = previews
        .create(PreviewIn {
            task_id: task.id,
            upstream: second,
            ttl_seconds: None,
            port: None,
        })
        .await
        .unwrap();
    assert_eq!(other.short_id, format!("{}-2", preview.short_id));
    assert_eq!(
        (other.expires_at - other.created_at).num_seconds(),
        1_800,
        "30 minutes by default"
    );
}

async fn an_expired_unknown_or_unreachable_preview_says_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "seed", json!({})).await;
    let previews = app.client.previews();
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", listener.local_addr().unwrap())
    };
    let preview = previews
        .create(PreviewIn {
            task_id: task.id,
            upstream: dead,
            ttl_seconds: Some(60),
            port: None,
        })
        .await
        .unwrap();
    let (code, body) = app.call(Method::GET, &preview.link, None).await;
    assert_eq!(code, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"]["code"], "preview_unreachable");

    // Its time runs out.
    use sea_orm::{ConnectionTrait, Statement};
    let backend_kind = app.state.db.get_database_backend();
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    app.state
        .db
        .execute_raw(Statement::from_sql_and_values(
            backend_kind,
            "UPDATE previews SET expires_at = $1",
            [past.into()],
        ))
        .await
        .unwrap();
    let (code, body) = app.call(Method::GET, &preview.link, None).await;
    assert_eq!(code, StatusCode::GONE, "{body}");
    assert_eq!(
        previews.get(preview.id).await.unwrap().status,
        PreviewStatus::Expired
    );
    // The reaper tells it, once, however many passes (and replicas) find it.
    for _ in 0..3 {
        agentops_api::reaper::pass(&app.state).await.unwrap();
    }
    let told: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == "preview.expired")
        .collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0].data["id"], json!(preview.id));
    assert_eq!(told[0].data["status"], "expired");
    assert_eq!(told[0].task_id, Some(task.id));
    let (code, body) = app.call(Method::GET, "/preview/nothing-here/", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "preview_not_found");
}

async fn only_listed_hosts_may_be_upstreams(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "seed", json!({})).await;
    for upstream in ["http://169.254.169.254/latest/", "http://10.0.0.5:8000/"] {
        let (code, body) = app
            .call(
                Method::POST,
                "/api/v1/previews",
                Some(json!({"task_id": task.id, "upstream": upstream})),
            )
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{upstream}: {body}");
        assert_eq!(body["error"]["code"], "upstream_not_allowed");
    }
    for upstream in [
        "http://127.0.0.1:8000/no-slash",
        "ftp://127.0.0.1/",
        "not a url",
    ] {
        let (code, body) = app
            .call(
                Method::POST,
                "/api/v1/previews",
                Some(json!({"task_id": task.id, "upstream": upstream})),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{upstream}: {body}");
        assert_eq!(body["error"]["details"][0]["field"], "upstream");
    }
    let (code, body) = app
        .call(
            Method::POST,
            "/api/v1/previews",
            Some(json!({"task_id": uuid::Uuid::now_v7(), "upstream": "http://127.0.0.1:1/"})),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND, "{body}");
    let viewer = app.create_key("viewer").await;
    let (code, _) = app
        .call_as(
            Some(&viewer),
            Method::POST,
            "/api/v1/previews",
            Some(json!({"task_id": task.id, "upstream": "http://127.0.0.1:1/"})),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
}

crate::on_both_backends!(
    a_preview_is_served_with_a_key_or_its_link_until_it_is_stopped,
    an_expired_unknown_or_unreachable_preview_says_so,
    only_listed_hosts_may_be_upstreams,
);
