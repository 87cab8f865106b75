//! The Chief of Staff's proactive rounds: they tell the operators what needs them (and
//! nothing when nothing changed), remember what they saw in versioned project notes,
//! and slow down as the proactive budget runs out, never spending past it.

use std::time::Duration;

use agentops_agents::chief::proactive::{NOTE_KEY, Pace, Proactive, ProactiveConfig};
use agentops_agents::llm::{Llm, LlmConfig};
use agentops_agents::meter::Meter;
use agentops_sdk::types::{
    BlockIn, BudgetIn, BudgetPatch, BudgetPeriod, BudgetTarget, ClaimIn, FailIn, TaskIn, ThreadIn,
    UsageScope,
};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{Backend, TestApp};
use crate::llm_standin::LlmStandIn;

fn config() -> ProactiveConfig {
    ProactiveConfig {
        min_interval: Duration::from_secs(1),
        max_interval: Duration::from_secs(86_400),
        blocked_after: Duration::ZERO,
        daily_tokens: 1_000_000,
    }
}

/// A task of `project` that ends `failed` (or `blocked`, with `block`).
async fn troubled_task(app: &TestApp, project: Uuid, title: &str, block: bool) -> Uuid {
    let tasks = app.client.tasks();
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
    let agent = app.agent("ops-bot").await;
    let claim = tasks
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
        .unwrap()
        .tasks
        .into_iter()
        .find(|c| c.task.id == task.id)
        .expect("claimed");
    if block {
        tasks
            .block(
                task.id,
                BlockIn {
                    claim_token: claim.claim_token,
                    reason: "which region?".into(),
                },
            )
            .await
            .unwrap();
    } else {
        tasks
            .fail(
                task.id,
                FailIn {
                    claim_token: claim.claim_token,
                    error: format!("{title} broke"),
                    retryable: Some(false),
                },
            )
            .await
            .unwrap();
    }
    task.id
}

async fn operator_messages(app: &TestApp) -> Vec<String> {
    let thread = app
        .client
        .threads()
        .open(ThreadIn::for_channel("chief", "operators"))
        .await
        .unwrap();
    let mut texts: Vec<String> = app
        .client
        .threads()
        .messages(thread.id)
        .send()
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.text)
        .collect();
    texts.reverse();
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_tells_what_is_new_once_and_remembers_it_in_project_notes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let project = app.project().await;
    troubled_task(&app, project, "deploy", true).await;
    troubled_task(&app, project, "backup", false).await;
    let rounds = Proactive::new(app.client.clone(), None, config());
    let mut pace = Pace::default();

    let first = rounds.round(&mut pace).await.unwrap();
    let sent = first.sent.expect("something to tell");
    assert!(sent.contains("\"backup\" failed: backup broke"), "{sent}");
    assert!(
        sent.contains("\"deploy\" has waited for a person") && sent.contains("which region?"),
        "{sent}"
    );
    assert_eq!(first.tokens, 0, "no LLM, nothing spent");
    assert_eq!(operator_messages(&app).await, std::slice::from_ref(&sent));
    let note = app
        .client
        .projects()
        .note(project, NOTE_KEY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(note.version, 1);
    assert!(note.text.contains("backup broke"), "{}", note.text);

    // Nothing changed: nothing is sent, the note is not rewritten.
    let second = rounds.round(&mut pace).await.unwrap();
    assert_eq!(second.sent, None);
    assert_eq!(second.findings.len(), 2);
    assert_eq!(operator_messages(&app).await.len(), 1);
    assert_eq!(
        app.client
            .projects()
            .note(project, NOTE_KEY)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );

    // Something new: told, and the note moves to version 2 (version 1 kept).
    troubled_task(&app, project, "billing", false).await;
    let third = rounds.round(&mut pace).await.unwrap();
    assert!(third.sent.unwrap().contains("billing broke"));
    let versions = app
        .client
        .projects()
        .note_versions(project, NOTE_KEY, 10)
        .await
        .unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        [2, 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pace_slows_as_the_proactive_budget_runs_down_and_never_overspends() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let project = app.project().await;
    // Only this budget limits proactive work: 10,000 tokens a day.
    let budgets = app.client.budgets();
    for budget in budgets.list().send().await.unwrap().items {
        budgets
            .update(
                budget.id,
                BudgetPatch {
                    enabled: Some(false),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    // The pace shares the time left in the budget's day among the rounds its tokens pay
    // for, so the day must not be about to end (at 23:52 UTC the fourth sleep was
    // 354 s): the budget's day runs in a zone where it is about noon now.
    let noon_zone = {
        let hour = i32::try_from(chrono::Timelike::hour(&chrono::Utc::now())).unwrap_or(0);
        // IANA's `Etc/GMT-N` is N hours ahead of UTC.
        match 12 - hour {
            0 => "Etc/GMT".to_owned(),
            ahead if ahead > 0 => format!("Etc/GMT-{ahead}"),
            behind => format!("Etc/GMT+{}", -behind),
        }
    };
    let cap = budgets
        .create(BudgetIn {
            name: "proactive, small".into(),
            applies_to: BudgetTarget::Proactive,
            subject: None,
            period: BudgetPeriod::Day,
            time_zone: Some(noon_zone),
            limit_tokens: 10_000,
            limit_cost_usd: None,
            enabled: None,
        })
        .await
        .unwrap();
    let llm = Llm::new(LlmConfig {
        base_url: standin.base.clone(),
        api_key: String::new(),
        model: "standin-model".into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
    .metered(Meter::new(app.client.clone()));
    let rounds = Proactive::new(app.client.clone(), Some(llm), config());
    let mut pace = Pace::default();
    let mut intervals = Vec::new();
    let mut spent = Vec::new();
    for i in 0..6 {
        standin.reply_costing(
            json!({"role": "assistant", "content": format!("Round {i}: look at the failures.")}),
            1_500,
            500,
        );
        // Something new each round, so each round has a reason to think.
        troubled_task(&app, project, &format!("job {i}"), false).await;
        let round = rounds.round(&mut pace).await.unwrap();
        assert!(round.sent.is_some(), "round {i} told the operators");
        intervals.push(round.next_in);
        spent.push(round.tokens);
    }
    // Four calls of 2,000 tokens fit in 10,000 with room reserved for each; then the
    // budget refuses and the rounds report plainly, spending nothing.
    assert_eq!(spent, [2_000, 2_000, 2_000, 2_000, 0, 0], "{intervals:?}");
    assert!(
        intervals[..4].windows(2).all(|w| w[1] > w[0]),
        "the sleep grows as the budget runs down: {intervals:?}"
    );
    assert!(intervals[3] > Duration::from_secs(600), "{intervals:?}");
    let standing = budgets.get(cap.id).await.unwrap().current;
    assert_eq!(standing.used_tokens, 8_000);
    assert!(standing.used_tokens <= 10_000);
    let booked = app
        .client
        .usage()
        .list()
        .scope(UsageScope::Proactive)
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(
        booked.len(),
        4,
        "every call of the rounds is in the ledger as proactive"
    );
    let messages = operator_messages(&app).await;
    assert!(messages[0].starts_with("Round 0"), "{messages:?}");
    assert!(
        messages[5].starts_with("Heads-up from your Chief of Staff"),
        "{messages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chief_reads_its_notes_when_asked_about_a_project() {
    use agentops_sdk::types::{ChatIn, NoteIn};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let project = app.project().await;
    app.client
        .projects()
        .write_note(
            project,
            NOTE_KEY,
            NoteIn {
                text: "As of today: deploy waits on a region.".into(),
                expected_version: None,
            },
        )
        .await
        .unwrap();
    standin.reply(crate::llm_standin::classified("question", 0.9));
    standin.reply(crate::llm_standin::tool_call(
        "n1",
        "project_notes",
        json!({"project": "P"}),
    ));
    standin.reply(json!({"role": "assistant", "content": "Deploy waits on a region."}));
    let chief = crate::chief::chief(&app, Some(&standin));
    let answer = chief
        .chat(ChatIn::on(
            "telegram",
            "7",
            "what do you know about project p?",
        ))
        .await
        .unwrap();
    assert_eq!(answer.reply, "Deploy waits on a region.");
    let requests = standin.requests();
    let tool_answer = requests[2].1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .clone();
    assert_eq!(tool_answer, "As of today: deploy waits on a region.");
}
