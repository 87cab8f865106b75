//! `client.threads()` and `client.approvals()`.

use agentops_sdk::types::{
    ApprovalIn, ApprovalOutcomeIn, ApprovalStatus, MessageIn, MessageRole, ThreadIn,
};
use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(a_conversation_with_a_plan_approved_and_carried_out);

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
