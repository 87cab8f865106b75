//! The floor `agentops-bench events --baseline` compares the API against: a server
//! process that does nothing but fan one pre-encoded frame out to every subscriber.
//!
//! It takes the same WebSocket subscribers as the real run, answers their opening
//! handshake, and then, `--rate` times a second, writes one text frame of the real
//! events' size to each of them, through one task per subscriber fed by a broadcast
//! channel that writes whatever frames are waiting at once, as the API's sessions do.
//! There is no database, no Redis, no HTTP routing and no JSON encoding per event: what
//! it costs is the loopback TCP fan-out itself, on the same cores, with the same
//! clients. The API's latency is not expected to go below it.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::error::TryRecvError;

use agentops_api::events::ws;

/// Most frames written at once (the API's sessions take the same).
const SEND_BATCH: usize = 64;
/// How long a write may wait for a subscriber's socket.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may take to send its opening request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of the baseline server (started by `agentops-bench events --baseline`).
#[derive(Debug, Args)]
pub struct BaselineServerArgs {
    /// Address to listen on.
    #[arg(long, env = "AGENTOPS_BIND")]
    pub bind: String,
    /// Subscribers to wait for before writing.
    #[arg(long)]
    pub subscribers: usize,
    /// Events to write.
    #[arg(long)]
    pub events: usize,
    /// Events per second.
    #[arg(long)]
    pub rate: u32,
    /// Size of each event's JSON text, in bytes.
    #[arg(long)]
    pub frame_bytes: usize,
}

/// Serves the subscribers, writes the events, then waits to be stopped.
pub async fn serve(args: BaselineServerArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let (events, _) = tokio::sync::broadcast::channel::<Bytes>(16_384);
    let mut sessions = Vec::with_capacity(args.subscribers);
    while sessions.len() < args.subscribers {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        // The benchmark's probe for a listening server is not a subscriber, and a
        // connection that says nothing must not hold up the others.
        if !matches!(
            tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut socket)).await,
            Ok(Ok(()))
        ) {
            continue;
        }
        let mut receiver = events.subscribe();
        sessions.push(tokio::spawn(async move {
            // As the API's sessions do: frames already waiting go out in one write.
            let mut frames = Vec::with_capacity(SEND_BATCH);
            while let Ok(frame) = receiver.recv().await {
                frames.clear();
                frames.push(frame);
                while frames.len() < SEND_BATCH {
                    match receiver.try_recv() {
                        Ok(frame) => frames.push(frame),
                        // Too far behind (as `recv` would say): the run will miss events.
                        Err(TryRecvError::Lagged(_)) => return,
                        Err(_) => break,
                    }
                }
                if ws::write_frames(&mut socket, &frames, WRITE_TIMEOUT)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }));
    }
    let mut ticker =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    for id in 1..=args.events {
        ticker.tick().await;
        let _ = events.send(event_frame(id, args.frame_bytes));
    }
    drop(events);
    for session in sessions {
        let _ = session.await;
    }
    // The benchmark reads this process's CPU time, then stops it.
    std::future::pending::<()>().await;
    Ok(())
}

/// Answers a WebSocket opening request (RFC 6455, section 4.2.2).
async fn handshake(socket: &mut TcpStream) -> anyhow::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !request.ends_with(b"\r\n\r\n") {
        let n = socket.read(&mut buf).await?;
        if n == 0 || request.len() + n > 16 * 1024 {
            bail!("not a WebSocket opening request");
        }
        request.extend_from_slice(&buf[..n]);
    }
    let request = std::str::from_utf8(&request)?;
    let key = request
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, value)| value.trim())
        .context("no Sec-WebSocket-Key")?;
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    socket
        .write_all(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await?;
    Ok(())
}

/// Event `id`'s frame: JSON shaped like the API's (id first, `created_at` stamped now),
/// padded to `size` bytes of text, framed by the API's own encoder.
fn event_frame(id: usize, size: usize) -> Bytes {
    let created_at = serde_json::to_string(&chrono::Utc::now()).unwrap_or_default();
    let head =
        format!(r#"{{"id":{id},"type":"task.created","created_at":{created_at},"data":{{"pad":""#);
    let tail = r#""}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut text = String::with_capacity(head.len() + pad + tail.len());
    text.push_str(&head);
    text.extend(std::iter::repeat_n('x', pad));
    text.push_str(tail);
    ws::text_frame(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_events_of_the_asked_size() {
        let frame = event_frame(42, 900);
        // A 900-byte text takes the 16-bit length form: 4 header bytes.
        assert_eq!(frame.len(), 904);
        let text = std::str::from_utf8(&frame[4..]).expect("UTF-8");
        let event: serde_json::Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(event["id"], 42);
        assert!(text.starts_with(r#"{"id":42,"#));
        assert!(
            event["created_at"]
                .as_str()
                .is_some_and(|at| at.parse::<chrono::DateTime<chrono::Utc>>().is_ok())
        );
    }
}
