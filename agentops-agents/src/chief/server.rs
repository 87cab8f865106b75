//! The Chief of Staff behind a small HTTP API (feature `server`), which the Telegram bot,
//! the dashboard and any HTTP caller talk to:
//!
//! - `POST /chat` [`ChatIn`] → [`ChatOut`](agentops_sdk::types::ChatOut);
//! - `GET /health`.
//!
//! Callers present a platform API key with the admin role (`Authorization: Bearer …`):
//! a chat can approve work, so it needs what approving needs. Keys are checked with the
//! platform (`GET /api/v1/keys/me`) and remembered for a minute. Errors are the
//! platform's error body (`{"error":{"code":…,"message":…}}`) with the status of their
//! [`ErrorCode`].
//!
//! The `agentops` binary serves it (`agentops chief-of-staff`, and inside `agentops up`);
//! this module is what it serves, so the Chief's wire contract lives next to the Chief.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};

use agentops_sdk::types::{ErrorBody, ErrorCode, Role};
use agentops_sdk::{CancellationToken, Client};

use super::{ChatError, ChatIn, ChiefOfStaff};

/// An error answer: the platform's error body, with the status of `code`.
fn error(code: ErrorCode, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(ErrorBody::new(code, message))).into_response()
}

/// How long a caller's key, once checked, is taken as it was.
const KEY_CACHE: Duration = Duration::from_secs(60);

/// SHA-256 of checked keys → whether it is an admin key, and when that was learnt.
type CheckedKeys = Arc<Mutex<HashMap<[u8; 32], (bool, Instant)>>>;

#[derive(Clone)]
struct AppState {
    chief: ChiefOfStaff,
    platform_url: String,
    keys: CheckedKeys,
}

impl AppState {
    /// Whether the request carries an admin key of the platform.
    async fn authorise(&self, headers: &HeaderMap) -> Result<(), Response> {
        let Some(key) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // The scheme is case-insensitive, as the platform takes it.
                let (scheme, key) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(key)
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
        else {
            return Err(error(
                ErrorCode::Unauthorized,
                "send a platform API key: Authorization: Bearer <key>",
            ));
        };
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let cached = self
            .keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&digest)
            .filter(|(_, at)| at.elapsed() < KEY_CACHE)
            .map(|(admin, _)| *admin);
        let admin = match cached {
            Some(admin) => admin,
            None => {
                let client = Client::builder()
                    .base_url(&self.platform_url)
                    .api_key(key)
                    .max_retries(1)
                    .build()
                    .map_err(|err| error(ErrorCode::PlatformUnavailable, err.to_string()))?;
                let admin = match client.keys().me().await {
                    Ok(me) => me.role == Role::Admin,
                    Err(err) if err.is_auth() => {
                        return Err(error(
                            ErrorCode::Unauthorized,
                            "the platform does not know this key",
                        ));
                    }
                    Err(err) => {
                        return Err(error(
                            ErrorCode::PlatformUnavailable,
                            format!("cannot check the key with the platform: {err}"),
                        ));
                    }
                };
                let mut keys = self
                    .keys
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                keys.retain(|_, (_, at)| at.elapsed() < KEY_CACHE);
                keys.insert(digest, (admin, Instant::now()));
                admin
            }
        };
        if admin {
            Ok(())
        } else {
            Err(error(
                ErrorCode::Forbidden,
                "talking to the Chief of Staff needs an admin key (a chat can approve work)",
            ))
        }
    }
}

async fn chat(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<ChatIn>, JsonRejection>,
) -> Response {
    if let Err(denied) = state.authorise(&headers).await {
        return denied;
    }
    let input = match body {
        Ok(Json(input)) => input,
        Err(rejection) => {
            let status = rejection.status();
            let code = if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                ErrorCode::UnsupportedMediaType
            } else if status == StatusCode::BAD_REQUEST {
                ErrorCode::MalformedJson
            } else {
                ErrorCode::InvalidBody
            };
            return error(code, rejection.body_text());
        }
    };
    match state.chief.chat(input).await {
        Ok(out) => Json(out).into_response(),
        Err(ChatError::Invalid(message)) => error(ErrorCode::ValidationFailed, message),
        Err(ChatError::Platform(err)) if err.is_not_found() => {
            error(ErrorCode::ThreadNotFound, err.to_string())
        }
        Err(ChatError::Platform(err)) if err.is_invalid_request() => {
            error(ErrorCode::ValidationFailed, err.to_string())
        }
        Err(ChatError::Platform(err)) => {
            tracing::warn!("chat failed: {err}");
            error(ErrorCode::PlatformUnavailable, err.to_string())
        }
    }
}

/// The Chief of Staff's HTTP API: `POST /chat` and `GET /health`, callers checked with
/// the platform at `platform_url`.
pub fn router(chief: ChiefOfStaff, platform_url: String) -> Router {
    let state = AppState {
        chief,
        platform_url,
        keys: Arc::new(Mutex::new(HashMap::new())),
    };
    Router::new()
        .route("/chat", post(chat))
        .route(
            "/health",
            get(|| async { Json(json!({"status": "ok", "agent": "chief-of-staff"})) }),
        )
        .fallback(|| async { error(ErrorCode::RouteNotFound, "no such route") })
        .method_not_allowed_fallback(|| async {
            error(
                ErrorCode::MethodNotAllowed,
                "this route does not take that method",
            )
        })
        .with_state(state)
}

/// Runs the executor of approved plans, and beside it the worker of the Chief's own tasks
/// (its schedules' reminders and reports), until `stop`; each is started again while the
/// platform cannot be read (the executor starts over by itself when its event stream
/// ends).
pub fn spawn_executor(chief: ChiefOfStaff, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let worker = {
        let (chief, stop) = (chief.clone(), stop.clone());
        tokio::spawn(restarting(
            "the Chief's task worker",
            stop.clone(),
            move || {
                let (chief, stop) = (chief.clone(), stop.clone());
                async move { chief.run_chief_tasks(stop).await.map_err(|e| e.to_string()) }
            },
        ))
    };
    let plans = {
        let stop = stop.clone();
        restarting("the executor of approved plans", stop.clone(), move || {
            let (chief, stop) = (chief.clone(), stop.clone());
            async move { chief.run_executor(stop).await.map_err(|e| e.to_string()) }
        })
    };
    tokio::spawn(async move {
        plans.await;
        let _ = worker.await;
    })
}

/// Runs `run` until it returns `Ok` (only once `stop` is cancelled), starting it again
/// after a failure with a back-off from 0.5 s to 30 s.
async fn restarting<F, Fut>(what: &str, stop: CancellationToken, run: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut delay = Duration::from_millis(500);
    loop {
        match run().await {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!("{what} cannot run: {err}");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.cancelled() => return,
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}
