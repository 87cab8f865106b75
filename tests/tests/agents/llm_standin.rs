//! A stand-in for an OpenAI-compatible chat-completions server: it answers
//! `POST /v1/chat/completions` with scripted assistant messages, in order, and keeps
//! every request it got.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

#[derive(Default)]
struct Script {
    /// Each answer's status, message, (prompt, completion) tokens and how long it takes.
    replies: VecDeque<(StatusCode, Value, (u64, u64), Duration)>,
    requests: Vec<(Option<String>, Value)>,
}

/// The running stand-in.
pub struct LlmStandIn {
    /// Base URL to configure (`…/v1`).
    pub base: String,
    script: Arc<Mutex<Script>>,
}

/// An assistant message that calls one tool.
pub fn tool_call(id: &str, name: &str, arguments: Value) -> Value {
    json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [{
            "id": id,
            "type": "function",
            "function": {"name": name, "arguments": arguments.to_string()}
        }]
    })
}

/// The Chief of Staff's classifier calling `classify`: `intent` (`question`, `command`
/// or `other`) with `confidence`; a command needs an OK.
pub fn classified(intent: &str, confidence: f64) -> Value {
    tool_call(
        "cls",
        "classify",
        json!({
            "intent": intent,
            "summary": format!("the person's {intent}"),
            "needs_confirmation": intent == "command",
            "confidence": confidence,
        }),
    )
}

impl LlmStandIn {
    pub async fn spawn() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(complete))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, script }
    }

    /// Queues the next assistant message (it reports 100 prompt and 10 completion
    /// tokens).
    pub fn reply(&self, message: Value) {
        self.reply_costing(message, 100, 10);
    }

    /// Queues the next assistant message, reporting these token counts in its `usage`.
    pub fn reply_costing(&self, message: Value, prompt_tokens: u64, completion_tokens: u64) {
        self.script.lock().unwrap().replies.push_back((
            StatusCode::OK,
            message,
            (prompt_tokens, completion_tokens),
            Duration::ZERO,
        ));
    }

    /// Queues the next assistant message, answered only after `delay` (a slow model).
    pub fn reply_after(&self, delay: Duration, message: Value) {
        self.script
            .lock()
            .unwrap()
            .replies
            .push_back((StatusCode::OK, message, (100, 10), delay));
    }

    /// Queues an error answer.
    pub fn fail(&self, status: StatusCode) {
        self.script.lock().unwrap().replies.push_back((
            status,
            json!({"error": {"message": "overloaded"}}),
            (0, 0),
            Duration::ZERO,
        ));
    }

    /// Queues an error answer whose body is `body` as plain text (not OpenAI's JSON), as
    /// some providers and proxies answer.
    pub fn fail_raw(&self, status: StatusCode, body: &str) {
        self.script.lock().unwrap().replies.push_back((
            status,
            Value::String(body.to_owned()),
            (0, 0),
            Duration::ZERO,
        ));
    }

    /// Every request so far: its bearer token and JSON body.
    pub fn requests(&self) -> Vec<(Option<String>, Value)> {
        self.script.lock().unwrap().requests.clone()
    }
}

async fn complete(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let next = {
        let mut script = script.lock().unwrap();
        script.requests.push((bearer, body.clone()));
        script.replies.pop_front()
    };
    let Some((status, message, (prompt, completion), delay)) = next else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "the script has no more replies"}})),
        )
            .into_response();
    };
    tokio::time::sleep(delay).await;
    if !status.is_success() {
        if let Value::String(text) = message {
            return (status, text).into_response();
        }
        return (status, Json(message)).into_response();
    }
    let finish = if message.get("tool_calls").is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    (
        status,
        Json(json!({
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}
        })),
    )
        .into_response()
}
