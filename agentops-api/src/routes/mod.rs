//! HTTP routes. Each module serves one resource under `/api/v1` and exposes `router()`;
//! handlers extract, make one `domain::` call and map the result.

pub mod agents;
pub mod artifacts;
pub mod budgets;
pub mod deployments;
mod event_stream;
pub mod events;
pub mod health;
pub mod keys;
pub mod notes;
pub mod pairings;
pub mod personas;
pub mod previews;
pub mod projects;
pub mod schedules;
pub mod tasks;
pub mod threads;
pub mod tools;
pub mod usage;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::projects::Created;

/// 201 for a new entity; 200 with `Idempotent-Replayed: true` for a replayed create.
pub(crate) fn created<T: Serialize>(created: Created<T>) -> Response {
    let status = if created.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut headers = HeaderMap::new();
    if created.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    (status, headers, Json(created.value)).into_response()
}
