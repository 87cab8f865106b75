//! The live event stream: replay then live, filters, and exactly-once delivery in order
//! across cut connections and a server restart with writes during the downtime.

use std::time::Duration;

use agentops_sdk::events::Subscription;
use agentops_sdk::types::{Event, EventFilter};
use agentops_testkit::TestServer;
use futures_util::StreamExt;
use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, CuttableProxy, TestApp, client_for};
use crate::on_both_backends;

/// The next `n` events, failing the test if they take more than 20 s.
async fn take(events: &mut Subscription, n: usize) -> Vec<Event> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let next = tokio::time::timeout(Duration::from_secs(20), events.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events arrived: {got:?}", got.len()))
            .expect("the stream does not end")
            .expect("no error");
        got.push(next);
    }
    got
}

/// Asserts that nothing more arrives for a moment.
async fn assert_quiet(events: &mut Subscription) {
    if let Ok(extra) = tokio::time::timeout(Duration::from_millis(300), events.next()).await {
        panic!("unexpected extra item: {extra:?}");
    }
}

fn ids(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.id).collect()
}

async fn a_subscription_replays_from_since_then_goes_live_with_its_filter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let other = app.project().await;
    let before = app.task(project, "echo", json!({ "n": 1 })).await;
    app.task(other, "echo", json!({})).await;

    let filter = EventFilter::new()
        .types(["task.*"])
        .project(project)
        .since(0);
    let mut events = app.client.events().subscribe(filter);
    let replayed = take(&mut events, 1).await;
    assert_eq!(replayed[0].kind, "task.created");
    assert_eq!(replayed[0].task_id, Some(before.id));

    let live = app.task(project, "echo", json!({ "n": 2 })).await;
    app.task(other, "echo", json!({})).await;
    app.client
        .tasks()
        .cancel(live.id, Default::default())
        .await
        .unwrap();
    let got = take(&mut events, 2).await;
    assert_eq!(
        got.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["task.created", "task.cancelled"]
    );
    assert!(got.iter().all(|e| e.task_id == Some(live.id)));
    assert_eq!(events.last_id(), Some(got[1].id));
    assert_quiet(&mut events).await;
}

async fn a_subscription_without_since_starts_with_the_events_after_it_starts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    for i in 0..5 {
        app.task(project, "echo", json!({ "i": i })).await;
    }
    let newest = app.all_events().await.last().unwrap().id;

    let mut events = app.client.events().subscribe(EventFilter::new());
    events.start().await.unwrap();
    let after = app.task(project, "echo", json!({ "after": true })).await;
    let got = take(&mut events, 1).await;
    assert_eq!(got[0].task_id, Some(after.id));
    assert!(got[0].id > newest);
    assert_quiet(&mut events).await;
}

async fn cut_connections_are_resumed_without_loss_or_duplicates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = CuttableProxy::start(app.server.addr).await;
    let watcher = client_for(&proxy.base, ADMIN_KEY);
    let project = app.project().await;
    let start = app.all_events().await.last().unwrap().id;

    let mut events = watcher.events().subscribe(EventFilter::new().since(start));
    let mut received = Vec::new();
    for round in 0..4 {
        for i in 0..5 {
            app.task(project, "echo", json!({ "round": round, "i": i }))
                .await;
        }
        received.extend(take(&mut events, 3).await);
        // Cut mid-way: two of this round's events are still to come.
        proxy.cut();
        for i in 0..3 {
            app.task(project, "echo", json!({ "round": round, "after_cut": i }))
                .await;
        }
        received.extend(take(&mut events, 5).await);
    }
    assert_quiet(&mut events).await;

    let expected: Vec<i64> = ids(&app.all_events().await)
        .into_iter()
        .filter(|id| *id > start)
        .collect();
    assert_eq!(
        ids(&received),
        expected,
        "every event exactly once, in order"
    );
}

async fn the_stream_survives_a_restart_with_writes_during_the_downtime(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let TestApp { server, client, .. } = app;
    let addr = server.addr;
    let project = crate::helpers::TestApp::project_with(&client).await;
    let start = newest(&client).await;

    let mut events = client.events().subscribe(EventFilter::new().since(start));
    for i in 0..5 {
        task_with(&client, project, json!({ "before": i })).await;
    }
    let mut received = take(&mut events, 5).await;

    // Stop the server the subscriber uses; meanwhile another server on the same database
    // takes writes.
    let (db, cfg) = server.stop().await;
    let stand_in = TestServer::spawn_on(db, cfg, "127.0.0.1:0".parse().unwrap()).await;
    let other = client_for(&stand_in.base, ADMIN_KEY);
    for i in 0..7 {
        task_with(&other, project, json!({ "downtime": i })).await;
    }
    let (db, cfg) = stand_in.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server = TestServer::spawn_on(db, cfg, addr).await;

    for i in 0..5 {
        task_with(&client, project, json!({ "after": i })).await;
    }
    received.extend(take(&mut events, 12).await);
    assert_quiet(&mut events).await;

    let expected: Vec<i64> = ids(&all_events(&client).await)
        .into_iter()
        .filter(|id| *id > start)
        .collect();
    assert_eq!(expected.len(), 17);
    assert_eq!(
        ids(&received),
        expected,
        "every event exactly once, in order"
    );
    drop(server);
}

async fn a_refused_subscription_ends_the_stream_with_its_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stranger = client_for(
        &app.server.base,
        "aok_not-a-real-key-0000000000000000000000000",
    );
    let mut events = stranger.events().subscribe(EventFilter::new().since(0));
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an answer")
        .expect("an item");
    let err = first.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert!(events.next().await.is_none(), "the stream ends");

    let mut bad = app
        .client
        .events()
        .subscribe(EventFilter::new().types(["NOT VALID"]).since(0));
    let err = bad.next().await.expect("an item").unwrap_err();
    assert!(err.is_invalid_request(), "{err:?}");
    assert!(bad.next().await.is_none());
}

async fn newest(client: &agentops_sdk::Client) -> i64 {
    all_events(client).await.last().map_or(0, |e| e.id)
}

async fn all_events(client: &agentops_sdk::Client) -> Vec<Event> {
    use futures_util::TryStreamExt;
    client
        .events()
        .list()
        .since(0)
        .limit(1000)
        .stream()
        .try_collect()
        .await
        .unwrap()
}

async fn task_with(
    client: &agentops_sdk::Client,
    project_id: uuid::Uuid,
    input: serde_json::Value,
) {
    client
        .tasks()
        .create(agentops_sdk::types::TaskIn {
            project_id,
            title: "t".into(),
            input: Some(input),
            ..Default::default()
        })
        .await
        .unwrap();
}

async fn a_consumer_resumes_from_its_saved_cursor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let events = app.client.events();
    assert_eq!(events.cursor("mailer").await.unwrap(), None);

    let first = app.task(project, "echo", json!({})).await;
    let handled = all_events(&app.client)
        .await
        .into_iter()
        .find(|e| e.task_id == Some(first.id))
        .unwrap();
    let saved = events.save_cursor("mailer", handled.id).await.unwrap();
    assert_eq!(saved.last_id, handled.id);
    // Saving an older id (a late replica) does not move it back.
    assert_eq!(
        events.save_cursor("mailer", 1).await.unwrap().last_id,
        handled.id
    );

    // What happens while the consumer is away is what it reads on resuming.
    let missed = app.task(project, "echo", json!({})).await;
    let since = events.cursor("mailer").await.unwrap().unwrap().last_id;
    let mut resumed = events.subscribe(EventFilter::new().types(["task.created"]).since(since));
    let next = take(&mut resumed, 1).await;
    assert_eq!(next[0].task_id, Some(missed.id));

    // Names travel as one path segment: `a/b` is refused as a name, not routed elsewhere.
    let err = events.save_cursor("a/b", 1).await.unwrap_err();
    assert_eq!(err.code(), Some("validation_failed"), "{err}");
    let err = events
        .save_cursor("mailer", newest(&app.client).await + 100)
        .await
        .unwrap_err();
    assert!(err.is_invalid_request(), "{err}");

    let listed = events.cursors().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "mailer");
    events.delete_cursor("mailer").await.unwrap();
    assert_eq!(events.cursor("mailer").await.unwrap(), None);
    assert!(
        events
            .delete_cursor("mailer")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

on_both_backends!(
    a_consumer_resumes_from_its_saved_cursor,
    a_subscription_replays_from_since_then_goes_live_with_its_filter,
    a_subscription_without_since_starts_with_the_events_after_it_starts,
    cut_connections_are_resumed_without_loss_or_duplicates,
    the_stream_survives_a_restart_with_writes_during_the_downtime,
    a_refused_subscription_ends_the_stream_with_its_error,
);

/// A filter that matches nothing for longer than retention keeps events still resumes:
/// the server's pings move its position along with the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_filtered_subscription_resumes_after_retention_pruned_its_start() {
    let server = TestServer::spawn_with(agentops_testkit::Backend::Sqlite, |cfg| {
        cfg.event_ping_ms = 100;
    })
    .await;
    let admin = client_for(&server.base, ADMIN_KEY);
    let proxy = CuttableProxy::start(server.addr).await;
    let watcher = client_for(&proxy.base, ADMIN_KEY);
    let start = admin.events().latest().await.unwrap().last_id;
    let mut events = watcher
        .events()
        .subscribe(EventFilter::new().types(["project.deleted"]).since(start));
    let mut doomed = None;
    for name in ["a", "b", "c"] {
        let project = agentops_sdk::types::ProjectIn {
            name: name.into(),
            ..Default::default()
        };
        doomed = Some(admin.projects().create(project).await.unwrap().id);
    }
    let head = admin.events().latest().await.unwrap().last_id;
    // Nothing matches; the pings carry the subscription's position to the head.
    for _ in 0..200 {
        if events.last_id() >= Some(head) {
            break;
        }
        if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), events.next()).await {
            panic!("nothing matches yet, got {item:?}");
        }
    }
    assert_eq!(events.last_id(), Some(head));

    // Retention prunes everything up to the head, and the connection drops.
    agentops_testkit::age_events(&server.state, head, chrono::Duration::days(400)).await;
    agentops_api::reaper::prune_events(&server.state)
        .await
        .unwrap();
    proxy.cut();
    admin.projects().delete(doomed.unwrap()).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .expect("the subscription goes on")
        .expect("the stream is open")
        .expect("no cursor_expired");
    assert_eq!(event.kind, "project.deleted");
}
