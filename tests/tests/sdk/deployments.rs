//! `client.deployments()`.

use agentops_sdk::types::{DeploymentIn, DeploymentPatch, DeploymentStatus, ErrorCode};
use serde_json::json;

use crate::helpers::{ADMIN_KEY, Backend, Fault, FaultProxy, TestApp, client_for};
use crate::on_both_backends;

on_both_backends!(
    a_deployment_reports_its_steps_until_it_is_final,
    a_create_whose_answer_was_lost_is_replayed_not_duplicated,
);

async fn a_deployment_reports_its_steps_until_it_is_final(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let deployments = app.client.deployments();
    let created = deployments
        .create(DeploymentIn {
            git_sha: "9e8d7c6b5a".into(),
            branch: Some("main".into()),
            report: Some("v1.5.0 (was v1.4.0): building".into()),
            metadata: Some(json!({ "tag": "v1.5.0" })),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.status, DeploymentStatus::Building);

    for step in [DeploymentStatus::Testing, DeploymentStatus::Deploying] {
        let moved = deployments
            .update(
                created.id,
                DeploymentPatch {
                    status: Some(step),
                    report: Some(format!("v1.5.0: {step}")),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(moved.status, step);
        assert!(!moved.status.is_final());
    }
    let rolled_back = deployments
        .update(
            created.id,
            DeploymentPatch {
                status: Some(DeploymentStatus::RolledBack),
                report: Some("v1.5.0: health check failed, v1.4.0 put back".into()),
                metadata: Some(json!({ "rollback_reason": "health check failed" })),
            },
        )
        .await
        .unwrap();
    assert!(rolled_back.status.is_final());
    assert!(rolled_back.finished_at.is_some());
    assert_eq!(
        rolled_back.metadata,
        json!({ "tag": "v1.5.0", "rollback_reason": "health check failed" })
    );

    let err = deployments
        .update(
            created.id,
            DeploymentPatch {
                status: Some(DeploymentStatus::Healthy),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::InvalidTransition));
    assert_eq!(deployments.get(created.id).await.unwrap(), rolled_back);

    let listed = deployments
        .list()
        .status(DeploymentStatus::RolledBack)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.items, [rolled_back]);
    assert!(
        deployments
            .list()
            .status(DeploymentStatus::Healthy)
            .send()
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn a_create_whose_answer_was_lost_is_replayed_not_duplicated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = FaultProxy::start(app.server.addr).await;
    let client = client_for(&proxy.base, ADMIN_KEY);

    // The server records the deployment, but the client never gets the answer.
    proxy.inject([Fault::DropAnswer]);
    let created = client
        .deployments()
        .create(DeploymentIn {
            git_sha: "abcdef0".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    let posts: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST" && s.path.ends_with("/deployments"))
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(posts[0].idempotency_key.is_some());
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    let all = client.deployments().list().send().await.unwrap().items;
    assert_eq!(all, [created], "two deliveries, one deployment");
}
