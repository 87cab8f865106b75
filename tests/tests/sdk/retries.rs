//! Retries through a fault-injecting proxy: 503 bursts, 429 with `Retry-After`, answers
//! lost after the server applied the request, refused connections. Repeat-safe requests
//! are retried without ever applying twice; the others are not repeated.

use std::time::{Duration, Instant};

use agentops_sdk::types::{ClaimIn, TaskIn, TaskStatus};
use agentops_sdk::{Client, StatusCode};
use futures_util::TryStreamExt;
use serde_json::json;

use crate::helpers::{Backend, Fault, FaultProxy, TestApp, client_for};
use crate::on_both_backends;

async fn proxied(backend: Backend) -> (TestApp, FaultProxy, Client) {
    let app = TestApp::spawn(backend).await;
    let proxy = FaultProxy::start(app.server.addr).await;
    let client = client_for(&proxy.base, crate::helpers::ADMIN_KEY);
    (app, proxy, client)
}

fn new_task(project_id: uuid::Uuid, title: &str) -> TaskIn {
    TaskIn {
        project_id,
        title: title.into(),
        ..Default::default()
    }
}

async fn a_create_retried_through_a_503_burst_makes_one_task(backend: Backend) {
    let (app, proxy, client) = proxied(backend).await;
    let project = app.project().await;

    proxy.inject([
        Fault::Status(503, None),
        Fault::Status(502, None),
        Fault::Status(504, None),
    ]);
    let task = client
        .tasks()
        .create(new_task(project, "through the storm"))
        .await
        .unwrap();

    let posts: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(
        posts.len(),
        4,
        "three refusals, then the one that went through"
    );
    let key = posts[0]
        .idempotency_key
        .clone()
        .expect("an idempotency key");
    assert!(
        posts
            .iter()
            .all(|s| s.idempotency_key.as_ref() == Some(&key)),
        "the same key on every retry"
    );
    let tasks: Vec<_> = app
        .client
        .tasks()
        .list()
        .project(project)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].id, task.id);
}

async fn a_create_whose_answer_was_lost_is_replayed_not_duplicated(backend: Backend) {
    let (app, proxy, client) = proxied(backend).await;
    let project = app.project().await;

    // The server creates the task, but the client never gets the answer, twice.
    proxy.inject([Fault::DropAnswer, Fault::DropAnswer]);
    let task = client
        .tasks()
        .create(new_task(project, "lost answers"))
        .await
        .unwrap();

    let posts: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posts.len(), 3);
    assert!(
        posts.iter().all(|s| s.forwarded),
        "every attempt reached the server"
    );
    let tasks: Vec<_> = app
        .client
        .tasks()
        .list()
        .project(project)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1, "three deliveries, one task");
    assert_eq!(tasks[0].id, task.id);
    let created = app
        .all_events()
        .await
        .into_iter()
        .filter(|e| e.kind == "task.created")
        .count();
    assert_eq!(created, 1);

    // Projects are protected the same way.
    proxy.inject([Fault::DropAnswer]);
    let project = client
        .projects()
        .create(agentops_sdk::types::ProjectIn {
            name: "once".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let named_once = app
        .client
        .projects()
        .list()
        .stream()
        .try_filter(|p| std::future::ready(p.name == "once"))
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(named_once.len(), 1);
    assert_eq!(named_once[0].id, project.id);
}

async fn a_completion_whose_answer_was_lost_is_retried_safely(backend: Backend) {
    let (app, proxy, client) = proxied(backend).await;
    let project = app.project().await;
    let agent = app.agent("w").await;
    let task = app.task(project, "echo", json!({})).await;
    let claimed = app
        .client
        .tasks()
        .claim(ClaimIn {
            agent_id: agent,
            kinds: None,
            labels: None,
            project_id: None,
            limit: Some(1),
            lease_seconds: Some(30),
            complete: None,
        })
        .await
        .unwrap()
        .tasks;

    proxy.inject([Fault::DropAnswer]);
    let done = client
        .tasks()
        .complete(
            task.id,
            agentops_sdk::types::CompleteIn {
                claim_token: claimed[0].claim_token,
                result: Some(json!(42)),
            },
        )
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.result, Some(json!(42)));
    let completed = app
        .all_events()
        .await
        .into_iter()
        .filter(|e| e.kind == "task.completed")
        .count();
    assert_eq!(completed, 1);
}

async fn a_claim_whose_answer_was_lost_gets_its_tasks_back(backend: Backend) {
    let (app, proxy, client) = proxied(backend).await;
    let project = app.project().await;
    let agent = app.agent("w").await;
    let task = app.task(project, "echo", json!({})).await;
    app.task(project, "echo", json!({})).await;
    let claim = || ClaimIn {
        agent_id: agent,
        kinds: None,
        labels: None,
        project_id: None,
        limit: Some(1),
        lease_seconds: Some(30),
        complete: None,
    };

    // The server claims the task, then the answer is lost: the retry carries the same
    // key and gets that task and its token, rather than a second task while the first
    // waits out its lease and uses up an attempt.
    proxy.inject([Fault::DropAnswer]);
    let claimed = client.tasks().claim(claim()).await.unwrap();
    let claims: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/claim"))
        .collect();
    assert_eq!(claims.len(), 2, "the lost claim was repeated");
    assert!(claims[0].idempotency_key.is_some());
    assert_eq!(claims[0].idempotency_key, claims[1].idempotency_key);
    assert_eq!(claimed.tasks.len(), 1);
    assert_eq!(claimed.tasks[0].task.id, task.id);
    assert_eq!(claimed.tasks[0].task.attempts, 0);
    // The token works: the task completes through it.
    client
        .tasks()
        .complete(
            task.id,
            agentops_sdk::types::CompleteIn {
                claim_token: claimed.tasks[0].claim_token,
                result: Some(json!({ "ok": true })),
            },
        )
        .await
        .unwrap();
    let queued = app
        .client
        .tasks()
        .list()
        .status(TaskStatus::Queued)
        .send()
        .await
        .unwrap();
    assert_eq!(queued.items.len(), 1, "the other task was not claimed");

    // A 429 is refused before any work: retried too.
    proxy.inject([Fault::Status(429, None)]);
    let err = client.tasks().claim(claim()).await;
    assert!(err.is_ok(), "{err:?}");
}

async fn retry_after_is_honoured(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = FaultProxy::start(app.server.addr).await;
    let client = Client::builder()
        .base_url(&proxy.base)
        .api_key(crate::helpers::ADMIN_KEY)
        .retry_delays(Duration::from_millis(10), Duration::from_secs(5))
        .build()
        .unwrap();

    proxy.inject([Fault::Status(429, Some(1))]);
    let started = Instant::now();
    client.projects().list().send().await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
    assert!(waited < Duration::from_secs(4), "waited {waited:?}");
}

async fn retries_give_up_after_max_retries_with_the_last_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = FaultProxy::start(app.server.addr).await;
    let client = Client::builder()
        .base_url(&proxy.base)
        .api_key(crate::helpers::ADMIN_KEY)
        .max_retries(2)
        .retry_delays(Duration::from_millis(5), Duration::from_millis(20))
        .build()
        .unwrap();

    proxy.always(Some(Fault::Status(503, None)));
    let err = client.projects().list().send().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.code(), Some("injected"));
    assert!(err.is_retryable());
    assert_eq!(proxy.seen().len(), 3, "the first try and two retries");

    // Errors no retry can fix are not retried at all.
    proxy.always(None);
    let before = proxy.seen().len();
    let err = client.tasks().get(uuid::Uuid::new_v4()).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(proxy.seen().len(), before + 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_transport_error() {
    // Bind then drop a listener: nothing listens on that port any more.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::builder()
        .base_url(format!("http://{addr}"))
        .api_key("k")
        .max_retries(1)
        .retry_delays(Duration::from_millis(5), Duration::from_millis(5))
        .build()
        .unwrap();
    let err = client.health().await.unwrap_err();
    assert!(err.is_connect() && err.is_retryable(), "{err:?}");
}

on_both_backends!(
    a_create_retried_through_a_503_burst_makes_one_task,
    a_create_whose_answer_was_lost_is_replayed_not_duplicated,
    a_completion_whose_answer_was_lost_is_retried_safely,
    a_claim_whose_answer_was_lost_gets_its_tasks_back,
    retry_after_is_honoured,
    retries_give_up_after_max_retries_with_the_last_error,
);
