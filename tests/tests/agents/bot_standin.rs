//! A stand-in for the Telegram Bot API: `POST /bot<token>/<method>` with a JSON body,
//! answered `{"ok": true, "result": …}` like Telegram, method names matched
//! case-insensitively. It keeps every call, and serves queued updates to `getUpdates`.
//! It can play an outage or flood control (the next sends refused with a status) and a
//! chat that blocked the bot, answering as Telegram does; refused sends are counted, not
//! kept with the calls.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::header;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

pub const TOKEN: &str = "123456:test-token";

#[derive(Default)]
struct Inner {
    /// The one bot it answers (its token) and that bot's username.
    token: String,
    username: String,
    calls: Vec<(String, Value, Instant)>,
    updates: VecDeque<Value>,
    next_message_id: i64,
    /// The next this many `sendMessage` calls (to `refuse_chat` only, if set) are
    /// refused with `refuse_with`.
    refuse_sends: usize,
    refuse_chat: Option<i64>,
    refuse_with: (i64, Option<u64>),
    refused: usize,
    blocked_chats: Vec<i64>,
    /// Telegram's flood limits, when on: a send refused with 429 and `retry_after`.
    flood_limits: bool,
    /// Sends accepted per chat, and in all, for the flood limits.
    accepted: Vec<(i64, Instant)>,
    /// Sends refused by the flood limits.
    flooded: usize,
    /// (chat, user) pairs whose member is an administrator.
    admins: Vec<(i64, i64)>,
    /// Methods (lower case) whose next call is answered only after a while.
    delays: Vec<(String, Duration)>,
    /// Files a bot may download: file id → bytes (`getFile`, then `GET /file/bot…/path`).
    files: std::collections::HashMap<String, Vec<u8>>,
}

/// The running stand-in.
#[derive(Clone)]
pub struct BotStandIn {
    /// Base URL (what `TELEGRAM_API_URL` takes).
    pub base: String,
    inner: Arc<Mutex<Inner>>,
}

impl BotStandIn {
    pub async fn spawn() -> Self {
        Self::spawn_as(TOKEN, "agentops_test_bot").await
    }

    /// A stand-in for the bot with `token` (`<id>:<secret>`), called `username`.
    pub async fn spawn_as(token: &str, username: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            username: username.to_owned(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/{bot}/{method}", post(call))
            .route("/file/{bot}/{*path}", axum::routing::get(download))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, inner }
    }

    /// Every call of `method` so far (its parameters).
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(m, _, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, p, _)| p.clone())
            .collect()
    }

    /// When each message to `chat` arrived, in order.
    pub fn arrivals_to(&self, chat: i64) -> Vec<Instant> {
        self.inner
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(m, p, _)| m.eq_ignore_ascii_case("sendMessage") && p["chat_id"] == chat)
            .map(|(_, _, at)| *at)
            .collect()
    }

    /// The texts sent to `chat`, in order.
    pub fn texts_to(&self, chat: i64) -> Vec<String> {
        self.calls("sendMessage")
            .into_iter()
            .filter(|p| p["chat_id"] == chat)
            .map(|p| p["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Waits until a message to `chat` satisfies `check`; returns its parameters.
    pub async fn wait_for_message(&self, chat: i64, check: impl Fn(&str) -> bool) -> Value {
        for _ in 0..400 {
            if let Some(found) = self
                .calls("sendMessage")
                .into_iter()
                .find(|p| p["chat_id"] == chat && check(p["text"].as_str().unwrap_or_default()))
            {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no such message to {chat}; sent: {:?}", self.texts_to(chat));
    }

    /// Refuses the next `count` `sendMessage` calls with `code` (429 with `retry_after`
    /// seconds is flood control, 502 an outage).
    pub fn refuse_sends(&self, count: usize, code: i64, retry_after: Option<u64>) {
        let mut inner = self.inner.lock().unwrap();
        inner.refuse_sends = count;
        inner.refuse_chat = None;
        inner.refuse_with = (code, retry_after);
    }

    /// Plays Telegram's flood limits from now on, as its Bot FAQ states them: at most
    /// one message a second to a chat, 20 a minute to a group (a negative chat id), 30
    /// a second in all; a send beyond them is refused with `429 Too Many Requests` and
    /// `retry_after` (whole seconds until it would be allowed).
    pub fn enforce_flood_limits(&self) {
        self.inner.lock().unwrap().flood_limits = true;
    }

    /// Makes `user` an administrator of group `chat` (`getChatMember`).
    pub fn make_admin(&self, chat: i64, user: i64) {
        self.inner.lock().unwrap().admins.push((chat, user));
    }

    /// Sends refused by the flood limits.
    pub fn flooded(&self) -> usize {
        self.inner.lock().unwrap().flooded
    }

    /// Like [`refuse_sends`](Self::refuse_sends), for the sends to `chat` only (a group
    /// chat over its own flood limit).
    pub fn refuse_sends_to(&self, chat: i64, count: usize, code: i64, retry_after: Option<u64>) {
        self.refuse_sends(count, code, retry_after);
        self.inner.lock().unwrap().refuse_chat = Some(chat);
    }

    /// How many sends were refused so far.
    pub fn refused(&self) -> usize {
        self.inner.lock().unwrap().refused
    }

    /// From now on, `chat` has blocked the bot: sends to it get 403.
    pub fn block_chat(&self, chat: i64) {
        self.inner.lock().unwrap().blocked_chats.push(chat);
    }

    /// Answers the next call of `method` only after `delay` (a slow Telegram).
    pub fn delay_next(&self, method: &str, delay: Duration) {
        self.inner
            .lock()
            .unwrap()
            .delays
            .push((method.to_lowercase(), delay));
    }

    /// Makes `bytes` downloadable as file `file_id` (what a person sent).
    pub fn put_file(&self, file_id: &str, bytes: Vec<u8>) {
        self.inner
            .lock()
            .unwrap()
            .files
            .insert(file_id.to_owned(), bytes);
    }

    /// Queues an update for `getUpdates`.
    pub fn queue_update(&self, update: Value) {
        self.inner.lock().unwrap().updates.push_back(update);
    }
}

/// A call's parameters, sent as JSON or (for methods that may carry a file, such as
/// `setWebhook`) as `multipart/form-data`, whose fields hold strings or JSON.
async fn parameters(request: Request) -> Result<Value, String> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !multipart {
        let Json(params) = Json::<Value>::from_request(request, &())
            .await
            .map_err(|err| err.body_text())?;
        return Ok(params);
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|err| err.body_text())?;
    let mut params = serde_json::Map::new();
    while let Some(field) = form.next_field().await.map_err(|err| err.body_text())? {
        let name = field.name().unwrap_or_default().to_owned();
        // A file (a voice message): kept as what a test checks of it.
        if let Some(file_name) = field.file_name().map(str::to_owned) {
            let bytes = field.bytes().await.map_err(|err| err.body_text())?;
            params.insert(
                name,
                json!({"file_name": file_name, "size": bytes.len(),
                       "ogg": bytes.starts_with(b"OggS")}),
            );
            continue;
        }
        let text = field.text().await.map_err(|err| err.body_text())?;
        let value = match serde_json::from_str::<Value>(&text) {
            Ok(value) if value.is_array() || value.is_object() => value,
            // A chat id in a form is text; Telegram reads it as the number.
            Ok(value) if name == "chat_id" && value.is_i64() => value,
            _ => Value::String(text),
        };
        params.insert(name, value);
    }
    // `attach://<name>` names a file part of the same form, as the Bot API reads it.
    let attached: Vec<(String, String)> = params
        .iter()
        .filter_map(|(key, value)| {
            let part = value.as_str()?.strip_prefix("attach://")?;
            Some((key.clone(), part.to_owned()))
        })
        .collect();
    for (key, part) in attached {
        if let Some(file) = params.remove(&part) {
            params.insert(key, file);
        }
    }
    Ok(Value::Object(params))
}

async fn call(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((bot, method)): Path<(String, String)>,
    request: Request,
) -> Json<Value> {
    let params = match parameters(request).await {
        Ok(params) => params,
        Err(err) => {
            return Json(json!({"ok": false, "error_code": 400,
                               "description": format!("Bad Request: {err}")}));
        }
    };
    // Telegram reads HTML (`parse_mode=HTML`) into plain text and entities, and refuses
    // what it cannot parse; the call is kept with the text as shown (`html`: as sent).
    let mut params = params;
    if params["parse_mode"] == "HTML"
        && let Some(html) = params["text"].as_str().map(str::to_owned)
    {
        match render_html(&html) {
            Ok(shown) => {
                params["text"] = json!(shown);
                params["html"] = json!(html);
            }
            Err(err) => {
                return Json(json!({"ok": false, "error_code": 400,
                    "description": format!("Bad Request: can't parse entities: {err}")}));
            }
        }
    }
    let (token, username) = {
        let inner = inner.lock().unwrap();
        (inner.token.clone(), inner.username.clone())
    };
    if bot != format!("bot{token}") {
        return Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    let method_lower = method.to_ascii_lowercase();
    if method_lower == "getupdates" {
        let offset = params["offset"].as_i64().unwrap_or(0);
        // Long polling: wait a little for updates, as Telegram does.
        for _ in 0..10 {
            let ready: Vec<Value> = {
                let mut inner = inner.lock().unwrap();
                inner
                    .calls
                    .push((method.clone(), params.clone(), Instant::now()));
                inner
                    .updates
                    .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                inner.updates.iter().cloned().collect()
            };
            if !ready.is_empty() {
                return Json(json!({"ok": true, "result": ready}));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        return Json(json!({"ok": true, "result": []}));
    }
    let delay = {
        let mut inner = inner.lock().unwrap();
        let at = inner.delays.iter().position(|(m, _)| *m == method_lower);
        at.map(|at| inner.delays.remove(at).1)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut inner = inner.lock().unwrap();
    if method_lower == "sendmessage" {
        if inner.refuse_sends > 0
            && inner
                .refuse_chat
                .is_none_or(|chat| params["chat_id"].as_i64() == Some(chat))
        {
            inner.refuse_sends -= 1;
            inner.refused += 1;
            let (code, retry_after) = inner.refuse_with;
            return Json(match retry_after {
                Some(seconds) => json!({"ok": false, "error_code": code,
                    "description": format!("Too Many Requests: retry after {seconds}"),
                    "parameters": {"retry_after": seconds}}),
                None => json!({"ok": false, "error_code": code, "description": "Bad Gateway"}),
            });
        }
        if inner.flood_limits
            && let Some(chat) = params["chat_id"].as_i64()
            && let Some(wait) = over_limits(&inner.accepted, chat, Instant::now())
        {
            inner.flooded += 1;
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            return Json(json!({"ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {seconds}"),
                "parameters": {"retry_after": seconds}}));
        }
        if params["chat_id"]
            .as_i64()
            .is_some_and(|chat| inner.blocked_chats.contains(&chat))
        {
            inner.refused += 1;
            return Json(json!({"ok": false, "error_code": 403,
                               "description": "Forbidden: bot was blocked by the user"}));
        }
    }
    inner
        .calls
        .push((method.clone(), params.clone(), Instant::now()));
    let result = match method_lower.as_str() {
        "getme" => json!({"id": token.split(':').next().unwrap().parse::<i64>().unwrap(),
                          "is_bot": true, "first_name": "AgentOps",
                          "username": username, "can_join_groups": true,
                          "can_read_all_group_messages": false,
                          "supports_inline_queries": false, "can_connect_to_business": false,
                          "has_main_web_app": false}),
        "sendmessage" => {
            if params["text"]
                .as_str()
                .is_none_or(|t| t.is_empty() || t.chars().count() > 4096)
            {
                return Json(json!({"ok": false, "error_code": 400,
                                   "description": "Bad Request: message text is empty or too long"}));
            }
            inner.next_message_id += 1;
            if let Some(chat) = params["chat_id"].as_i64() {
                inner.accepted.push((chat, Instant::now()));
            }
            // Kept with the call, so a test can press the message's buttons.
            let id = inner.next_message_id;
            if let Some((_, kept, _)) = inner.calls.last_mut() {
                kept["message_id"] = json!(id);
            }
            json!({"message_id": inner.next_message_id, "date": 0,
                   "chat": {"id": params["chat_id"], "type": "private"}, "text": params["text"]})
        }
        "getfile" => {
            let id = params["file_id"].as_str().unwrap_or_default().to_owned();
            let Some(size) = inner.files.get(&id).map(Vec::len) else {
                return Json(json!({"ok": false, "error_code": 400,
                                   "description": "Bad Request: invalid file_id"}));
            };
            json!({"file_id": id, "file_unique_id": format!("u-{id}"), "file_size": size,
                   "file_path": format!("voice/{id}.oga")})
        }
        "getchatmember" => {
            let (chat, user) = (
                params["chat_id"].as_i64().unwrap_or_default(),
                params["user_id"].as_i64().unwrap_or_default(),
            );
            let user_json = json!({"id": user, "is_bot": false, "first_name": "Someone"});
            if inner.admins.contains(&(chat, user)) {
                json!({"status": "administrator", "user": user_json, "can_be_edited": false,
                       "is_anonymous": false, "can_manage_chat": true, "can_delete_messages": true,
                       "can_manage_video_chats": true, "can_restrict_members": true,
                       "can_promote_members": false, "can_change_info": true,
                       "can_invite_users": true, "can_post_stories": false,
                       "can_edit_stories": false, "can_delete_stories": false})
            } else {
                json!({"status": "member", "user": user_json})
            }
        }
        "editmessagetext"
            if params["text"]
                .as_str()
                .is_none_or(|t| t.is_empty() || t.chars().count() > 4096) =>
        {
            return Json(json!({"ok": false, "error_code": 400,
                               "description": "Bad Request: message text is empty or too long"}));
        }
        "editmessagetext" => json!({"message_id": params["message_id"], "date": 0,
                   "chat": {"id": params["chat_id"], "type": "private"}, "text": params["text"]}),
        "answercallbackquery"
        | "editmessagereplymarkup"
        | "setwebhook"
        | "deletewebhook"
        | "setmycommands"
        | "sendchataction" => json!(true),
        "sendvoice" => {
            inner.next_message_id += 1;
            if let Some(chat) = params["chat_id"].as_i64() {
                inner.accepted.push((chat, Instant::now()));
            }
            json!({"message_id": inner.next_message_id, "date": 0,
                   "chat": {"id": params["chat_id"], "type": "private"},
                   "voice": {"file_id": format!("v{}", inner.next_message_id),
                             "file_unique_id": format!("uv{}", inner.next_message_id),
                             "duration": 2, "mime_type": "audio/ogg",
                             "file_size": params["voice"]["size"]}})
        }
        "getwebhookinfo" => json!({"url": "", "has_custom_certificate": false,
                                   "pending_update_count": 0}),
        _ => {
            return Json(
                json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}),
            );
        }
    };
    Json(json!({"ok": true, "result": result}))
}

/// How long until a send to `chat` at `now` would be within Telegram's flood limits
/// (`None`: it is). A little slack on the per-chat second (timers are not exact).
fn over_limits(accepted: &[(i64, Instant)], chat: i64, now: Instant) -> Option<Duration> {
    let since = |window: Duration| {
        accepted
            .iter()
            .filter(move |(_, at)| now.duration_since(*at) < window)
    };
    let second = Duration::from_millis(950);
    if let Some((_, last)) = since(second).rfind(|(c, _)| *c == chat) {
        return Some(second - now.duration_since(*last));
    }
    if chat < 0 {
        let minute: Vec<Instant> = since(Duration::from_secs(60))
            .filter(|(c, _)| *c == chat)
            .map(|(_, at)| *at)
            .collect();
        if minute.len() >= 20 {
            return Some(Duration::from_secs(60) - now.duration_since(minute[0]));
        }
    }
    if since(Duration::from_secs(1)).count() >= 30 {
        return Some(Duration::from_secs(1));
    }
    None
}

/// Telegram's HTML style read as Telegram does: the text it shows, or why it cannot be
/// parsed (a tag it does not support, a tag left open or closed out of turn, an entity
/// it does not know, a bare `<` or `&`).
fn render_html(html: &str) -> Result<String, String> {
    const TAGS: [&str; 15] = [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "code",
        "pre",
        "a",
        "tg-spoiler",
        "span",
        "blockquote",
    ];
    let mut shown = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("unclosed start tag")?;
                let tag = &rest[1..end];
                if let Some(name) = tag.strip_prefix('/') {
                    if open.pop().as_deref() != Some(name.trim()) {
                        return Err(format!("unmatched end tag \"{name}\""));
                    }
                } else {
                    let name = tag.split_whitespace().next().unwrap_or_default();
                    if !TAGS.contains(&name) {
                        return Err(format!("unsupported start tag \"{name}\""));
                    }
                    open.push(name.to_owned());
                }
                rest = &rest[end + 1..];
            }
            '&' => {
                let end = rest.find(';').ok_or("unclosed entity")?;
                shown.push(match &rest[1..end] {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "quot" => '"',
                    other => return Err(format!("unsupported entity \"&{other};\"")),
                });
                rest = &rest[end + 1..];
            }
            c => {
                shown.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(name) = open.pop() {
        return Err(format!("unclosed tag \"{name}\""));
    }
    Ok(shown)
}

/// `GET /file/bot<token>/<path>`: a file's bytes, as Telegram serves what `getFile` names.
async fn download(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((bot, path)): Path<(String, String)>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let token = inner.lock().unwrap().token.clone();
    if bot != format!("bot{token}") {
        return axum::http::StatusCode::UNAUTHORIZED.into_response();
    }
    let id = path
        .strip_prefix("voice/")
        .and_then(|p| p.strip_suffix(".oga"))
        .unwrap_or_default();
    match inner.lock().unwrap().files.get(id) {
        Some(bytes) => bytes.clone().into_response(),
        None => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}
