//! What the bot sends, and how it talks to the Bot API.
//!
//! The Bot API is spoken by [teloxide](https://docs.rs/teloxide): typed methods, its
//! [`Throttle`] adaptor keeping every send within Telegram's limits (about one message
//! a second per chat, 20 a minute per group, 30 a second in all; a `429 retry_after`
//! freezes the sends as long as Telegram asks, then the send is tried again), and
//! [`CacheMe`] so `getMe` is asked once. Point it at any Bot API server (a local one,
//! or a stand-in in tests) with `TELEGRAM_API_URL`.
//!
//! Texts longer than Telegram's 4,096 characters are split ([`split`]) into as many
//! messages as it takes, buttons on the last one ([`messages`]).

use std::time::Duration;

use teloxide::adaptors::throttle::Limits;
use teloxide::adaptors::{CacheMe, Throttle};
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::{Requester, RequesterExt};
use teloxide::types::{
    ChatId, InlineKeyboardButton, InlineKeyboardMarkup, Message, ParseMode, User,
};
use teloxide::{ApiError, RequestError};

/// Telegram's own Bot API.
pub const DEFAULT_BASE: &str = "https://api.telegram.org";

/// Longest text one message may carry.
pub const MAX_TEXT: usize = 4096;

/// The Bot API client the bot uses: sends paced to Telegram's limits, `getMe` cached.
pub type Bot = CacheMe<Throttle<teloxide::Bot>>;

/// A client for the bot with `token` at `base` ([`DEFAULT_BASE`] for Telegram), paced
/// to Telegram's default limits. Call it inside a Tokio runtime: the pacing runs as a
/// task of its own, for as long as a clone of the client lives.
///
/// # Errors
/// If `base` is not a URL or the HTTP client cannot be built.
pub fn connect(base: &str, token: &str) -> Result<Bot, String> {
    let url = reqwest::Url::parse(base.trim_end_matches('/'))
        .map_err(|err| format!("the Bot API URL `{base}` is not a URL: {err}"))?;
    let http = teloxide::net::default_reqwest_settings()
        // Long polling waits up to 25 s on the server side.
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|err| format!("cannot build the Bot API client: {err}"))?;
    Ok(teloxide::Bot::with_client(token, http)
        .set_api_url(url)
        .throttle(Limits::default())
        .cache_me())
}

/// Whether the same call may succeed later: no answer, an unreadable answer (a proxy's
/// error page), flood control (429) or a server-side failure. Anything else (a chat that
/// blocked the bot, a bad request) will not.
///
/// teloxide keeps Telegram's `description` but not its `error_code`, so a failure it
/// does not know by name is judged by the description Telegram gives 5xx answers.
pub fn is_transient(err: &RequestError) -> bool {
    match err {
        RequestError::RetryAfter(_) | RequestError::Network(_) | RequestError::Io(_) => true,
        // A proxy's error page may pass; an answer that says `ok` but does not parse
        // means the call went through: trying again would send it twice.
        RequestError::InvalidJson { raw, .. } => !raw.replace(' ', "").contains("\"ok\":true"),
        RequestError::Api(ApiError::Unknown(description)) => server_side(description),
        _ => false,
    }
}

/// How long Telegram asked to wait before trying again, if it did.
pub fn retry_after(err: &RequestError) -> Option<Duration> {
    match err {
        RequestError::RetryAfter(seconds) => Some(seconds.duration()),
        _ => None,
    }
}

fn server_side(description: &str) -> bool {
    const SERVER_SIDE: [&str; 5] = [
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "too many requests",
    ];
    let description = description.to_ascii_lowercase();
    SERVER_SIDE.iter().any(|s| description.starts_with(s))
        || description
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|code| code.parse::<u16>().ok())
            .is_some_and(|code| (500..600).contains(&code))
}

/// How the bot names a person to the Chief of Staff: `@username`, else their first name.
pub fn display(user: &User) -> String {
    match &user.username {
        Some(username) => format!("@{username}"),
        None => user.first_name.clone(),
    }
}

/// One message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Where.
    pub chat: ChatId,
    /// What, in Telegram's HTML (`parse_mode=HTML`): every text that was not written
    /// here is escaped ([`escape`]); at most [`MAX_TEXT`] characters once shown.
    pub text: String,
    /// Inline buttons under it.
    pub buttons: Option<InlineKeyboardMarkup>,
    /// Sent without a sound (`disable_notification`): routine news.
    pub silent: bool,
    /// Asks for a reply (`ForceReply`): the chat's input box answers this message.
    pub force_reply: bool,
    /// Shown as a reply to this message of the chat (sent anyway if it is gone).
    pub reply_to: Option<i32>,
}

impl Outgoing {
    /// Sends it.
    ///
    /// # Errors
    /// What the Bot API answered.
    pub async fn send(&self, bot: &Bot) -> Result<Message, RequestError> {
        let request = bot
            .send_message(self.chat, self.text.clone())
            .parse_mode(ParseMode::Html)
            .disable_notification(self.silent);
        let request = match self.reply_to {
            Some(id) => request.reply_parameters(
                teloxide::types::ReplyParameters::new(teloxide::types::MessageId(id))
                    .allow_sending_without_reply(),
            ),
            None => request,
        };
        match &self.buttons {
            Some(buttons) => request.reply_markup(buttons.clone()).await,
            None if self.force_reply => {
                request
                    .reply_markup(teloxide::types::ForceReply::new().selective())
                    .await
            }
            None => request.await,
        }
    }
}

/// The media type of a picture from its first bytes (Telegram's photos are JPEG; a
/// picture sent as a file may be PNG, GIF or WebP).
pub fn picture_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(b"GIF8") {
        "image/gif"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else {
        "image/jpeg"
    }
}

/// `text` as Telegram's HTML shows it: `<`, `>` and `&` escaped, nothing else.
pub fn escape(text: &str) -> String {
    teloxide::utils::html::escape(text)
}

/// The messages that send plain `text` to a chat (escaped: a `<` in it is shown, never
/// read as markup): one per piece of at most [`MAX_TEXT`] characters, split before it is
/// escaped so no piece ends inside an `&amp;`, `buttons` (one row) on the last one.
pub fn messages(chat: ChatId, text: &str, buttons: &[InlineKeyboardButton]) -> Vec<Outgoing> {
    let parts = split(text, MAX_TEXT);
    let last = parts.len().saturating_sub(1);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, text)| Outgoing {
            chat,
            text: escape(&text),
            buttons: (i == last && !buttons.is_empty())
                .then(|| InlineKeyboardMarkup::new([buttons.to_vec()])),
            silent: false,
            force_reply: false,
            reply_to: None,
        })
        .collect()
}

/// Sends `text` to a chat, split into as many messages as it takes; `buttons` go on the
/// last one.
///
/// # Errors
/// The first send the Bot API refused.
pub async fn send_text(
    bot: &Bot,
    chat: ChatId,
    text: &str,
    buttons: &[InlineKeyboardButton],
) -> Result<(), RequestError> {
    for message in messages(chat, text, buttons) {
        message.send(bot).await?;
    }
    Ok(())
}

/// Plain `text` with plain `footer` in bold on a line of its own below it, in Telegram's
/// HTML, within [`MAX_TEXT`] shown characters (the text is cut, never the footer): a
/// message edited to say what became of it.
pub fn with_footer(text: &str, footer: &str) -> String {
    let footer = agentops_sdk::text::truncate(footer, FOOTER_MAX);
    let room = MAX_TEXT.saturating_sub(footer.chars().count() + 2);
    format!(
        "{}\n\n<b>{}</b>",
        escape(&agentops_sdk::text::truncate(text.trim_end(), room)),
        escape(&footer)
    )
}

/// The longest footer [`with_footer`] puts under a text (a failed plan's reason may be
/// 10,000 characters).
const FOOTER_MAX: usize = 1_000;

/// Splits `text` into pieces of at most `max` characters, at line breaks where it can,
/// else at spaces, else anywhere.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    if rest.is_empty() {
        return vec!["…".to_owned()];
    }
    while rest.chars().count() > max {
        let cut_at = rest
            .char_indices()
            .nth(max)
            .map_or(rest.len(), |(index, _)| index);
        let window = &rest[..cut_at];
        let cut = window
            .rfind('\n')
            .filter(|&i| i > 0)
            .or_else(|| window.rfind(' ').filter(|&i| i > 0))
            .unwrap_or(cut_at);
        parts.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use teloxide::types::{Update, UpdateKind};

    #[test]
    fn an_answer_that_says_ok_is_not_sent_again() {
        let invalid = |raw: &str| teloxide::RequestError::InvalidJson {
            source: std::sync::Arc::new(serde_json::from_str::<u8>("x").unwrap_err()),
            raw: raw.into(),
        };
        // Delivered, but the answer did not parse: sending again would send it twice.
        assert!(!super::is_transient(&invalid(
            r#"{"ok": true, "result": {"odd": 1}}"#
        )));
        // A proxy's error page: worth another try.
        assert!(super::is_transient(&invalid(
            "<html>502 Bad Gateway</html>"
        )));
    }

    use super::*;

    #[test]
    fn long_texts_are_split_at_lines_then_words_and_never_over_the_limit() {
        let text = format!("{}\n{}", "a".repeat(3000), "b ".repeat(1500));
        let parts = split(&text, MAX_TEXT);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], "a".repeat(3000));
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT));
        let solid = "é".repeat(9000);
        let parts = split(&solid, MAX_TEXT);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), solid);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT));
        assert_eq!(split("short", MAX_TEXT), ["short"]);
    }

    #[test]
    fn text_from_elsewhere_is_shown_as_written_never_read_as_markup() {
        let out = messages(ChatId(1), "if a < b && c > d: <b>not bold</b>", &[]);
        assert_eq!(
            out[0].text,
            "if a &lt; b &amp;&amp; c &gt; d: &lt;b&gt;not bold&lt;/b&gt;"
        );
        assert_eq!(
            with_footer("x < y", "✅ Approved by <ana>"),
            "x &lt; y\n\n<b>✅ Approved by &lt;ana&gt;</b>"
        );
    }

    #[test]
    fn buttons_ride_on_the_last_piece_only() {
        let text = format!("{}\n{}", "a".repeat(4090), "b".repeat(10));
        let button = InlineKeyboardButton::callback("OK", "approve:x");
        let sent = messages(ChatId(5), &text, std::slice::from_ref(&button));
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].buttons, None);
        let markup = serde_json::to_value(sent[1].buttons.as_ref().unwrap()).unwrap();
        assert_eq!(
            markup,
            json!({"inline_keyboard": [[{"text": "OK", "callback_data": "approve:x"}]]})
        );
    }

    #[test]
    fn updates_parse_from_telegrams_json() {
        // As the webhook reads it: from the body's bytes (teloxide's `Update` reads
        // callback queries from text, not from an already parsed `serde_json::Value`).
        let update: Update = serde_json::from_str(
            r#"{"update_id": 7, "callback_query": {"id": "q1",
                "from": {"id": 1, "is_bot": false, "first_name": "Ana"},
                "message": {"message_id": 3, "chat": {"id": -100, "type": "group", "title": "Ops"}, "date": 0},
                "chat_instance": "42", "data": "approve:x"}}"#,
        )
        .unwrap();
        let UpdateKind::CallbackQuery(query) = update.kind else {
            panic!("{update:?}")
        };
        assert_eq!(query.message.unwrap().chat().id, ChatId(-100));
        assert_eq!(display(&query.from), "Ana");
    }

    #[test]
    fn failures_worth_retrying_are_told_apart_from_final_ones() {
        let unknown = |text: &str| RequestError::Api(ApiError::Unknown(text.into()));
        assert!(is_transient(&unknown("Bad Gateway")));
        assert!(is_transient(&unknown("Internal Server Error: restart")));
        assert!(is_transient(&unknown("502 Bad Gateway")));
        assert!(!is_transient(&unknown(
            "Bad Request: chat not found, maybe"
        )));
        assert!(!is_transient(&RequestError::Api(ApiError::BotBlocked)));
        assert!(is_transient(&RequestError::RetryAfter(
            teloxide::types::Seconds::from_seconds(3)
        )));
        assert_eq!(
            retry_after(&RequestError::RetryAfter(
                teloxide::types::Seconds::from_seconds(3)
            )),
            Some(Duration::from_secs(3))
        );
    }
}
