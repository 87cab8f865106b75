//! Schedules through the Chief of Staff: asked for in plain words, proposed, created on
//! OK; listed, paused by name; and the Chief's own scheduled tasks (reminders, reports)
//! said in the conversation that asked for them.

use std::time::Duration;

use agentops_agents::chief::ChiefConfig;
use agentops_sdk::CancellationToken;
use agentops_sdk::types::{ChatIn, ScheduleStatus, TaskIn};
use serde_json::json;

use crate::chief::{chief, executor};
use crate::helpers::{Backend, TestApp};

async fn approve_and_wait(app: &TestApp, approval: uuid::Uuid) {
    app.client.approvals().approve(approval).await.unwrap();
    for _ in 0..200 {
        let got = app.client.approvals().get(approval).await.unwrap();
        if got.status != agentops_sdk::types::ApprovalStatus::Approved
            && got.status != agentops_sdk::types::ApprovalStatus::Pending
        {
            assert_eq!(
                got.status,
                agentops_sdk::types::ApprovalStatus::Executed,
                "{got:?}"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the plan was never carried out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_asked_in_words_is_proposed_created_listed_and_paused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let _ = ChiefConfig::default();
    let chief = chief(&app, None);
    let _executor = executor(&chief);
    let say = |text: &str| ChatIn::on("telegram", "42", text);

    let proposed = chief
        .chat(say("Every weekday at 9:00, send me a status report"))
        .await
        .unwrap();
    assert!(
        proposed
            .reply
            .contains("a status report every weekday at 09:00 UTC"),
        "{}",
        proposed.reply
    );
    let approval = proposed.approval.expect("a plan to approve");
    approve_and_wait(&app, approval.id).await;

    let schedules = app.client.schedules().list().send().await.unwrap().items;
    assert_eq!(schedules.len(), 1);
    let schedule = &schedules[0];
    assert_eq!(schedule.cron.as_deref(), Some("0 9 * * MON-FRI"));
    assert_eq!(schedule.task.kind.as_deref(), Some("chief"));
    let input = schedule.task.input.clone().unwrap();
    assert_eq!(input["report"], "status");
    assert_eq!(
        input["thread_id"],
        json!(proposed.thread_id),
        "reports come back to this chat"
    );

    let listed = chief.chat(say("my schedules")).await.unwrap();
    assert!(
        listed.reply.contains("\"status report\""),
        "{}",
        listed.reply
    );

    let stop = chief.chat(say("stop the daily report")).await.unwrap();
    assert!(stop.reply.contains("should pause"), "{}", stop.reply);
    approve_and_wait(&app, stop.approval.unwrap().id).await;
    let paused = app.client.schedules().get(schedule.id).await.unwrap();
    assert_eq!(paused.status, ScheduleStatus::Paused);

    let unknown = chief.chat(say("stop the weekly invoices")).await.unwrap();
    assert!(
        unknown.reply.contains("I found no task or schedule like"),
        "{}",
        unknown.reply
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chief_says_its_reminders_and_reports_in_the_conversation() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let chief = chief(&app, None);
    let thread = chief
        .chat(ChatIn::on("telegram", "42", "status"))
        .await
        .unwrap()
        .thread_id;
    let stop = CancellationToken::new();
    let worker = {
        let (chief, stop) = (chief.clone(), stop.clone());
        tokio::spawn(async move { chief.run_chief_tasks(stop).await })
    };
    let project = app.project().await;
    for input in [
        json!({"remind": "check the deploy", "thread_id": thread}),
        json!({"report": "status", "thread_id": thread}),
    ] {
        let task = app
            .client
            .tasks()
            .create(TaskIn {
                project_id: project,
                title: "chief's own".into(),
                kind: Some("chief".into()),
                input: Some(input),
                ..Default::default()
            })
            .await
            .unwrap();
        app.wait_for_task(task.id, Duration::from_secs(20), |t| {
            t.status == agentops_sdk::types::TaskStatus::Completed
        })
        .await;
    }
    let texts: Vec<String> = app
        .client
        .threads()
        .messages(thread)
        .send()
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert!(
        texts.iter().any(|t| t == "⏰ Reminder: check the deploy"),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("📋 Status report")),
        "{texts:?}"
    );
    stop.cancel();
    worker.await.unwrap().unwrap();
}
