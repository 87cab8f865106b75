//! Every method of the client against the real API: what it sends, what it returns, and
//! how refusals surface as typed errors.

use agentops_sdk::types::{
    AgentIn, AgentStatus, ApiKeyIn, BlockIn, CancelIn, ClaimIn, CompleteIn, EventFilter, FailIn,
    ProjectIn, ProjectPatch, Role, TaskHeartbeatIn, TaskIn, TaskPatch, TaskStatus, UnblockIn,
};
use agentops_sdk::{Client, Error, StatusCode};
use futures_util::TryStreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp, client_for};
use crate::on_both_backends;

fn claim(agent_id: Uuid, limit: u32) -> ClaimIn {
    ClaimIn {
        agent_id,
        kinds: None,
        labels: None,
        project_id: None,
        limit: Some(limit),
        lease_seconds: Some(30),
        complete: None,
    }
}

async fn health_and_ready_answer_without_a_key_and_the_rest_needs_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let anonymous = Client::builder()
        .base_url(&app.server.base)
        .build()
        .unwrap();

    assert_eq!(anonymous.health().await.unwrap().status, "ok");
    let ready = anonymous.ready().await.unwrap();
    assert_eq!(ready.status, "ok");
    assert_eq!(ready.checks.get("database").map(String::as_str), Some("ok"));

    let err = anonymous.projects().list().send().await.unwrap_err();
    assert!(err.is_auth(), "{err:?}");
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(err.code(), Some("unauthorized"));
}

async fn projects_can_be_created_read_listed_changed_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let projects = app.client.projects();

    let created = projects
        .create(ProjectIn {
            name: "website".into(),
            description: Some("the new site".into()),
            metadata: Some(json!({ "owner": "ana" })),
        })
        .await
        .unwrap();
    assert_eq!(created.name, "website");
    assert_eq!(created.metadata, json!({ "owner": "ana" }));
    assert_eq!(projects.get(created.id).await.unwrap(), created);

    // A caller-chosen idempotency key: the repeat is a replay of the first project.
    let input = ProjectIn {
        name: "keyed".into(),
        ..Default::default()
    };
    let (first, replayed) = projects
        .create_with_key(input.clone(), "k-1")
        .await
        .unwrap();
    assert!(!replayed);
    let (again, replayed) = projects.create_with_key(input, "k-1").await.unwrap();
    assert!(replayed);
    assert_eq!(again.id, first.id);

    for i in 0..5 {
        projects
            .create(ProjectIn {
                name: format!("bulk-{i}"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let page = projects.list().limit(3).send().await.unwrap();
    assert_eq!(page.items.len(), 3);
    let cursor = page.next_cursor.clone().expect("more pages");
    let next = projects
        .list()
        .limit(3)
        .cursor(cursor)
        .send()
        .await
        .unwrap();
    assert!(next.items.iter().all(|p| !page.items.contains(p)));
    let all: Vec<_> = projects
        .list()
        .limit(2)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 7, "every project exactly once across pages");
    let mut ids: Vec<Uuid> = all.iter().map(|p| p.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 7);

    let updated = projects
        .update(
            created.id,
            ProjectPatch {
                name: Some("site".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "site");
    assert_eq!(updated.description.as_deref(), Some("the new site"));

    projects.delete(created.id).await.unwrap();
    let err = projects.get(created.id).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.code(), Some("project_not_found"));
}

async fn tasks_can_be_created_listed_filtered_changed_and_cancelled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let other = app.project().await;
    let tasks = app.client.tasks();

    let first = tasks
        .create(TaskIn {
            project_id: project,
            title: "first".into(),
            kind: Some("echo".into()),
            labels: Some(vec!["red".into()]),
            input: Some(json!({ "n": 1 })),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(first.status, TaskStatus::Queued);
    let second = tasks
        .create(TaskIn {
            project_id: project,
            title: "second".into(),
            depends_on: Some(vec![first.id]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(second.status, TaskStatus::Waiting);
    assert_eq!(second.depends_on, vec![first.id]);
    tasks
        .create(TaskIn {
            project_id: other,
            title: "elsewhere".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let (keyed, replayed) = tasks
        .create_with_key(
            TaskIn {
                project_id: other,
                title: "keyed".into(),
                ..Default::default()
            },
            "report-1",
        )
        .await
        .unwrap();
    assert!(!replayed);
    let (again, replayed) = tasks
        .create_with_key(
            TaskIn {
                project_id: other,
                title: "keyed".into(),
                ..Default::default()
            },
            "report-1",
        )
        .await
        .unwrap();
    assert!(replayed);
    assert_eq!(again.id, keyed.id);

    assert_eq!(tasks.get(first.id).await.unwrap(), first);
    let in_project = tasks.list().project(project).send().await.unwrap();
    assert_eq!(in_project.items.len(), 2);
    let waiting = tasks
        .list()
        .status(TaskStatus::Waiting)
        .send()
        .await
        .unwrap();
    assert_eq!(
        waiting.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        [second.id]
    );
    let echo = tasks.list().kind("echo").send().await.unwrap();
    assert_eq!(
        echo.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        [first.id]
    );
    let red = tasks.list().label("red").send().await.unwrap();
    assert_eq!(
        red.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        [first.id]
    );
    let every: Vec<_> = tasks.list().limit(1).stream().try_collect().await.unwrap();
    assert_eq!(every.len(), 4);

    let patched = tasks
        .update(
            second.id,
            TaskPatch {
                priority: Some(7),
                title: Some("second, renamed".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.priority, 7);
    assert_eq!(patched.title, "second, renamed");

    let cancelled = tasks
        .cancel(
            first.id,
            CancelIn {
                reason: Some("changed my mind".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert_eq!(cancelled.error.as_deref(), Some("changed my mind"));
    // Its dependent can never run, so it is cancelled too.
    assert_eq!(
        tasks.get(second.id).await.unwrap().status,
        TaskStatus::Cancelled
    );

    let err = tasks
        .cancel(first.id, CancelIn::default())
        .await
        .unwrap_err();
    assert!(err.is_conflict() && err.is_invalid_transition(), "{err:?}");

    let err = tasks
        .create(TaskIn {
            project_id: project,
            title: String::new(),
            priority: Some(5000),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(err.is_invalid_request(), "{err:?}");
    let Error::Api { details, .. } = &err else {
        panic!("not an API error: {err:?}")
    };
    let fields: Vec<&str> = details.iter().map(|d| d.field.as_str()).collect();
    assert!(
        fields.contains(&"title") && fields.contains(&"priority"),
        "{fields:?}"
    );
}

async fn the_agent_protocol_claims_extends_completes_fails_blocks_and_unblocks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let agent = app.agent("protocol").await;
    let tasks = app.client.tasks();
    let a = app.task(project, "echo", json!({ "n": 1 })).await;
    let b = app.task(project, "echo", json!({ "n": 2 })).await;
    let c = app.task(project, "echo", json!({ "n": 3 })).await;

    let claimed = tasks.claim(claim(agent, 3)).await.unwrap().tasks;
    assert_eq!(claimed.len(), 3);
    assert!(claimed.iter().all(|t| t.task.status == TaskStatus::Running));
    assert!(tasks.claim(claim(agent, 3)).await.unwrap().tasks.is_empty());
    let token = |id: Uuid| {
        claimed
            .iter()
            .find(|t| t.task.id == id)
            .unwrap()
            .claim_token
    };

    let beat = tasks
        .heartbeat(
            a.id,
            TaskHeartbeatIn {
                claim_token: token(a.id),
                lease_seconds: Some(120),
                progress: Some(0.25),
                message: Some("a quarter".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(beat.progress, Some(0.25));
    assert_eq!(beat.progress_message.as_deref(), Some("a quarter"));

    let done = tasks
        .complete(
            a.id,
            CompleteIn {
                claim_token: token(a.id),
                result: Some(json!({ "ok": true })),
            },
        )
        .await
        .unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    // Completing again with the same token is answered with the same task.
    let again = tasks
        .complete(
            a.id,
            CompleteIn {
                claim_token: token(a.id),
                result: Some(json!({ "ok": false })),
            },
        )
        .await
        .unwrap();
    assert_eq!(again.result, Some(json!({ "ok": true })));

    let failed = tasks
        .fail(
            b.id,
            FailIn {
                claim_token: token(b.id),
                error: "bad input".into(),
                retryable: Some(false),
            },
        )
        .await
        .unwrap();
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("bad input"));
    let stale = tasks
        .heartbeat(
            b.id,
            TaskHeartbeatIn {
                claim_token: token(b.id),
                lease_seconds: None,
                progress: None,
                message: None,
            },
        )
        .await
        .unwrap_err();
    assert!(stale.is_stale_claim(), "{stale:?}");
    assert!(!stale.is_retryable());

    let blocked = tasks
        .block(
            c.id,
            BlockIn {
                claim_token: token(c.id),
                reason: "need a password".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(blocked.status, TaskStatus::Blocked);
    assert_eq!(blocked.block_reason.as_deref(), Some("need a password"));
    let unblocked = tasks
        .unblock(
            c.id,
            UnblockIn {
                note: Some("it is hunter2".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(unblocked.status, TaskStatus::Queued);
    assert_eq!(unblocked.progress_message.as_deref(), Some("it is hunter2"));
    let reclaimed = tasks.claim(claim(agent, 1)).await.unwrap().tasks;
    assert_eq!(reclaimed[0].task.id, c.id);
    assert_ne!(reclaimed[0].claim_token, token(c.id));

    let mine = tasks.list().agent(agent).send().await.unwrap();
    assert_eq!(mine.items.len(), 3);

    let err = tasks.claim(claim(Uuid::new_v4(), 1)).await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

async fn agents_register_heartbeat_and_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let agents = app.client.agents();
    let agent = agents
        .register(AgentIn {
            name: "seed-1".into(),
            kind: Some("seed".into()),
            capabilities: Some(vec!["shell".into()]),
            version: Some("1.2.3".into()),
            metadata: Some(json!({ "region": "par" })),
        })
        .await
        .unwrap();
    assert_eq!(agent.status, AgentStatus::Online);
    assert_eq!(agent.capabilities, ["shell"]);
    // Registering the same name again is the same agent.
    let again = agents
        .register(AgentIn {
            name: "seed-1".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(again.id, agent.id);

    let beat = agents.heartbeat(agent.id).await.unwrap();
    assert!(beat.last_heartbeat_at >= agent.last_heartbeat_at);
    assert_eq!(agents.get(agent.id).await.unwrap().name, "seed-1");
    agents
        .register(AgentIn {
            name: "seed-2".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let listed: Vec<_> = agents.list().limit(1).stream().try_collect().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(agents.get(Uuid::new_v4()).await.unwrap_err().is_not_found());
}

async fn keys_are_created_listed_used_and_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app
        .client
        .keys()
        .create(ApiKeyIn {
            name: "viewer".into(),
            role: Role::Viewer,
            expires_at: None,
        })
        .await
        .unwrap();
    assert_eq!(created.key.role, Role::Viewer);
    let listed = app.client.keys().list().send().await.unwrap();
    assert!(listed.items.iter().any(|k| k.id == created.key.id));

    let viewer = client_for(&app.server.base, &created.secret);
    viewer.projects().list().send().await.unwrap();
    let err = viewer
        .projects()
        .create(ProjectIn {
            name: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
    assert!(err.is_auth() && !err.is_retryable());
    let err = viewer.keys().list().send().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));

    app.client.keys().revoke(created.key.id).await.unwrap();
    let err = viewer.projects().list().send().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
}

async fn events_are_listed_in_order_with_filters_and_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let other = app.project().await;
    let mut mine = Vec::new();
    for i in 0..7 {
        mine.push(app.task(project, "echo", json!({ "i": i })).await.id);
    }
    app.task(other, "echo", json!({})).await;

    let all = app.all_events().await;
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ascending ids");
    let created_kinds = all
        .iter()
        .filter(|e| e.kind == "project.created" || e.kind == "task.created")
        .count();
    assert_eq!(created_kinds, 2 + 8, "two projects and eight tasks created");

    let created: Vec<_> = app
        .client
        .events()
        .list()
        .types(["task.created"])
        .project(project)
        .since(0)
        .limit(3)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        created
            .iter()
            .map(|e| e.task_id.unwrap())
            .collect::<Vec<_>>(),
        mine
    );

    let page = app
        .client
        .events()
        .list()
        .since(0)
        .limit(4)
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4);
    assert_eq!(page.next_cursor, Some(page.items[3].id.to_string()));
    let rest = app
        .client
        .events()
        .list()
        .since(page.items[3].id)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.items.first().map(|e| e.id), Some(all[4].id));

    let one_task = app
        .client
        .events()
        .list_filtered(&EventFilter::new().task(mine[0]).since(0))
        .send()
        .await
        .unwrap();
    assert_eq!(one_task.items.len(), 1);
    assert_eq!(one_task.items[0].kind, "task.created");
    assert!(
        EventFilter::new()
            .types(["task.*"])
            .matches(&one_task.items[0])
    );

    let err = app
        .client
        .events()
        .list()
        .types(["Bad Pattern!"])
        .send()
        .await
        .unwrap_err();
    assert!(err.is_invalid_request(), "{err:?}");
}

#[test]
fn a_client_needs_an_http_base_url() {
    let err = Client::builder().build().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let err = Client::builder().base_url("ftp://x").build().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let err = Client::builder().base_url("not a url").build().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let client = Client::builder()
        .base_url("https://example.com/prefix")
        .api_key("k")
        .build()
        .unwrap();
    assert_eq!(client.base_url().as_str(), "https://example.com/prefix/");
    assert!(
        !format!("{client:?}").contains("\"k\""),
        "the key is redacted"
    );
}

on_both_backends!(
    health_and_ready_answer_without_a_key_and_the_rest_needs_one,
    projects_can_be_created_read_listed_changed_and_deleted,
    tasks_can_be_created_listed_filtered_changed_and_cancelled,
    the_agent_protocol_claims_extends_completes_fails_blocks_and_unblocks,
    agents_register_heartbeat_and_list,
    keys_are_created_listed_used_and_revoked,
    events_are_listed_in_order_with_filters_and_pages,
);
