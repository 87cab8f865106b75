//! The dashboard's static files, compiled into the binary, served under a content hash
//! (`/assets/app.css?v=3f9c…`) so a browser may keep them for a year and still never
//! runs a stale one; and the security headers every dashboard answer carries.

use std::sync::LazyLock;

use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const FILES: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/htmx.min.js"),
    },
    Asset {
        name: "htmx-ext-sse.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/vendor/htmx-ext-sse.js"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/app.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        bytes: include_bytes!("../assets/icon.svg"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/app.css"),
    },
];

/// Each file's content hash (first 12 hex digits of its SHA-256).
static HASHES: LazyLock<Vec<String>> = LazyLock::new(|| {
    FILES
        .iter()
        .map(|f| hex::encode(Sha256::digest(f.bytes))[..12].to_owned())
        .collect()
});

/// The URL of an asset, with its content hash.
pub(crate) fn url(name: &str) -> String {
    let hash = FILES
        .iter()
        .position(|f| f.name == name)
        .map_or("", |i| HASHES[i].as_str());
    format!("/assets/{name}?v={hash}")
}

/// `GET /assets/{name}`.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    let Some(i) = FILES.iter().position(|f| f.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let file = &FILES[i];
    (
        [
            (header::CONTENT_TYPE, file.content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            (header::ETAG, &format!("\"{}\"", HASHES[i])),
        ],
        file.bytes,
    )
        .into_response()
}

/// What every page may load: only its own files; no inline script or style, no eval,
/// never framed.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every dashboard answer.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let from_htmx = request.headers().contains_key("hx-request");
    let mut response = next.run(request).await;
    // htmx follows a redirect inside the part it refreshes: a session that ended must
    // take the whole page to the sign-in form instead.
    if from_htmx
        && response.status().is_redirection()
        && response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|l| l.starts_with("/login"))
    {
        let mut redirect = StatusCode::OK.into_response();
        redirect
            .headers_mut()
            .insert("hx-redirect", HeaderValue::from_static("/login"));
        for cookie in response.headers().get_all(header::SET_COOKIE) {
            redirect
                .headers_mut()
                .append(header::SET_COOKIE, cookie.clone());
        }
        response = redirect;
    }
    let headers = response.headers_mut();
    // A handler may set a stricter policy of its own (artifact bytes).
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
