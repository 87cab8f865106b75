//! The Seed worker: explicit steps, questions to a human, the rule-based brain, the LLM
//! loop (against the stand-in), and the `agentops seed` command.

use std::time::Duration;

use agentops_agents::llm::LlmConfig;
use agentops_agents::seed::{Seed, SeedConfig};
use agentops_sdk::types::{TaskIn, TaskOut, TaskStatus, UnblockIn};
use agentops_sdk::{TaskContext, Worker};
use axum::Router;
use axum::routing::get;
use clap::Parser;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{ADMIN_KEY, Backend, TestApp};
use crate::llm_standin::{LlmStandIn, tool_call};
use crate::on_both_backends;

const WAIT: Duration = Duration::from_secs(30);

on_both_backends!(
    explicit_steps_run_in_order_and_out_files_become_artifacts,
    a_question_blocks_the_task_and_the_answer_reaches_the_next_run,
    a_question_unblocked_without_a_note_is_answered_with_nothing,
);

/// Starts a Seed worker on `app`; stops when the handle is dropped.
pub(crate) struct Running {
    stop: agentops_sdk::worker::ShutdownHandle,
    run: Option<tokio::task::JoinHandle<agentops_sdk::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(run) = self.run.take() {
            run.abort();
        }
    }
}

pub(crate) fn start(app: &TestApp, config: SeedConfig) -> Running {
    let seed = Seed::new(config).expect("seed");
    let builder = Worker::builder(app.client.clone())
        .name("seed")
        .agent_kind("seed")
        .kinds(["seed"])
        .poll_interval(Duration::from_millis(50))
        .agent_heartbeat_interval(Duration::from_millis(200))
        .handle_signals(false);
    let stop = builder.shutdown_handle();
    let run = tokio::spawn(builder.run(move |task: TaskContext| seed.clone().handle(task)));
    Running {
        stop,
        run: Some(run),
    }
}

pub(crate) async fn seed_task(
    app: &TestApp,
    project: Uuid,
    input: Value,
    max_attempts: i32,
) -> TaskOut {
    app.client
        .tasks()
        .create(TaskIn {
            project_id: project,
            title: "seed work".into(),
            kind: Some("seed".into()),
            input: Some(input),
            max_attempts: Some(max_attempts),
            ..Default::default()
        })
        .await
        .expect("create task")
}

pub(crate) async fn finished(app: &TestApp, id: Uuid) -> TaskOut {
    app.wait_for_task(id, WAIT, |t| {
        matches!(t.status, TaskStatus::Completed | TaskStatus::Failed)
    })
    .await
}

async fn artifact_text(app: &TestApp, task: &TaskOut, name: &str) -> String {
    let artifacts = app
        .client
        .artifacts()
        .list()
        .task(task.id)
        .send()
        .await
        .expect("list artifacts")
        .items;
    let artifact = artifacts
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no artifact {name} in {artifacts:?}"));
    let bytes = app
        .client
        .artifacts()
        .download(artifact.id)
        .await
        .expect("download")
        .bytes()
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

/// A Seed whose fetches may reach the test's own web server on 127.0.0.1 (a private
/// address, refused by default).
fn reaching_localhost() -> SeedConfig {
    SeedConfig {
        limits: agentops_agents::seed::Limits {
            egress: agentops_agents::seed::Egress {
                allow: vec!["127.0.0.1/32".parse().unwrap()],
            },
            ..Default::default()
        },
        ..SeedConfig::default()
    }
}

/// A web server for fetch steps: `/page` answers text, anything else 404.
async fn website() -> String {
    let app = Router::new().route("/page", get(|| async { "hello from the web" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

pub(crate) fn llm(standin: &LlmStandIn) -> SeedConfig {
    SeedConfig {
        llm: Some(LlmConfig {
            base_url: standin.base.clone(),
            api_key: "sk-test".into(),
            model: "standin-model".into(),
            timeout: Duration::from_secs(10),
        }),
        ..SeedConfig::default()
    }
}

async fn explicit_steps_run_in_order_and_out_files_become_artifacts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let web = website().await;
    let project = app.project().await;
    let _seed = start(&app, reaching_localhost());
    let task = seed_task(
        &app,
        project,
        json!({"steps": [
            {"write": "out/notes/plan.md", "content": "# Plan\n"},
            {"fetch": format!("{web}/page"), "save_as": "out/page.txt"},
            {"fetch": format!("{web}/page")},
            {"run": "wc -c < out/page.txt > out/size.txt; echo \"$MODE\"; ls out", "env": {"MODE": "fast"}},
            {"run": "exit 4", "allow_failure": true}
        ]}),
        1,
    )
    .await;

    let done = finished(&app, task.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    let result = done.result.clone().unwrap();
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[0]["bytes"], 7);
    assert_eq!(steps[1]["outcome"]["bytes"], 18);
    assert_eq!(steps[2]["outcome"]["body"], "hello from the web");
    assert_eq!(
        steps[3]["outcome"]["stdout"],
        "fast\nnotes\npage.txt\nsize.txt\n"
    );
    assert_eq!(steps[3]["outcome"]["exit_code"], 0);
    assert_eq!(steps[4]["outcome"]["exit_code"], 4);
    let names: Vec<&str> = result["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["notes__plan.md", "page.txt", "size.txt"]);
    assert_eq!(
        artifact_text(&app, &done, "page.txt").await,
        "hello from the web"
    );
    assert_eq!(artifact_text(&app, &done, "size.txt").await.trim(), "18");
    assert_eq!(
        artifact_text(&app, &done, "notes__plan.md").await,
        "# Plan\n"
    );
    assert_eq!(done.progress, Some(1.0));

    // Progress was reported step by step.
    let messages: Vec<String> = app
        .all_events()
        .await
        .into_iter()
        .filter(|e| e.task_id == Some(task.id) && e.kind == "task.progress")
        .filter_map(|e| e.data["progress_message"].as_str().map(str::to_owned))
        .collect();
    assert!(
        messages.iter().any(|m| m.starts_with("step 2/5: fetch ")),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m == "5 steps done"), "{messages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_say_which_step_failed_and_why() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let web = website().await;
    let project = app.project().await;
    let _seed = start(&app, reaching_localhost());

    let failing = seed_task(
        &app,
        project,
        json!({"steps": [{"run": "echo fine"}, {"run": "echo 'no such table' >&2; exit 3"}]}),
        1,
    )
    .await;
    let missing = seed_task(
        &app,
        project,
        json!({"steps": [{"fetch": format!("{web}/nothing-here")}]}),
        3,
    )
    .await;
    let escaping = seed_task(
        &app,
        project,
        json!({"steps": [{"write": "../outside.txt", "content": "x"}]}),
        3,
    )
    .await;
    let malformed = seed_task(&app, project, json!({"steps": [{"rm": "-rf /"}]}), 3).await;
    let slow = app
        .client
        .tasks()
        .create(TaskIn {
            project_id: project,
            title: "slow".into(),
            kind: Some("seed".into()),
            input: Some(json!({"steps": [{"run": "sleep 20", "timeout_secs": 1}]})),
            max_attempts: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();

    let failed = finished(&app, failing.id).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    let error = failed.error.unwrap();
    assert!(
        error.contains(
            "step 2 (run `echo 'no such table' >&2; exit 3`) exited with 3: no such table"
        ),
        "{error}"
    );
    // Input no attempt can fix fails at once, attempts left or not.
    for (task, expected) in [
        (missing, "answered 404 Not Found"),
        (escaping, "must be a relative path inside the workspace"),
        (malformed, "input.steps.0: must have one of"),
    ] {
        let done = finished(&app, task.id).await;
        assert_eq!(done.status, TaskStatus::Failed);
        assert_eq!(done.attempts, 1, "{done:?}");
        let error = done.error.unwrap();
        assert!(error.contains(expected), "{error}");
    }
    let timed_out = finished(&app, slow.id).await;
    assert!(
        timed_out
            .error
            .as_deref()
            .unwrap()
            .contains("ran over its time limit"),
        "{timed_out:?}"
    );
    // A failed task leaves no artifacts behind.
    let artifacts = app
        .client
        .artifacts()
        .list()
        .task(failing.id)
        .send()
        .await
        .unwrap()
        .items;
    assert!(artifacts.is_empty());
}

async fn a_question_blocks_the_task_and_the_answer_reaches_the_next_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let _seed = start(&app, SeedConfig::default());
    let task = seed_task(
        &app,
        project,
        json!({"steps": [
            {"run": "echo before"},
            {"ask": "Which environment should I deploy to?"},
            {"run": "echo \"deploying to $ANSWER_1\" > out/deploy.log"}
        ]}),
        3,
    )
    .await;

    let blocked = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Blocked)
        .await;
    assert_eq!(
        blocked.block_reason.as_deref(),
        Some("Which environment should I deploy to?")
    );
    app.client
        .tasks()
        .unblock(
            task.id,
            UnblockIn {
                note: Some("staging".into()),
            },
        )
        .await
        .unwrap();

    let done = finished(&app, task.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(
        artifact_text(&app, &done, "deploy.log").await,
        "deploying to staging\n"
    );
    let result = done.result.unwrap();
    assert_eq!(
        result["answers"],
        json!([{"question": "Which environment should I deploy to?", "answer": "staging"}])
    );
    assert_eq!(result["steps"][1]["answer"], "staging");
    // Blocking used up no attempt.
    assert_eq!(done.attempts, 0);
}

async fn a_question_unblocked_without_a_note_is_answered_with_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let project = app.project().await;
    let _seed = start(&app, SeedConfig::default());
    let task = seed_task(
        &app,
        project,
        json!({"steps": [
            {"ask": "Which env?"},
            {"run": "echo \"[$ANSWER_1]\""}
        ]}),
        1,
    )
    .await;
    let blocked = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Blocked)
        .await;
    // What Seed said while asking is still on the task: it must not become the answer.
    assert_eq!(
        blocked.progress_message.as_deref(),
        Some("step 1/2: ask \"Which env?\"")
    );

    app.client
        .tasks()
        .unblock(task.id, UnblockIn { note: None })
        .await
        .unwrap();

    let done = finished(&app, task.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    let result = done.result.unwrap();
    assert_eq!(result["steps"][1]["outcome"]["stdout"], "[]\n");
    assert_eq!(
        result["answers"],
        json!([{"question": "Which env?", "answer": ""}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_llm_a_goal_in_plain_commands_runs_and_anything_else_fails_clearly() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let project = app.project().await;
    let _seed = start(&app, SeedConfig::default());
    let plain = app
        .client
        .tasks()
        .create(TaskIn {
            project_id: project,
            title: "count files".into(),
            description: Some("run: echo 3 > out/count.txt\n$ cat out/count.txt".into()),
            kind: Some("seed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let prose = seed_task(
        &app,
        project,
        json!({"goal": "Summarise yesterday's news"}),
        3,
    )
    .await;

    let done = finished(&app, plain.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(
        done.result.as_ref().unwrap()["steps"][1]["outcome"]["stdout"],
        "3\n"
    );
    assert_eq!(artifact_text(&app, &done, "count.txt").await, "3\n");

    let failed = finished(&app, prose.id).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    let error = failed.error.unwrap();
    assert!(
        error.contains("no LLM is configured (LLM_BASE_URL)"),
        "{error}"
    );
    assert!(error.contains("`Summarise yesterday's news`"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_works_towards_the_goal_with_tools_until_it_finishes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let project = app.project().await;
    standin.reply(tool_call(
        "call_1",
        "run_shell",
        json!({"command": "echo 42 > out/answer.txt; echo done"}),
    ));
    standin.reply(tool_call(
        "call_2",
        "read_file",
        json!({"path": "../../etc/passwd"}),
    ));
    standin.reply(tool_call("call_3", "no_such_tool", json!({})));
    standin.reply(tool_call(
        "call_4",
        "finish",
        json!({"summary": "The answer is 42; it is in answer.txt."}),
    ));
    let _seed = start(&app, llm(&standin));
    let task = seed_task(
        &app,
        project,
        json!({"goal": "Find the answer and write it to out/answer.txt"}),
        1,
    )
    .await;

    let done = finished(&app, task.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    let result = done.result.clone().unwrap();
    assert_eq!(result["summary"], "The answer is 42; it is in answer.txt.");
    assert_eq!(result["turns"], 4);
    assert_eq!(
        result["llm"],
        json!({"model": "standin-model", "calls": 4, "prompt_tokens": 400, "completion_tokens": 40})
    );
    assert_eq!(result["steps"][0]["outcome"]["stdout"], "done\n");
    assert_eq!(artifact_text(&app, &done, "answer.txt").await, "42\n");

    let requests = standin.requests();
    assert_eq!(requests.len(), 4);
    let (bearer, first) = &requests[0];
    assert_eq!(bearer.as_deref(), Some("sk-test"));
    assert_eq!(first["model"], "standin-model");
    // The model is told what the sandbox allows, so it does not try what cannot work.
    let system = first["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("only the workspace is writable") && system.contains("NO network"),
        "{system}"
    );
    let tools: Vec<&str> = first["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "run_shell",
            "fetch_url",
            "write_file",
            "read_file",
            "ask_human",
            "finish",
            "create_tool",
            "retire_tool",
            "start_preview"
        ]
    );
    assert!(
        first["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("Goal: Find the answer and write it to out/answer.txt")
    );
    // Each tool's answer goes back to the model, tied to its call.
    let last = requests[3].1["messages"].as_array().unwrap();
    let tool_replies: Vec<(&str, &str)> = last
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            (
                m["tool_call_id"].as_str().unwrap(),
                m["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(tool_replies.len(), 3);
    assert_eq!(tool_replies[0].0, "call_1");
    assert!(
        tool_replies[0].1.contains("\"exit_code\":0"),
        "{tool_replies:?}"
    );
    assert!(
        tool_replies[1]
            .1
            .starts_with("error: `../../etc/passwd` must be a relative path"),
        "{tool_replies:?}"
    );
    assert!(
        tool_replies[2]
            .1
            .starts_with("error: there is no tool `no_such_tool`"),
        "{tool_replies:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_llm_asks_a_human_and_starts_again_with_the_answer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let project = app.project().await;
    standin.reply(tool_call(
        "call_1",
        "ask_human",
        json!({"question": "Which city's weather?"}),
    ));
    standin.reply(json!({"role": "assistant", "content": "Paris: sunny, 21 °C."}));
    let _seed = start(&app, llm(&standin));
    let task = seed_task(&app, project, json!({"goal": "Report the weather"}), 3).await;

    let blocked = app
        .wait_for_task(task.id, WAIT, |t| t.status == TaskStatus::Blocked)
        .await;
    assert_eq!(
        blocked.block_reason.as_deref(),
        Some("Which city's weather?")
    );
    app.client
        .tasks()
        .unblock(
            task.id,
            UnblockIn {
                note: Some("Paris".into()),
            },
        )
        .await
        .unwrap();
    let done = finished(&app, task.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(done.result.unwrap()["summary"], "Paris: sunny, 21 °C.");
    let requests = standin.requests();
    assert_eq!(requests.len(), 2);
    let brief = requests[1].1["messages"][1]["content"].as_str().unwrap();
    assert!(
        brief.contains("Q: Which city's weather?\nA: Paris"),
        "{brief}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_llm_that_is_down_leaves_the_task_for_a_retry_and_a_refusal_fails_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let project = app.project().await;
    standin.fail(axum::http::StatusCode::SERVICE_UNAVAILABLE);
    standin.reply(json!({"role": "assistant", "content": "done after a retry"}));
    standin.fail(axum::http::StatusCode::UNAUTHORIZED);
    let _seed = start(&app, llm(&standin));
    let flaky = seed_task(&app, project, json!({"goal": "first"}), 3).await;
    let done = finished(&app, flaky.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(done.attempts, 1, "the 503 used up one attempt");
    assert_eq!(done.result.unwrap()["summary"], "done after a retry");

    let refused = seed_task(&app, project, json!({"goal": "second"}), 3).await;
    let failed = finished(&app, refused.id).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    assert_eq!(failed.attempts, 1, "a 401 is not retried");
    assert!(failed.error.unwrap().contains("the LLM answered 401"),);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_command_runs_a_worker_from_its_settings_and_answers_health_checks() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let project = app.project().await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let cli = agentops::cli::Cli::try_parse_from([
        "agentops",
        "seed",
        "--url",
        &app.server.base,
        "--api-key",
        ADMIN_KEY,
        "--bind",
        &format!("127.0.0.1:{port}"),
        "--name",
        "seed-from-cli",
        "--kinds",
        "cli-work,other",
        "--step-timeout-secs",
        "5",
    ])
    .unwrap();
    let run = tokio::spawn(agentops::cli::run(cli));
    let task = app
        .client
        .tasks()
        .create(TaskIn {
            project_id: project,
            title: "hello".into(),
            kind: Some("cli-work".into()),
            input: Some(json!({"steps": [{"run": "echo hello from the command"}]})),
            ..Default::default()
        })
        .await
        .unwrap();
    let done = finished(&app, task.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(
        done.result.unwrap()["steps"][0]["outcome"]["stdout"],
        "hello from the command\n"
    );
    let agent = app
        .client
        .agents()
        .get(done.agent_id.unwrap())
        .await
        .unwrap();
    assert_eq!(agent.name, "seed-from-cli");
    assert_eq!(agent.kind, "seed");

    let health: Value = reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({"status": "ok", "agent": "seed"}));
    run.abort();

    // Settings are checked before anything starts.
    let bad = agentops::cli::Cli::try_parse_from([
        "agentops",
        "seed",
        "--api-key",
        "k",
        "--llm-base-url",
        "ftp://models.example",
    ])
    .unwrap();
    let err = agentops::cli::run(bad).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("LLM_BASE_URL must be an http(s) URL"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agentops_up_runs_a_seed_and_a_chief_of_staff_that_keep_their_keys_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let start = |port: u16, chief_port: u16| {
        let cli = agentops::cli::Cli::try_parse_from([
            "agentops",
            "up",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--chief-bind",
            &format!("127.0.0.1:{chief_port}"),
            "--data-dir",
            data.path().to_str().unwrap(),
            "--admin-key",
            ADMIN_KEY,
        ])
        .unwrap();
        tokio::spawn(agentops::cli::run(cli))
    };
    let free_port = || {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };

    let mut seed_keys = Vec::new();
    for round in 0..2 {
        let (port, chief_port) = (free_port(), free_port());
        let run = start(port, chief_port);
        let client = crate::helpers::client_for(&format!("http://127.0.0.1:{port}"), ADMIN_KEY);
        let mut waited = 0;
        while client.health().await.is_err() {
            waited += 1;
            assert!(waited < 400, "the platform did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let project = TestApp::project_with(&client).await;
        let task = client
            .tasks()
            .create(TaskIn {
                project_id: project,
                title: format!("round {round}"),
                kind: Some("seed".into()),
                description: Some(format!("run echo round {round}")),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut done = client.tasks().get(task.id).await.unwrap();
        for _ in 0..600 {
            if done.status == TaskStatus::Completed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            done = client.tasks().get(task.id).await.unwrap();
        }
        assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
        assert_eq!(
            done.result.unwrap()["steps"][0]["outcome"]["stdout"],
            format!("round {round}\n")
        );
        let keys: Vec<_> = client
            .keys()
            .list()
            .send()
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|k| k.name == "seed (embedded)")
            .collect();
        seed_keys.push(keys.iter().map(|k| k.id).collect::<Vec<_>>());
        // The Chief of Staff answers on its own port.
        let answer: Value = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{chief_port}/chat"))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({"text": "projects", "channel": "web", "external_id": "up"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let expected = ["1 project:\n\"p\": ", "2 projects:\n\"p\": "][round];
        assert!(
            answer["reply"].as_str().unwrap().starts_with(expected),
            "{answer}"
        );
        run.abort();
        let _ = run.await;
    }
    assert_eq!(seed_keys[0].len(), 1, "{seed_keys:?}");
    assert!(data.path().join("chief.key").exists());
    assert_eq!(seed_keys[0], seed_keys[1], "a restart reuses the saved key");
    let saved = data.path().join("seed.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

/// Where bubblewrap cannot run, shell steps are refused, saying why and what to do
/// (other steps still run); in the weaker mode an operator chose, they run, and the
/// result says how weakly they were kept apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_isolation_shell_steps_are_refused_unless_the_operator_allows_the_weaker_mode() {
    use agentops_agents::seed::{Isolation, Limits};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let project = app.project().await;
    let refused = start(
        &app,
        SeedConfig {
            limits: Limits {
                isolation: Isolation::Refused("bubblewrap is not installed".into()),
                ..Limits::default()
            },
            ..SeedConfig::default()
        },
    );
    let shell = seed_task(&app, project, json!({"steps": [{"run": "echo hi"}]}), 3).await;
    let writes = seed_task(
        &app,
        project,
        json!({"steps": [{"write": "out/note.txt", "content": "kept"}]}),
        3,
    )
    .await;
    let shell = finished(&app, shell.id).await;
    assert_eq!(shell.status, TaskStatus::Failed, "{shell:?}");
    let error = shell.error.clone().unwrap_or_default();
    assert!(
        error.contains("shell steps are refused here: bubblewrap is not installed")
            && error.contains("SEED_SANDBOX=processes"),
        "{error}"
    );
    assert_eq!(shell.attempts, 1, "refused at once, not retried");
    let writes = finished(&app, writes.id).await;
    assert_eq!(writes.status, TaskStatus::Completed, "{writes:?}");
    drop(refused);

    let _weaker = start(
        &app,
        SeedConfig {
            limits: Limits {
                isolation: Isolation::Processes,
                ..Limits::default()
            },
            ..SeedConfig::default()
        },
    );
    let shell = seed_task(&app, project, json!({"steps": [{"run": "echo hi"}]}), 3).await;
    let shell = finished(&app, shell.id).await;
    assert_eq!(shell.status, TaskStatus::Completed, "{shell:?}");
    let result = shell.result.unwrap();
    assert!(
        result["sandbox"]
            .as_str()
            .unwrap()
            .starts_with("processes:"),
        "{result}"
    );
}

/// Shell steps have no network unless the task asks for it and the Seed grants such
/// requests: then they reach it (here a server on the worker's loopback); a Seed that
/// grants none fails such a task, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_gets_the_network_for_its_steps_only_when_it_asks_and_the_seed_grants_it() {
    use agentops_agents::seed::{Egress, Limits, StepNetwork};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let project = app.project().await;
    // A server on a loopback address other than the sandbox's own 127.0.0.1, standing
    // for one on the platform's private network.
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let site = Router::new().route("/page", get(|| async { "hello from the private network" }));
    tokio::spawn(async move { axum::serve(listener, site).await.unwrap() });
    let raw =
        format!("python3 -c \"import socket; socket.create_connection(('127.0.0.2', {port}), 3)\"");
    let curl = format!("curl -sS -f http://127.0.0.2:{port}/page");
    // HTTPS goes out with CONNECT: `-p` tunnels plain HTTP the same way.
    let tunnel = format!("curl -sS -f -p http://127.0.0.2:{port}/page");
    let granting = |allow: &[&str]| SeedConfig {
        network: StepNetwork::OnRequest,
        limits: Limits {
            egress: Egress {
                allow: allow.iter().map(|net| net.parse().unwrap()).collect(),
            },
            ..Limits::default()
        },
        ..SeedConfig::default()
    };

    // Granted, the private address is still refused, and nothing but HTTP(S) gets out.
    let seed = start(&app, granting(&[]));
    let private = seed_task(
        &app,
        project,
        json!({"network": true, "steps": [{"run": curl}]}),
        1,
    )
    .await;
    let private = finished(&app, private.id).await;
    assert_eq!(private.status, TaskStatus::Failed, "{private:?}");
    assert!(
        private.error.as_deref().unwrap().contains("403"),
        "{private:?}"
    );
    let raw_out = seed_task(
        &app,
        project,
        json!({"network": true, "steps": [{"run": raw}]}),
        1,
    )
    .await;
    assert_eq!(finished(&app, raw_out.id).await.status, TaskStatus::Failed);
    let fetched = seed_task(
        &app,
        project,
        json!({"steps": [{"fetch": format!("http://127.0.0.2:{port}/page")}]}),
        3,
    )
    .await;
    let fetched = finished(&app, fetched.id).await;
    assert_eq!(
        fetched.status,
        TaskStatus::Failed,
        "the worker's own fetch is checked too"
    );
    assert!(
        fetched
            .error
            .as_deref()
            .unwrap()
            .contains("private address"),
        "{fetched:?}"
    );
    drop(seed);

    // An operator allows the range: asked for, the network reaches it (plain and
    // tunnelled); not asked for, there is none.
    let seed = start(&app, granting(&["127.0.0.2/32"]));
    let asked = seed_task(
        &app,
        project,
        json!({"network": true, "steps": [{"run": curl}, {"run": tunnel}]}),
        1,
    )
    .await;
    let not_asked = seed_task(&app, project, json!({"steps": [{"run": curl}]}), 1).await;
    let asked = finished(&app, asked.id).await;
    assert_eq!(asked.status, TaskStatus::Completed, "{asked:?}");
    let steps = &asked.result.as_ref().unwrap()["steps"];
    for step in [0, 1] {
        assert_eq!(
            steps[step]["outcome"]["stdout"], "hello from the private network",
            "{steps}"
        );
    }
    let not_asked = finished(&app, not_asked.id).await;
    assert_eq!(not_asked.status, TaskStatus::Failed, "{not_asked:?}");
    drop(seed);

    let _closed = start(&app, SeedConfig::default());
    let refused = seed_task(
        &app,
        project,
        json!({"network": true, "steps": [{"run": "true"}]}),
        3,
    )
    .await;
    let refused = finished(&app, refused.id).await;
    assert_eq!(refused.status, TaskStatus::Failed, "{refused:?}");
    assert!(
        refused
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("SEED_STEP_NETWORK=off"),
        "{refused:?}"
    );
}

/// The environment variable that makes this test binary a Seed worker process for
/// `a_tool_the_seed_writes_is_tested_stored_reviewed_and_reused_by_another_worker_process`:
/// `<api url> <api key> <llm url>`.
const SEED_PROCESS: &str = "AGENTOPS_TEST_SEED_PROCESS";

/// Run only as a process of its own, by the test below: `agentops seed`, as an operator
/// starts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a worker process for a_tool_the_seed_writes_is_tested_stored_reviewed_and_reused_by_another_worker_process"]
async fn seed_worker_process_helper() {
    let Ok(settings) = std::env::var(SEED_PROCESS) else {
        return;
    };
    let settings: Vec<&str> = settings.split(' ').collect();
    let cli = agentops::cli::Cli::try_parse_from([
        "agentops",
        "seed",
        "--url",
        settings[0],
        "--api-key",
        settings[1],
        "--llm-base-url",
        settings[2],
        "--llm-api-key",
        "sk-test",
        "--llm-model",
        "standin-model",
        "--name",
        "seed-process-2",
    ])
    .unwrap();
    agentops::cli::run(cli).await.unwrap();
}

/// A word-frequency tool as a model would write it: JSON arguments on standard input.
const WORD_FREQ: &str = r#"import collections, json, sys
args = json.load(sys.stdin)
counts = collections.Counter(args['text'].lower().split())
ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
for word, n in ranked[: int(args.get('top', 10))]:
    print(word, n)
"#;

fn word_freq_tool(source: &str) -> Value {
    json!({
        "name": "word_freq",
        "description": "The most frequent words of `text`, one `word count` per line.",
        "input_schema": {
            "type": "object",
            "properties": {"text": {"type": "string"}, "top": {"type": "integer"}},
            "required": ["text"],
        },
        "runtime": "python",
        "source": source,
        "tests": [
            {"input": {"text": "the cat the dog the end", "top": 1}, "expect": "the 3", "exact": true},
            {"input": {"text": "b a b a c", "top": 2}, "expect": "a 2\nb 2", "exact": true},
        ],
    })
}

/// The names of the tools the model was offered in one request.
fn offered(request: &Value) -> Vec<String> {
    request["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The tool replies the model got in one request, in order.
fn tool_replies(request: &Value) -> Vec<String> {
    request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_the_seed_writes_is_tested_stored_reviewed_and_reused_by_another_worker_process() {
    use agentops_sdk::types::{ToolReviewIn, ToolStatus};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let project = app.project().await;

    // Task 1: a first try whose tests fail is not stored; the fixed one is, and is used.
    let buggy = WORD_FREQ.replace("print(word, n)", "print(word)");
    standin.reply(tool_call("c1", "create_tool", word_freq_tool(&buggy)));
    standin.reply(tool_call("c2", "create_tool", word_freq_tool(WORD_FREQ)));
    standin.reply(tool_call(
        "c3",
        "word_freq",
        json!({"text": "Rust and rust and more Rust", "top": 2}),
    ));
    standin.reply(tool_call(
        "c4",
        "finish",
        json!({"summary": "rust is the most frequent word"}),
    ));
    let seed = start(&app, llm(&standin));
    let first = seed_task(
        &app,
        project,
        json!({"goal": "Count the words of a text"}),
        1,
    )
    .await;
    let first = finished(&app, first.id).await;
    assert_eq!(first.status, TaskStatus::Completed, "{first:?}");
    let requests: Vec<Value> = standin.requests().into_iter().map(|(_, r)| r).collect();
    assert_eq!(requests.len(), 4);
    assert!(offered(&requests[0]).contains(&"create_tool".to_owned()));
    assert!(!offered(&requests[0]).contains(&"word_freq".to_owned()));
    let replies = tool_replies(&requests[3]);
    assert!(
        replies[0].starts_with("error: the tool was not stored: 2 of 2 tests failed")
            && replies[0].contains("the output is not `the 3`"),
        "{replies:?}"
    );
    assert!(
        replies[1].starts_with("stored `word_freq` v1"),
        "{replies:?}"
    );
    assert!(
        offered(&requests[2]).contains(&"word_freq".to_owned()),
        "offered once stored"
    );
    assert!(
        replies[2].contains(r#""stdout":"rust 3\nand 2\n""#),
        "{replies:?}"
    );

    let tools = app.client.tools().list().send().await.unwrap().items;
    assert_eq!(
        tools.len(),
        1,
        "the tool whose tests failed was never stored"
    );
    let tool = &tools[0];
    assert_eq!((tool.name.as_str(), tool.version), ("word_freq", 1));
    assert_eq!(tool.status, ToolStatus::PendingReview);
    assert_eq!(tool.task_id, Some(first.id));
    assert_eq!(tool.author_agent_id, first.agent_id);
    assert!(
        tool.tests
            .iter()
            .all(|t| t.result.passed && !t.result.output.is_empty())
    );
    assert_eq!((tool.usage_count, tool.failure_count), (1, 0));
    assert_eq!(
        first.result.as_ref().unwrap()["steps"][2]["tool"],
        "word_freq"
    );

    // Waiting for review, it is not offered to another task.
    standin.reply(tool_call(
        "p1",
        "finish",
        json!({"summary": "nothing to do"}),
    ));
    let other = seed_task(&app, project, json!({"goal": "Say hello"}), 1).await;
    assert_eq!(finished(&app, other.id).await.status, TaskStatus::Completed);
    let request = standin.requests().pop().unwrap().1;
    assert!(
        !offered(&request).contains(&"word_freq".to_owned()),
        "{:?}",
        offered(&request)
    );
    drop(seed);

    // Approved, it is offered to a task run by a new worker process, which calls it
    // without writing it again.
    app.client
        .tools()
        .approve(
            tool.id,
            ToolReviewIn {
                by: Some("ana".into()),
                reason: None,
            },
        )
        .await
        .unwrap();
    standin.reply(tool_call(
        "d1",
        "word_freq",
        json!({"text": "to be or not to be", "top": 1}),
    ));
    standin.reply(tool_call(
        "d2",
        "finish",
        json!({"summary": "be and to, twice each"}),
    ));
    let mut worker = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "seed::seed_worker_process_helper",
            "--ignored",
            "--nocapture",
        ])
        .env(
            SEED_PROCESS,
            format!("{} {ADMIN_KEY} {}", app.server.base, standin.base),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let second = seed_task(
        &app,
        project,
        json!({"goal": "Count the words of Hamlet's line"}),
        1,
    )
    .await;
    let second = finished(&app, second.id).await;
    let _ = worker.kill();
    let _ = worker.wait();
    assert_eq!(second.status, TaskStatus::Completed, "{second:?}");
    let runner = app
        .client
        .agents()
        .get(second.agent_id.unwrap())
        .await
        .unwrap();
    assert_eq!(
        runner.name, "seed-process-2",
        "the new worker process ran it"
    );
    let requests: Vec<Value> = standin.requests().into_iter().map(|(_, r)| r).collect();
    let last = requests.last().unwrap();
    assert!(offered(&requests[requests.len() - 2]).contains(&"word_freq".to_owned()));
    assert!(
        tool_replies(last)[0].contains(r#""stdout":"be 2\n""#),
        "{:?}",
        tool_replies(last)
    );
    let tool = app.client.tools().get(tool.id).await.unwrap();
    assert_eq!(
        (tool.usage_count, tool.version),
        (2, 1),
        "used, not written again"
    );
    assert_eq!(
        app.client.tools().list().send().await.unwrap().items.len(),
        1
    );
}

/// The processes whose command line holds `marker` (zombies left out).
fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
            })
            .unwrap_or(true);
        if String::from_utf8_lossy(&cmdline).contains(marker) && !zombie {
            found.push(pid);
        }
    }
    found
}

/// GETs `url` with no key (a person opening the link): the status and the body.
async fn open_link(url: &str) -> (u16, String) {
    let answer = reqwest::get(url).await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// Waits until `check` holds, for up to 30 s.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = std::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "waited too long for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_page_is_shown_through_the_platform_until_its_preview_expires() {
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| cfg.preview_ttl_secs = 6).await;
    let project = app.project().await;
    let mark = format!("site-{}", &Uuid::now_v7().simple().to_string()[20..]);
    let _seed = start(&app, SeedConfig::default());
    let task = seed_task(
        &app,
        project,
        json!({"steps": [
            {"write": format!("{mark}/index.html"), "content": "<h1>Counter: 0</h1>"},
            {"serve": format!("python3 -m http.server 8000 --bind 127.0.0.1 --directory {mark}"), "port": 8000},
        ]}),
        1,
    )
    .await;
    let done = finished(&app, task.id).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    let result = done.result.unwrap();
    let url = result["previews"][0]["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/preview/", app.server.base)) && url.contains("/~"),
        "{url}"
    );
    assert_eq!(result["steps"][1]["preview"]["url"], url.as_str());

    // The task is over, its server is not: the link opens the page.
    let (status, page) = open_link(&url).await;
    assert_eq!((status, page.as_str()), (200, "<h1>Counter: 0</h1>"));
    assert!(!processes_with(&mark).is_empty(), "the server runs");
    let previews = app
        .client
        .previews()
        .list()
        .task(task.id)
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(previews.len(), 1);

    // Its time runs out: 410, and the server is gone.
    eventually("the preview to expire", || async {
        open_link(&url).await.0 == 410
    })
    .await;
    eventually("the server to stop", || async {
        processes_with(&mark).is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_in_words_becomes_a_plan_tasks_and_a_running_preview_in_the_chat() {
    use agentops_sdk::types::{ChatIn, MessageRole};
    let app = TestApp::spawn_with(Backend::Sqlite, |cfg| cfg.preview_ttl_secs = 8).await;
    let chief_llm = LlmStandIn::spawn().await;
    let seed_llm = LlmStandIn::spawn().await;
    let mark = format!("counter-{}", &Uuid::now_v7().simple().to_string()[20..]);
    let chief = crate::chief::chief(&app, Some(&chief_llm));
    chief_llm.reply(crate::llm_standin::classified("command", 0.95));
    chief_llm.reply(tool_call(
        "p1",
        "propose_plan",
        json!({
            "understood": "a hello-world web page with a counter, shown to you",
            "actions": [
                {"action": "create_project", "name": "Counter page"},
                {"action": "create_tasks", "project": "Counter page", "tasks": [
                    {"title": "build and show the counter page",
                     "description": "Make a hello-world web page with a counter and show it to me"}
                ]}
            ]
        }),
    ));
    let page = format!(
        "<h1>Hello, world</h1><button onclick=\"n.textContent=++c\">+1</button><p id=n>0</p>\
         <script>let c=0</script><!-- {mark} -->"
    );
    seed_llm.reply(tool_call(
        "s1",
        "write_file",
        json!({"path": format!("{mark}/index.html"), "content": page}),
    ));
    seed_llm.reply(tool_call(
        "s2",
        "start_preview",
        json!({"command": format!("python3 -m http.server 8080 --bind 127.0.0.1 --directory {mark}"), "port": 8080}),
    ));
    seed_llm.reply(tool_call(
        "s3",
        "finish",
        json!({"summary": "The counter page is up."}),
    ));

    let proposed = chief
        .chat(ChatIn::on(
            "web",
            "ana",
            "make a hello-world web page with a counter and show it to me",
        ))
        .await
        .unwrap();
    assert!(
        proposed.reply.ends_with("Reply OK to go ahead."),
        "{}",
        proposed.reply
    );
    let _executor = crate::chief::executor(&chief);
    let _seed = start(&app, llm(&seed_llm));
    let ok = chief.chat(ChatIn::on("web", "ana", "OK")).await.unwrap();
    assert_eq!(ok.reply, "On it.");

    // The chat is told, with the address.
    let thread = proposed.thread_id;
    eventually("the report with the preview", || async {
        let texts = crate::chief::thread_texts(&app.client, thread).await;
        matches!(texts.last(), Some((MessageRole::Assistant, text)) if text.contains("🔗 Preview"))
    })
    .await;
    let (_, report) = crate::chief::thread_texts(&app.client, thread)
        .await
        .pop()
        .unwrap();
    assert!(report.starts_with("✅ Work finished"), "{report}");
    // On the way, the chat was told the work started, once it knew what the plan made.
    let texts: Vec<String> = crate::chief::thread_texts(&app.client, thread)
        .await
        .into_iter()
        .map(|(_, text)| text)
        .collect();
    let at = |what: &dyn Fn(&str) -> bool| texts.iter().position(|t| what(t));
    let made = at(&|t| t.starts_with("Done: created project \"Counter page\""));
    let started = at(&|t| {
        t.lines().any(|l| {
            l.starts_with("▶️ #") && l.ends_with("\"build and show the counter page\" started")
        })
    });
    assert!(
        made.is_some() && started > made && started < Some(texts.len() - 1),
        "{texts:#?}"
    );
    let url = report
        .split_whitespace()
        .find(|word| word.contains("/preview/"))
        .unwrap()
        .to_owned();
    let (status, body) = open_link(&url).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<h1>Hello, world</h1>") && body.contains(&mark),
        "{body}"
    );
    // The task's page (its result) holds it too.
    let task = app
        .client
        .tasks()
        .list()
        .send()
        .await
        .unwrap()
        .items
        .pop()
        .unwrap();
    assert_eq!(task.result.unwrap()["previews"][0]["url"], url.as_str());
    assert!(!processes_with(&mark).is_empty());

    eventually("the preview to expire", || async {
        open_link(&url).await.0 == 410
    })
    .await;
    eventually("the server to stop", || async {
        processes_with(&mark).is_empty()
    })
    .await;
}
