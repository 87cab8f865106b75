//! Nothing is spent off the books: every LLM call the Seed and the Chief of Staff make is
//! reserved against the budgets and recorded in the ledger with the tokens the provider
//! reported; a budget without room pauses the work instead of failing it.

use std::time::Duration;

use agentops_sdk::types::{
    BudgetIn, BudgetPeriod, BudgetTarget, ChatIn, TaskStatus, UsageOutcome, UsageScope,
};
use serde_json::json;

use crate::chief::chief;
use crate::helpers::{Backend, TestApp};
use crate::llm_standin::{LlmStandIn, classified, tool_call};
use crate::seed::{finished, llm, seed_task, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_of_a_seed_task_and_a_chief_reply_is_in_the_ledger() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let project = app.project().await;
    standin.reply_costing(
        tool_call("c1", "run_shell", json!({"command": "echo hi"})),
        1234,
        56,
    );
    standin.fail(axum::http::StatusCode::SERVICE_UNAVAILABLE);
    standin.reply_costing(
        tool_call("c2", "finish", json!({"summary": "said hi"})),
        2345,
        67,
    );
    let _seed = start(&app, llm(&standin));
    let task = seed_task(&app, project, json!({"goal": "say hi"}), 3).await;
    let done = finished(&app, task.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");

    let calls = app
        .client
        .usage()
        .list()
        .task(task.id)
        .send()
        .await
        .unwrap()
        .items;
    // Newest first: the finishing call, the failed one (no tokens), the first.
    let tokens: Vec<(u64, u64, UsageOutcome)> = calls
        .iter()
        .map(|c| (c.tokens_in, c.tokens_out, c.outcome))
        .collect();
    assert_eq!(
        tokens,
        [
            (2345, 67, UsageOutcome::Ok),
            (0, 0, UsageOutcome::Error),
            (1234, 56, UsageOutcome::Ok)
        ]
    );
    for call in &calls {
        assert_eq!(call.project_id, Some(project));
        assert_eq!(call.agent_id, done.agent_id);
        assert_eq!(call.scope, UsageScope::Reactive);
        assert_eq!(call.model, "standin-model");
        assert!(call.provider.starts_with("127.0.0.1:"), "{}", call.provider);
        assert!(
            call.reservation_id.is_some(),
            "every call was reserved first"
        );
    }
    assert!(
        calls[1].error.as_deref().unwrap().contains("503"),
        "{calls:?}"
    );

    // A Chief of Staff reply: its call is booked for the conversation and the person.
    let chief = chief(&app, Some(&standin));
    standin.reply_costing(classified("question", 0.9), 50, 5);
    standin.reply_costing(
        json!({"role": "assistant", "content": "All quiet."}),
        777,
        33,
    );
    let answer = chief
        .chat(ChatIn {
            author: Some("@ana".into()),
            ..ChatIn::on("telegram", "100", "how is it going?")
        })
        .await
        .unwrap();
    assert!(answer.reply.starts_with("All quiet."), "{answer:?}");
    let booked = app
        .client
        .usage()
        .list()
        .thread(answer.thread_id)
        .send()
        .await
        .unwrap()
        .items;
    // The classifier's call and the answer's.
    assert_eq!(booked.len(), 2);
    let mut tokens: Vec<_> = booked.iter().map(|b| (b.tokens_in, b.tokens_out)).collect();
    tokens.sort_unstable();
    assert_eq!(tokens, [(50, 5), (777, 33)]);
    assert!(booked.iter().all(|b| b.user.as_deref() == Some("@ana")));

    // The totals agree with what the stand-in reported, and nothing is left reserved.
    let summary = app
        .client
        .usage()
        .summary(agentops_sdk::types::UsageGroupBy::Model)
        .send()
        .await
        .unwrap();
    assert_eq!(summary.total.tokens_in, 1234 + 2345 + 50 + 777);
    assert_eq!(summary.total.tokens_out, 56 + 67 + 5 + 33);
    assert_eq!(summary.total.calls, 5);
    for budget in app.client.budgets().list().send().await.unwrap().items {
        assert_eq!(budget.current.reserved_tokens, 0, "{budget:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_budget_pauses_the_seed_and_the_chief_says_so() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let project = app.project().await;
    app.client
        .budgets()
        .create(BudgetIn {
            name: "tiny project".into(),
            applies_to: BudgetTarget::Project,
            subject: Some(project.to_string()),
            period: BudgetPeriod::Day,
            time_zone: None,
            limit_tokens: 100,
            limit_cost_usd: None,
            enabled: None,
        })
        .await
        .unwrap();
    let _seed = start(&app, llm(&standin));
    let task = seed_task(&app, project, json!({"goal": "write the launch plan"}), 3).await;
    let blocked = app
        .wait_for_task(task.id, Duration::from_secs(20), |t| {
            t.status == TaskStatus::Blocked
        })
        .await;
    let reason = blocked.block_reason.unwrap();
    assert!(
        reason.contains("out of LLM budget") && reason.contains("tiny project"),
        "{reason}"
    );
    assert!(
        blocked.error.is_none(),
        "paused, not failed: {:?}",
        blocked.error
    );
    assert!(standin.requests().is_empty(), "no call was made");

    app.client
        .budgets()
        .create(BudgetIn {
            name: "ana".into(),
            applies_to: BudgetTarget::User,
            subject: Some("@ana".into()),
            period: BudgetPeriod::Day,
            time_zone: None,
            limit_tokens: 10,
            limit_cost_usd: None,
            enabled: None,
        })
        .await
        .unwrap();
    let answer = chief(&app, Some(&standin))
        .chat(ChatIn {
            author: Some("@ana".into()),
            ..ChatIn::on("telegram", "100", "projects")
        })
        .await
        .unwrap();
    assert!(
        answer.reply.contains("I am out of LLM budget") && answer.reply.contains("\"ana\""),
        "{}",
        answer.reply
    );
    assert!(standin.requests().is_empty());
}
