//! The persona runtime: the agent that answers as the personas people create
//! (`/api/v1/personas`), built on the SDK alone.
//!
//! The platform keeps each person's conversation with a persona in a thread of its own
//! (channel `persona`; `POST /personas/{persona}/chat` puts the person's message there).
//! The runtime reads the event stream from its saved cursor, and answers every person's
//! message in such a thread:
//!
//! - with the persona's **version** the message was written to (its prompt, model and
//!   temperature), recorded on the answer (`persona_version`);
//! - with the conversation's own **memory** only: its last [`HISTORY`] messages, a
//!   running summary of the older ones (thread metadata `persona_summary`, brought up
//!   to date when [`SUMMARY_BATCH`] more have aged out), and the short notes the persona
//!   keeps about the person (`persona_notes`, written by its `remember` tool). Nothing
//!   from another person's thread is ever read: two people talking to one persona never
//!   see each other's words, notes or summaries;
//! - through the metered LLM port: every call reserved against the budgets and recorded
//!   in the ledger for the person and the conversation (the server also counts it
//!   against budgets on the persona and on its owner). When a budget has no room, the
//!   persona says so in its own name, with when it can answer again.
//!
//! Nothing is lost: the cursor moves past a message only once it is answered (a restart
//! reads again from the oldest one in flight), and an answer is posted with an
//! idempotency key (`persona-reply:<message id>`), so answering twice keeps one. Without
//! an LLM the persona says so in its own name.
//!
//! A persona whose owner gave their own provider key thinks with that key (on the same
//! provider): the runtime reads it sealed (`GET /personas/{id}/secrets`) and opens it
//! with the platform's master key ([`PersonaRuntime::with_master_key`]); without the
//! master key, or if the key does not open, the persona says so rather than spend the
//! platform's. Conversations are answered side by side
//! (at most [`PARALLEL`] at once), each one's messages in order.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agentops_sdk::types::{
    ErrorCode, EventFilter, MessageIn, MessageOut, MessageRole, PersonaStatus, Spender,
    ThreadPatch, persona_keys,
};
use agentops_sdk::{CancellationToken, Client};
use futures_util::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::llm::{Llm, LlmConfig, LlmError, Message, OpenAiCompatible, Tool};
use crate::meter::Meter;

/// Messages of the conversation a persona reads before answering.
pub const HISTORY: usize = 30;
/// Messages that age out of [`HISTORY`] before the summary takes them in.
pub const SUMMARY_BATCH: usize = 10;
/// Notes a persona keeps about one person (the oldest go first).
pub const NOTES_MAX: usize = 20;
/// Conversations answered at once.
pub const PARALLEL: usize = 8;

/// Thread metadata: the notes a persona keeps about the person.
pub const NOTES: &str = "persona_notes";
/// Thread metadata: the summary of the conversation's older messages.
pub const SUMMARY: &str = "persona_summary";

/// The runtime. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PersonaRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    llm: Option<LlmConfig>,
    cursor: String,
    /// Conversation → its turn (one message at a time).
    turns: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// Events being answered (the cursor stays below the oldest).
    inflight: Mutex<BTreeSet<i64>>,
    permits: Arc<tokio::sync::Semaphore>,
    /// Opens owners' sealed provider keys.
    master_key: std::sync::OnceLock<agentops_sdk::secrets::MasterKey>,
}

/// What a persona is, at one version.
struct Persona {
    id: Uuid,
    has_provider_key: bool,
    name: String,
    version: u32,
    system_prompt: String,
    model: String,
    temperature: f64,
}

impl PersonaRuntime {
    /// A runtime acting through `client` (an admin key: it reads personas' prompts),
    /// thinking with the API of `llm` (each persona's own model on it), or saying it
    /// cannot without one.
    pub fn new(client: Client, llm: Option<LlmConfig>) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                llm,
                cursor: "persona-runtime".to_owned(),
                turns: Mutex::new(HashMap::new()),
                inflight: Mutex::new(BTreeSet::new()),
                permits: Arc::new(tokio::sync::Semaphore::new(PARALLEL)),
                master_key: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The same runtime, opening owners' provider keys with the platform's master key
    /// (`AGENTOPS_SECRET_KEY`): personas given one think with their owner's key.
    pub fn with_master_key(self, key: agentops_sdk::secrets::MasterKey) -> Self {
        // Set once, before the runtime runs: a second key is ignored.
        let _ = self.inner.master_key.set(key);
        self
    }

    /// The API key persona `persona` thinks with: its owner's, opened, if it has one.
    async fn provider_key(&self, persona: &Persona) -> Result<Option<String>, String> {
        if !persona.has_provider_key {
            return Ok(None);
        }
        let Some(master) = self.inner.master_key.get() else {
            return Err("this runtime has no master key to open it".to_owned());
        };
        let sealed = self
            .inner
            .client
            .personas()
            .secrets(&persona.id.to_string())
            .await
            .map_err(|err| format!("reading it failed: {err}"))?;
        let Some(sealed) = sealed.provider_api_key else {
            return Ok(None);
        };
        let context = persona_keys::secret_context(persona.id, persona_keys::PROVIDER_API_KEY);
        master
            .open(&sealed, &context)
            .map(Some)
            .map_err(|err| format!("it does not open: {err}"))
    }

    /// Answers persona conversations until `stop`, from where the last run left off
    /// (the head of the log on a first start).
    ///
    /// # Errors
    /// If the platform cannot be read (the caller starts it again).
    pub async fn run(&self, stop: CancellationToken) -> Result<(), agentops_sdk::Error> {
        let events = self.inner.client.events();
        let name = self.inner.cursor.as_str();
        let mut since = match events.cursor(name).await? {
            Some(cursor) => cursor.last_id,
            None => {
                let head = events.latest().await?.last_id;
                events.save_cursor(name, head).await?;
                head
            }
        };
        let mut saved = since;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tracing::info!(since, "the persona runtime answers from here");
        'resume: loop {
            let filter = EventFilter::new().types(["thread.message"]).since(since);
            let mut stream = events.subscribe(filter);
            loop {
                let watermark = self.watermark(since);
                if watermark > saved {
                    match events.save_cursor(name, watermark).await {
                        Ok(_) => saved = watermark,
                        Err(err) => {
                            tracing::warn!("cannot save the persona runtime's cursor: {err}")
                        }
                    }
                }
                let next = tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    _ = tick.tick() => continue,
                    next = stream.next() => next,
                };
                let event = match next {
                    Some(Ok(event)) => event,
                    Some(Err(err)) if err.error_code() == Some(ErrorCode::CursorExpired) => {
                        since = since.max(events.latest().await?.pruned_through);
                        continue 'resume;
                    }
                    Some(Err(err)) => return Err(err),
                    None => continue 'resume,
                };
                since = event.id;
                let Ok(message) = serde_json::from_value::<MessageOut>(event.data) else {
                    continue;
                };
                if message.role != MessageRole::User
                    || message.metadata.get(persona_keys::PERSONA).is_none()
                {
                    continue;
                }
                // At most PARALLEL at once: the stream waits meanwhile.
                let permit = tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    permit = self.inner.permits.clone().acquire_owned() => {
                        permit.expect("the semaphore is never closed")
                    }
                };
                self.lock_inflight().insert(event.id);
                let (runtime, stop, id) = (self.clone(), stop.clone(), event.id);
                tokio::spawn(async move {
                    runtime.answer_until_done(&message, &stop).await;
                    runtime.lock_inflight().remove(&id);
                    drop(permit);
                });
            }
        }
    }

    fn lock_inflight(&self) -> std::sync::MutexGuard<'_, BTreeSet<i64>> {
        self.inner
            .inflight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// How far the cursor may move: below the oldest event still being answered, else
    /// up to `seen`.
    fn watermark(&self, seen: i64) -> i64 {
        self.lock_inflight()
            .first()
            .map_or(seen, |oldest| oldest - 1)
    }

    /// Answers `message`, trying again while the platform or the model is down (until
    /// `stop`); a failure that will not pass is told in the conversation.
    async fn answer_until_done(&self, message: &MessageOut, stop: &CancellationToken) {
        let turn = {
            let mut turns = self
                .inner
                .turns
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            turns.retain(|_, t| Arc::strong_count(t) > 1);
            turns.entry(message.thread_id).or_default().clone()
        };
        let _turn = turn.lock().await;
        let mut delay = Duration::from_millis(500);
        for attempt in 1..=6 {
            match self.answer(message).await {
                Ok(()) => return,
                Err(Failure::Passing(err)) if attempt < 6 => {
                    tracing::warn!(message = %message.id, "a persona cannot answer yet: {err}");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => return,
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Err(Failure::Passing(err) | Failure::Lasting(err)) => {
                    tracing::warn!(message = %message.id, "a persona could not answer: {err}");
                    let said = format!("(I could not answer just now: {err}. Please try again.)");
                    if let Err(err) = self
                        .reply(message, &said, json!({"error": true}), None)
                        .await
                    {
                        tracing::error!(message = %message.id, "a persona's failure could not be told: {err}");
                    }
                    return;
                }
            }
        }
    }

    /// Posts the persona's answer to `message` (once, whatever happens).
    async fn reply(
        &self,
        message: &MessageOut,
        text: &str,
        extra: Value,
        author: Option<&str>,
    ) -> Result<MessageOut, agentops_sdk::Error> {
        let mut metadata = json!({
            "in_reply_to": message.id,
            persona_keys::PERSONA: message.metadata.get(persona_keys::PERSONA),
            persona_keys::VERSION: message.metadata.get(persona_keys::VERSION),
            // The answer goes back the way the message came.
            persona_keys::VIA: message.metadata.get(persona_keys::VIA),
            persona_keys::USER: message.metadata.get(persona_keys::USER),
        });
        if let (Value::Object(fields), Value::Object(more)) = (&mut metadata, extra) {
            fields.extend(more);
        }
        let author = author.map(str::to_owned);
        let (posted, _) = self
            .inner
            .client
            .threads()
            .post_with_key(
                message.thread_id,
                MessageIn {
                    metadata: Some(metadata),
                    author,
                    ..MessageIn::assistant(agentops_sdk::text::truncate(text, 32_000))
                },
                format!("persona-reply:{}", message.id),
            )
            .await?;
        Ok(posted)
    }

    /// The persona (at the version `message` was written to).
    async fn persona(&self, message: &MessageOut) -> Result<Option<Persona>, Failure> {
        let client = &self.inner.client;
        let Some(id) = message
            .metadata
            .get(persona_keys::PERSONA)
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
        else {
            return Ok(None);
        };
        let found = match client.personas().get(&id.to_string()).await {
            Ok(found) => found,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(Failure::from(err)),
        };
        let version = message
            .metadata
            .get(persona_keys::VERSION)
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(found.version);
        let at = if version == found.version {
            (
                found.system_prompt.clone().unwrap_or_default(),
                found.model.clone(),
                found.temperature,
            )
        } else {
            let old = client
                .personas()
                .version(&id.to_string(), version)
                .await
                .map_err(Failure::from)?;
            (
                old.system_prompt.unwrap_or_default(),
                old.model,
                old.temperature,
            )
        };
        if found.status == PersonaStatus::Deleted {
            return Ok(None);
        }
        Ok(Some(Persona {
            id: found.id,
            has_provider_key: found.has_provider_key,
            name: found.name,
            version,
            system_prompt: at.0,
            model: at.1,
            temperature: at.2,
        }))
    }

    /// Answers one person's message as its persona.
    async fn answer(&self, message: &MessageOut) -> Result<(), Failure> {
        let client = &self.inner.client;
        let latest: Vec<MessageOut> = client
            .threads()
            .messages(message.thread_id)
            .limit(200)
            .send()
            .await
            .map_err(Failure::from)?
            .items;
        // Answered already (a run that died after posting).
        let answered = latest.iter().any(|m| {
            m.role == MessageRole::Assistant
                && m.metadata.get("in_reply_to").and_then(Value::as_str)
                    == Some(message.id.to_string().as_str())
        });
        if answered {
            return Ok(());
        }
        let Some(persona) = self.persona(message).await? else {
            self.reply(
                message,
                "(This persona was deleted by its owner: it no longer answers.)",
                json!({"deleted": true}),
                None,
            )
            .await
            .map_err(Failure::from)?;
            return Ok(());
        };
        let Some(base) = &self.inner.llm else {
            let said = format!(
                "I am {}, but I cannot answer yet: this platform has no language model \
                 configured (its operator sets LLM_BASE_URL).",
                persona.name
            );
            self.reply(
                message,
                &said,
                json!({"no_llm": true, "persona_version": persona.version}),
                Some(&persona.name),
            )
            .await
            .map_err(Failure::from)?;
            return Ok(());
        };
        let thread = client
            .threads()
            .get(message.thread_id)
            .await
            .map_err(Failure::from)?;
        let user = message
            .metadata
            .get(persona_keys::USER)
            .and_then(Value::as_str)
            .map(str::to_owned);
        // The conversation up to this message, oldest first.
        let mut earlier: Vec<&MessageOut> = latest
            .iter()
            .filter(|m| m.id < message.id && m.role != MessageRole::System)
            .collect();
        earlier.reverse();
        let recent_from = earlier.len().saturating_sub(HISTORY);
        let notes: Vec<String> = thread
            .metadata
            .get(NOTES)
            .and_then(Value::as_array)
            .map(|notes| {
                notes
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let summary = thread
            .metadata
            .get(SUMMARY)
            .and_then(|s| s.get("text"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();

        let api_key = match self.provider_key(&persona).await {
            Ok(key) => key.unwrap_or_else(|| base.api_key.clone()),
            Err(why) => {
                tracing::warn!(persona = %persona.id, "the owner's provider key: {why}");
                let said = format!(
                    "I am {}, but I cannot answer: my owner's own provider key cannot be \
                     used ({why}). My owner can give it again.",
                    persona.name
                );
                self.reply(
                    message,
                    &said,
                    json!({"provider_key_unusable": true, "persona_version": persona.version}),
                    Some(&persona.name),
                )
                .await
                .map_err(Failure::from)?;
                return Ok(());
            }
        };
        let llm = Llm::from_model(Arc::new(
            OpenAiCompatible::new(LlmConfig {
                model: persona.model.clone(),
                api_key,
                ..base.clone()
            })
            .map_err(Failure::from)?
            .with_temperature(persona.temperature),
        ))
        .metered(Meter::new(client.clone()))
        .for_spender(Spender {
            thread_id: Some(message.thread_id),
            user: user.clone(),
            ..Spender::default()
        });
        let mut system = format!(
            "{}\n\n---\nYou are {}. You are talking with one person in a private \
             conversation; stay in character. When you learn something about them worth \
             keeping for later conversations (their name, what they like, what they work \
             on), call `remember` with a short note.",
            persona.system_prompt, persona.name
        );
        if !notes.is_empty() {
            system.push_str("\n\nWhat you remember about this person:\n");
            for note in &notes {
                system.push_str(&format!("- {note}\n"));
            }
        }
        if !summary.is_empty() {
            system.push_str(&format!(
                "\nEarlier in this conversation (summary): {summary}\n"
            ));
        }
        let mut messages = vec![Message::system(system)];
        for m in &earlier[recent_from..] {
            messages.push(match m.role {
                MessageRole::Assistant => Message {
                    role: "assistant".into(),
                    content: Some(m.text.clone()),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                    images: Vec::new(),
                },
                _ => Message::user(m.text.clone()),
            });
        }
        messages.push(Message::user(message.text.clone()));
        let tools = [remember_tool()];
        let mut noted = notes.clone();
        let mut text = String::new();
        let mut calls = 0;
        for _ in 0..3 {
            let completion = match llm.chat(&messages, &tools).await {
                Ok(completion) => completion,
                Err(LlmError::Budget {
                    message: why,
                    retry_after,
                }) => {
                    tracing::info!(persona = %persona.id, "a persona is out of budget: {why}");
                    let mut said = format!(
                        "I am {}, and I have reached the spending limit set for me, so I \
                         cannot answer now.",
                        persona.name
                    );
                    if let Some(wait) = retry_after {
                        let at = (chrono::Utc::now() + wait).format("%Y-%m-%d %H:%M UTC");
                        said.push_str(&format!(" I can answer again from {at}."));
                    }
                    self.reply(
                        message,
                        &said,
                        json!({
                            "budget_exhausted": true,
                            "retry_after_secs": retry_after.map(|w| w.as_secs()),
                            "persona_version": persona.version,
                        }),
                        Some(&persona.name),
                    )
                    .await
                    .map_err(Failure::from)?;
                    return Ok(());
                }
                Err(err) => return Err(err.into()),
            };
            calls += 1;
            let answer = completion.message;
            if answer.tool_calls.is_empty() {
                text = answer.content.unwrap_or_default();
                break;
            }
            messages.push(answer.clone());
            for call in &answer.tool_calls {
                let note = serde_json::from_str::<Value>(&call.function.arguments)
                    .ok()
                    .and_then(|args| args.get("note").and_then(Value::as_str).map(str::to_owned))
                    .map(|n| agentops_sdk::text::truncate(n.trim(), 300))
                    .filter(|n| !n.is_empty());
                let said = match (call.function.name.as_str(), note) {
                    ("remember", Some(note)) => {
                        noted.push(note);
                        "Noted."
                    }
                    ("remember", None) => "Give the note as `note`.",
                    _ => "There is no such tool.",
                };
                messages.push(Message::tool(call.id.clone(), said));
            }
            text = answer.content.unwrap_or_default();
        }
        if noted.len() > notes.len() {
            let keep = noted.len().saturating_sub(NOTES_MAX);
            client
                .threads()
                .update(
                    message.thread_id,
                    ThreadPatch {
                        metadata: Some(json!({ NOTES: noted[keep..] })),
                        ..ThreadPatch::default()
                    },
                )
                .await
                .map_err(Failure::from)?;
        }
        let text = text.trim();
        let text = if text.is_empty() { "…" } else { text };
        self.reply(
            message,
            text,
            json!({
                "persona_version": persona.version,
                "llm": {"model": persona.model, "calls": calls},
            }),
            Some(&persona.name),
        )
        .await
        .map_err(Failure::from)?;
        // Older messages the history no longer holds go into the summary, a batch at a time.
        let through = thread
            .metadata
            .get(SUMMARY)
            .and_then(|s| s.get("through"))
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok());
        let aged: Vec<&&MessageOut> = earlier[..recent_from]
            .iter()
            .filter(|m| through.is_none_or(|t| m.id > t))
            .collect();
        if aged.len() >= SUMMARY_BATCH
            && let Err(err) = self
                .summarize(&llm, &persona, &summary, &aged, message.thread_id)
                .await
        {
            tracing::warn!(thread = %message.thread_id, "the summary was not brought up to date: {err}");
        }
        Ok(())
    }

    async fn summarize(
        &self,
        llm: &Llm,
        persona: &Persona,
        summary: &str,
        aged: &[&&MessageOut],
        thread: Uuid,
    ) -> Result<(), Failure> {
        let mut transcript = String::new();
        for m in aged {
            let who = if m.role == MessageRole::Assistant {
                persona.name.as_str()
            } else {
                "the person"
            };
            transcript.push_str(&format!("{who}: {}\n", m.text));
        }
        let ask = format!(
            "Summary so far: {}\n\nMore of the conversation:\n{transcript}\nWrite the summary \
             of the whole conversation so far in at most 150 words: what was talked about, \
             what was decided, what the person asked for.",
            if summary.is_empty() {
                "(none)"
            } else {
                summary
            }
        );
        let answer = llm
            .chat(
                &[
                    Message::system("You summarise conversations briefly and faithfully."),
                    Message::user(ask),
                ],
                &[],
            )
            .await
            .map_err(Failure::from)?;
        let text = answer.message.content.unwrap_or_default();
        let through = aged.last().map(|m| m.id);
        self.inner
            .client
            .threads()
            .update(
                thread,
                ThreadPatch {
                    metadata: Some(json!({ SUMMARY: {"text": text.trim(), "through": through} })),
                    ..ThreadPatch::default()
                },
            )
            .await
            .map_err(Failure::from)?;
        Ok(())
    }
}

fn remember_tool() -> Tool {
    Tool {
        name: "remember".into(),
        description: "Keep a short note about the person you are talking with, for later \
                      conversations with them (only you and they ever see it)."
            .into(),
        parameters: json!({
            "type": "object",
            "properties": {"note": {"type": "string", "description": "The note, one short sentence."}},
            "required": ["note"],
        }),
    }
}

/// Why an answer failed.
#[derive(Debug)]
enum Failure {
    /// Worth trying again (the platform or the model is down).
    Passing(String),
    /// Not worth it (refused, out of budget).
    Lasting(String),
}

impl From<agentops_sdk::Error> for Failure {
    fn from(err: agentops_sdk::Error) -> Self {
        if err.is_retryable() {
            Failure::Passing(err.to_string())
        } else {
            Failure::Lasting(err.to_string())
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Passing(why) | Failure::Lasting(why) => f.write_str(why),
        }
    }
}

impl From<LlmError> for Failure {
    fn from(err: LlmError) -> Self {
        if err.is_transient() {
            Failure::Passing(err.to_string())
        } else {
            Failure::Lasting(err.to_string())
        }
    }
}
