//! How the Chief of Staff understands a message: the rule-based brain (plain commands,
//! no set-up) or an LLM with tools. Either answers a question at once or proposes a plan
//! of [`Action`]s for a person to approve.

use agentops_sdk::Client;
use agentops_sdk::types::{MessageOut, Spender};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::actions::{self, Action, NewTask};
use super::when;
use crate::llm::{Llm, LlmError, Message, Usage};
use crate::tools::{Ended, Hooks, LoopEnd, LoopError, Step, Tool, ToolLoop, Toolbox};

/// What to do with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Reply with this text; nothing changes.
    Answer(String),
    /// Propose these changes; they happen only once a person approves.
    Propose {
        /// What was understood, in a few words.
        understood: String,
        /// What will be done.
        actions: Vec<Action>,
    },
}

/// What the brain used to decide, and whom its model calls are booked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thinking {
    /// Whom the calls are for (the conversation, the person): the ledger's view.
    pub spender: Spender,
    /// The model's name, if an LLM decided.
    pub model: Option<String>,
    /// Tokens used.
    pub usage: Usage,
    /// LLM calls made.
    pub calls: u32,
}

/// How the Chief of Staff decides what a message asks for: answer it, or propose a plan.
///
/// Two come with it: [`RuleBased`] (plain commands, no set-up, never fails) and
/// [`LlmBrain`] (free text, through an [`Llm`] with tools). When a brain fails, the Chief
/// answers with [`RuleBased`] and says why.
#[async_trait::async_trait]
pub trait Brain: Send + Sync + std::fmt::Debug {
    /// The model it thinks with, if any.
    fn model(&self) -> Option<&str>;

    /// Decides on `text`, the conversation so far (`history`, oldest first) in view;
    /// `thinking` records the model calls and tokens it used, even when it fails.
    ///
    /// # Errors
    /// If it cannot come to a decision (the model is unreachable, say).
    async fn decide(
        &self,
        client: &Client,
        history: &[MessageOut],
        text: &str,
        thinking: &mut Thinking,
    ) -> Result<Decision, LlmError>;
}

/// The rule-based brain: the commands of [`HELP`], no LLM.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleBased;

#[async_trait::async_trait]
impl Brain for RuleBased {
    fn model(&self) -> Option<&str> {
        None
    }

    async fn decide(
        &self,
        client: &Client,
        _history: &[MessageOut],
        text: &str,
        _thinking: &mut Thinking,
    ) -> Result<Decision, LlmError> {
        Ok(rule_based(client, text).await)
    }
}

/// The LLM brain: free text, with the Chief's tools (see [`with_llm`]).
#[derive(Debug, Clone)]
pub struct LlmBrain {
    llm: Llm,
}

impl LlmBrain {
    /// Thinks with `llm`.
    pub fn new(llm: Llm) -> Self {
        Self { llm }
    }
}

#[async_trait::async_trait]
impl Brain for LlmBrain {
    fn model(&self) -> Option<&str> {
        Some(self.llm.model())
    }

    async fn decide(
        &self,
        client: &Client,
        history: &[MessageOut],
        text: &str,
        thinking: &mut Thinking,
    ) -> Result<Decision, LlmError> {
        let llm = self.llm.for_spender(thinking.spender.clone());
        with_llm(client, &llm, history, text, thinking).await
    }
}

/// What the Chief of Staff can be told without an LLM.
pub const HELP: &str = "I understand:\n\
- projects — list the projects\n\
- status [project] — how the work is going, and what is blocked\n\
- status #code — one task\n\
- create project NAME [with tasks A, B then C] — a new project (\"then\": after the one before)\n\
- add task TITLE to PROJECT — a new task for a Seed agent\n\
- unblock #code [with ANSWER] — answer a blocked task\n\
- cancel #code — stop a task\n\
- every weekday at 9:00 send me a status report / remind me tomorrow at 10 to … — a schedule (times in UTC)\n\
- my schedules; stop the … report; resume …\n\
Anything that changes work waits for your OK.";

fn strip_prefix_ci<'a>(text: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| {
        let head = text.get(..p.len())?;
        head.eq_ignore_ascii_case(p).then(|| text[p.len()..].trim())
    })
}

fn looks_like_task_ref(text: &str) -> bool {
    let t = text.trim().trim_start_matches('#');
    (text.trim().starts_with('#') || uuid::Uuid::parse_str(t).is_ok())
        && t.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// `A, B then C` → tasks, each `then` making a task wait for the one before it.
fn parse_task_list(text: &str) -> Vec<NewTask> {
    let mut tasks: Vec<NewTask> = Vec::new();
    for part in text.split(',') {
        let mut previous: Option<String> = None;
        for title in part
            .split(" then ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let title = title.trim_start_matches("and ").trim().to_owned();
            tasks.push(NewTask {
                title: title.clone(),
                description: None,
                kind: None,
                after: previous.take().into_iter().collect(),
            });
            previous = Some(title);
        }
    }
    tasks
}

/// The rule-based brain.
pub async fn rule_based(client: &Client, text: &str) -> Decision {
    let text = text.trim().trim_start_matches('/').trim();
    let lower = text.to_ascii_lowercase();
    let answer =
        |r: Result<String, String>| Decision::Answer(r.unwrap_or_else(|e| format!("Sorry: {e}")));
    match lower.as_str() {
        "" | "help" | "start" | "?" => return Decision::Answer(HELP.into()),
        "projects" | "list projects" => return answer(actions::projects(client).await),
        "schedules" | "my schedules" | "list schedules" | "show schedules"
        | "show my schedules" => {
            return answer(actions::schedules(client).await);
        }
        "status" | "tasks" | "list tasks" => return answer(actions::report(client, None).await),
        _ => {}
    }
    if let Some(rest) = strip_prefix_ci(text, &["status of ", "status ", "tasks in ", "tasks of "])
    {
        if looks_like_task_ref(rest) {
            return answer(
                actions::resolve_task(client, rest)
                    .await
                    .map(|t| actions::describe_task(&t)),
            );
        }
        return answer(actions::report(client, Some(rest)).await);
    }
    if let Some(rest) =
        strip_prefix_ci(text, &["create project ", "new project ", "start project "])
    {
        let (name, tasks) = match rest.to_ascii_lowercase().find(" with tasks ") {
            Some(at) => (rest[..at].trim(), parse_task_list(&rest[at + 12..])),
            None => (rest, Vec::new()),
        };
        let name = name.trim_matches('"').to_owned();
        let mut plan = vec![Action::CreateProject {
            name: name.clone(),
            description: None,
        }];
        if !tasks.is_empty() {
            plan.push(Action::CreateTasks {
                project: name.clone(),
                tasks,
            });
        }
        return Decision::Propose {
            understood: format!("a new project \"{name}\""),
            actions: plan,
        };
    }
    if let Some(rest) = strip_prefix_ci(text, &["add task ", "new task ", "create task ", "task "])
    {
        let lower_rest = rest.to_ascii_lowercase();
        let Some(at) = lower_rest
            .rfind(" to ")
            .or_else(|| lower_rest.rfind(" in "))
        else {
            return Decision::Answer(
                "Which project should it go to? Say: add task TITLE to PROJECT".into(),
            );
        };
        let title = rest[..at].trim().trim_matches('"').to_owned();
        let project = rest[at + 4..].trim().trim_matches('"').to_owned();
        return Decision::Propose {
            understood: format!("a new task \"{title}\" in \"{project}\""),
            actions: vec![Action::CreateTasks {
                project,
                tasks: vec![NewTask {
                    title,
                    description: None,
                    kind: None,
                    after: Vec::new(),
                }],
            }],
        };
    }
    if let Some(rest) = strip_prefix_ci(text, &["unblock "]) {
        let (task, note) = match rest.split_once(" with ").or_else(|| rest.split_once(':')) {
            Some((task, note)) => (task.trim(), Some(note.trim().to_owned())),
            None => (rest, None),
        };
        return match actions::resolve_task(client, task).await {
            Ok(found) => Decision::Propose {
                understood: format!(
                    "task {} \"{}\" can go on",
                    actions::short_id(found.id),
                    found.title
                ),
                actions: vec![Action::UnblockTask {
                    task: found.id.to_string(),
                    note,
                }],
            },
            Err(err) => Decision::Answer(format!("Sorry: {err}")),
        };
    }
    if let Some(rest) = strip_prefix_ci(text, &["cancel "]) {
        return match actions::resolve_task(client, rest).await {
            Ok(found) => Decision::Propose {
                understood: format!(
                    "task {} \"{}\" should stop",
                    actions::short_id(found.id),
                    found.title
                ),
                actions: vec![Action::CancelTask {
                    task: found.id.to_string(),
                    reason: Some("cancelled from a conversation with the Chief of Staff".into()),
                }],
            },
            Err(err) => Decision::Answer(format!("Sorry: {err}")),
        };
    }
    if let Some(rest) = strip_prefix_ci(text, &["stop ", "pause ", "resume ", "restart "]) {
        let pause = ["stop ", "pause "]
            .iter()
            .any(|p| text.to_ascii_lowercase().starts_with(p));
        return match actions::resolve_schedule(client, rest).await {
            Ok(found) => Decision::Propose {
                understood: format!(
                    "the schedule \"{}\" should {}",
                    found.name,
                    if pause { "pause" } else { "run again" }
                ),
                actions: vec![if pause {
                    Action::PauseSchedule {
                        schedule: found.id.to_string(),
                    }
                } else {
                    Action::ResumeSchedule {
                        schedule: found.id.to_string(),
                    }
                }],
            },
            Err(err) => Decision::Answer(format!("Sorry: {err}")),
        };
    }
    if let Some(asked) = when::parse(text, chrono::Utc::now()) {
        return Decision::Propose {
            understood: asked.understood,
            actions: vec![asked.action],
        };
    }
    Decision::Answer(format!(
        "I did not understand that (no LLM is configured, so I only know plain commands).\n{HELP}"
    ))
}

const SYSTEM: &str = "You are the Chief of Staff of an AgentOps platform: people tell you what \
they want done; you turn it into projects and tasks that agents (Seed workers) carry out, and you \
report on how the work is going. Answer questions directly and briefly, using the read tools to \
look things up. For anything that creates or changes work, call propose_plan once with what you \
understood and the actions: nothing happens until the person approves. Task descriptions are what \
a Seed agent will work from: make them concrete. Tasks are referred to by the #code shown in \
reports.";

/// What the Chief's tools act on: the platform, through the SDK.
struct Desk<'a> {
    client: &'a Client,
}

impl Hooks for Desk<'_> {}

/// The Chief's tools, in the order the model is shown them. A proposal stops the loop.
fn toolbox<'a>() -> Toolbox<Desk<'a>, Decision> {
    Toolbox::new()
        .with(ListProjects)
        .with(TaskReport)
        .with(GetTask)
        .with(ProjectNotes)
        .with(ProposePlan)
}

/// Arguments of `project_notes`.
#[derive(Deserialize, JsonSchema)]
struct ProjectNotesArgs {
    /// The project's name.
    project: String,
}

/// What the Chief's own rounds noted about a project last time (its `chief` note).
struct ProjectNotes;

#[async_trait::async_trait]
impl<'a> Tool<Desk<'a>, Decision> for ProjectNotes {
    type Args = ProjectNotesArgs;
    const NAME: &'static str = "project_notes";
    const DESCRIPTION: &'static str = "What your own periodic rounds noted about a project last time (what needed attention, and since when).";

    async fn call(&self, desk: &mut Desk<'a>, args: ProjectNotesArgs) -> Step<Decision> {
        let wanted = args.project.trim().to_lowercase();
        let projects = match desk.client.projects().list().limit(200).send().await {
            Ok(page) => page.items,
            Err(err) => return Step::Reply(format!("error: {err}")),
        };
        let Some(project) = projects.iter().find(|p| p.name.to_lowercase() == wanted) else {
            return Step::Reply(format!("There is no project named \"{}\".", args.project));
        };
        Step::Reply(
            match desk
                .client
                .projects()
                .note(project.id, super::proactive::NOTE_KEY)
                .await
            {
                Ok(Some(note)) => note.text,
                Ok(None) => format!("No notes on \"{}\" yet.", project.name),
                Err(err) => format!("error: {err}"),
            },
        )
    }
}

/// No arguments.
#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

struct ListProjects;

#[async_trait::async_trait]
impl<'a> Tool<Desk<'a>, Decision> for ListProjects {
    type Args = NoArgs;
    const NAME: &'static str = "list_projects";
    const DESCRIPTION: &'static str = "List the projects.";

    async fn call(&self, desk: &mut Desk<'a>, _: NoArgs) -> Step<Decision> {
        Step::Reply(
            actions::projects(desk.client)
                .await
                .unwrap_or_else(|e| format!("error: {e}")),
        )
    }
}

/// Arguments of `task_report`.
#[derive(Deserialize, JsonSchema)]
struct TaskReportArgs {
    /// Only this project (by name).
    #[serde(default)]
    project: Option<String>,
}

struct TaskReport;

#[async_trait::async_trait]
impl<'a> Tool<Desk<'a>, Decision> for TaskReport {
    type Args = TaskReportArgs;
    const NAME: &'static str = "task_report";
    const DESCRIPTION: &'static str = "How the work is going: task counts by status, what is blocked and why, what runs. Optionally for one project (by name).";

    async fn call(&self, desk: &mut Desk<'a>, args: TaskReportArgs) -> Step<Decision> {
        Step::Reply(
            actions::report(desk.client, args.project.as_deref())
                .await
                .unwrap_or_else(|e| format!("error: {e}")),
        )
    }
}

/// Arguments of `get_task`.
#[derive(Deserialize, JsonSchema)]
struct GetTaskArgs {
    /// The task's #code or id.
    task: String,
}

struct GetTask;

#[async_trait::async_trait]
impl<'a> Tool<Desk<'a>, Decision> for GetTask {
    type Args = GetTaskArgs;
    const NAME: &'static str = "get_task";
    const DESCRIPTION: &'static str = "One task by its #code or id.";

    async fn call(&self, desk: &mut Desk<'a>, args: GetTaskArgs) -> Step<Decision> {
        Step::Reply(
            actions::resolve_task(desk.client, &args.task)
                .await
                .map(|t| actions::describe_task(&t))
                .unwrap_or_else(|e| format!("error: {e}")),
        )
    }
}

/// Arguments of `propose_plan`.
#[derive(Deserialize, JsonSchema)]
struct ProposePlanArgs {
    /// A few words on what the person wants.
    understood: String,
    /// The changes, in order.
    actions: Vec<Action>,
}

struct ProposePlan;

#[async_trait::async_trait]
impl<'a> Tool<Desk<'a>, Decision> for ProposePlan {
    type Args = ProposePlanArgs;
    const NAME: &'static str = "propose_plan";
    const DESCRIPTION: &'static str = "Propose changes for the person to approve. `understood`: a few words on what they want. `actions`: in order; each is {\"action\":\"create_project\",\"name\",\"description\"?}, {\"action\":\"create_tasks\",\"project\":name,\"tasks\":[{\"title\",\"description\"?,\"kind\"?,\"after\"?:[titles listed earlier]}]}, {\"action\":\"unblock_task\",\"task\":#code,\"note\"?} or {\"action\":\"cancel_task\",\"task\":#code,\"reason\"?}.";

    async fn call(&self, _: &mut Desk<'a>, args: ProposePlanArgs) -> Step<Decision> {
        // Cleaned before the check, so a title of nothing but control characters goes
        // back to the model as missing.
        let plan: Vec<Action> = args.actions.into_iter().map(Action::cleaned).collect();
        match actions::validate(&plan) {
            Ok(()) => Step::Stop(Decision::Propose {
                understood: args.understood,
                actions: plan,
            }),
            Err(err) => Step::Reply(format!(
                "error: the plan cannot run: {err}. Fix it and call propose_plan again."
            )),
        }
    }
}

/// Most model turns for one message.
const MAX_TURNS: usize = 6;

/// The LLM brain: the conversation so far (oldest first) and the new message.
///
/// # Errors
/// If the model cannot be reached or does not come to a decision.
pub async fn with_llm(
    client: &Client,
    llm: &Llm,
    history: &[MessageOut],
    text: &str,
    thinking: &mut Thinking,
) -> Result<Decision, LlmError> {
    thinking.model = Some(llm.model().to_owned());
    let mut messages = vec![Message::system(SYSTEM)];
    if !history.is_empty() {
        let mut transcript = String::from("The conversation so far (UTC):\n");
        for m in history {
            transcript.push_str(&format!(
                "[{}] {}: {}\n",
                m.created_at.format("%Y-%m-%d %H:%M"),
                m.role,
                m.text
            ));
            if let Some(transcript_of_voice) = m.metadata.get("transcript").and_then(Value::as_str)
            {
                transcript.push_str(&format!(
                    "  (voice note transcript: {transcript_of_voice})\n"
                ));
            }
        }
        messages.push(Message::system(transcript));
    }
    // The clock and how schedules read it, next to the message they may be about.
    messages.push(Message::system(format!(
        "It is now {} UTC. Schedules read times in UTC unless you give a time zone. For \
             reminders and status reports the Chief carries out itself, create a schedule whose \
             task has kind `chief` and input {{\"remind\": \"…\"}} or {{\"report\": \"status\"}}.",
        chrono::Utc::now().format("%A %Y-%m-%d %H:%M")
    )));
    messages.push(Message::user(text));
    let toolbox = toolbox();
    let mut desk = Desk { client };
    let end = ToolLoop::new(llm, &toolbox, MAX_TURNS)
        .run(&mut desk, messages)
        .await;
    let (calls, usage) = match &end {
        Ok(end) => (end.calls, end.usage),
        Err(LoopError::Llm { calls, usage, .. } | LoopError::OutOfTurns { calls, usage, .. }) => {
            (*calls, *usage)
        }
        Err(LoopError::Stopped(_)) => (0, Usage::default()),
    };
    thinking.calls += calls;
    thinking.usage += usage;
    if let Ok(end) = &end {
        // The model that answered (with a fallback list, not always the first).
        thinking.model = Some(end.model.clone());
    }
    match end {
        Ok(LoopEnd {
            ended: Ended::Answered(text),
            ..
        }) => Ok(Decision::Answer(text.trim().to_owned())),
        Ok(LoopEnd {
            ended: Ended::Stopped(decision),
            ..
        }) => Ok(decision),
        Err(LoopError::Llm { source, .. }) => Err(source),
        Err(_) => Err(LlmError::Malformed(format!(
            "the model did not answer or propose within {MAX_TURNS} turns"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_lists_read_commas_as_independent_and_then_as_after() {
        let tasks = parse_task_list("research, draft then review then publish, and tweet");
        let shape: Vec<(&str, Vec<&str>)> = tasks
            .iter()
            .map(|t| {
                (
                    t.title.as_str(),
                    t.after.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("research", vec![]),
                ("draft", vec![]),
                ("review", vec!["draft"]),
                ("publish", vec!["review"]),
                ("tweet", vec![]),
            ]
        );
    }

    #[test]
    fn task_references_are_hash_codes_or_uuids() {
        assert!(looks_like_task_ref("#54703c"));
        assert!(looks_like_task_ref("01a2314a-2459-7710-9c2e-6891fd54703c"));
        assert!(!looks_like_task_ref("Launch"));
        assert!(!looks_like_task_ref("cafe"));
    }
}
