//! The AgentOps web dashboard: watch, steer and talk to the platform from a browser.
//!
//! Layer 7 (interfaces): it reaches the platform **only through `agentops-sdk`**, as any
//! other client does, with the key of the person signed in; the API decides what that
//! key may do, so a viewer's forged write is refused by the API even if it got past the
//! page. The API process serves it at `/` (the API stays under `/api/v1`).
//!
//! - **Pages** are rendered on the server with [maud] (one module per page, partials for
//!   the parts the live stream refreshes) and readable without JavaScript.
//! - **Live**: every page holds one Server-Sent Events stream (`live`), fed by the SDK's
//!   resumable event subscription; vendored [htmx] 2.0 with its SSE extension appends
//!   event rows and re-fetches the partials an event touches. The browser's own
//!   `EventSource` resumes after a drop with `Last-Event-ID`, so nothing is missed.
//! - **Login** exchanges the pasted key for a short-lived *session* key
//!   (`POST /api/v1/sessions`); only the session travels in the cookie (HttpOnly,
//!   `SameSite=Strict`, `Secure` behind HTTPS); logout ends it in the API, so a copied
//!   cookie stops working. Every form carries a CSRF token derived from the session.
//! - **Assets** (htmx, the SSE extension, our script and style sheet) are compiled into
//!   the binary and served under a content hash, with a strict
//!   `Content-Security-Policy` (no inline script or style, no `eval`).
//!
//! [htmx]: https://htmx.org

mod assets;
mod error;
mod layout;
mod live;
mod pages;
mod session;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use session::COOKIE;

/// What the dashboard needs to run.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// A client of the platform API (its key is ignored: every request acts with the
    /// signed-in person's session).
    pub api: agentops_sdk::Client,
    /// Mark cookies `Secure` even when no proxy says the request came over HTTPS.
    pub secure_cookies: bool,
    /// The Chief of Staff's HTTP API (`…/chat`), for the Chat page.
    pub chief_url: Option<String>,
}

/// Shared by every request.
pub(crate) struct Web {
    pub(crate) api: agentops_sdk::Client,
    pub(crate) secure_cookies: bool,
    pub(crate) chief_url: Option<String>,
    /// For the Chief of Staff's HTTP API, which is not the platform's (no SDK for it).
    pub(crate) http: reqwest::Client,
}

pub(crate) type AppState = Arc<Web>;

/// The dashboard's routes, to merge into the API's router.
pub fn router(cfg: WebConfig) -> Router {
    let state: AppState = Arc::new(Web {
        api: cfg.api,
        secure_cookies: cfg.secure_cookies,
        chief_url: cfg.chief_url,
        http: reqwest::Client::new(),
    });
    Router::new()
        .route("/", get(pages::overview::page))
        .route("/overview/body", get(pages::overview::body))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/tasks", get(pages::tasks::page))
        .route("/tasks/rows", get(pages::tasks::rows))
        .route("/tasks/{id}", get(pages::task::page))
        .route("/tasks/{id}/card", get(pages::task::card))
        .route("/tasks/{id}/cancel", post(pages::task::cancel))
        .route("/tasks/{id}/unblock", post(pages::task::unblock))
        .route("/tasks/{id}/retry", post(pages::task::retry))
        .route("/artifacts/{id}/download", get(pages::task::download))
        .route("/artifacts/{id}/raw", get(pages::task::raw))
        .route("/projects", get(pages::projects::page))
        .route("/projects/{id}", get(pages::projects::detail))
        .route("/agents", get(pages::agents::page))
        .route("/agents/rows", get(pages::agents::rows))
        .route("/events", get(pages::events::page))
        .route("/approvals", get(pages::approvals::page))
        .route("/approvals/rows", get(pages::approvals::rows))
        .route("/approvals/{id}/approve", post(pages::approvals::approve))
        .route("/approvals/{id}/reject", post(pages::approvals::reject))
        .route("/tools", get(pages::tools::page))
        .route("/tools/rows", get(pages::tools::rows))
        .route("/tools/{id}", get(pages::tools::detail))
        .route("/tools/{id}/card", get(pages::tools::card_part))
        .route("/tools/{id}/approve", post(pages::tools::approve))
        .route("/tools/{id}/reject", post(pages::tools::reject))
        .route("/tools/{id}/retire", post(pages::tools::retire))
        .route("/schedules", get(pages::schedules::page))
        .route("/schedules/{id}/pause", post(pages::schedules::pause))
        .route("/schedules/{id}/resume", post(pages::schedules::resume))
        .route("/deployments", get(pages::deployments::page))
        .route("/deployments/rows", get(pages::deployments::rows))
        .route("/usage", get(pages::usage::page))
        .route("/chat", get(pages::chat::page).post(pages::chat::send))
        .route("/chat/messages", get(pages::chat::messages))
        .route(
            "/chat/voice",
            post(pages::chat::voice).layer(axum::extract::DefaultBodyLimit::max(21 * 1024 * 1024)),
        )
        .route("/chat/speech/{id}", get(pages::chat::speech))
        .route("/chats", get(pages::chats::page))
        .route("/chats/rows", get(pages::chats::rows))
        .route("/chats/approve", post(pages::chats::approve))
        .route("/chats/{id}/revoke", post(pages::chats::revoke))
        .route(
            "/personas",
            get(pages::personas::page).post(pages::personas::create),
        )
        .route("/personas/rows", get(pages::personas::rows))
        .route("/personas/{id}/prompt", post(pages::personas::prompt))
        .route("/personas/{id}/delete", post(pages::personas::delete))
        .route(
            "/personas/{id}/conversations",
            get(pages::personas::conversations),
        )
        .route(
            "/personas/{id}/conversations/rows",
            get(pages::personas::conversations_rows),
        )
        .route(
            "/personas/{id}/conversations/{thread}",
            get(pages::personas::conversation),
        )
        .route(
            "/personas/{id}/conversations/{thread}/rows",
            get(pages::personas::conversation_part),
        )
        .route("/keys", get(pages::keys::page).post(pages::keys::create))
        .route("/keys/{id}/revoke", post(pages::keys::revoke))
        .route("/live", get(live::stream))
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::from_fn(assets::security_headers))
        .with_state(state)
}
