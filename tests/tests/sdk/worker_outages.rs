//! The worker runtime when the API goes away: a server that stops answering must not keep
//! a handler going past its lease (the task may run elsewhere by then), and an outcome
//! must outlast a short outage. Each worker under test reaches the API through a
//! [`CuttableProxy`]; the rest of the test talks to it directly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use agentops_sdk::TaskContext;
use agentops_sdk::types::TaskStatus;
use serde_json::json;
use tokio::sync::mpsc;

use crate::helpers::{ADMIN_KEY, Backend, CuttableProxy, TestApp, client_for};
use crate::on_both_backends;
use crate::worker::{stop_and_wait, worker_with};

const WAIT: Duration = Duration::from_secs(30);

async fn a_worker_whose_api_stops_answering_stops_its_handler_before_the_task_runs_elsewhere(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let proxy = CuttableProxy::start(app.server.addr).await;
    let project = app.project().await;
    let task = app.task(project, "hang", json!({})).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
    let a_running = Arc::new(AtomicBool::new(false));

    // Worker A takes the task through the proxy, and works until told to stop.
    let (a_tx, running) = (tx.clone(), a_running.clone());
    let a = tokio::spawn(
        worker_with(client_for(&proxy.base, ADMIN_KEY), "worker-a")
            .kinds(["hang"])
            .lease(Duration::from_secs(5))
            .run(move |task: TaskContext| {
                let (tx, running) = (a_tx.clone(), running.clone());
                async move {
                    running.store(true, Ordering::SeqCst);
                    tx.send("a started").unwrap();
                    task.cancelled().await;
                    running.store(false, Ordering::SeqCst);
                    tx.send(if task.is_lease_lost() {
                        "a stopped: lease lost"
                    } else {
                        "a stopped for another reason"
                    })
                    .unwrap();
                    Ok(json!("a"))
                }
            }),
    );
    assert_eq!(rx.recv().await, Some("a started"));

    // The API keeps taking A's requests but never answers them (the client's own timeout
    // is far longer than the lease); worker B, which reaches the API directly, waits for
    // the task to come back to the queue.
    proxy.stall(true);
    let b = worker_with(app.client.clone(), "worker-b").kinds(["hang"]);
    let stop_b = b.shutdown_handle();
    let b_tx = tx.clone();
    let b = tokio::spawn(b.run(move |_task: TaskContext| {
        let (tx, a_running) = (b_tx.clone(), a_running.clone());
        async move {
            tx.send(if a_running.load(Ordering::SeqCst) {
                "b started while a still ran"
            } else {
                "b started"
            })
            .unwrap();
            Ok(json!("b"))
        }
    }));

    let first = tokio::time::timeout(WAIT, rx.recv()).await.ok().flatten();
    assert_eq!(
        first,
        Some("a stopped: lease lost"),
        "A stops before the task can be handed to B"
    );
    let second = tokio::time::timeout(WAIT, rx.recv()).await.ok().flatten();
    assert_eq!(second, Some("b started"));
    let done = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Completed)
        .await;
    assert_eq!(done.result, Some(json!("b")));
    assert_eq!(done.attempts, 1, "A's attempt ended with its lease");

    // A cannot reach the API to shut down gracefully: stop it the crash way.
    a.abort();
    stop_and_wait(&stop_b, b).await;
}

async fn a_result_is_written_through_a_short_outage(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = CuttableProxy::start(app.server.addr).await;
    let project = app.project().await;
    let task = app.task(project, "patient", json!({})).await;
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);
    let runs = Arc::new(AtomicUsize::new(0));

    let builder = worker_with(client_for(&proxy.base, ADMIN_KEY), "patient")
        .kinds(["patient"])
        .lease(Duration::from_secs(10));
    let stop = builder.shutdown_handle();
    let counter = runs.clone();
    let run = tokio::spawn(builder.run(move |_task: TaskContext| {
        let (started_tx, mut go, counter) = (started_tx.clone(), go_rx.clone(), counter.clone());
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            started_tx.send(()).unwrap();
            let _ = go.wait_for(|go| *go).await;
            Ok(json!({ "answer": 42 }))
        }
    }));
    started.recv().await.unwrap();

    // The API goes down just as the handler returns, for longer than the client's own
    // retries last, and comes back well within the lease.
    proxy.refuse(true);
    go_tx.send(true).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.refuse(false);

    let done = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Completed)
        .await;
    assert_eq!(done.result, Some(json!({ "answer": 42 })));
    assert_eq!(done.attempts, 0, "written by the first attempt");
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the handler ran once");
    let kinds: Vec<String> = app
        .all_events()
        .await
        .into_iter()
        .filter(|e| e.task_id == Some(task.id))
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["task.created", "task.claimed", "task.completed"]);
    stop_and_wait(&stop, run).await;
}

on_both_backends!(
    a_worker_whose_api_stops_answering_stops_its_handler_before_the_task_runs_elsewhere,
    a_result_is_written_through_a_short_outage,
);
