//! The Chief of Staff: conversations, plans that wait for an OK, carrying them out (also
//! after a restart, and after its event stream ended), the LLM brain against the
//! stand-in (also when it answers nothing, or control characters), and its HTTP API.

use std::time::Duration;

use agentops_agents::chief::{ChatIn, ChiefConfig, ChiefOfStaff, NO_ANSWER};
use agentops_agents::llm::LlmConfig;
use agentops_sdk::types::{ApprovalStatus, BlockIn, ClaimIn, MessageRole, TaskIn, TaskStatus};
use agentops_sdk::{CancellationToken, Client};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ADMIN_KEY, Backend, CuttableProxy, TestApp, client_for};
use crate::llm_standin::{LlmStandIn, classified, tool_call};
use crate::on_both_backends;

on_both_backends!(a_plan_waits_for_an_ok_then_is_carried_out_once);

pub(crate) fn chief(app: &TestApp, llm: Option<&LlmStandIn>) -> ChiefOfStaff {
    ChiefOfStaff::new(
        app.client.clone(),
        ChiefConfig {
            llm: llm.map(|s| LlmConfig {
                base_url: s.base.clone(),
                api_key: "sk-chief".into(),
                model: "standin-model".into(),
                timeout: Duration::from_secs(10),
            }),
            ..ChiefConfig::default()
        },
    )
    .unwrap()
}

/// Runs the executor in the background until dropped.
pub(crate) struct Executor(CancellationToken, tokio::task::JoinHandle<()>);

impl Drop for Executor {
    fn drop(&mut self) {
        self.0.cancel();
        self.1.abort();
    }
}

pub(crate) fn executor(chief: &ChiefOfStaff) -> Executor {
    let stop = CancellationToken::new();
    let (c, s) = (chief.clone(), stop.clone());
    Executor(
        stop,
        tokio::spawn(async move {
            c.run_executor(s).await.unwrap();
        }),
    )
}

pub(crate) async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    mut check: impl FnMut() -> F,
) {
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Serves `chief`'s HTTP API; returns its base URL.
async fn serve_chief(app: &TestApp, chief: ChiefOfStaff) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = agentops_agents::chief::server::router(chief, app.server.base.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// Posts `body` to the Chief of Staff's `/chat` with the admin key: the status and the
/// JSON answer.
async fn post_chat(base: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/chat"))
        .bearer_auth(ADMIN_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn approval_status(client: &Client, id: Uuid) -> ApprovalStatus {
    client.approvals().get(id).await.unwrap().status
}

pub(crate) async fn thread_texts(client: &Client, thread: Uuid) -> Vec<(MessageRole, String)> {
    let mut messages = client
        .threads()
        .messages(thread)
        .limit(100)
        .send()
        .await
        .unwrap()
        .items;
    messages.reverse();
    messages.into_iter().map(|m| (m.role, m.text)).collect()
}

async fn a_plan_waits_for_an_ok_then_is_carried_out_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let chief = chief(&app, None);
    let out = chief
        .chat(ChatIn::on(
            "telegram",
            "100",
            "create project Launch with tasks draft then review, tweet",
        ))
        .await
        .unwrap();
    assert_eq!(
        out.reply,
        "Understood: a new project \"Launch\" with 3 tasks. Will: create project \"Launch\"; add 3 tasks to project \"Launch\": \"draft\", \"review\", \"tweet\".\nReply OK to go ahead."
    );
    let approval = out.approval.clone().unwrap();
    assert_eq!(approval.status, ApprovalStatus::Pending);
    // Nothing happens before the OK.
    assert!(
        app.client
            .projects()
            .list()
            .send()
            .await
            .unwrap()
            .items
            .is_empty()
    );

    // The OK arrives while no executor runs (a restart, say): the plan is owed, not lost.
    let ok = chief
        .chat(ChatIn::on("telegram", "100", "OK"))
        .await
        .unwrap();
    assert_eq!(ok.reply, "On it.");
    assert_eq!(ok.thread_id, out.thread_id);
    assert_eq!(
        approval_status(&app.client, approval.id).await,
        ApprovalStatus::Approved
    );
    let _executor = executor(&chief);
    wait_until("the plan to be carried out", || async {
        approval_status(&app.client, approval.id).await == ApprovalStatus::Executed
    })
    .await;

    let projects = app.client.projects().list().send().await.unwrap().items;
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].name, "Launch");
    let tasks = app
        .client
        .tasks()
        .list()
        .project(projects[0].id)
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(tasks.len(), 3);
    let by_title = |t: &str| tasks.iter().find(|x| x.title == t).unwrap();
    assert_eq!(by_title("review").depends_on, [by_title("draft").id]);
    assert_eq!(by_title("review").status, TaskStatus::Waiting);
    assert_eq!(by_title("draft").kind, "seed");

    // Carrying it out again (a second notice) creates nothing more and says nothing more.
    let executed = app.client.approvals().get(approval.id).await.unwrap();
    chief.execute(executed).await;
    let again = app
        .client
        .tasks()
        .list()
        .project(projects[0].id)
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(again.len(), 3);

    wait_until("the done message", || async {
        thread_texts(&app.client, out.thread_id)
            .await
            .last()
            .is_some_and(|(_, text)| text.starts_with("Done: "))
    })
    .await;
    let texts = thread_texts(&app.client, out.thread_id).await;
    let roles: Vec<MessageRole> = texts.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        roles,
        [
            MessageRole::User,
            MessageRole::Assistant,
            MessageRole::User,
            MessageRole::Assistant,
            MessageRole::Assistant
        ]
    );
    let done = &texts[4].1;
    assert!(
        done.starts_with("Done: created project \"Launch\"; added 3 tasks (#"),
        "{done}"
    );
    assert_eq!(
        texts.iter().filter(|(_, t)| t.starts_with("Done")).count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_message_supersedes_the_plan_and_no_rejects_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let chief = chief(&app, None);
    let first = chief
        .chat(ChatIn::on("web", "s1", "create project Alpha"))
        .await
        .unwrap();
    let status = chief.chat(ChatIn::on("web", "s1", "status")).await.unwrap();
    assert_eq!(status.reply, "There are no tasks yet.");
    assert_eq!(
        approval_status(&app.client, first.approval.unwrap().id).await,
        ApprovalStatus::Superseded
    );
    // With nothing pending, "ok" is just a message.
    let ok = chief.chat(ChatIn::on("web", "s1", "ok")).await.unwrap();
    assert!(
        ok.reply.starts_with("There is nothing waiting for a yes"),
        "{}",
        ok.reply
    );

    let second = chief
        .chat(ChatIn::on("web", "s1", "create project Beta"))
        .await
        .unwrap();
    let no = chief.chat(ChatIn::on("web", "s1", "no")).await.unwrap();
    assert_eq!(no.reply, "All right, I will not do it.");
    assert_eq!(
        approval_status(&app.client, second.approval.unwrap().id).await,
        ApprovalStatus::Rejected
    );
    let help = chief.chat(ChatIn::on("web", "s1", "/help")).await.unwrap();
    assert!(help.reply.starts_with("I am your Chief of Staff"));
    assert!(
        app.client
            .projects()
            .list()
            .send()
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_name_blocked_tasks_and_an_unblock_carries_the_answer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let chief = chief(&app, None);
    let _executor = executor(&chief);
    let project = app.project().await;
    let task = app
        .client
        .tasks()
        .create(TaskIn {
            project_id: project,
            title: "deploy".into(),
            kind: Some("ops".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let agent = app.agent("ops-bot").await;
    let claimed = app
        .client
        .tasks()
        .claim(ClaimIn {
            agent_id: agent,
            kinds: Some(vec!["ops".into()]),
            labels: None,
            project_id: None,
            limit: None,
            lease_seconds: None,
            complete: None,
        })
        .await
        .unwrap();
    app.client
        .tasks()
        .block(
            task.id,
            BlockIn {
                claim_token: claimed.tasks[0].claim_token,
                reason: "which region?".into(),
            },
        )
        .await
        .unwrap();
    let code = agentops_agents::chief::actions::short_id(task.id);

    let report = chief.chat(ChatIn::on("web", "r", "status")).await.unwrap();
    assert_eq!(
        report.reply,
        format!("1 task: 1 blocked.\nBlocked {code} \"deploy\": which region?")
    );
    let one = chief
        .chat(ChatIn::on("web", "r", format!("status {code}")))
        .await
        .unwrap();
    assert_eq!(
        one.reply,
        format!(
            "{code} \"deploy\" is blocked: which region?.\nTo answer it: unblock {code} with your answer."
        )
    );
    let projects = chief
        .chat(ChatIn::on("web", "r", "projects"))
        .await
        .unwrap();
    assert_eq!(
        projects.reply,
        "1 project:\n\"p\": 0 of 1 task done, 1 blocked"
    );

    let plan = chief
        .chat(ChatIn::on(
            "web",
            "r",
            format!("unblock {code} with eu-west"),
        ))
        .await
        .unwrap();
    assert!(
        plan.reply
            .contains(&format!("Will: unblock {code} \"deploy\" with \"eu-west\"")),
        "{}",
        plan.reply
    );
    chief.chat(ChatIn::on("web", "r", "yes")).await.unwrap();
    app.wait_for_task(task.id, Duration::from_secs(20), |t| {
        t.status == TaskStatus::Queued
    })
    .await;
    let queued = app.client.tasks().get(task.id).await.unwrap();
    assert_eq!(queued.progress_message.as_deref(), Some("eu-west"));

    let unknown = chief
        .chat(ChatIn::on("web", "r", "unblock #abcdef"))
        .await
        .unwrap();
    assert_eq!(unknown.reply, "Sorry: there is no task #abcdef");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_looks_things_up_and_proposes_with_the_conversation_in_view() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    standin.reply(classified("other", 0.9));
    standin.reply(json!({"role": "assistant", "content": "Hello! What shall we work on?"}));
    standin.reply(classified("command", 0.9));
    standin.reply(tool_call("c1", "task_report", json!({})));
    standin.reply(tool_call(
        "c2",
        "propose_plan",
        json!({"understood": "a blog post", "actions": [{"action": "create_tasks", "project": "Nope", "tasks": []}]}),
    ));
    standin.reply(tool_call(
        "c3",
        "propose_plan",
        json!({
            "understood": "a blog post about the launch",
            "actions": [
                {"action": "create_project", "name": "Blog"},
                {"action": "create_tasks", "project": "Blog", "tasks": [
                    {"title": "write the post", "description": "run: echo draft > out/post.md"}
                ]}
            ]
        }),
    ));
    let hello = chief
        .chat(ChatIn::on("telegram", "7", "hi there"))
        .await
        .unwrap();
    assert_eq!(hello.reply, "Hello! What shall we work on?");
    let plan = chief
        .chat(ChatIn {
            metadata: Some(json!({"transcript": "write a blog post about the launch"})),
            ..ChatIn::on("telegram", "7", "write a blog post about the launch")
        })
        .await
        .unwrap();
    assert_eq!(
        plan.reply,
        "Understood: a blog post about the launch. Will: create project \"Blog\"; add 1 task to project \"Blog\": \"write the post\".\nReply OK to go ahead."
    );
    let requests = standin.requests();
    assert_eq!(requests.len(), 6);
    assert_eq!(requests[0].0.as_deref(), Some("sk-chief"));
    // Each message is classified first, with the classify tool only; a question or
    // chat gets no propose_plan tool, a command does.
    let tools = |i: usize| -> Vec<String> {
        requests[i].1["tools"]
            .as_array()
            .map(|tools| {
                tools
                    .iter()
                    .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(tools(0), ["classify"]);
    assert!(
        !tools(1).contains(&"propose_plan".to_owned()),
        "{:?}",
        tools(1)
    );
    assert_eq!(tools(2), ["classify"]);
    assert!(
        tools(3).contains(&"propose_plan".to_owned()),
        "{:?}",
        tools(3)
    );
    // The second message's prompts (the classifier's and the model's) carry the first
    // exchange, with times, and the voice note's transcript.
    for i in [2, 3] {
        let transcript = requests[i].1["messages"][1]["content"].as_str().unwrap();
        assert!(
            transcript.starts_with("The conversation so far (UTC):\n["),
            "{transcript}"
        );
        assert!(transcript.contains("] user: hi there\n"), "{transcript}");
        assert!(
            transcript.contains("] assistant: Hello! What shall we work on?"),
            "{transcript}"
        );
    }
    // The lookup's answer and the refusal of the unrunnable plan went back to the model.
    let last = requests[5].1["messages"].as_array().unwrap();
    let tool_texts: Vec<&str> = last
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(tool_texts[0], "There are no tasks yet.");
    assert_eq!(
        tool_texts[1],
        "error: the plan cannot run: there are no tasks to add. Fix it and call propose_plan again."
    );
    // Token use is kept with the reply, for the ledger.
    let mut messages = app
        .client
        .threads()
        .messages(plan.thread_id)
        .limit(1)
        .send()
        .await
        .unwrap()
        .items;
    let meta: Value = messages.remove(0).metadata;
    assert_eq!(meta["llm"]["calls"], 4);
    assert_eq!(meta["llm"]["prompt_tokens"], 400);
    assert_eq!(meta["approval_id"], plan.approval.unwrap().id.to_string());

    // With the LLM down, plain commands still work.
    standin.fail(axum::http::StatusCode::SERVICE_UNAVAILABLE);
    let fallback = chief
        .chat(ChatIn::on("telegram", "7", "projects"))
        .await
        .unwrap();
    assert!(
        fallback.reply.starts_with(
            "There are no projects yet. Say \"create project NAME with tasks A, B\" to start one.\n(The LLM is unavailable: the LLM answered 503"
        ),
        "{}",
        fallback.reply
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_that_answers_nothing_still_gets_the_person_a_reply() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let base = serve_chief(&app, chief(&app, Some(&standin))).await;
    standin.reply(classified("question", 0.8));
    standin.reply(json!({"role": "assistant", "content": null}));
    standin.reply(classified("question", 0.8));
    standin.reply(json!({"role": "assistant", "content": " \n\u{0}\u{1b}[0m "}));

    let mut thread = None;
    for text in ["what now?", "and now?"] {
        let (status, answer) = post_chat(
            &base,
            json!({"text": text, "channel": "web", "external_id": "e1"}),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["reply"], NO_ANSWER);
        thread = answer["thread_id"]
            .as_str()
            .map(|t| t.parse::<Uuid>().unwrap());
    }

    let texts = thread_texts(&app.client, thread.unwrap()).await;
    assert_eq!(
        texts,
        [
            (MessageRole::User, "what now?".to_owned()),
            (MessageRole::Assistant, NO_ANSWER.to_owned()),
            (MessageRole::User, "and now?".to_owned()),
            (MessageRole::Assistant, NO_ANSWER.to_owned()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_from_the_llm_are_cleaned_from_what_the_chief_posts() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    let _executor = executor(&chief);
    let base = serve_chief(&app, chief).await;
    standin.reply(classified("question", 0.9));
    standin.reply(json!({
        "role": "assistant",
        "content": "\u{1b}[31mAll\u{0} green\u{1b}[0m:\n\tnothing is blocked.\u{0}"
    }));
    standin.reply(classified("command", 0.9));
    standin.reply(tool_call(
        "c1",
        "propose_plan",
        json!({
            "understood": "\u{1b}[1ma launch\u{0}",
            "actions": [
                {"action": "create_project", "name": "Launch\u{0}"},
                {"action": "create_tasks", "project": "Launch", "tasks": [
                    {"title": "\u{1b}[31mdraft\u{1b}[0m"},
                    {"title": "review", "after": ["draft\u{7}"]}
                ]}
            ]
        }),
    ));
    let say = |text: &str| {
        post_chat(
            &base,
            json!({"text": text, "channel": "web", "external_id": "c1"}),
        )
    };

    let (status, answer) = say("how is it going?").await;
    assert_eq!(status, 200, "{answer}");
    let clean = "All green:\n\tnothing is blocked.";
    assert_eq!(answer["reply"], clean);
    let (status, plan) = say("plan the launch").await;
    assert_eq!(status, 200, "{plan}");
    let proposed = "Understood: a launch. Will: create project \"Launch\"; add 2 tasks to project \"Launch\": \"draft\", \"review\".\nReply OK to go ahead.";
    assert_eq!(plan["reply"], proposed);
    assert_eq!(
        plan["approval"]["summary"],
        proposed.split('\n').next().unwrap()
    );

    let thread: Uuid = answer["thread_id"].as_str().unwrap().parse().unwrap();
    let assistant: Vec<String> = thread_texts(&app.client, thread)
        .await
        .into_iter()
        .filter(|(role, _)| *role == MessageRole::Assistant)
        .map(|(_, text)| text)
        .collect();
    assert_eq!(assistant, [clean, proposed]);

    // The plan holds the cleaned names too, so it runs once approved.
    let (status, ok) = say("ok").await;
    assert_eq!(status, 200, "{ok}");
    let approval: Uuid = plan["approval"]["id"].as_str().unwrap().parse().unwrap();
    wait_until("the plan to be carried out", || async {
        approval_status(&app.client, approval).await == ApprovalStatus::Executed
    })
    .await;
    let projects = app.client.projects().list().send().await.unwrap().items;
    assert_eq!(projects[0].name, "Launch");
    let tasks = app
        .client
        .tasks()
        .list()
        .project(projects[0].id)
        .send()
        .await
        .unwrap()
        .items;
    let review = tasks.iter().find(|t| t.title == "review").unwrap();
    let draft = tasks.iter().find(|t| t.title == "draft").unwrap();
    assert_eq!(review.depends_on, [draft.id]);
}

/// Proposes a new project in a chat, says OK, and waits until the plan is carried out.
async fn have_project_created(app: &TestApp, chief: &ChiefOfStaff, name: &str) {
    let plan = chief
        .chat(ChatIn::on("web", "x", format!("create project {name}")))
        .await
        .unwrap();
    let id = plan.approval.unwrap().id;
    chief.chat(ChatIn::on("web", "x", "ok")).await.unwrap();
    wait_until(
        &format!("the plan for {name} to be carried out"),
        || async { approval_status(&app.client, id).await == ApprovalStatus::Executed },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_starts_over_when_its_event_stream_ends() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // The executor reaches the platform through a proxy whose connections the test cuts;
    // the chats go straight there.
    let proxy = CuttableProxy::start(app.server.addr).await;
    let proxied =
        ChiefOfStaff::new(client_for(&proxy.base, ADMIN_KEY), ChiefConfig::default()).unwrap();
    let executor = executor(&proxied);
    let chief = chief(&app, None);
    have_project_created(&app, &chief, "Before").await;

    // Retention prunes past the point the executor's stream would resume from, and its
    // connection drops: the platform refuses to resume (410 cursor_expired), which ends
    // the stream.
    let head = app.client.events().latest().await.unwrap().last_id;
    agentops_testkit::age_events(&app.server.state, head, chrono::Duration::days(400)).await;
    agentops_api::reaper::prune_events(&app.server.state)
        .await
        .unwrap();
    proxy.cut();

    // It starts over: what is approved afterwards is still carried out.
    have_project_created(&app, &chief, "After").await;
    assert!(!executor.1.is_finished());
    let projects = app.client.projects().list().send().await.unwrap().items;
    assert_eq!(projects.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_takes_admin_keys_and_answers_errors_in_json() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let base = serve_chief(&app, chief(&app, None)).await;
    let http = reqwest::Client::new();
    let viewer = app
        .client
        .keys()
        .create(agentops_sdk::types::ApiKeyIn {
            name: "viewer".into(),
            role: agentops_sdk::types::Role::Viewer,
            expires_at: None,
        })
        .await
        .unwrap()
        .secret;
    let send = |key: Option<&str>, body: &str| {
        let mut request = http
            .post(format!("{base}/chat"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let ok = r#"{"text": "projects", "channel": "web", "external_id": "h1"}"#;
    for (key, body, status, code) in [
        (None, ok, 401, "unauthorized"),
        (Some("aok_not_a_key"), ok, 401, "unauthorized"),
        (Some(viewer.as_str()), ok, 403, "forbidden"),
        (Some(ADMIN_KEY), "{not json", 400, "malformed_json"),
        (Some(ADMIN_KEY), r#"{"txt": "x"}"#, 422, "invalid_body"),
        (
            Some(ADMIN_KEY),
            r#"{"text": "  "}"#,
            422,
            "validation_failed",
        ),
        (
            Some(ADMIN_KEY),
            r#"{"text": "hi", "channel": "Bad Channel"}"#,
            422,
            "validation_failed",
        ),
        (
            Some(ADMIN_KEY),
            r#"{"text": "hi", "thread_id": "01a2314a-2459-7710-9c2e-6891fd54703c"}"#,
            404,
            "thread_not_found",
        ),
    ] {
        let (got, answer) = send(key, body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    let (status, answer) = send(Some(ADMIN_KEY), ok).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["reply"]
            .as_str()
            .unwrap()
            .starts_with("There are no projects yet."),
        "{answer}"
    );
    let thread: Uuid = answer["thread_id"].as_str().unwrap().parse().unwrap();
    let admin = client_for(&app.server.base, ADMIN_KEY);
    assert_eq!(admin.threads().get(thread).await.unwrap().channel, "web");
    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    // Another method on a route, and a lower-case scheme, as the platform takes it.
    let response = http.get(format!("{base}/chat")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "method_not_allowed");
    let response = http
        .post(format!("{base}/chat"))
        .header("authorization", format!("bearer {ADMIN_KEY}"))
        .json(&json!({"text": "projects", "channel": "web", "external_id": "h1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ok_the_platform_refuses_decides_nothing_and_a_late_ok_is_told_so() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let chief = chief(&app, None);
    let base = serve_chief(&app, chief.clone()).await;
    let plan = chief
        .chat(ChatIn::on("web", "late", "create project Gamma"))
        .await
        .unwrap();
    let approval = plan.approval.unwrap().id;
    let thread = plan.thread_id;
    // An "ok" whose message the platform refuses (metadata not an object, an author
    // over 200 characters) approves nothing.
    let long = "a".repeat(201);
    for body in [
        json!({"text": "ok", "thread_id": thread, "metadata": [1]}),
        json!({"text": "ok", "thread_id": thread, "author": long}),
    ] {
        let (status, answer) = post_chat(&base, body).await;
        assert_eq!(status, 422, "{answer}");
        assert_eq!(
            approval_status(&app.client, approval).await,
            ApprovalStatus::Pending
        );
    }
    // The answer is stored with the plan it answers, and the plan stays to be approved.
    let (status, answer) = post_chat(
        &base,
        json!({"text": "ok", "thread_id": thread, "metadata": {"via": "test"}}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["reply"], "On it.");
    assert_ne!(
        approval_status(&app.client, approval).await,
        ApprovalStatus::Pending
    );
    let mine = app
        .client
        .threads()
        .messages(thread)
        .limit(10)
        .send()
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|m| m.role == MessageRole::User && m.text == "ok")
        .unwrap();
    assert_eq!(mine.metadata["via"], "test");
    assert_eq!(mine.metadata["approval_id"], json!(approval));
}

/// Posts a picture (and `caption`) to the Chief of Staff's `/image`.
async fn post_image(base: &str, picture: Vec<u8>, caption: Option<&str>) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(picture).file_name("p.png"),
        )
        .text("channel", "web")
        .text("external_id", "pictures")
        .text("author", "ana");
    if let Some(caption) = caption {
        form = form.text("caption", caption.to_owned());
    }
    let response = reqwest::Client::new()
        .post(format!("{base}/image"))
        .bearer_auth(ADMIN_KEY)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// A 1×1 PNG's first bytes are enough for the model's stand-in.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thinking_chief_reads_what_a_picture_shows_with_its_caption() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let vision = agentops_agents::llm::Llm::new(LlmConfig {
        base_url: standin.base.clone(),
        api_key: "sk-vision".into(),
        model: "pixtral-12b-2409".into(),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let senses = agentops_agents::chief::server::Senses {
        speech: None,
        vision: Some(vision),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = agentops_agents::chief::server::router_with_senses(
        chief(&app, Some(&standin)),
        app.server.base.clone(),
        senses,
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    standin.reply(json!({"role": "assistant",
        "content": "A whiteboard listing: buy milk, call Bob about the invoice."}));
    standin.reply(classified("question", 0.9));
    standin.reply(json!({"role": "assistant",
        "content": "Two things: buy milk, and call Bob about the invoice."}));
    let (status, out) = post_image(&base, PNG.to_vec(), Some("what is on my list?")).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["seen"],
        "A whiteboard listing: buy milk, call Bob about the invoice."
    );
    assert_eq!(
        out["reply"],
        "Two things: buy milk, and call Bob about the invoice."
    );
    let requests = standin.requests();
    assert_eq!(requests.len(), 3);
    // The picture went to the model that sees, with its own key...
    assert_eq!(requests[0].0.as_deref(), Some("sk-vision"));
    assert_eq!(requests[0].1["model"], "pixtral-12b-2409");
    // ...and the brain read the caption with what the picture shows.
    let classified_text = requests[1].1["messages"].to_string();
    assert!(
        classified_text.contains("what is on my list?"),
        "{classified_text}"
    );
    assert!(
        classified_text.contains("A vision model describes it: A whiteboard listing"),
        "{classified_text}"
    );
    // The conversation keeps the description with the person's message; a later turn
    // sees it in the transcript.
    let thread = out["thread_id"].as_str().unwrap().parse().unwrap();
    let said = app
        .client
        .threads()
        .messages(thread)
        .send()
        .await
        .unwrap()
        .items;
    let asked = said.iter().find(|m| m.role == MessageRole::User).unwrap();
    assert_eq!(asked.text, "what is on my list?");
    assert_eq!(
        asked.metadata["image_json"]["caption"],
        "what is on my list?"
    );
    standin.reply(classified("other", 0.9));
    standin.reply(json!({"role": "assistant", "content": "Noted."}));
    let (status, _) = post_chat(
        &base,
        json!({"text": "thanks", "channel": "web", "external_id": "pictures"}),
    )
    .await;
    assert_eq!(status, 200);
    let later = standin.requests()[3].1["messages"].to_string();
    assert!(
        later.contains("a picture they sent, as described: A whiteboard"),
        "{later}"
    );

    // What is not a picture, and a form without one, are refused before any model call.
    let (status, out) = post_image(&base, b"%PDF-1.7".to_vec(), None).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (422, Some("unreadable_image"))
    );
    let response = reqwest::Client::new()
        .post(format!("{base}/image"))
        .bearer_auth(ADMIN_KEY)
        .multipart(reqwest::multipart::Form::new().text("caption", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let out: Value = response.json().await.unwrap();
    assert_eq!(out["error"]["code"], "invalid_form");
    assert_eq!(standin.requests().len(), 5);

    // Without a model that sees: 503, said so.
    let plain = serve_chief(&app, chief(&app, None)).await;
    let (status, out) = post_image(&plain, PNG.to_vec(), None).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (503, Some("vision_unavailable"))
    );
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("VISION_MODEL")
    );
}
