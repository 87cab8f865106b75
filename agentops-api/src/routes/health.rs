//! `/health`, `/ready` and `/metrics`: unauthenticated, for load balancers and scrapers.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::HealthOut;

use crate::domain;
use crate::metrics::StatusLabels;
use crate::state::AppState;
use crate::store;

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

/// Whether the server can serve requests: 503 if the database is unreachable;
/// `degraded` (still 200) if event fan-out between replicas or artifact storage is down.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses((status = 200, body = HealthOut), (status = 503, body = HealthOut)))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<HealthOut>) {
    let mut checks = BTreeMap::new();
    let database = match store::ping(&state.db).await {
        Ok(()) => "ok".to_owned(),
        Err(err) => format!("error: {err}"),
    };
    let ok = database == "ok";
    checks.insert("database".to_owned(), database);
    // Without fan-out the replica still serves every request and its subscribers still
    // get every event (from the log), so it stays in rotation, reported as degraded.
    let fanout = state.events.check().await;
    // Likewise without artifact storage: everything else still works, and every replica
    // shares the same store, so taking this one out of rotation would not help.
    let storage = crate::storage::readiness(state.storage.as_ref())
        .await
        .map(|()| "ok".to_owned());
    let degraded = fanout.is_err() || storage.is_err();
    checks.insert("fanout".to_owned(), fanout.unwrap_or_else(|e| e));
    checks.insert("storage".to_owned(), storage.unwrap_or_else(|e| e));
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
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
    (status, Json(body))
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
