//! The Chief of Staff understands people with no LLM: plain English against the real
//! platform (names in any case, near misses asked back, "yes" to a question), plans that
//! name what does not exist are not offered, long plans are summarised, and a request
//! made in a chat runs through a Seed until the chat is told the work is finished.

use std::time::Duration;

use agentops_agents::chief::actions::short_id;
use agentops_agents::chief::{ChatIn, ChiefOfStaff, PLAN_DONE};
use agentops_sdk::types::{
    ApprovalStatus, BlockIn, ClaimIn, MessageRole, ProjectIn, TaskIn, TaskStatus,
};
use futures_util::TryStreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::chief::{chief, executor, wait_until};
use crate::helpers::{Backend, TestApp};
use crate::llm_standin::{LlmStandIn, classified, tool_call};
use crate::on_both_backends;
use crate::seed;

on_both_backends!(a_request_in_a_chat_runs_through_a_seed_until_the_chat_is_told_it_is_done);

async fn say(chief: &ChiefOfStaff, text: &str) -> agentops_agents::chief::ChatOut {
    chief.chat(ChatIn::on("web", "person", text)).await.unwrap()
}

/// Approves the plan of `out` with an "ok" and waits until it was carried out.
async fn ok_and_wait(app: &TestApp, chief: &ChiefOfStaff, out: &agentops_agents::chief::ChatOut) {
    let approval = out.approval.as_ref().expect("a plan").id;
    let reply = say(chief, "ok").await;
    assert_eq!(reply.reply, "On it.");
    wait_until("the plan to be carried out", || async {
        app.client.approvals().get(approval).await.unwrap().status == ApprovalStatus::Executed
    })
    .await;
}

async fn project_named(app: &TestApp, name: &str) -> Option<Uuid> {
    app.client
        .projects()
        .list()
        .limit(200)
        .send()
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.id)
}

async fn tasks_of(app: &TestApp, project: Uuid) -> Vec<agentops_sdk::types::TaskOut> {
    let mut tasks = app
        .client
        .tasks()
        .list()
        .project(project)
        .limit(200)
        .send()
        .await
        .unwrap()
        .items;
    tasks.sort_by_key(|t| t.created_at);
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_english_is_understood_against_what_exists() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let chief = chief(&app, None);
    let _executor = executor(&chief);

    let hello = say(&chief, "hi").await;
    assert!(hello.reply.starts_with("Hello!"), "{}", hello.reply);
    let none = say(&chief, "what projects do we have?").await;
    assert!(
        none.reply.starts_with("There are no projects yet."),
        "{}",
        none.reply
    );

    // A project with tasks and an order, in one sentence.
    let plan = say(
        &chief,
        "create a project Website with tasks: write copy, build page after write copy",
    )
    .await;
    assert!(
        plan.reply
            .starts_with("Understood: a new project \"Website\" with 2 tasks."),
        "{}",
        plan.reply
    );
    ok_and_wait(&app, &chief, &plan).await;
    let website = project_named(&app, "Website").await.expect("the project");
    let tasks = tasks_of(&app, website).await;
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0].title, "write copy");
    assert_eq!(tasks[1].title, "build page");
    assert_eq!(tasks[1].depends_on, vec![tasks[0].id]);

    // A project's name in any case, inside a question.
    let how = say(&chief, "how's the website project coming along?").await;
    assert!(how.reply.starts_with("2 tasks:"), "{}", how.reply);
    let projects = say(&chief, "list all projects please").await;
    assert_eq!(projects.reply, "1 project:\n\"Website\": 0 of 2 tasks done");

    // Tasks for a project named in lower case go to that project.
    let add = say(&chief, "add task fix the footer to website").await;
    assert!(
        add.reply
            .contains("add 1 task to project \"Website\": \"fix the footer\""),
        "{}",
        add.reply
    );
    ok_and_wait(&app, &chief, &add).await;
    assert_eq!(tasks_of(&app, website).await.len(), 3);

    // A near miss is asked back; "yes" proposes what was suggested.
    let typo = say(&chief, "add write intro to Webiste").await;
    assert_eq!(
        typo.reply,
        "There is no project \"Webiste\". Did you mean \"Website\"?"
    );
    assert!(typo.approval.is_none());
    let yes = say(&chief, "yes").await;
    assert!(
        yes.reply
            .contains("add 1 task to project \"Website\": \"write intro\""),
        "{}",
        yes.reply
    );
    ok_and_wait(&app, &chief, &yes).await;
    assert_eq!(tasks_of(&app, website).await.len(), 4);

    // A wish is asked back, and "no" drops it.
    let wish = say(&chief, "I need a landing page for our launch").await;
    assert_eq!(
        wish.reply,
        "Did you mean a new project called \"Landing page for our launch\", with a task for an agent to do it?"
    );
    let no = say(&chief, "no").await;
    assert_eq!(
        no.reply,
        "All right, I will not. What would you like instead?"
    );
    assert!(
        project_named(&app, "Landing page for our launch")
            .await
            .is_none()
    );

    // What is blocked, answered by pronoun.
    let blocked = tasks_of(&app, website).await[0].clone();
    let agent = app.agent("copywriter").await;
    let claimed = app
        .client
        .tasks()
        .claim(ClaimIn {
            agent_id: agent,
            kinds: Some(vec!["seed".into()]),
            labels: None,
            project_id: Some(website),
            limit: Some(1),
            lease_seconds: None,
            complete: None,
        })
        .await
        .unwrap();
    assert_eq!(claimed.tasks[0].task.id, blocked.id);
    app.client
        .tasks()
        .block(
            blocked.id,
            BlockIn {
                claim_token: claimed.tasks[0].claim_token,
                reason: "formal or friendly tone?".into(),
            },
        )
        .await
        .unwrap();
    let code = short_id(blocked.id);
    let what = say(&chief, "what needs my attention?").await;
    assert!(
        what.reply.starts_with(&format!(
            "1 task blocked:\n{code} \"write copy\" for 1 minute: formal or friendly tone?"
        )),
        "{}",
        what.reply
    );
    let unblock = say(&chief, "unblock it with friendly, please").await;
    assert!(
        unblock.reply.contains(&format!(
            "Will: unblock {code} \"write copy\" with \"friendly\""
        )),
        "{}",
        unblock.reply
    );
    ok_and_wait(&app, &chief, &unblock).await;
    let answered = app.client.tasks().get(blocked.id).await.unwrap();
    assert_eq!(answered.status, TaskStatus::Queued);
    assert_eq!(answered.progress_message.as_deref(), Some("friendly"));
    wait_until("the plan's outcome in the chat", || async {
        app.client
            .threads()
            .messages(unblock.thread_id)
            .limit(5)
            .send()
            .await
            .unwrap()
            .items
            .iter()
            .any(|m| m.text == format!("Done: unblocked task {code}."))
    })
    .await;

    // Cancelling by title; a finished or unknown one is said so.
    let cancel = say(&chief, "cancel the task build page").await;
    assert!(cancel.reply.contains("Will: cancel #"), "{}", cancel.reply);
    ok_and_wait(&app, &chief, &cancel).await;
    let again = say(&chief, "cancel build page").await;
    assert!(
        again
            .reply
            .ends_with("is already cancelled: there is nothing to cancel."),
        "{}",
        again.reply
    );
    let unknown = say(&chief, "cancel the moon landing").await;
    assert_eq!(
        unknown.reply,
        "I found no task or schedule like \"moon landing\"."
    );

    // Questions with a filter and a window.
    let failed = say(&chief, "anything failed today?").await;
    assert_eq!(failed.reply, "Nothing failed today.");
    let who = say(&chief, "who is working right now?").await;
    assert!(
        who.reply
            .starts_with("No one is working on a task right now"),
        "{}",
        who.reply
    );
    let exists = say(&chief, "create project website").await;
    assert_eq!(
        exists.reply,
        "There is already a project called \"Website\"."
    );
    let unsure = say(&chief, "the weather is nice").await;
    assert!(
        unsure.reply.starts_with("I am not sure what you mean"),
        "{}",
        unsure.reply
    );
    assert!(unsure.approval.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_plan_is_summarised_and_ok_runs_all_of_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let chief = chief(&app, None);
    let _executor = executor(&chief);
    let titles: Vec<String> = (1..=70).map(|i| format!("step number {i}")).collect();
    let plan = say(
        &chief,
        &format!("create project Big with tasks {}", titles.join(", ")),
    )
    .await;
    assert!(
        plan.reply
            .contains("add 70 tasks to project \"Big\": \"step number 1\", "),
        "{}",
        plan.reply
    );
    assert!(
        plan.reply.contains("\"step number 8\" and 62 more."),
        "{}",
        plan.reply
    );
    assert!(!plan.reply.contains("step number 9\""), "{}", plan.reply);
    ok_and_wait(&app, &chief, &plan).await;
    let big = project_named(&app, "Big").await.unwrap();
    let made = app
        .client
        .tasks()
        .list()
        .project(big)
        .limit(200)
        .send()
        .await
        .unwrap()
        .items;
    assert_eq!(made.len(), 70);

    // Long titles: the acknowledgement stays within 1,000 characters, cut between two
    // titles, and the plan keeps every task.
    let long: Vec<String> = (1..=30)
        .map(|i| format!("write chapter {i} of the very long handbook for new operators who run the platform on Scaleway in production every day"))
        .collect();
    let plan = say(
        &chief,
        &format!("create project Handbook with tasks {}", long.join(", ")),
    )
    .await;
    assert!(plan.reply.chars().count() <= 1_000, "{}", plan.reply.len());
    assert!(
        plan.reply.ends_with("…\nReply OK to go ahead."),
        "{}",
        plan.reply
    );
    assert!(!plan.reply.contains("chapter 9 "), "{}", plan.reply);
    let approval = plan.approval.unwrap();
    assert_eq!(
        approval.plan["actions"][1]["tasks"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_naming_what_does_not_exist_is_not_offered() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    app.client
        .projects()
        .create(ProjectIn {
            name: "Real".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    standin.reply(classified("command", 0.9));
    standin.reply(tool_call(
        "c1",
        "propose_plan",
        json!({"understood": "tasks for Nope", "actions": [
            {"action": "create_tasks", "project": "Nope", "tasks": [{"title": "x"}]}]}),
    ));
    let out = say(&chief, "add x to nope").await;
    assert_eq!(
        out.reply,
        "I cannot do that: there is no project called \"Nope\"."
    );
    assert!(out.approval.is_none());
    standin.reply(classified("command", 0.9));
    standin.reply(tool_call(
        "c2",
        "propose_plan",
        json!({"understood": "stop it", "actions": [
            {"action": "cancel_task", "task": "#abcdef"}]}),
    ));
    let out = say(&chief, "cancel abcdef").await;
    assert_eq!(out.reply, "I cannot do that: there is no task #abcdef.");
    assert!(out.approval.is_none());
    // A task the plan names by its whole id is shown by short code and title.
    let project = project_named(&app, "Real").await.unwrap();
    let task = app
        .client
        .tasks()
        .create(TaskIn {
            project_id: project,
            title: "draft".into(),
            kind: Some("nobody".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    standin.reply(classified("command", 0.9));
    standin.reply(tool_call(
        "c3",
        "propose_plan",
        json!({"understood": "stop the draft", "actions": [
            {"action": "cancel_task", "task": task.id.to_string()}]}),
    ));
    let out = say(&chief, "stop the draft").await;
    assert_eq!(
        out.reply,
        format!(
            "Understood: stop the draft. Will: cancel {} \"draft\".\nReply OK to go ahead.",
            short_id(task.id)
        )
    );
    assert!(!out.reply.contains(&task.id.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_making_a_project_that_exists_uses_it_and_names_match_in_any_alphabet() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    let _executor = executor(&chief);
    let existing = app
        .client
        .projects()
        .create(ProjectIn {
            name: "Équipe".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    standin.reply(classified("command", 0.9));
    standin.reply(tool_call(
        "c1",
        "propose_plan",
        json!({"understood": "a team project", "actions": [
            {"action": "create_project", "name": "ÉQUIPE"},
            {"action": "create_tasks", "project": "équipe", "tasks": [{"title": "hire", "kind": "nobody"}]}]}),
    ));
    let out = say(&chief, "set up the équipe project with a task to hire").await;
    assert_eq!(
        out.reply,
        "Understood: a team project. Will: use the existing project \"ÉQUIPE\"; add 1 task to project \"équipe\": \"hire\".\nReply OK to go ahead."
    );
    ok_and_wait(&app, &chief, &out).await;
    let projects = app.client.projects().list().send().await.unwrap().items;
    assert_eq!(projects.len(), 1, "no second project of the same name");
    let tasks = tasks_of(&app, existing.id).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].title, "hire");

    // A plan the platform would refuse part-way is not offered at all.
    standin.reply(classified("command", 0.9));
    standin.reply(tool_call(
        "c2",
        "propose_plan",
        json!({"understood": "a long name", "actions": [
            {"action": "create_project", "name": "n".repeat(201)}]}),
    ));
    standin.reply(json!({"role": "assistant", "content": "That name is too long for a project."}));
    let out = say(&chief, "make a project with this very long name").await;
    assert!(out.approval.is_none());
    let said_to_model = standin.requests().last().unwrap().1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .unwrap()["content"]
        .clone();
    assert!(
        said_to_model.as_str().unwrap().contains(
            "a project's name is 201 characters long; the most the platform takes is 200"
        ),
        "{said_to_model}"
    );
}

async fn a_request_in_a_chat_runs_through_a_seed_until_the_chat_is_told_it_is_done(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let chief = chief(&app, None);
    let _executor = executor(&chief);
    let _seed = seed::start(&app, agentops_agents::seed::SeedConfig::default());
    let plan = say(
        &chief,
        "create project Hello with tasks run echo hello, run echo world after run echo hello",
    )
    .await;
    assert!(
        plan.reply
            .starts_with("Understood: a new project \"Hello\" with 2 tasks."),
        "{}",
        plan.reply
    );
    ok_and_wait(&app, &chief, &plan).await;
    let thread = plan.thread_id;
    let done = {
        let mut found = None;
        for _ in 0..600 {
            let messages = app
                .client
                .threads()
                .messages(thread)
                .limit(20)
                .send()
                .await
                .unwrap()
                .items;
            found = messages
                .into_iter()
                .find(|m| m.metadata.get(PLAN_DONE).is_some());
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        found.expect("the chat is told the work is finished")
    };
    assert_eq!(done.role, MessageRole::Assistant);
    assert!(
        done.text.starts_with(
            "✅ Work finished (a new project \"Hello\" with 2 tasks): all 2 tasks completed: #"
        ),
        "{}",
        done.text
    );
    assert!(done.text.contains("\"run echo world\""), "{}", done.text);
    let hello = project_named(&app, "Hello").await.unwrap();
    for task in tasks_of(&app, hello).await {
        assert_eq!(task.status, TaskStatus::Completed, "{}", task.title);
    }
    // Told once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reports = app
        .client
        .threads()
        .messages(thread)
        .limit(50)
        .send()
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|m| m.metadata.get(PLAN_DONE).is_some())
        .count();
    assert_eq!(reports, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_classifier_asks_back_when_unsure_and_sees_the_last_30_messages() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    // 40 earlier messages in the conversation.
    let thread = app
        .client
        .threads()
        .open(agentops_sdk::types::ThreadIn::for_channel("web", "person"))
        .await
        .unwrap();
    for i in 1..=40 {
        app.client
            .threads()
            .post(
                thread.id,
                agentops_sdk::types::MessageIn {
                    role: MessageRole::User,
                    text: format!("earlier message {i:02}"),
                    author: None,
                    // What the Chief's `/voice` and `/image` keep with a message.
                    metadata: match i {
                        39 => Some(json!({"image_json": {"description": "a red bicycle"}})),
                        40 => Some(json!({"voice_transcript": {"text": "earlier message 40"}})),
                        _ => None,
                    },
                },
            )
            .await
            .unwrap();
    }
    standin.reply(tool_call(
        "cls",
        "classify",
        json!({"intent": "command", "summary": "move \"the thing\" somewhere",
               "needs_confirmation": true, "confidence": 0.3}),
    ));
    let unsure = say(&chief, "move it over there").await;
    assert_eq!(
        unsure.reply,
        "I am not sure I understood. Do you mean: move \"the thing\" somewhere? Say a little more and I will get on with it."
    );
    assert!(unsure.approval.is_none());
    let requests = standin.requests();
    assert_eq!(requests.len(), 1, "only the classifier was asked");
    let transcript = requests[0].1["messages"][1]["content"].as_str().unwrap();
    let lines: Vec<&str> = transcript
        .lines()
        .filter(|l| l.contains("] user: "))
        .collect();
    assert_eq!(lines.len(), 30, "{transcript}");
    assert!(lines[0].ends_with("earlier message 11"), "{}", lines[0]);
    assert!(lines[29].ends_with("earlier message 40"), "{}", lines[29]);
    assert!(
        transcript
            .contains("earlier message 39\n  (a picture they sent, as described: a red bicycle)\n"),
        "{transcript}"
    );
    assert!(
        transcript
            .contains("earlier message 40\n  (said in a voice note; this is what was heard)\n"),
        "{transcript}"
    );
    assert_eq!(
        requests[0].1["messages"][2]["content"],
        "move it over there"
    );

    // A question is answered in at most 1,000 words.
    standin.reply(classified("question", 0.9));
    let long = "word ".repeat(1_500);
    standin.reply(json!({"role": "assistant", "content": long}));
    let answer = say(&chief, "tell me everything").await;
    assert_eq!(answer.reply.split_whitespace().count(), 1_000);
    assert!(
        answer.reply.ends_with("word…"),
        "{}",
        &answer.reply[answer.reply.len() - 20..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_finished_while_the_chief_was_away_is_reported_when_it_is_back() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let chief = chief(&app, None);
    let running = executor(&chief);
    let plan = say(&chief, "create project Later with tasks tidy up").await;
    ok_and_wait(&app, &chief, &plan).await;
    drop(running);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Its one task is done while no executor follows the events.
    let project = project_named(&app, "Later").await.unwrap();
    let agent = app.agent("tidier").await;
    let claimed = app
        .client
        .tasks()
        .claim(ClaimIn {
            agent_id: agent,
            kinds: Some(vec!["seed".into()]),
            labels: None,
            project_id: Some(project),
            limit: Some(1),
            lease_seconds: None,
            complete: None,
        })
        .await
        .unwrap();
    app.client
        .tasks()
        .complete(
            claimed.tasks[0].task.id,
            agentops_sdk::types::CompleteIn {
                claim_token: claimed.tasks[0].claim_token,
                result: None,
            },
        )
        .await
        .unwrap();

    let _back = executor(&chief);
    wait_until("the report of the plan", || async {
        app.client
            .threads()
            .messages(plan.thread_id)
            .limit(20)
            .send()
            .await
            .unwrap()
            .items
            .iter()
            .any(|m| m.metadata.get(PLAN_DONE).is_some())
    })
    .await;
    // Two more Chiefs (replicas, or this one restarted) catch up on the same plan: the
    // conversation is still told once.
    let twin = crate::chief::chief(&app, None);
    let (_twin, _third) = (executor(&twin), executor(&chief.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reports = app
        .client
        .threads()
        .messages(plan.thread_id)
        .limit(50)
        .send()
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|m| m.metadata.get(PLAN_DONE).is_some())
        .count();
    assert_eq!(reports, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_plan_stops_between_steps_and_keeps_what_it_did() {
    use agentops_agents::chief::actions::{Action, NewTask, execute};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let plan = vec![
        Action::CreateProject {
            name: "Halted".into(),
            description: None,
        },
        Action::CreateTasks {
            project: "Halted".into(),
            tasks: vec![NewTask {
                title: "never made".into(),
                description: None,
                kind: None,
                after: Vec::new(),
            }],
        },
    ];
    // Stopped before its first step: nothing is made.
    let stop = agentops_sdk::CancellationToken::new();
    stop.cancel();
    let err = execute(&app.client, Uuid::now_v7(), &plan, &stop)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        "I stopped after 0 of 2 steps to read your newer message; what was done stays done"
    );
    assert!(project_named(&app, "Halted").await.is_none());
    // Stopped after its first step (one plan of one step, then the rest under a
    // cancelled token, as the safe point between two steps sees it): the project stays.
    let go = agentops_sdk::CancellationToken::new();
    let approval = Uuid::now_v7();
    execute(&app.client, approval, &plan[..1], &go)
        .await
        .unwrap();
    let err = execute(&app.client, approval, &plan, &stop)
        .await
        .unwrap_err();
    assert!(err.starts_with("I stopped after 0 of 2 steps"), "{err}");
    let halted = project_named(&app, "Halted")
        .await
        .expect("what was done stays");
    assert!(tasks_of(&app, halted).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_while_a_plan_runs_stops_it_between_steps_when_the_chat_says_interrupt() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let standin = LlmStandIn::spawn().await;
    let chief = chief(&app, Some(&standin));
    let _executor = executor(&chief);
    // A plan of 31 steps: a project, then 30 batches of 20 tasks.
    let batches: Vec<serde_json::Value> = (0..30)
        .map(|b| {
            json!({"action": "create_tasks", "project": "Big", "tasks":
                (0..20).map(|t| json!({"title": format!("task {b}.{t}"), "kind": "nobody"}))
                    .collect::<Vec<_>>()})
        })
        .collect();
    let mut actions = vec![json!({"action": "create_project", "name": "Big"})];
    actions.extend(batches);
    standin.reply(classified("command", 0.9));
    standin.reply(tool_call(
        "c1",
        "propose_plan",
        json!({"understood": "a big plan", "actions": actions}),
    ));
    let plan = say(&chief, "plan the big thing").await;
    let approval = plan.approval.as_ref().expect("a plan").id;
    assert_eq!(say(&chief, "ok").await.reply, "On it.");
    // Once it has started (its first task exists), a message that interrupts.
    wait_until("the plan to start", || async {
        project_named(&app, "Big").await.is_some()
    })
    .await;
    standin.reply(classified("question", 0.9));
    standin.reply(json!({"role": "assistant", "content": "Here is the status."}));
    let asked = chief
        .chat(ChatIn {
            multitask: Some(agentops_sdk::types::Multitask::Interrupt),
            ..ChatIn::on("web", "person", "wait, how is it going?")
        })
        .await
        .unwrap();
    assert_eq!(asked.reply, "Here is the status.");
    let outcome = app.client.approvals().get(approval).await.unwrap();
    assert_eq!(outcome.status, ApprovalStatus::Failed);
    let error = outcome.reason.unwrap_or_default();
    assert!(
        error.starts_with("I stopped after ") && error.contains(" of 31 steps"),
        "{error}"
    );
    // What was done stays done: whole batches, never part of one.
    let big = project_named(&app, "Big").await.unwrap();
    let made = app
        .client
        .tasks()
        .list()
        .project(big)
        .limit(200)
        .stream()
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len();
    let steps: usize = error
        .trim_start_matches("I stopped after ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..31).contains(&steps), "{error}");
    assert_eq!(made, (steps - 1) * 20, "{error}");
    // The person read that it stopped before the answer to the new message.
    let texts = crate::chief::thread_texts(&app.client, plan.thread_id).await;
    let stopped = texts
        .iter()
        .position(|(_, t)| t.starts_with("That did not work: I stopped after"))
        .expect("the plan says it stopped");
    let answered = texts
        .iter()
        .position(|(_, t)| t == "Here is the status.")
        .unwrap();
    assert!(stopped < answered, "{texts:?}");
}
