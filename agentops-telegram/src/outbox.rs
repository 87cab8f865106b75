//! One outgoing queue per chat, through which everything the bot relays goes.
//!
//! The relay reads the platform's event stream in order and hands each chat what it
//! should see to that chat's queue; one sender per chat delivers its queue in order, so
//! a chat whose sends keep failing (one that blocked the bot, a message Telegram refuses)
//! or a long queue for one chat never holds up another. Pacing within Telegram's limits
//! is teloxide's `Throttle` (about one message a second per chat, 20 a minute per group,
//! 30 a second in all); a `429 retry_after` freezes all of the bot's sends as long as
//! Telegram asks (its `Throttle` cannot tell a chat's flood limit from the bot's), then
//! they go on. On top of it a sender retries transport failures and 5xx answers with
//! back-off until they pass.
//!
//! **Digests.** What waits in a chat's queue while the previous message is being sent
//! is read together: consecutive task notices of one kind become one message ("✅ 12
//! tasks completed in Big: …"), so 70 completions arrive as a few messages rather than
//! 70 at one a second; routine ✅ messages are sent silently (`disable_notification`).
//!
//! **Nothing is lost across a restart.** Nothing here is only in memory: what a chat is
//! owed is the event log after two cursors kept on the platform. The relay's cursor
//! (`telegram.<bot id>`) moves only past events every chat has received
//! ([`Progress::watermark`]), and each chat's own cursor (`telegram.<bot id>.chat.<id>`)
//! past what that chat has received, so after a restart the relay reads again from the
//! oldest event some chat still lacked, and each chat skips what it already had: at
//! worst the one message that was being sent when the process died is sent again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentops_sdk::text::truncate;
use agentops_sdk::{CancellationToken, Client};
use teloxide::types::ChatId;
use tokio::sync::{Notify, mpsc};
use tokio_util::task::TaskTracker;

use agentops_sdk::types::ApprovalOut;
use serde_json::{Value, json};
use teloxide::payloads::EditMessageTextSetters;
use teloxide::requests::Requester;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, MessageId, ParseMode};

use crate::messages::{self, Bot, Outgoing};
use crate::plans;

/// Items in all queues at most; the relay waits for the senders beyond it, so a long
/// Telegram outage does not fill the memory (what waits stays in the event log).
const IN_FLIGHT_MAX: usize = 5_000;

/// The longest reason a notice shows (a failure's error, a block's question), in
/// characters: the rest of Telegram's 4,096 is for the rest of the notice.
const DETAIL_MAX: usize = 3_000;

/// Lines a digest lists; the rest are counted ("and 40 more").
const DIGEST_LINES: usize = 30;

/// The first pause before a failed send is tried again; it doubles up to a minute.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// What one chat should see because of one event, in order.
#[derive(Debug)]
struct Entry {
    event: i64,
    whats: Vec<What>,
}

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// One message (a piece of a long text, with its buttons).
    Say(Outgoing),
    /// The message that proposes plan `approval` of thread `thread` (with its buttons):
    /// once sent, its id is noted ([`crate::plans`]) so it can be edited later.
    Plan {
        /// The message.
        message: Outgoing,
        /// The chat's thread.
        thread: uuid::Uuid,
        /// The plan.
        approval: uuid::Uuid,
    },
    /// The plan's message, edited to say what became of the plan (approved by whom,
    /// done, failed and why, rejected, dropped), its buttons gone.
    Edit {
        /// The chat's thread.
        thread: uuid::Uuid,
        /// The plan as it now stands.
        approval: Box<agentops_sdk::types::ApprovalOut>,
    },
    /// A task's outcome: read together with the notices next to it in the queue.
    Notice(Notice),
    /// An answer said aloud (`sendVoice`), after its text.
    Voice(Voice),
}

/// A voice message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    /// Where.
    pub chat: ChatId,
    /// OGG/Opus.
    pub audio: Arc<Vec<u8>>,
    /// Shown as a reply to this message of the chat.
    pub reply_to: Option<i32>,
}

/// A task's outcome, for a chat.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// What happened.
    pub kind: NoticeKind,
    /// The task's project, if known.
    pub project: Option<String>,
    /// `#code "title"`.
    pub task: String,
    /// Why it failed or blocked.
    pub detail: Option<String>,
    /// The task's short code, for "unblock #code with …".
    pub code: String,
    /// The task's id, for the buttons under a blocked task's notice.
    pub id: uuid::Uuid,
}

/// Kinds of task outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// `task.completed`.
    Completed,
    /// `task.failed`, `task.dead`.
    Failed,
    /// `task.blocked`: it needs a person.
    Blocked,
    /// `task.cancelled` (by a person, or because a task it waited for failed).
    Cancelled,
}

/// Which events every chat has received: the relay's cursor may move past them.
#[derive(Debug, Default)]
pub struct Progress {
    /// The last event the relay read (and handed out).
    read: i64,
    /// Events some chat has not received yet, with how many chats still lack them.
    pending: BTreeMap<i64, usize>,
    /// Events waiting in the queues, counted once per chat.
    in_flight: usize,
}

impl Progress {
    /// Starts at `read`, the relay's saved cursor.
    pub fn starting_at(read: i64) -> Self {
        Self {
            read,
            ..Self::default()
        }
    }

    /// Event `event` was read and handed to `chats` chats.
    pub fn handed_out(&mut self, event: i64, chats: usize) {
        self.read = self.read.max(event);
        if chats > 0 {
            *self.pending.entry(event).or_default() += chats;
            self.in_flight += chats;
        }
    }

    /// One chat has received (or given up on) what `event` owed it.
    pub fn delivered(&mut self, event: i64) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(left) = self.pending.get_mut(&event) {
            *left -= 1;
            if *left == 0 {
                self.pending.remove(&event);
            }
        }
    }

    /// The last event such that every chat has received it and every one before it.
    pub fn watermark(&self) -> i64 {
        self.pending
            .keys()
            .next()
            .map_or(self.read, |first| (first - 1).min(self.read))
    }
}

/// The queues, and what their senders share.
#[derive(Debug)]
pub struct Outbox {
    bot: Bot,
    platform: Client,
    /// The relay's cursor name; a chat's is `{cursor}.chat.{id}`.
    cursor: String,
    queues: Mutex<HashMap<ChatId, mpsc::UnboundedSender<Entry>>>,
    progress: Mutex<Progress>,
    /// Told each time items leave the queues.
    drained: Notify,
    stop: CancellationToken,
    /// The senders, so [`finish`](Self::finish) can wait for them.
    senders: TaskTracker,
}

impl Outbox {
    /// Queues whose senders run until `stop`, starting from the relay's cursor `read`.
    pub fn new(
        bot: Bot,
        platform: Client,
        cursor: String,
        read: i64,
        stop: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            bot,
            platform,
            cursor,
            queues: Mutex::new(HashMap::new()),
            progress: Mutex::new(Progress::starting_at(read)),
            drained: Notify::new(),
            stop,
            senders: TaskTracker::new(),
        })
    }

    /// Stops the senders and waits (up to `within`) until they have: a relay that
    /// starts over must not send beside the senders of the one before.
    pub async fn finish(&self, within: std::time::Duration) {
        self.stop.cancel();
        self.senders.close();
        if tokio::time::timeout(within, self.senders.wait())
            .await
            .is_err()
        {
            tracing::warn!("a chat's sender did not stop within {within:?}");
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The last event every chat has received.
    pub fn watermark(&self) -> i64 {
        self.progress().watermark()
    }

    /// Hands out what event `event` owes to chats, each chat's items in order. Waits
    /// while the queues are full.
    pub async fn hand_out(self: &Arc<Self>, event: i64, items: Vec<(ChatId, What)>) {
        loop {
            let drained = self.drained.notified();
            if self.progress().in_flight < IN_FLIGHT_MAX || self.stop.is_cancelled() {
                break;
            }
            drained.await;
        }
        let mut by_chat: Vec<(ChatId, Vec<What>)> = Vec::new();
        for (chat, what) in items {
            match by_chat.iter_mut().find(|(c, _)| *c == chat) {
                Some((_, list)) => list.push(what),
                None => by_chat.push((chat, vec![what])),
            }
        }
        self.progress().handed_out(event, by_chat.len());
        for (chat, whats) in by_chat {
            // A sender ends only at `stop`; what it did not take is read again from
            // the event log at the next start.
            let _ = self.queue(chat).send(Entry { event, whats });
        }
    }

    /// Chat `chat`'s queue, its sender started on first use.
    fn queue(self: &Arc<Self>, chat: ChatId) -> mpsc::UnboundedSender<Entry> {
        let mut queues = self
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        queues
            .entry(chat)
            .or_insert_with(|| {
                let (send, receive) = mpsc::unbounded_channel();
                let outbox = self.clone();
                self.senders
                    .spawn(async move { outbox.run_chat(chat, receive).await });
                send
            })
            .clone()
    }

    fn chat_cursor(&self, chat: ChatId) -> String {
        format!("{}.chat.{}", self.cursor, chat.0)
    }

    /// Delivers chat `chat`'s queue in order until `stop`: what waits is read together
    /// ([`compose`]), each message sent until Telegram has it, and the chat's cursor
    /// moved past each event once all it owed the chat is sent.
    async fn run_chat(self: Arc<Self>, chat: ChatId, mut queue: mpsc::UnboundedReceiver<Entry>) {
        let name = self.chat_cursor(chat);
        // Without it the chat would be sent again what it already has: it is read until
        // the platform answers.
        let what = format!("chat {}: reading its cursor", chat.0);
        let events = self.platform.events();
        let read = keep_trying(
            &self.stop,
            &what,
            || events.cursor(&name),
            |_| true,
            |_| None,
        );
        let mut had = match read.await {
            Some(Ok(cursor)) => cursor.map_or(0, |c| c.last_id),
            _ => return,
        };
        loop {
            let first = tokio::select! {
                () = self.stop.cancelled() => return,
                entry = queue.recv() => match entry {
                    Some(entry) => entry,
                    None => return,
                },
            };
            let mut batch = vec![first];
            while let Ok(more) = queue.try_recv() {
                batch.push(more);
            }
            // What the chat received before a restart is not read again (nor put in a
            // digest with what is new).
            let (old, mut batch): (Vec<Entry>, Vec<Entry>) =
                batch.into_iter().partition(|entry| entry.event <= had);
            if !old.is_empty() {
                let mut progress = self.progress();
                for entry in &old {
                    progress.delivered(entry.event);
                }
                drop(progress);
                self.drained.notify_waiters();
            }
            if batch.is_empty() {
                continue;
            }
            batch.shrink_to_fit();
            // Each item with the index of its entry.
            let flat: Vec<(usize, &What)> = batch
                .iter()
                .enumerate()
                .flat_map(|(e, entry)| entry.whats.iter().map(move |w| (e, w)))
                .collect();
            let whats: Vec<&What> = flat.iter().map(|(_, w)| *w).collect();
            let mut done = 0;
            for (range, step) in compose(chat, &whats) {
                // Stopped (a restart of the relay): the next sender goes on from the
                // chat's cursor; this one must not send beside it.
                if self.stop.is_cancelled() {
                    return;
                }
                let last = flat[range.end - 1].0;
                let carried_on = match step {
                    Step::Send(message, plan) => self.send(&message, plan).await,
                    Step::Edit(thread, approval) => self.edit(chat, thread, approval).await,
                    Step::Voice(voice) => self.speak(&voice).await,
                };
                if !carried_on {
                    return;
                }
                // Entries whose every item is now sent.
                let covered = if flat.get(range.end).is_some_and(|(e, _)| *e == last) {
                    last
                } else {
                    last + 1
                };
                if covered > done {
                    let through = batch[covered - 1].event;
                    if through > had {
                        had = through;
                        if let Err(err) = self.platform.events().save_cursor(&name, had).await {
                            tracing::warn!(chat = chat.0, "cannot save the chat's cursor: {err}");
                        }
                    }
                    let mut progress = self.progress();
                    for entry in &batch[done..covered] {
                        progress.delivered(entry.event);
                    }
                    drop(progress);
                    done = covered;
                    self.drained.notify_waiters();
                }
            }
        }
    }

    /// Sends `message`, trying again while the failure may pass; `false` if `stop`
    /// came first. A message Telegram refuses for good (the chat blocked the bot, a bad
    /// request) is logged and dropped. The message of a plan is noted, to be edited
    /// later.
    async fn send(&self, message: &Outgoing, plan: Option<(uuid::Uuid, uuid::Uuid)>) -> bool {
        let sent = self
            .until_done(message.chat, || async { message.send(&self.bot).await })
            .await;
        match (sent, plan) {
            (None, _) => false,
            (Some(Some(sent)), Some((thread, approval))) => {
                let id = sent.id.0;
                // Without the note the plan's message is never edited: noted until the
                // platform takes it.
                self.on_platform(message.chat, || async {
                    plans::write(&self.platform, thread, approval, json!({"message": id})).await
                })
                .await
                .is_some()
            }
            (Some(_), _) => true,
        }
    }

    /// Sends `voice`; `false` if `stop` came first. One Telegram refuses for good is
    /// skipped (its text was sent).
    async fn speak(&self, voice: &Voice) -> bool {
        use teloxide::payloads::SendVoiceSetters;
        let sent = self
            .until_done(voice.chat, || async {
                let file = teloxide::types::InputFile::memory(voice.audio.as_ref().clone())
                    .file_name("answer.ogg");
                let mut request = self.bot.send_voice(voice.chat, file);
                if let Some(id) = voice.reply_to {
                    request = request.reply_parameters(
                        teloxide::types::ReplyParameters::new(MessageId(id))
                            .allow_sending_without_reply(),
                    );
                }
                request.await
            })
            .await;
        sent.is_some()
    }

    /// Edits the message of plan `approval` (in thread `thread`) to say what became of
    /// it; `false` if `stop` came first. A plan whose message was never sent (or whose
    /// note is gone) has nothing to edit.
    async fn edit(&self, chat: ChatId, thread: uuid::Uuid, approval: Box<ApprovalOut>) -> bool {
        let Some(note) = self
            .on_platform(chat, || async {
                plans::read(&self.platform, thread, approval.id).await
            })
            .await
        else {
            return false;
        };
        let (Some(message), Some(text)) = (note.message, plans::text(&approval, &note)) else {
            return true;
        };
        let edited = self
            .until_done(chat, || async {
                self.bot
                    .edit_message_text(chat, MessageId(message), text.clone())
                    .parse_mode(ParseMode::Html)
                    .reply_markup(InlineKeyboardMarkup::default())
                    .await
            })
            .await;
        if edited.is_none() {
            return false;
        }
        if plans::is_final(approval.status)
            && let Err(err) = plans::write(&self.platform, thread, approval.id, Value::Null).await
        {
            tracing::warn!(approval = %approval.id, "cannot forget the plan's note: {err}");
        }
        true
    }

    /// Runs `call` (a platform request) until it succeeds, trying again while the
    /// failure may pass (a 5xx, no answer); `None` if `stop` came first. A failure for
    /// good is logged and taken as done (`Some` of a default answer).
    async fn on_platform<T: Default, F, Fut>(&self, chat: ChatId, call: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, agentops_sdk::Error>>,
    {
        let what = format!("chat {}: the platform", chat.0);
        keep_trying(&self.stop, &what, call, crate::platform_may_pass, |_| None)
            .await
            .map(Result::unwrap_or_default)
    }

    /// Runs `call` (a Bot API request) until it succeeds (`Some(Some(answer))`) or
    /// fails for good (`Some(None)`, logged), trying again while the failure may pass
    /// (after as long as a 429 asks); `None` if `stop` came first.
    async fn until_done<T, F, Fut>(&self, chat: ChatId, call: F) -> Option<Option<T>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, teloxide::RequestError>>,
    {
        let what = format!("chat {}: Telegram", chat.0);
        keep_trying(
            &self.stop,
            &what,
            call,
            messages::is_transient,
            messages::retry_after,
        )
        .await
        .map(Result::ok)
    }
}

/// Runs `call` until it succeeds (`Some(Ok)`) or fails for good (`Some(Err)`, logged),
/// trying again while `passing` says the failure may pass: after as long as `asked`
/// says, else with back-off from [`RETRY_MIN`] to [`RETRY_MAX`]. `None` if `stop` came
/// first. `what` names the call in the logs. Every retry loop of the bot is this one.
pub(crate) async fn keep_trying<T, E, F, Fut>(
    stop: &CancellationToken,
    what: &str,
    call: F,
    passing: impl Fn(&E) -> bool,
    asked: impl Fn(&E) -> Option<Duration>,
) -> Option<Result<T, E>>
where
    E: std::fmt::Display,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut pause = RETRY_MIN;
    loop {
        if stop.is_cancelled() {
            return None;
        }
        let err = match call().await {
            Ok(answer) => return Some(Ok(answer)),
            Err(err) => err,
        };
        if !passing(&err) {
            tracing::warn!("{what}: refused: {err}");
            return Some(Err(err));
        }
        let wait = asked(&err).unwrap_or(pause);
        tracing::warn!("{what}: failed, trying again in {wait:?}: {err}");
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(wait) => {}
        }
        pause = (pause * 2).min(RETRY_MAX);
    }
}

/// One call to Telegram for one chat.
#[derive(Debug)]
enum Step {
    /// Send a message (noting it as plan `(thread, approval)`'s message).
    Send(Outgoing, Option<(uuid::Uuid, uuid::Uuid)>),
    /// Edit a plan's message.
    Edit(uuid::Uuid, Box<ApprovalOut>),
    /// Send a voice message.
    Voice(Voice),
}

/// The messages that say `whats` (one chat's queue, in order), each with the range of
/// `whats` it says: a message as it is; consecutive task notices of one kind as one
/// digest.
fn compose(chat: ChatId, whats: &[&What]) -> Vec<(std::ops::Range<usize>, Step)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < whats.len() {
        match whats[i] {
            What::Say(message) => {
                out.push((i..i + 1, Step::Send(message.clone(), None)));
                i += 1;
            }
            What::Voice(voice) => {
                out.push((i..i + 1, Step::Voice(voice.clone())));
                i += 1;
            }
            What::Plan {
                message,
                thread,
                approval,
            } => {
                out.push((
                    i..i + 1,
                    Step::Send(message.clone(), Some((*thread, *approval))),
                ));
                i += 1;
            }
            What::Edit { thread, approval } => {
                out.push((i..i + 1, Step::Edit(*thread, approval.clone())));
                i += 1;
            }
            What::Notice(first) => {
                let mut end = i + 1;
                while let Some(What::Notice(next)) = whats.get(end)
                    && next.kind == first.kind
                {
                    end += 1;
                }
                let notices: Vec<&Notice> = whats[i..end]
                    .iter()
                    .filter_map(|w| match w {
                        What::Notice(n) => Some(n),
                        _ => None,
                    })
                    .collect();
                out.push((i..end, Step::Send(digest(chat, &notices), None)));
                i = end;
            }
        }
    }
    out
}

/// One message for task notices of one kind, in Telegram's HTML: the notice itself when
/// it is alone, else "✅ 12 tasks completed in Big: …". Completions are routine: sent
/// silently.
fn digest(chat: ChatId, notices: &[&Notice]) -> Outgoing {
    use messages::escape as e;
    let kind = notices[0].kind;
    let answer_with = "Answer with: <code>unblock #code with &lt;your answer&gt;</code>";
    let text = if let [one] = notices {
        let place = one
            .project
            .as_deref()
            .map(|p| format!(" in {}", e(p)))
            .unwrap_or_default();
        let task = e(&truncate(&one.task, 600));
        // A reason may be 10,000 characters: cut to leave the message within the limit.
        let detail = e(&truncate(
            one.detail.as_deref().unwrap_or("(no reason given)"),
            DETAIL_MAX,
        ));
        match kind {
            NoticeKind::Completed => format!("✅ Task {task} completed{place}."),
            NoticeKind::Failed => format!("❌ <b>Task {task} failed</b>{place}: {detail}"),
            NoticeKind::Blocked => format!(
                "⏸ <b>Task {task}{place} needs you</b>: {detail}\n{}",
                answer_with.replace("#code", &format!("#{}", e(&one.code)))
            ),
            NoticeKind::Cancelled => format!("🚫 Task {task} cancelled{place}: {detail}"),
        }
    } else {
        let mut projects: Vec<&str> = notices
            .iter()
            .filter_map(|n| n.project.as_deref())
            .collect();
        projects.dedup();
        let one_project = projects.len() == 1 && notices.iter().all(|n| n.project.is_some());
        let place = if one_project {
            format!(" in {}", e(projects[0]))
        } else {
            String::new()
        };
        let count = notices.len();
        let head = match kind {
            NoticeKind::Completed => format!("✅ <b>{count} tasks completed{place}</b>:"),
            NoticeKind::Failed => format!("❌ <b>{count} tasks failed{place}</b>:"),
            NoticeKind::Blocked => format!("⏸ <b>{count} tasks need you{place}</b>:"),
            NoticeKind::Cancelled => format!("🚫 <b>{count} tasks cancelled{place}</b>:"),
        };
        let mut lines = vec![head];
        // Listed while they fit in one message as shown; the rest are counted.
        let mut shown = 200;
        let mut listed = 0;
        for n in notices.iter().take(DIGEST_LINES) {
            let project = match (&n.project, one_project) {
                (Some(p), false) => format!("{p}: "),
                _ => String::new(),
            };
            let detail = n
                .detail
                .as_deref()
                .map(|d| format!(": {}", truncate(&d.replace('\n', " "), 200)))
                .unwrap_or_default();
            let line = format!("• {project}{}{detail}", truncate(&n.task, 200));
            shown += line.chars().count() + 1;
            if shown > messages::MAX_TEXT {
                break;
            }
            lines.push(e(&line));
            listed += 1;
        }
        if count > listed {
            lines.push(format!("… and {} more.", count - listed));
        }
        if kind == NoticeKind::Blocked {
            lines.push(answer_with.to_owned());
        }
        lines.join("\n")
    };
    // A task that needs a person, alone: answer it, cancel it or see it, in one tap.
    let buttons = match notices {
        [one] if kind == NoticeKind::Blocked => {
            Some(InlineKeyboardMarkup::new([blocked_task_buttons(one.id)]))
        }
        _ => None,
    };
    Outgoing {
        chat,
        // Within the limit as shown: 30 lines of at most ~700 characters each.
        text,
        buttons,
        silent: kind == NoticeKind::Completed,
        force_reply: false,
        reply_to: None,
    }
}

/// The buttons under a blocked task's question: answer it, cancel it or see it.
pub(crate) fn blocked_task_buttons(task: uuid::Uuid) -> Vec<InlineKeyboardButton> {
    vec![
        InlineKeyboardButton::callback("✍ Answer", format!("answer:{task}")),
        InlineKeyboardButton::callback("🚫 Cancel", format!("cancel:{task}")),
        InlineKeyboardButton::callback("ℹ Status", format!("status:{task}")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::MAX_TEXT;

    /// `html` as Telegram shows it: without tags, entities read.
    fn shown(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    #[test]
    fn the_cursor_moves_only_past_what_every_chat_received() {
        let mut progress = Progress::starting_at(10);
        assert_eq!(progress.watermark(), 10);
        progress.handed_out(11, 2);
        progress.handed_out(12, 0);
        progress.handed_out(13, 1);
        assert_eq!(progress.watermark(), 10);
        progress.delivered(13);
        assert_eq!(progress.watermark(), 10, "11 is still owed to two chats");
        progress.delivered(11);
        assert_eq!(progress.watermark(), 10);
        progress.delivered(11);
        assert_eq!(progress.watermark(), 13);
        assert_eq!(progress.in_flight, 0);
    }

    fn notice(kind: NoticeKind, title: &str, project: &str) -> What {
        What::Notice(Notice {
            kind,
            project: Some(project.into()),
            task: format!("#abcdef \"{title}\""),
            detail: (kind != NoticeKind::Completed).then(|| "why".to_owned()),
            code: "abcdef".into(),
            id: uuid::Uuid::nil(),
        })
    }

    impl Step {
        fn message(&self) -> &Outgoing {
            match self {
                Step::Send(message, _) => message,
                Step::Edit(..) | Step::Voice(..) => panic!("not a message"),
            }
        }
    }

    #[test]
    fn notices_next_to_each_other_are_read_together_and_messages_keep_their_place() {
        let chat = ChatId(5);
        let say = What::Say(Outgoing {
            chat,
            text: "Done: …".into(),
            buttons: None,
            silent: false,
            force_reply: false,
            reply_to: None,
        });
        let whats = [
            notice(NoticeKind::Completed, "a", "Big"),
            notice(NoticeKind::Completed, "b", "Big"),
            say.clone(),
            notice(NoticeKind::Completed, "c", "Big"),
            notice(NoticeKind::Failed, "d", "Small"),
            notice(NoticeKind::Failed, "e", "Big"),
        ];
        let refs: Vec<&What> = whats.iter().collect();
        let out = compose(chat, &refs);
        let ranges: Vec<_> = out.iter().map(|(r, _)| r.clone()).collect();
        assert_eq!(ranges, [0..2, 2..3, 3..4, 4..6]);
        assert_eq!(
            shown(&out[0].1.message().text),
            "✅ 2 tasks completed in Big:\n• #abcdef \"a\"\n• #abcdef \"b\""
        );
        assert!(out[0].1.message().silent);
        assert_eq!(shown(&out[1].1.message().text), "Done: …");
        assert_eq!(
            shown(&out[2].1.message().text),
            "✅ Task #abcdef \"c\" completed in Big."
        );
        assert_eq!(
            shown(&out[3].1.message().text),
            "❌ 2 tasks failed:\n• Small: #abcdef \"d\": why\n• Big: #abcdef \"e\": why"
        );
        assert!(!out[3].1.message().silent);
    }

    #[test]
    fn a_long_digest_counts_what_it_does_not_list() {
        let chat = ChatId(5);
        let whats: Vec<What> = (0..70)
            .map(|i| notice(NoticeKind::Blocked, &format!("t{i}"), "Big"))
            .collect();
        let refs: Vec<&What> = whats.iter().collect();
        let out = compose(chat, &refs);
        assert_eq!(out.len(), 1);
        let text = &shown(&out[0].1.message().text);
        assert!(text.starts_with("⏸ 70 tasks need you in Big:\n"), "{text}");
        assert!(text.contains("… and 40 more."), "{text}");
        assert!(text.ends_with("Answer with: unblock #code with <your answer>"));
        assert!(text.chars().count() <= MAX_TEXT);
    }
}
