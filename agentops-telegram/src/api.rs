//! The part of the Telegram Bot API the bot uses, spoken directly over HTTPS
//! (`POST {base}/bot{token}/{method}`), so a local stand-in that speaks the same protocol
//! exercises the production code path.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Telegram's own API.
pub const DEFAULT_BASE: &str = "https://api.telegram.org";

/// Longest text one message may carry.
pub const MAX_TEXT: usize = 4096;

/// An incoming update (only the kinds the bot asks for).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Update {
    /// Its id; `getUpdates` resumes after the last one seen.
    pub update_id: i64,
    /// A new message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<IncomingMessage>,
    /// A press on an inline button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_query: Option<CallbackQuery>,
}

/// A message sent to the bot.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct IncomingMessage {
    /// Its id in the chat.
    pub message_id: i64,
    /// The chat.
    pub chat: Chat,
    /// Who sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<User>,
    /// Its text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A voice note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<Value>,
}

/// A chat.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Chat {
    /// Its id (negative for groups).
    pub id: i64,
}

/// A Telegram user.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct User {
    /// Their id.
    pub id: i64,
    /// Their @username, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Their first name.
    #[serde(default)]
    pub first_name: String,
}

impl User {
    /// How the bot names them to the Chief of Staff.
    pub fn display(&self) -> String {
        match &self.username {
            Some(username) => format!("@{username}"),
            None => self.first_name.clone(),
        }
    }
}

/// A press on an inline button.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct CallbackQuery {
    /// Its id, to answer it.
    pub id: String,
    /// Who pressed.
    pub from: User,
    /// The message the button was on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<IncomingMessage>,
    /// The button's data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// An inline button.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Button {
    /// Its label.
    pub text: String,
    /// What the bot gets back when it is pressed (up to 64 bytes).
    pub callback_data: String,
}

/// What can go wrong calling the Bot API.
#[derive(Debug, thiserror::Error)]
pub enum BotApiError {
    /// No answer.
    #[error("the Telegram Bot API did not answer {method}: {source}")]
    Transport {
        /// The method called.
        method: String,
        /// Why.
        source: reqwest::Error,
    },
    /// Telegram said no (`ok: false`).
    #[error("Telegram refused {method}: {description}")]
    Refused {
        /// The method called.
        method: String,
        /// Its `error_code`.
        code: i64,
        /// Its `description`.
        description: String,
        /// How long Telegram asks to wait before trying again (`parameters.retry_after`,
        /// with 429 Too Many Requests).
        retry_after: Option<Duration>,
    },
}

impl BotApiError {
    /// Whether the same call may succeed later: no answer, 429 (flood control) or a
    /// 5xx. Anything else (a chat that blocked the bot, a bad request) will not.
    pub fn is_transient(&self) -> bool {
        match self {
            BotApiError::Transport { .. } => true,
            BotApiError::Refused { code, .. } => *code == 429 || *code >= 500,
        }
    }

    /// How long Telegram asked to wait before trying again, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            BotApiError::Refused { retry_after, .. } => *retry_after,
            BotApiError::Transport { .. } => None,
        }
    }
}

/// A client for one bot.
#[derive(Clone)]
pub struct BotApi {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Envelope {
    ok: bool,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    error_code: i64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    retry_after: Option<u64>,
}

impl BotApi {
    /// A client for the bot with `token` at `base` ([`DEFAULT_BASE`] for Telegram).
    ///
    /// # Errors
    /// If the HTTP client cannot be built.
    pub fn new(base: &str, token: &str) -> Result<Self, BotApiError> {
        let http = reqwest::Client::builder()
            // Long polling waits up to 30 s on the server side.
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| BotApiError::Transport {
                method: "(client)".into(),
                source,
            })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        })
    }

    /// Calls `method` with `params`; the `result` on success.
    ///
    /// # Errors
    /// [`BotApiError`].
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, BotApiError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let transport = |source| BotApiError::Transport {
            method: method.to_owned(),
            source,
        };
        let response = self
            .http
            .post(url)
            .json(&params)
            .send()
            .await
            .map_err(transport)?;
        let envelope: Envelope = response.json().await.map_err(transport)?;
        if envelope.ok {
            Ok(envelope.result)
        } else {
            Err(BotApiError::Refused {
                method: method.to_owned(),
                code: envelope.error_code,
                description: envelope.description,
                retry_after: envelope
                    .parameters
                    .and_then(|p| p.retry_after)
                    .map(Duration::from_secs),
            })
        }
    }

    /// Sends `text` to a chat, split into as many messages as it takes; inline buttons
    /// go on the last one.
    ///
    /// # Errors
    /// [`BotApiError`].
    pub async fn send_text(
        &self,
        chat_id: i64,
        text: &str,
        buttons: &[Button],
    ) -> Result<(), BotApiError> {
        for params in text_messages(chat_id, text, buttons) {
            self.call("sendMessage", params).await?;
        }
        Ok(())
    }
}

/// The `sendMessage` parameters that send `text` to a chat: one message per piece of
/// at most [`MAX_TEXT`] characters, inline buttons on the last one.
pub fn text_messages(chat_id: i64, text: &str, buttons: &[Button]) -> Vec<Value> {
    let parts = split(text, MAX_TEXT);
    let last = parts.len().saturating_sub(1);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut params = json!({"chat_id": chat_id, "text": part});
            if i == last && !buttons.is_empty() {
                params["reply_markup"] = json!({"inline_keyboard": [buttons]});
            }
            params
        })
        .collect()
}

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
    fn updates_parse_from_telegrams_json() {
        let update: Update = serde_json::from_value(json!({
            "update_id": 7,
            "callback_query": {"id": "q1", "from": {"id": 1, "is_bot": false, "first_name": "Ana"},
                "message": {"message_id": 3, "chat": {"id": -100, "type": "group"}, "date": 0},
                "data": "approve:x"}
        }))
        .unwrap();
        let query = update.callback_query.unwrap();
        assert_eq!(query.message.unwrap().chat.id, -100);
        assert_eq!(query.from.display(), "Ana");
    }
}
