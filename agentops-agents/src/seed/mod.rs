//! Seed: a general worker that carries out tasks in a sandbox.
//!
//! A Seed claims tasks of its kinds (`seed` by default) through the SDK's worker runtime
//! and, for each, works in a fresh private directory:
//!
//! - **explicit steps** in `input.steps` run in order: `{"run": "<shell command>"}`,
//!   `{"fetch": "<url>", "save_as": "out/page.html"}`,
//!   `{"write": "out/notes.md", "content": "…"}` and `{"ask": "<question>"}`;
//! - otherwise the **goal** (`input.goal`, else the description, else the title) goes to
//!   the LLM, which works towards it with the same tools in a loop; with no LLM
//!   configured, the rule-based brain reads a goal written as plain commands
//!   (`run …`, `fetch … as …`, `ask …`, one per line).
//!
//! Progress is reported after every step. Every file left under `out/` is attached to the
//! task as an artifact when the work is done, and the task completes with a record of
//! what each step did. A question (`ask`, or the LLM's `ask_human`) **blocks** the task
//! with the question as its reason; when a human unblocks it with a note, the task runs
//! again from the start with the answer: to later steps as `$ANSWER_1`, `$ANSWER_2`…, to
//! the LLM in its prompt. Steps before the question therefore run again. Unblocked
//! without a note, the question counts as answered with nothing: `$ANSWER_n` is set but
//! empty, and the LLM is told that no answer was given.
//!
//! Shell commands run with `/bin/sh -c` in a sandbox of their own (bubblewrap
//! namespaces: see [`Sandbox`], and docs/seed.md for the threat model), with a time
//! limit, a memory limit, a file-size limit, a process limit, a workspace size limit and
//! a cleared environment (no API key, no LLM key: only `PATH`, `HOME`, `TMPDIR`, `LANG`
//! and the step's own `env`). Where bubblewrap cannot run, shell steps are refused unless
//! the operator allows the weaker mode ([`Isolation::Processes`]), which every result
//! then names.
//!
//! ```no_run
//! use agentops_agents::seed::{Seed, SeedConfig};
//! use agentops_sdk::{Client, Worker};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let seed = Seed::new(SeedConfig::default())?;
//! Worker::builder(Client::from_env()?)
//!     .name("seed")
//!     .agent_kind("seed")
//!     .kinds(["seed"])
//!     .run(move |task| seed.clone().handle(task))
//!     .await?;
//! # Ok(()) }
//! ```

mod cgroup;
mod egress;
mod plan;
mod preview;
mod reason;
mod sandbox;
mod toolsmith;

use std::path::PathBuf;
use std::sync::Arc;

use agentops_sdk::resources::ArtifactUpload;
use agentops_sdk::types::{Event, EventFilter};
use agentops_sdk::types::{Spender, UsageScope};
use agentops_sdk::{TaskContext, TaskError};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

pub use cgroup::{CgroupSetting, Cgroups};
pub use egress::Egress;
pub use ipnet::IpNet;
pub use plan::{Plan, Step};
pub use preview::PreviewConfig;
pub use sandbox::{
    Isolation, Limits, SANDBOX_UID, Sandbox, Server, StepError, protect_secrets, remove_orphans,
};

use crate::llm::{Llm, LlmConfig, LlmError};
use crate::meter::Meter;

/// Whether shell steps may reach the network (they have none by default: their
/// sandbox has a network namespace of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StepNetwork {
    /// Never; a task asking for it (`input.network: true`) fails, saying so.
    #[default]
    Off,
    /// For the tasks that ask for it (`input.network: true`).
    OnRequest,
    /// For every task.
    Always,
}

/// How a Seed works.
#[derive(Debug, Clone)]
pub struct SeedConfig {
    /// Limits on every step.
    pub limits: Limits,
    /// Which tasks' shell steps may reach the network.
    pub network: StepNetwork,
    /// Where task directories are made (the system's temp dir if `None`).
    pub workdir: Option<PathBuf>,
    /// The model for goals; the rule-based brain if `None`.
    pub llm: Option<LlmConfig>,
    /// Most model turns for one task.
    pub max_turns: usize,
    /// Where previews of the servers tasks start are served to the platform; `None`:
    /// tasks cannot start previews.
    pub preview: Option<PreviewConfig>,
}

impl Default for SeedConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            network: StepNetwork::Off,
            workdir: None,
            llm: None,
            max_turns: 20,
            preview: Some(PreviewConfig::default()),
        }
    }
}

/// The Seed agent's task handler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Seed {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: SeedConfig,
    llm: Option<Llm>,
    /// How steps are isolated here, found on first use ([`Seed::isolation`]).
    isolation: tokio::sync::OnceCell<Isolation>,
    /// The preview listener, started by the first preview.
    previews: tokio::sync::OnceCell<Result<preview::PreviewHost, String>>,
}

/// A question asked earlier in this task, and the human's answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Answer {
    /// What was asked (the block reason).
    pub question: String,
    /// What the human said when unblocking: empty if they gave no note (never stale
    /// progress text standing in for one).
    pub answer: String,
}

impl Seed {
    /// A Seed with `config`.
    ///
    /// # Errors
    /// If the LLM client cannot be built.
    pub fn new(config: SeedConfig) -> Result<Self, LlmError> {
        let llm = config.llm.clone().map(Llm::new).transpose()?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                llm,
                isolation: tokio::sync::OnceCell::new(),
                previews: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// How this Seed's shell steps are isolated: the configured way, or
    /// [`Isolation::Refused`] (with why) when bubblewrap was asked for and cannot run
    /// here. Found once, by running an empty step.
    pub async fn isolation(&self) -> Isolation {
        self.inner
            .isolation
            .get_or_init(|| async {
                let limits = &self.inner.config.limits;
                if limits.isolation != Isolation::Bubblewrap {
                    return limits.isolation.clone();
                }
                let probe = Sandbox::create(self.inner.config.workdir.as_deref(), limits.clone());
                let outcome = match probe {
                    Ok(sandbox) => sandbox.shell("true", &[], None).await,
                    Err(err) => return Isolation::Refused(format!("no workspace: {err}")),
                };
                match outcome {
                    Ok(out) if out.succeeded() => Isolation::Bubblewrap,
                    Ok(out) => Isolation::Refused(format!(
                        "bubblewrap does not run here ({})",
                        last_words(&out.stdout, &out.stderr)
                    )),
                    Err(err) => Isolation::Refused(format!("bubblewrap cannot start: {err}")),
                }
            })
            .await
            .clone()
    }

    /// Starts `command` (a server on `port`) in the task's sandbox and shows it through
    /// the platform; returns what the task's result says of it.
    pub(crate) async fn show_preview(
        &self,
        task: &TaskContext,
        sandbox: &Arc<Sandbox>,
        command: &str,
        port: u16,
    ) -> Result<Value, StepError> {
        let Some(config) = self.inner.config.preview.clone() else {
            return Err(StepError::Invalid(
                "this Seed shows no previews (no SEED_PREVIEW_BIND)".into(),
            ));
        };
        let host = self
            .inner
            .previews
            .get_or_init(|| async move {
                preview::PreviewHost::start(config)
                    .await
                    .map_err(|err| format!("cannot start the preview listener: {err}"))
            })
            .await
            .clone()
            .map_err(StepError::Transient)?;
        let shown = host.show(task, sandbox.clone(), command, port).await?;
        let url = task
            .client()
            .base_url()
            .join(shown.link.trim_start_matches('/'))
            .map_or_else(|_| shown.link.clone(), |url| url.to_string());
        let _ = task
            .message(format!(
                "preview: {url} (until {} UTC)",
                shown.expires_at.format("%H:%M")
            ))
            .await;
        Ok(json!({
            "url": url,
            "path": shown.path,
            "port": port,
            "expires_at": shown.expires_at,
            "id": shown.id,
        }))
    }

    /// Whether goals go to an LLM (else to the rule-based brain).
    pub fn has_llm(&self) -> bool {
        self.inner.llm.is_some()
    }

    /// Carries out one task (see the [module docs](self)).
    ///
    /// # Errors
    /// A [`TaskError`]: permanent for input no attempt can carry out, retryable for
    /// failures another attempt may not repeat.
    pub async fn handle(self, task: TaskContext) -> Result<Value, TaskError> {
        let t = task.task();
        let plan = plan::from_task(&t.input, &t.title, t.description.as_deref())
            .map_err(TaskError::permanent)?;
        let asks_network = match t.input.get("network") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(asks)) => *asks,
            Some(_) => {
                return Err(TaskError::permanent(
                    "`input.network` is true (the task's shell steps need the network) or false",
                ));
            }
        };
        let network = match (self.inner.config.network, asks_network) {
            (StepNetwork::Always, _) | (StepNetwork::OnRequest, true) => true,
            (StepNetwork::Off, true) => {
                return Err(TaskError::permanent(
                    "this task asks for the network for its shell steps (`input.network`), \
                     and this Seed grants it to none (SEED_STEP_NETWORK=off)",
                ));
            }
            (_, false) => false,
        };
        let answers = answers(&task).await?;
        let isolation = self.isolation().await;
        let sandbox = Arc::new(
            Sandbox::create(
                self.inner.config.workdir.as_deref(),
                Limits {
                    isolation: isolation.clone(),
                    network,
                    ..self.inner.config.limits.clone()
                },
            )
            .map_err(|err| TaskError::new(format!("cannot create the task's workspace: {err}")))?,
        );
        let outcome = match (plan, &self.inner.llm) {
            (Plan::Steps(steps), _) => self.run_steps(&task, &sandbox, &steps, &answers).await?,
            (Plan::Goal(goal), Some(llm)) => {
                // Every call of this task is reserved against the budgets and recorded
                // in the ledger, for this agent, project and task.
                let llm = llm
                    .clone()
                    .metered(Meter::new(task.client().clone()))
                    .for_spender(Spender {
                        agent_id: t.agent_id,
                        project_id: Some(t.project_id),
                        task_id: Some(t.id),
                        // A schedule's task is work nobody asked for just now.
                        scope: if t.labels.iter().any(|l| l.starts_with("schedule:")) {
                            UsageScope::Proactive
                        } else {
                            UsageScope::Reactive
                        },
                        ..Spender::default()
                    });
                reason::run(
                    &task,
                    &sandbox,
                    &self,
                    &llm,
                    &goal,
                    &answers,
                    self.inner.config.max_turns,
                )
                .await?
            }
            (Plan::Goal(goal), None) => {
                let steps = plan::rule_based(&goal).map_err(|line| {
                    TaskError::permanent(format!(
                        "no LLM is configured (LLM_BASE_URL), and the rule-based brain does not understand `{line}`: \
                         give the task explicit `input.steps`, or write its goal as plain commands \
                         (`run <command>`, `fetch <url> as <path>`, `ask <question>`, one per line)"
                    ))
                })?;
                self.run_steps(&task, &sandbox, &steps, &answers).await?
            }
        };
        let Outcome::Done(mut result) = outcome else {
            return Ok(Value::Null);
        };
        let artifacts = upload_outputs(&task, &sandbox).await?;
        if let Value::Object(map) = &mut result {
            map.insert("artifacts".into(), Value::Array(artifacts));
            if isolation == Isolation::Processes {
                map.insert(
                    "sandbox".into(),
                    json!(
                        "processes: shell steps ran with limits and a cleared environment \
                           but without namespaces (the operator's SEED_SANDBOX=processes): \
                           they could read what this worker's user can and reach the network"
                    ),
                );
            }
            if !answers.is_empty() {
                map.insert("answers".into(), json!(answers));
            }
        }
        Ok(result)
    }
}

/// How a run ended: done with a result, or handed to a human (blocked).
pub(crate) enum Outcome {
    Done(Value),
    Blocked,
}

/// The questions this task asked and the answers it got, oldest first (see [`pair`]).
async fn answers(task: &TaskContext) -> Result<Vec<Answer>, TaskError> {
    let filter = EventFilter::new()
        .task(task.id())
        .types(["task.blocked", "task.unblocked"])
        .since(0);
    let events: Vec<_> = task
        .client()
        .events()
        .list_filtered(&filter)
        .stream()
        .try_collect()
        .await
        .map_err(|err| TaskError::new(format!("cannot read the task's history: {err}")))?;
    Ok(pair(&events))
}

/// Pairs each `task.blocked` event's reason with the note of the `task.unblocked` after
/// it. The note is the unblocked task's `progress_message`, which unblocking sets to the
/// note, or clears when there is none: an empty answer.
///
/// Servers before that fix left the field as it was when there was no note, holding this
/// Seed's own progress text (`step 1/2: ask …`), and their events stay in the history
/// a task is replayed from. So an unblocked `progress_message` equal to the blocked one
/// is taken as no note too: only a human who typed exactly the text already shown would
/// be misread, and as having said nothing, never as something they did not say.
fn pair(events: &[Event]) -> Vec<Answer> {
    let mut answers = Vec::new();
    let mut asked: Option<(String, Option<&str>)> = None;
    for event in events {
        match event.kind.as_str() {
            "task.blocked" => {
                asked = event.data["block_reason"]
                    .as_str()
                    .map(|question| (question.to_owned(), event.data["progress_message"].as_str()));
            }
            "task.unblocked" => {
                if let Some((question, shown)) = asked.take() {
                    let note = event.data["progress_message"]
                        .as_str()
                        .filter(|&note| Some(note) != shown);
                    answers.push(Answer {
                        question,
                        answer: note.unwrap_or_default().to_owned(),
                    });
                }
            }
            _ => {}
        }
    }
    answers
}

fn step_error(index: usize, step: &Step, err: StepError) -> TaskError {
    let message = format!("step {} ({}): {err}", index + 1, step.summary());
    match err {
        StepError::Invalid(_) | StepError::Failed(_) => TaskError::permanent(message),
        StepError::Transient(_) => TaskError::new(message),
    }
}

impl Seed {
    async fn run_steps(
        &self,
        task: &TaskContext,
        sandbox: &Arc<Sandbox>,
        steps: &[Step],
        answers: &[Answer],
    ) -> Result<Outcome, TaskError> {
        let mut records = Vec::with_capacity(steps.len());
        let mut previews = Vec::new();
        let mut asked = 0usize;
        let total = steps.len() as f64;
        for (i, step) in steps.iter().enumerate() {
            if task.is_cancelled() {
                return Err(TaskError::new("cancelled"));
            }
            let _ = task
                .progress(
                    i as f64 / total,
                    format!("step {}/{}: {}", i + 1, steps.len(), step.summary()),
                )
                .await;
            let record = match step {
                Step::Run {
                    command,
                    timeout,
                    env,
                    allow_failure,
                } => {
                    let mut vars: Vec<(String, String)> = answers
                        .iter()
                        .take(asked)
                        .enumerate()
                        .map(|(k, a)| (format!("ANSWER_{}", k + 1), a.answer.clone()))
                        .collect();
                    vars.extend(env.iter().cloned());
                    let out = sandbox
                        .shell(command, &vars, *timeout)
                        .await
                        .map_err(|err| step_error(i, step, err))?;
                    if out.timed_out {
                        return Err(TaskError::new(format!(
                            "step {} ({}) ran over its time limit; output: {}",
                            i + 1,
                            step.summary(),
                            last_words(&out.stdout, &out.stderr)
                        )));
                    }
                    if !out.succeeded() && !allow_failure {
                        return Err(TaskError::new(format!(
                            "step {} ({}) exited with {}: {}",
                            i + 1,
                            step.summary(),
                            out.exit_status(),
                            last_words(&out.stdout, &out.stderr)
                        )));
                    }
                    json!({ "run": command, "outcome": out })
                }
                Step::Fetch { url, save_as } => {
                    let out = sandbox
                        .fetch(url, save_as.as_deref())
                        .await
                        .map_err(|err| step_error(i, step, err))?;
                    json!({ "fetch": url, "outcome": out })
                }
                Step::Write { path, content } => {
                    let bytes = sandbox
                        .write(path, content)
                        .await
                        .map_err(|err| step_error(i, step, err))?;
                    json!({ "write": path, "bytes": bytes })
                }
                Step::Serve { command, port } => {
                    let shown = self
                        .show_preview(task, sandbox, command, *port)
                        .await
                        .map_err(|err| step_error(i, step, err))?;
                    previews.push(shown.clone());
                    json!({ "serve": command, "port": port, "preview": shown })
                }
                Step::Ask { question } => {
                    let Some(answer) = answers.get(asked) else {
                        block(task, question).await?;
                        return Ok(Outcome::Blocked);
                    };
                    asked += 1;
                    json!({ "ask": question, "answer": answer.answer })
                }
            };
            records.push(record);
        }
        let _ = task
            .progress(1.0, format!("{} steps done", steps.len()))
            .await;
        let mut result = json!({ "steps": records });
        if !previews.is_empty() {
            result["previews"] = Value::Array(previews);
        }
        Ok(Outcome::Done(result))
    }
}

pub(crate) async fn block(task: &TaskContext, question: &str) -> Result<(), TaskError> {
    let reason: String = question.chars().take(10_000).collect();
    task.block(reason)
        .await
        .map_err(|err| TaskError::new(format!("cannot block the task to ask a human: {err}")))
}

/// The end of a failed command's output, for the task's error.
pub(crate) fn last_words(stdout: &str, stderr: &str) -> String {
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let text = text.trim();
    let start = text
        .char_indices()
        .rev()
        .nth(499)
        .map_or(0, |(index, _)| index);
    if text.is_empty() {
        "(no output)".to_owned()
    } else {
        text[start..].to_owned()
    }
}

/// Uploads every file under `out/` as an artifact of the task. The idempotency key is the
/// attempt's claim token and the file's name, so a retried upload within one attempt
/// does not store it twice.
async fn upload_outputs(task: &TaskContext, sandbox: &Sandbox) -> Result<Vec<Value>, TaskError> {
    let files = sandbox
        .outputs()
        .map_err(|err| TaskError::new(format!("cannot list out/: {err}")))?;
    let mut uploaded = Vec::with_capacity(files.len());
    let total = files.len();
    for (i, file) in files.into_iter().enumerate() {
        let _ = task
            .message(format!("uploading {} ({}/{total})", file.name, i + 1))
            .await;
        let upload = ArtifactUpload::for_task(task.id(), &file.name)
            .content_type(file.content_type)
            .idempotency_key(format!("{}:{}", task.claim_token(), file.name));
        let artifact = task
            .client()
            .artifacts()
            .upload_file(upload, &file.path)
            .await
            .map_err(|err| {
                let message = format!("uploading out/{}: {err}", file.name);
                if err.is_retryable() {
                    TaskError::new(message)
                } else {
                    TaskError::permanent(message)
                }
            })?;
        uploaded.push(json!({
            "id": artifact.id,
            "name": artifact.name,
            "size": artifact.size,
            "sha256": artifact.sha256,
        }));
    }
    Ok(uploaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, block_reason: Option<&str>, progress_message: Option<&str>) -> Event {
        serde_json::from_value(json!({
            "id": 1,
            "type": kind,
            "created_at": "2026-11-22T10:00:00Z",
            "project_id": null,
            "task_id": null,
            "agent_id": null,
            "data": {"block_reason": block_reason, "progress_message": progress_message},
        }))
        .unwrap()
    }

    #[test]
    fn an_unblock_without_a_note_is_an_empty_answer_not_the_progress_text() {
        let asked = |n: u32| format!("step {n}/4: ask \"Q{n}\"");
        let events = [
            // Today's server: no note, no progress message.
            event("task.blocked", Some("Q1"), Some(&asked(1))),
            event("task.unblocked", None, None),
            // An older server kept the progress text when there was no note.
            event("task.blocked", Some("Q2"), Some(&asked(2))),
            event("task.unblocked", None, Some(&asked(2))),
            event("task.blocked", Some("Q3"), Some(&asked(3))),
            event("task.unblocked", None, Some("prod")),
            // An unblock with no question before it answers nothing.
            event("task.unblocked", None, Some("stray")),
        ];

        let answers: Vec<(String, String)> = pair(&events)
            .into_iter()
            .map(|a| (a.question, a.answer))
            .collect();

        let expected =
            [("Q1", ""), ("Q2", ""), ("Q3", "prod")].map(|(q, a)| (q.to_owned(), a.to_owned()));
        assert_eq!(answers, expected);
    }
}
