//! `client.threads()` and `client.approvals()`.

use agentops_sdk::types::{
    ApprovalIn, ApprovalOutcomeIn, ApprovalStatus, ErrorCode, MessageIn, MessageRole, ThreadIn,
};
use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, Fault, FaultProxy, TestApp, client_for};
use crate::on_both_backends;

on_both_backends!(
    a_conversation_with_a_plan_approved_and_carried_out,
    a_message_posted_with_a_key_is_stored_once,
    a_post_whose_answer_was_lost_is_replayed_not_duplicated,
);

async fn a_conversation_with_a_plan_approved_and_carried_out(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let threads = app.client.threads();
    let thread = threads
        .open(ThreadIn::for_channel("telegram", "555"))
        .await
        .unwrap();
    assert_eq!(
        threads
            .open(ThreadIn::for_channel("telegram", "555"))
            .await
            .unwrap()
            .id,
        thread.id
    );
    threads
        .post(thread.id, MessageIn::user("launch the site friday"))
        .await
        .unwrap();
    let plan = threads
        .propose(
            thread.id,
            ApprovalIn {
                summary: "Understood: a launch. Will: create project Launch.".into(),
                plan: json!({"actions": [{"create_project": {"name": "Launch"}}]}),
            },
        )
        .await
        .unwrap();
    threads
        .post(thread.id, MessageIn::assistant(plan.summary.clone()))
        .await
        .unwrap();
    let mut last = threads
        .messages(thread.id)
        .limit(30)
        .send()
        .await
        .unwrap()
        .items;
    last.reverse();
    assert_eq!(
        last.iter().map(|m| m.role).collect::<Vec<_>>(),
        [MessageRole::User, MessageRole::Assistant]
    );

    let approvals = app.client.approvals();
    let pending = approvals
        .list()
        .status(ApprovalStatus::Pending)
        .thread(thread.id)
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(pending.len(), 1);
    assert_eq!(
        approvals.approve(plan.id).await.unwrap().status,
        ApprovalStatus::Approved
    );
    let err = approvals.approve(plan.id).await.unwrap_err();
    assert!(err.is_conflict() || err.is_invalid_transition(), "{err:?}");
    let done = approvals
        .finish(
            plan.id,
            ApprovalOutcomeIn {
                result: Some(json!({"created": 1})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(done.status, ApprovalStatus::Executed);
    assert_eq!(approvals.get(plan.id).await.unwrap(), done);

    let other = threads
        .propose(
            thread.id,
            ApprovalIn {
                summary: "Will: nothing".into(),
                plan: json!({}),
            },
        )
        .await
        .unwrap();
    let rejected = approvals.reject(other.id, Some("no".into())).await.unwrap();
    assert_eq!(rejected.status, ApprovalStatus::Rejected);
    let chats = threads
        .list()
        .channel("telegram")
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(chats.len(), 1);
}

async fn a_message_posted_with_a_key_is_stored_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let threads = app.client.threads();
    let thread = threads
        .open(ThreadIn::for_channel("telegram", "556"))
        .await
        .unwrap();
    let update = MessageIn::user("status?");

    let (first, replayed) = threads
        .post_with_key(thread.id, update.clone(), "telegram:1001")
        .await
        .unwrap();
    assert!(!replayed);
    let (again, replayed) = threads
        .post_with_key(thread.id, update, "telegram:1001")
        .await
        .unwrap();
    assert!(replayed);
    assert_eq!(again, first);
    let err = threads
        .post_with_key(thread.id, MessageIn::user("other"), "telegram:1001")
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::IdempotencyKeyReused));

    let messages = threads.messages(thread.id).send().await.unwrap().items;
    assert_eq!(messages, [first]);
}

async fn a_post_whose_answer_was_lost_is_replayed_not_duplicated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = FaultProxy::start(app.server.addr).await;
    let client = client_for(&proxy.base, ADMIN_KEY);
    let thread = client
        .threads()
        .open(ThreadIn::for_channel("telegram", "557"))
        .await
        .unwrap();

    // The server stores the message, but the client never gets the answer, twice.
    proxy.inject([Fault::DropAnswer, Fault::DropAnswer]);
    let message = client
        .threads()
        .post(thread.id, MessageIn::user("hello"))
        .await
        .unwrap();

    let posts: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST" && s.path.ends_with("/messages"))
        .collect();
    assert_eq!(posts.len(), 3);
    let key = posts[0]
        .idempotency_key
        .clone()
        .expect("an idempotency key");
    assert!(
        posts
            .iter()
            .all(|s| s.forwarded && s.idempotency_key.as_ref() == Some(&key)),
        "every attempt reached the server, with the same key"
    );
    let messages = client
        .threads()
        .messages(thread.id)
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(messages, [message], "three deliveries, one message");
    let announced = app
        .all_events()
        .await
        .into_iter()
        .filter(|e| e.kind == "thread.message")
        .count();
    assert_eq!(announced, 1);
}
