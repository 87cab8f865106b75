//! A message that arrives while the Chief of Staff is still busy with the same
//! conversation: it waits its turn (`enqueue`, the default), is refused at once but kept
//! (`reject`), or stops the current work at its next safe point (`interrupt`); per
//! message, or as the conversation's setting said in plain words.

use std::time::Duration;

use agentops_agents::chief::{ChatIn, ChatOut, ChiefOfStaff, MULTITASK};
use agentops_sdk::types::{MessageRole, Multitask};
use serde_json::json;

use crate::chief::chief;
use crate::helpers::{Backend, TestApp};
use crate::llm_standin::{LlmStandIn, classified};

const SLOW: Duration = Duration::from_millis(800);

fn answer(text: &str) -> serde_json::Value {
    json!({"role": "assistant", "content": text})
}

/// Sends `first` (whose model is slow), then `second` while the Chief still works on
/// `first`; both replies.
async fn overlapping(chief: &ChiefOfStaff, first: ChatIn, second: ChatIn) -> (ChatOut, ChatOut) {
    let busy = {
        let chief = chief.clone();
        tokio::spawn(async move { chief.chat(first).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = chief.chat(second).await.unwrap();
    (busy.await.unwrap(), second)
}

async fn thread_texts(app: &TestApp, out: &ChatOut) -> Vec<(MessageRole, String)> {
    crate::chief::thread_texts(&app.client, out.thread_id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_a_second_message_waits_its_turn_and_sees_the_first_exchange() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    standin.reply_after(SLOW, classified("question", 0.9));
    standin.reply(answer("first answer"));
    standin.reply(classified("question", 0.9));
    standin.reply(answer("second answer"));
    let (first, second) = overlapping(
        &chief,
        ChatIn::on("web", "q", "first question"),
        ChatIn::on("web", "q", "second question"),
    )
    .await;
    assert_eq!(first.reply, "first answer");
    assert_eq!(second.reply, "second answer");
    assert_eq!(
        thread_texts(&app, &first).await,
        [
            (MessageRole::User, "first question".to_owned()),
            (MessageRole::Assistant, "first answer".to_owned()),
            (MessageRole::User, "second question".to_owned()),
            (MessageRole::Assistant, "second answer".to_owned()),
        ]
    );
    // The second was classified only once the first was answered, with it in view.
    let requests = standin.requests();
    assert_eq!(requests.len(), 4);
    let transcript = requests[2].1["messages"][1]["content"].as_str().unwrap();
    assert!(
        transcript.contains("] assistant: first answer"),
        "{transcript}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_set_to_reject_keeps_the_message_and_says_it_is_busy() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    // Said in plain words: a setting, not a question for the model.
    let set = chief
        .chat(ChatIn::on(
            "web",
            "r",
            "while you're busy, just tell me you're busy",
        ))
        .await
        .unwrap();
    assert!(
        set.reply.starts_with("OK: while I am still busy here"),
        "{}",
        set.reply
    );
    let thread = app.client.threads().get(set.thread_id).await.unwrap();
    assert_eq!(thread.metadata[MULTITASK], "reject");
    assert!(standin.requests().is_empty());

    standin.reply_after(SLOW, classified("question", 0.9));
    standin.reply(answer("the long answer"));
    let (first, second) = overlapping(
        &chief,
        ChatIn::on("web", "r", "a long question about everything"),
        ChatIn::on("web", "r", "and another thing"),
    )
    .await;
    assert_eq!(first.reply, "the long answer");
    assert_eq!(
        second.reply,
        "I am still working on your message \"a long question about everything\". Send this again when I am done (or say \"/busy interrupt\" to let new messages stop what I am doing)."
    );
    let texts = thread_texts(&app, &first).await;
    assert!(
        texts.contains(&(MessageRole::User, "and another thing".to_owned())),
        "the refused message is kept: {texts:?}"
    );
    assert_eq!(
        standin.requests().len(),
        2,
        "only the first went to the model"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupting_message_stops_the_first_at_its_next_model_turn() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    standin.reply_after(SLOW, classified("command", 0.9));
    standin.reply(classified("question", 0.9));
    standin.reply(answer("here is what you asked"));
    let (first, second) = overlapping(
        &chief,
        ChatIn::on("web", "i", "plan the whole launch"),
        ChatIn {
            multitask: Some(Multitask::Interrupt),
            ..ChatIn::on("web", "i", "actually, just tell me the status")
        },
    )
    .await;
    assert_eq!(
        first.reply,
        "I stopped working on \"plan the whole launch\" to read your newer message."
    );
    assert!(first.approval.is_none());
    assert_eq!(second.reply, "here is what you asked");
    // The first never reached its planning call.
    let requests = standin.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[1].1["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["content"],
        "actually, just tell me the status"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_sender_stops_waiting_is_still_answered_in_its_turn() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    standin.reply_after(SLOW, classified("question", 0.9));
    standin.reply(answer("first answer"));
    standin.reply(classified("question", 0.9));
    standin.reply(answer("second answer"));
    let busy = {
        let chief = chief.clone();
        tokio::spawn(async move { chief.chat(ChatIn::on("web", "g", "first")).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The sender (an HTTP request, a bot) gives up while the message waits its turn.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        chief.chat(ChatIn::on("web", "g", "second")),
    )
    .await;
    assert!(gave_up.is_err());
    let first = busy.await.unwrap();
    let want = [
        (MessageRole::User, "first".to_owned()),
        (MessageRole::Assistant, "first answer".to_owned()),
        (MessageRole::User, "second".to_owned()),
        (MessageRole::Assistant, "second answer".to_owned()),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let texts = thread_texts(&app, &first).await;
        if texts == want {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second message was not answered: {texts:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_stops_the_running_message_and_those_waiting_before_it_in_order() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    standin.reply_after(SLOW, classified("command", 0.9));
    standin.reply(classified("question", 0.9));
    standin.reply(answer("the status"));
    let send = |text: &'static str, multitask: Option<Multitask>| {
        let chief = chief.clone();
        tokio::spawn(async move {
            chief
                .chat(ChatIn {
                    multitask,
                    ..ChatIn::on("web", "w", text)
                })
                .await
                .unwrap()
        })
    };
    let first = send("plan the launch", None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = send("and the party", None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = send("stop, what's the status?", Some(Multitask::Interrupt));
    let (first, second, third) = (
        first.await.unwrap(),
        second.await.unwrap(),
        third.await.unwrap(),
    );
    assert_eq!(
        first.reply,
        "I stopped working on \"plan the launch\" to read your newer message."
    );
    assert_eq!(
        second.reply,
        "I stopped working on \"and the party\" to read your newer message."
    );
    assert_eq!(third.reply, "the status");
    // Every message is kept, in the order it was sent; only the first and the
    // interrupting one reached the model.
    let users: Vec<String> = thread_texts(&app, &first)
        .await
        .into_iter()
        .filter(|(role, _)| *role == MessageRole::User)
        .map(|(_, text)| text)
        .collect();
    assert_eq!(
        users,
        [
            "plan the launch",
            "and the party",
            "stop, what's the status?"
        ]
    );
    assert_eq!(standin.requests().len(), 3);
}
