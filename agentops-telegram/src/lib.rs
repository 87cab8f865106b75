//! The Telegram interface of AgentOps: operators talk to the Chief of Staff from a
//! Telegram chat and are told when work completes, fails or blocks.
//!
//! It depends only on `agentops-sdk` and the Chief of Staff's HTTP API (`POST /chat`):
//!
//! - free text goes to the Chief of Staff as a message of the chat's thread (channel
//!   `telegram`, the chat id as external id);
//! - commands: `/start`, `/help`, `/status [project or #task]`, `/projects`, `/agents`,
//!   `/task TITLE to PROJECT`;
//! - the Chief of Staff's replies (and its "Done: …" once a plan is carried out) come
//!   back through the event stream (`thread.message`) and are sent to the chat; a reply
//!   that proposes a plan carries inline **OK** / **No** buttons, which approve or reject
//!   it on the platform and edit the plan's message to say who did;
//! - the bot's own answers are kept in the chat's thread first and relayed the same way,
//!   so none is lost to flood control, an outage or a restart;
//! - `task.completed`, `task.failed`, `task.dead` and `task.blocked` events are sent to
//!   every allowed chat (those that arrive together as one digest: [`outbox`]), and so
//!   are `budget.warning` (80 % of a budget spent) and `budget.exhausted`;
//! - a tool an agent wrote for itself that waits for review is put to the operator
//!   chats with its source and tests, under **Approve** / **Reject** buttons ([`tools`]);
//! - everything sent goes through one paced queue per chat ([`outbox`]);
//! - a chat's updates are handled in the order they arrived, different chats' side by
//!   side ([`lanes`]);
//! - only chats in the allowlist are served; others are told their chat id (at most once
//!   an hour), so an operator can add it;
//! - texts over 4,096 characters are split.
//!
//! Updates arrive by webhook ([`TelegramBot::handle_update`], served by the binary with
//! Telegram's secret-token check) or by long polling ([`TelegramBot::poll`]).
//!
//! The Bot API is spoken by teloxide ([`messages`]): typed updates and methods, sends
//! paced by its `Throttle` adaptor, commands by `BotCommands` ([`commands`]), long
//! polling by its `Polling` listener. The webhook is the binary's own axum route rather
//! than teloxide's webhook listener, because a shutdown must wait for the chats it has
//! already answered 200 to (Telegram never sends those updates again), and teloxide's
//! listener hands updates to a dispatcher this bot does not use.

pub mod access;
pub mod commands;
pub mod lanes;
pub mod messages;
pub mod outbox;
pub mod persona_bots;
pub mod personas;
pub mod plans;
pub mod tools;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentops_sdk::types::{
    AgentOut, ApprovalOut, ApprovalStatus, BudgetOut, CancelIn, ChatIn, ChatOut, DeploymentOut,
    DeploymentStatus, ErrorCode, EventFilter, MessageIn, MessageOut, MessageRole, PairingIn,
    PairingOut, PairingStatus, TaskOut, TaskStatus, ThreadIn, ThreadPatch, ToolOut, UnblockIn,
    UsageGroupBy, VOICE_TRANSCRIPT,
};
use agentops_sdk::{CancellationToken, Client};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use teloxide::RequestError;
use teloxide::payloads::{
    AnswerCallbackQuerySetters, EditMessageReplyMarkupSetters, EditMessageTextSetters,
};
use teloxide::requests::Requester;
use teloxide::types::{
    AllowedUpdate, CallbackQuery, ChatAction, ChatId, InlineKeyboardButton, InlineKeyboardMarkup,
    Me, Message, UpdateKind, User,
};
use teloxide::update_listeners::{AsUpdateStream, Polling, UpdateListener};
use teloxide::utils::command::BotCommands;
use uuid::Uuid;

use crate::commands::{Command, Parsed};
use crate::messages::{Bot, send_text};
use crate::outbox::{Notice, NoticeKind, Outbox, What};

pub use teloxide::types::Update;

/// The news a chat can choose with `/notify`: task outcomes, budget alerts, the Chief
/// of Staff's own rounds, how deployments ended, chats asking to use the bot, and tools
/// agents wrote that wait for review.
pub const NEWS: [&str; 9] = [
    "completed",
    "failed",
    "blocked",
    "cancelled",
    "budget",
    "chief",
    "deploy",
    "pairing",
    tools::NEWS,
];

/// The thread metadata key of the updates accepted but not yet handled.
pub const INBOX_KEY: &str = "telegram_inbox";

/// The thread metadata key of a chat's `/voice` choice.
pub const VOICE_KEY: &str = "telegram_voice";

/// The thread metadata key of a chat's `/notify` choice.
pub const NOTIFY_KEY: &str = "telegram_notify";

/// The `POST /chat` metadata key saying the person may not answer the waiting plan
/// (the Chief of Staff's `MAY_DECIDE`; the bot speaks its HTTP API, not its crate).
const MAY_DECIDE: &str = "may_decide";

/// How long a stopping relay waits for its chats' senders.
pub(crate) const SENDERS_STOP: Duration = Duration::from_secs(10);

/// Entries one of the bot's memories ([`Memo`]) holds; beyond it the oldest go.
const MEMO_MAX: usize = 10_000;

/// Blocked tasks searched for the one a person's answer is for.
const BLOCKED_SCANNED: usize = 10_000;

/// The longest toast (`answerCallbackQuery` text) Telegram takes.
const TOAST_MAX: usize = 200;

/// The message metadata key of a person's message's Telegram id.
pub const TELEGRAM_MESSAGE: &str = "telegram_message_id";

/// The message metadata key of the Telegram message the bot's own answer replies to.
const REPLY_TO: &str = "telegram_reply_to";

/// The thread metadata key of the buttons the bot puts under its own message:
/// `[{"text", "data"}]`.
const BUTTONS: &str = "telegram_buttons";

/// Projects on one page of `/projects`.
const PAGE: usize = 10;

/// The most projects `/projects` pages through (the newest).
const PROJECTS_LISTED: usize = 1_000;

/// The most tasks `/status` pages through (those that need a look most first).
const STATUS_LISTED: usize = 1_000;

/// The thread metadata key that makes the bot's message ask for a reply (`ForceReply`).
const FORCE_REPLY: &str = "telegram_force_reply";

/// How the bot asks for the answer a blocked task waits for; a reply to it is that
/// answer.
const ANSWER_PROMPT: &str = "✍ Your answer for #";

/// Who the bot's own answers in a chat's thread are by.
pub const BOT_AUTHOR: &str = "telegram-bot";

/// The largest file Telegram lets a bot download, in bytes.
const FILE_MAX: usize = 20 * 1024 * 1024;

/// The thread-metadata key of a chat's voice notes kept while the speech engine is down:
/// Telegram message id → `{"message", "since"}`.
const UNHEARD_KEY: &str = "telegram_unheard";

/// How long a kept voice note is tried again before the person is asked to send it
/// again.
pub const UNHEARD_FOR: Duration = Duration::from_secs(24 * 3_600);

/// How soon a kept voice note is first tried again, by default.
pub const UNHEARD_RETRY: Duration = Duration::from_secs(30);

/// Why the Chief of Staff did not take a message.
struct ChiefRefused {
    /// Its error code (none if it could not be reached).
    code: Option<String>,
    /// What went wrong.
    said: String,
    /// Whether it said when to try again (`Retry-After`): what is missing may come back.
    passing: bool,
}

impl ChiefRefused {
    fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// The recording a message carries (a voice note, an audio file, a round video note),
/// with the file name and media type it is sent to the Chief of Staff under.
fn recording(
    message: &Message,
) -> Option<(teloxide::types::FileMeta, (&'static str, &'static str))> {
    message
        .voice()
        .map(|v| (v.file.clone(), ("voice.ogg", "audio/ogg")))
        .or_else(|| {
            message
                .audio()
                .map(|a| (a.file.clone(), ("audio.mp3", "audio/mpeg")))
        })
        .or_else(|| {
            message
                .video_note()
                .map(|v| (v.file.clone(), ("video-note.mp4", "video/mp4")))
        })
}

/// How sending a recording to the Chief of Staff ended.
enum Heard {
    /// It has it, or the person was told why not.
    Done,
    /// The speech engine is down (what the Chief said).
    EngineDown(String),
}

/// The longest message the platform keeps, in characters.
const TEXT_MAX: usize = 32_000;

/// How often a chat that is not allowed is told so, at most.
const REFUSED_EVERY: Duration = Duration::from_secs(3_600);

/// How long a chat that could not be given a code waits before it is tried again.
const REFUSED_RETRY: Duration = Duration::from_secs(600);

/// The thread channel the bot's conversations use.
pub const CHANNEL: &str = "telegram";

/// The thread (channel, external id) the Chief of Staff reports to the operators in;
/// the bot sends what is said there to every allowed chat.
pub const OPERATORS: (&str, &str) = ("chief", "operators");

/// What the bot remembers of the platform to spare itself a request (a thread's
/// audience, a chat's thread, a project's name, a chat's `/notify` choice, a person's
/// message's Telegram id): at most [`MEMO_MAX`] entries, the oldest forgotten first, so
/// it never grows with every thread or message ever seen.
#[derive(Debug)]
struct Memo<K, V> {
    entries: Mutex<(HashMap<K, V>, std::collections::VecDeque<K>)>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new((HashMap::new(), std::collections::VecDeque::new())),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Memo<K, V> {
    fn entries(&self) -> std::sync::MutexGuard<'_, (HashMap<K, V>, std::collections::VecDeque<K>)> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What is remembered for `key`.
    fn get(&self, key: &K) -> Option<V> {
        self.entries().0.get(key).cloned()
    }

    /// Remembers `value` for `key` (in place of what was).
    fn put(&self, key: K, value: V) {
        let mut entries = self.entries();
        let (map, order) = &mut *entries;
        if map.insert(key.clone(), value).is_none() {
            order.push_back(key);
            while order.len() > MEMO_MAX {
                if let Some(oldest) = order.pop_front() {
                    map.remove(&oldest);
                }
            }
        }
    }
}

/// An update [`TelegramBot::accept`] took: handle it with
/// [`TelegramBot::handle_accepted`].
#[derive(Debug)]
pub struct Accepted {
    update: Update,
    /// The thread whose inbox keeps it, if any.
    kept: Option<Uuid>,
    /// Its place among its chat's updates (none for an update of no chat).
    place: Option<lanes::Place>,
}

/// What a chat that is not allowed was last told.
#[derive(Debug, Clone, Copy)]
struct Refused {
    /// When.
    told: std::time::Instant,
    /// Until when it needs no other answer (its code's expiry); `None`: for
    /// [`REFUSED_EVERY`].
    until: Option<std::time::Instant>,
}

/// What a chat that may pair is told, with its code.
fn offer(code: &str) -> String {
    format!(
        "🔑 This chat is not paired with me yet. Ask an operator to approve the code {code} (valid for an hour): \
         they can press ✅ Allow on my question in their chat, send me /pair {code} there, run \
         `agentops telegram pair {code}`, or approve it on the dashboard's Chats page."
    )
}

/// What a chat is told when no code can be given now.
fn crowded(chat: ChatId) -> String {
    format!(
        "This chat is not allowed to use this bot, and too many chats are waiting for a code right now. \
         Ask an operator to allow chat {chat}."
    )
}

/// A person's pace.
enum Pace {
    /// Within their rate.
    Fine,
    /// Over it: asked to wait this long.
    TooFast(Duration),
    /// Over it, and already asked to wait.
    Told,
}

/// Who hears what is said in a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    /// One Telegram chat.
    Chat(i64),
    /// A person's private chat, talking to a persona (not on the allowlist per se).
    Persona(i64),
    /// Every allowed chat.
    Operators,
    /// Nobody on Telegram.
    Nobody,
}

/// What the bot says to `/start` and `/help`.
/// How often the bot says "typing…" while the Chief of Staff thinks.
const TYPING_EVERY: std::time::Duration = std::time::Duration::from_secs(4);

pub const HELP: &str = "I am the AgentOps bot. Tell me what you need in plain words and the Chief of Staff will plan it; \
nothing changes before you press OK.\n\
/status [project or #task] — how the work is going\n\
/projects — the projects\n\
/agents — the agents and when they were last seen\n\
/usage — today's LLM spend and the budgets\n\
/task TITLE to PROJECT — a new task\n\
/busy enqueue | reject | interrupt — what a message does while I am still working on your last one\n\
/progress on | off — lines on a plan's tasks while they run (off: only questions and the end)\n\
/notify on | off | completed failed blocked cancelled budget chief deploy pairing tools — which news this chat gets\n\
/voice on | off — my answers said aloud too (send me voice notes any time)\n\
/pair CODE — let the chat I gave CODE use me\n\
/create — make a persona (an agent anyone can talk to by its link); /mine — yours; /edit NAME — change one; /talk NAME — talk to one; /exit — back\n\
I will tell you when a task completes, fails or needs you (with buttons to answer it).";

/// How the bot is set up.
#[derive(Debug, Clone)]
pub struct TelegramConfig {
    /// The Bot API's base URL ([`messages::DEFAULT_BASE`]).
    pub bot_api_base: String,
    /// The bot's token from @BotFather.
    pub token: String,
    /// The Chief of Staff's base URL (`…/chat` is appended).
    pub chief_url: String,
    /// The admin key it uses with the Chief of Staff (the same as the platform client's).
    pub api_key: String,
    /// Chats allowed from the start (`TELEGRAM_ALLOWED_CHATS`): they seed the
    /// platform's allowlist of chats ([`access`]), which others join by pairing.
    pub allowed_chats: HashSet<i64>,
    /// Messages one person may send a minute ([`USER_RATE`] by default; 0: no limit).
    pub user_rate: u32,
    /// The models a persona made with `/create` may think with (its buttons).
    pub persona_models: Vec<String>,
    /// How soon a voice note kept while the speech engine is down is tried again
    /// ([`UNHEARD_RETRY`] by default), doubling up to ten times that.
    pub unheard_retry: Duration,
}

/// Messages one person may send the bot a minute, by default.
pub const USER_RATE: u32 = 10;

/// What can stop the bot.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The Bot API failed.
    #[error("the Telegram Bot API: {0}")]
    Telegram(#[from] RequestError),
    /// The platform failed.
    #[error("the platform: {0}")]
    Platform(#[from] agentops_sdk::Error),
    /// The bot cannot be set up (a bad Bot API URL, no HTTP client).
    #[error("{0}")]
    Setup(String),
    /// A file could not be downloaded from Telegram.
    #[error("downloading a file from Telegram: {0}")]
    Download(String),
}

impl BotError {
    /// Whether trying again later may succeed (see [`messages::is_transient`] and
    /// [`agentops_sdk::Error::is_retryable`]).
    pub fn is_transient(&self) -> bool {
        match self {
            BotError::Telegram(err) => messages::is_transient(err),
            BotError::Platform(err) => platform_may_pass(err),
            BotError::Setup(_) => false,
            BotError::Download(_) => true,
        }
    }
}

/// Whether a platform request that failed with `err` may succeed later: what the SDK
/// retries, and a 500 too (the bot would rather wait than drop what a chat is owed).
pub(crate) fn platform_may_pass(err: &agentops_sdk::Error) -> bool {
    err.is_retryable() || err.status().is_some_and(|s| s.is_server_error())
}

/// Where a relay saving its progress under cursor `name` goes on from: the saved cursor,
/// or (on a first start) the head of the log, saved at once.
pub(crate) async fn relay_start(platform: &Client, name: &str) -> Result<i64, BotError> {
    let events = platform.events();
    Ok(match events.cursor(name).await? {
        Some(cursor) => cursor.last_id,
        None => {
            let head = events.latest().await?.last_id;
            events.save_cursor(name, head).await?;
            head
        }
    })
}

/// Where a relay whose cursor `name` expired (retention pruned events it had not read
/// since `since`) goes on from: after the pruned ones, saved as its cursor.
pub(crate) async fn go_on_after_pruned(
    events: &agentops_sdk::resources::Events<'_>,
    name: &str,
    since: i64,
) -> Result<i64, BotError> {
    let kept_after = events.latest().await?.pruned_through;
    tracing::error!(
        cursor = name,
        "events #{}..=#{kept_after} were deleted by retention before they were relayed to \
         Telegram; going on after #{kept_after}",
        since + 1
    );
    events.save_cursor(name, kept_after).await?;
    Ok(kept_after)
}

/// The events the main bot relays to its chats.
const RELAYED: &[&str] = &[
    "thread.message",
    "approval.approved",
    "approval.rejected",
    "approval.superseded",
    "approval.executed",
    "approval.failed",
    "task.completed",
    "task.failed",
    "task.dead",
    "task.blocked",
    "task.cancelled",
    "budget.warning",
    "budget.exhausted",
    "deployment.created",
    "deployment.updated",
    "pairing.requested",
    "pairing.approved",
    "pairing.revoked",
    "tool.created",
];

/// A relay, as the main bot and every persona bot run one: events of `types` from the
/// cursor `name` on, each turned by `outgoing` into what chats are owed (`None`: stop
/// now), handed to a paced [`Outbox`]; the cursor moves past an event once every chat
/// has it. A cursor older than retention goes on with what was kept; a stream that
/// ends is read again from where it was. Until `stop`, or an error the platform gives
/// for good (a revoked key).
pub(crate) async fn relay_events<F, Fut>(
    bot: &Bot,
    platform: &Client,
    name: &str,
    types: &[&str],
    stop: &CancellationToken,
    mut outgoing: F,
) -> Result<(), BotError>
where
    F: FnMut(agentops_sdk::types::Event) -> Fut,
    Fut: std::future::Future<Output = Option<Vec<(ChatId, What)>>>,
{
    let start = relay_start(platform, name).await?;
    let outbox = Outbox::new(
        bot.clone(),
        platform.clone(),
        name.to_owned(),
        start,
        stop.child_token(),
    );
    let events = platform.events();
    let mut saved = start;
    let mut since = start;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let relayed = 'resume: loop {
        tracing::info!(cursor = name, since, "relaying events to Telegram");
        let mut stream =
            events.subscribe(EventFilter::new().types(types.iter().copied()).since(since));
        loop {
            // What every chat has received: the cursor moves past it.
            let watermark = outbox.watermark();
            if watermark > saved {
                match events.save_cursor(name, watermark).await {
                    Ok(_) => saved = watermark,
                    // The next save carries this one; a restart before it reads
                    // again what the chats' cursors then skip.
                    Err(err) => {
                        tracing::warn!(cursor = name, "cannot save a relay's cursor: {err}")
                    }
                }
            }
            let next = tokio::select! {
                () = stop.cancelled() => {
                    // What was delivered by now is not sent again by the next start.
                    let watermark = outbox.watermark();
                    if watermark > saved && let Err(err) = events.save_cursor(name, watermark).await {
                        tracing::warn!(cursor = name, "cannot save a relay's cursor: {err}");
                    }
                    break 'resume Ok(());
                }
                _ = tick.tick() => continue,
                next = stream.next() => next,
            };
            let event = match next {
                Some(Ok(event)) => event,
                Some(Err(err)) if err.error_code() == Some(ErrorCode::CursorExpired) => {
                    // Go on with what retention kept, not from the head: events
                    // after the pruned ones are still owed to the chats.
                    match go_on_after_pruned(&events, name, since).await {
                        Ok(kept_after) => {
                            saved = saved.max(kept_after);
                            since = since.max(kept_after);
                            continue 'resume;
                        }
                        Err(err) => break 'resume Err(err),
                    }
                }
                Some(Err(err)) => break 'resume Err(err.into()),
                // The stream ended (the platform closed it): read on from here.
                None => continue 'resume,
            };
            let id = event.id;
            let Some(items) = outgoing(event).await else {
                break 'resume Ok(());
            };
            outbox.hand_out(id, items).await;
            since = id;
        }
    };
    // Stopped or failed: its senders stop before anything starts over (a restart after
    // an error builds new ones, which must not send beside these).
    outbox.finish(SENDERS_STOP).await;
    relayed
}

/// One message, `text` (Telegram HTML that fits in one), to each of `chats`, with
/// `buttons` under it, without a sound if `silent`.
pub(crate) fn one_each(
    chats: Vec<ChatId>,
    text: &str,
    buttons: Option<InlineKeyboardMarkup>,
    silent: bool,
) -> Vec<(ChatId, What)> {
    chats
        .into_iter()
        .map(|chat| {
            (
                chat,
                What::Say(messages::Outgoing {
                    chat,
                    text: text.to_owned(),
                    buttons: buttons.clone(),
                    silent,
                    force_reply: false,
                    reply_to: None,
                }),
            )
        })
        .collect()
}

/// Merges `patch` into thread `thread`'s metadata (`PATCH /threads/{id}` is a JSON
/// merge patch: `null` removes a key).
pub(crate) async fn merge_metadata(
    client: &Client,
    thread: Uuid,
    patch: Value,
) -> Result<(), agentops_sdk::Error> {
    client
        .threads()
        .update(
            thread,
            ThreadPatch {
                metadata: Some(patch),
                ..ThreadPatch::default()
            },
        )
        .await?;
    Ok(())
}

/// The bot. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TelegramBot {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    bot: Bot,
    platform: Client,
    config: TelegramConfig,
    http: reqwest::Client,
    /// Thread id → who hears it.
    chats: Memo<Uuid, Audience>,
    /// Chat → its thread, where the bot's own answers are kept and relayed from.
    threads: Memo<i64, Uuid>,
    /// Project id → name, for notices.
    projects: Memo<Uuid, String>,
    /// The person's messages lately passed on the event stream → their Telegram ids
    /// (to thread the replies to them).
    said: Memo<Uuid, i32>,
    /// Chat → the news it chose with `/notify` (`None`: all), as last read or set.
    news: Memo<i64, Option<Vec<String>>>,
    /// Chat → whether it hears answers aloud (`/voice`), as last read or set.
    voice: Memo<i64, bool>,
    /// Chats refused lately → when they were last told so, and until when that holds.
    refused: Mutex<HashMap<i64, Refused>>,
    /// Each chat's updates, handled in the order they arrived.
    lanes: lanes::Lanes,
    /// The chats it serves.
    access: access::Access,
    /// Person → when their messages of the last minute came, and whether they were
    /// told to slow down.
    paces: Mutex<HashMap<u64, (std::collections::VecDeque<std::time::Instant>, bool)>>,
    /// The name of the event cursor the relay saves its progress under.
    cursor: String,
    /// The kept voice notes being tried again (thread, Telegram message id).
    unheard: Mutex<HashSet<(Uuid, i32)>>,
}

/// What operators are told when a budget nears or reaches its limit.
fn budget_text(kind: &str, budget: &BudgetOut) -> String {
    let now = &budget.current;
    let resets = now.resets_at.format("%Y-%m-%d %H:%M UTC");
    if kind == "budget.warning" {
        format!(
            "⚠️ Budget \"{}\" is over 80 %: {} of {} tokens spent this {}. It starts over at {resets}.",
            budget.name, now.used_tokens, budget.limit_tokens, budget.period
        )
    } else {
        format!(
            "⛔ Budget \"{}\" is spent ({} of {} tokens this {}): the work it limits is paused until {resets}, \
             or until an operator raises it.",
            budget.name, now.used_tokens, budget.limit_tokens, budget.period
        )
    }
}

/// Whether `message` has a button whose data start with `prefix` (`projects:`,
/// `allow:<id>`): a forged press must not turn another message of the bot into a list,
/// nor answer a question it is not under.
fn has_button(message: &teloxide::types::MaybeInaccessibleMessage, prefix: &str) -> bool {
    message
        .regular_message()
        .and_then(Message::reply_markup)
        .is_some_and(|markup| {
            markup.inline_keyboard.iter().flatten().any(|button| {
                matches!(
                    &button.kind,
                    teloxide::types::InlineKeyboardButtonKind::CallbackData(data)
                        if data.starts_with(prefix)
                )
            })
        })
}

/// How a deployment ended, for the operators, in Telegram's HTML: its commit, branch and
/// outcome, then its report (cut to fit one message).
fn deployment_text(deployment: &DeploymentOut) -> String {
    let (mark, outcome) = match deployment.status {
        DeploymentStatus::Healthy => ("🚀", "is live and healthy"),
        DeploymentStatus::RolledBack => ("↩", "was rolled back"),
        _ => ("❌", "failed"),
    };
    let sha: String = deployment.git_sha.chars().take(7).collect();
    let branch = deployment
        .branch
        .as_deref()
        .map(|b| format!(" ({b})"))
        .unwrap_or_default();
    let head = format!(
        "{mark} <b>Deployment {}{} {outcome}.</b>",
        messages::escape(&sha),
        messages::escape(&branch)
    );
    match deployment
        .report
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(report) => format!(
            "{head}\n{}",
            messages::escape(&agentops_sdk::text::truncate(report, 3_500))
        ),
        None => head,
    }
}

/// How an operator is told who asks to use the bot: a person (`@ana (Ana Lima)`) or a
/// group's title, with the person who wrote.
fn chat_name(chat: &teloxide::types::Chat, from: Option<&User>) -> String {
    // A username is Telegram's to vouch for; a full name is whatever the person typed,
    // so it is never shown where a username would be.
    let person = from.map(|user| {
        let full = user.full_name();
        match &user.username {
            Some(username) if !full.is_empty() => format!("@{username} ({full})"),
            Some(username) => format!("@{username}"),
            None => format!("{} (no username, id {})", full.replace('@', ""), user.id),
        }
    });
    match (chat.title(), person) {
        (Some(title), Some(person)) => format!("group \"{title}\", by {person}"),
        (Some(title), None) => format!("group \"{title}\""),
        (None, Some(person)) => person,
        (None, None) => format!("chat {}", chat.id),
    }
}

/// What the Chief of Staff's HTTP API said when it refused a call: its error code, if
/// it gave one, and its message (else the status).
async fn refusal(response: reqwest::Response) -> (Option<String>, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().map(str::to_owned);
    let message = body["error"]["message"]
        .as_str()
        .map_or_else(|| format!("it answered {status}"), str::to_owned);
    (code, message)
}

/// How a task stands, for `/status`-like answers in the chat.
fn task_status(task: &TaskOut, project: Option<String>) -> String {
    let mut lines = vec![format!(
        "Task {}{}: {} ({} of {} attempts used).",
        task_line(task),
        project.map(|p| format!(" in {p}")).unwrap_or_default(),
        task.status,
        task.attempts,
        task.max_attempts
    )];
    if let Some(reason) = &task.block_reason {
        lines.push(format!("It needs: {reason}"));
    }
    if let Some(error) = &task.error {
        lines.push(format!("Error: {error}"));
    }
    if let Some(progress) = &task.progress_message {
        lines.push(format!("Last said: {progress}"));
    }
    lines.join("\n")
}

fn task_line(task: &TaskOut) -> String {
    let hex = task.id.simple().to_string();
    format!("#{} \"{}\"", &hex[hex.len() - 6..], task.title)
}

impl TelegramBot {
    /// A bot talking to Telegram, the platform (through `platform`, an admin key: it
    /// approves what people approve with its buttons) and the Chief of Staff.
    ///
    /// Call it inside a Tokio runtime: the pacing of sends runs as a task of its own.
    ///
    /// # Errors
    /// If the Bot API URL is not one, or the HTTP clients cannot be built.
    pub fn new(platform: Client, config: TelegramConfig) -> Result<Self, BotError> {
        let bot =
            messages::connect(&config.bot_api_base, &config.token).map_err(BotError::Setup)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            // The Chief of Staff may think as long as its LLM does.
            .timeout(Duration::from_secs(180))
            .build()
            .map_err(|err| BotError::Setup(format!("cannot build the Chief's client: {err}")))?;
        // The bot's id (the token's part before `:`) tells bots sharing a platform apart.
        let bot_id = config.token.split(':').next().unwrap_or_default();
        let cursor = format!("telegram.{bot_id}");
        let access = access::Access::new(platform.clone(), config.allowed_chats.iter().copied());
        Ok(Self {
            inner: Arc::new(Inner {
                bot,
                platform,
                config,
                http,
                chats: Memo::default(),
                threads: Memo::default(),
                projects: Memo::default(),
                refused: Mutex::new(HashMap::new()),
                news: Memo::default(),
                voice: Memo::default(),
                said: Memo::default(),
                lanes: lanes::Lanes::default(),
                access,
                paces: Mutex::new(HashMap::new()),
                cursor,
                unheard: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// The name of the event cursor under which the relay saves how far it got
    /// (`telegram.<bot id>`).
    pub fn cursor_name(&self) -> &str {
        &self.inner.cursor
    }

    /// The Bot API client (teloxide, paced to Telegram's limits).
    pub fn bot(&self) -> &Bot {
        &self.inner.bot
    }

    /// Who the bot is (`getMe`, asked once and remembered); it also proves the token.
    ///
    /// # Errors
    /// If the Bot API refuses the token or cannot be reached.
    pub async fn me(&self) -> Result<Me, BotError> {
        Ok(self.inner.bot.get_me().await?)
    }

    /// Puts the bot's commands in Telegram's command menu (`setMyCommands`): for every
    /// chat, and for the private and the group chats' scopes (a scope of its own wins
    /// over the default, so another tool setting those scopes does not hide ours).
    ///
    /// # Errors
    /// If the Bot API refuses.
    pub async fn register_commands(&self) -> Result<(), BotError> {
        use teloxide::payloads::SetMyCommandsSetters;
        use teloxide::types::BotCommandScope;
        for scope in [
            BotCommandScope::Default,
            BotCommandScope::AllPrivateChats,
            BotCommandScope::AllGroupChats,
        ] {
            self.inner
                .bot
                .set_my_commands(Command::bot_commands())
                .scope(scope)
                .await?;
        }
        Ok(())
    }

    /// Whether `chat` is on the allowlist ([`access`]).
    async fn allowed(&self, chat: ChatId) -> Result<bool, BotError> {
        Ok(self.inner.access.allows(chat.0).await?)
    }

    /// Says `text` to an allowed chat: kept as a message of the chat's thread first
    /// (the bot's own answers, such as `/agents`, beside the Chief's), then relayed like
    /// everything said there, through the chat's paced queue. Once this returns, the
    /// answer is on the platform: a flood-control wait, a Telegram outage or a restart
    /// of the bot delays it, never loses it.
    async fn say(&self, chat: ChatId, text: &str) -> Result<(), BotError> {
        self.say_with(chat, text, None).await
    }

    /// [`say`](Self::say) in answer to `message`, shown as a reply to it.
    async fn answer(&self, message: &Message, text: &str) -> Result<(), BotError> {
        self.say_with(
            message.chat.id,
            text,
            Some(json!({ REPLY_TO: message.id.0 })),
        )
        .await
    }

    /// [`say`](Self::say), the message's thread metadata `metadata`.
    async fn say_with(
        &self,
        chat: ChatId,
        text: &str,
        metadata: Option<Value>,
    ) -> Result<(), BotError> {
        let thread = self.thread_of(chat).await?;
        self.inner
            .platform
            .threads()
            .post(
                thread,
                MessageIn {
                    role: MessageRole::Assistant,
                    text: agentops_sdk::text::truncate(&agentops_sdk::text::clean(text), TEXT_MAX),
                    author: Some(BOT_AUTHOR.into()),
                    metadata,
                },
            )
            .await?;
        Ok(())
    }

    /// The thread of chat `chat` (opened on first use).
    async fn thread_of(&self, chat: ChatId) -> Result<Uuid, BotError> {
        if let Some(id) = self.inner.threads.get(&chat.0) {
            return Ok(id);
        }
        let thread = self
            .inner
            .platform
            .threads()
            .open(ThreadIn {
                channel: Some(CHANNEL.into()),
                external_id: Some(chat.0.to_string()),
                ..ThreadIn::default()
            })
            .await?;
        self.inner.threads.put(chat.0, thread.id);
        Ok(thread.id)
    }

    /// Page `page` (from 1) of the projects, newest first, with how far each has got,
    /// and the buttons to the pages beside it.
    async fn projects_page(
        &self,
        page: usize,
    ) -> Result<(String, Vec<(String, String)>), BotError> {
        let platform = &self.inner.platform;
        let projects: Vec<agentops_sdk::types::ProjectOut> = platform
            .projects()
            .list()
            .limit(200)
            .stream()
            .take(PROJECTS_LISTED)
            .try_collect()
            .await?;
        if projects.is_empty() {
            return Ok((
                "There are no projects yet. Tell me what you need and I will plan one.".into(),
                Vec::new(),
            ));
        }
        let summary = platform.tasks().summary(None).await?;
        let pages = projects.len().div_ceil(PAGE);
        let page = page.clamp(1, pages);
        let mut lines = vec![if pages > 1 {
            format!("{} projects, page {page} of {pages}:", projects.len())
        } else {
            format!(
                "{} project{}:",
                projects.len(),
                if projects.len() == 1 { "" } else { "s" }
            )
        }];
        for project in projects.iter().skip((page - 1) * PAGE).take(PAGE) {
            let line = match summary
                .by_project
                .iter()
                .find(|c| c.project_id == project.id)
            {
                Some(counts) => {
                    let s = &counts.by_status;
                    let total = s.total();
                    let mut line =
                        format!("• {}: {} of {total} tasks done", project.name, s.completed);
                    if s.blocked > 0 {
                        line.push_str(&format!(", {} blocked", s.blocked));
                    }
                    if s.failed > 0 {
                        line.push_str(&format!(", {} failed", s.failed));
                    }
                    line
                }
                None => format!("• {}: no tasks yet", project.name),
            };
            lines.push(line);
        }
        let mut buttons = Vec::new();
        if page > 1 {
            buttons.push(("◀ Back".to_owned(), format!("projects:{}", page - 1)));
        }
        if page < pages {
            buttons.push(("Next ▶".to_owned(), format!("projects:{}", page + 1)));
        }
        Ok((lines.join("\n"), buttons))
    }

    /// The project named `name` (whatever its case), if one is.
    async fn project_named(&self, name: &str) -> Result<Option<(Uuid, String)>, BotError> {
        let wanted = name.trim().to_lowercase();
        let projects: Vec<agentops_sdk::types::ProjectOut> = self
            .inner
            .platform
            .projects()
            .list()
            .limit(200)
            .stream()
            .take(PROJECTS_LISTED)
            .try_collect()
            .await?;
        Ok(projects
            .into_iter()
            .find(|p| p.name.to_lowercase() == wanted)
            .map(|p| (p.id, p.name)))
    }

    /// Page `page` of `/status` (of one project, or of everything): how many tasks are
    /// in each status, then the tasks that need a look — blocked (with what they wait
    /// for), failed (with why), running (with what they last said), queued — ten to a
    /// page, with ◀ / ▶ buttons (`tasks:<page>[:<project>]`).
    async fn status_page(
        &self,
        project: Option<(Uuid, String)>,
        page: usize,
    ) -> Result<(String, Vec<(String, String)>), BotError> {
        let tasks = self.inner.platform.tasks();
        let counts = tasks
            .summary(project.as_ref().map(|(id, _)| *id))
            .await?
            .by_status;
        let total = counts.total();
        let name = project.as_ref().map(|(_, name)| name.clone());
        if total == 0 {
            return Ok((
                match &name {
                    Some(name) => format!("Project \"{name}\" has no tasks yet."),
                    None => "There are no tasks yet.".into(),
                },
                Vec::new(),
            ));
        }
        let by_status = [
            (TaskStatus::Blocked, counts.blocked),
            (TaskStatus::Failed, counts.failed),
            (TaskStatus::Running, counts.running),
            (TaskStatus::Queued, counts.queued),
            (TaskStatus::Waiting, counts.waiting),
            (TaskStatus::Completed, counts.completed),
            (TaskStatus::Cancelled, counts.cancelled),
        ];
        let counted: Vec<String> = by_status
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(status, n)| format!("{n} {status}"))
            .collect();
        let mut head = format!(
            "{}{total} task{}: {}.",
            name.as_ref().map(|n| format!("{n} — ")).unwrap_or_default(),
            if total == 1 { "" } else { "s" },
            counted.join(", ")
        );
        // The tasks that need a look, in that order, as many as pages can show.
        let mut listed: Vec<TaskOut> = Vec::new();
        for (status, count) in &by_status[..4] {
            if *count == 0 || listed.len() >= STATUS_LISTED {
                continue;
            }
            let mut list = tasks.list().status(*status).limit(200);
            if let Some((id, _)) = &project {
                list = list.project(*id);
            }
            let more: Vec<TaskOut> = list
                .stream()
                .take(STATUS_LISTED - listed.len())
                .try_collect()
                .await?;
            listed.extend(more);
        }
        if listed.is_empty() {
            head.push_str("\nNothing is blocked, failed, running or queued.");
            return Ok((head, Vec::new()));
        }
        let pages = listed.len().div_ceil(PAGE);
        let page = page.clamp(1, pages);
        let mut lines = vec![head];
        lines.push(if pages > 1 {
            format!("Needs a look (page {page} of {pages}):")
        } else {
            "Needs a look:".to_owned()
        });
        for task in listed.iter().skip((page - 1) * PAGE).take(PAGE) {
            let (mark, said) = match task.status {
                TaskStatus::Blocked => ("⛔", task.block_reason.as_deref()),
                TaskStatus::Failed => ("❌", task.error.as_deref()),
                TaskStatus::Running => ("▶", task.progress_message.as_deref()),
                _ => ("⏳", None),
            };
            let mut line = format!("{mark} {}", task_line(task));
            if project.is_none()
                && let Some(name) = self.project_name(task.project_id).await
            {
                line.push_str(&format!(" in {name}"));
            }
            if let Some(said) = said.map(str::trim).filter(|s| !s.is_empty()) {
                line.push_str(&format!(": {}", agentops_sdk::text::truncate(said, 200)));
            }
            lines.push(line);
        }
        let data = |page: usize| match &project {
            Some((id, _)) => format!("tasks:{page}:{id}"),
            None => format!("tasks:{page}"),
        };
        let mut buttons = Vec::new();
        if page > 1 {
            buttons.push(("◀ Back".to_owned(), data(page - 1)));
        }
        if page < pages {
            buttons.push(("Next ▶".to_owned(), data(page + 1)));
        }
        Ok((lines.join("\n"), buttons))
    }

    /// Counts a message of person `user` against their rate.
    fn pace(&self, user: u64) -> Pace {
        let limit = self.inner.config.user_rate as usize;
        if limit == 0 {
            return Pace::Fine;
        }
        let now = std::time::Instant::now();
        let minute = Duration::from_secs(60);
        let mut paces = self
            .inner
            .paces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        paces.retain(|_, (times, _)| {
            times
                .back()
                .is_some_and(|last| now.duration_since(*last) < minute)
        });
        let (times, told) = paces.entry(user).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= minute)
        {
            times.pop_front();
        }
        if times.len() < limit {
            times.push_back(now);
            *told = false;
            return Pace::Fine;
        }
        if std::mem::replace(told, true) {
            return Pace::Told;
        }
        Pace::TooFast(minute - now.duration_since(times[0]))
    }

    /// Answers a chat that is not allowed: it is given a one-time pairing code (a
    /// pending pairing on the platform, valid an hour) for an operator to approve, and
    /// the operator chats are asked about it (see [`access`]). While its code is valid
    /// it is told nothing more and the platform is not asked again; a chat an operator
    /// refused gets no new code (nor are the operators asked again), and is told so at
    /// most once an hour. Each time is logged. `true` if the chat turns out to be
    /// allowed after all (approved a moment ago): its message is handled.
    async fn refuse(&self, message: &Message) -> Result<bool, BotError> {
        let chat = message.chat.id;
        let now = std::time::Instant::now();
        {
            let mut refused = self.refused();
            refused.retain(|_, r| now.duration_since(r.told) < REFUSED_EVERY);
            if refused
                .get(&chat.0)
                .is_some_and(|r| r.until.is_none_or(|until| until > now))
            {
                tracing::debug!(chat = chat.0, "a refused chat wrote again");
                return Ok(false);
            }
        }
        let name = chat_name(&message.chat, message.from.as_ref());
        tracing::warn!(
            chat = chat.0,
            name,
            "a chat that is not allowed wrote to the bot"
        );
        let pairings = self.inner.platform.pairings();
        let known = pairings
            .list()
            .channel(CHANNEL)
            .chat(chat.0.to_string())
            .send()
            .await?
            .items
            .into_iter()
            .next();
        let until = |pairing: &PairingOut| {
            pairing
                .expires_at
                .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
                .map(|left| now + left)
        };
        let (text, until) = match known {
            Some(pairing) if pairing.status.is_allowed() => {
                self.inner.access.forget();
                return Ok(true);
            }
            Some(pairing) if pairing.status == PairingStatus::Revoked => (
                "🚫 An operator decided this chat may not use me.".to_owned(),
                None,
            ),
            Some(pairing) if pairing.code.is_some() => {
                let until = until(&pairing);
                (offer(pairing.code.as_deref().unwrap_or_default()), until)
            }
            _ => {
                let requested = pairings
                    .create(&PairingIn {
                        channel: CHANNEL.into(),
                        chat: chat.0.to_string(),
                        name: agentops_sdk::text::truncate(
                            &name,
                            agentops_sdk::limits::PAIRING_NAME,
                        ),
                        status: None,
                    })
                    .await;
                match requested {
                    Ok(pairing) if pairing.status.is_allowed() => {
                        self.inner.access.forget();
                        return Ok(true);
                    }
                    Ok(pairing) if pairing.code.is_some() => {
                        let until = until(&pairing);
                        (offer(pairing.code.as_deref().unwrap_or_default()), until)
                    }
                    // Too many chats wait for a code (or the bot's own key is over its
                    // rate): this one is told to ask an operator, and asks again later.
                    Ok(_) => (crowded(chat), Some(now + REFUSED_RETRY)),
                    Err(err) if err.error_code() == Some(ErrorCode::RateLimited) => {
                        (crowded(chat), Some(now + REFUSED_RETRY))
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        };
        self.refused().insert(chat.0, Refused { told: now, until });
        send_text(&self.inner.bot, chat, &text, &[]).await?;
        Ok(false)
    }

    fn refused(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Refused>> {
        self.inner
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `update` on the platform before it is confirmed to Telegram (the webhook's
    /// 200): a message or button press of an allowed chat goes into its thread's
    /// metadata (`telegram_inbox.<update id>`) until it has been handled
    /// ([`handle_accepted`](Self::handle_accepted)), so a crash in between leaves it for
    /// the next start ([`recover`](Self::recover)) instead of losing it. Other updates
    /// (a chat that is not allowed, an unknown kind) are kept nowhere.
    ///
    /// # Errors
    /// If it cannot be kept: do not confirm the update (answer the webhook 503), and
    /// Telegram sends it again later.
    pub async fn accept(&self, update: Update) -> Result<Accepted, BotError> {
        let mut accepted = self.arrived(update);
        let Some(chat) = accepted.update.chat().map(|c| c.id) else {
            return Ok(accepted);
        };
        if !self.allowed(chat).await? {
            return Ok(accepted);
        }
        let update = &accepted.update;
        let raw = serde_json::to_value(update)
            .map_err(|err| BotError::Setup(format!("an update does not serialize: {err}")))?;
        let thread = self.thread_of(chat).await?;
        self.set_metadata(
            thread,
            json!({ INBOX_KEY: { update.id.0.to_string(): raw } }),
        )
        .await?;
        accepted.kept = Some(thread);
        Ok(accepted)
    }

    /// Takes `update`'s place among its chat's updates, now: call it in the order
    /// updates arrive. Handle it with [`handle_accepted`](Self::handle_accepted) (it is
    /// kept nowhere: [`accept`](Self::accept) also keeps it on the platform).
    pub fn arrived(&self, update: Update) -> Accepted {
        let place = update.chat().map(|c| self.inner.lanes.join(c.id.0));
        Accepted {
            update,
            kept: None,
            place,
        }
    }

    /// Merges `patch` into thread `thread`'s metadata (a JSON merge patch: `null`
    /// removes a key).
    async fn set_metadata(&self, thread: Uuid, patch: Value) -> Result<(), agentops_sdk::Error> {
        merge_metadata(&self.inner.platform, thread, patch).await
    }

    /// Handles an update [`accept`](Self::accept) kept, then lets it go.
    ///
    /// It waits for the updates of its chat that arrived before it: a chat's updates
    /// are handled in order ([`lanes`]), different chats' side by side.
    pub async fn handle_accepted(&self, accepted: Accepted) {
        let id = accepted.update.id.0;
        let done = match accepted.place {
            Some(mut place) => {
                place.turn().await;
                place.scope(self.handle(accepted.update)).await
            }
            None => self.handle(accepted.update).await,
        };
        // One the platform failed to take (its answer is not kept either) stays for the
        // next start.
        if let Some(thread) = accepted.kept
            && done
        {
            self.forget_update(thread, id).await;
        }
    }

    async fn forget_update(&self, thread: Uuid, id: u32) {
        let forgotten = self
            .set_metadata(thread, json!({ INBOX_KEY: { id.to_string(): null } }))
            .await;
        if let Err(err) = forgotten {
            // Handled again at the next start: a repeat rather than a loss.
            tracing::warn!(
                update = id,
                "cannot drop a handled update from the inbox: {err}"
            );
        }
    }

    /// Handles the updates an earlier run accepted but did not finish (it crashed, or
    /// was killed before its shutdown wait ended), oldest first in each chat, and tries
    /// again the voice notes it kept for the speech engine. Returns how many.
    ///
    /// # Errors
    /// If the platform cannot be read.
    pub async fn recover(&self) -> Result<usize, BotError> {
        let threads: Vec<agentops_sdk::types::ThreadOut> = self
            .inner
            .platform
            .threads()
            .list()
            .channel(CHANNEL)
            .limit(200)
            .stream()
            .try_collect()
            .await?;
        let mut handled = 0;
        for thread in threads {
            handled += self.recover_unheard(&thread).await;
            let Some(inbox) = thread.metadata.get(INBOX_KEY).and_then(Value::as_object) else {
                continue;
            };
            let mut left: Vec<(u32, Value)> = inbox
                .iter()
                .filter_map(|(id, raw)| Some((id.parse().ok()?, raw.clone())))
                .collect();
            left.sort_by_key(|(id, _)| *id);
            for (id, raw) in left {
                // From text: teloxide reads an update from a JSON document, not from an
                // already parsed value (it would come back as an error update).
                match serde_json::from_str::<Update>(&raw.to_string()) {
                    Ok(update) => {
                        // The Chief of Staff already has it (the last run died while it
                        // answered): not asked twice.
                        if self.chief_has(thread.id, &update).await {
                            self.forget_update(thread.id, id).await;
                            continue;
                        }
                        tracing::info!(update = id, "handling an update left by the last run");
                        if !self.handle(update).await {
                            // Still failing: kept for the next start, and the chat's later
                            // updates wait behind it.
                            break;
                        }
                        handled += 1;
                    }
                    Err(err) => tracing::warn!(update = id, "a kept update does not parse: {err}"),
                }
                self.forget_update(thread.id, id).await;
            }
        }
        Ok(handled)
    }

    /// Whether the person's message `update` is already in thread `thread` (among its
    /// latest messages): the Chief of Staff got it.
    async fn chief_has(&self, thread: Uuid, update: &Update) -> bool {
        let UpdateKind::Message(message) = &update.kind else {
            return false;
        };
        match self
            .inner
            .platform
            .threads()
            .messages(thread)
            .limit(50)
            .send()
            .await
        {
            Ok(page) => page.items.iter().any(|m| {
                m.role == MessageRole::User
                    && m.metadata.get(TELEGRAM_MESSAGE).and_then(Value::as_i64)
                        == Some(i64::from(message.id.0))
            }),
            Err(_) => false,
        }
    }

    /// Handles one update. Failures are told to the chat and logged, never returned:
    /// Telegram would only send the update again.
    pub async fn handle_update(&self, update: Update) {
        self.handle_accepted(self.arrived(update)).await;
    }

    /// [`handle_update`](Self::handle_update); `false` if it failed in a way that may
    /// pass (the platform was down), so a kept update is worth handling again.
    async fn handle(&self, update: Update) -> bool {
        let outcome = match update.kind {
            UpdateKind::CallbackQuery(query) => self.on_button(query).await,
            UpdateKind::Message(message) => self.on_message(message).await,
            UpdateKind::Error(raw) => {
                tracing::warn!(update = update.id.0, "an update did not parse: {raw}");
                Ok(())
            }
            _ => Ok(()),
        };
        match outcome {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(
                    update = update.id.0,
                    "handling a Telegram update failed: {err}"
                );
                !err.is_transient()
            }
        }
    }

    async fn on_message(&self, message: Message) -> Result<(), BotError> {
        let chat = message.chat.id;
        // Personas are anyone's, in a private chat: their commands, a wizard, a message
        // to the persona the chat talks to.
        if message.chat.is_private()
            && let Some(text) = message.text().map(str::trim).filter(|t| !t.is_empty())
        {
            let command = if text.starts_with('/') {
                match self.me().await {
                    Ok(me) => match commands::parse(text, me.username()) {
                        Parsed::Known(command) => Some(command),
                        _ => None,
                    },
                    Err(_) => None,
                }
            } else {
                None
            };
            let ours = match &command {
                Some(command) => command.is_persona(),
                None => !text.starts_with('/'),
            };
            if ours && self.persona_flow(&message, text, command.as_ref()).await? {
                return Ok(());
            }
        }
        if !self.allowed(chat).await? && !self.refuse(&message).await? {
            return Ok(());
        }
        let author = message.from.as_ref();
        let voice = recording(&message);
        // A photo (its largest size Telegram lets a bot fetch), or a picture sent as a
        // file.
        let picture = message
            .photo()
            .and_then(|sizes| {
                sizes
                    .iter()
                    .filter(|size| (size.file.size as usize) <= FILE_MAX)
                    .max_by_key(|size| size.width * size.height)
            })
            .map(|size| size.file.clone())
            .or_else(|| {
                message
                    .document()
                    .filter(|d| d.mime_type.as_ref().is_some_and(|m| m.type_() == "image"))
                    .map(|d| d.file.clone())
            });
        let other_file = message.document().is_some() && picture.is_none();
        let text = message
            .text()
            .or_else(|| message.caption())
            .map(str::trim)
            .filter(|t| !t.is_empty());
        if text.is_none() && voice.is_none() && picture.is_none() {
            let reply = if other_file {
                "📎 I cannot read files yet: please tell me in words what you need."
            } else {
                "I understand text messages, voice notes and pictures: please type or say your request."
            };
            return self.answer(&message, reply).await;
        }
        // A file's caption is read as its message; the file itself is not.
        if other_file {
            self.answer(&message, "📎 I cannot read files yet: I read your caption.")
                .await?;
        }
        if let Some(user) = author {
            match self.pace(user.id.0) {
                Pace::Fine => {}
                Pace::TooFast(wait) => {
                    return self
                        .answer(&message,
                            &format!(
                                "You are writing faster than I can take it ({} messages a minute). Please wait {} s and send that again.",
                                self.inner.config.user_rate,
                                wait.as_secs().max(1)
                            ),
                        )
                        .await;
                }
                Pace::Told => return Ok(()),
            }
        }
        if let Some((file, name)) = voice {
            return self.on_voice(&message, &file, name).await;
        }
        if let Some(file) = picture {
            return self.on_picture(&message, &file, text).await;
        }
        let Some(text) = text else {
            return Ok(());
        };
        if self.on_answer(chat, &message, text).await? {
            return Ok(());
        }
        if text.starts_with('/') {
            let name = match self.me().await {
                Ok(me) => me.username().to_owned(),
                Err(err) => {
                    // Without its own name the bot cannot tell `/status@other_bot` from
                    // its own commands; answering beats staying silent.
                    tracing::warn!("getMe failed, taking every command as ours: {err}");
                    commands::addressed_to(text).unwrap_or_default().to_owned()
                }
            };
            return match commands::parse(text, &name) {
                Parsed::Known(Command::Start(_) | Command::Help) => self.answer(&message, HELP).await,
                Parsed::Known(Command::Status(args)) => {
                    // Everything, or a project named exactly: a list the bot pages
                    // itself; anything else (a #task, a name half remembered) is the
                    // Chief's to understand.
                    let project = match args.trim() {
                        "" => Some(None),
                        name => self.project_named(name).await?.map(Some),
                    };
                    match project {
                        Some(project) => {
                            let (text, buttons) = self.status_page(project, 1).await?;
                            let buttons: Vec<Value> = buttons
                                .iter()
                                .map(|(label, data)| json!({"text": label, "data": data}))
                                .collect();
                            self.say_with(
                                chat,
                                &text,
                                Some(json!({ BUTTONS: buttons, REPLY_TO: message.id.0 })),
                            )
                            .await
                        }
                        None => {
                            self.ask_chief(
                                chat,
                                &format!("status {}", args.trim()),
                                author,
                                message.id,
                            )
                            .await
                        }
                    }
                }
                Parsed::Known(Command::Projects) => {
                    let (text, buttons) = self.projects_page(1).await?;
                    let buttons: Vec<Value> = buttons
                        .iter()
                        .map(|(label, data)| json!({"text": label, "data": data}))
                        .collect();
                    self.say_with(chat, &text, Some(json!({ BUTTONS: buttons })))
                        .await
                }
                Parsed::Known(Command::Task(args)) if args.trim().is_empty() => {
                    self.answer(&message, "Say: /task TITLE to PROJECT").await
                }
                Parsed::Known(Command::Task(args)) => {
                    self.ask_chief(chat, &format!("add task {}", args.trim()), author, message.id)
                        .await
                }
                Parsed::Known(Command::Pair(code)) => {
                    let text = self.pair(&message, &code).await?;
                    self.answer(&message, &text).await
                }
                Parsed::Known(Command::Agents) => {
                    let text = self.agents().await?;
                    self.answer(&message, &text).await
                }
                Parsed::Known(Command::Busy(args))
                    if !matches!(args.trim(), "enqueue" | "reject" | "interrupt") =>
                {
                    self.answer(&message,
                        "Say /busy enqueue (a message sent while I am busy waits its turn), /busy reject (I say I am busy) or /busy interrupt (it stops what I am doing).",
                    )
                    .await
                }
                Parsed::Known(Command::Busy(args)) => {
                    self.ask_chief(chat, &format!("/busy {}", args.trim()), author, message.id)
                        .await
                }
                Parsed::Known(Command::Progress(args))
                    if !matches!(args.trim(), "on" | "off") =>
                {
                    self.answer(&message,
                        "Say /progress on (while a plan runs, I tell you here how its tasks are going) or /progress off (only questions and the end of each plan).",
                    )
                    .await
                }
                Parsed::Known(Command::Progress(args)) => {
                    self.ask_chief(
                        chat,
                        &format!("/progress {}", args.trim()),
                        author,
                        message.id,
                    )
                    .await
                }
                Parsed::Known(Command::Usage) => {
                    let text = self.usage().await?;
                    self.answer(&message, &text).await
                }
                Parsed::Known(Command::Notify(args)) => self.notify(chat, args.trim()).await,
                Parsed::Known(Command::Voice(args)) => self.voice(&message, &args).await,
                // About personas, in a group (a private chat's are taken above).
                Parsed::Known(_) => {
                    self.answer(&message, "Personas live in private chats: write to me directly.")
                        .await
                }
                Parsed::Unknown(name) => {
                    self.answer(&message, &format!("I do not know /{name}.\n{HELP}"))
                        .await
                }
                Parsed::ForAnotherBot => Ok(()),
            };
        }
        self.ask_chief(chat, text, author, message.id).await
    }
    /// Today's LLM spend (UTC): totals, per agent and per model, and each budget's
    /// standing.
    async fn usage(&self) -> Result<String, BotError> {
        let usage = self.inner.platform.usage();
        let today = chrono::Utc::now()
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        let by_model = usage
            .summary(UsageGroupBy::Model)
            .from(today)
            .send()
            .await?;
        let mut text = if by_model.total.calls == 0 {
            "No LLM calls today.".to_owned()
        } else {
            let total = &by_model.total;
            let mut text = format!(
                "Today: {} LLM calls, {} tokens in + {} out{}.",
                total.calls,
                total.tokens_in,
                total.tokens_out,
                if total.cost_usd > 0.0 {
                    format!(", about ${:.2}", total.cost_usd)
                } else {
                    String::new()
                }
            );
            for group in by_model.groups.iter().take(5) {
                text.push_str(&format!(
                    "\n• {}: {} tokens in {} calls",
                    group.key,
                    group.totals.tokens(),
                    group.totals.calls
                ));
            }
            let by_agent = usage
                .summary(UsageGroupBy::Agent)
                .from(today)
                .send()
                .await?;
            let agents: std::collections::HashMap<String, String> = self
                .inner
                .platform
                .agents()
                .list()
                .limit(200)
                .send()
                .await?
                .items
                .into_iter()
                .map(|a| (a.id.to_string(), a.name))
                .collect();
            for group in by_agent.groups.iter().take(5) {
                let who = agents.get(&group.key).cloned().unwrap_or_else(|| {
                    if group.key == "none" {
                        "(no agent)".into()
                    } else {
                        group.key.clone()
                    }
                });
                text.push_str(&format!(
                    "\n• agent {who}: {} tokens",
                    group.totals.tokens()
                ));
            }
            text
        };
        let budgets = self
            .inner
            .platform
            .budgets()
            .list()
            .limit(20)
            .send()
            .await?
            .items;
        for budget in budgets.iter().filter(|b| b.enabled) {
            text.push_str(&format!(
                "\nBudget \"{}\": {} of {} tokens this {}, {} left.",
                budget.name,
                budget.current.used_tokens,
                budget.limit_tokens,
                budget.period,
                budget.current.remaining_tokens
            ));
        }
        Ok(text)
    }

    async fn agents(&self) -> Result<String, BotError> {
        let agents: Vec<AgentOut> = self
            .inner
            .platform
            .agents()
            .list()
            .limit(50)
            .send()
            .await?
            .items;
        if agents.is_empty() {
            return Ok("No agent has registered yet.".into());
        }
        let lines: Vec<String> = agents
            .iter()
            .map(|a| {
                format!(
                    "{} ({}) — {:?}, last seen {}",
                    a.name,
                    a.kind,
                    a.status,
                    a.last_heartbeat_at.format("%Y-%m-%d %H:%M UTC")
                )
                .replace("Online", "online")
                .replace("Offline", "offline")
            })
            .collect();
        Ok(lines.join("\n"))
    }

    /// Sends a message to the Chief of Staff. Its reply comes back through the event
    /// stream ([`run_relay`](Self::run_relay)), like everything it says in the thread.
    /// What the person's message is kept with on the platform: its Telegram id (the
    /// Chief's reply names it, `in_reply_to`, and the relay shows the reply as a reply to
    /// it), and, in a group (a negative chat id), whether they may answer the waiting
    /// plan (only who asked for it or an admin: anyone else's "ok" neither approves nor
    /// replaces it).
    async fn said_metadata(
        &self,
        chat: ChatId,
        author: Option<&User>,
        message: teloxide::types::MessageId,
    ) -> Result<Value, BotError> {
        let mut metadata = json!({ TELEGRAM_MESSAGE: message.0 });
        if chat.0 < 0
            && let Some(user) = author
            && !self.may_decide(chat, user).await?
        {
            metadata[MAY_DECIDE] = json!(false);
        }
        Ok(metadata)
    }

    /// A voice note (or an audio file, a video note): downloaded from Telegram and
    /// sent to the Chief of Staff's `POST /voice`, which hears it and answers it as if
    /// it had been typed. The chat is shown what was heard (relayed from the message the
    /// Chief keeps), then the answer; a note that cannot be heard is told so. While the
    /// speech engine is down, the note is kept and heard once it is back
    /// ([`keep_unheard`](Self::keep_unheard)): nothing said is lost.
    async fn on_voice(
        &self,
        message: &Message,
        file: &teloxide::types::FileMeta,
        name: (&str, &str),
    ) -> Result<(), BotError> {
        match self.hear(message, file, name).await? {
            Heard::Done => Ok(()),
            Heard::EngineDown(said) => {
                self.keep_unheard(message).await?;
                self.say_with(
                    message.chat.id,
                    &format!(
                        "🎙 I cannot listen to recordings right now ({said}). I kept this one and will answer it as soon as I can; or type your request."
                    ),
                    Some(json!({ REPLY_TO: message.id.0 })),
                )
                .await
            }
        }
    }

    /// Sends a recording to the Chief of Staff; what the person is told on a failure,
    /// except that the speech engine is down (for the caller to decide).
    async fn hear(
        &self,
        message: &Message,
        file: &teloxide::types::FileMeta,
        (name, mime): (&str, &str),
    ) -> Result<Heard, BotError> {
        let chat = message.chat.id;
        if file.size as usize > FILE_MAX {
            self.answer(
                message,
                "🎙 That recording is too long for me (over 20 MB): please send a shorter one, or type it.",
            )
            .await?;
            return Ok(Heard::Done);
        }
        let audio = match self.fetch_file(file).await {
            Ok(audio) => audio,
            Err(err) => {
                tracing::warn!(chat = chat.0, "cannot fetch a recording: {err}");
                self.answer(
                    message,
                    "🎙 I could not fetch that recording from Telegram: please send it again, or type it.",
                )
                .await?;
                return Ok(Heard::Done);
            }
        };
        let form = self.form(message, audio, name, mime).await?;
        let request = self.chief("voice").multipart(form);
        let author = message.from.as_ref();
        let text = match self.talk_to_chief(chat, request, author).await? {
            None => return Ok(Heard::Done),
            Some(refused) if refused.is("speech_unavailable") && refused.passing => {
                tracing::warn!(chat = chat.0, "a recording was not heard: {}", refused.said);
                return Ok(Heard::EngineDown(refused.said));
            }
            Some(refused) if refused.is("speech_unavailable") => format!(
                "🎙 I cannot listen to recordings ({}). Please type your request.",
                refused.said
            ),
            Some(refused) if refused.is("unreadable_audio") => {
                "🎙 I could not make out any words in that recording. Could you say it again, or type it?"
                    .to_owned()
            }
            Some(refused) if refused.is("payload_too_large") => {
                "🎙 That recording is too long for me: please send a shorter one, or type it."
                    .to_owned()
            }
            Some(refused) => Self::unavailable(&refused.said),
        };
        self.say_with(chat, &text, Some(json!({ REPLY_TO: message.id.0 })))
            .await?;
        Ok(Heard::Done)
    }

    /// Keeps a voice note the speech engine could not hear (in its chat's thread's
    /// metadata, `telegram_unheard`, so a restart keeps it too) and tries it again until
    /// it is heard.
    async fn keep_unheard(&self, message: &Message) -> Result<(), BotError> {
        let chat = message.chat.id;
        let thread = self.thread_of(chat).await?;
        let raw = serde_json::to_value(message)
            .map_err(|err| BotError::Setup(format!("a message does not serialize: {err}")))?;
        let since = chrono::Utc::now();
        self.set_metadata(
            thread,
            json!({ UNHEARD_KEY: { message.id.0.to_string(): {"message": raw, "since": since} } }),
        )
        .await?;
        self.retry_unheard(thread, message.clone(), since);
        Ok(())
    }

    /// Tries a kept voice note again, every [`TelegramConfig::unheard_retry`] (doubling
    /// up to ten times that) while the speech engine is down, for at most
    /// [`UNHEARD_FOR`] since it was first tried; then the person is asked to send it
    /// again. Once heard (or failed otherwise, which the person is told), it is no longer
    /// kept.
    fn retry_unheard(&self, thread: Uuid, message: Message, since: chrono::DateTime<chrono::Utc>) {
        let key = (thread, message.id.0);
        if !self
            .inner
            .unheard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key)
        {
            return; // already being tried
        }
        let bot = self.clone();
        tokio::spawn(async move {
            let first = bot.inner.config.unheard_retry;
            let mut wait = first;
            loop {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(first * 10);
                let given_up = chrono::Utc::now() - since
                    > chrono::Duration::from_std(UNHEARD_FOR).unwrap_or(chrono::TimeDelta::MAX);
                let heard = if given_up {
                    None
                } else {
                    let file = recording(&message);
                    match file {
                        Some((file, name)) => Some(bot.hear(&message, &file, name).await),
                        None => Some(Ok(Heard::Done)),
                    }
                };
                match heard {
                    Some(Ok(Heard::EngineDown(_))) => continue,
                    // The platform is down: the note stays kept for the next try.
                    Some(Err(err)) if err.is_transient() => {
                        tracing::warn!("a kept voice note cannot be tried now: {err}");
                        continue;
                    }
                    Some(Ok(Heard::Done)) => {}
                    Some(Err(err)) => tracing::warn!("a kept voice note failed: {err}"),
                    None => {
                        let asked = bot
                            .say_with(
                                message.chat.id,
                                "🎙 I still cannot listen to this recording, and have stopped trying: please send it again, or type your request.",
                                Some(json!({ REPLY_TO: message.id.0 })),
                            )
                            .await;
                        if let Err(err) = asked {
                            tracing::warn!("cannot say a voice note was given up: {err}");
                            continue;
                        }
                    }
                }
                let forgotten = bot
                    .set_metadata(
                        thread,
                        json!({ UNHEARD_KEY: { message.id.0.to_string(): null } }),
                    )
                    .await;
                if let Err(err) = forgotten {
                    tracing::warn!("cannot drop a voice note that was heard: {err}");
                }
                bot.inner
                    .unheard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .remove(&key);
                return;
            }
        });
    }

    /// Tries again the voice notes an earlier run kept for the speech engine (see
    /// [`keep_unheard`](Self::keep_unheard)); how many.
    async fn recover_unheard(&self, thread: &agentops_sdk::types::ThreadOut) -> usize {
        let Some(kept) = thread.metadata.get(UNHEARD_KEY).and_then(Value::as_object) else {
            return 0;
        };
        let mut tried = 0;
        for (id, entry) in kept {
            // From text, as updates are (see `recover`).
            let message = entry
                .get("message")
                .and_then(|raw| serde_json::from_str::<Message>(&raw.to_string()).ok());
            let since = entry
                .get("since")
                .and_then(|at| serde_json::from_value(at.clone()).ok());
            match (message, since) {
                (Some(message), Some(since)) => {
                    self.retry_unheard(thread.id, message, since);
                    tried += 1;
                }
                _ => tracing::warn!(message = %id, "a kept voice note does not parse"),
            }
        }
        tried
    }

    /// A picture (a photo, or an image sent as a file): downloaded from Telegram and
    /// sent with its caption to the Chief of Staff's `POST /image`, where a model that
    /// sees describes it and the Chief answers the two together. Without a model that
    /// sees (or while it is down), the caption is read and the person told the picture
    /// was not seen.
    async fn on_picture(
        &self,
        message: &Message,
        file: &teloxide::types::FileMeta,
        caption: Option<&str>,
    ) -> Result<(), BotError> {
        let chat = message.chat.id;
        let author = message.from.as_ref();
        let unseen = match self.fetch_file(file).await {
            Err(err) => {
                tracing::warn!(chat = chat.0, "cannot fetch a picture: {err}");
                "I could not fetch it from Telegram".to_owned()
            }
            Ok(picture) => {
                let mime = messages::picture_type(&picture);
                let mut form = self.form(message, picture, "picture", mime).await?;
                if let Some(caption) = caption {
                    form = form.text("caption", caption.to_owned());
                }
                let request = self.chief("image").multipart(form);
                match self.talk_to_chief(chat, request, author).await? {
                    None => return Ok(()),
                    Some(refused)
                        if refused.is("vision_unavailable")
                            || refused.is("unreadable_image")
                            || refused.is("payload_too_large") =>
                    {
                        tracing::info!(chat = chat.0, "a picture was not seen: {}", refused.said);
                        match refused.code.as_deref() {
                            Some("unreadable_image") => "I could not make it out".to_owned(),
                            Some("payload_too_large") => "it is too large for me".to_owned(),
                            _ if !refused.passing => "I cannot see pictures".to_owned(),
                            _ => format!("I cannot see pictures right now ({})", refused.said),
                        }
                    }
                    Some(refused) => {
                        return self
                            .say_with(
                                chat,
                                &Self::unavailable(&refused.said),
                                Some(json!({ REPLY_TO: message.id.0 })),
                            )
                            .await;
                    }
                }
            }
        };
        // Not seen: the caption, if any, is what the person asked.
        match caption {
            Some(caption) => {
                self.answer(message, &format!("🖼 {unseen}: I read your caption."))
                    .await?;
                self.ask_chief(chat, caption, author, message.id).await
            }
            None => {
                self.answer(
                    message,
                    &format!("🖼 {unseen}: please tell me in words what you need."),
                )
                .await
            }
        }
    }

    /// A file downloaded from Telegram.
    async fn fetch_file(&self, file: &teloxide::types::FileMeta) -> Result<Vec<u8>, BotError> {
        use teloxide::net::Download;
        let found = self.inner.bot.get_file(file.id.clone()).await?;
        let mut bytes = Vec::new();
        self.inner
            .bot
            .download_file(&found.path, &mut bytes)
            .await
            .map_err(|err| BotError::Download(err.to_string()))?;
        Ok(bytes)
    }

    /// The multipart form of `/voice` and `/image`: the file, and who said it where.
    async fn form(
        &self,
        message: &Message,
        file: Vec<u8>,
        name: &str,
        mime: &str,
    ) -> Result<reqwest::multipart::Form, BotError> {
        let chat = message.chat.id;
        let author = message.from.as_ref();
        let metadata = self.said_metadata(chat, author, message.id).await?;
        let mut form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(file)
                    .file_name(name.to_owned())
                    .mime_str(mime)
                    .map_err(|err| BotError::Setup(err.to_string()))?,
            )
            .text("channel", CHANNEL)
            .text("external_id", chat.0.to_string())
            .text("metadata", metadata.to_string());
        if let Some(user) = author {
            form = form.text("author", messages::display(user));
        }
        Ok(form)
    }

    async fn ask_chief(
        &self,
        chat: ChatId,
        text: &str,
        author: Option<&User>,
        message: teloxide::types::MessageId,
    ) -> Result<(), BotError> {
        let body = ChatIn {
            author: author.map(messages::display),
            metadata: Some(self.said_metadata(chat, author, message).await?),
            ..ChatIn::on(CHANNEL, chat.0.to_string(), text.trim())
        };
        let request = self.chief("chat").json(&body);
        if let Some(refused) = self.talk_to_chief(chat, request, author).await? {
            self.say_with(
                chat,
                &Self::unavailable(&refused.said),
                Some(json!({ REPLY_TO: message.0 })),
            )
            .await?;
        }
        Ok(())
    }

    /// What the person is told when the Chief of Staff failed.
    fn unavailable(problem: &str) -> String {
        format!("Sorry, the Chief of Staff is unavailable: {problem}")
    }

    /// Sends `request` to the Chief of Staff (`/chat`, `/voice` or `/image`) with
    /// "typing…" in the chat meanwhile; its reply comes through the relay. `None` once
    /// it has the message; else why not, for the caller to tell the person.
    async fn talk_to_chief(
        &self,
        chat: ChatId,
        request: reqwest::RequestBuilder,
        author: Option<&User>,
    ) -> Result<Option<ChiefRefused>, BotError> {
        let request = request.send();
        tokio::pin!(request);
        // The chat's next message goes to the Chief while it still thinks about this one
        // (so `/busy` can act on it), once this one has surely reached it.
        lanes::let_next_go_soon();
        // "typing…" in the chat while the Chief thinks: Telegram shows it for about five
        // seconds, so it is said again every four. It is only a courtesy: a failure to
        // say it changes nothing.
        let mut typing = tokio::time::interval(TYPING_EVERY);
        let outcome = loop {
            tokio::select! {
                biased;
                _ = typing.tick() => {
                    if let Err(err) = self.inner.bot.send_chat_action(chat, ChatAction::Typing).await {
                        tracing::debug!(chat = chat.0, "sendChatAction failed: {err}");
                    }
                }
                outcome = &mut request => break outcome,
            }
        };
        match outcome {
            Ok(response) if response.status().is_success() => {
                // A plan: who asked for it may answer it, in a group too.
                if let (Ok(out), Some(asker)) = (response.json::<ChatOut>().await, author)
                    && let Some(approval) = &out.approval
                    && let Err(err) = plans::write(
                        &self.inner.platform,
                        out.thread_id,
                        approval.id,
                        json!({"asker": asker.id.0}),
                    )
                    .await
                {
                    tracing::warn!(approval = %approval.id, "cannot note who asked for the plan: {err}");
                }
                Ok(None)
            }
            Ok(response) => {
                let passing = response
                    .headers()
                    .contains_key(reqwest::header::RETRY_AFTER);
                let (code, said) = refusal(response).await;
                tracing::warn!(chat = chat.0, "the Chief of Staff refused: {said}");
                Ok(Some(ChiefRefused {
                    code,
                    said,
                    passing,
                }))
            }
            Err(err) => {
                tracing::warn!(chat = chat.0, "the Chief of Staff cannot be reached: {err}");
                Ok(Some(ChiefRefused {
                    code: None,
                    said: format!("it cannot be reached ({err})"),
                    passing: true,
                }))
            }
        }
    }

    async fn on_button(&self, query: CallbackQuery) -> Result<(), BotError> {
        let bot = &self.inner.bot;
        let chat = query.message.as_ref().map(|m| m.chat().id);
        let answer = |text: &str| {
            bot.answer_callback_query(query.id.clone())
                .text(agentops_sdk::text::truncate(text, TOAST_MAX))
        };
        // Personas' buttons (a wizard's, a deletion's) in any private chat.
        let data = query.data.as_deref().unwrap_or_default();
        if let (Some(chat), true) = (
            chat,
            data.starts_with("wizard:") || data.starts_with("pdel:") || data.starts_with("pedit:"),
        ) {
            if !matches!(self.pace(query.from.id.0), Pace::Fine) {
                answer("Too fast: wait a moment and press again.").await?;
                return Ok(());
            }
            if let Some(toast) = self.persona_button(chat, &query.from, data).await? {
                if toast.is_empty() {
                    bot.answer_callback_query(query.id.clone()).await?;
                } else {
                    answer(&toast).await?;
                }
                return Ok(());
            }
        }
        let allowed = match chat {
            Some(chat) => self.allowed(chat).await?,
            None => false,
        };
        if !allowed {
            answer("This chat is not allowed.").await?;
            return Ok(());
        }
        // Presses count against the person's rate like messages: a flood of them would
        // fill the chat's queue.
        if !matches!(self.pace(query.from.id.0), Pace::Fine) {
            answer("Too fast: wait a moment and press again.").await?;
            return Ok(());
        }
        let data = query.data.as_deref().unwrap_or_default();
        // A page of a long list: the message turns to it in place.
        let list = match (data.split_once(':'), &query.message) {
            (Some(("projects", page)), Some(message)) if has_button(message, "projects:") => {
                match page.parse::<usize>() {
                    Ok(page) => Some((message, self.projects_page(page).await?)),
                    Err(_) => None,
                }
            }
            (Some(("tasks", rest)), Some(message)) if has_button(message, "tasks:") => {
                let (page, project) = rest.split_once(':').unwrap_or((rest, ""));
                let project = match Uuid::parse_str(project) {
                    Ok(id) => self.project_name(id).await.map(|name| (id, name)),
                    Err(_) => None,
                };
                match page.parse::<usize>() {
                    Ok(page) => Some((message, self.status_page(project, page).await?)),
                    Err(_) => None,
                }
            }
            _ => None,
        };
        if let Some((message, (text, buttons))) = list {
            let markup = InlineKeyboardMarkup::new([buttons
                .into_iter()
                .map(|(label, data)| InlineKeyboardButton::callback(label, data))
                .collect::<Vec<_>>()]);
            let edited = bot
                .edit_message_text(message.chat().id, message.id(), messages::escape(&text))
                .parse_mode(teloxide::types::ParseMode::Html)
                .reply_markup(markup)
                .await;
            if let Err(err) = edited {
                tracing::debug!("the list was not turned to another page: {err}");
            }
            bot.answer_callback_query(query.id.clone()).await?;
            return Ok(());
        }
        let parsed = data
            .split_once(':')
            .and_then(|(verb, id)| Some((verb, Uuid::parse_str(id).ok()?)));
        let Some((verb, id)) = parsed else {
            answer("I do not know this button.").await?;
            return Ok(());
        };
        let (Some(chat), Some(message)) = (chat, &query.message) else {
            return Ok(());
        };
        if matches!(verb, "allow" | "deny") {
            // Only the question about that very chat is answered (a forged press must not
            // rewrite another message of the bot).
            if !has_button(message, &format!("allow:{id}")) {
                answer("I do not know this button.").await?;
                return Ok(());
            }
            let text = self
                .on_pairing_button(chat, message, verb, id, &query.from)
                .await?;
            answer(&text).await?;
            return Ok(());
        }
        if matches!(verb, tools::APPROVE | tools::REJECT) {
            // Only the notice of that very tool is answered (a forged press must not
            // rewrite another message of the bot).
            if !has_button(message, &format!("{verb}:{id}")) {
                answer("I do not know this button.").await?;
                return Ok(());
            }
            let text = match self
                .on_tool_button(chat, message, verb == tools::APPROVE, id, &query.from)
                .await
            {
                Ok(text) => text,
                Err(err) => {
                    answer("Something went wrong.").await?;
                    return Err(err);
                }
            };
            answer(&text).await?;
            return Ok(());
        }
        if matches!(verb, "answer" | "cancel" | "status") {
            let text = self
                .on_task_button(chat, message, verb, id, &query.from)
                .await?;
            if text.is_empty() {
                bot.answer_callback_query(query.id.clone()).await?;
            } else {
                answer(&text).await?;
            }
            return Ok(());
        }
        if !matches!(verb, "approve" | "reject") {
            answer("I do not know this button.").await?;
            return Ok(());
        }
        let thread = self.thread_of(chat).await?;
        // A button's data comes from the client and can be forged: only a plan of this
        // chat's own conversation is answered here.
        let plan = match self.inner.platform.approvals().get(id).await {
            Ok(approval) if approval.thread_id == thread => approval,
            Ok(_) => {
                answer("That plan is not this chat's.").await?;
                return Ok(());
            }
            Err(err) if err.is_not_found() => {
                answer("That plan is not this chat's.").await?;
                return Ok(());
            }
            Err(err) => return Err(err.into()),
        };
        // In a group, a plan is answered by the person who asked for it or an admin.
        if (message.chat().is_group() || message.chat().is_supergroup())
            && !self.may_answer(chat, thread, id, &query.from).await?
        {
            answer(
                "Only the person who asked for this plan, or an admin of this chat, can answer it.",
            )
            .await?;
            return Ok(());
        }
        let who = messages::display(&query.from);
        // Noted first, so the plan's message (edited once the platform says the plan
        // was answered) names who answered it; not for a plan already answered (a late
        // press must not rename who did, nor bring back the note of a finished plan).
        if plan.status == ApprovalStatus::Pending {
            plans::write(&self.inner.platform, thread, id, json!({"by": who})).await?;
        }
        let approvals = self.inner.platform.approvals();
        let result = match verb {
            "approve" => approvals.approve(id).await.map(|_| "Approved: on it."),
            _ => approvals
                .reject(id, Some(format!("rejected on Telegram by {who}")))
                .await
                .map(|_| "Rejected."),
        };
        let text = match result {
            Ok(text) => text,
            Err(err) if err.is_conflict() || err.is_invalid_transition() => {
                // Answered before (a typed "ok", another press): the buttons go at
                // once; the message itself was edited when that answer came.
                if let Err(err) = bot
                    .edit_message_reply_markup(chat, message.id())
                    .reply_markup(InlineKeyboardMarkup::default())
                    .await
                {
                    tracing::debug!("the plan's buttons were not removed: {err}");
                }
                "That plan is no longer waiting for an answer."
            }
            Err(err) => {
                answer("Something went wrong.").await?;
                return Err(err.into());
            }
        };
        // A toast only: the plan's message says the rest once the platform has it.
        answer(text).await?;
        Ok(())
    }

    /// A button under a blocked task's notice: ask for the answer (the reply to the
    /// bot's question is the answer: see [`on_answer`](Self::on_answer)), cancel the
    /// task (in a group, an administrator only), or say how it stands. Returns the
    /// toast.
    async fn on_task_button(
        &self,
        chat: ChatId,
        message: &teloxide::types::MaybeInaccessibleMessage,
        verb: &str,
        id: Uuid,
        user: &User,
    ) -> Result<String, BotError> {
        let tasks = self.inner.platform.tasks();
        let task = match tasks.get(id).await {
            Ok(task) => task,
            Err(err) if err.is_not_found() => return Ok("That task is gone.".into()),
            Err(err) => return Err(err.into()),
        };
        let line = task_line(&task);
        match verb {
            "status" => {
                self.say(
                    chat,
                    &task_status(&task, self.project_name(task.project_id).await),
                )
                .await?;
                Ok(String::new())
            }
            "answer" if task.status != TaskStatus::Blocked => Ok(format!(
                "Task {line} is {}: it waits for no answer.",
                task.status
            )),
            "answer" if !self.may_act(message.chat(), user).await? => {
                Ok("Only an admin of this chat can answer a task.".into())
            }
            "answer" => {
                self.say_with(
                    chat,
                    &format!(
                        "{ANSWER_PROMPT}{} \"{}\"? Reply to this message with it.",
                        &line[1..7],
                        task.title
                    ),
                    Some(json!({ FORCE_REPLY: true })),
                )
                .await?;
                Ok("Reply to my question with your answer.".into())
            }
            _ => {
                if !self.may_act(message.chat(), user).await? {
                    return Ok("Only an admin of this chat can cancel a task.".into());
                }
                if task.status.is_final() {
                    return Ok(format!("Task {line} is already {}.", task.status));
                }
                match tasks
                    .cancel(
                        id,
                        CancelIn {
                            reason: Some(format!(
                                "cancelled on Telegram by {}",
                                messages::display(user)
                            )),
                        },
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(err) if err.is_conflict() || err.is_invalid_transition() => {
                        return Ok(format!("Task {line} has just finished."));
                    }
                    Err(err) => return Err(err.into()),
                }
                // Its buttons have done their job; the cancellation is told like any.
                if let Err(err) = self
                    .inner
                    .bot
                    .edit_message_reply_markup(chat, message.id())
                    .reply_markup(InlineKeyboardMarkup::default())
                    .await
                {
                    tracing::debug!("the notice's buttons were not removed: {err}");
                }
                Ok("Cancelled.".into())
            }
        }
    }

    /// A reply to the bot's question for a blocked task's answer: the task goes back to
    /// the queue with it. `false` if `message` is no such reply.
    async fn on_answer(
        &self,
        chat: ChatId,
        message: &Message,
        text: &str,
    ) -> Result<bool, BotError> {
        let Some(asked) = message
            .reply_to_message()
            .filter(|m| m.from.as_ref().is_some_and(|f| f.is_bot))
            .filter(|m| m.text().is_some_and(|t| t.starts_with(ANSWER_PROMPT)))
        else {
            return Ok(false);
        };
        // This bot's question, not another bot's that looks like it.
        let me = self.me().await?;
        if asked.from.as_ref().map(|f| f.id) != Some(me.id) {
            return Ok(false);
        }
        let asked = asked
            .text()
            .and_then(|t| t.strip_prefix(ANSWER_PROMPT))
            .unwrap_or_default();
        let code: String = asked.chars().take_while(char::is_ascii_hexdigit).collect();
        if code.len() != 6 {
            return Ok(false);
        }
        let tasks = self.inner.platform.tasks();
        let blocked: Vec<TaskOut> = tasks
            .list()
            .status(TaskStatus::Blocked)
            .limit(200)
            .stream()
            .take(BLOCKED_SCANNED)
            .try_filter(|t| std::future::ready(t.id.simple().to_string().ends_with(&code)))
            .try_collect()
            .await?;
        let blocked = blocked.into_iter().next();
        let Some(task) = blocked else {
            self.say(chat, &format!("Task #{code} waits for no answer any more."))
                .await?;
            return Ok(true);
        };
        match tasks
            .unblock(
                task.id,
                UnblockIn {
                    note: Some(agentops_sdk::text::truncate(text, 2_000)),
                },
            )
            .await
        {
            Ok(_) => {
                self.say(
                    chat,
                    &format!(
                        "▶ Task {} is back in the queue with your answer.",
                        task_line(&task)
                    ),
                )
                .await?;
            }
            Err(err) if err.is_conflict() || err.is_invalid_transition() => {
                self.say(chat, &format!("Task #{code} waits for no answer any more."))
                    .await?;
            }
            Err(err) => return Err(err.into()),
        }
        Ok(true)
    }

    /// Whether `user` may answer the plan waiting in group chat `chat`, if one waits.
    async fn may_decide(&self, chat: ChatId, user: &User) -> Result<bool, BotError> {
        let thread = self.thread_of(chat).await?;
        let waiting = self
            .inner
            .platform
            .approvals()
            .list()
            .thread(thread)
            .status(ApprovalStatus::Pending)
            .limit(1)
            .send()
            .await?
            .items;
        match waiting.first() {
            Some(plan) => self.may_answer(chat, thread, plan.id, user).await,
            None => Ok(true),
        }
    }

    /// Whether `user` may act for chat `chat` (answer or cancel a task, pair another
    /// chat): anyone in a private chat, an administrator in a group.
    async fn may_act(&self, chat: &teloxide::types::Chat, user: &User) -> Result<bool, BotError> {
        if !(chat.is_group() || chat.is_supergroup()) {
            return Ok(true);
        }
        let member = self.inner.bot.get_chat_member(chat.id, user.id).await?;
        Ok(member.is_privileged())
    }

    /// Whether `user` may answer plan `approval` of group chat `chat`: they asked for it,
    /// or they are an administrator of the chat.
    async fn may_answer(
        &self,
        chat: ChatId,
        thread: Uuid,
        approval: Uuid,
        user: &User,
    ) -> Result<bool, BotError> {
        let note = plans::read(&self.inner.platform, thread, approval).await?;
        if note.asker == Some(user.id.0) {
            return Ok(true);
        }
        let member = self.inner.bot.get_chat_member(chat, user.id).await?;
        Ok(member.is_privileged())
    }

    /// Who hears what is said in a thread: its Telegram chat, every allowed chat (the
    /// Chief of Staff's reports to the operators), or nobody here.
    async fn audience_of(&self, thread_id: Uuid) -> Result<Audience, BotError> {
        if let Some(known) = self.inner.chats.get(&thread_id) {
            return Ok(known);
        }
        let thread = self.inner.platform.threads().get(thread_id).await?;
        let external = thread.external_id.as_deref();
        let audience = if thread.channel == CHANNEL {
            external
                .and_then(|id| id.parse().ok())
                .map_or(Audience::Nobody, Audience::Chat)
        } else if thread.channel == agentops_sdk::types::persona_keys::CHANNEL {
            thread
                .metadata
                .get(agentops_sdk::types::persona_keys::USER)
                .and_then(Value::as_str)
                .and_then(|user| user.strip_prefix("telegram:"))
                .and_then(|id| id.parse().ok())
                .map_or(Audience::Nobody, Audience::Persona)
        } else if thread.channel == OPERATORS.0 && external == Some(OPERATORS.1) {
            Audience::Operators
        } else {
            Audience::Nobody
        };
        self.inner.chats.put(thread_id, audience);
        Ok(audience)
    }

    /// What relays a thread message to its chat (nothing for a person's own message, or
    /// a thread that is not an allowed chat's); the Chief of Staff's reports to the
    /// operators go to every allowed chat.
    async fn message_out(&self, message: MessageOut) -> Result<Vec<(ChatId, What)>, BotError> {
        if message.role == MessageRole::User {
            // Remembered, so the answer to it can be shown as a reply to it.
            let telegram_id = message
                .metadata
                .get(TELEGRAM_MESSAGE)
                .and_then(Value::as_i64)
                .and_then(|id| i32::try_from(id).ok());
            if let Some(id) = telegram_id {
                self.inner.said.put(message.id, id);
            }
            // A voice note: the chat is shown what was heard, before the answer to it.
            if let Some(heard) = message
                .metadata
                .get(VOICE_TRANSCRIPT)
                .and_then(|t| t.get("text"))
                .and_then(Value::as_str)
                && let Audience::Chat(chat) = self.audience_of(message.thread_id).await?
                && self.allowed(ChatId(chat)).await?
            {
                let chat = ChatId(chat);
                return Ok(vec![(
                    chat,
                    What::Say(messages::Outgoing {
                        chat,
                        text: format!(
                            "🎙 <i>{}</i>",
                            messages::escape(&agentops_sdk::text::truncate(heard, 3_500))
                        ),
                        buttons: None,
                        silent: true,
                        force_reply: false,
                        reply_to: telegram_id,
                    }),
                )]);
            }
            return Ok(Vec::new());
        }
        let chat = match self.audience_of(message.thread_id).await? {
            Audience::Chat(chat) => ChatId(chat),
            Audience::Operators => {
                return Ok(self.to_chats(self.chats_wanting("chief").await?, &message.text));
            }
            Audience::Nobody => return Ok(Vec::new()),
            Audience::Persona(chat) => {
                // The greeting was shown when the chat entered the conversation; an
                // answer to a message that came another way (a persona's own bot) goes
                // back that way.
                if message.metadata.get("greeting") == Some(&Value::Bool(true))
                    || message
                        .metadata
                        .get(agentops_sdk::types::persona_keys::VIA)
                        .and_then(Value::as_str)
                        .is_some()
                {
                    return Ok(Vec::new());
                }
                let chat = ChatId(chat);
                let name = message.author.as_deref().unwrap_or("The persona");
                return Ok(vec![(
                    chat,
                    What::Say(messages::Outgoing {
                        chat,
                        text: format!(
                            "🎭 <b>{}</b>\n{}",
                            messages::escape(name),
                            messages::escape(&agentops_sdk::text::truncate(&message.text, 3_900))
                        ),
                        buttons: None,
                        silent: false,
                        force_reply: false,
                        reply_to: None,
                    }),
                )]);
            }
        };
        if !self.allowed(chat).await? {
            return Ok(Vec::new());
        }
        // The plan it proposes, while it waits for an answer (a plan that is gone loses
        // its buttons, not its message).
        let mut plan = message
            .metadata
            .get("approval_id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok());
        if let Some(approval) = plan
            && !self
                .inner
                .platform
                .approvals()
                .get(approval)
                .await
                .ok()
                .is_some_and(|a| a.status == ApprovalStatus::Pending)
        {
            plan = None;
        }
        let buttons: Vec<InlineKeyboardButton> = match plan {
            Some(approval) => vec![
                InlineKeyboardButton::callback("✅ OK", format!("approve:{approval}")),
                InlineKeyboardButton::callback("✖ No", format!("reject:{approval}")),
            ],
            // The question a plan's task asks: the buttons of a blocked task's notice.
            None if message
                .metadata
                .get(agentops_sdk::types::PLAN_QUESTION)
                .is_some() =>
            {
                message
                    .metadata
                    .get("task_id")
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok())
                    .map(outbox::blocked_task_buttons)
                    .unwrap_or_default()
            }
            // Buttons the bot asked for on its own message (a long list's pages).
            None => message
                .metadata
                .get(BUTTONS)
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|b| {
                            Some(InlineKeyboardButton::callback(
                                b["text"].as_str()?.to_owned(),
                                b["data"].as_str()?.to_owned(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        let force_reply = message.metadata.get(FORCE_REPLY) == Some(&Value::Bool(true));
        // Lines on how a plan goes arrive without a sound, and are not read aloud.
        let progress_line = message
            .metadata
            .get(agentops_sdk::types::PLAN_PROGRESS)
            .is_some();
        // The message it answers: named by the bot's own answers, or by the Chief's
        // (`in_reply_to`: the person's message, remembered when it passed).
        let reply_to = message
            .metadata
            .get(REPLY_TO)
            .and_then(Value::as_i64)
            .and_then(|id| i32::try_from(id).ok())
            .or_else(|| {
                let person = message
                    .metadata
                    .get("in_reply_to")
                    .and_then(Value::as_str)
                    .and_then(|id| Uuid::parse_str(id).ok())?;
                self.inner.said.get(&person)
            });
        let mut items: Vec<(ChatId, What)> = messages::messages(chat, &message.text, &buttons)
            .into_iter()
            .enumerate()
            .map(|(i, mut m)| {
                m.force_reply = force_reply && m.buttons.is_none();
                m.reply_to = reply_to.filter(|_| i == 0);
                m.silent = progress_line;
                let what = match plan {
                    Some(approval) if m.buttons.is_some() => What::Plan {
                        message: m,
                        thread: message.thread_id,
                        approval,
                    },
                    _ => What::Say(m),
                };
                (chat, what)
            })
            .collect();
        // Said aloud too, where the chat asked for it (the Chief's answers only).
        if message.role == MessageRole::Assistant
            && message.author.as_deref() != Some(BOT_AUTHOR)
            && !progress_line
            && self.speaks_in(chat).await?
        {
            match self.spoken(&message.text).await {
                Ok(audio) => items.push((
                    chat,
                    What::Voice(outbox::Voice {
                        chat,
                        audio: Arc::new(audio),
                        reply_to,
                    }),
                )),
                // The text is there: the voice is a courtesy.
                Err(err) => tracing::warn!(chat = chat.0, "an answer could not be spoken: {err}"),
            }
        }
        Ok(items)
    }

    /// Whether chat `chat` hears the Chief's answers aloud (`/voice on`).
    async fn speaks_in(&self, chat: ChatId) -> Result<bool, BotError> {
        if let Some(known) = self.inner.voice.get(&chat.0) {
            return Ok(known);
        }
        let thread = self.thread_of(chat).await?;
        let metadata = self.inner.platform.threads().get(thread).await?.metadata;
        let on = metadata.get(VOICE_KEY) == Some(&Value::Bool(true));
        self.inner.voice.put(chat.0, on);
        Ok(on)
    }

    /// A call to the Chief of Staff's `POST /<path>`, with the bot's key.
    fn chief(&self, path: &str) -> reqwest::RequestBuilder {
        let url = format!(
            "{}/{path}",
            self.inner.config.chief_url.trim_end_matches('/')
        );
        self.inner
            .http
            .post(url)
            .bearer_auth(&self.inner.config.api_key)
    }

    /// `text` spoken by the Chief of Staff (`POST /speech`), as OGG/Opus.
    async fn spoken(&self, text: &str) -> Result<Vec<u8>, String> {
        let response = self
            .chief("speech")
            .json(&agentops_sdk::types::SpeechIn {
                text: text.to_owned(),
            })
            .send()
            .await
            .map_err(|err| err.to_string())?;
        if !response.status().is_success() {
            return Err(refusal(response).await.1);
        }
        Ok(response
            .bytes()
            .await
            .map_err(|err| err.to_string())?
            .to_vec())
    }

    /// `/voice [on|off]`: shows or sets whether the chat hears the Chief's answers
    /// aloud, kept in its thread's metadata (`telegram_voice`).
    async fn voice(&self, message: &Message, args: &str) -> Result<(), BotError> {
        let chat = message.chat.id;
        let on = match args.trim().to_lowercase().as_str() {
            "" => {
                let text = if self.speaks_in(chat).await? {
                    "🔊 My answers are said aloud here too. /voice off: text only."
                } else {
                    "My answers come as text here. /voice on: said aloud too (you can always send me voice notes)."
                };
                return self.answer(message, text).await;
            }
            "on" => true,
            "off" => false,
            _ => return self.answer(message, "Say /voice on or /voice off.").await,
        };
        let thread = self.thread_of(chat).await?;
        self.set_metadata(thread, json!({ VOICE_KEY: on })).await?;
        self.inner.voice.put(chat.0, on);
        let text = if on {
            "🔊 OK: I will also say my answers aloud here."
        } else {
            "OK: my answers come as text only here."
        };
        self.answer(message, text).await
    }

    /// The name of project `id`, remembered (`None` if it cannot be read).
    async fn project_name(&self, id: Uuid) -> Option<String> {
        if let Some(name) = self.inner.projects.get(&id) {
            return Some(name);
        }
        let project = self.inner.platform.projects().get(id).await.ok()?;
        self.inner.projects.put(id, project.name.clone());
        Some(project.name)
    }

    /// What tells every allowed chat a task's outcome (read together with the outcomes
    /// next to it: see [`outbox`]).
    async fn notifications(
        &self,
        kind: &str,
        task: &TaskOut,
    ) -> Result<Vec<(ChatId, What)>, BotError> {
        let (kind, detail) = match kind {
            "task.completed" => (NoticeKind::Completed, None),
            "task.cancelled" => (
                NoticeKind::Cancelled,
                Some(
                    task.error
                        .clone()
                        .unwrap_or_else(|| "(no reason given)".into()),
                ),
            ),
            "task.blocked" => (
                NoticeKind::Blocked,
                Some(
                    task.block_reason
                        .clone()
                        .unwrap_or_else(|| "(no reason given)".into()),
                ),
            ),
            _ => (
                NoticeKind::Failed,
                Some(
                    task.error
                        .clone()
                        .unwrap_or_else(|| "(no error given)".into()),
                ),
            ),
        };
        let hex = task.id.simple().to_string();
        let notice = Notice {
            kind,
            project: self.project_name(task.project_id).await,
            task: task_line(task),
            detail,
            code: hex[hex.len() - 6..].to_owned(),
            id: task.id,
        };
        let news = match kind {
            NoticeKind::Completed => "completed",
            NoticeKind::Failed => "failed",
            NoticeKind::Blocked => "blocked",
            NoticeKind::Cancelled => "cancelled",
        };
        // The chat a plan came from is asked a task's question by the Chief of Staff, with
        // the same buttons: not twice. (Other news of its tasks comes as `/notify` says:
        // the Chief's lines may be off there, or gathered and dropped at the plan's end.)
        let told_by_chief = match kind {
            NoticeKind::Blocked => self.plan_chat(task).await?,
            _ => None,
        };
        Ok(self
            .chats_wanting(news)
            .await?
            .into_iter()
            .filter(|chat| Some(*chat) != told_by_chief)
            .map(|chat| (chat, What::Notice(notice.clone())))
            .collect())
    }

    /// The chat the plan that made `task` came from, if it did come from one of the bot's
    /// chats.
    async fn plan_chat(&self, task: &TaskOut) -> Result<Option<ChatId>, BotError> {
        let Some(approval) = task.plan() else {
            return Ok(None);
        };
        let thread = match self.inner.platform.approvals().get(approval).await {
            Ok(approval) => approval.thread_id,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        Ok(match self.audience_of(thread).await? {
            Audience::Chat(chat) => Some(ChatId(chat)),
            _ => None,
        })
    }

    /// What a pairing's change owes the chats: a chat asking to use the bot is put to
    /// the operator chats, with buttons to allow or refuse it; the chat is told when it
    /// is allowed, or refused.
    async fn pairing_news(
        &self,
        kind: &str,
        pairing: &PairingOut,
    ) -> Result<Vec<(ChatId, What)>, BotError> {
        let Ok(chat) = pairing.chat.parse::<i64>().map(ChatId) else {
            return Ok(Vec::new());
        };
        let say = |chat: ChatId, text: String, buttons: Option<InlineKeyboardMarkup>| {
            What::Say(messages::Outgoing {
                chat,
                text,
                buttons,
                silent: false,
                force_reply: false,
                reply_to: None,
            })
        };
        match kind {
            "pairing.requested" => {
                // Its code, if it still waits (events never carry one).
                let current = match self.inner.platform.pairings().get(pairing.id).await {
                    Ok(current) => current,
                    Err(err) if err.is_not_found() => return Ok(Vec::new()),
                    Err(err) => return Err(err.into()),
                };
                let Some(code) = current
                    .code
                    .filter(|_| current.status == PairingStatus::Pending)
                else {
                    return Ok(Vec::new());
                };
                let text = format!(
                    "🔑 <b>{}</b> (chat {}) asks to use me, with the code {}.",
                    messages::escape(&current.name),
                    chat.0,
                    messages::escape(&code)
                );
                let buttons = InlineKeyboardMarkup::new([[
                    InlineKeyboardButton::callback("✅ Allow", format!("allow:{}", current.id)),
                    InlineKeyboardButton::callback("🚫 Refuse", format!("deny:{}", current.id)),
                ]]);
                Ok(self
                    .chats_wanting("pairing")
                    .await?
                    .into_iter()
                    .filter(|operator| *operator != chat)
                    .map(|operator| (operator, say(operator, text.clone(), Some(buttons.clone()))))
                    .collect())
            }
            // A chat of `TELEGRAM_ALLOWED_CHATS` put on the list is not greeted.
            "pairing.approved" if pairing.name == access::SEEDED => {
                self.inner.access.forget();
                Ok(Vec::new())
            }
            "pairing.approved" => {
                self.inner.access.forget();
                self.refused().remove(&chat.0);
                Ok(vec![(
                    chat,
                    say(
                        chat,
                        format!("✅ This chat may use me now.\n\n{}", messages::escape(HELP)),
                        None,
                    ),
                )])
            }
            _ => {
                self.inner.access.forget();
                // Told now: its next messages are not answered again for a while.
                self.refused().insert(
                    chat.0,
                    Refused {
                        told: std::time::Instant::now(),
                        until: None,
                    },
                );
                Ok(vec![(
                    chat,
                    say(
                        chat,
                        "🚫 An operator decided this chat may not use me.".into(),
                        None,
                    ),
                )])
            }
        }
    }

    /// What pressing ✅ Allow (`allow`) or 🚫 Refuse (`deny`) on a chat's request to
    /// use the bot does (in a group, for its admins only): the request is answered, the
    /// question says who answered it and loses its buttons. Returns the toast.
    async fn on_pairing_button(
        &self,
        chat: ChatId,
        message: &teloxide::types::MaybeInaccessibleMessage,
        verb: &str,
        id: Uuid,
        user: &User,
    ) -> Result<String, BotError> {
        if !self.may_act(message.chat(), user).await? {
            return Ok("Only an admin of this chat can answer that.".into());
        }
        let pairings = self.inner.platform.pairings();
        let pairing = match pairings.get(id).await {
            Ok(pairing) if pairing.channel == CHANNEL => pairing,
            Ok(_) => return Ok("I do not know that request.".into()),
            Err(err) if err.is_not_found() => return Ok("I do not know that request.".into()),
            Err(err) => return Err(err.into()),
        };
        let by = format!("{} on Telegram", messages::display(user));
        let outcome = match (verb, pairing.status, pairing.code.as_deref()) {
            ("allow", PairingStatus::Pending, Some(code)) => {
                match pairings.approve(code, Some(&by)).await {
                    Ok(_) => format!("✅ Allowed by {}.", messages::display(user)),
                    Err(err) if err.is_not_found() => {
                        "The code ran out: the chat gets a new one when it writes again.".into()
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            ("deny", PairingStatus::Pending | PairingStatus::Expired, _) => {
                pairings.revoke(id, Some(&by)).await?;
                format!("🚫 Refused by {}.", messages::display(user))
            }
            (_, PairingStatus::Approved, _) => "It is allowed already.".into(),
            (_, PairingStatus::Revoked, _) => "It was refused already.".into(),
            _ => "The code ran out: the chat gets a new one when it writes again.".into(),
        };
        self.inner.access.forget();
        if let Some(asked) = message.regular_message().and_then(Message::text) {
            let edited = self
                .inner
                .bot
                .edit_message_text(
                    chat,
                    message.id(),
                    format!(
                        "{}\n{}",
                        messages::escape(asked),
                        messages::escape(&outcome)
                    ),
                )
                .parse_mode(teloxide::types::ParseMode::Html)
                .await;
            if let Err(err) = edited {
                tracing::debug!("the pairing question was not updated: {err}");
            }
        }
        Ok(outcome)
    }

    /// `/pair CODE` in an operator chat (in a group, for its admins only): approves the
    /// chat that was given `code`. Returns the answer.
    async fn pair(&self, message: &Message, code: &str) -> Result<String, BotError> {
        let code = code.trim();
        if code.is_empty() {
            return Ok("Say /pair CODE, with the code I gave the chat that asks to use me.".into());
        }
        if let Some(user) = &message.from
            && !self.may_act(&message.chat, user).await?
        {
            return Ok("Only an admin of this chat can pair another chat.".into());
        }
        let by = message
            .from
            .as_ref()
            .map(|user| format!("{} on Telegram", messages::display(user)));
        let Some(waiting) = access::waiting_with(&self.inner.platform, code).await? else {
            return Ok(format!(
                "No chat waits with the code {code}: a code lasts an hour, and works once."
            ));
        };
        let waiting_code = waiting.code.unwrap_or_default();
        match self
            .inner
            .platform
            .pairings()
            .approve(&waiting_code, by.as_deref())
            .await
        {
            Ok(pairing) => {
                self.inner.access.forget();
                Ok(format!(
                    "✅ {} (chat {}) may use me now.",
                    pairing.name, pairing.chat
                ))
            }
            Err(err) if err.is_not_found() || err.is_invalid_request() => Ok(format!(
                "No chat waits with the code {code}: a code lasts an hour, and works once."
            )),
            Err(err) => Err(err.into()),
        }
    }

    /// The allowed chats that want news of kind `news` (see [`NEWS`]).
    async fn chats_wanting(&self, news: &str) -> Result<Vec<ChatId>, BotError> {
        let mut chats = Vec::new();
        for chat in self.allowed_chats().await? {
            match self.news_of(chat).await {
                Ok(None) => chats.push(chat),
                Ok(Some(kinds)) if kinds.iter().any(|k| k == news) => chats.push(chat),
                Ok(Some(_)) => {}
                // Unknown: better told than not.
                Err(err) => {
                    tracing::warn!(
                        chat = chat.0,
                        "cannot read the chat's /notify setting: {err}"
                    );
                    chats.push(chat);
                }
            }
        }
        Ok(chats)
    }

    /// The kinds of news chat `chat` chose with `/notify` (`None`: all of them).
    async fn news_of(&self, chat: ChatId) -> Result<Option<Vec<String>>, BotError> {
        if let Some(known) = self.inner.news.get(&chat.0) {
            return Ok(known);
        }
        let thread = self.thread_of(chat).await?;
        let metadata = self.inner.platform.threads().get(thread).await?.metadata;
        let kinds: Option<Vec<String>> = metadata
            .get(NOTIFY_KEY)
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        self.inner.news.put(chat.0, kinds.clone());
        Ok(kinds)
    }

    /// `/notify [on|off|KINDS]`: shows or sets which news chat `chat` gets, kept in its
    /// thread's metadata (`telegram_notify`).
    async fn notify(&self, chat: ChatId, args: &str) -> Result<(), BotError> {
        let words: Vec<String> = args
            .split([' ', ','])
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let chosen: Option<Option<Vec<String>>> = match words.as_slice() {
            [] => None,
            [on] if on == "on" || on == "all" => Some(None),
            [off] if off == "off" || off == "none" => Some(Some(Vec::new())),
            kinds => {
                if let Some(bad) = kinds.iter().find(|k| !NEWS.contains(&k.as_str())) {
                    return self
                        .say(
                            chat,
                            &format!(
                                "I do not know the news \"{bad}\". Say /notify on, /notify off, or some of: {}.",
                                NEWS.join(", ")
                            ),
                        )
                        .await;
                }
                let mut kinds = kinds.to_vec();
                kinds.sort();
                kinds.dedup();
                Some(Some(kinds))
            }
        };
        let now = match chosen {
            None => self.news_of(chat).await?,
            Some(kinds) => {
                let thread = self.thread_of(chat).await?;
                self.set_metadata(thread, json!({ NOTIFY_KEY: kinds }))
                    .await?;
                self.inner.news.put(chat.0, kinds.clone());
                kinds
            }
        };
        let said = match now {
            None => format!(
                "This chat gets all the news: {}. Replies and plans always come.",
                NEWS.join(", ")
            ),
            Some(kinds) if kinds.is_empty() => {
                "This chat gets no news (replies and plans still come). /notify on to get it all again."
                    .to_owned()
            }
            Some(kinds) => format!(
                "This chat gets: {}. Replies and plans always come. /notify on for all of it.",
                kinds.join(", ")
            ),
        };
        self.say(chat, &said).await
    }

    /// Every allowed chat, in order.
    async fn allowed_chats(&self) -> Result<Vec<ChatId>, BotError> {
        Ok(self
            .inner
            .access
            .chats()
            .await?
            .into_iter()
            .map(ChatId)
            .collect())
    }

    /// `text` to `chats`.
    fn to_chats(&self, chats: Vec<ChatId>, text: &str) -> Vec<(ChatId, What)> {
        chats
            .into_iter()
            .flat_map(|chat| messages::messages(chat, text, &[]))
            .map(|m| (m.chat, What::Say(m)))
            .collect()
    }

    /// What relaying `event` owes each chat (nothing for one that does not parse).
    async fn outgoing(
        &self,
        event: &agentops_sdk::types::Event,
    ) -> Result<Vec<(ChatId, What)>, BotError> {
        if event.kind.starts_with("budget.") {
            return match serde_json::from_value::<BudgetOut>(event.data.clone()) {
                Ok(budget) => Ok(self.to_chats(
                    self.chats_wanting("budget").await?,
                    &budget_text(&event.kind, &budget),
                )),
                Err(err) => {
                    tracing::warn!(event = event.id, "a budget event did not parse: {err}");
                    Ok(Vec::new())
                }
            };
        }
        if event.kind.starts_with("deployment.") {
            let deployment = match serde_json::from_value::<DeploymentOut>(event.data.clone()) {
                Ok(deployment) => deployment,
                Err(err) => {
                    tracing::warn!(event = event.id, "a deployment event did not parse: {err}");
                    return Ok(Vec::new());
                }
            };
            // Told once, when it ends: the change that made it final sets `finished_at`
            // to its own time (a repeat of the final status later does not).
            if !deployment.status.is_final()
                || deployment.finished_at != Some(deployment.updated_at)
            {
                return Ok(Vec::new());
            }
            return Ok(one_each(
                self.chats_wanting("deploy").await?,
                &deployment_text(&deployment),
                None,
                deployment.status == DeploymentStatus::Healthy,
            ));
        }
        if event.kind.starts_with("pairing.") {
            return match serde_json::from_value::<PairingOut>(event.data.clone()) {
                Ok(pairing) if pairing.channel == CHANNEL => {
                    self.pairing_news(&event.kind, &pairing).await
                }
                Ok(_) => Ok(Vec::new()),
                Err(err) => {
                    tracing::warn!(event = event.id, "a pairing event did not parse: {err}");
                    Ok(Vec::new())
                }
            };
        }
        if event.kind == "tool.created" {
            return match serde_json::from_value::<ToolOut>(event.data.clone()) {
                Ok(tool) => self.tool_news(&tool).await,
                Err(err) => {
                    tracing::warn!(event = event.id, "a tool event did not parse: {err}");
                    Ok(Vec::new())
                }
            };
        }
        if event.kind.starts_with("approval.") {
            let approval = match serde_json::from_value::<ApprovalOut>(event.data.clone()) {
                Ok(approval) => approval,
                Err(err) => {
                    tracing::warn!(event = event.id, "an approval event did not parse: {err}");
                    return Ok(Vec::new());
                }
            };
            return Ok(match self.audience_of(approval.thread_id).await? {
                Audience::Chat(chat) if self.allowed(ChatId(chat)).await? => vec![(
                    ChatId(chat),
                    What::Edit {
                        thread: approval.thread_id,
                        approval: Box::new(approval),
                    },
                )],
                _ => Vec::new(),
            });
        }
        if event.kind == "thread.message" {
            match serde_json::from_value::<MessageOut>(event.data.clone()) {
                Ok(message) => self.message_out(message).await,
                Err(err) => {
                    tracing::warn!(
                        event = event.id,
                        "a thread.message event did not parse: {err}"
                    );
                    Ok(Vec::new())
                }
            }
        } else {
            match serde_json::from_value::<TaskOut>(event.data.clone()) {
                Ok(task) => self.notifications(&event.kind, &task).await,
                Err(err) => {
                    tracing::warn!(event = event.id, "a task event did not parse: {err}");
                    Ok(Vec::new())
                }
            }
        }
    }

    /// Follows the event stream until `stop`: hands what each event owes a chat (the
    /// Chief of Staff's messages in Telegram threads and the bot's own answers to their
    /// chats, task outcomes and budget alerts to every allowed chat) to that chat's
    /// paced queue ([`outbox`]).
    ///
    /// It resumes after the event saved in its cursor ([`cursor_name`](Self::cursor_name);
    /// on the very first start, the stream's head). The cursor moves only past events
    /// every chat has received, and each chat keeps a cursor of its own, so a restart
    /// sends what happened while the bot was down and what was still queued, and at
    /// worst repeats, per chat, the one message it was sending. A Telegram outage, flood
    /// control (429, waiting as long as Telegram asks) or a platform failure is retried
    /// until it passes; a message Telegram refuses for good (a chat that blocked the
    /// bot) is skipped. If the cursor is older than the platform's event retention, the
    /// events in between are gone: that is logged, and the relay goes on with what
    /// retention kept.
    ///
    /// # Errors
    /// If the platform cannot be read at the start, or refuses the stream for good
    /// (a revoked key).
    pub async fn run_relay(&self, stop: CancellationToken) -> Result<(), BotError> {
        let stop = &stop;
        relay_events(
            &self.inner.bot,
            &self.inner.platform,
            &self.inner.cursor,
            RELAYED,
            stop,
            |event| async move { self.outgoing_until_done(&event, stop).await },
        )
        .await
    }

    /// What `event` owes the chats, retrying platform failures with back-off; `None` if
    /// `stop` came first.
    async fn outgoing_until_done(
        &self,
        event: &agentops_sdk::types::Event,
        stop: &CancellationToken,
    ) -> Option<Vec<(ChatId, What)>> {
        let what = format!("event {}: reading what to relay", event.id);
        match outbox::keep_trying(
            stop,
            &what,
            || self.outgoing(event),
            BotError::is_transient,
            |_| None,
        )
        .await?
        {
            Ok(items) => Some(items),
            // Logged: not relayed.
            Err(_) => Some(Vec::new()),
        }
    }

    /// Receives updates by long polling (teloxide's `Polling`, `getUpdates`) until
    /// `stop`, for local use; it first removes any webhook, since Telegram allows only
    /// one way. Each update is kept on the platform before the next `getUpdates`
    /// confirms it ([`accept`](Self::accept)), then handled on a task of its own (in
    /// order within its chat). On `stop` it waits a while for the updates in progress.
    ///
    /// # Errors
    /// If the webhook cannot be removed.
    pub async fn poll(&self, stop: CancellationToken) -> Result<(), BotError> {
        self.inner.bot.delete_webhook().await?;
        let mut polling = Polling::builder(self.inner.bot.clone())
            .timeout(Duration::from_secs(25))
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .backoff_strategy(|errors| {
                Duration::from_millis(500).saturating_mul(1 << errors.min(6))
            })
            .build();
        let stopper = polling.stop_token();
        let stream = polling.as_stream();
        futures_util::pin_mut!(stream);
        // Once stopped, the listener hands out what it had already read, then confirms it
        // all with one last short call: those updates are kept (and handled) too, or
        // the next start would see them again. `hard` ends that after a while, so an
        // unreachable Telegram or platform does not hold the shutdown for long.
        let hard = CancellationToken::new();
        {
            let (stop, hard) = (stop.clone(), hard.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    () = hard.cancelled() => return,
                }
                stopper.stop();
                tokio::time::sleep(Duration::from_secs(5)).await;
                hard.cancel();
            });
        }
        // Chats are handled side by side, each in order ([`lanes`]); a stop waits a
        // while for those in progress.
        let handling = tokio_util::task::TaskTracker::new();
        loop {
            let next = tokio::select! {
                next = stream.next() => next,
                () = hard.cancelled() => break,
            };
            match next {
                Some(Ok(update)) => {
                    // Kept on the platform before the next `getUpdates` confirms it, so a
                    // crash leaves it for the next start; if the platform cannot keep
                    // it now, the listener waits (nothing is confirmed meanwhile).
                    let Some(accepted) = self.keep_polled(update, &hard).await else {
                        break;
                    };
                    let bot = self.clone();
                    handling.spawn(async move { bot.handle_accepted(accepted).await });
                }
                Some(Err(err)) => tracing::warn!("getUpdates failed: {err}"),
                None => break,
            }
        }
        hard.cancel();
        handling.close();
        if tokio::time::timeout(SENDERS_STOP * 2, handling.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "stopping with updates still being handled; the next start handles them again"
            );
        }
        Ok(())
    }

    /// [`accept`](Self::accept) for a polled update, retried while the platform is
    /// down; `None` if `stop` comes first.
    async fn keep_polled(&self, update: Update, stop: &CancellationToken) -> Option<Accepted> {
        let kept = outbox::keep_trying(
            stop,
            "keeping a polled update",
            || self.accept(update.clone()),
            BotError::is_transient,
            |_| None,
        )
        .await?;
        // Refused for good (logged): handled without being kept.
        Some(kept.unwrap_or_else(|_| self.arrived(update)))
    }

    /// Points Telegram at the webhook `url`, with `secret` to be sent back in
    /// `X-Telegram-Bot-Api-Secret-Token` on every call.
    ///
    /// # Errors
    /// If `url` is not a URL or Telegram refuses.
    pub async fn set_webhook(&self, url: &str, secret: &str) -> Result<(), BotError> {
        use teloxide::payloads::SetWebhookSetters;
        let url = reqwest::Url::parse(url)
            .map_err(|err| BotError::Setup(format!("the webhook URL `{url}`: {err}")))?;
        self.inner
            .bot
            .set_webhook(url)
            .secret_token(secret.to_owned())
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .await?;
        Ok(())
    }
}
