//! Tools agents write: stored only with passed tests, versioned by name, reviewed,
//! offered to the tasks that may use them, and counted when they run.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use agentops_api::config::ToolApproval;
use agentops_sdk::types::{
    ToolIn, ToolReviewIn, ToolRunIn, ToolRuntime, ToolStatus, ToolTest, ToolTestResult,
};
use agentops_testkit::{Backend, TestApp};

fn tool(name: &str, task_id: Option<uuid::Uuid>) -> ToolIn {
    ToolIn {
        name: name.to_owned(),
        description: "Counts the words of `text`.".to_owned(),
        input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}),
        runtime: ToolRuntime::Sh,
        source: "printf '%s' \"$ARG_TEXT\" | wc -w".to_owned(),
        tests: vec![ToolTest {
            input: json!({"text": "a b c"}),
            expect: "3".to_owned(),
            exact: true,
            result: ToolTestResult {
                passed: true,
                output: "3\n".to_owned(),
                error: None,
            },
        }],
        task_id,
    }
}

async fn tools_are_versioned_by_name_and_wait_for_review(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "seed", json!({})).await;
    let tools = app.client.tools();

    let first = tools
        .create(tool("word_count", Some(task.id)))
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(
        first.status,
        ToolStatus::PendingReview,
        "review is the default"
    );
    assert_eq!(
        (first.task_id, first.project_id),
        (Some(task.id), Some(project))
    );
    assert_eq!((first.usage_count, first.failure_count), (0, 0));
    assert!(first.reviewed_at.is_none());
    let second = tools.create(tool("word_count", None)).await.unwrap();
    assert_eq!(second.version, 2, "the same name gets the next version");
    assert_eq!(tools.get(first.id).await.unwrap(), first);

    // A pending tool is usable only by the task that made it.
    let other = app.task(project, "seed", json!({})).await;
    let client = &app.client;
    let usable = |task| async move {
        let page = client
            .tools()
            .list()
            .usable_by_task(task)
            .send()
            .await
            .unwrap();
        page.items.into_iter().map(|t| t.id).collect::<Vec<_>>()
    };
    assert_eq!(usable(task.id).await, [first.id]);
    assert!(usable(other.id).await.is_empty());

    let approved = tools
        .approve(
            second.id,
            ToolReviewIn {
                by: Some("telegram:@ana".into()),
                reason: Some("looks right".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(approved.status, ToolStatus::Approved);
    assert_eq!(approved.reviewed_by.as_deref(), Some("telegram:@ana"));
    assert_eq!(approved.review_reason.as_deref(), Some("looks right"));
    assert!(approved.reviewed_at.is_some());
    assert_eq!(
        usable(other.id).await,
        [second.id],
        "approved: offered to all"
    );
    assert_eq!(
        tools
            .approve(second.id, ToolReviewIn::default())
            .await
            .unwrap(),
        approved,
        "approving again changes nothing"
    );

    let rejected = tools
        .reject(first.id, ToolReviewIn::default())
        .await
        .unwrap();
    assert_eq!(rejected.status, ToolStatus::Rejected);
    assert!(rejected.reviewed_by.unwrap().starts_with("key:"));
    let err = tools
        .approve(first.id, ToolReviewIn::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::CONFLICT), "{err}");
    assert_eq!(
        usable(task.id).await,
        [second.id],
        "rejected: offered to none"
    );

    let retired = tools
        .retire(second.id, ToolReviewIn::default())
        .await
        .unwrap();
    assert_eq!(retired.status, ToolStatus::Retired);
    assert!(usable(other.id).await.is_empty());
    let err = tools
        .approve(second.id, ToolReviewIn::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::CONFLICT), "retired is final");

    let by_status = tools
        .list()
        .status(ToolStatus::Retired)
        .send()
        .await
        .unwrap();
    assert_eq!(by_status.items.len(), 1);
    let by_name = tools.list().name("word_count").send().await.unwrap();
    assert_eq!(by_name.items.len(), 2);
    let by_task = tools.list().task(task.id).send().await.unwrap();
    assert_eq!(by_task.items.len(), 1);

    let kinds: Vec<String> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind.starts_with("tool."))
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "tool.created",
            "tool.created",
            "tool.approved",
            "tool.rejected",
            "tool.retired"
        ]
    );
}

async fn a_tool_whose_tests_did_not_pass_is_never_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut failed = tool("word_count", None);
    failed.tests[0].result.passed = false;
    let (code, body) = app
        .call(
            Method::POST,
            "/api/v1/tools",
            Some(serde_json::to_value(&failed).unwrap()),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["details"][0]["field"],
        "tests[0].result.passed"
    );

    let mut missing = tool("word_count", None);
    missing.tests[0].result.output = "x".repeat(4_001);
    let (code, _) = app
        .call(
            Method::POST,
            "/api/v1/tools",
            Some(serde_json::to_value(&missing).unwrap()),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);

    for (field, value) in [
        ("name", json!("Word-Count")),
        ("name", json!("1st")),
        ("input_schema", json!({"type": "string"})),
        ("tests", json!([])),
        ("source", json!("")),
    ] {
        let mut body = serde_json::to_value(tool("ok", None)).unwrap();
        body[field] = value;
        let (code, answer) = app.call(Method::POST, "/api/v1/tools", Some(body)).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed");
    }
    let (code, answer) = app
        .call(
            Method::POST,
            "/api/v1/tools",
            Some(serde_json::to_value(tool("ok", Some(uuid::Uuid::now_v7()))).unwrap()),
        )
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"]["code"], "task_not_found");
    assert!(
        app.client
            .tools()
            .list()
            .send()
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn runs_are_counted_and_failures_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let task = app.task(project, "seed", json!({})).await;
    let made = app
        .client
        .tools()
        .create(tool("word_count", None))
        .await
        .unwrap();
    let tools = app.client.tools();
    let ok = ToolRunIn {
        error: None,
        task_id: Some(task.id),
    };
    tools.record_run(made.id, ok.clone()).await.unwrap();
    let after = tools
        .record_run(
            made.id,
            ToolRunIn {
                error: Some("exit 2: no such file".into()),
                task_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!((after.usage_count, after.failure_count), (2, 1));
    assert_eq!(after.last_error.as_deref(), Some("exit 2: no such file"));
    assert!(after.last_used_at.is_some());
    let used: Vec<Value> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind == "tool.used")
        .map(|e| json!([e.task_id, e.project_id, e.data["ok"]]))
        .collect();
    assert_eq!(
        used,
        [json!([task.id, project, true]), json!([null, null, false])]
    );
    let err = tools
        .record_run(uuid::Uuid::now_v7(), ok)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    let (code, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/tools/{}/runs", made.id),
            Some(json!({"error": ""})),
        )
        .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn only_admins_review_and_agents_write(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let made = app
        .client
        .tools()
        .create(tool("word_count", None))
        .await
        .unwrap();
    let body = serde_json::to_value(tool("other", None)).unwrap();
    let viewer = app.create_key("viewer").await;
    let (code, _) = app
        .call_as(
            Some(&viewer),
            Method::POST,
            "/api/v1/tools",
            Some(body.clone()),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let agent = app.create_key("agent").await;
    let (code, _) = app
        .call_as(Some(&agent), Method::POST, "/api/v1/tools", Some(body))
        .await;
    assert_eq!(code, StatusCode::CREATED);
    for verb in ["approve", "reject"] {
        let (code, answer) = app
            .call_as(
                Some(&agent),
                Method::POST,
                &format!("/api/v1/tools/{}/{verb}", made.id),
                None,
            )
            .await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{verb}: {answer}");
    }
    let (code, list) = app
        .call_as(Some(&viewer), Method::GET, "/api/v1/tools", None)
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

async fn with_auto_approval_a_tool_is_approved_when_stored(backend: Backend) {
    let app = TestApp::spawn_with(backend, |cfg| cfg.tool_approval = ToolApproval::Auto).await;
    let made = app
        .client
        .tools()
        .create(tool("word_count", None))
        .await
        .unwrap();
    assert_eq!(made.status, ToolStatus::Approved);
    assert!(made.reviewed_by.unwrap().starts_with("auto"));
    let kinds: Vec<String> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.kind.starts_with("tool."))
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["tool.created", "tool.approved"]);
}

crate::on_both_backends!(
    tools_are_versioned_by_name_and_wait_for_review,
    a_tool_whose_tests_did_not_pass_is_never_stored,
    runs_are_counted_and_failures_kept,
    only_admins_review_and_agents_write,
    with_auto_approval_a_tool_is_approved_when_stored,
);
