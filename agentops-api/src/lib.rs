//! The AgentOps server: data layer, REST API, event log and background workers.
//!
//! Layers, bottom-up (see `ARCHITECTURE.md`): [`store`] (SQL) → [`domain`] (use cases)
//! → [`routes`] (HTTP). Routes never touch `store`; `store` never imports axum.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let cfg = agentops_api::config::ApiConfig::defaults();
//! let server = agentops_api::Server::start(cfg).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.serve(listener, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod coalesce;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod reaper;
pub mod redis_client;
pub mod routes;
pub mod state;
pub mod storage;
pub mod store;
pub mod unread_body;

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::ApiConfig;
use crate::error::ApiError;
use crate::extract::BodyLimit;
use crate::metrics::{RequestLabels, RouteLabels};
use crate::state::AppState;

pub use crate::domain::keys::Bootstrap;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AgentOps API",
        description = "Control plane for AI agents: projects, tasks with leases, agents, artifacts, conversation threads and approvals, API keys.\n\n\
                       Every request except `/health`, `/ready` and `/metrics` needs \
                       `Authorization: Bearer <API key>`. Errors are \
                       `{\"error\":{\"code\":…,\"message\":…}}`."
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key")
                    .build(),
            ),
        );
    }
}

fn api_router_parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(routes::keys::router())
        .merge(routes::projects::router())
        .merge(routes::tasks::router())
        .merge(routes::agents::router())
        .merge(routes::artifacts::router())
        .merge(routes::threads::router())
        .merge(routes::usage::router())
        .merge(routes::budgets::router())
        .merge(routes::schedules::router())
        .merge(routes::notes::router())
        .merge(routes::deployments::router())
        .merge(routes::pairings::router())
        .merge(routes::personas::router())
        .merge(routes::tools::router())
        .merge(routes::previews::router())
        .merge(routes::events::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", v1)
        .split_for_parts()
}

/// The routers and the OpenAPI document of every route, completed by
/// [`openapi::complete`].
fn parts() -> (Router<AppState>, Router<AppState>, serde_json::Value) {
    let (api, mut doc) = api_router_parts();
    let (health, health_doc) = OpenApiRouter::<AppState>::new()
        .merge(routes::health::router())
        .split_for_parts();
    doc.merge(health_doc);
    (api, health, openapi::complete(doc))
}

/// The OpenAPI document the server serves at `/api/v1/openapi.json`.
pub fn openapi_document() -> serde_json::Value {
    parts().2
}

/// Builds the whole HTTP application around `state`.
pub fn router(state: AppState) -> Router {
    let (api, health, openapi) = parts();
    let limit = state.cfg.max_body_bytes;
    let api = api.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::require_key,
    ));
    let request_id = HeaderName::from_static("x-request-id");

    let app = Router::new()
        .merge(api)
        .merge(health)
        .merge(routes::previews::proxy_router())
        .merge(SwaggerUi::new("/docs").external_url_unchecked("/api/v1/openapi.json", openapi))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), track_metrics))
        .layer(DefaultBodyLimit::max(limit))
        // A client that stops sending half-way through a body is answered (400) instead
        // of holding its request open for ever; a slow upload that keeps moving is fine.
        .layer(RequestBodyTimeoutLayer::new(state.cfg.body_idle_timeout()))
        .layer(middleware::from_fn(
            move |mut request: Request, next: Next| async move {
                request.extensions_mut().insert(BodyLimit(limit));
                next.run(request).await
            },
        ));
    let app = match cors_layer(&state.cfg.cors_origins) {
        Some(cors) => app.layer(cors),
        None => app,
    };
    app.with_state(state)
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .layer(CatchPanicLayer::custom(panic_response))
        // Outermost, so it sees the body as it comes off the connection.
        .layer(middleware::from_fn(unread_body::keep_connection_usable))
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .max_age(Duration::from_secs(600));
    if origins.contains(&"*") {
        return Some(layer.allow_origin(Any));
    }
    let list = origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect::<Vec<_>>();
    Some(layer.allow_origin(AllowOrigin::list(list)))
}

async fn route_not_found(uri: Uri) -> ApiError {
    ApiError::RouteNotFound(uri.path().to_owned())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

async fn track_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status,
        })
        .inc();
    if status >= 500 {
        tracing::warn!(status, "server error response");
    }
    response
}

/// A started server: database connected and migrated, admin key in place, background
/// workers not yet running until [`Server::serve`].
pub struct Server {
    state: AppState,
    bootstrap: Bootstrap,
    extra: Option<Router>,
}

impl Server {
    /// Connects to the database, applies migrations (unless `migrate` is off) and makes
    /// sure an admin key exists.
    pub async fn start(mut cfg: ApiConfig) -> anyhow::Result<Self> {
        domain::keys::ensure_secret_key(&mut cfg)?;
        let state = AppState::connect(cfg.clone()).await?;
        let bootstrap =
            domain::keys::bootstrap_admin(&state, cfg.admin_key.as_deref(), &cfg.data_dir)
                .await
                .map_err(|err| anyhow::anyhow!("cannot set up the admin key: {err:?}"))?;
        if domain::budgets::install_default(&state)
            .await
            .map_err(|err| anyhow::anyhow!("cannot install the default budget: {err:?}"))?
        {
            tracing::info!(
                tokens = cfg.proactive_daily_tokens,
                "installed the budget `default proactive` (AGENTOPS_PROACTIVE_DAILY_TOKENS a day)"
            );
        }
        Ok(Self {
            state,
            bootstrap,
            extra: None,
        })
    }

    /// The shared state (for tests and embedding).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves `routes` beside the API (the web dashboard at `/`); they must not
    /// overlap the API's paths.
    pub fn with_routes(mut self, routes: Router) -> Self {
        self.extra = Some(routes);
        self
    }

    /// What the admin-key bootstrap did.
    pub fn bootstrap(&self) -> &Bootstrap {
        &self.bootstrap
    }

    /// Serves HTTP on `listener` and runs the background workers until `shutdown`
    /// resolves; in-flight requests are finished first.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let reaper = tokio::spawn(reaper::run(self.state.context().clone()));
        let sweeper = tokio::spawn(domain::artifacts::run_sweeper(self.state.context().clone()));
        let app = match self.extra {
            Some(extra) => router(self.state.clone()).merge(extra),
            None => router(self.state.clone()),
        };
        let events = self.state.events.clone();
        let shutdown = async move {
            shutdown.await;
            // WebSocket sessions are upgraded connections the HTTP server does not wait
            // for: tell them to close so their clients resume elsewhere.
            events.close_sessions();
        };
        let header_timeout = self.state.cfg.header_read_timeout();
        serve_http(listener, app, header_timeout, shutdown).await;
        reaper.abort();
        sweeper.abort();
        Ok(())
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish. What `axum::serve` does, plus a deadline for request headers: a client that
/// never finishes sending them has its connection closed after `header_timeout`
/// instead of holding it for ever.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    // Dropping `stop` tells every connection to finish; `done` closes once all have.
    let (stop, stopped) = tokio::sync::watch::channel(());
    let (done, connections) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small writes (a WebSocket event, a short response) go out at once instead of
        // waiting for the peer's delayed ACK (Nagle's algorithm).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(app.clone());
        let (mut stopped, connections) = (stopped.clone(), connections.clone());
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let finished = tokio::select! {
                result = connection.as_mut() => Some(result),
                _ = stopped.changed() => None,
            };
            let result = match finished {
                Some(result) => result,
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = result {
                tracing::trace!(error = %err, "connection ended with an error");
            }
            drop(connections);
        });
    }
    drop(listener);
    drop(stop);
    drop(connections);
    done.closed().await;
}

/// An `accept` that failed: a connection reset before it was accepted is nothing; any
/// other error (out of file descriptors) is logged and retried a second later.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %err, "cannot accept connections; retrying in 1 s");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

/// A database URL with its password hidden, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact("sqlite://x.db?mode=rwc"), "sqlite://x.db?mode=rwc");
    }
}
