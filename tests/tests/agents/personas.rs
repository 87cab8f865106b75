//! Persona agents end to end: people create personas, others talk to them over HTTP,
//! and the persona runtime (against the LLM stand-in) answers each person in a
//! conversation of their own.

use std::time::Duration;

use agentops_agents::llm::LlmConfig;
use agentops_agents::persona::PersonaRuntime;
use agentops_sdk::CancellationToken;
use agentops_sdk::types::{
    BudgetIn, BudgetPeriod, BudgetTarget, MessageRole, PersonaIn, PersonaPatch, Visibility,
};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::llm_standin::{LlmStandIn, tool_call};

pub(crate) struct Running {
    stop: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts a persona runtime thinking with `llm` (none: it says it cannot), once its
/// cursor is saved (what is said from then on is answered).
pub(crate) async fn runtime(app: &TestApp, llm: Option<&LlmStandIn>, cursor_of: &str) -> Running {
    let stop = CancellationToken::new();
    let config = llm.map(|s| LlmConfig {
        base_url: s.base.clone(),
        api_key: "sk-personas".into(),
        model: "unused".into(),
        timeout: Duration::from_secs(10),
    });
    // With the platform's master key, as deployed: owners' own keys open.
    let runtime = PersonaRuntime::new(app.client.clone(), config).with_master_key(
        agentops_sdk::secrets::MasterKey::parse(agentops_testkit::SECRET_KEY).unwrap(),
    );
    {
        let stop = stop.clone();
        tokio::spawn(async move { runtime.run(stop).await.unwrap() });
    }
    for _ in 0..200 {
        if app
            .client
            .events()
            .cursor(cursor_of)
            .await
            .unwrap()
            .is_some()
        {
            return Running { stop };
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the persona runtime did not start");
}

/// `person` says `text` to `persona`: the status and the answer.
async fn say(app: &TestApp, person: &str, persona: &str, text: &str) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/personas/{persona}/chat?wait=20")))
        .bearer_auth(&app.key)
        .header("X-On-Behalf-Of", person)
        .json(&json!({"text": text}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn answer(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_person_talks_to_a_persona_in_a_conversation_of_their_own() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let llm = LlmStandIn::spawn().await;
    let _running = runtime(&app, Some(&llm), "persona-runtime").await;
    let ana = app.client.personas().on_behalf_of("telegram:1");
    let made = ana
        .create(&PersonaIn {
            visibility: Some(Visibility::Public),
            greeting: Some("Ahoy! I am Captain Byte.".into()),
            daily_limit: Some(3),
            temperature: Some(0.3),
            ..PersonaIn::new(
                "Captain Byte",
                "You are Captain Byte, a cheerful pirate.",
                "pirate-model",
            )
        })
        .await
        .unwrap();

    // Bob talks; the persona keeps a note about him.
    llm.reply(tool_call(
        "n1",
        "remember",
        json!({"note": "Bob loves sailing"}),
    ));
    llm.reply(answer("Ahoy Bob, a sailor after me own heart!"));
    let (status, bob) = say(
        &app,
        "telegram:2",
        "captain-byte",
        "Hi, I am Bob and I love sailing",
    )
    .await;
    assert_eq!(status, 200, "{bob}");
    assert_eq!(
        bob["reply"]["text"],
        "Ahoy Bob, a sailor after me own heart!"
    );
    assert_eq!(bob["persona_version"], 1);
    assert_eq!(bob["reply"]["metadata"]["persona_version"], 1);
    assert_eq!(bob["reply"]["author"], "Captain Byte");
    let first = &llm.requests()[0].1;
    assert_eq!(first["model"], "pirate-model");
    assert_eq!(first["temperature"], 0.3);
    assert!(
        first["messages"][0]["content"]
            .as_str()
            .unwrap()
            .starts_with("You are Captain Byte, a cheerful pirate.")
    );
    // The conversation opens with the greeting.
    let bob_thread = bob["thread_id"].as_str().unwrap().parse().unwrap();
    let mut said = app
        .client
        .threads()
        .messages(bob_thread)
        .send()
        .await
        .unwrap()
        .items;
    said.reverse();
    let texts: Vec<(MessageRole, &str)> = said.iter().map(|m| (m.role, m.text.as_str())).collect();
    assert_eq!(
        texts,
        [
            (MessageRole::Assistant, "Ahoy! I am Captain Byte."),
            (MessageRole::User, "Hi, I am Bob and I love sailing"),
            (
                MessageRole::Assistant,
                "Ahoy Bob, a sailor after me own heart!"
            ),
        ]
    );

    // Carol talks to the same persona: nothing of Bob's reaches her conversation.
    llm.reply(answer("Ahoy stranger!"));
    let (status, carol) = say(&app, "telegram:3", "captain-byte", "hello there").await;
    assert_eq!(status, 200, "{carol}");
    assert_ne!(carol["thread_id"], bob["thread_id"]);
    let prompt = llm.requests().last().unwrap().1.to_string();
    assert!(
        !prompt.contains("Bob") && !prompt.contains("sailing"),
        "{prompt}"
    );

    // Bob again: his note and his history are there.
    llm.reply(answer("Ye love sailing, matey!"));
    let (status, _) = say(&app, "telegram:2", "captain-byte", "What do I love?").await;
    assert_eq!(status, 200);
    let prompt = llm.requests().last().unwrap().1.clone();
    let system = prompt["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("- Bob loves sailing"), "{system}");
    assert!(
        prompt
            .to_string()
            .contains("Hi, I am Bob and I love sailing")
    );
    assert!(
        !prompt.to_string().contains("hello there"),
        "Carol's words stay hers"
    );

    // Three messages a day: the fourth is refused until midnight UTC.
    llm.reply(answer("Arr."));
    assert_eq!(say(&app, "telegram:2", "captain-byte", "ok").await.0, 200);
    let (status, limited) = say(&app, "telegram:2", "captain-byte", "one more").await;
    assert_eq!(status, 429, "{limited}");
    assert_eq!(limited["error"]["code"], "rate_limited");
    assert!(
        limited["error"]["message"]
            .as_str()
            .unwrap()
            .contains("00:00 UTC"),
        "{limited}"
    );

    // Ana changes the prompt: the next answer comes from version 2.
    ana.update(
        &made.slug,
        &PersonaPatch {
            system_prompt: Some("You are Captain Byte, now a grumpy pirate.".into()),
            ..PersonaPatch::default()
        },
    )
    .await
    .unwrap();
    llm.reply(answer("Harrumph."));
    let (status, grumpy) = say(&app, "telegram:3", "captain-byte", "how are you?").await;
    assert_eq!(status, 200, "{grumpy}");
    assert_eq!(grumpy["reply"]["metadata"]["persona_version"], 2);
    let system = llm.requests().last().unwrap().1["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        system.starts_with("You are Captain Byte, now a grumpy pirate."),
        "{system}"
    );

    // Deleted: Carol is told; her history stays for Ana (the owner).
    ana.delete(&made.slug, false).await.unwrap();
    let (status, gone) = say(&app, "telegram:3", &made.id.to_string(), "hello?").await;
    assert_eq!(status, 404, "a deleted persona is gone for others: {gone}");
    let (status, gone) = say(&app, "telegram:1", &made.id.to_string(), "hello?").await;
    assert_eq!(
        (status, gone["error"]["code"].as_str()),
        (410, Some("persona_deleted"))
    );
    // Every call is on the books, for the person and the conversation.
    let calls = app.client.usage().list().send().await.unwrap().items;
    assert!(
        calls
            .iter()
            .any(|c| c.user.as_deref() == Some("telegram:2") && c.thread_id == Some(bob_thread)),
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persona_with_its_owners_provider_key_thinks_with_that_key() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let llm = LlmStandIn::spawn().await;
    let _running = runtime(&app, Some(&llm), "persona-runtime").await;
    let owned = app
        .client
        .personas()
        .on_behalf_of("web:ana")
        .create(&PersonaIn {
            provider_api_key: Some("sk-ana-own-key-0001".into()),
            visibility: Some(Visibility::Link),
            ..PersonaIn::new("Stargazer", "You love astronomy.", "star-model")
        })
        .await
        .unwrap();
    let plain = app
        .client
        .personas()
        .on_behalf_of("web:ana")
        .create(&PersonaIn::new("Plain", "You are plain.", "plain-model"))
        .await
        .unwrap();
    llm.reply(json!({"role": "assistant", "content": "Quasars are bright."}));
    let (status, out) = say(&app, "web:bob", &owned.slug, "what is a quasar?").await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["reply"]["text"], "Quasars are bright.");
    llm.reply(json!({"role": "assistant", "content": "Hello."}));
    let (status, out) = say(&app, "web:ana", &plain.slug, "hi").await;
    assert_eq!(status, 200, "{out}");
    let keys: Vec<Option<String>> = llm.requests().into_iter().map(|(key, _)| key).collect();
    assert_eq!(
        keys,
        [
            Some("sk-ana-own-key-0001".to_owned()),
            Some("sk-personas".to_owned())
        ],
        "the owner's key for their persona, the platform's for the other"
    );
    // The key is read sealed, never in clear, and only by the operator.
    let sealed = app.client.personas().secrets(&owned.slug).await.unwrap();
    let sealed_key = sealed.provider_api_key.unwrap();
    assert!(!sealed_key.contains("sk-ana"), "{sealed_key}");
    let refused = app
        .client
        .personas()
        .on_behalf_of("web:ana")
        .secrets(&owned.slug)
        .await
        .unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(403));

    // A runtime without the master key says so in the persona's name, spending nothing.
    drop(_running);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop = CancellationToken::new();
    let blind = PersonaRuntime::new(
        app.client.clone(),
        Some(LlmConfig {
            base_url: llm.base.clone(),
            api_key: "sk-personas".into(),
            model: "unused".into(),
            timeout: Duration::from_secs(10),
        }),
    );
    {
        let stop = stop.clone();
        tokio::spawn(async move { blind.run(stop).await.unwrap() });
    }
    let (status, out) = say(&app, "web:cat", &owned.slug, "hello?").await;
    stop.cancel();
    assert_eq!(status, 200, "{out}");
    let said = out["reply"]["text"].as_str().unwrap();
    assert!(
        said.starts_with("I am Stargazer, but I cannot answer: my owner's own provider key"),
        "{said}"
    );
    assert_eq!(llm.requests().len(), 2);
}

/// A budget on a persona, then one on its owner: once spent, the persona tells the person
/// in its own name when it can answer again, and no call reaches the model; the owner's
/// other persona answers until the owner's budget is spent too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persona_out_of_budget_says_when_it_can_answer_again() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let llm = LlmStandIn::spawn().await;
    let _running = runtime(&app, Some(&llm), "persona-runtime").await;
    let personas = app.client.personas().on_behalf_of("web:ana");
    let poet = personas
        .create(&PersonaIn {
            visibility: Some(Visibility::Public),
            ..PersonaIn::new("Poet", "You answer in verse.", "m")
        })
        .await
        .unwrap();
    let cook = personas
        .create(&PersonaIn {
            visibility: Some(Visibility::Public),
            ..PersonaIn::new("Cook", "You answer with recipes.", "m")
        })
        .await
        .unwrap();
    let budget = |name: &str, applies_to, subject: String| BudgetIn {
        name: name.into(),
        applies_to,
        subject: Some(subject),
        period: BudgetPeriod::Day,
        time_zone: None,
        limit_tokens: 1,
        limit_cost_usd: None,
        enabled: None,
    };
    app.client
        .budgets()
        .create(budget("poet", BudgetTarget::Persona, poet.id.to_string()))
        .await
        .unwrap();

    let (status, out) = say(&app, "web:bob", &poet.slug, "a poem about tea?").await;
    assert_eq!(status, 200, "{out}");
    let said = out["reply"]["text"].as_str().unwrap();
    assert!(
        said.starts_with("I am Poet, and I have reached the spending limit set for me")
            && said.contains("I can answer again from ")
            && said.ends_with(" UTC."),
        "{said}"
    );
    assert_eq!(out["reply"]["metadata"]["budget_exhausted"], true, "{out}");
    assert!(llm.requests().is_empty(), "no call was made");

    llm.reply(answer("Brew the leaves for three minutes."));
    let (status, out) = say(&app, "web:bob", &cook.slug, "tea?").await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["reply"]["text"], "Brew the leaves for three minutes.");

    app.client
        .budgets()
        .create(budget(
            "ana's personas",
            BudgetTarget::Owner,
            "web:ana".into(),
        ))
        .await
        .unwrap();
    let (status, out) = say(&app, "web:cy", &cook.slug, "coffee?").await;
    assert_eq!(status, 200, "{out}");
    let said = out["reply"]["text"].as_str().unwrap();
    assert!(
        said.starts_with("I am Cook, and I have reached the spending limit"),
        "{said}"
    );
    assert_eq!(
        llm.requests().len(),
        1,
        "only the Cook's first answer was a call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_a_persona_says_so_in_its_own_name() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let _running = runtime(&app, None, "persona-runtime").await;
    let made = app
        .client
        .personas()
        .on_behalf_of("web:ana")
        .create(&PersonaIn::new("Stargazer", "You love astronomy.", "any"))
        .await
        .unwrap();
    let (status, out) = say(&app, "web:ana", &made.slug, "what is a quasar?").await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["reply"]["text"],
        "I am Stargazer, but I cannot answer yet: this platform has no language model configured (its operator sets LLM_BASE_URL)."
    );
    let (status, _) = say(&app, "web:bob", &made.slug, "hi").await;
    assert_eq!(status, 404, "a private persona is not found by others");
}

/// A writer the test's logs go to, kept for reading back.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned()
    }
}

/// Everything the platform and the persona runtime log, down to `trace` for our own
/// crates, while an owner gives, uses, changes and removes their provider key and bot
/// token: neither ever appears in clear (each test runs in a process of its own, so the
/// subscriber sees this test alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owners_secrets_never_reach_the_logs() {
    const KEY: &str = "sk-ana-log-canary-77c1d9";
    const TOKEN_SECRET: &str = "AAlog-canary-bot-secret-0123456789";
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,agentops_api=trace,agentops_agents=trace,agentops_sdk=trace,agentops=trace",
        ))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let app = TestApp::spawn(Backend::Sqlite).await;
    let llm = LlmStandIn::spawn().await;
    let _running = runtime(&app, Some(&llm), "persona-runtime").await;
    let ana = app.client.personas().on_behalf_of("web:ana");
    let made = ana
        .create(&PersonaIn {
            provider_api_key: Some(KEY.into()),
            telegram_bot_token: Some(format!("4242:{TOKEN_SECRET}")),
            visibility: Some(Visibility::Public),
            ..PersonaIn::new("Keeper", "You keep secrets.", "m")
        })
        .await
        .unwrap();
    llm.reply(answer("My lips are sealed."));
    let (status, out) = say(&app, "web:bob", &made.slug, "tell me a secret").await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["reply"]["text"], "My lips are sealed.");
    // It was used, with the owner's key (so the runtime opened it).
    assert_eq!(llm.requests()[0].0.as_deref(), Some(KEY));
    // A refused change that carries a secret does not echo it either.
    let refused = ana
        .update(
            &made.slug,
            &PersonaPatch {
                telegram_bot_token: Some(format!("x{TOKEN_SECRET}")),
                ..PersonaPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(422));
    assert!(!refused.to_string().contains(TOKEN_SECRET), "{refused}");
    ana.update(
        &made.slug,
        &PersonaPatch {
            provider_api_key: Some(String::new()),
            telegram_bot_token: Some(String::new()),
            ..PersonaPatch::default()
        },
    )
    .await
    .unwrap();
    ana.delete(&made.slug, true).await.unwrap();

    let text = logs.text();
    assert!(
        text.contains("persona"),
        "the logs were captured ({} bytes)",
        text.len()
    );
    for secret in [KEY, TOKEN_SECRET] {
        assert!(
            !text.contains(secret),
            "{secret} is in the logs:\n{}",
            text.lines()
                .filter(|l| l.contains(secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}
