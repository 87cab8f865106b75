//! The Telegram bot against the stand-in Bot API, the real platform and the real Chief
//! of Staff: chats, buttons, commands, notifications, the webhook and long polling.

use std::time::Duration;

use agentops_agents::chief::{ChiefConfig, ChiefOfStaff};
use agentops_sdk::CancellationToken;
use agentops_sdk::types::{
    BlockIn, ClaimIn, CompleteIn, FailIn, PairingStatus, TaskIn, TaskOut, TaskStatus,
};
use agentops_telegram::{TelegramBot, TelegramConfig};
use clap::Parser;
use serde_json::{Value, json};
use tokio_util::task::TaskTracker;

use crate::bot_standin::{BotStandIn, TOKEN};
use crate::helpers::{ADMIN_KEY, Backend, TestApp, client_for};

const SECRET: &str = "webhook-secret-0123456789";
const ALLOWED: i64 = 100;
const STRANGER: i64 = 666;

struct Stack {
    app: TestApp,
    telegram: BotStandIn,
    bot: TelegramBot,
    webhook: String,
    stop: CancellationToken,
    /// The running relay, and what stops it alone (a bot restart).
    relay: (CancellationToken, tokio::task::JoinHandle<()>),
}

/// Runs the bot's event relay until the token it returns (a child of `stop`) is cancelled.
fn start_relay(
    bot: &TelegramBot,
    stop: &CancellationToken,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let relay = stop.child_token();
    let (bot, token) = (bot.clone(), relay.clone());
    let handle = tokio::spawn(async move { bot.run_relay(token).await.unwrap() });
    (relay, handle)
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

fn new_bot(
    app: &TestApp,
    telegram: &BotStandIn,
    chief_url: String,
    allowed: &[i64],
) -> TelegramBot {
    new_bot_paced(
        app,
        telegram,
        chief_url,
        allowed,
        agentops_telegram::USER_RATE,
    )
}

fn new_bot_paced(
    app: &TestApp,
    telegram: &BotStandIn,
    chief_url: String,
    allowed: &[i64],
    user_rate: u32,
) -> TelegramBot {
    TelegramBot::new(
        client_for(&app.server.base, ADMIN_KEY),
        TelegramConfig {
            bot_api_base: telegram.base.clone(),
            token: TOKEN.into(),
            chief_url,
            api_key: ADMIN_KEY.into(),
            allowed_chats: allowed.iter().copied().collect(),
            user_rate,
            unheard_retry: Duration::from_millis(500),
            persona_models: vec!["pirate-model".into(), "other-model".into()],
        },
    )
    .unwrap()
}

/// Serves the bot's webhook at `/telegram/webhook`, its handlers on `inflight`.
async fn serve_webhook(bot: &TelegramBot, inflight: &TaskTracker) -> String {
    let hook = Some(("/telegram/webhook".into(), SECRET.into()));
    serve(agentops::telegram::router(bot.clone(), hook, inflight)).await
}

/// Posts `update` to the webhook served at `base`; returns the status and JSON body.
async fn post_update(base: &str, update: &Value, secret: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/telegram/webhook"))
        .json(update);
    if let Some(secret) = secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn stack() -> Stack {
    stack_with(&[ALLOWED, 101], agentops_telegram::USER_RATE).await
}

/// A stack whose bot serves `allowed` chats, each person at most `user_rate` messages a
/// minute.
async fn stack_with(allowed: &[i64], user_rate: u32) -> Stack {
    stack_hearing(allowed, user_rate, None).await
}

/// [`stack_with`], whose Chief of Staff hears and speaks with `speech`.
async fn stack_hearing(
    allowed: &[i64],
    user_rate: u32,
    speech: Option<agentops_agents::chief::server::Speech>,
) -> Stack {
    stack_sensing(allowed, user_rate, speech, None).await
}

/// [`stack_hearing`], whose Chief of Staff also sees pictures with the model `vision`
/// serves (an OpenAI-compatible API, `…/v1`).
async fn stack_sensing(
    allowed: &[i64],
    user_rate: u32,
    speech: Option<agentops_agents::chief::server::Speech>,
    vision: Option<&str>,
) -> Stack {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let stop = CancellationToken::new();
    let head = app.client.events().latest().await.unwrap().last_id;
    let chief = ChiefOfStaff::new(app.client.clone(), ChiefConfig::default()).unwrap();
    {
        let (chief, stop) = (chief.clone(), stop.clone());
        tokio::spawn(async move { chief.run_executor(stop).await.unwrap() });
    }
    // Its calls go into the ledger.
    let speech =
        speech.map(|speech| speech.metered(agentops_agents::meter::Meter::new(app.client.clone())));
    let vision = vision.map(|base| {
        agentops_agents::llm::Llm::new(agentops_agents::llm::LlmConfig {
            base_url: base.to_owned(),
            api_key: String::new(),
            model: "pixtral-12b-2409".into(),
            timeout: Duration::from_secs(10),
        })
        .unwrap()
        .metered(agentops_agents::meter::Meter::new(app.client.clone()))
    });
    let chief_url = serve(agentops_agents::chief::server::router_with_senses(
        chief,
        app.server.base.clone(),
        agentops_agents::chief::server::Senses { speech, vision },
    ))
    .await;
    let telegram = BotStandIn::spawn().await;
    let bot = new_bot_paced(&app, &telegram, chief_url, allowed, user_rate);
    // The relay goes on from its cursor: start it at the head, as a first start would.
    app.client
        .events()
        .save_cursor(bot.cursor_name(), head)
        .await
        .unwrap();
    let relay = start_relay(&bot, &stop);
    let webhook = serve_webhook(&bot, &TaskTracker::new()).await;
    Stack {
        app,
        telegram,
        bot,
        webhook,
        stop,
        relay,
    }
}

static NEXT_UPDATE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

fn text_update(chat: i64, text: &str) -> Value {
    json!({
        "update_id": NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        "message": {"message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"},
                    "from": {"id": 7, "is_bot": false, "first_name": "Ana", "username": "ana"},
                    "text": text}
    })
}

impl Stack {
    async fn post_update(&self, update: &Value, secret: Option<&str>) -> (u16, Value) {
        post_update(&self.webhook, update, secret).await
    }

    /// Waits until the relay's saved cursor is at `at_least` or beyond.
    async fn wait_for_cursor(&self, at_least: i64) {
        let events = self.app.client.events();
        let mut last = None;
        for _ in 0..200 {
            last = events.cursor(self.bot.cursor_name()).await.unwrap();
            if last.as_ref().is_some_and(|c| c.last_id >= at_least) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the relay's cursor never reached #{at_least}: {last:?}");
    }

    /// Stops the relay, as a crash or a redeploy of the bot would.
    async fn stop_relay(&mut self) {
        self.relay.0.cancel();
        (&mut self.relay.1).await.unwrap();
    }

    /// Creates a task of kind `ops` titled `title`, then claims and completes it.
    async fn complete_task(&self, project: uuid::Uuid, agent: uuid::Uuid, title: &str) -> TaskOut {
        let tasks = self.app.client.tasks();
        let task = tasks
            .create(TaskIn {
                project_id: project,
                title: title.into(),
                kind: Some("ops".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let claimed = tasks
            .claim(ClaimIn {
                agent_id: agent,
                kinds: Some(vec!["ops".into()]),
                labels: None,
                project_id: None,
                limit: Some(1),
                lease_seconds: None,
                complete: None,
            })
            .await
            .unwrap();
        let claim = claimed
            .tasks
            .into_iter()
            .next()
            .expect("the task is claimed");
        assert_eq!(claim.task.id, task.id);
        tasks
            .complete(
                task.id,
                CompleteIn {
                    claim_token: claim.claim_token,
                    result: None,
                },
            )
            .await
            .unwrap()
    }

    async fn say_update(&self, update: &Value) {
        let (status, body) = self.post_update(update, Some(SECRET)).await;
        assert_eq!(status, 200, "{body}");
    }

    async fn say(&self, chat: i64, text: &str) {
        let (status, body) = self
            .post_update(&text_update(chat, text), Some(SECRET))
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_plans_with_the_chief_of_staff_and_approves_with_the_button() {
    let s = stack().await;
    s.say(
        ALLOWED,
        "create project Launch with tasks draft then review",
    )
    .await;
    let proposal = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood: a new project \"Launch\"")
        })
        .await;
    let buttons = &proposal["reply_markup"]["inline_keyboard"][0];
    assert_eq!(buttons[0]["text"], "✅ OK");
    let approve = buttons[0]["callback_data"].as_str().unwrap().to_owned();
    assert!(approve.starts_with("approve:"), "{approve}");
    assert!(
        buttons[1]["callback_data"]
            .as_str()
            .unwrap()
            .starts_with("reject:")
    );

    // The thread is the chat's, and remembers who spoke.
    let threads = s
        .app
        .client
        .threads()
        .list()
        .channel("telegram")
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(threads.len(), 1);
    assert_eq!(threads[0].external_id.as_deref(), Some("100"));
    let first = s
        .app
        .client
        .threads()
        .messages(threads[0].id)
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(first.last().unwrap().author.as_deref(), Some("@ana"));
    // The chat saw "typing…" while the Chief thought.
    let typing = s.telegram.calls("sendChatAction");
    assert!(
        typing
            .iter()
            .any(|c| c["chat_id"] == ALLOWED && c["action"] == "typing"),
        "{typing:?}"
    );

    let press = json!({
        "update_id": NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        "callback_query": {"id": "press-1", "from": {"id": 7, "is_bot": false, "first_name": "Ana"},
            "message": {"message_id": 5, "date": 1_700_000_000, "chat": {"id": ALLOWED, "type": "private"},
                        "text": proposal["text"]},
            "chat_instance": "-42", "data": approve}
    });
    let (status, _) = s.post_update(&press, Some(SECRET)).await;
    assert_eq!(status, 200);
    let done = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("Done: "))
        .await;
    assert!(
        done["text"]
            .as_str()
            .unwrap()
            .starts_with("Done: created project \"Launch\"; added 2 tasks (#"),
        "{done}"
    );
    assert!(done.get("reply_markup").is_none(), "{done}");
    let answers = s.telegram.calls("answerCallbackQuery");
    assert_eq!(answers[0]["callback_query_id"], "press-1");
    assert_eq!(answers[0]["text"], "Approved: on it.");
    // The plan's message (the one the relay sent) says who approved it and loses its
    // buttons; the toast is not repeated as a message of its own.
    let edits = s.telegram.calls("editMessageText");
    assert_eq!(edits[0]["message_id"], proposal["message_id"]);
    assert!(
        edits[0]["text"]
            .as_str()
            .unwrap()
            .ends_with("✅ Approved by Ana: on it…"),
        "{edits:?}"
    );
    assert_eq!(edits[0]["reply_markup"], json!({"inline_keyboard": []}));
    assert!(
        !s.telegram
            .texts_to(ALLOWED)
            .contains(&"Approved: on it.".to_owned())
    );
    assert_eq!(
        s.app
            .client
            .projects()
            .list()
            .send()
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // Pressing again finds nothing waiting (a toast, and the buttons go).
    let (status, _) = s.post_update(&press, Some(SECRET)).await;
    assert_eq!(status, 200);
    crate::chief::wait_until("the second press to be answered", || async {
        s.telegram.calls("answerCallbackQuery").len() == 2
    })
    .await;
    let answers = s.telegram.calls("answerCallbackQuery");
    assert_eq!(
        answers.last().unwrap()["text"],
        "That plan is no longer waiting for an answer."
    );
    let cleared = s.telegram.calls("editMessageReplyMarkup");
    assert_eq!(cleared.last().unwrap()["message_id"], 5);

    // The chat follows the plan's work: a line when a task starts, quietly; a question
    // the task asks, with a sound.
    let project = s.app.client.projects().list().send().await.unwrap().items[0].id;
    let agent = s.app.agent("launcher").await;
    let claimed = s
        .app
        .client
        .tasks()
        .claim(ClaimIn {
            agent_id: agent,
            kinds: None,
            labels: None,
            project_id: Some(project),
            limit: Some(1),
            lease_seconds: None,
            complete: None,
        })
        .await
        .unwrap()
        .tasks
        .remove(0);
    let started = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.ends_with("\"draft\" started"))
        .await;
    assert_eq!(started["disable_notification"], true, "{started}");
    s.app
        .client
        .tasks()
        .block(
            claimed.task.id,
            BlockIn {
                claim_token: claimed.claim_token,
                reason: "Which launch date?".into(),
            },
        )
        .await
        .unwrap();
    let asked = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.contains("needs an answer: Which launch date?")
        })
        .await;
    assert_ne!(asked["disable_notification"], true, "{asked}");
    // With the buttons of a blocked task's notice: ✍ Answer, 🚫 Cancel, ℹ Status.
    let row = &asked["reply_markup"]["inline_keyboard"][0];
    assert_eq!(row[0]["text"], "✍ Answer", "{asked}");
    assert_eq!(
        row[0]["callback_data"],
        format!("answer:{}", claimed.task.id)
    );
    // The operators' notice of it goes to the other chats, not again to this one.
    s.telegram
        .wait_for_message(101, |t| t.contains("needs you: Which launch date?"))
        .await;
    assert_eq!(
        s.telegram
            .texts_to(ALLOWED)
            .iter()
            .filter(|t| t.contains("Which launch date?"))
            .count(),
        1,
        "{:?}",
        s.telegram.texts_to(ALLOWED)
    );
    // `/progress off` turns the lines off for this chat (questions and reports stay).
    s.say(ALLOWED, "/progress").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("Say /progress on"))
        .await;
    s.say(ALLOWED, "/progress off").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("OK: no progress lines here."))
        .await;

    // Other chats never saw the rest of it.
    assert!(
        s.telegram
            .texts_to(101)
            .iter()
            .all(|t| !t.contains("Launch") || t.contains("needs you: Which launch date?")),
        "{:?}",
        s.telegram.texts_to(101)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_strangers_and_bad_webhook_calls() {
    let s = stack().await;
    s.say(ALLOWED, "/start").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("I am the AgentOps bot."))
        .await;
    s.say(ALLOWED, "/status@agentops_test_bot").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t == "There are no tasks yet.")
        .await;
    s.say(ALLOWED, "/agents").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t == "No agent has registered yet.")
        .await;
    s.app.agent("writer").await;
    s.say(ALLOWED, "/agents").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("writer (custom) — online, last seen ")
        })
        .await;
    s.say(ALLOWED, "/projects").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("There are no projects yet."))
        .await;
    s.say(ALLOWED, "/task").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t == "Say: /task TITLE to PROJECT")
        .await;
    s.say(ALLOWED, "/busy").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("Say /busy enqueue"))
        .await;
    s.say(ALLOWED, "/busy interrupt").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("OK: a message you send while I am still busy here stops what I am doing")
        })
        .await;
    s.say(ALLOWED, "/dance").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("I do not know /dance."))
        .await;
    let voice = json!({
        "update_id": NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        "message": {"message_id": 2, "date": 0, "chat": {"id": ALLOWED, "type": "private"},
                    "voice": {"file_id": "f", "file_unique_id": "u", "duration": 3,
                              "mime_type": "audio/ogg", "file_size": 4242}}
    });
    // A voice note Telegram cannot hand over.
    s.post_update(&voice, Some(SECRET)).await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("🎙 I could not fetch that recording from Telegram")
        })
        .await;

    s.say(STRANGER, "create project Evil").await;
    s.telegram
        .wait_for_message(STRANGER, |t| {
            t.contains("not paired with me yet") && t.contains("/pair ")
        })
        .await;
    // Told once an hour at most, however often it writes.
    s.say(STRANGER, "hello?").await;
    s.say(STRANGER, "hello??").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.telegram.texts_to(STRANGER).len(), 1);

    let (status, body) = s.post_update(&text_update(ALLOWED, "hi"), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = s
        .post_update(
            &text_update(ALLOWED, "hi"),
            Some("webhook-secret-0123456788"),
        )
        .await;
    assert_eq!(status, 401);
    let response = reqwest::Client::new()
        .post(format!("{}/telegram/webhook", s.webhook))
        .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // Nothing reached the platform from the stranger or the refused calls.
    assert!(
        s.app
            .client
            .projects()
            .list()
            .send()
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let threads = s.app.client.threads().list().send().await.unwrap().items;
    assert!(
        threads
            .iter()
            .all(|t| t.external_id.as_deref() != Some("666")),
        "{threads:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_outcomes_reach_every_allowed_chat() {
    let s = stack().await;
    let project = s.app.project().await;
    let create = |title: &str| TaskIn {
        project_id: project,
        title: title.into(),
        kind: Some("ops".into()),
        ..Default::default()
    };
    let done = s
        .app
        .client
        .tasks()
        .create(create("ship it"))
        .await
        .unwrap();
    let stuck = s.app.client.tasks().create(create("deploy")).await.unwrap();
    let agent = s.app.agent("ops-bot").await;
    let claimed = s
        .app
        .client
        .tasks()
        .claim(ClaimIn {
            agent_id: agent,
            kinds: Some(vec!["ops".into()]),
            labels: None,
            project_id: None,
            limit: Some(2),
            lease_seconds: None,
            complete: None,
        })
        .await
        .unwrap();
    for claim in claimed.tasks {
        if claim.task.id == done.id {
            s.app
                .client
                .tasks()
                .complete(
                    claim.task.id,
                    CompleteIn {
                        claim_token: claim.claim_token,
                        result: None,
                    },
                )
                .await
                .unwrap();
        } else {
            s.app
                .client
                .tasks()
                .block(
                    claim.task.id,
                    BlockIn {
                        claim_token: claim.claim_token,
                        reason: "which region?".into(),
                    },
                )
                .await
                .unwrap();
        }
    }
    let code = |id: uuid::Uuid| {
        let hex = id.simple().to_string();
        hex[hex.len() - 6..].to_owned()
    };
    for chat in [ALLOWED, 101] {
        s.telegram
            .wait_for_message(chat, |t| {
                t == format!("✅ Task #{} \"ship it\" completed in p.", code(done.id))
            })
            .await;
        s.telegram
            .wait_for_message(chat, |t| {
                t == format!(
                    "⏸ Task #{} \"deploy\" in p needs you: which region?\nAnswer with: unblock #{} with <your answer>",
                    code(stuck.id),
                    code(stuck.id)
                )
            })
            .await;
    }
    assert!(s.telegram.texts_to(STRANGER).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_resumes_after_a_restart_and_rides_out_telegram_failures() {
    let mut s = stack().await;
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;
    let sent = |texts: Vec<String>, title: &str| {
        texts
            .iter()
            .filter(|t| t.contains(&format!("\"{title}\" completed")))
            .count()
    };
    s.complete_task(project, agent, "first").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"first\" completed"))
        .await;

    // The bot goes down, and work completes meanwhile.
    s.stop_relay().await;
    let second = s.complete_task(project, agent, "second").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sent(s.telegram.texts_to(ALLOWED), "second"), 0);

    // It comes back to a flaky Telegram: flood control twice, and a chat that blocked it.
    s.telegram.refuse_sends(2, 429, Some(1));
    s.telegram.block_chat(101);
    s.relay = start_relay(&s.bot, &s.stop);
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"second\" completed"))
        .await;
    // The blocked chat comes after the allowed one, so its refusal may still be on its way.
    for _ in 0..200 {
        if s.telegram.refused() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(s.telegram.refused(), 3, "two 429s, then the blocked chat");

    // Each outcome reached the chat once: the saved cursor kept "first" from being resent.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let texts = s.telegram.texts_to(ALLOWED);
    assert_eq!(sent(texts.clone(), "first"), 1, "{texts:?}");
    assert_eq!(sent(texts.clone(), "second"), 1, "{texts:?}");
    let completed = s
        .app
        .client
        .events()
        .list()
        .types(["task.completed"])
        .task(second.id)
        .since(0)
        .send()
        .await
        .unwrap()
        .items;
    // The cursor is saved once the whole batch is delivered; give it the time a busy
    // machine needs rather than asserting at once.
    let mut cursor = None;
    for _ in 0..200 {
        cursor = s
            .app
            .client
            .events()
            .cursor(s.bot.cursor_name())
            .await
            .unwrap();
        if cursor
            .as_ref()
            .is_some_and(|c| c.last_id >= completed[0].id)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let cursor = cursor.expect("the relay saved its cursor");
    assert!(cursor.last_id >= completed[0].id, "{cursor:?}");
    assert_eq!(s.bot.cursor_name(), "telegram.123456");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_control_on_one_chat_does_not_repeat_the_message_to_another() {
    let s = stack().await;
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;
    // Chat 101 is over its flood limit: its next two sends get 429. Chat 100, sent to
    // first, must not get the message again with every retry.
    s.telegram.refuse_sends_to(101, 2, 429, Some(1));
    s.complete_task(project, agent, "busy").await;
    s.telegram
        .wait_for_message(101, |t| t.contains("\"busy\" completed"))
        .await;
    assert_eq!(s.telegram.refused(), 2);
    for chat in [ALLOWED, 101] {
        let texts = s.telegram.texts_to(chat);
        let busy = texts.iter().filter(|t| t.contains("\"busy\"")).count();
        assert_eq!(busy, 1, "chat {chat}: {texts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_are_told_when_a_budget_nears_and_reaches_its_limit() {
    use agentops_sdk::types::{BudgetIn, BudgetPeriod, BudgetTarget, UsageIn};
    let s = stack().await;
    s.app
        .client
        .budgets()
        .create(BudgetIn {
            name: "team".into(),
            applies_to: BudgetTarget::All,
            subject: None,
            period: BudgetPeriod::Day,
            time_zone: None,
            limit_tokens: 1000,
            limit_cost_usd: None,
            enabled: None,
        })
        .await
        .unwrap();
    for tokens in [850, 200] {
        s.app
            .client
            .usage()
            .record(UsageIn {
                provider: "p".into(),
                model: "m".into(),
                tokens_in: tokens,
                ..UsageIn::default()
            })
            .await
            .unwrap();
    }
    for chat in [ALLOWED, 101] {
        s.telegram
            .wait_for_message(chat, |t| {
                t.starts_with("⚠️ Budget \"team\" is over 80 %: 850 of 1000 tokens spent this day.")
            })
            .await;
        s.telegram
            .wait_for_message(chat, |t| {
                t.starts_with("⛔ Budget \"team\" is spent (1050 of 1000 tokens this day)")
            })
            .await;
    }
    // `/usage` says what was spent today and where each budget stands.
    s.say(ALLOWED, "/usage").await;
    let usage = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("Today: 2 LLM calls"))
        .await;
    let text = usage["text"].as_str().unwrap();
    assert!(text.contains("• m: 1050 tokens in 2 calls"), "{text}");
    assert!(
        text.contains("Budget \"team\": 1050 of 1000 tokens this day, 0 left."),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seventy_completions_reach_a_chat_as_a_few_digests_within_telegrams_limits() {
    let s = stack().await;
    s.telegram.enforce_flood_limits();
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;
    for i in 0..70 {
        s.complete_task(project, agent, &format!("step {i}")).await;
    }
    // Every completion is counted in what the chat got: alone, or in a digest.
    let told = |texts: &[String]| -> usize {
        texts
            .iter()
            .map(|t| {
                if t.starts_with("✅ Task ") {
                    1
                } else {
                    t.strip_prefix("✅ ")
                        .and_then(|rest| rest.split(' ').next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0)
                }
            })
            .sum()
    };
    let mut texts = Vec::new();
    for _ in 0..400 {
        texts = s.telegram.texts_to(ALLOWED);
        if told(&texts) >= 70 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(told(&texts), 70, "{texts:?}");
    assert!(texts.len() <= 8, "{} messages: {texts:?}", texts.len());
    // Within Telegram's limits: about a second apart, none refused for flooding, and
    // the routine news without a sound.
    let arrivals = s.telegram.arrivals_to(ALLOWED);
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(900), "{gap:?} between sends");
    }
    assert_eq!(s.telegram.flooded(), 0);
    assert!(
        s.telegram
            .calls("sendMessage")
            .iter()
            .filter(|c| c["chat_id"] == ALLOWED)
            .all(|c| c["disable_notification"] == true)
    );
    // A digest names the tasks (up to a limit) and their project.
    let digest = texts
        .iter()
        .find(|t| t.contains(" tasks completed in p:"))
        .unwrap();
    assert!(digest.contains("• #"), "{digest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_cursor_was_pruned_goes_on_with_what_retention_kept() {
    let mut s = stack().await;
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;

    // The bot is down longer than the platform keeps events: the oldest of what
    // happened meanwhile is pruned, its saved cursor with it; the newest is kept.
    s.stop_relay().await;
    s.complete_task(project, agent, "pruned").await;
    let pruned = s.app.client.events().latest().await.unwrap().last_id;
    s.complete_task(project, agent, "kept").await;
    let state = &s.app.server.state;
    agentops_testkit::age_events(state, pruned, chrono::Duration::days(400)).await;
    agentops_api::reaper::prune_events(state).await.unwrap();
    let read = s.app.client.events().list().since(0).send().await;
    assert_eq!(read.unwrap_err().code(), Some("cursor_expired"));
    let head = s.app.client.events().latest().await.unwrap();
    assert_eq!(head.pruned_through, pruned);

    // Back up, it finds its cursor expired and goes on after what was pruned: what was
    // kept still reaches the chats, and what comes next too.
    s.relay = start_relay(&s.bot, &s.stop);
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"kept\" completed"))
        .await;
    s.complete_task(project, agent, "after").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"after\" completed"))
        .await;
    let texts = s.telegram.texts_to(ALLOWED);
    assert!(!texts.iter().any(|t| t.contains("pruned")), "{texts:?}");
    s.wait_for_cursor(head.last_id + 1).await;

    // Down again, and this time retention prunes every event: it goes on from the head,
    // which has not fallen back to 0.
    s.stop_relay().await;
    s.complete_task(project, agent, "gone").await;
    let head = s.app.client.events().latest().await.unwrap().last_id;
    let state = &s.app.server.state;
    agentops_testkit::age_events(state, head, chrono::Duration::days(400)).await;
    agentops_api::reaper::prune_events(state).await.unwrap();
    s.relay = start_relay(&s.bot, &s.stop);
    s.wait_for_cursor(head).await;
    s.complete_task(project, agent, "last").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"last\" completed"))
        .await;
    let texts = s.telegram.texts_to(ALLOWED);
    assert!(!texts.iter().any(|t| t.contains("\"gone\"")), "{texts:?}");
}

/// A Chief of Staff that takes each call and holds it until the test lets it answer,
/// then answers 503.
struct HeldChief {
    url: String,
    arrived: std::sync::Arc<tokio::sync::Notify>,
    answer: std::sync::Arc<tokio::sync::Semaphore>,
}

async fn held_chief() -> HeldChief {
    let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
    let answer = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let handler = {
        let (arrived, answer) = (arrived.clone(), answer.clone());
        move || async move {
            arrived.notify_one();
            answer.acquire().await.unwrap().forget();
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"error": {"code": "overloaded", "message": "try later"}})),
            )
        }
    };
    let url = serve(axum::Router::new().fallback(handler)).await;
    HeldChief {
        url,
        arrived,
        answer,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_waits_for_the_chats_the_webhook_accepted() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let telegram = BotStandIn::spawn().await;
    let chief = held_chief().await;
    let bot = new_bot(&app, &telegram, chief.url.clone(), &[ALLOWED]);
    let inflight = TaskTracker::new();
    let webhook = serve_webhook(&bot, &inflight).await;
    // Telegram gets its 200 while the Chief of Staff still holds the chat.
    let update = text_update(ALLOWED, "plan the launch");
    assert_eq!(post_update(&webhook, &update, Some(SECRET)).await.0, 200);
    chief.arrived.notified().await;

    // The shutdown waits for that chat...
    let drain = tokio::spawn({
        let inflight = inflight.clone();
        async move { agentops::telegram::drain(&inflight, Duration::from_secs(60)).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !drain.is_finished(),
        "the drain returned with a chat in progress"
    );
    assert!(telegram.texts_to(ALLOWED).is_empty());

    // ...and returns once the chat is answered.
    chief.answer.add_permits(1);
    assert_eq!(drain.await.unwrap(), 0, "every chat finished");
    // The answer is on the platform, in the chat's thread, for the relay to send.
    let thread = app
        .client
        .threads()
        .list()
        .channel("telegram")
        .send()
        .await
        .unwrap()
        .items[0]
        .id;
    let said = app
        .client
        .threads()
        .messages(thread)
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(
        said[0].text,
        "Sorry, the Chief of Staff is unavailable: try later"
    );
    assert_eq!(
        said[0].author.as_deref(),
        Some(agentops_telegram::BOT_AUTHOR)
    );

    // A chat that outlives the bound is given up on, and counted.
    let inflight = TaskTracker::new();
    let webhook = serve_webhook(&bot, &inflight).await;
    let update = text_update(ALLOWED, "another plan");
    assert_eq!(post_update(&webhook, &update, Some(SECRET)).await.0, 200);
    chief.arrived.notified().await;
    assert_eq!(
        agentops::telegram::drain(&inflight, Duration::from_millis(100)).await,
        1
    );
    chief.answer.add_permits(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_reads_each_update_once() {
    let s = stack().await;
    s.telegram.queue_update(json!({
        "update_id": 500,
        "message": {"message_id": 1, "date": 0, "chat": {"id": ALLOWED, "type": "private"}, "text": "/help"}
    }));
    s.telegram.queue_update(json!({
        "update_id": 501,
        "message": {"message_id": 2, "date": 0, "chat": {"id": ALLOWED, "type": "private"}, "text": "/start"}
    }));
    let stop = CancellationToken::new();
    let polling = {
        let (bot, stop) = (s.bot.clone(), stop.clone());
        tokio::spawn(async move { bot.poll(stop).await })
    };
    for _ in 0..200 {
        if s.telegram
            .texts_to(ALLOWED)
            .iter()
            .filter(|t| t.starts_with("I am the AgentOps bot."))
            .count()
            >= 2
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a third poll the chance to (wrongly) see them again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    polling.await.unwrap().unwrap();
    assert_eq!(
        s.telegram
            .texts_to(ALLOWED)
            .iter()
            .filter(|t| t.starts_with("I am the AgentOps bot."))
            .count(),
        2
    );
    assert_eq!(s.telegram.calls("deleteWebhook").len(), 1);
    let offsets: Vec<Value> = s
        .telegram
        .calls("getUpdates")
        .into_iter()
        .map(|p| p["offset"].clone())
        .collect();
    assert!(offsets.contains(&json!(502)), "{offsets:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_telegram_command_checks_its_settings_and_registers_its_webhook() {
    let telegram = BotStandIn::spawn().await;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = [
        "agentops",
        "telegram",
        "--url",
        app.server.base.as_str(),
        "--api-key",
        ADMIN_KEY,
        "--bot-token",
        TOKEN,
        "--api-url",
        telegram.base.as_str(),
    ];
    for (extra, expected) in [
        (vec!["--allowed-chats", "12,abc"], "`abc` is not a chat id"),
        (
            vec![
                "--webhook-url",
                "http://bot.example.com/hook",
                "--webhook-secret",
                SECRET,
            ],
            "must be https",
        ),
        (
            vec![
                "--webhook-url",
                "https://bot.example.com/hook",
                "--webhook-secret",
                "short",
            ],
            "TELEGRAM_WEBHOOK_SECRET must be 16-256",
        ),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra).collect();
        let cli = agentops::cli::Cli::try_parse_from(args).unwrap();
        let err = agentops::cli::run(cli).await.unwrap_err();
        assert!(format!("{err:#}").contains(expected), "{err:#}");
    }
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let bind = format!("127.0.0.1:{port}");
    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain([
            "--webhook-url",
            "https://bot.example.com/telegram/webhook",
            "--webhook-secret",
            SECRET,
            "--allowed-chats",
            "100",
            "--bind",
            bind.as_str(),
        ])
        .collect();
    let run = tokio::spawn(agentops::cli::run(
        agentops::cli::Cli::try_parse_from(args).unwrap(),
    ));
    let mut health = None;
    for _ in 0..200 {
        if let Ok(response) = reqwest::get(format!("http://{bind}/health")).await {
            health = Some(response.json::<Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(health.unwrap()["status"], "ok");
    let hooks = telegram.calls("setWebhook");
    assert_eq!(hooks[0]["url"], "https://bot.example.com/telegram/webhook");
    assert_eq!(hooks[0]["secret_token"], SECRET);
    assert_eq!(telegram.calls("getMe").len(), 1);
    // The command menu is set from the commands the bot parses.
    let menu = telegram.calls("setMyCommands");
    let names: Vec<&str> = menu[0]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "/start",
            "/help",
            "/status",
            "/projects",
            "/agents",
            "/task",
            "/usage",
            "/busy",
            "/progress",
            "/notify",
            "/voice",
            "/pair",
            "/create",
            "/mine",
            "/list",
            "/talk",
            "/exit",
            "/manage",
            "/share",
            "/edit",
            "/delete",
            "/cancel"
        ]
    );
    // For every chat, and for the private and group chats' own scopes.
    let scopes: Vec<&str> = menu
        .iter()
        .map(|call| call["scope"]["type"].as_str().unwrap_or("default"))
        .collect();
    assert_eq!(scopes, ["default", "all_private_chats", "all_group_chats"]);
    assert!(
        menu.iter()
            .all(|call| call["commands"] == menu[0]["commands"])
    );
    // The webhook is served on the URL's path.
    let response = reqwest::Client::new()
        .post(format!("http://{bind}/telegram/webhook"))
        .json(&text_update(100, "/help"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401, "no secret, no entry");
    run.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_to_commands_survive_flood_control_and_failures() {
    let s = stack().await;
    s.telegram.enforce_flood_limits();
    // Telegram also refuses the first sends outright: flood control, then a bad gateway.
    s.telegram.refuse_sends(2, 429, Some(1));
    let commands = [
        "/agents",
        "/projects",
        "/status",
        "/help",
        "/agents",
        "/projects",
    ];
    for command in commands {
        s.say(ALLOWED, command).await;
    }
    let mut texts = Vec::new();
    for _ in 0..600 {
        texts = s.telegram.texts_to(ALLOWED);
        if texts.len() >= commands.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(texts.len(), commands.len(), "{texts:?}");
    // Each answer once (the Chief's answers and the bot's own share the chat's one
    // queue; updates are handled side by side, so their answers may swap places).
    let mut got: Vec<String> = texts
        .iter()
        .map(|t| t.split(['.', '\n']).next().unwrap().to_owned())
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            "I am the AgentOps bot",
            "No agent has registered yet",
            "No agent has registered yet",
            "There are no projects yet",
            "There are no projects yet",
            "There are no tasks yet",
        ],
        "{texts:?}"
    );
    s.telegram.refuse_sends(1, 502, None);
    s.say(ALLOWED, "/agents").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t == "No agent has registered yet.")
        .await;
    for _ in 0..100 {
        if s.telegram.texts_to(ALLOWED).len() == commands.len() + 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s.telegram.texts_to(ALLOWED).len(), commands.len() + 1);
}

const GROUP: i64 = -100_200;

/// A message from user `user` (`@name`) in chat `chat` of type `kind`.
fn update_from(chat: i64, kind: &str, user: i64, name: &str, text: &str) -> Value {
    json!({
        "update_id": NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        "message": {"message_id": 1, "date": 1_700_000_000, "chat": {"id": chat, "type": kind},
                    "from": {"id": user, "is_bot": false, "first_name": name, "username": name},
                    "text": text}
    })
}

/// User `user` (`@name`) presses button `data` under `message` (a sent message as the
/// stand-in kept it) in chat `chat` of type `kind`.
fn press(chat: i64, kind: &str, user: i64, name: &str, message: &Value, data: &str) -> Value {
    json!({
        "update_id": NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        "callback_query": {"id": format!("press-{}", NEXT_UPDATE.load(std::sync::atomic::Ordering::SeqCst)),
            "from": {"id": user, "is_bot": false, "first_name": name, "username": name},
            "message": {"message_id": message["message_id"], "date": 1_700_000_000,
                        "chat": {"id": chat, "type": kind}, "text": message["text"],
                        "reply_markup": message.get("reply_markup").cloned()
                            .unwrap_or_else(|| json!({"inline_keyboard": []}))},
            "chat_instance": "-42", "data": data}
    })
}

/// The button `n` (0: OK, 1: No) of a plan's message.
fn button(plan: &Value, n: usize) -> String {
    plan["reply_markup"]["inline_keyboard"][0][n]["callback_data"]
        .as_str()
        .unwrap()
        .to_owned()
}

impl Stack {
    /// Waits for an edit of message `id` whose text satisfies `check`.
    async fn wait_for_edit(&self, id: &Value, check: impl Fn(&str) -> bool) -> Value {
        for _ in 0..400 {
            if let Some(edit) = self
                .telegram
                .calls("editMessageText")
                .into_iter()
                .find(|e| e["message_id"] == *id && e["text"].as_str().is_some_and(&check))
            {
                return edit;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no such edit of message {id}: {:?}",
            self.telegram.calls("editMessageText")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plans_message_is_edited_in_place_as_the_plan_moves_on() {
    let s = stack().await;
    let ask = |text: &str| update_from(ALLOWED, "private", 7, "ana", text);
    s.post_update(
        &ask("create project Launch with tasks draft then review"),
        Some(SECRET),
    )
    .await;
    let plan = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood: a new project \"Launch\"")
        })
        .await;
    let summary = plan["text"]
        .as_str()
        .unwrap()
        .trim_end_matches("\nReply OK to go ahead.");
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &plan, &button(&plan, 0)),
        Some(SECRET),
    )
    .await;
    let approved = s
        .wait_for_edit(&plan["message_id"], |t| {
            t.ends_with("✅ Approved by @ana: on it…")
        })
        .await;
    assert!(approved["text"].as_str().unwrap().starts_with(summary));
    assert_eq!(approved["reply_markup"], json!({"inline_keyboard": []}));
    s.wait_for_edit(&plan["message_id"], |t| {
        t.ends_with("✅ Approved by @ana, and done.")
    })
    .await;
    // What the person sees keeps the order of what happened: the plan says it is
    // approved before "Done: …" arrives.
    let done = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("Done: "))
        .await;
    assert!(done["message_id"].as_i64() > plan["message_id"].as_i64());

    // Answered by typing: the buttons go too.
    s.post_update(&ask("create project Site with tasks copy"), Some(SECRET))
        .await;
    let second = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood: a new project \"Site\"")
        })
        .await;
    s.post_update(&ask("ok"), Some(SECRET)).await;
    let edit = s
        .wait_for_edit(&second["message_id"], |t| {
            t.ends_with("✅ Approved, and done.")
        })
        .await;
    assert_eq!(edit["reply_markup"], json!({"inline_keyboard": []}));

    // Dropped by writing something else; rejected with the button.
    s.post_update(&ask("create project Blog with tasks post"), Some(SECRET))
        .await;
    let third = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood: a new project \"Blog\"")
        })
        .await;
    s.post_update(&ask("actually, what's the status?"), Some(SECRET))
        .await;
    s.wait_for_edit(&third["message_id"], |t| {
        t.ends_with("so this plan will not run.")
    })
    .await;
    s.post_update(&ask("create project Shop with tasks cart"), Some(SECRET))
        .await;
    let fourth = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood: a new project \"Shop\"")
        })
        .await;
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &fourth, &button(&fourth, 1)),
        Some(SECRET),
    )
    .await;
    s.wait_for_edit(&fourth["message_id"], |t| {
        t.ends_with("✖ Rejected by @ana.")
    })
    .await;
    // The notes of finished plans are not kept.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let thread = s
        .app
        .client
        .threads()
        .list()
        .channel("telegram")
        .send()
        .await
        .unwrap()
        .items[0]
        .clone();
    let left = thread.metadata[agentops_telegram::plans::KEY]
        .as_object()
        .map_or(0, serde_json::Map::len);
    assert_eq!(left, 0, "{}", thread.metadata);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_group_only_the_asker_or_an_admin_answers_a_plan() {
    let s = stack_with(&[GROUP], agentops_telegram::USER_RATE).await;
    s.telegram.make_admin(GROUP, 9);
    s.post_update(
        &update_from(
            GROUP,
            "group",
            7,
            "ana",
            "create project Launch with tasks draft",
        ),
        Some(SECRET),
    )
    .await;
    let plan = s
        .telegram
        .wait_for_message(GROUP, |t| {
            t.starts_with("Understood: a new project \"Launch\"")
        })
        .await;
    // Someone else in the group: refused, with a toast.
    s.post_update(
        &press(GROUP, "group", 8, "bob", &plan, &button(&plan, 0)),
        Some(SECRET),
    )
    .await;
    crate::chief::wait_until("the refusal", || async {
        !s.telegram.calls("answerCallbackQuery").is_empty()
    })
    .await;
    assert_eq!(
        s.telegram.calls("answerCallbackQuery")[0]["text"],
        "Only the person who asked for this plan, or an admin of this chat, can answer it."
    );
    let approval = s.app.client.approvals().list().send().await.unwrap().items[0].clone();
    assert_eq!(
        approval.status,
        agentops_sdk::types::ApprovalStatus::Pending
    );
    // An admin may: the plan says who approved it.
    s.post_update(
        &press(GROUP, "group", 9, "carol", &plan, &button(&plan, 0)),
        Some(SECRET),
    )
    .await;
    s.wait_for_edit(&plan["message_id"], |t| t.contains("✅ Approved by @carol"))
        .await;
    // And so may the person who asked.
    s.post_update(
        &update_from(
            GROUP,
            "group",
            7,
            "ana",
            "create project Site with tasks copy",
        ),
        Some(SECRET),
    )
    .await;
    let second = s
        .telegram
        .wait_for_message(GROUP, |t| {
            t.starts_with("Understood: a new project \"Site\"")
        })
        .await;
    s.post_update(
        &press(GROUP, "group", 7, "ana", &second, &button(&second, 0)),
        Some(SECRET),
    )
    .await;
    s.wait_for_edit(&second["message_id"], |t| t.contains("✅ Approved by @ana"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_writing_too_fast_is_asked_to_wait_once() {
    let s = stack_with(&[ALLOWED], 3).await;
    for _ in 0..6 {
        s.post_update(
            &update_from(ALLOWED, "private", 7, "ana", "/help"),
            Some(SECRET),
        )
        .await;
    }
    crate::chief::wait_until("the answers", || async {
        s.telegram.texts_to(ALLOWED).len() >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let texts = s.telegram.texts_to(ALLOWED);
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("I am the AgentOps bot."))
            .count(),
        3,
        "{texts:?}"
    );
    let waits: Vec<&String> = texts
        .iter()
        .filter(|t| {
            t.starts_with("You are writing faster than I can take it (3 messages a minute).")
        })
        .collect();
    assert_eq!(waits.len(), 1, "{texts:?}");
    // Someone else in the chat is not held back by it.
    s.post_update(
        &update_from(ALLOWED, "private", 8, "bob", "/help"),
        Some(SECRET),
    )
    .await;
    crate::chief::wait_until("bob's answer", || async {
        s.telegram
            .texts_to(ALLOWED)
            .iter()
            .filter(|t| t.starts_with("I am the AgentOps bot."))
            .count()
            == 4
    })
    .await;
}

impl Stack {
    /// Creates a task `title` (one attempt) in `project` and claims it as `agent`:
    /// the task and the claim's token.
    async fn claimed_task(
        &self,
        project: uuid::Uuid,
        agent: uuid::Uuid,
        title: &str,
    ) -> (TaskOut, uuid::Uuid) {
        let tasks = self.app.client.tasks();
        let task = tasks
            .create(TaskIn {
                project_id: project,
                title: title.into(),
                kind: Some("ops".into()),
                max_attempts: Some(1),
                ..Default::default()
            })
            .await
            .unwrap();
        let claim = tasks
            .claim(ClaimIn {
                agent_id: agent,
                kinds: Some(vec!["ops".into()]),
                labels: None,
                project_id: Some(project),
                limit: Some(1),
                lease_seconds: None,
                complete: None,
            })
            .await
            .unwrap()
            .tasks
            .remove(0);
        (task, claim.claim_token)
    }

    /// Creates a task `title` in `project`, claims it as `agent` and ends it with
    /// `how`: "complete", "fail" (for good) or "block" (asking "which region?").
    async fn end_task(
        &self,
        project: uuid::Uuid,
        agent: uuid::Uuid,
        title: &str,
        how: &str,
    ) -> TaskOut {
        let tasks = self.app.client.tasks();
        let (task, token) = self.claimed_task(project, agent, title).await;
        match how {
            "complete" => tasks
                .complete(
                    task.id,
                    CompleteIn {
                        claim_token: token,
                        result: None,
                    },
                )
                .await
                .unwrap(),
            "fail" => tasks
                .fail(
                    task.id,
                    FailIn {
                        claim_token: token,
                        error: "disk full".into(),
                        retryable: Some(false),
                    },
                )
                .await
                .unwrap(),
            _ => tasks
                .block(
                    task.id,
                    BlockIn {
                        claim_token: token,
                        reason: "which region?".into(),
                    },
                )
                .await
                .unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_chooses_its_news_with_notify() {
    let s = stack().await;
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;
    s.say(ALLOWED, "/notify failed").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("This chat gets: failed."))
        .await;
    s.end_task(project, agent, "quiet", "complete").await;
    s.end_task(project, agent, "loud", "fail").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"loud\" failed in p: disk full"))
        .await;
    // The other chat still gets everything.
    s.telegram
        .wait_for_message(101, |t| t.contains("\"quiet\" completed"))
        .await;
    assert!(
        !s.telegram
            .texts_to(ALLOWED)
            .iter()
            .any(|t| t.contains("\"quiet\""))
    );
    s.say(ALLOWED, "/notify loud things").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("I do not know the news \"loud\"")
        })
        .await;
    s.say(ALLOWED, "/notify off").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("This chat gets no news"))
        .await;
    s.end_task(project, agent, "hushed", "fail").await;
    s.telegram
        .wait_for_message(101, |t| t.contains("\"hushed\" failed"))
        .await;
    s.say(ALLOWED, "/notify on").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("This chat gets all the news"))
        .await;
    s.end_task(project, agent, "back", "complete").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"back\" completed"))
        .await;
    assert!(
        !s.telegram
            .texts_to(ALLOWED)
            .iter()
            .any(|t| t.contains("\"hushed\""))
    );
    // The choice is kept on the platform: a restarted bot keeps it.
    let thread = s
        .app
        .client
        .threads()
        .list()
        .channel("telegram")
        .send()
        .await
        .unwrap()
        .items;
    let mine = thread
        .iter()
        .find(|t| t.external_id.as_deref() == Some("100"))
        .unwrap();
    assert_eq!(
        mine.metadata[agentops_telegram::NOTIFY_KEY],
        serde_json::Value::Null
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_task_is_answered_cancelled_or_looked_at_from_its_notice() {
    let s = stack().await;
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;
    let stuck = s.end_task(project, agent, "deploy", "block").await;
    let odd = s
        .end_task(project, agent, "fix <b> & </i> tags", "complete")
        .await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"fix <b> & </i> tags\" completed"))
        .await;
    drop(odd);
    let notice = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"deploy\" in p needs you"))
        .await;
    // Formatted (Telegram's HTML, which the stand-in parses as Telegram does).
    let html = notice["html"].as_str().unwrap();
    assert!(html.contains("<b>Task #"), "{html}");
    assert!(html.contains("<code>unblock #"), "{html}");
    let buttons = &notice["reply_markup"]["inline_keyboard"][0];
    assert_eq!(buttons[0]["callback_data"], format!("answer:{}", stuck.id));
    assert_eq!(buttons[1]["callback_data"], format!("cancel:{}", stuck.id));
    assert_eq!(buttons[2]["callback_data"], format!("status:{}", stuck.id));

    // Status, then Answer: the bot asks, and the reply to its question is the answer.
    let status = format!("status:{}", stuck.id);
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &notice, &status),
        Some(SECRET),
    )
    .await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.contains("\"deploy\" in p: blocked (0 of 1 attempts used).\nIt needs: which region?")
        })
        .await;
    let answer = format!("answer:{}", stuck.id);
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &notice, &answer),
        Some(SECRET),
    )
    .await;
    let question = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("✍ Your answer for #"))
        .await;
    assert_eq!(question["reply_markup"]["force_reply"], true);
    let reply = json!({
        "update_id": NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        "message": {"message_id": 77, "date": 1_700_000_000, "chat": {"id": ALLOWED, "type": "private"},
                    "from": {"id": 7, "is_bot": false, "first_name": "Ana", "username": "ana"},
                    "text": "eu-west, please",
                    "reply_to_message": {"message_id": question["message_id"], "date": 1_700_000_000,
                        "chat": {"id": ALLOWED, "type": "private"},
                        "from": {"id": 123_456, "is_bot": true, "first_name": "AgentOps", "username": "agentops_test_bot"},
                        "text": question["text"]}}
    });
    s.post_update(&reply, Some(SECRET)).await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.contains("is back in the queue with your answer")
        })
        .await;
    let task = s.app.client.tasks().get(stuck.id).await.unwrap();
    assert_eq!(task.status, TaskStatus::Queued);
    assert_eq!(task.progress_message.as_deref(), Some("eu-west, please"));

    // Cancel: the task is cancelled, and that is told like any outcome.
    let elsewhere = s.app.project().await;
    let other = s.end_task(elsewhere, agent, "migrate", "block").await;
    let notice = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"migrate\" in p needs you"))
        .await;
    let cancel = format!("cancel:{}", other.id);
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &notice, &cancel),
        Some(SECRET),
    )
    .await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.contains("\"migrate\" cancelled in p: cancelled on Telegram by @ana")
        })
        .await;
    assert_eq!(
        s.app.client.tasks().get(other.id).await.unwrap().status,
        TaskStatus::Cancelled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_confirmed_before_a_crash_is_handled_at_the_next_start() {
    let s = stack().await;
    let inbox = || async {
        let threads = s
            .app
            .client
            .threads()
            .list()
            .channel("telegram")
            .send()
            .await
            .unwrap()
            .items;
        threads
            .iter()
            .find(|t| t.external_id.as_deref() == Some("100"))
            .and_then(|t| t.metadata.get(agentops_telegram::INBOX_KEY))
            .and_then(Value::as_object)
            .map_or(0, serde_json::Map::len)
    };
    // The webhook keeps the update on the platform, then confirms it to Telegram...
    let update: agentops_telegram::Update =
        serde_json::from_str(&text_update(ALLOWED, "/agents").to_string()).unwrap();
    let accepted = s.bot.accept(update).await.unwrap();
    assert_eq!(inbox().await, 1);
    // ...and the process dies before handling it.
    drop(accepted);
    assert!(s.telegram.texts_to(ALLOWED).is_empty());

    let restarted = new_bot(
        &s.app,
        &s.telegram,
        "http://127.0.0.1:9".into(),
        &[ALLOWED, 101],
    );
    assert_eq!(restarted.recover().await.unwrap(), 1);
    s.telegram
        .wait_for_message(ALLOWED, |t| t == "No agent has registered yet.")
        .await;
    assert_eq!(inbox().await, 0, "a handled update is let go");
    assert_eq!(
        restarted.recover().await.unwrap(),
        0,
        "and not handled twice"
    );
    // Handled the normal way, it leaves nothing behind either.
    s.say(ALLOWED, "/agents").await;
    crate::chief::wait_until("the second answer", || async {
        s.telegram.texts_to(ALLOWED).len() == 2
    })
    .await;
    crate::chief::wait_until("the inbox to empty", || async { inbox().await == 0 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_project_list_is_paged_with_buttons_in_one_message() {
    let s = stack().await;
    for i in 0..25 {
        s.app
            .client
            .projects()
            .create(agentops_sdk::types::ProjectIn {
                name: format!("Project {i:02}"),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    s.say(ALLOWED, "/projects").await;
    let list = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("25 projects, page 1 of 3:"))
        .await;
    let text = list["text"].as_str().unwrap();
    assert_eq!(text.lines().count(), 11, "{text}");
    assert!(
        text.contains("• Project 24: no tasks yet"),
        "newest first: {text}"
    );
    let next = button(&list, 0);
    assert_eq!(next, "projects:2");
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &list, &next),
        Some(SECRET),
    )
    .await;
    let page = s
        .wait_for_edit(&list["message_id"], |t| {
            t.starts_with("25 projects, page 2 of 3:")
        })
        .await;
    let labels: Vec<&str> = page["reply_markup"]["inline_keyboard"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["◀ Back", "Next ▶"]);
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &list, "projects:3"),
        Some(SECRET),
    )
    .await;
    let last = s
        .wait_for_edit(&list["message_id"], |t| {
            t.starts_with("25 projects, page 3 of 3:")
        })
        .await;
    assert!(last["text"].as_str().unwrap().contains("• Project 00"));
    assert_eq!(
        last["reply_markup"]["inline_keyboard"][0][0]["text"],
        "◀ Back"
    );
    assert!(last["reply_markup"]["inline_keyboard"][0].get(1).is_none());
    // Still one message: the pages were turned in place.
    assert_eq!(
        s.telegram
            .texts_to(ALLOWED)
            .iter()
            .filter(|t| t.contains("projects, page"))
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_shown_as_replies_to_the_message_they_answer() {
    let s = stack().await;
    let message = |id: i64, text: &str| {
        json!({
            "update_id": NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            "message": {"message_id": id, "date": 1_700_000_000, "chat": {"id": ALLOWED, "type": "private"},
                        "from": {"id": 7, "is_bot": false, "first_name": "Ana", "username": "ana"},
                        "text": text}
        })
    };
    // The Chief of Staff's answer...
    s.post_update(&message(42, "what projects do we have?"), Some(SECRET))
        .await;
    let answer = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("There are no projects yet"))
        .await;
    assert_eq!(answer["reply_parameters"]["message_id"], 42, "{answer}");
    // ...and the bot's own.
    s.post_update(&message(43, "/agents"), Some(SECRET)).await;
    let agents = s
        .telegram
        .wait_for_message(ALLOWED, |t| t == "No agent has registered yet.")
        .await;
    assert_eq!(agents["reply_parameters"]["message_id"], 43, "{agents}");
    // News is not a reply to anything.
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;
    s.complete_task(project, agent, "done").await;
    let news = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"done\" completed"))
        .await;
    assert!(news.get("reply_parameters").is_none(), "{news}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_approved_while_the_bot_was_down_has_its_message_brought_up_to_date() {
    let mut s = stack().await;
    s.say(ALLOWED, "create project Launch with tasks draft")
        .await;
    let plan = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood: a new project \"Launch\"")
        })
        .await;
    // The message is noted on the platform once sent.
    let thread = s
        .app
        .client
        .threads()
        .list()
        .channel("telegram")
        .send()
        .await
        .unwrap()
        .items[0]
        .id;
    crate::chief::wait_until("the plan's note", || async {
        let metadata = s.app.client.threads().get(thread).await.unwrap().metadata;
        metadata[agentops_telegram::plans::KEY]
            .as_object()
            .is_some_and(|plans| plans.values().any(|n| n["message"] == plan["message_id"]))
    })
    .await;

    // The bot goes down; the plan is approved elsewhere (the dashboard) and carried out.
    s.stop_relay().await;
    let approval = s.app.client.approvals().list().send().await.unwrap().items[0].clone();
    s.app.client.approvals().approve(approval.id).await.unwrap();
    crate::chief::wait_until("the plan to be carried out", || async {
        s.app
            .client
            .approvals()
            .get(approval.id)
            .await
            .unwrap()
            .status
            == agentops_sdk::types::ApprovalStatus::Executed
    })
    .await;
    assert!(s.telegram.calls("editMessageText").is_empty());

    // Back up, the bot brings the plan's message up to date, then says what was done.
    s.relay = start_relay(&s.bot, &s.stop);
    let edit = s
        .wait_for_edit(&plan["message_id"], |t| {
            t.ends_with("✅ Approved, and done.")
        })
        .await;
    assert_eq!(edit["reply_markup"], json!({"inline_keyboard": []}));
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Done: created project \"Launch\"")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_button_cannot_answer_another_chats_plan() {
    let s = stack().await;
    s.say(ALLOWED, "create project Launch with tasks draft")
        .await;
    let plan = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood: a new project \"Launch\"")
        })
        .await;
    // Chat 101 (allowed too) sends the OK of chat 100's plan: a client can send any
    // callback data.
    let forged = press(101, "private", 8, "mallory", &plan, &button(&plan, 0));
    s.post_update(&forged, Some(SECRET)).await;
    crate::chief::wait_until("the refusal", || async {
        !s.telegram.calls("answerCallbackQuery").is_empty()
    })
    .await;
    assert_eq!(
        s.telegram.calls("answerCallbackQuery")[0]["text"],
        "That plan is not this chat's."
    );
    let approval = s.app.client.approvals().list().send().await.unwrap().items[0].clone();
    assert_eq!(
        approval.status,
        agentops_sdk::types::ApprovalStatus::Pending
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_group_typing_ok_answers_a_plan_only_for_the_asker_or_an_admin() {
    let s = stack_with(&[GROUP], agentops_telegram::USER_RATE).await;
    s.telegram.make_admin(GROUP, 9);
    s.post_update(
        &update_from(
            GROUP,
            "group",
            7,
            "ana",
            "create project Launch with tasks draft",
        ),
        Some(SECRET),
    )
    .await;
    s.telegram
        .wait_for_message(GROUP, |t| {
            t.starts_with("Understood: a new project \"Launch\"")
        })
        .await;
    let approval = s.app.client.approvals().list().send().await.unwrap().items[0].id;
    // Bob types "ok", then chats: the plan neither runs nor is replaced.
    s.post_update(&update_from(GROUP, "group", 8, "bob", "ok"), Some(SECRET))
        .await;
    s.telegram
        .wait_for_message(GROUP, |t| {
            t.starts_with("Only the person who asked for this plan")
        })
        .await;
    s.post_update(
        &update_from(GROUP, "group", 8, "bob", "what projects do we have?"),
        Some(SECRET),
    )
    .await;
    s.telegram
        .wait_for_message(GROUP, |t| t.starts_with("There are no projects yet"))
        .await;
    assert_eq!(
        s.app.client.approvals().get(approval).await.unwrap().status,
        agentops_sdk::types::ApprovalStatus::Pending
    );
    // The admin's "ok" does.
    s.post_update(&update_from(GROUP, "group", 9, "carol", "ok"), Some(SECRET))
        .await;
    crate::chief::wait_until("the plan to be approved", || async {
        s.app.client.approvals().get(approval).await.unwrap().status
            != agentops_sdk::types::ApprovalStatus::Pending
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_with_a_very_long_error_still_reaches_the_chat_within_the_limit() {
    let s = stack().await;
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;
    let tasks = s.app.client.tasks();
    let (task, token) = s.claimed_task(project, agent, "crunch").await;
    tasks
        .fail(
            task.id,
            FailIn {
                claim_token: token,
                error: "a <long> & winding error ".repeat(380),
                retryable: Some(false),
            },
        )
        .await
        .unwrap();
    let notice = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.contains("\"crunch\" failed in p: a <long> & winding")
        })
        .await;
    assert!(notice["text"].as_str().unwrap().chars().count() <= 4096);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_is_reported_to_the_operators_once_when_it_ends() {
    use agentops_sdk::types::{DeploymentIn, DeploymentPatch, DeploymentStatus};
    let s = stack().await;
    let deployments = s.app.client.deployments();
    let deployment = deployments
        .create(DeploymentIn {
            git_sha: "abc1234def".into(),
            branch: Some("main".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let step = |status: DeploymentStatus, report: Option<&str>| DeploymentPatch {
        status: Some(status),
        report: report.map(str::to_owned),
        ..Default::default()
    };
    deployments
        .update(deployment.id, step(DeploymentStatus::Deploying, None))
        .await
        .unwrap();
    deployments
        .update(
            deployment.id,
            step(
                DeploymentStatus::RolledBack,
                Some("tag abc1234 never became ready: /ready answered 503 for 300 s; back on 9f8e7d6"),
            ),
        )
        .await
        .unwrap();
    // A retried final step changes nothing the operators need to hear again.
    deployments
        .update(deployment.id, step(DeploymentStatus::RolledBack, None))
        .await
        .unwrap();
    for chat in [ALLOWED, 101] {
        s.telegram
            .wait_for_message(chat, |t| {
                t == "↩ Deployment abc1234 (main) was rolled back.\ntag abc1234 never became ready: /ready answered 503 for 300 s; back on 9f8e7d6"
            })
            .await;
    }
    // Later news shows nothing else was sent about it.
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;
    s.complete_task(project, agent, "after").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"after\" completed"))
        .await;
    let about: Vec<String> = s
        .telegram
        .texts_to(ALLOWED)
        .into_iter()
        .filter(|t| t.contains("Deployment"))
        .collect();
    assert_eq!(about.len(), 1, "{about:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_starts_over_sends_nothing_twice_and_nothing_beside_the_old_one() {
    let mut s = stack().await;
    let project = s.app.project().await;
    let agent = s.app.agent("ops-bot").await;
    s.complete_task(project, agent, "first").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"first\" completed"))
        .await;
    // Telegram fails the next sends: the senders are retrying when the relay stops.
    s.telegram.refuse_sends(50, 502, None);
    for title in ["second", "third"] {
        s.complete_task(project, agent, title).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.stop_relay().await;
    // Stopped means stopped: its senders send nothing more.
    s.telegram.refuse_sends(0, 502, None);
    let calls = s.telegram.calls("sendMessage").len();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(s.telegram.calls("sendMessage").len(), calls);

    // Started over in the same process: what was owed arrives, once.
    s.relay = start_relay(&s.bot, &s.stop);
    for chat in [ALLOWED, 101] {
        crate::chief::wait_until("what was owed", || async {
            let texts = s.telegram.texts_to(chat).join("\n");
            texts.contains("\"second\"") && texts.contains("\"third\"")
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let texts = s.telegram.texts_to(ALLOWED).join("\n");
    for title in ["first", "second", "third"] {
        assert_eq!(
            texts.matches(&format!("\"{title}\"")).count(),
            1,
            "{title}: {texts}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_updates_wait_until_what_the_last_run_left_is_handled() {
    let s = stack().await;
    let (recovering, recovered) = tokio::sync::watch::channel(false);
    let hook = Some(("/telegram/webhook".into(), SECRET.into()));
    let base = serve(agentops::telegram::router_recovering(
        s.bot.clone(),
        hook,
        &TaskTracker::new(),
        recovered,
    ))
    .await;
    // Still recovering: a new update is sent back to Telegram for later (the health
    // check answers all along).
    let (status, body) = post_update(&base, &text_update(ALLOWED, "/agents"), Some(SECRET)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(s.telegram.texts_to(ALLOWED).is_empty());
    // Recovered: taken and answered.
    recovering.send(true).unwrap();
    let (status, _) = post_update(&base, &text_update(ALLOWED, "/agents"), Some(SECRET)).await;
    assert_eq!(status, 200);
    s.telegram
        .wait_for_message(ALLOWED, |t| t == "No agent has registered yet.")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chats_messages_reach_the_chief_in_the_order_they_were_sent() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let telegram = BotStandIn::spawn().await;
    // A Chief of Staff that notes the order messages reach it in, and answers after a
    // long think (longer than the bot waits before it lets the chat's next one go).
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let chief_url = serve(axum::Router::new().fallback({
        let heard = heard.clone();
        move |axum::Json(body): axum::Json<Value>| async move {
            heard
                .lock()
                .unwrap()
                .push(body["text"].as_str().unwrap_or_default().to_owned());
            tokio::time::sleep(Duration::from_secs(3)).await;
            axum::Json(json!({"thread_id": uuid::Uuid::nil(), "reply": "ok"}))
        }
    }))
    .await;
    let bot = new_bot(&app, &telegram, chief_url, &[ALLOWED]);
    let webhook = serve_webhook(&bot, &TaskTracker::new()).await;
    // The first message is a command: the bot asks Telegram its own name first, and
    // Telegram is slow to answer, so the plain message after it would overtake it.
    telegram.delay_next("getMe", Duration::from_millis(700));
    let started = std::time::Instant::now();
    for text in ["/status #abc123", "and the launch?", "thanks"] {
        let (status, body) = post_update(&webhook, &text_update(ALLOWED, text), Some(SECRET)).await;
        assert_eq!(status, 200, "{body}");
    }
    for _ in 0..200 {
        if heard.lock().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        *heard.lock().unwrap(),
        ["status #abc123", "and the launch?", "thanks"],
        "in the order sent"
    );
    // The Chief thinks 3 s about each, yet the three reached it long before 9 s: the
    // next message goes on while the Chief still thinks (so `/busy` can act on it).
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

/// The code the bot gave `chat` in its last message saying so.
fn code_given(telegram: &BotStandIn, chat: i64) -> String {
    let text = telegram
        .texts_to(chat)
        .into_iter()
        .rev()
        .find(|t| t.contains("approve the code"))
        .expect("a code was given");
    let after = text.split("approve the code ").nth(1).unwrap();
    after.split_whitespace().next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_chat_pairs_with_a_one_time_code_an_operator_approves() {
    let s = stack_with(&[ALLOWED], agentops_telegram::USER_RATE).await;
    // A stranger writes: it is given a code, once however often it writes, and kept
    // out of the platform's conversations.
    s.say(STRANGER, "create project Evil").await;
    s.telegram
        .wait_for_message(STRANGER, |t| t.contains("approve the code"))
        .await;
    let code = code_given(&s.telegram, STRANGER);
    assert_eq!(code.len(), 8, "{code}");
    s.say(STRANGER, "hello?").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The operators are asked, with buttons; the code is the one the chat was given.
    let question = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.contains("asks to use me"))
        .await;
    assert!(
        question["text"].as_str().unwrap().contains(&code),
        "{question}"
    );
    assert!(
        question["text"].as_str().unwrap().contains("@ana (Ana)"),
        "{question}"
    );
    assert_eq!(s.telegram.texts_to(STRANGER).len(), 1, "told once");
    let pending = s
        .app
        .client
        .pairings()
        .list()
        .channel("telegram")
        .chat(STRANGER.to_string())
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(pending[0].status, PairingStatus::Pending);
    assert!(
        s.app
            .client
            .projects()
            .list()
            .send()
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // An operator presses ✅ Allow: the question says who, and the stranger is told
    // and served from then on.
    let allow = button(&question, 0);
    assert!(allow.starts_with("allow:"), "{allow}");
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &question, &allow),
        Some(SECRET),
    )
    .await;
    s.telegram
        .wait_for_message(STRANGER, |t| t.starts_with("✅ This chat may use me now."))
        .await;
    let edited = s.telegram.calls("editMessageText");
    assert!(
        edited.iter().any(|e| e["text"]
            .as_str()
            .unwrap_or_default()
            .contains("✅ Allowed by @ana.")),
        "{edited:?}"
    );
    let approved = s.app.client.pairings().get(pending[0].id).await.unwrap();
    assert_eq!(approved.status, PairingStatus::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("@ana on Telegram"));
    s.say(STRANGER, "/agents").await;
    s.telegram
        .wait_for_message(STRANGER, |t| t == "No agent has registered yet.")
        .await;

    // From the command line: `unpair` refuses it again (it is told)...
    let cli = |args: &[&str]| {
        let mut all = vec!["agentops", "telegram"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--url", &s.app.server.base, "--api-key", ADMIN_KEY]);
        agentops::cli::Cli::try_parse_from(all.iter().map(|a| a.to_string())).unwrap()
    };
    agentops::cli::run(cli(&["unpair", &STRANGER.to_string()]))
        .await
        .unwrap();
    s.telegram
        .wait_for_message(STRANGER, |t| t.contains("may not use me"))
        .await;
    // ...and when it writes again, it gets no new code and the operators are not asked
    // again: a refusal sticks.
    let told = s.telegram.texts_to(STRANGER).len();
    let asked = s
        .telegram
        .texts_to(ALLOWED)
        .iter()
        .filter(|t| t.contains("asks to use me"))
        .count();
    s.say(STRANGER, "let me in").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.telegram.texts_to(STRANGER).len(), told);
    assert_eq!(
        s.telegram
            .texts_to(ALLOWED)
            .iter()
            .filter(|t| t.contains("asks to use me"))
            .count(),
        asked
    );
    assert_eq!(
        s.app
            .client
            .pairings()
            .get(pending[0].id)
            .await
            .unwrap()
            .status,
        PairingStatus::Revoked
    );
    // A wrong code is refused, clearly.
    let wrong = agentops::cli::run(cli(&["pair", "ZZZZ-ZZZZ"]))
        .await
        .unwrap_err();
    assert!(
        wrong.to_string().contains("no chat waits with the code"),
        "{wrong}"
    );
    // An operator lets it in again by its id.
    agentops::cli::run(cli(&["allow", &STRANGER.to_string()]))
        .await
        .unwrap();
    s.telegram
        .wait_for_message(STRANGER, |t| t.starts_with("✅ This chat may use me now."))
        .await;
    assert_eq!(
        s.app
            .client
            .pairings()
            .get(pending[0].id)
            .await
            .unwrap()
            .status,
        PairingStatus::Approved
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_in_a_group_is_for_its_admins_and_a_revoked_seed_stays_out() {
    const GROUP: i64 = -500;
    const NEWCOMER: i64 = 777;
    let s = stack_with(&[ALLOWED, GROUP], agentops_telegram::USER_RATE).await;
    s.say(NEWCOMER, "hi").await;
    s.telegram
        .wait_for_message(NEWCOMER, |t| t.contains("approve the code"))
        .await;
    let code = code_given(&s.telegram, NEWCOMER);
    // In the group, a member who is not an admin cannot pair it...
    s.post_update(
        &update_from(GROUP, "group", 8, "bob", &format!("/pair {code}")),
        Some(SECRET),
    )
    .await;
    s.telegram
        .wait_for_message(GROUP, |t| {
            t == "Only an admin of this chat can pair another chat."
        })
        .await;
    // ...an admin can.
    s.telegram.make_admin(GROUP, 9);
    s.post_update(
        &update_from(GROUP, "group", 9, "carla", &format!("/pair {code}")),
        Some(SECRET),
    )
    .await;
    s.telegram
        .wait_for_message(GROUP, |t| {
            t.starts_with("✅ @ana (Ana) (chat 777) may use me now.")
        })
        .await;
    s.post_update(
        &update_from(GROUP, "group", 9, "carla", &format!("/pair {code}")),
        Some(SECRET),
    )
    .await;
    s.telegram
        .wait_for_message(GROUP, |t| t.starts_with("No chat waits with the code"))
        .await;

    // A chat of TELEGRAM_ALLOWED_CHATS an operator revoked stays out when the bot
    // starts again with the same setting.
    let seeded = s
        .app
        .client
        .pairings()
        .list()
        .channel("telegram")
        .chat(ALLOWED.to_string())
        .send()
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(seeded.status, PairingStatus::Approved);
    s.app
        .client
        .pairings()
        .revoke(seeded.id, None)
        .await
        .unwrap();
    let restarted = new_bot(
        &s.app,
        &s.telegram,
        "http://127.0.0.1:9".into(),
        &[ALLOWED, GROUP],
    );
    let webhook = serve_webhook(&restarted, &TaskTracker::new()).await;
    let told = s.telegram.texts_to(ALLOWED).len();
    let (status, _) = post_update(&webhook, &text_update(ALLOWED, "/agents"), Some(SECRET)).await;
    assert_eq!(status, 200);
    for _ in 0..100 {
        if s.telegram.texts_to(ALLOWED).len() > told {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let texts = s.telegram.texts_to(ALLOWED);
    assert_eq!(
        texts.last().map(String::as_str),
        Some("🚫 An operator decided this chat may not use me."),
        "{texts:?}"
    );
    assert!(!texts.iter().any(|t| t.contains("No agent")), "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_everything_and_pages_the_tasks_that_need_a_look() {
    let s = stack().await;
    let project = s.app.project().await;
    let other = s.app.project().await;
    let agent = s.app.agent("ops-agent").await;
    let tasks = s.app.client.tasks();
    let create = |project: uuid::Uuid, title: String| TaskIn {
        project_id: project,
        title,
        kind: Some("ops".into()),
        ..Default::default()
    };
    for i in 0..12 {
        tasks
            .create(create(project, format!("blocked {i:02}")))
            .await
            .unwrap();
    }
    let claimed = tasks
        .claim(ClaimIn {
            agent_id: agent,
            kinds: Some(vec!["ops".into()]),
            labels: None,
            project_id: None,
            limit: Some(12),
            lease_seconds: None,
            complete: None,
        })
        .await
        .unwrap();
    assert_eq!(claimed.tasks.len(), 12);
    for claim in claimed.tasks {
        tasks
            .block(
                claim.task.id,
                BlockIn {
                    claim_token: claim.claim_token,
                    reason: format!("which colour for {}?", claim.task.title),
                },
            )
            .await
            .unwrap();
    }
    s.complete_task(other, agent, "shipped").await;
    tasks.create(create(other, "next up".into())).await.unwrap();

    s.say(ALLOWED, "/status").await;
    let list = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("14 tasks: 12 blocked, 1 queued, 1 completed.")
        })
        .await;
    let text = list["text"].as_str().unwrap();
    assert!(text.contains("Needs a look (page 1 of 2):"), "{text}");
    assert_eq!(text.matches("⛔").count(), 10, "{text}");
    assert!(text.contains(": which colour for blocked"), "{text}");
    let next = button(&list, 0);
    assert_eq!(next, "tasks:2");
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &list, &next),
        Some(SECRET),
    )
    .await;
    let page = s
        .wait_for_edit(&list["message_id"], |t| t.contains("(page 2 of 2)"))
        .await;
    let text = page["text"].as_str().unwrap();
    assert_eq!(text.matches("⛔").count(), 2, "{text}");
    assert!(text.contains("⏳ #"), "queued after blocked: {text}");
    assert!(text.contains("\"next up\""), "{text}");

    // One project, named in any case.
    let name = s.app.client.projects().get(other).await.unwrap().name;
    s.say(ALLOWED, &format!("/status {}", name.to_uppercase()))
        .await;
    let one = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with(&format!("{name} — 2 tasks: 1 queued, 1 completed."))
        })
        .await;
    assert!(
        one["reply_markup"].is_null()
            || one["reply_markup"]["inline_keyboard"][0]
                .as_array()
                .is_none_or(|b| b.is_empty()),
        "one page, no buttons: {one}"
    );
    // Anything else is the Chief of Staff's to understand.
    s.say(ALLOWED, "/status nothing like that").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("nothing like that"))
        .await;
}

/// The local speech engine the test command starts (`scripts/speech`).
fn speech_engine(base: &str) -> agentops_agents::speech::OpenAiSpeech {
    agentops_agents::speech::OpenAiSpeech::new(agentops_agents::speech::SpeechConfig::new(base))
        .unwrap()
}

fn speech_url() -> String {
    std::env::var("TEST_SPEECH_URL").unwrap_or_else(|_| "http://127.0.0.1:8093/v1".into())
}

fn voice_update(chat: i64, file_id: &str, size: usize) -> Value {
    json!({
        "update_id": NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        "message": {"message_id": 41, "date": 0, "chat": {"id": chat, "type": "private"},
                    "from": {"id": 7, "is_bot": false, "first_name": "Ana", "username": "ana"},
                    "voice": {"file_id": file_id, "file_unique_id": format!("u-{file_id}"),
                              "duration": 4, "mime_type": "audio/ogg", "file_size": size}}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_note_becomes_a_plan_and_ok_makes_the_project() {
    use agentops_agents::speech::Speaker;
    let engine = speech_engine(&speech_url());
    // Real speech, from the real engine: what a person would say into Telegram.
    let note = engine
        .speak("Create project Voice with tasks run: echo hello.")
        .await
        .expect("the local speech engine speaks (scripts/speech/start.sh)");
    assert!(
        note.starts_with(b"OggS"),
        "OGG/Opus, as Telegram sends voice notes"
    );
    let s = stack_hearing(
        &[ALLOWED],
        agentops_telegram::USER_RATE,
        Some(agentops_agents::chief::server::Speech::both(engine)),
    )
    .await;
    s.telegram.put_file("note-1", note.clone());
    s.say_update(&voice_update(ALLOWED, "note-1", note.len()))
        .await;
    // What was heard comes first, as a reply to the note...
    let heard = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("🎙 "))
        .await;
    let text = heard["text"].as_str().unwrap().to_lowercase();
    assert!(text.contains("project voice"), "{text}");
    assert_eq!(heard["reply_parameters"]["message_id"], 41, "{heard}");
    // ...then the plan, which OK carries out.
    let plan = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("Understood:"))
        .await;
    let ok = button(&plan, 0);
    assert!(ok.starts_with("approve:"), "{plan}");
    s.post_update(
        &press(ALLOWED, "private", 7, "ana", &plan, &ok),
        Some(SECRET),
    )
    .await;
    let mut project = None;
    for _ in 0..200 {
        project = s
            .app
            .client
            .projects()
            .list()
            .send()
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case("voice"));
        if project.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let project = project.expect("the project the voice note asked for");
    let tasks = s
        .app
        .client
        .tasks()
        .list()
        .project(project.id)
        .send()
        .await
        .unwrap()
        .items;
    // "run:" is heard as "run,": still one task, the command as said (not "Echo Hello").
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert!(tasks[0].title.contains("run echo hello"), "{tasks:?}");
    // The person's message keeps what was heard.
    let thread = s
        .app
        .client
        .threads()
        .list()
        .channel("telegram")
        .send()
        .await
        .unwrap()
        .items[0]
        .id;
    let said = s
        .app
        .client
        .threads()
        .messages(thread)
        .send()
        .await
        .unwrap()
        .items;
    let asked = said
        .iter()
        .find(|m| m.role == agentops_sdk::types::MessageRole::User)
        .unwrap();
    assert_eq!(
        asked.metadata["voice_transcript"]["text"].as_str(),
        Some(asked.text.as_str())
    );
    // The transcription is on the books, for the person and the conversation.
    let calls = s.app.client.usage().list().send().await.unwrap().items;
    let heard_call = calls
        .iter()
        .find(|c| c.kind == agentops_sdk::types::UsageKind::Transcription)
        .unwrap_or_else(|| panic!("{calls:?}"));
    assert_eq!(heard_call.thread_id, Some(thread));
    assert_eq!(heard_call.user.as_deref(), Some("@ana"));
    assert!(heard_call.tokens_out > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_note_that_cannot_be_heard_is_answered() {
    // Noise: the engine cannot read it.
    let s = stack_hearing(
        &[ALLOWED],
        agentops_telegram::USER_RATE,
        Some(agentops_agents::chief::server::Speech::both(speech_engine(
            &speech_url(),
        ))),
    )
    .await;
    s.telegram.put_file("noise", b"not audio at all".to_vec());
    s.say_update(&voice_update(ALLOWED, "noise", 16)).await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("🎙 I could not make out any words")
        })
        .await;

    // An engine that is down: the person is told, and the note is kept...
    use agentops_agents::speech::Speaker;
    let note = speech_engine(&speech_url())
        .speak("Create project Later with tasks run: echo hi.")
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = listener.local_addr().unwrap();
    drop(listener);
    let s = stack_hearing(
        &[ALLOWED],
        agentops_telegram::USER_RATE,
        Some(agentops_agents::chief::server::Speech::both(speech_engine(
            &format!("http://{down}/v1"),
        ))),
    )
    .await;
    s.telegram.put_file("note", note.clone());
    s.say_update(&voice_update(ALLOWED, "note", note.len()))
        .await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("🎙 I cannot listen to recordings right now")
                && t.contains("I kept this one")
        })
        .await;
    let thread = s
        .app
        .client
        .threads()
        .open(agentops_sdk::types::ThreadIn::for_channel(
            "telegram",
            ALLOWED.to_string(),
        ))
        .await
        .unwrap();
    assert!(
        thread.metadata["telegram_unheard"]["41"]["message"].is_object(),
        "{thread:?}"
    );
    // ...and heard once the engine is back (on the same address), then forgotten.
    let engine_origin = speech_url().trim_end_matches("/v1").to_owned();
    let forward = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let origin = engine_origin.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let mut out = reqwest::Client::new()
                .request(parts.method, format!("{origin}{}", parts.uri))
                .body(body);
            if let Some(kind) = parts.headers.get("content-type") {
                out = out.header("content-type", kind.clone());
            }
            let answer = out.send().await.unwrap();
            let status = axum::http::StatusCode::from_u16(answer.status().as_u16()).unwrap();
            let kind = answer.headers().get("content-type").cloned();
            let mut response = axum::response::IntoResponse::into_response((
                status,
                answer.bytes().await.unwrap(),
            ));
            if let Some(kind) = kind {
                response.headers_mut().insert("content-type", kind);
            }
            response
        }
    });
    let listener = tokio::net::TcpListener::bind(down).await.unwrap();
    tokio::spawn(async move { axum::serve(listener, forward).await });
    let heard = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("🎙 <i>") || t.starts_with("🎙 Create")
        })
        .await;
    assert!(
        heard["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("project later"),
        "{heard}"
    );
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood:") && t.to_lowercase().contains("later")
        })
        .await;
    let mut forgotten = false;
    for _ in 0..50 {
        let thread = s.app.client.threads().get(thread.id).await.unwrap();
        if thread
            .metadata
            .get("telegram_unheard")
            .is_none_or(|kept| kept.get("41").is_none())
        {
            forgotten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(forgotten, "a heard note is no longer kept");

    // A Chief of Staff without speech says so too.
    let s = stack().await;
    s.telegram.put_file("note", b"OggS".to_vec());
    s.say_update(&voice_update(ALLOWED, "note", 4)).await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("🎙 I cannot listen to recordings (") && t.contains("SPEECH_BASE_URL")
        })
        .await;
}

/// A 4×4 red PNG.
const PNG: &str = "89504e470d0a1a0a0000000d4948445200000004000000040802000000269309290000001049444154789c63f8cfc000470cc47100ae930ff1d05f239e0000000049454e44ae426082";

fn png() -> Vec<u8> {
    (0..PNG.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&PNG[i..i + 2], 16).unwrap())
        .collect()
}

/// A photo message in `chat` (Telegram's sizes of one picture, `file` the largest),
/// with `caption` if any.
fn photo_update(chat: i64, file: &str, caption: Option<&str>) -> Value {
    let mut update = json!({
        "update_id": NEXT_UPDATE.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        "message": {"message_id": 51, "date": 0, "chat": {"id": chat, "type": "private"},
                    "from": {"id": 7, "is_bot": false, "first_name": "Ana", "username": "ana"},
                    "photo": [{"file_id": "thumb", "file_unique_id": "t", "width": 90,
                               "height": 90, "file_size": 60},
                              {"file_id": file, "file_unique_id": format!("u-{file}"),
                               "width": 800, "height": 800, "file_size": 73}]}
    });
    if let Some(caption) = caption {
        update["message"]["caption"] = json!(caption);
    }
    update
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pictures_caption_is_read_and_the_picture_said_to_be_unseen() {
    // No model that sees.
    let s = stack().await;
    s.telegram.put_file("p1", png());
    s.say_update(&photo_update(ALLOWED, "p1", None)).await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t == "🖼 I cannot see pictures: please tell me in words what you need."
        })
        .await;
    s.say_update(&photo_update(ALLOWED, "p1", Some("create project Photos")))
        .await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t == "🖼 I cannot see pictures: I read your caption."
        })
        .await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood:") && t.contains("Photos")
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_is_described_by_a_model_that_sees_and_answered() {
    let vision = crate::llm_standin::LlmStandIn::spawn().await;
    let s = stack_sensing(
        &[ALLOWED],
        agentops_telegram::USER_RATE,
        None,
        Some(&vision.base),
    )
    .await;
    s.telegram.put_file("p1", png());

    // A picture alone: what it shows, and what to do with it.
    vision.reply(json!({"role": "assistant",
        "content": "A screenshot of a terminal showing the error \"No space left on device\"."}));
    s.say_update(&photo_update(ALLOWED, "p1", None)).await;
    let seen = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("🖼 I see: A screenshot of a terminal")
        })
        .await;
    let text = seen["text"].as_str().unwrap();
    assert!(
        text.ends_with("What would you like me to do with it?"),
        "{text}"
    );
    assert_eq!(seen["reply_parameters"]["message_id"], 51, "{seen}");
    // The model got the picture itself (the largest size), as a data URL.
    let (_, asked) = vision.requests().pop().unwrap();
    assert_eq!(asked["model"], "pixtral-12b-2409");
    let parts = asked["messages"][1]["content"].as_array().unwrap();
    assert_eq!(parts[0]["type"], "text");
    {
        use base64::Engine as _;
        let url = parts[1]["image_url"]["url"].as_str().unwrap();
        let data = url.strip_prefix("data:image/png;base64,").unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap(),
            png()
        );
    }
    // The description is kept with the person's message.
    let thread = s
        .app
        .client
        .threads()
        .open(agentops_sdk::types::ThreadIn::for_channel(
            "telegram",
            ALLOWED.to_string(),
        ))
        .await
        .unwrap()
        .id;
    let said = s
        .app
        .client
        .threads()
        .messages(thread)
        .limit(10)
        .send()
        .await
        .unwrap()
        .items;
    let picture = said
        .iter()
        .find(|m| m.metadata.get("image_json").is_some())
        .unwrap_or_else(|| panic!("{said:?}"));
    assert_eq!(picture.text, "(a picture)");
    assert_eq!(picture.metadata["image_json"]["content_type"], "image/png");
    assert_eq!(picture.metadata["image_json"]["model"], "pixtral-12b-2409");
    assert!(picture.metadata["image_json"]["caption"].is_null());
    // On the books, for the person and the conversation.
    let calls = s.app.client.usage().list().send().await.unwrap().items;
    let looked = calls
        .iter()
        .find(|c| c.model == "pixtral-12b-2409")
        .unwrap_or_else(|| panic!("{calls:?}"));
    assert_eq!(looked.thread_id, Some(thread));
    assert_eq!(looked.user.as_deref(), Some("@ana"));

    // With a caption: the caption is what is asked, the description kept beside it.
    vision.reply(json!({"role": "assistant", "content": "A photo of a garden."}));
    s.say_update(&photo_update(ALLOWED, "p1", Some("create project Garden")))
        .await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood:") && t.contains("Garden")
        })
        .await;
    let (_, asked) = vision.requests().pop().unwrap();
    assert!(
        asked["messages"][1]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("create project Garden"),
        "{asked}"
    );

    // The model is down: the caption is read, and the person told.
    vision.fail(axum::http::StatusCode::SERVICE_UNAVAILABLE);
    s.say_update(&photo_update(ALLOWED, "p1", Some("create project Roses")))
        .await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("🖼 I cannot see pictures right now")
                && t.ends_with("I read your caption.")
        })
        .await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("Understood:") && t.contains("Roses")
        })
        .await;

    // Not a picture (a photo that is not one): said so, the model not asked.
    let asked_before = vision.requests().len();
    s.telegram
        .put_file("p2", b"%PDF-1.7 not a picture".to_vec());
    s.say_update(&photo_update(ALLOWED, "p2", None)).await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t == "🖼 I could not make it out: please tell me in words what you need."
        })
        .await;
    assert_eq!(vision.requests().len(), asked_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_on_says_the_chiefs_answers_aloud_after_their_text() {
    let s = stack_hearing(
        &[ALLOWED],
        agentops_telegram::USER_RATE,
        Some(agentops_agents::chief::server::Speech::both(speech_engine(
            &speech_url(),
        ))),
    )
    .await;
    // Off by default: text only.
    s.say(ALLOWED, "help").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("I am your Chief of Staff"))
        .await;
    s.say(ALLOWED, "/voice on").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("🔊 OK: I will also say my answers aloud")
        })
        .await;
    assert!(
        s.telegram.calls("sendVoice").is_empty(),
        "nothing said aloud before"
    );
    s.say(ALLOWED, "create project Talky").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("Understood:"))
        .await;
    let mut voices = Vec::new();
    for _ in 0..200 {
        voices = s.telegram.calls("sendVoice");
        if !voices.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(voices.len(), 1, "{voices:?}");
    assert_eq!(voices[0]["chat_id"], ALLOWED);
    assert_eq!(voices[0]["voice"]["ogg"], true, "OGG/Opus: {voices:?}");
    assert!(voices[0]["voice"]["size"].as_u64().unwrap() > 1_000);
    // The bot's own answers (commands) stay text.
    s.say(ALLOWED, "/voice off").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t == "OK: my answers come as text only here.")
        .await;
    s.say(ALLOWED, "help").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(s.telegram.calls("sendVoice").len(), 1, "off again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anyone_makes_a_persona_in_the_chat_and_others_talk_to_it_by_its_link() {
    use crate::llm_standin::LlmStandIn;
    let s = stack().await;
    let llm = LlmStandIn::spawn().await;
    let _runtime = crate::personas::runtime(&s.app, Some(&llm), "persona-runtime").await;
    // Three people in private chats, none of them on the operators' allowlist.
    let (ana, bob, cat) = (201, 202, 203);
    let from = |chat: i64, name: &str, text: &str| update_from(chat, "private", chat, name, text);

    // Ana makes one, step by step.
    s.say_update(&from(ana, "ana", "/create")).await;
    s.telegram
        .wait_for_message(ana, |t| t.contains("What is its name?"))
        .await;
    s.say_update(&from(ana, "ana", "Captain Byte")).await;
    s.telegram
        .wait_for_message(ana, |t| t.starts_with("What should Captain Byte be like?"))
        .await;
    s.say_update(&from(
        ana,
        "ana",
        "You are a cheerful pirate who explains computers.",
    ))
    .await;
    let models = s
        .telegram
        .wait_for_message(ana, |t| t == "Which model should it think with?")
        .await;
    assert_eq!(button(&models, 0), "wizard:model:0");
    // The bot restarts mid-wizard: the next press is taken by the new one.
    let restarted = new_bot(&s.app, &s.telegram, "http://127.0.0.1:9".into(), &[ALLOWED]);
    let pressed = |update: Value| {
        serde_json::from_str::<agentops_telegram::Update>(&update.to_string()).unwrap()
    };
    restarted
        .handle_update(pressed(press(
            ana,
            "private",
            ana,
            "ana",
            &models,
            "wizard:model:0",
        )))
        .await;
    let preview = s
        .telegram
        .wait_for_message(ana, |t| t.starts_with("Here is Captain Byte:"))
        .await;
    let text = preview["text"].as_str().unwrap();
    assert!(
        text.contains("Model: pirate-model") && text.contains("\"Hello! I am Captain Byte."),
        "{text}"
    );
    restarted
        .handle_update(pressed(press(
            ana,
            "private",
            ana,
            "ana",
            &preview,
            "wizard:create",
        )))
        .await;
    let ready = s
        .telegram
        .wait_for_message(ana, |t| t.starts_with("✅ Captain Byte is ready."))
        .await;
    assert!(
        ready["text"]
            .as_str()
            .unwrap()
            .contains("https://t.me/agentops_test_bot?start=captain-byte"),
        "{ready}"
    );
    let made = s.app.client.personas().get("captain-byte").await.unwrap();
    assert_eq!(
        (made.owner.as_str(), made.model.as_str()),
        ("telegram:201", "pirate-model")
    );

    // Bob follows the link and talks; the answer comes back as the persona's.
    s.say_update(&from(bob, "bob", "/start captain-byte")).await;
    s.telegram
        .wait_for_message(bob, |t| {
            t.starts_with("🎭 You are talking to Captain Byte")
                && t.contains("Hello! I am Captain Byte.")
        })
        .await;
    llm.reply(json!({"role": "assistant", "content": "Ahoy Bob!"}));
    s.say_update(&from(bob, "bob", "Hi, I am Bob")).await;
    s.telegram
        .wait_for_message(bob, |t| {
            t.contains("Captain Byte") && t.contains("Ahoy Bob!")
        })
        .await;

    // Cat too, in a conversation of her own: nothing of Bob's in what the model reads.
    s.say_update(&from(cat, "cat", "/talk captain-byte")).await;
    s.telegram
        .wait_for_message(cat, |t| t.starts_with("🎭 You are talking to Captain Byte"))
        .await;
    llm.reply(json!({"role": "assistant", "content": "Ahoy stranger!"}));
    s.say_update(&from(cat, "cat", "hello")).await;
    s.telegram
        .wait_for_message(cat, |t| t.contains("Ahoy stranger!"))
        .await;
    let prompt = llm.requests().last().unwrap().1.to_string();
    assert!(!prompt.contains("Bob"), "{prompt}");
    assert!(
        s.telegram
            .texts_to(cat)
            .iter()
            .all(|t| !t.contains("Ahoy Bob"))
    );

    // Ana re-instructs it with /edit; Bob's next answer is by the new version.
    s.say_update(&from(ana, "ana", "/edit captain-byte")).await;
    let asked = s
        .telegram
        .wait_for_message(ana, |t| t.starts_with("What should change in Captain Byte"))
        .await;
    s.say_update(&press(
        ana,
        "private",
        ana,
        "ana",
        &asked,
        &button(&asked, 0),
    ))
    .await;
    s.telegram
        .wait_for_message(ana, |t| {
            t.starts_with("Send Captain Byte's new instructions")
        })
        .await;
    s.say_update(&from(
        ana,
        "ana",
        "You are a grumpy pirate who hates computers.",
    ))
    .await;
    s.telegram
        .wait_for_message(ana, |t| {
            t.starts_with("✅ Captain Byte changed: version 2.")
        })
        .await;
    llm.reply(json!({"role": "assistant", "content": "Arr, computers. Bah."}));
    s.say_update(&from(bob, "bob", "tell me about disks")).await;
    s.telegram
        .wait_for_message(bob, |t| t.contains("Arr, computers. Bah."))
        .await;
    let prompt = llm.requests().last().unwrap().1.to_string();
    assert!(prompt.contains("grumpy pirate who hates"), "{prompt}");
    // Someone else cannot.
    s.say_update(&from(bob, "bob", "/edit captain-byte")).await;
    s.telegram
        .wait_for_message(bob, |t| t == "Only its owner can edit it.")
        .await;

    // Ana's list, then she deletes it (asked first); Cat is told it is gone.
    s.say_update(&from(ana, "ana", "/mine")).await;
    s.telegram
        .wait_for_message(ana, |t| {
            t.starts_with("🎭 Your personas:")
                && t.contains("?start=captain-byte")
                // Bob twice, Cat once.
                && t.contains("today: 3 messages from 2 people")
        })
        .await;
    s.say_update(&from(ana, "ana", "/delete captain-byte"))
        .await;
    let ask = s
        .telegram
        .wait_for_message(ana, |t| t.starts_with("Delete Captain Byte?"))
        .await;
    s.say_update(&press(ana, "private", ana, "ana", &ask, &button(&ask, 0)))
        .await;
    s.telegram
        .wait_for_message(ana, |t| t.starts_with("🗑 Deleted"))
        .await;
    s.say_update(&from(cat, "cat", "still there?")).await;
    s.telegram
        .wait_for_message(cat, |t| {
            t.starts_with("Captain Byte is no longer available")
        })
        .await;
    // Bob leaves; what he writes next is not the persona's.
    s.say_update(&from(bob, "bob", "/exit")).await;
    s.telegram
        .wait_for_message(bob, |t| t.starts_with("You left Captain Byte."))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persona_with_a_bot_token_is_its_own_bot_until_the_token_is_removed() {
    use agentops_sdk::types::{PersonaIn, PersonaPatch, Visibility};

    use crate::llm_standin::LlmStandIn;
    let s = stack().await;
    let llm = LlmStandIn::spawn().await;
    let _runtime = crate::personas::runtime(&s.app, Some(&llm), "persona-runtime").await;
    // The persona's own bot, as @BotFather made it (a Bot API of its own here).
    const BOT_TOKEN: &str = "987654321:AAbyte-bot-secret-part-0123456789";
    let own = BotStandIn::spawn_as(BOT_TOKEN, "captain_byte_bot").await;
    let ana = s.app.client.personas().on_behalf_of("telegram:201");
    let made = ana
        .create(&PersonaIn {
            visibility: Some(Visibility::Link),
            greeting: Some("Ahoy! Ask me about computers.".into()),
            telegram_bot_token: Some(BOT_TOKEN.into()),
            ..PersonaIn::new(
                "Captain Byte",
                "You are a cheerful pirate who explains computers.",
                "pirate-model",
            )
        })
        .await
        .unwrap();
    assert_eq!(made.telegram_bot_id, Some(987_654_321));
    // The token is never answered; a second persona cannot take the same bot.
    let shown = serde_json::to_string(&ana.get(&made.slug).await.unwrap()).unwrap();
    assert!(!shown.contains("byte-bot-secret"), "{shown}");
    let taken = ana
        .create(&PersonaIn {
            telegram_bot_token: Some(BOT_TOKEN.into()),
            ..PersonaIn::new("Copy", "You copy.", "m")
        })
        .await
        .unwrap_err();
    assert_eq!(taken.status().map(|s| s.as_u16()), Some(409), "{taken}");
    let bad = ana
        .update(
            &made.slug,
            &PersonaPatch {
                telegram_bot_token: Some("not a token".into()),
                ..PersonaPatch::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(bad.status().map(|s| s.as_u16()), Some(422), "{bad}");

    let bots = persona_bots(&s.app, &own);
    {
        let (bots, stop) = (bots.clone(), s.stop.clone());
        tokio::spawn(async move { bots.run(stop).await.unwrap() });
    }
    let bob = 301;
    let from = |chat: i64, text: &str| update_from(chat, "private", chat, "bob", text);
    own.queue_update(from(bob, "/start"));
    own.wait_for_message(bob, |t| {
        t.starts_with("🎭 Captain Byte") && t.contains("Ahoy! Ask me about computers.")
    })
    .await;
    llm.reply(json!({"role": "assistant", "content": "RAM is short-term memory, matey."}));
    own.queue_update(from(bob, "what is RAM?"));
    own.wait_for_message(bob, |t| t == "RAM is short-term memory, matey.")
        .await;
    // Answered by the persona's bot only, in Bob's own conversation.
    assert!(s.telegram.texts_to(bob).is_empty());
    let thread = s
        .app
        .client
        .threads()
        .list()
        .channel("persona")
        .external_id(format!("{}:telegram:{bob}", made.id))
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(thread.len(), 1);
    // Ana removes the token: the bot stops reading.
    ana.update(
        &made.slug,
        &PersonaPatch {
            telegram_bot_token: Some(String::new()),
            ..PersonaPatch::default()
        },
    )
    .await
    .unwrap();
    for _ in 0..100 {
        if bots.serving().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(bots.serving().is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let polls = own.calls("getUpdates").len();
    own.queue_update(from(bob, "anyone there?"));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(own.calls("getUpdates").len(), polls, "no more polling");
    assert!(
        own.texts_to(bob)
            .iter()
            .all(|t| !t.contains("anyone there")),
    );
}

/// A persona bot down longer than the platform keeps events: back up, its relay finds
/// its cursor expired and goes on with what retention kept — the answer written after
/// the pruned ones still reaches its person — instead of failing for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persona_bot_whose_cursor_was_pruned_goes_on_with_what_retention_kept() {
    use agentops_sdk::types::{PersonaChatIn, PersonaIn, Visibility};

    use crate::llm_standin::LlmStandIn;
    let s = stack().await;
    let llm = LlmStandIn::spawn().await;
    let _runtime = crate::personas::runtime(&s.app, Some(&llm), "persona-runtime").await;
    const BOT_TOKEN: &str = "987654322:AAbyte-bot-secret-part-9876543210";
    let own = BotStandIn::spawn_as(BOT_TOKEN, "byte_two_bot").await;
    let made = s
        .app
        .client
        .personas()
        .on_behalf_of("telegram:201")
        .create(&PersonaIn {
            visibility: Some(Visibility::Public),
            telegram_bot_token: Some(BOT_TOKEN.into()),
            ..PersonaIn::new("Byte", "You explain computers.", "m")
        })
        .await
        .unwrap();
    let start_bots = |stop: CancellationToken| {
        let bots = persona_bots(&s.app, &own);
        tokio::spawn(async move { bots.run(stop).await.unwrap() })
    };
    let first = CancellationToken::new();
    let running = start_bots(first.clone());
    // One answer relayed: the bot's cursor is saved.
    llm.reply(json!({"role": "assistant", "content": "Hello, Bob."}));
    own.queue_update(update_from(301, "private", 301, "bob", "hi"));
    own.wait_for_message(301, |t| t == "Hello, Bob.").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    first.cancel();
    running.await.unwrap();

    // Down: two people's messages come through the bot's way and are answered; the
    // first answer is pruned by retention, the second kept.
    let via = Some("telegram-bot:987654322".to_owned());
    for (person, answer) in [(302, "Pruned answer."), (303, "Kept answer.")] {
        llm.reply(json!({"role": "assistant", "content": answer}));
        let out = s
            .app
            .client
            .personas()
            .on_behalf_of(format!("telegram:{person}"))
            .chat(
                &made.slug,
                &PersonaChatIn {
                    text: "hello?".into(),
                    via: via.clone(),
                    ..PersonaChatIn::default()
                },
                20,
            )
            .await
            .unwrap();
        assert_eq!(out.reply.unwrap().text, answer);
        if person == 302 {
            let pruned = s.app.client.events().latest().await.unwrap().last_id;
            let state = &s.app.server.state;
            agentops_testkit::age_events(state, pruned, chrono::Duration::days(400)).await;
        }
    }
    agentops_api::reaper::prune_events(&s.app.server.state)
        .await
        .unwrap();

    // Back up: the kept answer reaches its person, the pruned one is gone, and the
    // bot goes on relaying.
    let second = CancellationToken::new();
    let _running = start_bots(second.clone());
    own.wait_for_message(303, |t| t == "Kept answer.").await;
    assert!(own.texts_to(302).is_empty(), "{:?}", own.texts_to(302));
    llm.reply(json!({"role": "assistant", "content": "Still here."}));
    own.queue_update(update_from(301, "private", 301, "bob", "still there?"));
    own.wait_for_message(301, |t| t == "Still here.").await;
    second.cancel();
}

/// The platform's models (`AGENTOPS_PERSONA_MODELS`) are what `/create` offers, over the
/// bot's own list; the one pressed is the persona's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_create_wizard_offers_the_platforms_models() {
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| {
        cfg.persona_models = vec!["llama-a".into(), " mistral-b ".into()];
    })
    .await;
    let telegram = BotStandIn::spawn().await;
    let bot = new_bot(&app, &telegram, "http://127.0.0.1:9".into(), &[ALLOWED]);
    let update = |value: Value| {
        serde_json::from_str::<agentops_telegram::Update>(&value.to_string()).unwrap()
    };
    let ana = 211;
    for text in ["/create", "Sage", "You give calm advice."] {
        bot.handle_update(update(update_from(ana, "private", ana, "ana", text)))
            .await;
    }
    let asked = telegram
        .wait_for_message(ana, |t| t == "Which model should it think with?")
        .await;
    let offered: Vec<&str> = asked["reply_markup"]["inline_keyboard"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["llama-a", "mistral-b"]);
    bot.handle_update(update(press(
        ana,
        "private",
        ana,
        "ana",
        &asked,
        "wizard:model:1",
    )))
    .await;
    let preview = telegram
        .wait_for_message(ana, |t| t.starts_with("Here is Sage:"))
        .await;
    assert!(
        preview["text"]
            .as_str()
            .unwrap()
            .contains("Model: mistral-b"),
        "{preview}"
    );
    bot.handle_update(update(press(
        ana,
        "private",
        ana,
        "ana",
        &preview,
        &button(&preview, 0),
    )))
    .await;
    telegram
        .wait_for_message(ana, |t| t.contains("https://t.me/"))
        .await;
    let made = app
        .client
        .personas()
        .on_behalf_of(format!("telegram:{ana}"))
        .list()
        .owner("me")
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].model, "mistral-b");
}

/// The persona bots of `app`, their Bot API served by `own` (each bot's stand-in), with
/// the test master key and a quick refresh.
fn persona_bots(app: &TestApp, own: &BotStandIn) -> agentops_telegram::persona_bots::PersonaBots {
    use agentops_telegram::persona_bots::{PersonaBots, PersonaBotsConfig};
    PersonaBots::new(
        app.client.clone(),
        PersonaBotsConfig {
            bot_api_base: own.base.clone(),
            master_key: agentops_sdk::secrets::MasterKey::parse(agentops_testkit::SECRET_KEY)
                .unwrap(),
            refresh: Duration::from_millis(300),
        },
    )
}

/// A tool as the Seed stores it once its tests passed: a shell script whose source has
/// markup in it, made in `task`.
fn written_tool(task: Option<uuid::Uuid>) -> agentops_sdk::types::ToolIn {
    use agentops_sdk::types::{ToolIn, ToolRuntime, ToolTest, ToolTestResult};
    ToolIn {
        name: "word_count".into(),
        description: "Counts the words of `text`.".into(),
        input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}},
                             "required": ["text"]}),
        runtime: ToolRuntime::Sh,
        source: "printf '%s' \"$ARG_TEXT\" | wc -w  # <words> & more".into(),
        tests: vec![ToolTest {
            input: json!({"text": "a b c"}),
            expect: "3".into(),
            exact: true,
            result: ToolTestResult {
                passed: true,
                output: "3\n".into(),
                error: None,
            },
        }],
        task_id: task,
    }
}

impl Stack {
    /// Posts `update` (a button press) and waits for its toast.
    async fn toast_of(&self, update: &Value) -> String {
        self.say_update(update).await;
        let id = &update["callback_query"]["id"];
        for _ in 0..400 {
            if let Some(answer) = self
                .telegram
                .calls("answerCallbackQuery")
                .into_iter()
                .find(|a| a["callback_query_id"] == *id)
            {
                return answer["text"].as_str().unwrap_or_default().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "press {id} was never answered: {:?}",
            self.telegram.calls("answerCallbackQuery")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_an_agent_wrote_is_approved_from_its_notice_in_telegram() {
    use agentops_sdk::types::ToolStatus;
    let s = stack().await;
    let project = s.app.project().await;
    let task = s.app.task(project, "seed", json!({})).await;
    let tool = s
        .app
        .client
        .tools()
        .create(written_tool(Some(task.id)))
        .await
        .unwrap();
    assert_eq!(tool.status, ToolStatus::PendingReview);

    // Every operator chat is asked, with the code and how its tests went.
    let notice = s
        .telegram
        .wait_for_message(ALLOWED, |t| {
            t.starts_with("🧰 New tool to review: word_count v1")
        })
        .await;
    let text = notice["text"].as_str().unwrap();
    for shown in [
        "Counts the words of `text`.",
        "Runtime: sh · made in task #",
        "\"a seed task\" (project p)",
        "Source (1 line)\nprintf '%s' \"$ARG_TEXT\" | wc -w  # <words> & more\n",
        "Tests: 1 of 1, all passed\n✅ {\"text\":\"a b c\"} → exactly 3 · output: 3",
    ] {
        assert!(text.contains(shown), "{shown:?} not in {text}");
    }
    let html = notice["html"].as_str().unwrap();
    assert!(
        html.contains("<pre><code class=\"language-sh\">printf '%s' \"$ARG_TEXT\" | wc -w  # &lt;words&gt; &amp; more</code></pre>"),
        "{html}"
    );
    let buttons = &notice["reply_markup"]["inline_keyboard"][0];
    assert_eq!(buttons[0]["text"], "✅ Approve");
    assert_eq!(buttons[1]["text"], "✖ Reject");
    assert_eq!(button(&notice, 0), format!("tool_approve:{}", tool.id));
    assert_eq!(button(&notice, 1), format!("tool_reject:{}", tool.id));
    let elsewhere = s
        .telegram
        .wait_for_message(101, |t| t.starts_with("🧰 New tool to review"))
        .await;

    // Approve: the tool is approved by the person who pressed, and the notice says so.
    let toast = s
        .toast_of(&press(
            ALLOWED,
            "private",
            7,
            "ana",
            &notice,
            &button(&notice, 0),
        ))
        .await;
    assert_eq!(toast, "✅ Approved by @ana: later tasks are offered it.");
    let approved = s.app.client.tools().get(tool.id).await.unwrap();
    assert_eq!(approved.status, ToolStatus::Approved);
    assert_eq!(approved.reviewed_by.as_deref(), Some("telegram:@ana"));
    let edit = s
        .wait_for_edit(&notice["message_id"], |t| {
            t.ends_with("\n\n✅ Approved by @ana: later tasks are offered it.")
        })
        .await;
    assert!(
        edit["text"]
            .as_str()
            .unwrap()
            .starts_with("🧰 Tool word_count v1\n"),
        "{edit}"
    );
    assert_eq!(edit["reply_markup"], json!({"inline_keyboard": []}));

    // A late press in the other chat changes nothing, and says how the tool stands.
    let toast = s
        .toast_of(&press(
            101,
            "private",
            8,
            "bob",
            &elsewhere,
            &button(&elsewhere, 1),
        ))
        .await;
    assert_eq!(toast, "Already approved by telegram:@ana.");
    s.wait_for_edit(&elsewhere["message_id"], |t| {
        t.ends_with("Already approved by telegram:@ana.")
    })
    .await;
    assert_eq!(
        s.app.client.tools().get(tool.id).await.unwrap().status,
        ToolStatus::Approved
    );

    // The decision is not news of its own: later news shows nothing else came of it.
    let agent = s.app.agent("ops-bot").await;
    s.complete_task(project, agent, "after").await;
    s.telegram
        .wait_for_message(ALLOWED, |t| t.contains("\"after\" completed"))
        .await;
    let about: Vec<String> = s
        .telegram
        .texts_to(ALLOWED)
        .into_iter()
        .filter(|t| t.contains("word_count"))
        .collect();
    assert_eq!(about.len(), 1, "{about:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_is_rejected_from_telegram_by_a_groups_admin_only() {
    use agentops_sdk::types::ToolStatus;
    let s = stack_with(&[ALLOWED, GROUP], agentops_telegram::USER_RATE).await;
    s.telegram.make_admin(GROUP, 9);
    let tool = s
        .app
        .client
        .tools()
        .create(written_tool(None))
        .await
        .unwrap();
    let notice = s
        .telegram
        .wait_for_message(GROUP, |t| t.starts_with("🧰 New tool to review"))
        .await;
    assert!(
        notice["text"]
            .as_str()
            .unwrap()
            .contains("· made in no task\n"),
        "{notice}"
    );
    let reject = button(&notice, 1);

    // A member who is not an admin: refused.
    let toast = s
        .toast_of(&press(GROUP, "group", 8, "bob", &notice, &reject))
        .await;
    assert_eq!(toast, "Only an admin of this chat can review a tool.");
    // A forged press on a message without that button: refused.
    let other = json!({"message_id": 999, "text": "something else"});
    let toast = s
        .toast_of(&press(GROUP, "group", 9, "carol", &other, &reject))
        .await;
    assert_eq!(toast, "I do not know this button.");
    assert_eq!(
        s.app.client.tools().get(tool.id).await.unwrap().status,
        ToolStatus::PendingReview
    );

    // An admin rejects it.
    let toast = s
        .toast_of(&press(GROUP, "group", 9, "carol", &notice, &reject))
        .await;
    assert_eq!(toast, "✖ Rejected by @carol.");
    let rejected = s.app.client.tools().get(tool.id).await.unwrap();
    assert_eq!(rejected.status, ToolStatus::Rejected);
    assert_eq!(rejected.reviewed_by.as_deref(), Some("telegram:@carol"));
    let edit = s
        .wait_for_edit(&notice["message_id"], |t| {
            t.ends_with("\n\n✖ Rejected by @carol.")
        })
        .await;
    assert_eq!(edit["reply_markup"], json!({"inline_keyboard": []}));
    // Approving it from the other chat's notice now changes nothing: it says how the
    // tool stands.
    let mine = s
        .telegram
        .wait_for_message(ALLOWED, |t| t.starts_with("🧰 New tool to review"))
        .await;
    let toast = s
        .toast_of(&press(
            ALLOWED,
            "private",
            7,
            "ana",
            &mine,
            &button(&mine, 0),
        ))
        .await;
    assert_eq!(toast, "Already rejected by telegram:@carol.");
    assert_eq!(
        s.app.client.tools().get(tool.id).await.unwrap().status,
        ToolStatus::Rejected
    );
}
