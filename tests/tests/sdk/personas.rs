//! `client.personas()`: an interface creating, sharing and changing personas for its
//! people, through the SDK alone.

use agentops_sdk::types::{ErrorCode, PersonaIn, PersonaPatch, PersonaStatus, Visibility};
use futures_util::TryStreamExt;

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(an_interface_manages_personas_for_its_people);

async fn an_interface_manages_personas_for_its_people(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ana = app.client.personas().on_behalf_of("telegram:1");
    let bob = app.client.personas().on_behalf_of("telegram:2");

    let made = ana
        .create(&PersonaIn {
            visibility: Some(Visibility::Link),
            greeting: Some("Ahoy!".into()),
            provider_api_key: Some("sk-ana".into()),
            ..PersonaIn::new(
                "Captain Byte",
                "You are a cheerful pirate.",
                "llama-3.3-70b-instruct",
            )
        })
        .await
        .unwrap();
    assert_eq!(
        (made.slug.as_str(), made.owner.as_str(), made.version),
        ("captain-byte", "telegram:1", 1)
    );
    assert!(made.has_provider_key);

    // Bob follows the link; he sees no prompt and cannot change it.
    let seen = bob.get("CAPTAIN-BYTE").await.unwrap();
    assert_eq!(seen.id, made.id);
    assert_eq!(seen.system_prompt, None);
    let refused = bob
        .update(
            &made.slug,
            &PersonaPatch {
                name: Some("mine".into()),
                ..PersonaPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.error_code(), Some(ErrorCode::Forbidden));

    // Ana changes its prompt: version 2, version 1 still readable.
    let changed = ana
        .update(
            &made.slug,
            &PersonaPatch {
                system_prompt: Some("You are a grumpy pirate.".into()),
                ..PersonaPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.version, 2);
    let versions = ana.versions(&made.slug).await.unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
    assert_eq!(
        ana.version(&made.slug, 1)
            .await
            .unwrap()
            .system_prompt
            .as_deref(),
        Some("You are a cheerful pirate.")
    );

    // Bob says two things (no runtime answers here): Ana sees today's use, Bob does not.
    for text in ["ahoy", "what is RAM?"] {
        bob.chat(
            &made.slug,
            &agentops_sdk::types::PersonaChatIn {
                text: text.into(),
                ..Default::default()
            },
            0,
        )
        .await
        .unwrap();
    }
    let used = agentops_sdk::types::PersonaUsage {
        messages: 2,
        people: 1,
    };
    assert_eq!(ana.get(&made.slug).await.unwrap().today, Some(used));
    assert_eq!(bob.get(&made.slug).await.unwrap().today, None);

    // Her list has it; Bob's does not (a link persona is not listed).
    let mine: Vec<_> = ana.list().owner("me").stream().try_collect().await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].today, Some(used));
    assert!(bob.list().send().await.unwrap().items.is_empty());

    // She reads his conversation with it (newest first); he may not read hers.
    let talks = ana.conversations(&made.slug).send().await.unwrap().items;
    assert_eq!(talks.len(), 1);
    assert_eq!(talks[0].person, "telegram:2");
    let said: Vec<String> = ana
        .conversation(&made.slug, talks[0].thread_id)
        .stream()
        .map_ok(|m| m.text)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(&said[..2], ["what is RAM?", "ahoy"]);
    let refused = bob.conversations(&made.slug).send().await.unwrap_err();
    assert_eq!(refused.error_code(), Some(ErrorCode::Forbidden));

    // Deleted: kept for her, gone for him, closed to changes.
    ana.delete(&made.slug, false).await.unwrap();
    assert_eq!(
        ana.get(&made.slug).await.unwrap().status,
        PersonaStatus::Deleted
    );
    let gone = bob.get(&made.slug).await.unwrap_err();
    assert_eq!(gone.error_code(), Some(ErrorCode::PersonaNotFound));
    let closed = ana
        .update(
            &made.slug,
            &PersonaPatch {
                name: Some("again".into()),
                ..PersonaPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(closed.error_code(), Some(ErrorCode::PersonaDeleted));
}
