//! What goes wrong while serving a page, and the page that says so.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use crate::layout;

/// Why a page could not be served.
#[derive(Debug)]
pub(crate) enum WebError {
    /// A form without this session's CSRF token.
    Csrf,
    /// Something the person typed cannot be used.
    BadInput(String),
    /// The platform API refused or could not be reached.
    Api(agentops_sdk::Error),
}

impl From<agentops_sdk::Error> for WebError {
    fn from(err: agentops_sdk::Error) -> Self {
        WebError::Api(err)
    }
}

impl WebError {
    /// The answer to a request without a session: htmx follows `HX-Redirect` (a 303
    /// would put the sign-in page inside the part it refreshes); a page goes to the
    /// sign-in form, which brings the person back to `uri` afterwards.
    pub(crate) fn signed_out(headers: &HeaderMap, uri: &axum::http::Uri) -> Response {
        if headers.contains_key("hx-request") {
            return (StatusCode::OK, [("hx-redirect", "/login")]).into_response();
        }
        let next = uri.path_and_query().map_or("/", |p| p.as_str());
        Redirect::to(&format!("/login?next={}", percent_encode(next))).into_response()
    }
}

/// Percent-encodes everything but unreserved characters and `/`.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "Refused",
                "This form did not come from your dashboard session (its CSRF token is missing or wrong). Reload the page and try again.".to_owned(),
            ),
            WebError::BadInput(message) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Cannot do that", message)
            }
            WebError::Api(err) => match err.status() {
                Some(StatusCode::UNAUTHORIZED) => {
                    // The session ended (logout elsewhere, expiry, its key revoked).
                    let mut response = Redirect::to("/login").into_response();
                    if let Ok(v) = format!("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict", crate::COOKIE).parse() {
                        response.headers_mut().append(header::SET_COOKIE, v);
                    }
                    return response;
                }
                Some(StatusCode::FORBIDDEN) => (
                    StatusCode::FORBIDDEN,
                    "Not allowed",
                    "Your key's role may not do this. Sign in with an admin key to change things.".to_owned(),
                ),
                Some(StatusCode::NOT_FOUND) => {
                    (StatusCode::NOT_FOUND, "Not found", "There is no such thing (any more).".to_owned())
                }
                Some(status) if status.is_client_error() => {
                    let message = match &err {
                        agentops_sdk::Error::Api { message, .. } => message.clone(),
                        other => other.to_string(),
                    };
                    (status, "Cannot do that", message)
                }
                _ => {
                    tracing::warn!(error = %err, "the dashboard could not reach the API");
                    (
                        StatusCode::BAD_GATEWAY,
                        "The platform did not answer",
                        "The dashboard could not get an answer from the platform API. It retries on its own; reload in a moment.".to_owned(),
                    )
                }
            },
        };
        let body = html! {
            section.problem-page {
                h1 { (title) }
                p { (message) }
                p { a href="/" { "Overview" } }
            }
        };
        (status, layout::bare(title, body)).into_response()
    }
}
