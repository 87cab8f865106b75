//! The worker runtime against the real API: results, failures and panics, outcomes the
//! API refuses, progress and blocking, lost leases, a worker killed mid-task, and graceful
//! shutdown. Outages between the worker and the API are in `worker_outages`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agentops_sdk::types::{AgentStatus, TaskIn, TaskOut, TaskStatus};
use agentops_sdk::worker::{ShutdownHandle, WorkerBuilder};
use agentops_sdk::{TaskContext, TaskError, Worker};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::helpers::{ADMIN_KEY, AnswerRule, Backend, FaultProxy, TestApp, client_for};
use crate::on_both_backends;

const WAIT: Duration = Duration::from_secs(30);

/// A worker tuned for tests: quick polling and heartbeats, no signal handling.
fn worker(app: &TestApp, name: &str) -> WorkerBuilder {
    worker_with(app.client.clone(), name)
}

/// [`worker`] with its own client (through a proxy, for instance).
pub(crate) fn worker_with(client: agentops_sdk::Client, name: &str) -> WorkerBuilder {
    Worker::builder(client)
        .name(name)
        .poll_interval(Duration::from_millis(50))
        .agent_heartbeat_interval(Duration::from_millis(200))
        .handle_signals(false)
}

async fn events_of(app: &TestApp, task: Uuid) -> Vec<String> {
    app.all_events()
        .await
        .into_iter()
        .filter(|e| e.task_id == Some(task))
        .map(|e| e.kind)
        .collect()
}

async fn a_worker_completes_tasks_with_its_handlers_results(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(app.task(project, "echo", json!({ "i": i })).await.id);
    }
    let other_kind = app.task(project, "other", json!({})).await;
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));

    let builder = worker(&app, "echo").kinds(["echo"]).concurrency(4);
    let stop = builder.shutdown_handle();
    let (r, p) = (running.clone(), peak.clone());
    let run = tokio::spawn(builder.run(move |task: TaskContext| {
        let (running, peak) = (r.clone(), p.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(json!({ "echo": task.input() }))
        }
    }));

    each_echoed_once(&app, &ids).await;
    assert!(
        peak.load(Ordering::SeqCst) <= 4,
        "never above the concurrency"
    );
    assert!(peak.load(Ordering::SeqCst) >= 2, "tasks ran concurrently");
    assert_eq!(
        app.client.tasks().get(other_kind.id).await.unwrap().status,
        TaskStatus::Queued,
        "kinds it does not handle are left alone"
    );

    let agents = app.client.agents().list().send().await.unwrap().items;
    let agent = agents
        .iter()
        .find(|a| a.name == "echo")
        .expect("registered");
    assert_eq!(agent.capabilities, ["echo"]);
    assert_eq!(agent.status, AgentStatus::Online);

    stop_and_wait(&stop, run).await;
}

async fn handler_errors_and_panics_fail_the_task_with_their_message(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let create = |mode: &str, max_attempts: i32| TaskIn {
        project_id: project,
        title: mode.to_owned(),
        kind: Some("modes".into()),
        input: Some(json!({ "mode": mode })),
        max_attempts: Some(max_attempts),
        ..Default::default()
    };
    let error = app.client.tasks().create(create("error", 1)).await.unwrap();
    let panic = app.client.tasks().create(create("panic", 1)).await.unwrap();
    let permanent = app
        .client
        .tasks()
        .create(create("permanent", 5))
        .await
        .unwrap();
    let retried = app.client.tasks().create(create("flaky", 3)).await.unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));

    let builder = worker(&app, "modes").kinds(["modes"]).concurrency(2);
    let stop = builder.shutdown_handle();
    let seen = attempts.clone();
    let run = tokio::spawn(builder.run(move |task: TaskContext| {
        let seen = seen.clone();
        async move {
            match task.input()["mode"].as_str() {
                Some("error") => Err(TaskError::new("the upstream said no")),
                Some("panic") => panic!("handler blew up"),
                Some("permanent") => {
                    let _: u32 = "not a number".parse()?;
                    Ok(Value::Null)
                }
                Some("flaky") if seen.fetch_add(1, Ordering::SeqCst) == 0 => {
                    Err(TaskError::new("flaky once"))
                }
                _ => Ok(json!("fine")),
            }
        }
    }));

    let failed = |t: &TaskOut| t.status == TaskStatus::Failed;
    let done = app.wait_for_task(error.id, WAIT, failed).await;
    assert_eq!(
        done.error.as_deref(),
        Some("the upstream said no (attempt 1 of 1: no attempts left)")
    );
    let done = app.wait_for_task(panic.id, WAIT, failed).await;
    let message = done.error.unwrap();
    assert!(
        message.starts_with("handler panicked: handler blew up"),
        "{message}"
    );

    // A std error converts with `?`; `TaskError::permanent` would skip the retries too.
    let done = app
        .wait_for_task(permanent.id, WAIT, |t| t.attempts >= 1 || failed(t))
        .await;
    assert!(
        done.error
            .as_deref()
            .is_some_and(|e| e.contains("invalid digit")),
        "{done:?}"
    );

    let done = app
        .wait_for_task(retried.id, WAIT, |t| t.status == TaskStatus::Completed)
        .await;
    assert_eq!(done.attempts, 1, "one failed attempt, then success");
    assert_eq!(done.result, Some(json!("fine")));
    assert_eq!(
        events_of(&app, retried.id).await,
        [
            "task.created",
            "task.claimed",
            "task.requeued",
            "task.claimed",
            "task.completed"
        ]
    );
    stop.shutdown();
    run.await.unwrap().unwrap();
}

async fn a_handler_that_panics_before_its_first_await_fails_its_task(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let create = |input: Value| TaskIn {
        project_id: project,
        title: "needs n".into(),
        kind: Some("sync".into()),
        input: Some(input),
        max_attempts: Some(1),
        ..Default::default()
    };
    let broken = app.client.tasks().create(create(json!({}))).await.unwrap();

    let builder = worker(&app, "sync").kinds(["sync"]);
    let stop = builder.shutdown_handle();
    // The panic happens when the handler is called, not in the future it returns.
    let run = tokio::spawn(builder.run(|task: TaskContext| {
        let n = task.input()["n"].as_u64().expect("input.n is required");
        async move { Ok(json!({ "double": n * 2 })) }
    }));

    let done = app
        .wait_for_task(broken.id, WAIT, |t| t.status == TaskStatus::Failed)
        .await;
    let message = done.error.unwrap();
    assert!(
        message.starts_with("handler panicked: input.n is required"),
        "{message}"
    );
    // The worker is still running and takes the next task.
    let fine = app
        .client
        .tasks()
        .create(create(json!({ "n": 21 })))
        .await
        .unwrap();
    let done = app
        .wait_for_task(fine.id, WAIT, |t| t.status == TaskStatus::Completed)
        .await;
    assert_eq!(done.result, Some(json!({ "double": 42 })));
    stop.shutdown();
    run.await.unwrap().unwrap();
}

async fn a_failure_message_the_api_refuses_is_sent_again_cleaned_and_cut(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "noisy", json!({})).await;
    // What a command's coloured stderr looks like, and far too much of it.
    let message = format!("\u{1b}[31merror\u{1b}[0m: it broke\n{}", "x".repeat(20_000));

    let builder = worker(&app, "noisy")
        .kinds(["noisy"])
        .lease(Duration::from_secs(5));
    let stop = builder.shutdown_handle();
    let sent = message.clone();
    let run = tokio::spawn(builder.run(move |_task: TaskContext| {
        let sent = sent.clone();
        async move { Err::<Value, _>(TaskError::permanent(sent)) }
    }));

    let done = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Failed)
        .await;
    let kept = message.replace("\u{1b}[31m", "").replace("\u{1b}[0m", "");
    let expected: String = kept.chars().take(9_999).chain(['…']).collect();
    assert_eq!(done.error.as_deref(), Some(expected.as_str()));
    assert!(expected.starts_with("error: it broke\nxxx"));
    assert_eq!(
        done.attempts, 1,
        "failed by this attempt, not by a lost lease"
    );
    stop.shutdown();
    run.await.unwrap().unwrap();
}

async fn a_result_the_api_refuses_fails_the_task_for_good(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "bulky", json!({})).await;

    let builder = worker(&app, "bulky")
        .kinds(["bulky"])
        .lease(Duration::from_secs(5));
    let stop = builder.shutdown_handle();
    // Over the API's 1 MiB limit on a result, under its limit on a request body.
    let run = tokio::spawn(
        builder
            .run(|_task: TaskContext| async move { Ok(json!({ "dump": "x".repeat(1_200_000) })) }),
    );

    let done = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Failed)
        .await;
    let error = done.error.unwrap();
    assert!(error.starts_with("result rejected: "), "{error}");
    assert!(error.contains("result"), "{error}");
    assert_eq!(done.result, None);
    assert_eq!(done.attempts, 1, "no retry: another attempt cannot help");
    assert_eq!(
        events_of(&app, task.id).await,
        ["task.created", "task.claimed", "task.failed"]
    );
    stop.shutdown();
    run.await.unwrap().unwrap();
}

async fn a_permanent_error_fails_the_task_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "strict", json!({})).await;
    let builder = worker(&app, "strict").kinds(["strict"]);
    let stop = builder.shutdown_handle();
    let run = tokio::spawn(builder.run(|_task: TaskContext| async move {
        Err::<Value, _>(TaskError::permanent("input.url is missing"))
    }));
    let done = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Failed)
        .await;
    assert_eq!(done.error.as_deref(), Some("input.url is missing"));
    assert_eq!(done.attempts, 1);
    stop.shutdown();
    run.await.unwrap().unwrap();
}

async fn progress_and_block_from_the_context_reach_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "ask", json!({})).await;
    let builder = worker(&app, "asker").kinds(["ask"]);
    let stop = builder.shutdown_handle();
    let run = tokio::spawn(builder.run(|task: TaskContext| async move {
        task.progress(0.5, "half way").await?;
        task.block("which branch should I deploy?").await?;
        Ok(json!("this result is not written: the task is blocked"))
    }));

    let blocked = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Blocked)
        .await;
    assert_eq!(
        blocked.block_reason.as_deref(),
        Some("which branch should I deploy?")
    );
    assert_eq!(blocked.progress, Some(0.5));
    assert_eq!(blocked.progress_message.as_deref(), Some("half way"));
    assert_eq!(blocked.result, None);
    assert_eq!(
        events_of(&app, task.id).await,
        [
            "task.created",
            "task.claimed",
            "task.progress",
            "task.blocked"
        ]
    );
    stop.shutdown();
    run.await.unwrap().unwrap();
}

async fn a_lost_lease_cancels_the_handler_and_its_result_is_not_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "slow", json!({})).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<(u32, bool)>();
    let attempt = Arc::new(AtomicUsize::new(0));

    let builder = worker(&app, "slow")
        .kinds(["slow"])
        .lease(Duration::from_secs(5))
        .heartbeat_interval(Duration::from_millis(100));
    let stop = builder.shutdown_handle();
    let counter = attempt.clone();
    let run = tokio::spawn(builder.run(move |task: TaskContext| {
        let (tx, counter) = (tx.clone(), counter.clone());
        async move {
            let n = counter.fetch_add(1, Ordering::SeqCst) as u32 + 1;
            if n == 1 {
                tx.send((n, false)).unwrap();
                // Work until told to stop, then return a result that must be discarded.
                task.cancelled().await;
                tx.send((n, task.is_lease_lost())).unwrap();
                return Ok(json!({ "attempt": 1 }));
            }
            Ok(json!({ "attempt": n }))
        }
    }));

    assert_eq!(rx.recv().await, Some((1, false)), "first attempt started");
    // The holder goes silent as far as the server is concerned: its lease ends, the
    // reaper re-queues the task, and the next heartbeat is refused as stale.
    app.expire_lease(task.id).await;
    let (n, lost) = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((n, lost), (1, true), "the handler saw the lease lost");

    let done = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Completed)
        .await;
    assert_eq!(
        done.result,
        Some(json!({ "attempt": 2 })),
        "only the second attempt's result is written"
    );
    let kinds = events_of(&app, task.id).await;
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
    stop.shutdown();
    run.await.unwrap().unwrap();
}

async fn a_handler_that_finds_its_lease_lost_and_hangs_is_stopped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "stubborn", json!({})).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<&'static str>();
    struct OnDrop(mpsc::UnboundedSender<&'static str>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send("dropped");
        }
    }
    let (go_tx, go_rx) = tokio::sync::watch::channel(false);

    let builder = worker(&app, "stubborn")
        .kinds(["stubborn"])
        .lease(Duration::from_secs(60));
    let stop = builder.shutdown_handle();
    let run = tokio::spawn(builder.run(move |task: TaskContext| {
        let (tx, mut go) = (tx.clone(), go_rx.clone());
        async move {
            let _guard = OnDrop(tx.clone());
            tx.send("started").unwrap();
            let _ = go.wait_for(|go| *go).await;
            let err = task.progress(0.5, "still here").await.unwrap_err();
            assert!(err.is_stale_claim(), "{err:?}");
            assert!(task.is_lease_lost() && task.is_cancelled());
            tx.send("lost").unwrap();
            // Ignores the cancellation: the runtime must stop it.
            std::future::pending::<()>().await;
            Ok(Value::Null)
        }
    }));
    assert_eq!(rx.recv().await, Some("started"));
    app.client
        .tasks()
        .cancel(task.id, Default::default())
        .await
        .unwrap();
    go_tx.send(true).unwrap();
    assert_eq!(rx.recv().await, Some("lost"));
    let dropped = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert_eq!(
        dropped.ok().flatten(),
        Some("dropped"),
        "stopped within the grace"
    );
    let cancelled = app.client.tasks().get(task.id).await.unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert_eq!(cancelled.result, None);
    stop.shutdown();
    run.await.unwrap().unwrap();
}

async fn a_killed_workers_task_is_reclaimed_and_completed_once_by_another(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "job", json!({ "n": 7 })).await;

    // Worker A starts the task and is killed mid-way (its future dropped).
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel::<()>();
    struct OnDrop(mpsc::UnboundedSender<()>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let a = tokio::spawn(
        worker(&app, "worker-a")
            .kinds(["job"])
            .lease(Duration::from_secs(5))
            .run(move |_task: TaskContext| {
                let (started_tx, dropped_tx) = (started_tx.clone(), dropped_tx.clone());
                async move {
                    let _guard = OnDrop(dropped_tx);
                    started_tx.send(()).unwrap();
                    std::future::pending::<()>().await;
                    Ok(json!("never"))
                }
            }),
    );
    started.recv().await.unwrap();
    a.abort();
    tokio::time::timeout(WAIT, dropped.recv())
        .await
        .expect("the handler is dropped with its worker")
        .unwrap();
    let held = app.client.tasks().get(task.id).await.unwrap();
    assert_eq!(
        held.status,
        TaskStatus::Running,
        "the server has not noticed yet"
    );

    // Worker B is waiting for work; A's lease runs out (forced, to keep the test short).
    let completions = Arc::new(AtomicUsize::new(0));
    let seen = completions.clone();
    let b = worker(&app, "worker-b").kinds(["job"]);
    let stop = b.shutdown_handle();
    let b = tokio::spawn(b.run(move |task: TaskContext| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(json!({ "done_by": "b", "n": task.input()["n"] }))
        }
    }));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.client.tasks().get(task.id).await.unwrap().status,
        TaskStatus::Running,
        "B does not take a task A still holds"
    );
    app.expire_lease(task.id).await;

    let done = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Completed)
        .await;
    assert_eq!(done.result, Some(json!({ "done_by": "b", "n": 7 })));
    assert_eq!(done.attempts, 1, "A's attempt counted as a lost lease");
    let b_id = app
        .client
        .agents()
        .list()
        .send()
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|a| a.name == "worker-b")
        .unwrap()
        .id;
    assert_eq!(done.agent_id, Some(b_id));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(completions.load(Ordering::SeqCst), 1, "completed once");
    assert_eq!(
        events_of(&app, task.id).await,
        [
            "task.created",
            "task.claimed",
            "task.requeued",
            "task.claimed",
            "task.completed"
        ]
    );
    stop.shutdown();
    b.await.unwrap().unwrap();
}

async fn graceful_shutdown_finishes_in_flight_tasks_then_releases_the_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let quick = app.task(project, "mixed", json!({ "mode": "quick" })).await;
    let stuck = app.task(project, "mixed", json!({ "mode": "stuck" })).await;
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();

    let builder = worker(&app, "mixed")
        .kinds(["mixed"])
        .concurrency(2)
        .shutdown_grace(Duration::from_secs(1));
    let stop = builder.shutdown_handle();
    let run = tokio::spawn(builder.run(move |task: TaskContext| {
        let started_tx = started_tx.clone();
        async move {
            started_tx.send(()).unwrap();
            if task.input()["mode"] == "quick" {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(json!("finished during the grace period"))
            } else {
                // Ignores cancellation: the runtime must stop it and release the task.
                std::future::pending::<()>().await;
                Ok(json!("never"))
            }
        }
    }));
    started.recv().await.unwrap();
    started.recv().await.unwrap();

    let began = tokio::time::Instant::now();
    stop.shutdown();
    let late = app.task(project, "mixed", json!({ "mode": "quick" })).await;
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("run returns after the grace period")
        .unwrap()
        .unwrap();
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "waited the grace period: {took:?}"
    );

    let quick = app.client.tasks().get(quick.id).await.unwrap();
    assert_eq!(quick.status, TaskStatus::Completed);
    assert_eq!(
        quick.result,
        Some(json!("finished during the grace period"))
    );
    let stuck = app.client.tasks().get(stuck.id).await.unwrap();
    assert_eq!(
        stuck.status,
        TaskStatus::Queued,
        "released for another worker"
    );
    assert_eq!(
        stuck.progress_message.as_deref(),
        Some("worker shutting down")
    );
    assert_eq!(stuck.attempts, 0, "releasing uses up no attempt");
    let late = app.client.tasks().get(late.id).await.unwrap();
    assert_eq!(late.status, TaskStatus::Queued, "no claims after shutdown");
}

async fn a_worker_without_a_name_or_with_a_viewer_key_does_not_start(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let err = Worker::builder(app.client.clone())
        .handle_signals(false)
        .run(|task: TaskContext| async move { Ok(task.input().clone()) })
        .await
        .unwrap_err();
    assert!(matches!(err, agentops_sdk::Error::Config(_)), "{err:?}");

    let viewer = app
        .client
        .keys()
        .create(agentops_sdk::types::ApiKeyIn {
            name: "v".into(),
            role: agentops_sdk::types::Role::Viewer,
            expires_at: None,
        })
        .await
        .unwrap();
    let err = Worker::builder(crate::helpers::client_for(&app.server.base, &viewer.secret))
        .name("nope")
        .handle_signals(false)
        .run(|task: TaskContext| async move { Ok(task.input().clone()) })
        .await
        .unwrap_err();
    assert!(err.is_auth(), "{err:?}");
}

/// Waits until each of `ids` (the `i`-th created with input `{"i": i}`) is completed with
/// its input echoed, and checks it was claimed and completed exactly once.
async fn each_echoed_once(app: &TestApp, ids: &[Uuid]) {
    for (i, id) in ids.iter().enumerate() {
        let done = app
            .wait_for_task(*id, WAIT, |t| t.status == TaskStatus::Completed)
            .await;
        assert_eq!(done.result, Some(json!({ "echo": { "i": i } })));
        assert_eq!(
            events_of(app, *id).await,
            ["task.created", "task.claimed", "task.completed"],
            "completed exactly once"
        );
    }
}

/// Asks the worker to stop, and waits (at most [`WAIT`]) until its run ends without an
/// error.
pub(crate) async fn stop_and_wait(
    stop: &ShutdownHandle,
    run: JoinHandle<agentops_sdk::Result<()>>,
) {
    stop.shutdown();
    tokio::time::timeout(WAIT, run)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
}

/// How many requests the server answered on `route` (from `/metrics`).
async fn requests_on(app: &TestApp, route: &str) -> u64 {
    let text = reqwest::get(format!("{}/metrics", app.server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let needle = format!("route=\"{route}\"");
    text.lines()
        .filter(|line| line.starts_with("agentops_http_requests_total") && line.contains(&needle))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Tasks that finish together are completed together: one `POST /tasks/complete` for
/// many of them, each still completed exactly once with its own result, and their lease
/// heartbeats go together too.
async fn completions_that_come_together_go_in_one_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(app.task(project, "together", json!({ "i": i })).await.id);
    }
    let builder = worker(&app, "together")
        .kinds(["together"])
        .concurrency(20)
        .batch_size(20)
        .complete_with_claims(false)
        .lease(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(300));
    let stop = builder.shutdown_handle();
    // Every handler waits for the others, then all return at once.
    let gate = Arc::new(tokio::sync::Barrier::new(20));
    let run = tokio::spawn(builder.run(move |task: TaskContext| {
        let gate = gate.clone();
        async move {
            gate.wait().await;
            // Long enough for a few lease heartbeats, all due at the same moments.
            tokio::time::sleep(Duration::from_millis(700)).await;
            Ok(json!({ "echo": task.input() }))
        }
    }));
    each_echoed_once(&app, &ids).await;
    let batched = requests_on(&app, "/api/v1/tasks/complete").await;
    let single = requests_on(&app, "/api/v1/tasks/{id}/complete").await;
    assert!(batched >= 1, "no batched completion");
    assert!(
        batched + single < 20,
        "20 completions took {batched} batched and {single} single requests"
    );
    assert!(
        requests_on(&app, "/api/v1/tasks/heartbeat").await >= 1,
        "no batched heartbeat"
    );
    stop_and_wait(&stop, run).await;
}

/// A worker that finishes a task and takes the next reports the first in the claim of the
/// second: with one handler slot, six tasks one after the other need (almost) no
/// completion request of their own, and each is still completed exactly once with its
/// result.
async fn a_finished_task_is_reported_with_the_next_claim(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(app.task(project, "chain", json!({ "i": i })).await.id);
    }
    let builder = worker(&app, "chain").kinds(["chain"]).concurrency(1);
    let stop = builder.shutdown_handle();
    let run = tokio::spawn(
        builder.run(|task: TaskContext| async move { Ok(json!({ "echo": task.input() })) }),
    );
    each_echoed_once(&app, &ids).await;
    let apart = requests_on(&app, "/api/v1/tasks/complete").await
        + requests_on(&app, "/api/v1/tasks/{id}/complete").await;
    // Without the claims carrying them, each of the six goes alone.
    assert!(
        apart <= 2,
        "{apart} of 6 completions went in requests of their own"
    );
    stop_and_wait(&stop, run).await;
}

/// A server from before claims carried completions refuses the field as any unknown field
/// (422 `invalid_body`): the worker sends that claim again without them, sends its
/// completions in requests of their own from then on, and every task is still completed
/// exactly once with its result. Here a proxy in front of the API answers as that server
/// would.
async fn a_server_that_predates_completions_in_claims_gets_them_apart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = FaultProxy::start(app.server.addr).await;
    proxy.answer_when(AnswerRule {
        method: "POST".into(),
        path: "/api/v1/tasks/claim".into(),
        body_contains: "\"complete\"".into(),
        status: 422,
        answer: json!({ "error": {
            "code": "invalid_body",
            "message": "the body does not match the expected shape: unknown field `complete`, \
                expected one of `agent_id`, `kinds`, `labels`, `project_id`, `limit`, \
                `lease_seconds` at line 1 column 61",
        }})
        .to_string(),
    });
    let project = app.project().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(app.task(project, "older", json!({ "i": i })).await.id);
    }
    let builder = worker_with(client_for(&proxy.base, ADMIN_KEY), "older")
        .kinds(["older"])
        .concurrency(1);
    let stop = builder.shutdown_handle();
    let run = tokio::spawn(
        builder.run(|task: TaskContext| async move { Ok(json!({ "echo": task.input() })) }),
    );
    each_echoed_once(&app, &ids).await;
    stop_and_wait(&stop, run).await;
    let seen = proxy.seen();
    let carried: Vec<_> = seen
        .iter()
        .filter(|request| request.path == "/api/v1/tasks/claim" && !request.forwarded)
        .collect();
    assert_eq!(
        carried.len(),
        1,
        "after the first refusal no claim carries completions: {carried:?}"
    );
    let apart = seen
        .iter()
        .filter(|request| request.method == "POST" && request.path.ends_with("/complete"))
        .count();
    assert!(apart >= 3, "the completions went apart: {apart} requests");
}

on_both_backends!(
    a_server_that_predates_completions_in_claims_gets_them_apart,
    a_finished_task_is_reported_with_the_next_claim,
    a_worker_completes_tasks_with_its_handlers_results,
    handler_errors_and_panics_fail_the_task_with_their_message,
    a_handler_that_panics_before_its_first_await_fails_its_task,
    a_failure_message_the_api_refuses_is_sent_again_cleaned_and_cut,
    a_result_the_api_refuses_fails_the_task_for_good,
    a_permanent_error_fails_the_task_at_once,
    progress_and_block_from_the_context_reach_the_server,
    a_lost_lease_cancels_the_handler_and_its_result_is_not_written,
    a_handler_that_finds_its_lease_lost_and_hangs_is_stopped,
    a_killed_workers_task_is_reclaimed_and_completed_once_by_another,
    graceful_shutdown_finishes_in_flight_tasks_then_releases_the_rest,
    a_worker_without_a_name_or_with_a_viewer_key_does_not_start,
    completions_that_come_together_go_in_one_request,
);
