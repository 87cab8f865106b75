//! `/keys` (admin): create a key (its secret shown once, with a copy button), list and
//! revoke keys.

use axum::extract::{Form, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use agentops_sdk::types::{ApiKeyCreated, ApiKeyIn, Role};

use crate::error::WebError;
use crate::layout::{self, Nav, ago};
use crate::session::{CsrfForm, Session, csrf_field};

/// `GET /keys`.
pub(crate) async fn page(session: Session) -> Result<Response, WebError> {
    Ok(render(&session, None).await?.into_response())
}

async fn render(
    session: &Session,
    created: Option<&ApiKeyCreated>,
) -> Result<axum::response::Html<String>, WebError> {
    let keys = session.client.keys().list().limit(200).send().await?;
    let body = html! {
        h1 { "API keys" }
        @if let Some(created) = created {
            section.panel.secret role="status" {
                h2 { "Key “" (created.key.name) "” created" }
                p { "Copy its secret now: it is shown this once and never again." }
                div.copy {
                    input #new-secret readonly value=(created.secret) aria-label="The new key's secret";
                    button type="button" data-copy="#new-secret" { "Copy" }
                }
            }
        }
        section.panel {
            h2 { "New key" }
            form.inline method="post" action="/keys" {
                (csrf_field(session))
                label { "Name " input name="name" required maxlength="100" placeholder="seed-worker-1"; }
                label { "Role "
                    select name="role" {
                        option value="agent" { "agent (runs tasks)" }
                        option value="viewer" { "viewer (reads)" }
                        option value="admin" { "admin (everything)" }
                    }
                }
                button type="submit" { "Create" }
            }
        }
        table.list {
            thead { tr { th { "Name" } th { "Role" } th.wide { "Starts with" } th.wide { "Created" } th.wide { "Expires" } th {} } }
            tbody {
                @for key in &keys.items {
                    tr data-key=(key.id) {
                        td { (key.name) }
                        td { (key.role) }
                        td.wide { code { (key.prefix) "…" } }
                        td.wide { (ago(key.created_at)) }
                        td.wide { @if let Some(at) = key.expires_at { (ago(at)) } @else { "never" } }
                        td {
                            form method="post" action=(format!("/keys/{}/revoke", key.id)) {
                                (csrf_field(session))
                                button.danger type="submit" data-action="revoke" { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(session, Nav::Keys, "Keys", None, body))
}

#[derive(Deserialize)]
pub(crate) struct NewKeyForm {
    csrf: String,
    name: String,
    role: String,
}

/// `POST /keys`: creates a key and shows its secret once (no redirect: the secret must
/// not land in a URL or the history).
pub(crate) async fn create(
    session: Session,
    Form(form): Form<NewKeyForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    let role = match form.role.as_str() {
        "admin" => Role::Admin,
        "agent" => Role::Agent,
        "viewer" => Role::Viewer,
        other => return Err(WebError::BadInput(format!("`{other}` is not a role"))),
    };
    let created = session
        .client
        .keys()
        .create(ApiKeyIn {
            name: form.name.trim().to_owned(),
            role,
            expires_at: None,
        })
        .await?;
    let page = render(&session, Some(&created)).await?;
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        page,
    )
        .into_response())
}

/// `POST /keys/{id}/revoke`.
pub(crate) async fn revoke(
    session: Session,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    session.client.keys().revoke(id).await?;
    Ok(Redirect::to("/keys").into_response())
}
