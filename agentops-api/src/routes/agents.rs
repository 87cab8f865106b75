//! `/api/v1/agents`.

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::{AgentIn, AgentOut, ErrorBody, Page};

use crate::auth::{AgentKey, ViewerKey};
use crate::domain;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, IdPath, PageParams};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_agent, list_agents))
        .routes(routes!(get_agent))
        .routes(routes!(heartbeat_agent))
}

/// Register an agent; registering an existing name returns (and updates) that agent.
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = AgentIn,
    responses((status = 200, body = AgentOut), (status = 422, body = ErrorBody)), security(("bearer" = ["agent"])))]
async fn register_agent(
    State(state): State<AppState>,
    _agent: AgentKey,
    ApiJson(input): ApiJson<AgentIn>,
) -> ApiResult<Json<AgentOut>> {
    Ok(Json(domain::agents::register(&state, input).await?))
}

/// List agents, newest first, with their presence.
#[utoipa::path(get, path = "/agents", tag = "agents", params(PageParams),
    responses((status = 200, body = Page<AgentOut>)), security(("bearer" = ["viewer"])))]
async fn list_agents(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<AgentOut>>> {
    Ok(Json(domain::agents::list(&state, page.validate()?).await?))
}

/// Get an agent.
#[utoipa::path(get, path = "/agents/{id}", tag = "agents",
    params(("id" = uuid::Uuid, Path, description = "Agent id")),
    responses((status = 200, body = AgentOut), (status = 404, body = ErrorBody)), security(("bearer" = ["viewer"])))]
async fn get_agent(
    State(state): State<AppState>,
    _viewer: ViewerKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<AgentOut>> {
    Ok(Json(domain::agents::get(&state, id).await?))
}

/// Record an agent's heartbeat (it shows as online for the agent TTL).
#[utoipa::path(post, path = "/agents/{id}/heartbeat", tag = "agents",
    params(("id" = uuid::Uuid, Path, description = "Agent id")),
    responses((status = 200, body = AgentOut), (status = 404, body = ErrorBody)), security(("bearer" = ["agent"])))]
async fn heartbeat_agent(
    State(state): State<AppState>,
    _agent: AgentKey,
    IdPath(id): IdPath,
) -> ApiResult<Json<AgentOut>> {
    Ok(Json(domain::agents::heartbeat(&state, id).await?))
}
