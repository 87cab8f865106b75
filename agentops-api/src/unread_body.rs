//! Keeping HTTP/1.1 connections usable when a request is answered before its body was
//! read.
//!
//! Many answers come before the body matters: a missing key (401), a role that may not
//! (403), an unknown route (404), a rate limit (429), a body over the limit (413, read
//! only part-way). hyper then cannot reuse the connection, because the unread bytes sit
//! where the next request should start, so it closes it; without a `Connection: close`
//! on the answer, a client that reuses the connection finds it dead on its next request.
//!
//! This layer, outermost, watches the request body. If the answer is ready while the
//! body was dropped unread, it reads and discards what is left, up to [`DRAIN_LIMIT`]
//! bytes and [`DRAIN_TIMEOUT`], so the connection stays good; past either bound it says
//! `Connection: close`, so the client knows to open a new one.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper::body::{Frame, SizeHint};
use tokio::sync::oneshot;

/// Most bytes of an unread body read and discarded to keep its connection open.
pub const DRAIN_LIMIT: usize = 64 * 1024;

/// Longest spent discarding an unread body before giving up on its connection.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// The middleware (see the module doc).
pub async fn keep_connection_usable(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let (unread_tx, mut unread_rx) = oneshot::channel();
    let watched = Watched {
        inner: Some(body),
        unread: Some(unread_tx),
    };
    let mut response = next
        .run(Request::from_parts(parts, Body::new(watched)))
        .await;
    // The handler dropped the body before reading it all: what is left came back here.
    let Ok(rest) = unread_rx.try_recv() else {
        return response;
    };
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, axum::body::to_bytes(rest, DRAIN_LIMIT));
    if !matches!(drained.await, Ok(Ok(_))) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that, dropped before its end, hands what is left back to
/// [`keep_connection_usable`].
struct Watched {
    inner: Option<Body>,
    unread: Option<oneshot::Sender<Body>>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = Pin::new(inner).poll_frame(cx);
        if matches!(frame, Poll::Ready(None | Some(Err(_)))) {
            // Finished (or broken: nothing to save then): nothing to hand back.
            this.unread = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let (Some(inner), Some(unread)) = (self.inner.take(), self.unread.take())
            && !inner.is_end_stream()
        {
            let _ = unread.send(inner);
        }
    }
}
