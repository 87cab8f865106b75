//! Personas that are Telegram bots of their own (the "BotMother" way): a persona's owner
//! gives it a bot token made with @BotFather (`telegram_bot_token`, stored sealed), and
//! this process then runs that bot too, answering anyone who writes to it as the persona.
//!
//! One process serves every such bot ([`PersonaBots`]): it lists the personas that have
//! a bot (again every [`REFRESH`], and at once when a persona changes), reads each
//! token sealed (`GET /personas/{id}/secrets`) and opens it with the platform's master
//! key (`AGENTOPS_SECRET_KEY`), and runs, per bot:
//!
//! - **long polling** (`getUpdates`, teloxide's typed call). An update is confirmed (the
//!   next call's `offset`) only once the person's message is kept on the platform; the
//!   message carries an idempotency key made of the bot and the update id, so an update
//!   seen again after a crash is kept once;
//! - **a relay** of the persona's answers: the event stream from the bot's own cursor
//!   (`telegram.<bot id>`), through the same paced, retrying [`Outbox`](crate::outbox::Outbox) as the main bot.
//!
//! A person talking to the bot is `telegram:<user id>`, as on the main bot, so their
//! conversation with the persona (its memory, its daily limit) is the same whichever
//! bot they write to; the answer goes back the way the message came (the message's
//! `via`, `telegram-bot:<bot id>`, copied onto the answer by the persona runtime). A
//! private persona answers its owner only; a deleted one, or one whose token is removed,
//! stops its bot.
//!
//! `/start` shows who the persona is and its greeting, `/help` says what the bot is;
//! every other text goes to the persona. Group chats are not served: a conversation
//! with a persona is one to one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use agentops_sdk::secrets::MasterKey;
use agentops_sdk::types::{
    ErrorCode, EventFilter, MessageOut, MessageRole, PersonaChatIn, PersonaOut, PersonaStatus,
    persona_keys,
};
use agentops_sdk::{CancellationToken, Client};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;
use teloxide::payloads::GetUpdatesSetters;
use teloxide::requests::Requester;
use teloxide::types::{AllowedUpdate, ChatId, Message, Update, UpdateKind};
use uuid::Uuid;

use crate::BotError;
use crate::messages::{self, Bot};
use crate::outbox::What;

/// How often the list of persona bots is read again (a change is seen at once too).
pub const REFRESH: Duration = Duration::from_secs(30);

/// What a persona bot's messages say their way back is: this, then the bot's id.
pub const VIA_PREFIX: &str = "telegram-bot:";

/// How persona bots are run.
#[derive(Debug, Clone)]
pub struct PersonaBotsConfig {
    /// The Bot API's base URL ([`messages::DEFAULT_BASE`]).
    pub bot_api_base: String,
    /// The platform's master key: it opens the bots' sealed tokens.
    pub master_key: MasterKey,
    /// How often the list of bots is read again ([`REFRESH`]).
    pub refresh: Duration,
}

/// Every persona bot of the platform, run by one process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PersonaBots {
    platform: Client,
    config: PersonaBotsConfig,
    running: Arc<Mutex<HashMap<Uuid, Running>>>,
}

/// A persona's bot as it runs (or as it failed to start, until the persona changes).
#[derive(Debug)]
struct Running {
    /// The persona's `updated_at` it was started for: a change starts it again.
    updated_at: DateTime<Utc>,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl PersonaBots {
    /// The bots of the personas on `platform` (an admin key acting for itself).
    pub fn new(platform: Client, config: PersonaBotsConfig) -> Self {
        Self {
            platform,
            config,
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The personas whose bots run now.
    pub fn serving(&self) -> Vec<Uuid> {
        self.lock()
            .iter()
            .filter(|(_, r)| !r.tasks.is_empty())
            .map(|(id, _)| *id)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs every persona bot until `stop`, starting and stopping them as personas get,
    /// change or lose a bot.
    ///
    /// # Errors
    /// None today: a platform it cannot read is tried again at the next refresh.
    pub async fn run(&self, stop: CancellationToken) -> Result<(), BotError> {
        let events = self.platform.events();
        let mut changes = None;
        loop {
            if changes.is_none() {
                // Persona changes from now on: each one reads the list again.
                if let Ok(head) = events.latest().await {
                    let filter = EventFilter::new()
                        .types(["persona.created", "persona.updated", "persona.deleted"])
                        .since(head.last_id);
                    changes = Some(events.subscribe(filter));
                }
            }
            if let Err(err) = self.sync(&stop).await {
                tracing::warn!("cannot read the persona bots: {err}");
            }
            let wait = tokio::time::sleep(self.config.refresh);
            tokio::select! {
                () = stop.cancelled() => break,
                () = wait => {}
                next = async {
                    match changes.as_mut() {
                        Some(stream) => stream.next().await,
                        None => std::future::pending().await,
                    }
                } => {
                    if !matches!(next, Some(Ok(_))) {
                        changes = None;
                    }
                }
            }
        }
        let all: Vec<Running> = self.lock().drain().map(|(_, r)| r).collect();
        for running in all {
            running.stop.cancel();
            for task in running.tasks {
                let _ = task.await;
            }
        }
        Ok(())
    }

    /// Starts the bots of personas that have one and are not served, stops those whose
    /// persona is gone or lost its bot, and starts again those whose persona changed.
    async fn sync(&self, stop: &CancellationToken) -> Result<(), BotError> {
        let listed: Vec<PersonaOut> = self
            .platform
            .personas()
            .list()
            .telegram_bot(true)
            .status(PersonaStatus::Active)
            .limit(200)
            .stream()
            .try_collect()
            .await?;
        let wanted: HashMap<Uuid, &PersonaOut> = listed.iter().map(|p| (p.id, p)).collect();
        let stale: Vec<Running> = {
            let mut running = self.lock();
            let gone: Vec<Uuid> = running
                .iter()
                .filter(|(id, r)| wanted.get(id).is_none_or(|p| p.updated_at != r.updated_at))
                .map(|(id, _)| *id)
                .collect();
            gone.into_iter()
                .filter_map(|id| running.remove(&id))
                .collect()
        };
        for running in stale {
            running.stop.cancel();
            for task in running.tasks {
                let _ = task.await;
            }
        }
        for persona in listed {
            if self.lock().contains_key(&persona.id) {
                continue;
            }
            let child = stop.child_token();
            let tasks = match self.start(&persona, &child).await {
                Ok(tasks) => tasks,
                // The platform or Telegram cannot be reached: tried again next time.
                Err(err) if err.is_transient() => {
                    tracing::warn!(persona = %persona.id, "cannot start its bot yet: {err}");
                    continue;
                }
                // A token that does not open or that Telegram refuses: not tried again
                // until the persona changes.
                Err(err) => {
                    tracing::warn!(persona = %persona.id, "its bot cannot run: {err}");
                    Vec::new()
                }
            };
            self.lock().insert(
                persona.id,
                Running {
                    updated_at: persona.updated_at,
                    stop: child,
                    tasks,
                },
            );
        }
        Ok(())
    }

    /// Opens persona `persona`'s token and starts its bot's polling and relay.
    async fn start(
        &self,
        persona: &PersonaOut,
        stop: &CancellationToken,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, BotError> {
        let sealed = self
            .platform
            .personas()
            .secrets(&persona.id.to_string())
            .await?;
        let Some(sealed) = sealed.telegram_bot_token else {
            return Ok(Vec::new());
        };
        let context = persona_keys::secret_context(persona.id, persona_keys::TELEGRAM_BOT_TOKEN);
        let token = self
            .config
            .master_key
            .open(&sealed, &context)
            .map_err(|err| BotError::Setup(format!("its bot token does not open: {err}")))?;
        let bot = messages::connect(&self.config.bot_api_base, &token).map_err(BotError::Setup)?;
        let me = bot.get_me().await?;
        let bot_id = i64::try_from(me.id.0).unwrap_or_default();
        tracing::info!(persona = %persona.id, "persona {} answers as @{}", persona.name, me.username());
        let persona_bot = PersonaBot {
            bot,
            platform: self.platform.clone(),
            persona: persona.id,
            via: format!("{VIA_PREFIX}{bot_id}"),
            cursor: format!("telegram.{bot_id}"),
            bot_id,
        };
        let poller = {
            let (bot, stop) = (persona_bot.clone(), stop.clone());
            tokio::spawn(async move { bot.poll(stop).await })
        };
        let relay = {
            let (bot, stop) = (persona_bot, stop.clone());
            tokio::spawn(async move {
                let mut delay = Duration::from_millis(500);
                loop {
                    match bot.run_relay(stop.clone()).await {
                        Ok(()) => return,
                        Err(err) => tracing::warn!(bot = bot.bot_id, "its relay stopped: {err}"),
                    }
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            })
        };
        Ok(vec![poller, relay])
    }
}

/// One persona's bot.
#[derive(Debug, Clone)]
struct PersonaBot {
    bot: Bot,
    platform: Client,
    persona: Uuid,
    bot_id: i64,
    /// `telegram-bot:<bot id>`: the way back its people's messages carry.
    via: String,
    /// The event cursor its relay saves its progress under.
    cursor: String,
}

impl PersonaBot {
    /// Reads updates until `stop`, each confirmed only once handled.
    async fn poll(&self, stop: CancellationToken) {
        // Long polling and a webhook exclude each other.
        if let Err(err) = self.bot.delete_webhook().await {
            tracing::warn!(bot = self.bot_id, "deleteWebhook failed: {err}");
        }
        let mut offset = 0;
        let mut errors = 0u32;
        loop {
            let call = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(25)
                .allowed_updates(vec![AllowedUpdate::Message]);
            let got = tokio::select! {
                () = stop.cancelled() => return,
                got = call.into_future() => got,
            };
            let updates = match got {
                Ok(updates) => {
                    errors = 0;
                    updates
                }
                Err(err) if !messages::is_transient(&err) => {
                    // A revoked token: nothing to do until the persona changes.
                    tracing::warn!(
                        bot = self.bot_id,
                        "getUpdates refused, the bot stops: {err}"
                    );
                    return;
                }
                Err(err) => {
                    errors += 1;
                    tracing::warn!(bot = self.bot_id, "getUpdates failed: {err}");
                    let wait = Duration::from_millis(500).saturating_mul(1 << errors.min(6));
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(wait) => continue,
                    }
                }
            };
            for update in updates {
                if !self.handle_until_done(&update, &stop).await {
                    return;
                }
                offset = update.id.as_offset();
            }
        }
    }

    /// Handles `update`, trying again while the failure may pass; `false` if `stop`
    /// came first (the update is then not confirmed: the next start reads it again).
    async fn handle_until_done(&self, update: &Update, stop: &CancellationToken) -> bool {
        let mut delay = Duration::from_millis(500);
        loop {
            match self.handle(update).await {
                Ok(()) => return true,
                Err(err) if err.is_transient() => {
                    tracing::warn!(
                        bot = self.bot_id,
                        update = update.id.0,
                        "{err}; trying again"
                    );
                }
                Err(err) => {
                    tracing::warn!(bot = self.bot_id, update = update.id.0, "{err}; skipped");
                    return true;
                }
            }
            tokio::select! {
                () = stop.cancelled() => return false,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }

    async fn handle(&self, update: &Update) -> Result<(), BotError> {
        let UpdateKind::Message(message) = &update.kind else {
            return Ok(());
        };
        if !message.chat.is_private() {
            return Ok(());
        }
        let Some(user) = message.from.as_ref() else {
            return Ok(());
        };
        let chat = message.chat.id;
        let Some(text) = message.text() else {
            return self.say(chat, "I read text messages only.").await;
        };
        let command = text.split_whitespace().next().unwrap_or_default();
        let command = command.split('@').next().unwrap_or_default();
        match command {
            "/start" => self.greet(chat, user).await,
            "/help" => {
                let persona = self.persona(user).await?;
                let text = match persona {
                    Some(p) => format!(
                        "I am {}, a persona on AgentOps{}. Write to me and I answer; our \
                         conversation is yours alone.",
                        p.name,
                        if p.description.is_empty() {
                            String::new()
                        } else {
                            format!(" — {}", p.description)
                        }
                    ),
                    None => "I no longer answer.".to_owned(),
                };
                self.say(chat, &text).await
            }
            _ => self.pass_on(message, user, text, update).await,
        }
    }

    /// The persona as `user` sees it (`None`: gone, or private to someone else).
    async fn persona(&self, user: &teloxide::types::User) -> Result<Option<PersonaOut>, BotError> {
        match self
            .platform
            .personas()
            .on_behalf_of(crate::personas::person(user))
            .get(&self.persona.to_string())
            .await
        {
            Ok(found) if found.status == PersonaStatus::Active => Ok(Some(found)),
            Ok(_) => Ok(None),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    async fn greet(&self, chat: ChatId, user: &teloxide::types::User) -> Result<(), BotError> {
        let Some(found) = self.persona(user).await? else {
            return self
                .say(
                    chat,
                    "I am not open to you: my owner keeps me private, or deleted me.",
                )
                .await;
        };
        let mut text = format!("🎭 {}", found.name);
        if !found.description.is_empty() {
            text.push_str(&format!(" — {}", found.description));
        }
        text.push_str(". Our conversation is yours alone.");
        if let Some(greeting) = &found.greeting {
            text.push_str(&format!("\n\n{greeting}"));
        }
        self.say(chat, &text).await
    }

    /// Hands the person's message to the persona; its answer comes through the relay.
    async fn pass_on(
        &self,
        message: &Message,
        user: &teloxide::types::User,
        text: &str,
        update: &Update,
    ) -> Result<(), BotError> {
        let input = PersonaChatIn {
            text: text.to_owned(),
            via: Some(self.via.clone()),
            ..PersonaChatIn::default()
        };
        let key = format!("tgbot:{}:{}", self.bot_id, update.id.0);
        let chat = message.chat.id;
        match self
            .platform
            .personas()
            .on_behalf_of(crate::personas::person(user))
            .chat_with_key(&self.persona.to_string(), &input, 0, key)
            .await
        {
            Ok(_) => {
                let _ = self
                    .bot
                    .send_chat_action(chat, teloxide::types::ChatAction::Typing)
                    .await;
                Ok(())
            }
            Err(err) if err.error_code() == Some(ErrorCode::RateLimited) => {
                let said = crate::personas::what_it_says(&err);
                self.say(chat, &format!("⏳ {said}")).await
            }
            Err(err) if err.is_not_found() => {
                self.say(chat, "I am not open to you: my owner keeps me private.")
                    .await
            }
            Err(err) if err.error_code() == Some(ErrorCode::PersonaDeleted) => {
                self.say(chat, "I no longer answer: my owner deleted me.")
                    .await
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn say(&self, chat: ChatId, text: &str) -> Result<(), BotError> {
        messages::send_text(&self.bot, chat, text, &[]).await?;
        Ok(())
    }

    /// Relays the persona's answers to the people who wrote through this bot, from the
    /// bot's cursor, until `stop`.
    async fn run_relay(&self, stop: CancellationToken) -> Result<(), BotError> {
        crate::relay_events(
            &self.bot,
            &self.platform,
            &self.cursor,
            &["thread.message"],
            &stop,
            |event| {
                let items = match serde_json::from_value::<MessageOut>(event.data) {
                    Ok(message) => self.answer_of(&message),
                    Err(_) => Vec::new(),
                };
                std::future::ready(Some(items))
            },
        )
        .await
    }

    /// What the persona's answer `message` sends, if it answers someone who wrote
    /// through this bot.
    fn answer_of(&self, message: &MessageOut) -> Vec<(ChatId, What)> {
        let get = |key: &str| message.metadata.get(key).and_then(Value::as_str);
        if message.role != MessageRole::Assistant
            || get(persona_keys::VIA) != Some(self.via.as_str())
            || get(persona_keys::PERSONA) != Some(self.persona.to_string().as_str())
        {
            return Vec::new();
        }
        // The person: who the conversation is with (in a private chat, the chat).
        let Some(chat) = message_person(message) else {
            return Vec::new();
        };
        let chat = ChatId(chat);
        messages::messages(chat, &message.text, &[])
            .into_iter()
            .map(|m| (chat, What::Say(m)))
            .collect()
    }
}

/// The Telegram user an answer in a persona conversation is for: the conversation's
/// person, named on the answer's thread (its external id ends in `telegram:<id>`).
fn message_person(message: &MessageOut) -> Option<i64> {
    message
        .metadata
        .get(persona_keys::USER)
        .and_then(Value::as_str)
        .and_then(|user| user.strip_prefix("telegram:"))
        .and_then(|id| id.parse().ok())
}
