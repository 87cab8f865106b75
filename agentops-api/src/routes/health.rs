//! `/health`, `/ready` and `/metrics`: unauthenticated, for load balancers and scrapers.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::HealthOut;

use crate::domain;
use crate::error::UNAVAILABLE_RETRY_AFTER_SECS;
use crate::metrics::StatusLabels;
use crate::state::AppState;

/// Routes of this module (mounted at the root, outside `/api/v1`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Whether the process is up.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = HealthOut)))]
async fn health() -> Json<HealthOut> {
    Json(HealthOut {
        status: "ok".into(),
        version: version(),
        checks: BTreeMap::new(),
    })
}

/// Longest each readiness check may take: the checks run side by side, so `/ready`
/// answers within about this long whatever the database, Redis or storage do, and a load
/// balancer probing with a short timeout sees a down database as a 503, not as silence.
const READY_CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

/// `check`'s answer, or an error naming `what` if it takes longer than [`READY_CHECK_TIMEOUT`].
async fn within<F: Future<Output = Result<String, String>>>(
    what: &str,
    check: F,
) -> Result<String, String> {
    tokio::time::timeout(READY_CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "error: {what} did not answer within {} ms",
                READY_CHECK_TIMEOUT.as_millis()
            ))
        })
}

/// Whether the server can serve requests: 503 (with `Retry-After`) if the database is
/// unreachable; `degraded` (still 200) if event fan-out between replicas or artifact
/// storage is down. Answers within about 1.5 s whatever its dependencies do.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses((status = 200, body = HealthOut),
        (status = 503, body = HealthOut, headers(("Retry-After" = u64, description = "Seconds to wait before asking again")))))]
async fn ready(State(state): State<AppState>) -> Response {
    let (database, fanout, storage) = tokio::join!(
        within("the database", async {
            crate::domain::ping_database(&state)
                .await
                .map(|()| "ok".to_owned())
                .map_err(|err| format!("error: {err}"))
        }),
        // Without fan-out the replica still serves every request and its subscribers
        // still get every event (from the log), so it stays in rotation, as degraded.
        within("the event fan-out", state.events.check()),
        // Likewise without artifact storage: everything else still works, and every
        // replica shares the same store, so taking this one out of rotation would not help.
        within("the artifact store", async {
            crate::storage::readiness(state.storage.as_ref())
                .await
                .map(|()| "ok".to_owned())
        }),
    );
    let ok = database.is_ok();
    let degraded = fanout.is_err() || storage.is_err();
    let mut checks = BTreeMap::new();
    checks.insert("database".to_owned(), database.unwrap_or_else(|e| e));
    checks.insert("fanout".to_owned(), fanout.unwrap_or_else(|e| e));
    checks.insert("storage".to_owned(), storage.unwrap_or_else(|e| e));
    let body = HealthOut {
        status: match (ok, degraded) {
            (false, _) => "unavailable",
            (true, true) => "degraded",
            (true, false) => "ok",
        }
        .into(),
        version: version(),
        checks,
    };
    if ok {
        return (StatusCode::OK, Json(body)).into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(
            header::RETRY_AFTER,
            UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
        )],
        Json(body),
    )
        .into_response()
}

/// Prometheus metrics in text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Queue depth comes from the database so every replica reports the true figure; a
    // database outage must not hide the process metrics, so it only skips the refresh.
    if let Ok(counts) = domain::tasks::counts_by_status(&state).await {
        for (status, count) in counts {
            state
                .metrics
                .tasks
                .get_or_create(&StatusLabels {
                    status: status.as_str().to_owned(),
                })
                .set(count);
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
