//! `client.pairings()`: what the Telegram bot does with them, through the SDK alone.

use agentops_sdk::types::{ErrorCode, PairingIn, PairingStatus};
use futures_util::TryStreamExt;

use crate::helpers::{ADMIN_KEY, Backend, Fault, FaultProxy, TestApp, client_for};
use crate::on_both_backends;

on_both_backends!(
    an_unknown_chat_is_paired_by_its_code_and_can_be_revoked,
    a_request_whose_answer_was_lost_issues_one_code,
    an_approval_whose_answer_was_lost_is_not_sent_again,
);

fn telegram(chat: &str, name: &str) -> PairingIn {
    PairingIn {
        channel: "telegram".into(),
        chat: chat.into(),
        name: name.into(),
        ..Default::default()
    }
}

async fn an_unknown_chat_is_paired_by_its_code_and_can_be_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pairings = app.client.pairings();

    // A stranger writes twice: one code.
    let asked = pairings
        .create(&telegram("1001", "@alice (Alice Smith)"))
        .await
        .unwrap();
    assert_eq!(asked.status, PairingStatus::Pending);
    let code = asked.code.clone().expect("a code while pending");
    let again = pairings
        .create(&telegram("1001", "@alice (Alice Smith)"))
        .await
        .unwrap();
    assert_eq!(again.code.as_deref(), Some(code.as_str()));

    // An operator types it, in lower case with a dash.
    let typed = format!("{}-{}", &code[..4], &code[4..]).to_lowercase();
    let approved = pairings.approve(&typed, Some("@operator")).await.unwrap();
    assert!(approved.status.is_allowed());
    assert_eq!(approved.decided_by.as_deref(), Some("@operator"));

    // The allowlist, as the bot reads it on start.
    let allowed: Vec<_> = pairings
        .list()
        .channel("telegram")
        .status(PairingStatus::Approved)
        .limit(1)
        .stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(allowed, std::slice::from_ref(&approved));
    let one = pairings
        .list()
        .channel("telegram")
        .chat("1001")
        .send()
        .await
        .unwrap();
    assert_eq!(one.items, std::slice::from_ref(&approved));

    let err = pairings.approve(&code, None).await.unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::PairingNotFound));

    let revoked = pairings.revoke(approved.id, None).await.unwrap();
    assert_eq!(revoked.status, PairingStatus::Revoked);
    assert_eq!(pairings.get(approved.id).await.unwrap(), revoked);
}

async fn a_request_whose_answer_was_lost_issues_one_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = FaultProxy::start(app.server.addr).await;
    let client = client_for(&proxy.base, ADMIN_KEY);

    proxy.inject([Fault::DropAnswer]);
    let asked = client
        .pairings()
        .create(&telegram("2002", "@bob"))
        .await
        .unwrap();
    let posts = proxy
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST" && s.path.ends_with("/pairings"))
        .count();
    assert_eq!(posts, 2, "retried");
    let all = client.pairings().list().send().await.unwrap().items;
    assert_eq!(all, [asked], "two deliveries, one pairing with one code");
}

async fn an_approval_whose_answer_was_lost_is_not_sent_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let proxy = FaultProxy::start(app.server.addr).await;
    let client = client_for(&proxy.base, ADMIN_KEY);
    let asked = client
        .pairings()
        .create(&telegram("3003", "@carol"))
        .await
        .unwrap();

    // The approval is carried out, but its answer is lost: a repeat would find the code
    // used up (404), so the SDK reports the lost answer rather than a false "not found".
    proxy.inject([Fault::DropAnswer]);
    let err = client
        .pairings()
        .approve(asked.code.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_ne!(err.error_code(), Some(ErrorCode::PairingNotFound), "{err}");
    let approvals = proxy
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/pairings/approve"))
        .count();
    assert_eq!(approvals, 1, "not repeated");
    assert_eq!(
        client.pairings().get(asked.id).await.unwrap().status,
        PairingStatus::Approved
    );
}
