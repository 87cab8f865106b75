//! The server side of the WebSocket protocol (RFC 6455), as much of it as the event
//! stream needs: the opening handshake, frames written from bytes encoded once, and a
//! reader of what clients send.
//!
//! Why not tungstenite (through axum's `WebSocket`) here: every subscriber receives the
//! same bytes, and a server's frames are never masked, so an event's frame can be
//! encoded once and written as is to every socket. Going through tungstenite copied and
//! framed each event once per subscriber, behind a lock shared by the split halves;
//! at a thousand subscribers that was a third of the stream's CPU. Clients of the
//! stream have nothing to say: their data frames are read and dropped without being
//! kept, pings are answered, and a close is echoed.
//!
//! This module must not know about events: it moves frames.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};

use agentops_sdk::types::ErrorCode;

use crate::error::ApiError;

/// Largest data frame a client may send (it has no reason to send any).
pub const MAX_CLIENT_FRAME: u64 = 64 * 1024;

/// Close codes (RFC 6455, section 7.4.1).
pub mod close_code {
    /// The client's close, echoed.
    pub const NORMAL: u16 = 1000;
    /// The client broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The client sent text that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// The client sent a frame over [`super::MAX_CLIENT_FRAME`].
    pub const TOO_BIG: u16 = 1009;

    /// Whether `code` may appear in a close frame (1004–1006 and 1015 are reserved for
    /// local use, and codes below 1000 or from 5000 are not defined).
    pub fn may_be_sent(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// The upgraded connection.
pub type Connection = TokioIo<hyper::upgrade::Upgraded>;
/// Its reading half.
pub type ReadHalf = tokio::io::ReadHalf<Connection>;
/// Its writing half.
pub type WriteHalf = tokio::io::WriteHalf<Connection>;

/// A valid WebSocket opening request (HTTP/1.1, version 13), as an extractor; anything
/// else is refused with a JSON error before the handler runs.
pub struct WsUpgrade {
    key: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for WsUpgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let refuse = |message: &str| {
            ApiError::refused(ErrorCode::NotAWebsocketRequest, message.to_owned()).into_response()
        };
        if parts.method != Method::GET {
            return Err(refuse("a WebSocket opening request must be a GET"));
        }
        if !header_has_token(&parts.headers, header::CONNECTION, "upgrade")
            || !header_has_token(&parts.headers, header::UPGRADE, "websocket")
        {
            return Err(refuse(
                "this endpoint speaks WebSocket: send `Connection: upgrade` and `Upgrade: websocket`",
            ));
        }
        if parts
            .headers
            .get(header::SEC_WEBSOCKET_VERSION)
            .is_none_or(|v| v.as_bytes() != b"13")
        {
            // RFC 6455, section 4.4: 426 (the code's status) with the versions spoken.
            let mut response = ApiError::refused(
                ErrorCode::UnsupportedWebsocketVersion,
                "only WebSocket version 13 is spoken",
            )
            .into_response();
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            return Err(response);
        }
        let key = parts
            .headers
            .get(header::SEC_WEBSOCKET_KEY)
            .filter(|key| {
                // A base64-encoded 16-byte nonce (RFC 6455, section 4.1).
                key.len() == 24
                    && base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key)
                        .is_ok_and(|nonce| nonce.len() == 16)
            })
            .cloned()
            .ok_or_else(|| refuse("Sec-WebSocket-Key must be a base64-encoded 16-byte nonce"))?;
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or_else(|| refuse("this connection cannot be upgraded"))?;
        Ok(Self { key, on_upgrade })
    }
}

impl WsUpgrade {
    /// Answers `101 Switching Protocols` and runs `session` on the connection once the
    /// client has the answer.
    pub fn on_upgrade<F, Fut>(self, session: F) -> Response
    where
        F: FnOnce(ReadHalf, WriteHalf) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let accept =
            tokio_tungstenite::tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let (reader, writer) = tokio::io::split(TokioIo::new(upgraded));
                    session(reader, writer).await;
                }
                Err(err) => tracing::debug!(error = %err, "WebSocket upgrade failed"),
            }
        });
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// Whether a comma-separated header holds `token` (case-insensitively).
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    out.put_u8(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => out.put_u8(len as u8),
        len @ 126..=0xFFFF => {
            out.put_u8(126);
            out.put_u16(len as u16);
        }
        len => {
            out.put_u8(127);
            out.put_u64(len as u64);
        }
    }
    out.put_slice(payload);
    out.freeze()
}

/// A text frame holding `text`, ready to be written to any number of sockets.
pub fn text_frame(text: &str) -> Bytes {
    frame(OP_TEXT, text.as_bytes())
}

/// A ping frame carrying `payload` (at most 125 bytes, as for every control frame).
pub fn ping_frame(payload: &[u8]) -> Bytes {
    frame(OP_PING, payload)
}

/// The answer to a ping carrying `payload`.
pub fn pong_frame(payload: &[u8]) -> Bytes {
    frame(OP_PONG, payload)
}

/// A close frame with `code` and `reason` (cut to fit a control frame's 125 bytes at a
/// character boundary).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    frame(OP_CLOSE, &payload)
}

/// Writes `frames` with as few system calls as the socket allows; fails with
/// `TimedOut` if the socket takes nothing for `stall`.
pub async fn write_frames<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frames: &[Bytes],
    stall: std::time::Duration,
) -> std::io::Result<()> {
    let total: usize = frames.iter().map(Bytes::len).sum();
    let mut written = 0usize;
    while written < total {
        let mut write = WriteFrames {
            writer: &mut *writer,
            frames,
            skip: written,
        };
        // Almost every write completes at once: arm the timer only for one that waits.
        let at_once = std::future::poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut write).poll(cx) {
                Poll::Ready(result) => Some(result),
                Poll::Pending => None,
            })
        })
        .await;
        let n = match at_once {
            Some(result) => result?,
            None => tokio::time::timeout(stall, write)
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??,
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    Ok(())
}

/// Most frames one vectored write takes (well under Linux's `IOV_MAX`); the slices live
/// on the stack, so a write allocates nothing.
const WRITE_SLICES: usize = 64;

/// One vectored write of `frames` from byte `skip` on.
struct WriteFrames<'a, W> {
    writer: &'a mut W,
    frames: &'a [Bytes],
    skip: usize,
}

impl<W: AsyncWrite + Unpin> Future for WriteFrames<'_, W> {
    type Output = std::io::Result<usize>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut skip = self.skip;
        let mut slices = [std::io::IoSlice::new(&[]); WRITE_SLICES];
        let mut used = 0;
        for frame in self.frames {
            if skip >= frame.len() {
                skip -= frame.len();
                continue;
            }
            if used == WRITE_SLICES {
                break;
            }
            slices[used] = std::io::IoSlice::new(&frame[skip..]);
            used += 1;
            skip = 0;
        }
        let this = &mut *self;
        Pin::new(&mut *this.writer).poll_write_vectored(cx, &slices[..used])
    }
}

/// What a client said that the server must act on.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame {
    /// A ping: answer with a pong carrying this payload.
    Ping(Vec<u8>),
    /// The client closes: echo its code, then end the connection.
    Close(Option<u16>),
    /// The client broke the protocol or sent too much: close with this code.
    Violation(u16, &'static str),
}

/// Reads client frames until one needs the server to act (data frames and pongs are
/// read and dropped); `None` when the connection ends or fails.
pub async fn next_client_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Option<ClientFrame> {
    loop {
        let mut head = [0u8; 2];
        reader.read_exact(&mut head).await.ok()?;
        let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0F);
        if head[0] & 0x70 != 0 {
            return Some(ClientFrame::Violation(
                close_code::PROTOCOL_ERROR,
                "no extension was negotiated",
            ));
        }
        if head[1] & 0x80 == 0 {
            return Some(ClientFrame::Violation(
                close_code::PROTOCOL_ERROR,
                "client frames must be masked",
            ));
        }
        let length = match head[1] & 0x7F {
            126 => u64::from(reader.read_u16().await.ok()?),
            127 => reader.read_u64().await.ok()?,
            short => u64::from(short),
        };
        let mut mask = [0u8; 4];
        reader.read_exact(&mut mask).await.ok()?;
        match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin || length > 125 {
                    return Some(ClientFrame::Violation(
                        close_code::PROTOCOL_ERROR,
                        "control frames must be whole and at most 125 bytes",
                    ));
                }
                let mut payload = vec![0u8; length as usize];
                reader.read_exact(&mut payload).await.ok()?;
                for (i, byte) in payload.iter_mut().enumerate() {
                    *byte ^= mask[i % 4];
                }
                match opcode {
                    OP_PING => return Some(ClientFrame::Ping(payload)),
                    OP_CLOSE => {
                        // Empty, or a code that may be sent and a UTF-8 reason (5.5.1).
                        let code = match payload.as_slice() {
                            [] => None,
                            [high, low, reason @ ..] => {
                                let code = u16::from_be_bytes([*high, *low]);
                                if !close_code::may_be_sent(code) {
                                    return Some(ClientFrame::Violation(
                                        close_code::PROTOCOL_ERROR,
                                        "invalid close code",
                                    ));
                                }
                                if std::str::from_utf8(reason).is_err() {
                                    return Some(ClientFrame::Violation(
                                        close_code::INVALID_DATA,
                                        "the close reason is not UTF-8",
                                    ));
                                }
                                Some(code)
                            }
                            [_] => {
                                return Some(ClientFrame::Violation(
                                    close_code::PROTOCOL_ERROR,
                                    "a close code takes two bytes",
                                ));
                            }
                        };
                        return Some(ClientFrame::Close(code));
                    }
                    _ => {} // a pong: nothing to do
                }
            }
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {
                if length > MAX_CLIENT_FRAME {
                    return Some(ClientFrame::Violation(
                        close_code::TOO_BIG,
                        "clients of this stream have nothing to send",
                    ));
                }
                let skipped =
                    tokio::io::copy(&mut (&mut *reader).take(length), &mut tokio::io::sink())
                        .await
                        .ok()?;
                if skipped < length {
                    return None;
                }
            }
            _ => {
                return Some(ClientFrame::Violation(
                    close_code::PROTOCOL_ERROR,
                    "unknown opcode",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::ReadBuf;

    use super::*;

    /// A reader that hands out its bytes in the chunks it was given.
    struct Chunks(std::collections::VecDeque<Vec<u8>>);

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if let Some(mut chunk) = self.0.pop_front() {
                let n = chunk.len().min(buf.remaining());
                buf.put_slice(&chunk[..n]);
                if n < chunk.len() {
                    self.0.push_front(chunk.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    /// A frame as a client sends it: masked.
    fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![first];
        match payload.len() {
            len @ 0..=125 => out.push(0x80 | len as u8),
            len @ 126..=0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    async fn read_all(bytes: Vec<u8>, chunk: usize) -> Vec<ClientFrame> {
        let mut reader = Chunks(bytes.chunks(chunk).map(<[u8]>::to_vec).collect());
        let mut frames = Vec::new();
        while let Some(frame) = next_client_frame(&mut reader).await {
            let stop = !matches!(frame, ClientFrame::Ping(_));
            frames.push(frame);
            if stop {
                break;
            }
        }
        frames
    }

    #[test]
    fn server_frames_use_the_shortest_length_encoding() {
        assert_eq!(&text_frame("hi")[..], b"\x81\x02hi");
        let medium = "x".repeat(300);
        let frame = text_frame(&medium);
        assert_eq!(&frame[..4], &[0x81, 126, 0x01, 0x2C]);
        assert_eq!(frame.len(), 304);
        let large = "y".repeat(70_000);
        let frame = text_frame(&large);
        assert_eq!(frame[1], 127);
        assert_eq!(u64::from_be_bytes(frame[2..10].try_into().unwrap()), 70_000);
        assert_eq!(&ping_frame(b"")[..], b"\x89\x00");
        assert_eq!(&ping_frame(b"42")[..], b"\x89\x0242");
        assert_eq!(&pong_frame(b"ab")[..], b"\x8A\x02ab");
    }

    #[test]
    fn only_codes_defined_for_the_wire_are_echoed() {
        for code in [1000, 1001, 1003, 1007, 1011, 3000, 4000, 4999] {
            assert!(close_code::may_be_sent(code), "{code}");
        }
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(!close_code::may_be_sent(code), "{code}");
        }
    }

    #[test]
    fn close_reasons_are_cut_to_fit_a_control_frame_on_a_char_boundary() {
        let frame = close_frame(4000, &"é".repeat(100));
        assert!(frame.len() - 2 <= 125);
        assert_eq!(&frame[2..4], &4000u16.to_be_bytes());
        assert!(std::str::from_utf8(&frame[4..]).is_ok());
    }

    #[tokio::test]
    async fn client_data_is_dropped_pings_are_surfaced_and_close_ends() {
        let mut bytes = client_frame(0x81, b"hello");
        bytes.extend(client_frame(0x82, &vec![7u8; 60_000]));
        bytes.extend(client_frame(0x89, b"are you there"));
        bytes.extend(client_frame(0x8A, b"late pong"));
        bytes.extend(client_frame(0x88, &[0x03, 0xE8, b'b', b'y', b'e']));
        for chunk in [1, 3, 1000, 1 << 20] {
            assert_eq!(
                read_all(bytes.clone(), chunk).await,
                [
                    ClientFrame::Ping(b"are you there".to_vec()),
                    ClientFrame::Close(Some(1000)),
                ],
                "read in chunks of {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn protocol_violations_are_reported_with_their_close_code() {
        let unmasked = vec![0x81, 0x02, b'h', b'i'];
        let too_big = client_frame(0x82, &vec![0u8; MAX_CLIENT_FRAME as usize + 1]);
        let long_ping = client_frame(0x89, &[0u8; 126]);
        let fragmented_ping = client_frame(0x09, b"x");
        let reserved_bits = client_frame(0xC1, b"x");
        let unknown_opcode = client_frame(0x83, b"x");
        let one_byte_close = client_frame(0x88, &[0x03]);
        let reserved_close_code = client_frame(0x88, &1005u16.to_be_bytes());
        let mut bad_reason = 1000u16.to_be_bytes().to_vec();
        bad_reason.extend_from_slice(&[0xFF, 0xFE]);
        let bad_reason = client_frame(0x88, &bad_reason);
        for (bytes, code) in [
            (unmasked, close_code::PROTOCOL_ERROR),
            (too_big, close_code::TOO_BIG),
            (long_ping, close_code::PROTOCOL_ERROR),
            (fragmented_ping, close_code::PROTOCOL_ERROR),
            (reserved_bits, close_code::PROTOCOL_ERROR),
            (unknown_opcode, close_code::PROTOCOL_ERROR),
            (one_byte_close, close_code::PROTOCOL_ERROR),
            (reserved_close_code, close_code::PROTOCOL_ERROR),
            (bad_reason, close_code::INVALID_DATA),
        ] {
            let frames = read_all(bytes, 4096).await;
            assert!(
                matches!(frames.as_slice(), [ClientFrame::Violation(c, _)] if *c == code),
                "{frames:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_connection_that_ends_mid_frame_ends_the_reader() {
        let mut bytes = client_frame(0x81, b"hello");
        bytes.truncate(4);
        assert!(read_all(bytes, 4096).await.is_empty());
    }

    #[tokio::test]
    async fn batches_of_frames_are_written_whole() {
        let frames: Vec<Bytes> = (0..100)
            .map(|i| text_frame(&format!("event {i}")))
            .collect();
        // A small pipe forces partial vectored writes.
        let (mut client, mut server) = tokio::io::duplex(64);
        let expected: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        write_frames(&mut server, &frames, std::time::Duration::from_secs(10))
            .await
            .unwrap();
        drop(server);
        assert_eq!(reading.await.unwrap(), expected);
    }

    #[tokio::test]
    async fn a_socket_that_takes_nothing_times_out() {
        let (_client, mut server) = tokio::io::duplex(64);
        let frames = vec![text_frame(&"x".repeat(1000))];
        let err = write_frames(&mut server, &frames, std::time::Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    }
}
