//! A plan's progress told in its conversation while its tasks run: lines gathered and
//! said at most once an interval (each task's latest), a question a task blocks on at
//! once, nothing gathered said after the final report, a conversation that turns the
//! lines off, and Chiefs side by side that say each thing once.

use std::time::Duration;

use agentops_agents::chief::progress::{PLAN_PROGRESS, PLAN_QUESTION, ProgressConfig};
use agentops_agents::chief::{ChatIn, ChatOut, ChiefConfig, ChiefOfStaff, PLAN_DONE};
use agentops_sdk::types::{
    ApprovalStatus, BlockIn, ClaimIn, ClaimedTask, CompleteIn, MessageOut, TaskHeartbeatIn,
    TaskOut, TaskStatus,
};
use uuid::Uuid;

use crate::chief::{executor, wait_until};
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(a_plans_tasks_are_followed_in_its_chat_until_the_report);

fn chief_every(app: &TestApp, every: Duration) -> ChiefOfStaff {
    ChiefOfStaff::new(
        app.client.clone(),
        ChiefConfig {
            progress: ProgressConfig { every: Some(every) },
            ..ChiefConfig::default()
        },
    )
    .unwrap()
}

async fn say(chief: &ChiefOfStaff, chat: &str, text: &str) -> ChatOut {
    chief.chat(ChatIn::on("web", chat, text)).await.unwrap()
}

/// Proposes `request` in chat `chat`, says OK and waits until the plan was carried out;
/// the plan's conversation and its tasks by title.
async fn planned(
    app: &TestApp,
    chief: &ChiefOfStaff,
    chat: &str,
    request: &str,
) -> (Uuid, Vec<TaskOut>) {
    let plan = say(chief, chat, request).await;
    let approval = plan.approval.expect("a plan").id;
    assert_eq!(say(chief, chat, "ok").await.reply, "On it.");
    wait_until("the plan to be carried out", || async {
        app.client.approvals().get(approval).await.unwrap().status == ApprovalStatus::Executed
    })
    .await;
    let tasks = app
        .client
        .tasks()
        .list()
        .label(format!("plan:{approval}"))
        .send()
        .await
        .unwrap()
        .items;
    (plan.thread_id, tasks)
}

/// The conversation's messages, oldest first.
async fn messages(app: &TestApp, thread: Uuid) -> Vec<MessageOut> {
    let mut all = app
        .client
        .threads()
        .messages(thread)
        .limit(200)
        .send()
        .await
        .unwrap()
        .items;
    all.sort_by_key(|m| (m.created_at, m.id));
    all
}

/// The texts of the progress lines said so far.
async fn lines(app: &TestApp, thread: Uuid) -> Vec<String> {
    messages(app, thread)
        .await
        .into_iter()
        .filter(|m| m.metadata.get(PLAN_PROGRESS).is_some())
        .map(|m| m.text)
        .collect()
}

async fn claim(app: &TestApp, agent: Uuid, task: &TaskOut) -> ClaimedTask {
    let claimed = app
        .client
        .tasks()
        .claim(ClaimIn {
            agent_id: agent,
            kinds: None,
            labels: Some(task.labels.clone()),
            project_id: Some(task.project_id),
            limit: Some(1),
            lease_seconds: None,
            complete: None,
        })
        .await
        .unwrap()
        .tasks;
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].task.id, task.id, "{}", claimed[0].task.title);
    claimed.into_iter().next().unwrap()
}

async fn progress(app: &TestApp, claimed: &ClaimedTask, fraction: f64, message: &str) {
    app.client
        .tasks()
        .heartbeat(
            claimed.task.id,
            TaskHeartbeatIn {
                claim_token: claimed.claim_token,
                lease_seconds: None,
                progress: Some(fraction),
                message: Some(message.into()),
            },
        )
        .await
        .unwrap();
}

async fn complete(app: &TestApp, claimed: &ClaimedTask, summary: &str) {
    app.client
        .tasks()
        .complete(
            claimed.task.id,
            CompleteIn {
                claim_token: claimed.claim_token,
                result: Some(serde_json::json!({ "summary": summary })),
            },
        )
        .await
        .unwrap();
}

async fn block(app: &TestApp, task: Uuid, claim_token: Uuid, reason: &str) {
    app.client
        .tasks()
        .block(
            task,
            BlockIn {
                claim_token,
                reason: reason.into(),
            },
        )
        .await
        .unwrap();
}

fn code(task: &TaskOut) -> String {
    agentops_agents::chief::actions::short_id(task.id)
}

async fn a_plans_tasks_are_followed_in_its_chat_until_the_report(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let every = Duration::from_secs(2);
    let chief = chief_every(&app, every);
    let _executor = executor(&chief);
    let (thread, tasks) = planned(
        &app,
        &chief,
        "ada",
        "create project Garden with tasks draft then review",
    )
    .await;
    let by_title = |t: &str| tasks.iter().find(|x| x.title == t).unwrap().clone();
    let (draft, review) = (by_title("draft"), by_title("review"));
    let agent = app.agent("gardener").await;

    // The first line is said at once.
    let held = claim(&app, agent, &draft).await;
    let started = format!("▶️ {} \"draft\" started", code(&draft));
    wait_until("the start of draft", || async {
        lines(&app, thread).await == [started.clone()]
    })
    .await;
    // Then, within the interval, each task's latest line only, said together once it is
    // up.
    progress(&app, &held, 0.25, "step 1/4: sow").await;
    progress(&app, &held, 0.5, "step 2/4: water").await;
    progress(&app, &held, 0.75, "step 3/4: weed").await;
    let latest = format!("⏳ {} \"draft\": 75% · step 3/4: weed", code(&draft));
    wait_until("the gathered lines", || async {
        lines(&app, thread).await.len() == 2
    })
    .await;
    assert_eq!(lines(&app, thread).await, [started.clone(), latest.clone()]);
    let said = messages(&app, thread).await;
    let at = |text: &str| said.iter().find(|m| m.text == text).unwrap().created_at;
    assert!(
        at(&latest) - at(&started) >= chrono::Duration::milliseconds(1_900),
        "at most one message an interval: {} then {}",
        at(&started),
        at(&latest)
    );

    // A task that ends before the plan's last is a line too; the next one starts.
    complete(&app, &held, "three beds drafted").await;
    let held = claim(&app, agent, &review).await;
    wait_until("draft done and review started", || async {
        lines(&app, thread).await.len() == 3
    })
    .await;
    assert_eq!(
        lines(&app, thread).await[2],
        format!(
            "✅ {} \"draft\" done: three beds drafted\n▶️ {} \"review\" started",
            code(&draft),
            code(&review)
        )
    );

    // A question is passed on at once, whatever the interval, with how to answer it;
    // the answer in the chat reaches the task.
    block(&app, review.id, held.claim_token, "Roses or tulips?").await;
    let asked = format!(
        "❓ {code} \"review\" needs an answer: Roses or tulips?\nReply here with your answer (or any time: unblock {code} with your answer).",
        code = code(&review)
    );
    wait_until("the question", || async {
        messages(&app, thread)
            .await
            .iter()
            .any(|m| m.text == asked && m.metadata.get(PLAN_QUESTION).is_some())
    })
    .await;
    let answer = say(
        &chief,
        "ada",
        &format!("unblock {} with tulips", code(&review)),
    )
    .await;
    assert!(answer.approval.is_some(), "{}", answer.reply);
    assert_eq!(say(&chief, "ada", "ok").await.reply, "On it.");
    app.wait_for_task(review.id, Duration::from_secs(20), |t| {
        t.status == TaskStatus::Queued
    })
    .await;

    // Progress just before the end is dropped for the report, which says it all. (Once
    // the interval is up: the start is said at once, the progress gathered.)
    tokio::time::sleep(every).await;
    let held = claim(&app, agent, &review).await;
    progress(&app, &held, 0.9, "planting tulips").await;
    complete(&app, &held, "tulips it is").await;
    wait_until("the report", || async {
        messages(&app, thread)
            .await
            .iter()
            .any(|m| m.metadata.get(PLAN_DONE).is_some())
    })
    .await;
    tokio::time::sleep(every + Duration::from_millis(500)).await;
    let after = messages(&app, thread).await;
    let last = after.last().unwrap();
    assert!(
        last.metadata.get(PLAN_DONE).is_some(),
        "nothing after the report: {:?}",
        after.iter().map(|m| &m.text).collect::<Vec<_>>()
    );
    assert!(last.text.starts_with("✅ Work finished"), "{}", last.text);
    assert!(
        !after.iter().any(|m| m.text.contains("planting tulips")),
        "{:?}",
        after.iter().map(|m| &m.text).collect::<Vec<_>>()
    );

    // "/progress off": the next plan says only its question and its report.
    let off = say(&chief, "ada", "just tell me when it's done").await;
    assert_eq!(
        off.reply,
        "OK: no progress lines here. I will still tell you when a task needs an answer, and when a plan is done."
    );
    let before = lines(&app, thread).await.len();
    let (_, tasks) = planned(&app, &chief, "ada", "create project Shed with tasks paint").await;
    let held = claim(&app, agent, &tasks[0]).await;
    progress(&app, &held, 0.5, "first coat").await;
    complete(&app, &held, "painted").await;
    wait_until("the second report", || async {
        messages(&app, thread)
            .await
            .iter()
            .filter(|m| m.metadata.get(PLAN_DONE).is_some())
            .count()
            == 2
    })
    .await;
    tokio::time::sleep(every + Duration::from_millis(500)).await;
    assert_eq!(lines(&app, thread).await.len(), before, "no lines when off");
    let on = say(&chief, "ada", "/progress on").await;
    assert_eq!(
        on.reply,
        "OK: while a plan of yours runs, I will tell you here how its tasks are going (at most every 2 seconds), and when it is done."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chiefs_side_by_side_say_each_line_and_question_once_and_think_without_the_lines() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // A long interval: both Chiefs say the first line in the same one.
    let every = Duration::from_secs(3_600);
    let (one, two) = (chief_every(&app, every), chief_every(&app, every));
    let (_one, _two) = (executor(&one), executor(&two));
    let (thread, tasks) = planned(&app, &one, "bo", "create project Twins with tasks fold").await;
    let agent = app.agent("folder").await;
    let held = claim(&app, agent, &tasks[0]).await;
    wait_until("the start", || async {
        lines(&app, thread).await.len() == 1
    })
    .await;
    block(&app, tasks[0].id, held.claim_token, "How many?").await;
    let asked = |m: &MessageOut| m.metadata.get(PLAN_QUESTION).is_some();
    wait_until("the question", || async {
        messages(&app, thread).await.iter().any(asked)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let said = messages(&app, thread).await;
    assert_eq!(lines(&app, thread).await.len(), 1, "the start said once");
    assert_eq!(said.iter().filter(|m| asked(m)).count(), 1, "asked once");

    // Lines stay out of what the Chief thinks with; the question stays in.
    let standin = crate::llm_standin::LlmStandIn::spawn().await;
    let thinking = crate::chief::chief(&app, Some(&standin));
    standin.reply(crate::llm_standin::classified("question", 0.9));
    standin.reply(serde_json::json!({"role": "assistant", "content": "Twelve would do."}));
    thinking
        .chat(ChatIn {
            thread_id: Some(thread),
            ..ChatIn::on("web", "bo", "what should I say?")
        })
        .await
        .unwrap();
    let transcript = standin.requests()[0].1["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(transcript.contains("How many?"), "{transcript}");
    assert!(!transcript.contains("started"), "{transcript}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_asked_while_the_chief_was_away_is_passed_on_when_it_is_back() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let chief = chief_every(&app, Duration::from_secs(3_600));
    let running = executor(&chief);
    let (thread, tasks) = planned(&app, &chief, "cy", "create project Away with tasks sort").await;
    drop(running);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The task blocks while no Chief follows the events.
    let agent = app.agent("sorter").await;
    let held = claim(&app, agent, &tasks[0]).await;
    block(&app, tasks[0].id, held.claim_token, "By size or by colour?").await;
    let asked = |m: &MessageOut| m.metadata.get(PLAN_QUESTION).is_some();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!messages(&app, thread).await.iter().any(asked));

    // Back: asked once, and not again by the next start.
    let back = executor(&chief);
    wait_until("the question", || async {
        messages(&app, thread).await.iter().any(asked)
    })
    .await;
    drop(back);
    let _again = executor(&chief);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let questions: Vec<String> = messages(&app, thread)
        .await
        .into_iter()
        .filter(|m| asked(m))
        .map(|m| m.text)
        .collect();
    assert_eq!(questions.len(), 1, "{questions:?}");
    assert!(
        questions[0].contains("By size or by colour?"),
        "{questions:?}"
    );

    // A question back is not the answer; the next plain message is, at once: the task
    // goes back to the queue with it.
    let back = say(&chief, "cy", "what do you mean?").await;
    assert!(!back.reply.starts_with("Passed on"), "{}", back.reply);
    assert_eq!(
        app.client.tasks().get(tasks[0].id).await.unwrap().status,
        TaskStatus::Blocked
    );
    let answered = say(&chief, "cy", "By colour").await;
    assert_eq!(
        answered.reply,
        format!(
            "Passed on to {} \"sort\": \"By colour\". It goes on.",
            code(&tasks[0])
        )
    );
    assert!(answered.approval.is_none());
    let task = app.client.tasks().get(tasks[0].id).await.unwrap();
    assert_eq!(task.status, TaskStatus::Queued);
    assert_eq!(task.progress_message.as_deref(), Some("By colour"));
    // Once answered, the same words are an ordinary message again.
    let next = say(&chief, "cy", "By colour").await;
    assert!(!next.reply.starts_with("Passed on"), "{}", next.reply);
}
