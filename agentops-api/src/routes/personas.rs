//! `/api/v1/personas`: agents people create, share by link and talk to (see
//! [`crate::domain::personas`] for who may see and change what). An interface holding
//! an admin key acts for a person with the `X-On-Behalf-Of` header.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use agentops_sdk::types::{
    ErrorBody, MessageOut, Page, PersonaChatIn, PersonaChatOut, PersonaConversationOut, PersonaIn,
    PersonaModelsOut, PersonaOut, PersonaPatch, PersonaSecretsOut, PersonaStatus,
    PersonaVersionOut, Visibility,
};

use crate::auth::{AdminKey, AgentKey, ViewerKey};
use crate::domain;
use crate::domain::Caller;
use crate::domain::personas::{Actor, PersonaQuery};
use crate::error::ApiResult;
use crate::extract::{
    ApiJson, ApiQuery, IdempotencyKey, NameIdPath, NamePath, NameVersionPath, OnBehalfOf,
    PageParams,
};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_persona, list_personas))
        .routes(routes!(get_persona, update_persona, delete_persona))
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
        .routes(routes!(chat_with_persona))
        .routes(routes!(persona_secrets))
        .routes(routes!(list_models))
        .routes(routes!(list_conversations))
        .routes(routes!(conversation_messages))
}

/// A persona's secrets (its owner's provider key, its Telegram bot's token), **sealed**:
/// for the platform's own runtimes, which open them with the master key
/// (`AGENTOPS_SECRET_KEY`). An admin key acting for itself only; nothing is ever
/// answered in clear.
#[utoipa::path(get, path = "/personas/{persona}/secrets", tag = "personas",
    params(("persona" = String, Path, description = "Persona id, or its slug in any case"),
        ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "Refused here: only the operator reads sealed secrets")),
    responses((status = 200, body = PersonaSecretsOut), (status = 400, description = "A path that cannot be read", body = ErrorBody),
        (status = 403, description = "Not an admin key acting for itself", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["admin"])))]
async fn persona_secrets(
    State(state): State<AppState>,
    AdminKey(caller): AdminKey,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    NamePath(reference): NamePath,
) -> ApiResult<Json<PersonaSecretsOut>> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    Ok(Json(
        domain::personas::secrets(&state, &actor, &reference).await?,
    ))
}

/// How long a chat request waits for the answer.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ChatParams {
    /// Seconds to wait for the persona's answer (0–120, default 5); without it in time,
    /// 202 and the answer comes later in the thread.
    wait: Option<u64>,
}

/// Say something to a persona, in the person's own conversation with it; its answer
/// comes back if it is ready within `wait` seconds.
#[utoipa::path(post, path = "/personas/{persona}/chat", tag = "personas", request_body = PersonaChatIn,
    params(("persona" = String, Path, description = "Persona id, or its slug in any case"), ChatParams,
        ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first request's message instead of saying it twice")),
    responses((status = 200, description = "The message and the persona's answer", body = PersonaChatOut),
        (status = 202, description = "The message is kept; the answer was not ready in time (`reply` is null)", body = PersonaChatOut),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 410, description = "The persona was deleted (`persona_deleted`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "The person used the persona's daily messages (`rate_limited`, with `Retry-After`: seconds until midnight UTC)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the person may write again")))),
    security(("bearer" = ["viewer"])))]
async fn chat_with_persona(
    State(state): State<AppState>,
    caller: Caller,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    IdempotencyKey(key): IdempotencyKey,
    NamePath(reference): NamePath,
    ApiQuery(params): ApiQuery<ChatParams>,
    ApiJson(input): ApiJson<PersonaChatIn>,
) -> ApiResult<(StatusCode, Json<PersonaChatOut>)> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    let wait = params.wait.unwrap_or(5);
    if wait > domain::personas::CHAT_WAIT_MAX {
        return Err(
            crate::error::DomainError::Validation(vec![agentops_sdk::types::FieldError {
                field: "wait".into(),
                message: format!(
                    "must be between 0 and {} seconds",
                    domain::personas::CHAT_WAIT_MAX
                ),
            }])
            .into(),
        );
    }
    let out = domain::personas::chat(
        &state,
        &caller,
        &actor,
        &reference,
        input,
        key,
        std::time::Duration::from_secs(wait),
    )
    .await?;
    let status = if out.reply.is_some() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(out)))
}

/// Filters and paging of `GET /personas`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PersonaListParams {
    /// Only this owner's (`me`: who acts).
    owner: Option<String>,
    /// Only this visibility.
    visibility: Option<Visibility>,
    /// Only this status.
    status: Option<PersonaStatus>,
    /// Only those that are (`true`) or are not (`false`) a Telegram bot of their own.
    telegram_bot: Option<bool>,
    /// Items per page (1–200, default 50).
    limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Paging of a persona's versions.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct VersionListParams {
    /// Versions below this one (the last version of the previous page).
    before: Option<i32>,
    /// Items (1–200, default 50).
    limit: Option<u64>,
}

/// Create a persona, owned by who acts.
#[utoipa::path(post, path = "/personas", tag = "personas", request_body = PersonaIn,
    params(("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for (`telegram:123`); 1–200 characters")),
    responses((status = 201, body = PersonaOut),
        (status = 403, description = "A viewer key, or `owner`/`X-On-Behalf-Of` naming someone the key may not act for", body = ErrorBody),
        (status = 409, description = "The slug is taken, or the Telegram bot already is another persona (`already_exists`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "A provider key was given and the platform has no master key (`secrets_unavailable`)", body = ErrorBody)),
    security(("bearer" = ["agent"])))]
async fn create_persona(
    State(state): State<AppState>,
    AgentKey(caller): AgentKey,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    ApiJson(input): ApiJson<PersonaIn>,
) -> ApiResult<(StatusCode, Json<PersonaOut>)> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    let made = domain::personas::create(&state, &caller, &actor, input).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// List personas, newest first: the public ones and who acts's own (every one for an
/// admin key acting for itself).
#[utoipa::path(get, path = "/personas", tag = "personas",
    params(PersonaListParams, ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for")),
    responses((status = 200, body = Page<PersonaOut>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn list_personas(
    State(state): State<AppState>,
    caller: Caller,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    ApiQuery(params): ApiQuery<PersonaListParams>,
) -> ApiResult<Json<Page<PersonaOut>>> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    let page = PageParams {
        limit: params.limit,
        cursor: params.cursor,
    }
    .validate()?;
    let query = PersonaQuery {
        owner: params.owner,
        visibility: params.visibility,
        status: params.status,
        telegram_bot: params.telegram_bot,
    };
    Ok(Json(
        domain::personas::list(&state, &actor, query, page).await?,
    ))
}

/// Get a persona by id or slug (its system prompt only for its owner).
#[utoipa::path(get, path = "/personas/{persona}", tag = "personas",
    params(("persona" = String, Path, description = "Persona id, or its slug in any case"),
        ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for")),
    responses((status = 200, body = PersonaOut), (status = 400, description = "A path that cannot be read", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn get_persona(
    State(state): State<AppState>,
    caller: Caller,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    NamePath(reference): NamePath,
) -> ApiResult<Json<PersonaOut>> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    Ok(Json(
        domain::personas::get(&state, &actor, &reference).await?,
    ))
}

/// Change a persona (its owner only); a change of its prompt, model, temperature or
/// greeting makes a new version.
#[utoipa::path(patch, path = "/personas/{persona}", tag = "personas", request_body = PersonaPatch,
    params(("persona" = String, Path, description = "Persona id, or its slug"),
        ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for")),
    responses((status = 200, body = PersonaOut),
        (status = 403, description = "Not its owner", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The new slug is taken, or the Telegram bot already is another persona", body = ErrorBody),
        (status = 410, description = "It was deleted (`persona_deleted`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, description = "A provider key was given and the platform has no master key", body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn update_persona(
    State(state): State<AppState>,
    caller: Caller,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    NamePath(reference): NamePath,
    ApiJson(patch): ApiJson<PersonaPatch>,
) -> ApiResult<Json<PersonaOut>> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    Ok(Json(
        domain::personas::update(&state, &actor, &reference, patch).await?,
    ))
}

/// Whether a deletion purges.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeleteParams {
    /// `true`: remove the persona and its versions for good; else it is marked deleted,
    /// takes no new messages, and its history stays for its owner.
    purge: Option<bool>,
}

/// Delete a persona (its owner only).
#[utoipa::path(delete, path = "/personas/{persona}", tag = "personas",
    params(("persona" = String, Path, description = "Persona id, or its slug"), DeleteParams,
        ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for")),
    responses((status = 204), (status = 400, description = "A path that cannot be read", body = ErrorBody),
        (status = 403, description = "Not its owner", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn delete_persona(
    State(state): State<AppState>,
    caller: Caller,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    NamePath(reference): NamePath,
    ApiQuery(params): ApiQuery<DeleteParams>,
) -> ApiResult<StatusCode> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    domain::personas::delete(&state, &actor, &reference, params.purge.unwrap_or(false)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A persona's versions, newest first (prompts only for its owner).
#[utoipa::path(get, path = "/personas/{persona}/versions", tag = "personas",
    params(("persona" = String, Path, description = "Persona id, or its slug"), VersionListParams,
        ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for")),
    responses((status = 200, body = Vec<PersonaVersionOut>), (status = 400, description = "A path that cannot be read", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn list_versions(
    State(state): State<AppState>,
    caller: Caller,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    NamePath(reference): NamePath,
    ApiQuery(params): ApiQuery<VersionListParams>,
) -> ApiResult<Json<Vec<PersonaVersionOut>>> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    let limit = PageParams {
        limit: params.limit,
        cursor: None,
    }
    .validate()?
    .limit;
    Ok(Json(
        domain::personas::versions(&state, &actor, &reference, params.before, limit).await?,
    ))
}

/// The models people may choose for a persona (`AGENTOPS_PERSONA_MODELS`): what the
/// interfaces offer, and all a persona may name. Empty: any model name is taken.
#[utoipa::path(get, path = "/models", tag = "personas",
    responses((status = 200, body = PersonaModelsOut)),
    security(("bearer" = ["viewer"])))]
async fn list_models(State(state): State<AppState>, _viewer: ViewerKey) -> Json<PersonaModelsOut> {
    Json(domain::personas::models(&state))
}

/// A persona's conversations, newest first, each with its person, how many messages it
/// holds and when the last was written: for its owner (and the operator) only, a deleted
/// persona's too.
#[utoipa::path(get, path = "/personas/{persona}/conversations", tag = "personas",
    params(("persona" = String, Path, description = "Persona id, or its slug in any case"), PageParams,
        ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for")),
    responses((status = 200, body = Page<PersonaConversationOut>),
        (status = 400, description = "A path that cannot be read", body = ErrorBody),
        (status = 403, description = "Not its owner", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn list_conversations(
    State(state): State<AppState>,
    caller: Caller,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    NamePath(reference): NamePath,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<PersonaConversationOut>>> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    Ok(Json(
        domain::personas::conversations(&state, &actor, &reference, page.validate()?).await?,
    ))
}

/// One of a persona's conversations: its messages, newest first (one page of `limit` is
/// the last N; follow `next_cursor` for the whole history, to export it). For its owner
/// (and the operator) only.
#[utoipa::path(get, path = "/personas/{persona}/conversations/{thread}", tag = "personas",
    params(("persona" = String, Path, description = "Persona id, or its slug in any case"),
        ("thread" = uuid::Uuid, Path, description = "The conversation's thread id"), PageParams,
        ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for")),
    responses((status = 200, body = Page<MessageOut>),
        (status = 400, description = "A path that cannot be read", body = ErrorBody),
        (status = 403, description = "Not its owner", body = ErrorBody),
        (status = 404, description = "No such persona, or the thread is not one of its conversations", body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn conversation_messages(
    State(state): State<AppState>,
    caller: Caller,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    NameIdPath(reference, thread): NameIdPath,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Page<MessageOut>>> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    Ok(Json(
        domain::personas::conversation(&state, &actor, &reference, thread, page.validate()?)
            .await?,
    ))
}

/// One version of a persona.
#[utoipa::path(get, path = "/personas/{persona}/versions/{version}", tag = "personas",
    params(("persona" = String, Path, description = "Persona id, or its slug"),
        ("version" = u32, Path, description = "Version number"),
        ("X-On-Behalf-Of" = Option<String>, Header, max_length = 200, description = "The person an admin key acts for")),
    responses((status = 200, body = PersonaVersionOut), (status = 400, description = "A version that is not a number, or a path that cannot be read", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = ["viewer"])))]
async fn get_version(
    State(state): State<AppState>,
    caller: Caller,
    OnBehalfOf(on_behalf_of): OnBehalfOf,
    NameVersionPath(reference, number): NameVersionPath,
) -> ApiResult<Json<PersonaVersionOut>> {
    let actor = Actor::of(&caller, on_behalf_of.as_deref())?;
    Ok(Json(
        domain::personas::version(&state, &actor, &reference, number).await?,
    ))
}
