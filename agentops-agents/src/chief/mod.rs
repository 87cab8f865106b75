//! The Chief of Staff: the agent people talk to. It keeps each conversation in a platform
//! thread, answers questions at once, and for anything that creates or changes work
//! first replies with one sentence — "Understood: … Will: …" — and proposes it as an
//! approval; only once a person approves does it act, through the SDK.
//!
//! - [`ChiefOfStaff::chat`] takes a message (from Telegram, voice, the dashboard, any
//!   HTTP caller), stores it, decides, stores and returns the reply. The last 30
//!   messages, with their times and derived text such as voice transcripts, go to the
//!   LLM with each message.
//! - A new message supersedes the plan still waiting for an OK (the platform does that
//!   when the message is stored); "ok"/"yes" approves it, "no" rejects it.
//! - [`ChiefOfStaff::run_executor`] carries out approved plans, wherever they were
//!   approved (an OK in the chat, a Telegram button, the dashboard): first those
//!   approved while it was not running, then each `approval.approved` event as it
//!   comes. Every create carries an idempotency key drawn from the approval, so a plan
//!   carried out twice (after a crash half-way) creates nothing twice; the outcome is
//!   recorded on the approval and told in the thread. Should the event stream end (the
//!   platform refused to resume it, say after retention pruned its cursor), it starts
//!   over after a pause: catch up, then follow the events again.
//! - Everything it posts goes through [`clean`] first: an LLM can answer with
//!   nothing, or with control characters the platform refuses in a message, and the
//!   person must still get a reply.
//!
//! Without an LLM, the offline brain ([`offline`], reading with [`nlu`]) understands
//! plain English for the common requests and asks back when unsure; with one, free
//! text.

pub mod actions;
pub mod brain;
pub mod look;
pub mod nlu;
pub mod offline;
pub mod proactive;
pub mod progress;
#[cfg(feature = "server")]
pub mod server;
pub mod when;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use agentops_sdk::text::clean;
use agentops_sdk::types::{
    ApprovalIn, ApprovalOut, ApprovalOutcomeIn, ApprovalStatus, ErrorCode, EventFilter, IMAGE_JSON,
    MessageIn, MessageOut, MessageRole, Multitask, PICTURE_ONLY, Spender, TaskOut, ThreadIn,
    ThreadOut, ThreadPatch,
};
use agentops_sdk::{CancellationToken, Client};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use uuid::Uuid;

use self::actions::Action;
use self::brain::{Brain, Decision, LlmBrain, RuleBased, Thinking};
use crate::llm::{Llm, LlmConfig, LlmError};
use crate::meter::Meter;

/// The marker in an approval's plan that says the Chief of Staff proposed it (other
/// agents may propose plans of their own).
const PROPOSER: &str = "chief-of-staff";

/// Messages of history given with each new one.
pub const HISTORY: u32 = 30;

/// Messages read past [`HISTORY`] for those left out of it (lines on a plan's progress).
const HISTORY_SKIPPED: u32 = 70;

/// The reply when the LLM answers with nothing (or nothing but control characters).
pub const NO_ANSWER: &str = "I have no answer to that. Could you say it another way?";

/// The longest message the platform takes, in characters.
const TEXT_MAX: usize = 32_000;

/// The longest plan summary, in characters: what the acknowledgement leaves.
const SUMMARY_MAX: usize = ACK_MAX - REPLY_OK.len();

/// The longest acknowledgement of a command ("Understood: … Will: …" and how to say
/// OK), in characters: a person reads it before saying OK.
pub const ACK_MAX: usize = 1_000;

/// How the acknowledgement ends.
const REPLY_OK: &str = "\nReply OK to go ahead.";

/// The first pause before the executor starts over after its event stream ended; it
/// doubles, up to [`RESTART_MAX`], while the stream keeps ending soon after it started,
/// so a stream the platform refuses for good does not spin.
const RESTART_MIN: Duration = Duration::from_secs(1);
/// The longest pause between two starts of the executor.
const RESTART_MAX: Duration = Duration::from_secs(60);

// The wire types of the Chief's HTTP API live in the SDK, where its clients (the
// Telegram bot, the dashboard) find them.
pub use agentops_sdk::types::{ChatIn, ChatOut};

/// What can go wrong handling a message.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The message itself is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The platform could not be reached or refused.
    #[error("the platform: {0}")]
    Platform(#[from] agentops_sdk::Error),
}

impl ChatError {
    /// As an error of the platform's SDK (a refused message is a configuration error:
    /// the Chief's own text did not fit the platform).
    fn into_platform(self) -> agentops_sdk::Error {
        match self {
            ChatError::Platform(err) => err,
            ChatError::Invalid(message) => agentops_sdk::Error::Config(message),
        }
    }
}

/// How the Chief of Staff thinks.
#[derive(Debug, Clone, Default)]
pub struct ChiefConfig {
    /// The LLM; the rule-based brain if `None`.
    pub llm: Option<LlmConfig>,
    /// The model that classifies each message first (a cheaper one, on the same
    /// provider); the LLM's own model if `None`.
    pub classifier_model: Option<String>,
    /// How a plan's conversation is told how its tasks are going while they run.
    pub progress: progress::ProgressConfig,
}

/// The Chief of Staff. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChiefOfStaff {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    brain: Arc<dyn Brain>,
    /// Approvals being carried out by this process, so two notices of one approval do
    /// not run it twice at the same time.
    executing: Mutex<HashSet<Uuid>>,
    /// The conversations it is busy with.
    turns: Arc<Lanes<Uuid, Turn>>,
    /// Messages on their way to their conversation's turn, in the order they arrived,
    /// by thread id or by channel and chat.
    arrivals: Arc<Lanes<String, tokio::sync::Mutex<()>>>,
    /// How plans' progress is told, and the lines gathered for it.
    progress: progress::ProgressConfig,
    progress_lines: progress::Tracker,
}

impl ChiefOfStaff {
    /// A Chief of Staff talking to the platform through `client` (an admin key: it creates
    /// projects and tasks, and approves what people approve in the chat).
    ///
    /// # Errors
    /// If the LLM client cannot be built.
    pub fn new(client: Client, config: ChiefConfig) -> Result<Self, LlmError> {
        let brain: Arc<dyn Brain> = match config.llm {
            Some(llm) => {
                let main = Llm::new(llm.clone())?.metered(Meter::new(client.clone()));
                Arc::new(match config.classifier_model {
                    Some(model) if model != llm.model => LlmBrain::with_classifier(
                        main,
                        Llm::new(LlmConfig { model, ..llm })?.metered(Meter::new(client.clone())),
                    ),
                    _ => LlmBrain::new(main),
                })
            }
            None => Arc::new(RuleBased),
        };
        Ok(Self::build(client, brain, config.progress))
    }

    /// A Chief of Staff that decides with `brain`.
    pub fn with_brain(client: Client, brain: Arc<dyn Brain>) -> Self {
        Self::build(client, brain, progress::ProgressConfig::default())
    }

    fn build(client: Client, brain: Arc<dyn Brain>, progress: progress::ProgressConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                brain,
                executing: Mutex::new(HashSet::new()),
                turns: Arc::default(),
                arrivals: Arc::default(),
                progress,
                progress_lines: progress::Tracker::default(),
            }),
        }
    }

    /// Whether it thinks with an LLM (else the rule-based brain).
    pub fn has_llm(&self) -> bool {
        self.inner.brain.model().is_some()
    }

    /// Handles one message: stores it, decides, stores and returns the reply.
    ///
    /// # Errors
    /// [`ChatError::Invalid`] for an empty message or a bad channel,
    /// [`ChatError::Platform`] if the platform fails.
    pub async fn chat(&self, input: ChatIn) -> Result<ChatOut, ChatError> {
        if input.text.trim().is_empty() {
            return Err(ChatError::Invalid("the message is empty".into()));
        }
        // Carried to the end even if the caller stops waiting (a closed HTTP request, a
        // timeout): the message is stored and answered in its conversation, where the
        // person sees the answer, rather than dropped half-way.
        let chief = self.clone();
        match tokio::spawn(async move { chief.converse(input).await }).await {
            Ok(out) => out,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            Err(_) => Err(ChatError::Invalid(
                "the Chief of Staff is shutting down".into(),
            )),
        }
    }

    /// The conversation `input` belongs to (its `thread_id`, or the thread of its
    /// channel and `external_id`, opened if it is new).
    ///
    /// # Errors
    /// If the platform cannot be reached, or the thread does not exist.
    pub async fn thread_of(&self, input: &ChatIn) -> Result<Uuid, ChatError> {
        let client = &self.inner.client;
        Ok(match input.thread_id {
            Some(id) => client.threads().get(id).await?.id,
            None => {
                client
                    .threads()
                    .open(ThreadIn {
                        channel: input.channel.clone(),
                        external_id: input.external_id.clone(),
                        ..ThreadIn::default()
                    })
                    .await?
                    .id
            }
        })
    }

    /// [`chat`](Self::chat), once it cannot be cancelled.
    async fn converse(&self, input: ChatIn) -> Result<ChatOut, ChatError> {
        let client = &self.inner.client;
        // Messages of one conversation take their turns in the order they arrived: the
        // first is in the queue for the turn before the next one looks up the thread.
        let arrival = match (&input.thread_id, &input.external_id) {
            (Some(id), _) => Some(id.to_string()),
            (None, Some(chat)) => Some(format!(
                "{}\u{0}{chat}",
                input.channel.as_deref().unwrap_or_default()
            )),
            (None, None) => None,
        }
        .map(|key| self.inner.arrivals.join(key));
        let arrived = match &arrival {
            Some(lane) => Some(lane.value.clone().lock_owned().await),
            None => None,
        };
        let thread = match input.thread_id {
            Some(id) => client.threads().get(id).await?,
            None => {
                client
                    .threads()
                    .open(ThreadIn {
                        channel: input.channel.clone(),
                        external_id: input.external_id.clone(),
                        ..ThreadIn::default()
                    })
                    .await?
            }
        };
        // "/busy reject", "while you're working, queue my messages": the
        // conversation's policy, set at once (it changes no work).
        if let Some(policy) = nlu::multitask_setting(&input.text) {
            return self.set_multitask(thread.id, &input, policy).await;
        }
        // "/progress off", "just tell me when it's done": also set at once.
        if let Some(on) = nlu::progress_setting(&input.text) {
            return self.set_progress(thread.id, &input, on).await;
        }
        let policy = input
            .multitask
            .or_else(|| {
                thread
                    .metadata
                    .get(MULTITASK)
                    .and_then(|v| serde_json::from_value(v.clone()).ok())
            })
            .unwrap_or_default();
        let held = match self
            .take_turn(
                thread.id,
                &format!("your message \"{}\"", gist(&input.text)),
                policy,
                arrived,
            )
            .await
        {
            Ok(held) => held,
            Err(busy_with) => {
                // Kept, so nothing said is lost, and answered at once.
                let mut kept = input.clone();
                kept.metadata = Some(with_key(
                    input.metadata.clone(),
                    MULTITASK,
                    json!("rejected"),
                )?);
                self.store_user(thread.id, &kept).await?;
                let reply = format!(
                    "I am still working on {busy_with}. Send this again when I am done (or say \"/busy interrupt\" to let new messages stop what I am doing)."
                );
                let posted = self
                    .reply(thread.id, &reply, json!({ MULTITASK: "rejected" }))
                    .await?;
                return Ok(ChatOut {
                    thread_id: thread.id,
                    reply: posted.text,
                    approval: None,
                });
            }
        };
        let out = self.handle(&thread, input, held.stop.clone()).await;
        drop(held);
        out
    }

    /// Sets the conversation's policy for messages that arrive while the Chief is busy
    /// with it (its thread's `metadata.multitask`), and says so.
    async fn set_multitask(
        &self,
        thread: Uuid,
        input: &ChatIn,
        policy: Multitask,
    ) -> Result<ChatOut, ChatError> {
        let reply = match policy {
            Multitask::Enqueue => {
                "OK: a message you send while I am still busy here waits its turn, and I answer them in order."
            }
            Multitask::Reject => {
                "OK: while I am still busy here, I will say so and not take new messages; send them again when I am done."
            }
            Multitask::Interrupt => {
                "OK: a message you send while I am still busy here stops what I am doing (at the next safe point; what is done stays done), and I read it at once."
            }
        };
        self.set_setting(thread, input, MULTITASK, policy.as_str(), reply)
            .await
    }

    /// Stores `input`, sets `key` of conversation `thread`'s metadata to `value`, and
    /// answers `reply` (marked with the same key and value).
    async fn set_setting(
        &self,
        thread: Uuid,
        input: &ChatIn,
        key: &str,
        value: &str,
        reply: &str,
    ) -> Result<ChatOut, ChatError> {
        self.store_user(thread, input).await?;
        self.inner
            .client
            .threads()
            .update(
                thread,
                ThreadPatch {
                    metadata: Some(json!({ key: value })),
                    ..ThreadPatch::default()
                },
            )
            .await?;
        let posted = self.reply(thread, reply, json!({ key: value })).await?;
        Ok(ChatOut {
            thread_id: thread,
            reply: posted.text,
            approval: None,
        })
    }

    /// Passes `input` on as the answer to the question a plan's task asked, when that
    /// question is among the Chief's latest words in conversation `thread` (progress
    /// lines aside: its very latest with an LLM, one of its last [`QUESTION_LOOKBACK`]
    /// without), the task still waits for it, and `input` is no request or question of its
    /// own (no `?`; the offline reading finds nothing in it, or a yes or a no) from
    /// someone who may decide here: the task goes back to the queue with it, as the ✍ Answer button on Telegram
    /// does. `None` otherwise.
    async fn answer_question(
        &self,
        thread: Uuid,
        input: &ChatIn,
    ) -> Result<Option<ChatOut>, ChatError> {
        // A question back ("what should I say?") is for the Chief, not the answer.
        if input.metadata.as_ref().and_then(|m| m.get(MAY_DECIDE)) == Some(&json!(false))
            || input.text.contains('?')
        {
            return Ok(None);
        }
        match nlu::parse(&input.text, chrono::Utc::now()) {
            nlu::Intent::Unknown { .. } | nlu::Intent::Yes | nlu::Intent::No => {}
            _ => return Ok(None),
        }
        let client = &self.inner.client;
        let recent = client
            .threads()
            .messages(thread)
            .limit(30)
            .send()
            .await?
            .items;
        // With an LLM, only a question that is the Chief's latest word (anything else the
        // person says is for the LLM to read); the rule-based brain, which would not
        // understand the message anyway, looks back a few of its messages (a question
        // back and its answer may have come in between).
        let looked_at = if self.has_llm() { 1 } else { QUESTION_LOOKBACK };
        let asked = recent
            .iter()
            .filter(|m| {
                m.role == MessageRole::Assistant
                    && m.metadata.get(progress::PLAN_PROGRESS).is_none()
            })
            .take(looked_at)
            .find_map(|m| {
                m.metadata
                    .get(progress::PLAN_QUESTION)
                    .and(m.metadata.get("task_id"))
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok())
            });
        let Some(task_id) = asked else {
            return Ok(None);
        };
        let task = match client.tasks().get(task_id).await {
            Ok(task) => task,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        if task.status != agentops_sdk::types::TaskStatus::Blocked {
            return Ok(None);
        }
        let mut answer = input.clone();
        answer.metadata = Some(with_key(
            input.metadata.clone(),
            "answers_task",
            json!(task_id),
        )?);
        let stored = self.store_user(thread, &answer).await?;
        let note = agentops_sdk::text::truncate(input.text.trim(), agentops_sdk::limits::NOTE);
        let name = format!("{} \"{}\"", actions::short_id(task.id), task.title);
        let reply = match client
            .tasks()
            .unblock(
                task_id,
                agentops_sdk::types::UnblockIn {
                    note: Some(note.clone()),
                },
            )
            .await
        {
            Ok(_) => format!("Passed on to {name}: \"{}\". It goes on.", gist(&note)),
            // Answered meanwhile (a button, the dashboard) or cancelled.
            Err(err) if err.is_conflict() || err.is_invalid_transition() => {
                format!("{name} no longer waits for an answer.")
            }
            Err(err) => return Err(err.into()),
        };
        let posted = self
            .reply(
                thread,
                &reply,
                in_reply_to(json!({ "task_id": task_id }), stored.id),
            )
            .await?;
        Ok(Some(ChatOut {
            thread_id: thread,
            reply: posted.text,
            approval: None,
        }))
    }

    /// Turns the lines on how a plan's tasks are going on or off in conversation
    /// `thread` (its thread's `metadata.progress`), and says so.
    async fn set_progress(
        &self,
        thread: Uuid,
        input: &ChatIn,
        on: bool,
    ) -> Result<ChatOut, ChatError> {
        let setting = if on { "on" } else { "off" };
        let reply = match (on, self.inner.progress.every) {
            (true, Some(every)) => format!(
                "OK: while a plan of yours runs, I will tell you here how its tasks are going (at most every {}), and when it is done.",
                progress::spoken(every)
            ),
            (true, None) => "OK. (Progress lines are turned off for everyone on this server: you will hear of questions and of the end of each plan.)".to_owned(),
            (false, _) => "OK: no progress lines here. I will still tell you when a task needs an answer, and when a plan is done.".to_owned(),
        };
        self.set_setting(thread, input, progress::SETTING, setting, &reply)
            .await
    }

    /// The turn of conversation `thread`, for `what`: at once if it is free, else as
    /// `policy` says — wait for it (`enqueue`), stop the current work (and any that
    /// waits before this) at its next safe point and wait (`interrupt`), or `Err` with
    /// what it is busy with (`reject`). `arrived`, the message's place among those that
    /// arrived before it, is given up once it is in the queue for the turn.
    async fn take_turn(
        &self,
        thread: Uuid,
        what: &str,
        policy: Multitask,
        arrived: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Result<Held, String> {
        let lane = self.inner.turns.join(thread);
        let turn = &lane.value;
        let ticket = {
            let mut state = turn.state();
            state.issued += 1;
            state.issued
        };
        let guard = match turn.lock.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                {
                    let mut state = turn.state();
                    match policy {
                        Multitask::Reject => {
                            return Err(state.busy.as_ref().map_or_else(
                                || "your previous message".to_owned(),
                                |busy| busy.what.clone(),
                            ));
                        }
                        Multitask::Interrupt => {
                            state.interrupted_through = state.interrupted_through.max(ticket - 1);
                            if let Some(busy) = &state.busy {
                                busy.stop.cancel();
                            }
                        }
                        Multitask::Enqueue => {}
                    }
                }
                // In the queue (first come, first served) before the next message that
                // arrived may look for its turn.
                let mut wait = std::pin::pin!(turn.lock.clone().lock_owned());
                match std::future::poll_fn(|cx| Poll::Ready(wait.as_mut().poll(cx))).await {
                    Poll::Ready(guard) => guard,
                    Poll::Pending => {
                        drop(arrived);
                        wait.await
                    }
                }
            }
        };
        let stop = CancellationToken::new();
        {
            let mut state = turn.state();
            // Interrupted while it waited: it stops at its first safe point.
            if ticket <= state.interrupted_through {
                stop.cancel();
            }
            state.busy = Some(Busy {
                what: what.to_owned(),
                stop: stop.clone(),
            });
        }
        Ok(Held {
            guard: Some(guard),
            lane,
            stop,
        })
    }

    /// Handles one message of `thread` (its turn held): an answer to the pending plan,
    /// or a decision by the brain.
    async fn handle(
        &self,
        thread: &ThreadOut,
        input: ChatIn,
        stop: CancellationToken,
    ) -> Result<ChatOut, ChatError> {
        // Someone the interface says may not answer plans here (in a group, not the
        // person who asked nor an admin): their words neither decide the waiting plan
        // nor replace it.
        let mut input = input;
        if input.metadata.as_ref().and_then(|m| m.get(MAY_DECIDE)) == Some(&json!(false))
            && let Some(approval) = self.waiting_plan(thread.id).await?
        {
            let mut kept = input.clone();
            kept.metadata = Some(answering(input.metadata.clone(), approval.id)?);
            if nlu::is_yes(&input.text) || nlu::is_no(&input.text) {
                let stored = self.store_user(thread.id, &kept).await?;
                let reply = "Only the person who asked for this plan, or an admin of this chat, can answer it.";
                let posted = self
                    .reply(thread.id, reply, in_reply_to(json!({}), stored.id))
                    .await?;
                return Ok(ChatOut {
                    thread_id: thread.id,
                    reply: posted.text,
                    approval: None,
                });
            }
            // Kept marked as not answering it: handled as any message, minus the
            // power to replace the plan.
            input.metadata = kept.metadata;
            if let Some(Value::Object(fields)) = &mut input.metadata {
                fields.remove(MAY_DECIDE);
            }
            return self.handle_as_said(thread, input, stop).await;
        }
        self.handle_as_said(thread, input, stop).await
    }

    /// The plan waiting for an answer in conversation `thread`, if any.
    async fn waiting_plan(&self, thread: Uuid) -> Result<Option<ApprovalOut>, ChatError> {
        Ok(self
            .inner
            .client
            .approvals()
            .list()
            .thread(thread)
            .status(ApprovalStatus::Pending)
            .limit(1)
            .send()
            .await?
            .items
            .into_iter()
            .next())
    }

    /// [`handle`](Self::handle) once who may decide is settled.
    async fn handle_as_said(
        &self,
        thread: &ThreadOut,
        input: ChatIn,
        stop: CancellationToken,
    ) -> Result<ChatOut, ChatError> {
        let client = &self.inner.client;
        // An OK (or a no) answers the plan waiting in this thread: decide it before the
        // message is stored, since a stored message supersedes it.
        let pending = if nlu::is_yes(&input.text) || nlu::is_no(&input.text) {
            self.waiting_plan(thread.id).await?
        } else {
            None
        };
        if let Some(approval) = pending {
            // Store the answer first, marked as answering the plan so it does not
            // supersede it: a message the platform refuses then decides nothing.
            let mut answer = input.clone();
            answer.metadata = Some(answering(input.metadata.clone(), approval.id)?);
            let stored = self.store_user(thread.id, &answer).await?;
            let decided = if nlu::is_yes(&input.text) {
                client
                    .approvals()
                    .approve(approval.id)
                    .await
                    .map(|_| "On it.")
            } else {
                client
                    .approvals()
                    .reject(approval.id, Some("the person said no".into()))
                    .await
                    .map(|_| "All right, I will not do it.")
            };
            let reply = match decided {
                Ok(reply) => reply.to_owned(),
                // Decided meanwhile (another "OK", a button, a newer plan).
                Err(err) if err.is_conflict() => {
                    "That plan is no longer waiting for an answer: it was decided or replaced."
                        .to_owned()
                }
                Err(err) => return Err(err.into()),
            };
            self.reply(
                thread.id,
                &reply,
                in_reply_to(json!({"approval_id": approval.id}), stored.id),
            )
            .await?;
            return Ok(ChatOut {
                thread_id: thread.id,
                reply,
                approval: None,
            });
        }

        // A reply to the question a plan's task asked: the answer, passed on at once.
        if let Some(out) = self.answer_question(thread.id, &input).await? {
            return Ok(out);
        }
        let stored = self.store_user(thread.id, &input).await?;
        // Lines on how a plan goes are left out: they would crowd out what was said.
        let mut history: Vec<MessageOut> = client
            .threads()
            .messages(thread.id)
            .limit(HISTORY + 1 + HISTORY_SKIPPED)
            .send()
            .await?
            .items
            .into_iter()
            .filter(|m| m.id != stored.id && m.metadata.get(progress::PLAN_PROGRESS).is_none())
            .take(HISTORY as usize)
            .collect();
        history.reverse();

        let mut thinking = Thinking {
            spender: Spender {
                thread_id: Some(thread.id),
                user: input.author.clone(),
                ..Spender::default()
            },
            stop: stop.clone(),
            ..Thinking::default()
        };
        let mut note = None;
        let brain = &self.inner.brain;
        // A picture: a model that sees described it (`/image`); a model that thinks reads
        // that with the person's words, the rule-based brain only the words.
        let picture = input
            .metadata
            .as_ref()
            .and_then(|m| m.get(IMAGE_JSON))
            .and_then(|i| i.get("description"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let wordless = picture.is_some() && input.text == PICTURE_ONLY;
        let asked_about = |seen: &str| Decision::Ask {
            question: format!("🖼 I see: {seen}\n\nWhat would you like me to do with it?"),
            suggestion: None,
        };
        let said = match (&picture, brain.model()) {
            (Some(seen), Some(_)) => format!(
                "{}[The person sent a picture. A vision model describes it: {seen}]",
                if wordless {
                    String::new()
                } else {
                    format!("{}\n\n", input.text)
                }
            ),
            _ => input.text.clone(),
        };
        let decided = match (&picture, brain.model()) {
            (Some(seen), None) if wordless => Ok(asked_about(seen)),
            _ => brain.decide(client, &history, &said, &mut thinking).await,
        };
        let decision = match decided {
            Ok(decision) => decision,
            Err(err) if wordless => {
                tracing::warn!("the LLM failed on a picture: {err}");
                asked_about(picture.as_deref().unwrap_or_default())
            }
            Err(err) => {
                tracing::warn!("the LLM failed, falling back to the rule-based brain: {err}");
                note = Some(match &err {
                    LlmError::Budget { message, .. } => format!(
                        "(I am out of LLM budget: {message}. I answered with plain commands only.)"
                    ),
                    _ => format!(
                        "(The LLM is unavailable: {err}. I answered with plain commands only.)"
                    ),
                });
                offline::decide(client, &history, &input.text).await
            }
        };
        let llm_meta = thinking.model.as_ref().map(|model| {
            json!({
                "model": model,
                "calls": thinking.calls,
                "prompt_tokens": thinking.usage.prompt_tokens,
                "completion_tokens": thinking.usage.completion_tokens,
            })
        });
        // A plan decided while a newer message interrupted is not offered: the newer
        // message would replace it anyway.
        let decision = match decision {
            Decision::Propose { .. } if stop.is_cancelled() => Decision::Interrupted,
            decision => decision,
        };
        match decision {
            Decision::Interrupted => {
                let reply = format!(
                    "I stopped working on \"{}\" to read your newer message.",
                    gist(&input.text)
                );
                let posted = self
                    .reply(
                        thread.id,
                        &reply,
                        in_reply_to(json!({"interrupted": true, "llm": llm_meta}), stored.id),
                    )
                    .await?;
                Ok(ChatOut {
                    thread_id: thread.id,
                    reply: posted.text,
                    approval: None,
                })
            }
            Decision::Answer(text) => {
                // The person's message is stored (and any plan it superseded gone): they
                // must get a reply even when the LLM said nothing usable.
                let mut reply = clean(&text);
                if reply.is_empty() {
                    reply = NO_ANSWER.to_owned();
                }
                if let Some(note) = note {
                    reply = format!("{reply}\n{note}");
                }
                let posted = self
                    .reply(
                        thread.id,
                        &reply,
                        in_reply_to(json!({"llm": llm_meta}), stored.id),
                    )
                    .await?;
                Ok(ChatOut {
                    thread_id: thread.id,
                    reply: posted.text,
                    approval: None,
                })
            }
            Decision::Ask {
                question,
                suggestion,
            } => {
                let mut metadata = json!({"llm": llm_meta});
                if let Some(suggestion) = suggestion {
                    metadata[offline::SUGGESTION] = json!(suggestion);
                }
                let posted = self
                    .reply(thread.id, &question, in_reply_to(metadata, stored.id))
                    .await?;
                Ok(ChatOut {
                    thread_id: thread.id,
                    reply: posted.text,
                    approval: None,
                })
            }
            Decision::Propose {
                understood,
                actions,
            } => {
                // What the Chief does itself on a schedule (reminders, reports) is said
                // in the conversation that asked for it.
                let actions: Vec<Action> = actions
                    .into_iter()
                    .map(|action| action.cleaned().reporting_to(thread.id))
                    .collect();
                // A plan that cannot run, or names what does not exist, is not offered:
                // the person is told what is missing instead.
                let checked = match actions::validate(&actions) {
                    Ok(()) => actions::preview(client, actions).await,
                    Err(err) => Err(err),
                };
                let (actions, will) = match checked {
                    Ok(checked) => checked,
                    Err(err) => {
                        let reply = format!("I cannot do that: {err}.");
                        let posted = self
                            .reply(
                                thread.id,
                                &reply,
                                in_reply_to(json!({"llm": llm_meta}), stored.id),
                            )
                            .await?;
                        return Ok(ChatOut {
                            thread_id: thread.id,
                            reply: posted.text,
                            approval: None,
                        });
                    }
                };
                let will = will.join("; ");
                let understood = clean(&understood);
                let understood = understood.trim_end_matches('.');
                let summary = if understood.is_empty() {
                    format!("Will: {will}.")
                } else {
                    format!("Understood: {understood}. Will: {will}.")
                };
                let summary = fit(&clean(&summary), SUMMARY_MAX);
                let approval = client
                    .threads()
                    .propose(
                        thread.id,
                        ApprovalIn {
                            summary: summary.clone(),
                            plan: json!({"proposed_by": PROPOSER, "actions": actions}),
                        },
                    )
                    .await?;
                let reply = format!("{summary}{REPLY_OK}");
                let posted = self
                    .reply(
                        thread.id,
                        &reply,
                        in_reply_to(
                            json!({"approval_id": approval.id, "llm": llm_meta}),
                            stored.id,
                        ),
                    )
                    .await?;
                Ok(ChatOut {
                    thread_id: thread.id,
                    reply: posted.text,
                    approval: Some(approval),
                })
            }
        }
    }

    async fn store_user(&self, thread_id: Uuid, input: &ChatIn) -> Result<MessageOut, ChatError> {
        Ok(self
            .inner
            .client
            .threads()
            .post(
                thread_id,
                MessageIn {
                    role: MessageRole::User,
                    text: input.text.clone(),
                    author: input.author.clone(),
                    metadata: input.metadata.clone(),
                },
            )
            .await?)
    }

    /// Posts the Chief of Staff's message, made acceptable to the platform
    /// ([`clean`], cut to its length limit); `text` must hold something besides
    /// control characters and spaces.
    async fn reply(
        &self,
        thread_id: Uuid,
        text: &str,
        metadata: Value,
    ) -> Result<MessageOut, ChatError> {
        Ok(self
            .inner
            .client
            .threads()
            .post(thread_id, said(text, metadata))
            .await?)
    }

    /// Carries out the tasks of kind `chief` (its schedules' reminders and status
    /// reports) until `stop`, as a worker registered on the platform: input
    /// `{"remind": TEXT, "thread_id": …}` posts "⏰ Reminder: TEXT" in that thread (or the
    /// operators' thread), `{"report": "status", "project": NAME?}` the status report.
    ///
    /// # Errors
    /// If the worker cannot register with the platform.
    pub async fn run_chief_tasks(
        &self,
        stop: CancellationToken,
    ) -> Result<(), agentops_sdk::Error> {
        let builder = agentops_sdk::Worker::builder(self.inner.client.clone())
            .name("chief-of-staff")
            .agent_kind("chief")
            .kinds([actions::CHIEF_KIND])
            .handle_signals(false);
        let shutdown = builder.shutdown_handle();
        let watcher = tokio::spawn(async move {
            stop.cancelled().await;
            shutdown.shutdown();
        });
        let chief = self.clone();
        let ran = builder
            .run(move |task: agentops_sdk::TaskContext| {
                let chief = chief.clone();
                async move { chief.chief_task(task).await }
            })
            .await;
        watcher.abort();
        ran
    }

    async fn chief_task(
        &self,
        task: agentops_sdk::TaskContext,
    ) -> Result<Value, agentops_sdk::TaskError> {
        let client = &self.inner.client;
        let input = task.input().clone();
        let text = if let Some(reminder) = input.get("remind").and_then(Value::as_str) {
            format!("⏰ Reminder: {reminder}")
        } else if input.get("report").is_some() {
            let project = input.get("project").and_then(Value::as_str);
            let report = actions::report(client, project)
                .await
                .map_err(agentops_sdk::TaskError::new)?;
            format!("📋 Status report\n{report}")
        } else {
            return Err(agentops_sdk::TaskError::permanent(
                "a task of kind `chief` needs input {\"remind\": …} or {\"report\": \"status\"}",
            ));
        };
        let thread = match input
            .get("thread_id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
        {
            Some(thread) => thread,
            None => proactive::operators_thread(client)
                .await
                .map_err(|err| agentops_sdk::TaskError::new(err.to_string()))?,
        };
        let posted = self
            .reply(thread, &text, json!({"task_id": task.id()}))
            .await
            .map_err(|err| agentops_sdk::TaskError::new(err.to_string()))?;
        Ok(json!({"posted": posted.id, "thread_id": thread}))
    }

    /// Carries out approved plans until `stop` is cancelled: first every plan approved
    /// while it was not running, then each one as it is approved.
    ///
    /// The event stream ends only when the platform refuses it for good (a `since` that
    /// retention pruned, a revoked key); the executor then starts over (catch up, follow
    /// the events again) after a pause that `stop` interrupts and that grows while the
    /// stream keeps ending at once. It returns `Ok(())` only once `stop` is cancelled.
    ///
    /// # Errors
    /// If the platform cannot be read when it starts or starts over; the caller may call
    /// it again.
    pub async fn run_executor(&self, stop: CancellationToken) -> Result<(), agentops_sdk::Error> {
        let mut pause = RESTART_MIN;
        loop {
            let started = tokio::time::Instant::now();
            if self.follow_approvals(&stop).await? == Followed::Stopped {
                return Ok(());
            }
            if started.elapsed() >= RESTART_MAX {
                pause = RESTART_MIN;
            }
            tracing::warn!("the stream of approvals ended; starting over in {pause:?}");
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(RESTART_MAX);
        }
    }

    /// Carries out every plan approved so far, then each one approved while the event
    /// stream lasts.
    async fn follow_approvals(
        &self,
        stop: &CancellationToken,
    ) -> Result<Followed, agentops_sdk::Error> {
        let client = &self.inner.client;
        // Subscribe from the log's head as it is now, then catch up: an approval made in
        // between is seen twice, and carried out once.
        let head = client.events().latest().await?.last_id;
        let owed: Vec<ApprovalOut> = client
            .approvals()
            .list()
            .status(ApprovalStatus::Approved)
            .stream()
            .try_collect()
            .await?;
        for approval in owed {
            self.execute(approval).await;
        }
        // Plans whose last task finished while it was not following the events.
        let recent: Vec<ApprovalOut> = client
            .approvals()
            .list()
            .status(ApprovalStatus::Executed)
            .limit(RECENT_PLANS as u32)
            .send()
            .await?
            .items;
        for approval in recent {
            if let Err(err) = self.report_plan(approval.id).await {
                tracing::warn!(approval = %approval.id, "could not report on a plan: {err}");
            }
        }
        // Questions plans' tasks asked while it was not following the events.
        let blocked: Vec<TaskOut> = client
            .tasks()
            .list()
            .status(agentops_sdk::types::TaskStatus::Blocked)
            .limit(200)
            .send()
            .await?
            .items;
        for task in blocked {
            if let Some(approval_id) = task.plan()
                && let Err(err) = self.ask_for(approval_id, &task).await
            {
                tracing::warn!(task = %task.id, "could not pass on a task's question: {err}");
            }
        }
        let mut events = client.events().subscribe(
            EventFilter::new()
                .types([
                    "approval.approved",
                    "task.claimed",
                    "task.progress",
                    "task.requeued",
                    "task.blocked",
                    "task.completed",
                    "task.failed",
                    "task.dead",
                    "task.cancelled",
                ])
                .since(head),
        );
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(Followed::Stopped),
                event = events.next() => match event {
                    Some(Ok(event)) if event.kind == "approval.approved" => {
                        match serde_json::from_value::<ApprovalOut>(event.data) {
                            // Plans of different conversations are carried out side by
                            // side: one waiting for its conversation's turn holds up no
                            // other.
                            Ok(approval) => {
                                let chief = self.clone();
                                tokio::spawn(async move { chief.execute(approval).await });
                            }
                            Err(err) => tracing::warn!("an approval.approved event did not parse: {err}"),
                        }
                    }
                    Some(Ok(event)) => match serde_json::from_value::<TaskOut>(event.data) {
                        Ok(task) => {
                            if let Err(err) = self.follow_task(&event.kind, event.id, &task).await {
                                tracing::warn!(task = %task.id, "could not report on a plan's tasks: {err}");
                            }
                        }
                        Err(err) => tracing::warn!("a {} event did not parse: {err}", event.kind),
                    },
                    Some(Err(err)) => tracing::warn!("event stream: {err}"),
                    None => return Ok(Followed::Ended),
                },
            }
        }
    }

    /// Tells the conversation of the plan that made `task` what its event `kind` (number
    /// `event`) means for it ([`progress`]): a question it blocked on at once, other news
    /// as a gathered line. When `task` (just finished) was the last unfinished task of an
    /// approved plan, the report instead: "✅ Work finished: …" when all completed, else
    /// which failed or were cancelled, and why. Told once per plan: a report already in
    /// the conversation (another replica's, or one made before a restart) is not
    /// repeated.
    async fn follow_task(
        &self,
        kind: &str,
        event: i64,
        task: &TaskOut,
    ) -> Result<(), agentops_sdk::Error> {
        let Some(approval_id) = task.plan() else {
            return Ok(());
        };
        if task.status.is_final() && self.report_plan(approval_id).await? {
            return Ok(());
        }
        if kind == "task.blocked" {
            // Asked on its own, tried again a few times: a person is waiting on it.
            let (chief, task) = (self.clone(), task.clone());
            tokio::spawn(async move {
                let mut pause = Duration::from_secs(1);
                for tries_left in (0..5).rev() {
                    match chief.ask_for(approval_id, &task).await {
                        Ok(()) => return,
                        Err(err) if tries_left == 0 => {
                            tracing::warn!(task = %task.id, "could not pass on a task's question: {err}");
                        }
                        Err(_) => {
                            tokio::time::sleep(pause).await;
                            pause *= 2;
                        }
                    }
                }
            });
            return Ok(());
        }
        let (Some(every), Some(line)) = (self.inner.progress.every, progress::line(kind, task))
        else {
            return Ok(());
        };
        let thread = match self.inner.progress_lines.thread_of(approval_id) {
            Some(thread) => thread,
            None => match self.inner.client.approvals().get(approval_id).await {
                Ok(approval) => approval.thread_id,
                Err(err) if err.is_not_found() => return Ok(()),
                Err(err) => return Err(err),
            },
        };
        // Lines of a plan this process is still carrying out wait until the conversation
        // was told what it made (`execute` says them then); checked and gathered under
        // the lock `execute` takes to finish, so none waits for good.
        let next = {
            let executing = self
                .inner
                .executing
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.inner.progress_lines.gather(
                approval_id,
                thread,
                (task.id, event, line),
                every,
                executing.contains(&approval_id),
            )
        };
        match next {
            progress::Next::Say(lines) => self.say_progress(approval_id, lines).await,
            progress::Next::After(wait) => {
                let chief = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    if let Some(lines) = chief.inner.progress_lines.take(approval_id)
                        && let Err(err) = chief.say_progress(approval_id, lines).await
                    {
                        tracing::warn!(approval = %approval_id, "could not tell a plan's progress: {err}");
                    }
                });
                Ok(())
            }
            progress::Next::Wait => Ok(()),
        }
    }

    /// Says `lines` on how plan `approval_id` goes, unless the conversation turned them
    /// off or the plan was reported meanwhile; keyed by the plan and the newest event they
    /// tell of, so the same lines are said once.
    async fn say_progress(
        &self,
        approval_id: Uuid,
        (thread, text, newest): progress::Lines,
    ) -> Result<(), agentops_sdk::Error> {
        let client = &self.inner.client;
        let conversation = client.threads().get(thread).await?;
        if conversation.metadata.get(progress::SETTING) == Some(&json!("off"))
            || self.inner.progress_lines.ended(approval_id)
        {
            return Ok(());
        }
        let text = text.as_str();
        let key = progress::key(approval_id, newest);
        match client
            .threads()
            .post_with_key(
                thread,
                said(text, json!({ progress::PLAN_PROGRESS: approval_id })),
                key,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if err.error_code() == Some(ErrorCode::IdempotencyKeyReused) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Passes on the question `task` of plan `approval_id` blocked on to the plan's
    /// conversation, once per time it blocked (the key holds when it blocked, so the
    /// catch-up after a restart does not ask again).
    async fn ask_for(&self, approval_id: Uuid, task: &TaskOut) -> Result<(), agentops_sdk::Error> {
        let client = &self.inner.client;
        let thread = match client.approvals().get(approval_id).await {
            Ok(approval) => approval.thread_id,
            Err(err) if err.is_not_found() => return Ok(()),
            Err(err) => return Err(err),
        };
        match client
            .threads()
            .post_with_key(
                thread,
                said(
                    &progress::question(task),
                    json!({ progress::PLAN_QUESTION: approval_id, "task_id": task.id }),
                ),
                format!(
                    "{}:{}:{}",
                    progress::PLAN_QUESTION,
                    task.id,
                    task.updated_at.timestamp_millis()
                ),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if err.error_code() == Some(ErrorCode::IdempotencyKeyReused) => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Tells the conversation of plan `approval_id` how it went, if all its tasks have
    /// finished and it was not told yet (see [`follow_task`](Self::follow_task));
    /// whether it was told (now or before).
    async fn report_plan(&self, approval_id: Uuid) -> Result<bool, agentops_sdk::Error> {
        let client = &self.inner.client;
        let tasks: Vec<TaskOut> = client
            .tasks()
            .list()
            .label(actions::plan_label(approval_id))
            .limit(200)
            .stream()
            .take(actions::PLAN_TASKS_MAX)
            .try_collect()
            .await?;
        if tasks.is_empty() || tasks.iter().any(|t| !t.status.is_final()) {
            return Ok(false);
        }
        let approval = match client.approvals().get(approval_id).await {
            Ok(approval) => approval,
            Err(err) if err.is_not_found() => return Ok(false),
            Err(err) => return Err(err),
        };
        // While the plan is still being carried out, its later tasks may not exist yet:
        // the report waits for the outcome (`carry_out` asks again once it is recorded).
        if !matches!(
            approval.status,
            ApprovalStatus::Executed | ApprovalStatus::Failed
        ) {
            return Ok(false);
        }
        // Lines still gathered are dropped, and none is said after it: the report says
        // it all.
        self.inner
            .progress_lines
            .finish(approval_id, approval.thread_id);
        // Said once whoever says it: the post's idempotency key is the plan's, so
        // another replica's report, or one made before a restart, is replayed rather
        // than repeated (and one worded otherwise is refused as a reuse of the key).
        let text = plan_report(&approval, &tasks);
        match client
            .threads()
            .post_with_key(
                approval.thread_id,
                said(&text, json!({ PLAN_DONE: approval_id })),
                format!("{PLAN_DONE}:{approval_id}"),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.error_code() == Some(ErrorCode::IdempotencyKeyReused) => Ok(true),
            Err(err) => Err(err),
        }
    }

    /// Carries out one approved plan (if the Chief of Staff proposed it), records the
    /// outcome on the approval and tells the thread.
    pub async fn execute(&self, approval: ApprovalOut) {
        if approval.plan.get("proposed_by").and_then(Value::as_str) != Some(PROPOSER) {
            return;
        }
        if !self
            .inner
            .executing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(approval.id)
        {
            return;
        }
        // The conversation's turn: a plan is not carried out while a message of the same
        // conversation is being decided, and a newer message may interrupt it.
        let held = self
            .take_turn(
                approval.thread_id,
                &format!("the plan \"{}\"", gist(&approval.summary)),
                Multitask::Enqueue,
                None,
            )
            .await
            .ok();
        let stop = held.as_ref().map(|h| h.stop.clone()).unwrap_or_default();
        let outcome = self.carry_out(&approval, &stop).await;
        drop(held);
        self.inner
            .executing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&approval.id);
        if let Err(err) = outcome {
            tracing::warn!(approval = %approval.id, "could not record an approval's outcome: {err}");
        }
        // What its tasks did meanwhile, now that the conversation knows what it made.
        if let Some(lines) = self.inner.progress_lines.take(approval.id)
            && let Err(err) = self.say_progress(approval.id, lines).await
        {
            tracing::warn!(approval = %approval.id, "could not tell a plan's progress: {err}");
        }
    }

    async fn carry_out(
        &self,
        approval: &ApprovalOut,
        stop: &CancellationToken,
    ) -> Result<(), agentops_sdk::Error> {
        let client = &self.inner.client;
        let plan: Result<Vec<Action>, String> = approval
            .plan
            .get("actions")
            .cloned()
            .ok_or_else(|| "the plan has no actions".to_owned())
            .and_then(|a| serde_json::from_value(a).map_err(|e| e.to_string()));
        let result = match plan {
            Ok(actions) => actions::execute(client, approval.id, &actions, stop).await,
            Err(err) => Err(format!("the plan cannot be read: {err}")),
        };
        let (outcome, message) = match result {
            Ok(result) => (
                ApprovalOutcomeIn {
                    result: Some(result.clone()),
                    error: None,
                },
                format!("Done: {}", done_text(&result)),
            ),
            Err(err) => (
                ApprovalOutcomeIn {
                    result: None,
                    error: Some(err.clone()),
                },
                format!("That did not work: {err}"),
            ),
        };
        match client.approvals().finish(approval.id, outcome).await {
            Ok(_) => {}
            // Someone else (another notice of the same approval) recorded it first.
            Err(err) if err.is_conflict() || err.is_invalid_transition() => return Ok(()),
            Err(err) => return Err(err),
        }
        self.reply(
            approval.thread_id,
            &message,
            json!({"approval_id": approval.id}),
        )
        .await
        .map_err(ChatError::into_platform)?;
        // Its tasks may all have finished while it was being carried out.
        self.report_plan(approval.id).await.map(|_| ())
    }
}

/// `text` cut to at most `max` characters at the end of a sentence part ("; " or ", "),
/// with "…" when cut, never in the middle of a word.
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let head: String = text.chars().take(max.saturating_sub(1)).collect();
    let cut = ["; ", ", ", " "]
        .iter()
        .find_map(|sep| head.rfind(sep).filter(|at| *at > max / 2))
        .unwrap_or(head.len());
    format!("{}…", head[..cut].trim_end())
}

/// How many of its latest messages in a conversation the rule-based Chief looks back
/// through for a question a plan's task asked, when a message may be its answer.
const QUESTION_LOOKBACK: usize = 4;

/// The metadata key of the report that a plan's tasks have all finished.
pub const PLAN_DONE: &str = "plan_done";

/// The newest carried-out plans looked at when the executor starts, for a report owed
/// from while it was not running.
const RECENT_PLANS: usize = 50;

/// "✅ Done: all 3 tasks of the plan completed: …", or what did not complete and why.
fn plan_report(approval: &ApprovalOut, tasks: &[TaskOut]) -> String {
    use agentops_sdk::types::TaskStatus;
    let label = |t: &TaskOut| format!("{} \"{}\"", actions::short_id(t.id), t.title);
    let list = |tasks: &[&TaskOut]| {
        let shown: Vec<String> = tasks.iter().take(10).map(|t| label(t)).collect();
        let more = tasks.len().saturating_sub(10);
        if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        }
    };
    let what = approval
        .summary
        .strip_prefix("Understood: ")
        .and_then(|s| s.split(". Will:").next())
        .unwrap_or("the plan");
    let completed: Vec<&TaskOut> = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Completed)
        .collect();
    // Servers the tasks left running for people to see (the Seed's previews).
    let mut previews = String::new();
    for t in &completed {
        let shown = t.result.as_ref().and_then(|r| r.get("previews"));
        for preview in shown.and_then(Value::as_array).into_iter().flatten() {
            if let Some(url) = preview.get("url").and_then(Value::as_str) {
                let until = preview
                    .get("expires_at")
                    .and_then(Value::as_str)
                    .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
                    .map(|at| format!(" (until {} UTC)", at.naive_utc().format("%H:%M")))
                    .unwrap_or_default();
                previews.push_str(&format!("\n🔗 Preview of {}: {url}{until}", label(t)));
            }
        }
    }
    if completed.len() == tasks.len() {
        return format!(
            "✅ Work finished ({what}): {} completed: {}.{previews}",
            if tasks.len() == 1 {
                "the task".to_owned()
            } else {
                format!("all {} tasks", tasks.len())
            },
            list(&completed)
        );
    }
    let mut text = format!(
        "⚠️ Finished ({what}): {} of {} completed.{previews}",
        completed.len(),
        actions::plural(tasks.len(), "task")
    );
    for t in tasks
        .iter()
        .filter(|t| t.status != TaskStatus::Completed)
        .take(10)
    {
        text.push_str(&format!(
            "\n{} {}: {}",
            label(t),
            t.status,
            t.error.as_deref().unwrap_or("(no reason given)")
        ));
    }
    text
}

/// The metadata of a person's answer to `approval`: theirs, with `approval_id` added.
fn answering(metadata: Option<Value>, approval: Uuid) -> Result<Value, ChatError> {
    with_key(metadata, "approval_id", json!(approval))
}

/// `metadata` (an object, or none) with `key` set to `value`.
fn with_key(metadata: Option<Value>, key: &str, value: Value) -> Result<Value, ChatError> {
    match metadata {
        None => Ok(json!({ key: value })),
        Some(Value::Object(mut fields)) => {
            fields.insert(key.into(), value);
            Ok(Value::Object(fields))
        }
        Some(_) => Err(ChatError::Invalid("metadata must be a JSON object".into())),
    }
}

/// The key of a thread's metadata that holds its [`Multitask`] policy (and of a
/// message's, when a busy conversation refused it).
pub const MULTITASK: &str = "multitask";

/// The first words of `text`, for saying what the Chief is busy with.
fn gist(text: &str) -> String {
    let one_line = clean(text).replace('\n', " ");
    let words: Vec<&str> = one_line.split_whitespace().collect();
    if words.len() <= 8 && one_line.chars().count() <= 60 {
        return words.join(" ");
    }
    let mut gist = String::new();
    for word in words {
        if gist.chars().count() + word.chars().count() > 57 {
            break;
        }
        if !gist.is_empty() {
            gist.push(' ');
        }
        gist.push_str(word);
    }
    format!("{gist}…")
}

/// One conversation's turn: held while the Chief decides on one of its messages or
/// carries out one of its plans, so their work on one conversation never overlaps.
#[derive(Debug, Default)]
struct Turn {
    lock: Arc<tokio::sync::Mutex<()>>,
    state: Mutex<TurnState>,
}

impl Turn {
    fn state(&self) -> std::sync::MutexGuard<'_, TurnState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Who holds a conversation's turn, and who asked for it.
#[derive(Debug, Default)]
struct TurnState {
    /// Tickets given out so far: one to each message or plan that asked for the turn,
    /// in the order they asked.
    issued: u64,
    /// Every ticket up to this one was interrupted by a newer message: the one holding
    /// the turn stops at its next safe point, one still waiting as soon as it starts.
    interrupted_through: u64,
    /// What holds the turn.
    busy: Option<Busy>,
}

/// What a conversation's turn is held for.
#[derive(Debug, Clone)]
struct Busy {
    /// For people: "your message \"…\"", "the plan \"…\"".
    what: String,
    /// Cancelled to interrupt it.
    stop: CancellationToken,
}

/// A conversation's turn, held until dropped.
struct Held {
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
    lane: Lane<Uuid, Turn>,
    stop: CancellationToken,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.lane.value.state().busy = None;
        self.guard.take();
    }
}

/// Shared state by key (a conversation's turn, its arrivals), kept only while someone
/// holds it: the map does not grow with every conversation ever seen.
#[derive(Debug)]
struct Lanes<K, T> {
    map: Mutex<HashMap<K, Arc<T>>>,
}

impl<K, T> Default for Lanes<K, T> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, T: Default> Lanes<K, T> {
    /// The state of `key`, made if nobody holds it.
    fn join(self: &Arc<Self>, key: K) -> Lane<K, T> {
        let value = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.clone())
            .or_default()
            .clone();
        Lane {
            lanes: self.clone(),
            key,
            value,
        }
    }
}

/// One holder of a key's state in [`Lanes`]; the last one to go removes it, whether it
/// finished or was dropped while it waited.
struct Lane<K: std::hash::Hash + Eq, T> {
    lanes: Arc<Lanes<K, T>>,
    key: K,
    value: Arc<T>,
}

impl<K: std::hash::Hash + Eq, T> Drop for Lane<K, T> {
    fn drop(&mut self) {
        let mut map = self
            .lanes
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Every handle is made under this lock: only the map and this one know it.
        if Arc::strong_count(&self.value) == 2 {
            map.remove(&self.key);
        }
    }
}

/// Why [`ChiefOfStaff::follow_approvals`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Followed {
    /// `stop` was cancelled.
    Stopped,
    /// The event stream ended.
    Ended,
}

/// `metadata` of a reply, saying which message of the person it answers
/// (`in_reply_to`: an interface can thread it under that message).
fn in_reply_to(mut metadata: Value, message: Uuid) -> Value {
    if let Value::Object(fields) = &mut metadata {
        fields.insert(IN_REPLY_TO.into(), json!(message));
    }
    metadata
}

/// The message metadata key an interface sets to `false` when the person may not answer
/// the conversation's plans (in a group: neither who asked nor an admin).
pub const MAY_DECIDE: &str = "may_decide";

/// The reply metadata key naming the person's message it answers.
pub const IN_REPLY_TO: &str = "in_reply_to";

/// What the Chief of Staff says: `text` as the platform takes it, cut to its limit.
fn said(text: &str, metadata: Value) -> MessageIn {
    MessageIn {
        role: MessageRole::Assistant,
        text: clean(text).chars().take(TEXT_MAX).collect(),
        author: Some("chief-of-staff".into()),
        metadata: Some(metadata),
    }
}

/// A task's short code from its id in a plan's result.
fn code_of(id: &Value) -> String {
    id.as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .map(actions::short_id)
        .unwrap_or_default()
}

/// "created project "Launch"; added 3 tasks (#a1b2c3 "draft", …)".
fn done_text(result: &Value) -> String {
    let mut parts = Vec::new();
    for item in result["done"].as_array().into_iter().flatten() {
        if let Some(p) = item.get("created_project") {
            parts.push(format!(
                "created project \"{}\"",
                p["name"].as_str().unwrap_or("?")
            ));
        } else if let Some(t) = item.get("created_tasks") {
            let tasks: Vec<String> = t["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|task| {
                    let code = task["id"]
                        .as_str()
                        .and_then(|id| Uuid::parse_str(id).ok())
                        .map(actions::short_id)
                        .unwrap_or_default();
                    format!("{code} \"{}\"", task["title"].as_str().unwrap_or("?"))
                })
                .collect();
            parts.push(format!(
                "added {} ({})",
                actions::plural(tasks.len(), "task"),
                tasks.join(", ")
            ));
        } else if let Some(id) = item.get("unblocked") {
            parts.push(format!("unblocked task {}", code_of(id)));
        } else if let Some(id) = item.get("cancelled") {
            parts.push(format!("cancelled task {}", code_of(id)));
        } else if let Some(s) = item
            .get("created_schedule")
            .or_else(|| item.get("paused_schedule"))
            .or_else(|| item.get("resumed_schedule"))
        {
            let verb = if item.get("created_schedule").is_some() {
                "created"
            } else if item.get("paused_schedule").is_some() {
                "paused"
            } else {
                "resumed"
            };
            parts.push(format!(
                "{verb} schedule \"{}\"",
                s["name"].as_str().unwrap_or("?")
            ));
        }
    }
    if parts.is_empty() {
        "nothing to do".into()
    } else {
        format!("{}.", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_and_no_are_recognised_loosely() {
        for yes in [
            "OK",
            "ok.",
            "Yes!",
            "go ahead",
            "👍",
            "yep, go ahead",
            "do it",
            "approve",
        ] {
            assert!(nlu::is_yes(yes), "{yes}");
        }
        for no in [
            "no",
            "No.",
            "reject",
            "nope, not now",
            "stop",
            "cancel that",
            "👎",
        ] {
            assert!(nlu::is_no(no), "{no}");
        }
        assert!(!nlu::is_no("no idea what is blocked"));
        assert!(!nlu::is_yes("ok but rename it"));
    }
}
