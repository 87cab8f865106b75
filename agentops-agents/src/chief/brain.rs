//! How the Chief of Staff understands a message: the rule-based brain (plain English,
//! no set-up; the [`offline`] module) or an LLM with tools. Either answers a question at once or proposes a plan
//! of [`Action`]s for a person to approve.

use agentops_sdk::types::{IMAGE_JSON, MessageOut, Spender, VOICE_TRANSCRIPT};
use agentops_sdk::{CancellationToken, Client};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::actions::{self, Action};
use super::offline::{self, Suggestion};
use crate::llm::{Llm, LlmError, Message, Usage};
use crate::tools::{Ended, Hooks, LoopEnd, LoopError, Step, Tool, ToolLoop, Toolbox};

/// What to do with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Reply with this text; nothing changes.
    Answer(String),
    /// Ask one short question; on "yes" the suggestion (if any) is proposed.
    Ask {
        /// The question.
        question: String,
        /// What "yes" would propose.
        suggestion: Option<Suggestion>,
    },
    /// Stopped before deciding: a newer message interrupted it.
    Interrupted,
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
    /// Cancelled when a newer message of the conversation interrupts this one: the
    /// brain stops at its next safe point (before its next model call) and decides
    /// [`Decision::Interrupted`].
    pub stop: CancellationToken,
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

/// The rule-based brain: plain English with no LLM ([`offline`] module).
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
        history: &[MessageOut],
        text: &str,
        _thinking: &mut Thinking,
    ) -> Result<Decision, LlmError> {
        Ok(offline::decide(client, history, text).await)
    }
}

/// The LLM brain: a classifier first ([`classify`]: question, command or other, with
/// its confidence), then the model with the Chief's tools ([`with_llm`]): read tools to
/// answer a question, and `propose_plan` too for a command that needs an OK. A message
/// the classifier is not sure of is asked back.
#[derive(Debug, Clone)]
pub struct LlmBrain {
    llm: Llm,
    classifier: Llm,
}

impl LlmBrain {
    /// Thinks with `llm`, which also classifies.
    pub fn new(llm: Llm) -> Self {
        Self {
            classifier: llm.clone(),
            llm,
        }
    }

    /// Classifies with `classifier` (a cheaper model, say) and thinks with `llm`.
    pub fn with_classifier(llm: Llm, classifier: Llm) -> Self {
        Self { llm, classifier }
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
        let classifier = self.classifier.for_spender(thinking.spender.clone());
        let mode = match classify(&classifier, history, text, thinking).await? {
            // Not understood well enough to act or answer: ask back.
            Some(c) if c.confidence < CONFIDENT => {
                let summary = clean_sentence(&c.summary);
                return Ok(Decision::Ask {
                    question: if summary.is_empty() {
                        "I am not sure what you mean. Could you say a little more?".into()
                    } else {
                        format!(
                            "I am not sure I understood. Do you mean: {summary}? Say a little more and I will get on with it."
                        )
                    },
                    suggestion: None,
                });
            }
            // A command is always planned: a classifier that leaves out (or denies)
            // `needs_confirmation` must not turn "cancel #abc" into a read-only answer.
            Some(c) if c.intent == Kind::Command => Mode::Plan {
                summary: c.summary,
                plan: c.plan,
            },
            Some(_) => Mode::Answer,
            // The classifier gave nothing usable: the model decides with every tool.
            None => Mode::Either,
        };
        with_llm(client, &llm, history, text, &mode, thinking).await
    }
}

/// Below this confidence the Chief asks back instead of acting or answering.
pub const CONFIDENT: f64 = 0.5;

/// The longest answer to a question, in words.
pub const ANSWER_WORDS: usize = 1_000;

/// What a message is, for the Chief.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Asks for information: answered at once.
    Question,
    /// Asks for work to be created or changed: proposed, then done once approved.
    Command,
    /// Anything else (a greeting, thanks, chat).
    Other,
}

/// The classifier's reading of a message.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Classification {
    /// What the message is.
    pub intent: Kind,
    /// One sentence: what the person wants, in your words.
    pub summary: String,
    /// For a command: one sentence on what you would do (the projects, tasks and changes).
    #[serde(default)]
    pub plan: Option<String>,
    /// Whether carrying it out changes work, so a person must approve it first.
    #[serde(default)]
    pub needs_confirmation: bool,
    /// How sure you are of this reading, from 0 to 1.
    pub confidence: f64,
}

const CLASSIFY: &str = "You classify messages sent to the Chief of Staff of an AgentOps \
platform, where agents carry out projects and tasks for people. Read the conversation so far \
and the new message, then call `classify` once: `question` if it asks for information (how the \
work goes, what exists, what something means), `command` if it asks to create, change, cancel, \
unblock, schedule or otherwise act on work, `other` for anything else (greetings, thanks, small \
talk). A short reply such as \"yes\", \"the second one\" or \"make it Friday\" means what it \
answers in the conversation. `confidence` is how sure you are of your reading: below 0.5 when \
the message could reasonably mean quite different things.";

/// Arguments of `classify`: the classification.
struct Classify;

#[async_trait::async_trait]
impl Tool<NoDesk, Classification> for Classify {
    type Args = Classification;
    const NAME: &'static str = "classify";
    const DESCRIPTION: &'static str = "Record what the message is: intent, a one-sentence summary, the plan for a command, whether it needs a person's OK, and your confidence.";

    async fn call(&self, _: &mut NoDesk, args: Classification) -> Step<Classification> {
        if !(0.0..=1.0).contains(&args.confidence) || args.summary.trim().is_empty() {
            return Step::Reply(
                "error: `summary` must say something and `confidence` be between 0 and 1; call classify again.".into(),
            );
        }
        Step::Stop(args)
    }
}

/// The classifier's context: only when to stop.
struct NoDesk {
    stop: CancellationToken,
}

#[async_trait::async_trait]
impl Hooks for NoDesk {
    async fn before_turn(&mut self, _turn: usize) -> Result<(), String> {
        interrupted(&self.stop)
    }
}

/// Classifies `text` with the conversation (`history`) in view: `None` when the model
/// gave nothing usable (the Chief then decides without the classification).
///
/// # Errors
/// If the model cannot be reached.
pub async fn classify(
    llm: &Llm,
    history: &[MessageOut],
    text: &str,
    thinking: &mut Thinking,
) -> Result<Option<Classification>, LlmError> {
    let mut messages = vec![Message::system(CLASSIFY)];
    if let Some(transcript) = transcript(history) {
        messages.push(Message::system(transcript));
    }
    messages.push(Message::user(text));
    let toolbox: Toolbox<NoDesk, Classification> = Toolbox::new().with(Classify);
    let mut desk = NoDesk {
        stop: thinking.stop.clone(),
    };
    let end = ToolLoop::new(llm, &toolbox, 2)
        .run(&mut desk, messages)
        .await;
    match end {
        Ok(end) => {
            thinking.calls += end.calls;
            thinking.usage += end.usage;
            Ok(match end.ended {
                Ended::Stopped(c) => Some(c),
                // Some models answer with the JSON as text.
                Ended::Answered(text) => {
                    let json = text
                        .trim()
                        .trim_start_matches("```json")
                        .trim_start_matches("```")
                        .trim_end_matches("```");
                    serde_json::from_str::<Classification>(json.trim())
                        .ok()
                        .filter(|c| (0.0..=1.0).contains(&c.confidence))
                }
            })
        }
        Err(LoopError::Llm {
            source,
            calls,
            usage,
        }) => {
            thinking.calls += calls;
            thinking.usage += usage;
            Err(source)
        }
        Err(LoopError::OutOfTurns { calls, usage, .. }) => {
            thinking.calls += calls;
            thinking.usage += usage;
            Ok(None)
        }
        Err(LoopError::Stopped(_)) => Ok(None),
    }
}

/// `text` on one line, without control characters, closing punctuation or a trailing
/// question mark.
fn clean_sentence(text: &str) -> String {
    agentops_sdk::text::clean(text)
        .replace('\n', " ")
        .trim()
        .trim_end_matches(['.', '?', '!'])
        .to_owned()
}

/// What the model may do with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Answer it (read tools only), in at most [`ANSWER_WORDS`] words.
    Answer,
    /// Propose a plan for it (read tools and `propose_plan`); `summary` and `plan` are
    /// the classifier's reading.
    Plan {
        /// What the person wants.
        summary: String,
        /// What the classifier would do.
        plan: Option<String>,
    },
    /// Either (no classification).
    Either,
}

/// `text` cut to at most `max` words.
fn at_most_words(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_inclusive(char::is_whitespace).collect();
    let count = text.split_whitespace().count();
    if count <= max {
        return text.to_owned();
    }
    let mut kept = String::new();
    let mut n = 0;
    for piece in words {
        if !piece.trim().is_empty() {
            n += 1;
        }
        if n > max {
            break;
        }
        kept.push_str(piece);
    }
    format!("{}…", kept.trim_end())
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
    stop: CancellationToken,
}

#[async_trait::async_trait]
impl Hooks for Desk<'_> {
    async fn before_turn(&mut self, _turn: usize) -> Result<(), String> {
        interrupted(&self.stop)
    }
}

/// `Err` once `stop` is cancelled: the tool loops' safe point.
fn interrupted(stop: &CancellationToken) -> Result<(), String> {
    if stop.is_cancelled() {
        Err("interrupted by a newer message".into())
    } else {
        Ok(())
    }
}

/// The Chief's tools, in the order the model is shown them. A proposal stops the loop.
fn toolbox<'a>(mode: &Mode) -> Toolbox<Desk<'a>, Decision> {
    let read = Toolbox::new()
        .with(ListProjects)
        .with(TaskReport)
        .with(GetTask)
        .with(ProjectNotes);
    match mode {
        Mode::Answer => read,
        Mode::Plan { .. } | Mode::Either => read.with(ProposePlan),
    }
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

/// The conversation so far (oldest first) for a model: each message with its time and
/// author, and what was derived from it (a voice note's transcript, an image's
/// description); `None` when there is none.
pub fn transcript(history: &[MessageOut]) -> Option<String> {
    if history.is_empty() {
        return None;
    }
    let mut transcript = String::from("The conversation so far (UTC):\n");
    for m in history {
        transcript.push_str(&format!(
            "[{}] {}: {}\n",
            m.created_at.format("%Y-%m-%d %H:%M"),
            m.role,
            m.text
        ));
        if let Some(seen) = m
            .metadata
            .get(IMAGE_JSON)
            .and_then(|i| i.get("description"))
            .and_then(Value::as_str)
        {
            transcript.push_str(&format!("  (a picture they sent, as described: {seen})\n"));
        }
        if m.metadata.get(VOICE_TRANSCRIPT).is_some() {
            transcript.push_str("  (said in a voice note; this is what was heard)\n");
        }
    }
    Some(transcript)
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
    mode: &Mode,
    thinking: &mut Thinking,
) -> Result<Decision, LlmError> {
    thinking.model = Some(llm.model().to_owned());
    let mut messages = vec![Message::system(SYSTEM)];
    if let Some(transcript) = transcript(history) {
        messages.push(Message::system(transcript));
    }
    match mode {
        Mode::Answer => messages.push(Message::system(format!(
            "This message asks for information: answer it (look things up with the tools), in at most {ANSWER_WORDS} words. Change nothing."
        ))),
        Mode::Plan { summary, plan } => messages.push(Message::system(format!(
            "This message asks for work: propose it with propose_plan (the person approves before anything happens). Read so far: {summary}{}",
            plan.as_deref()
                .map(|p| format!(" Suggested plan: {p}"))
                .unwrap_or_default()
        ))),
        Mode::Either => {}
    }
    // The clock and how schedules read it, next to the message they may be about.
    messages.push(Message::system(format!(
        "It is now {} UTC. Schedules read times in UTC unless you give a time zone. For \
             reminders and status reports the Chief carries out itself, create a schedule whose \
             task has kind `chief` and input {{\"remind\": \"…\"}} or {{\"report\": \"status\"}}.",
        chrono::Utc::now().format("%A %Y-%m-%d %H:%M")
    )));
    messages.push(Message::user(text));
    let toolbox = toolbox(mode);
    let mut desk = Desk {
        client,
        stop: thinking.stop.clone(),
    };
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
        }) => Ok(Decision::Answer(at_most_words(text.trim(), ANSWER_WORDS))),
        Ok(LoopEnd {
            ended: Ended::Stopped(decision),
            ..
        }) => Ok(decision),
        Err(LoopError::Llm { source, .. }) => Err(source),
        Err(LoopError::Stopped(_)) => Ok(Decision::Interrupted),
        Err(LoopError::OutOfTurns { .. }) => Err(LlmError::Malformed(format!(
            "the model did not answer or propose within {MAX_TURNS} turns"
        ))),
    }
}
