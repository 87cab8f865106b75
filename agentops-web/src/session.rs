//! Signing in and out, and who is asking.
//!
//! The person pastes an API key once; the dashboard exchanges it for a *session* key
//! (`POST /api/v1/sessions`: same role, expires, dies with the key it came from) and
//! keeps only the session, in an HttpOnly, `SameSite=Strict` cookie (`Secure` when the
//! request came over HTTPS). Logout ends the session in the API, so the cookie is worth
//! nothing afterwards, wherever it was copied to.
//!
//! Every form carries a CSRF token: a hash of the session secret, which a page of
//! another site can neither read (HttpOnly, same-origin) nor compute. The login form,
//! before any session exists, uses a double-submit token (a random cookie the form must
//! repeat).

use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use agentops_sdk::types::{Role, SessionIn};

use crate::AppState;
use crate::error::WebError;
use crate::layout;

/// The session cookie's name.
pub const COOKIE: &str = "agentops_session";
const LOGIN_CSRF_COOKIE: &str = "agentops_login";
/// How long a dashboard session lasts (the API caps it at the key's own expiry).
const SESSION_TTL_SECS: u32 = 12 * 60 * 60;

/// The signed-in person: a client acting with their session, their role, and the CSRF
/// token their forms must carry.
pub(crate) struct Session {
    pub(crate) client: agentops_sdk::Client,
    /// The session key itself, for the Chief of Staff's API (not the platform's).
    pub(crate) secret: String,
    pub(crate) role: Role,
    pub(crate) csrf: String,
}

impl Session {
    /// Whether the role may change things (the API decides anyway; this hides buttons).
    pub(crate) fn can_write(&self) -> bool {
        self.role == Role::Admin
    }

    pub(crate) fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Refuses a form whose token is not this session's.
    pub(crate) fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if constant_time_eq(token.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }
}

/// The CSRF token of a session secret.
fn csrf_of(secret: &str) -> String {
    hex::encode(Sha256::digest(format!("agentops-csrf\0{secret}")))[..32].to_owned()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The cookie value: `<role>.<session secret>` (the role only chooses which buttons to
/// show; the API checks the secret's real role on every call).
fn parse_cookie(value: &str) -> Option<(Role, String)> {
    let (role, secret) = value.split_once('.')?;
    let role = match role {
        "admin" => Role::Admin,
        "agent" => Role::Agent,
        "viewer" => Role::Viewer,
        _ => return None,
    };
    (secret.starts_with("aok_") && secret.len() < 200).then(|| (role, secret.to_owned()))
}

fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn set_cookie(name: &str, value: &str, max_age: u32, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some((role, secret)) = cookie(&parts.headers, COOKIE).and_then(|v| parse_cookie(&v))
        else {
            return Err(WebError::signed_out(&parts.headers, &parts.uri));
        };
        Ok(Session {
            client: state
                .api
                .with_api_key(&secret)
                .map_err(|_| WebError::signed_out(&parts.headers, &parts.uri))?,
            role,
            csrf: csrf_of(&secret),
            secret,
        })
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    next: Option<String>,
}

/// Only a path of this site: never an absolute URL or `//host`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(|c| c.is_control() || c.is_whitespace()) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// `GET /login`.
pub(crate) async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    login_form(
        &state,
        &headers,
        query.next.as_deref(),
        None,
        StatusCode::OK,
    )
}

fn login_form(
    state: &AppState,
    headers: &HeaderMap,
    next: Option<&str>,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    // A sign-in form open in another tab keeps working: its token is reused.
    let token = cookie(headers, LOGIN_CSRF_COOKIE)
        .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| {
            let mut bytes = [0u8; 16];
            rand::rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        });
    let secure = state.secure_cookies || is_https(headers);
    let body = html! {
        section.login {
            h1 { "Sign in to AgentOps" }
            p { "Paste an API key. The admin key printed at the platform's first start (also in "
                code { "agentops-data/admin.key" } ") works; a viewer key sees everything and changes nothing." }
            @if let Some(problem) = problem {
                p.problem role="alert" { (problem) }
            }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(token);
                input type="hidden" name="next" value=(safe_next(next));
                label for="key" { "API key" }
                input #key type="password" name="key" autocomplete="off" required
                    placeholder="aok_…" autofocus;
                button type="submit" { "Sign in" }
            }
        }
    };
    (
        status,
        [(
            header::SET_COOKIE,
            set_cookie(LOGIN_CSRF_COOKIE, &token, 3600, secure),
        )],
        layout::bare("Sign in", body),
    )
        .into_response()
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    key: String,
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login`: exchanges the key for a session.
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return login_form(
            &state,
            &headers,
            form.next.as_deref(),
            Some("The sign-in form expired; please try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let key = form.key.trim();
    if key.is_empty() {
        return login_form(
            &state,
            &headers,
            form.next.as_deref(),
            Some("Paste an API key."),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let Ok(client) = state.api.with_api_key(key) else {
        return login_form(
            &state,
            &headers,
            form.next.as_deref(),
            Some("That is not an API key (it holds characters a key never has)."),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(browser_name)
        .unwrap_or("browser");
    let started = client
        .keys()
        .start_session(SessionIn {
            name: Some(format!("dashboard ({agent})")),
            ttl_seconds: Some(SESSION_TTL_SECS),
        })
        .await;
    match started {
        Ok(session) => {
            let secure = state.secure_cookies || is_https(&headers);
            let value = format!("{}.{}", session.key.role, session.secret);
            let mut response = Redirect::to(&safe_next(form.next.as_deref())).into_response();
            let headers = response.headers_mut();
            if let Ok(v) = set_cookie(COOKIE, &value, SESSION_TTL_SECS, secure).parse() {
                headers.append(header::SET_COOKIE, v);
            }
            if let Ok(v) = set_cookie(LOGIN_CSRF_COOKIE, "", 0, secure).parse() {
                headers.append(header::SET_COOKIE, v);
            }
            response
        }
        Err(err) if err.is_auth() => login_form(
            &state,
            &headers,
            form.next.as_deref(),
            Some("That key was not accepted: it is unknown, revoked or expired."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(err) => {
            tracing::warn!(error = %err, "dashboard sign-in failed");
            login_form(
                &state,
                &headers,
                form.next.as_deref(),
                Some("The platform could not be reached; please try again."),
                StatusCode::BAD_GATEWAY,
            )
        }
    }
}

fn browser_name(agent: &str) -> &'static str {
    for (needle, name) in [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ] {
        if agent.contains(needle) {
            return name;
        }
    }
    "browser"
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: String,
}

/// `POST /logout`: ends the session in the API and forgets the cookie.
pub(crate) async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    session.check_csrf(&form.csrf)?;
    if let Err(err) = session.client.keys().end_session().await
        && !err.is_auth()
    {
        return Err(err.into());
    }
    let secure = state.secure_cookies || is_https(&headers);
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = set_cookie(COOKIE, "", 0, secure).parse() {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// A hidden CSRF field for a form of this session.
pub(crate) fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/tasks?status=queued")),
            "/tasks?status=queued"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "tasks",
            "/\t/evil.example",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_cookie_holds_a_role_and_a_session_secret() {
        assert_eq!(
            parse_cookie("viewer.aok_abc"),
            Some((Role::Viewer, "aok_abc".to_owned()))
        );
        assert_eq!(parse_cookie("root.aok_abc"), None);
        assert_eq!(parse_cookie("admin.nope"), None);
        assert_ne!(csrf_of("aok_a"), csrf_of("aok_b"));
        assert_eq!(csrf_of("aok_a").len(), 32);
    }
}
