//! HTTP/1.1 connections over raw sockets: an answer that comes before the request body
//! was read (401, 403, 404, 413) must leave the connection usable for the next request,
//! or say `Connection: close`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use agentops_testkit::{Backend, TestApp};

/// One response read off `stream`: its status, headers (lower-case names) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (with a `Content-Length` body) from `stream`.
async fn read_answer(stream: &mut TcpStream, buffered: &mut Vec<u8>) -> Answer {
    let head_end = loop {
        if let Some(i) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        assert!(n > 0, "the server closed the connection without answering");
        buffered.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buffered[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    while buffered.len() < head_end + length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the connection closed inside a body");
        buffered.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8(buffered[head_end..head_end + length].to_vec()).unwrap();
    buffered.drain(..head_end + length);
    Answer {
        status,
        headers,
        body,
    }
}

fn post_head(path: &str, auth: Option<&str>, length: usize) -> String {
    let auth = auth.map_or(String::new(), |key| {
        format!("Authorization: Bearer {key}\r\n")
    });
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {length}\r\n\r\n"
    )
}

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n";

async fn the_connection_survives_an_answer_before_the_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let viewer = app.create_key("viewer").await;
    let body = format!("{{\"name\":\"{}\"}}", "x".repeat(200));
    // (path, key, expected status): no key, a key without the role, an unknown route.
    for (path, key, status) in [
        ("/api/v1/projects", None, 401),
        ("/api/v1/projects", Some(viewer.as_str()), 403),
        ("/api/v1/nowhere", Some(viewer.as_str()), 404),
    ] {
        // The body comes a moment after the headers, as a slow or careful client sends it,
        // and then the next request on the same connection.
        let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
            .await
            .unwrap();
        let mut buffered = Vec::new();
        stream
            .write_all(post_head(path, key, body.len()).as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(body.as_bytes()).await.unwrap();
        stream.write_all(HEALTH).await.unwrap();
        let first = read_answer(&mut stream, &mut buffered).await;
        assert_eq!(first.status, status, "{path}: {}", first.body);
        assert_ne!(first.header("connection"), Some("close"), "{path}");
        let second = read_answer(&mut stream, &mut buffered).await;
        assert_eq!(
            second.status, 200,
            "{path}: the next request on the connection"
        );
        // The same with the body and the next request sent at once.
        stream
            .write_all(format!("{}{body}", post_head(path, key, body.len())).as_bytes())
            .await
            .unwrap();
        stream.write_all(HEALTH).await.unwrap();
        assert_eq!(read_answer(&mut stream, &mut buffered).await.status, status);
        assert_eq!(read_answer(&mut stream, &mut buffered).await.status, 200);
    }
}

async fn a_body_too_long_to_skip_closes_the_connection_and_says_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A client that waits for the answer before sending the body it announced: the
    // server cannot skip what never comes, so it closes the connection and says so.
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut buffered = Vec::new();
    stream
        .write_all(post_head("/api/v1/projects", None, 100).as_bytes())
        .await
        .unwrap();
    let answer = read_answer(&mut stream, &mut buffered).await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.header("connection"), Some("close"));

    // A body far larger than is worth reading to keep the connection: likewise.
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let mut buffered = Vec::new();
    let length = 4 * 1024 * 1024;
    stream
        .write_all(post_head("/api/v1/projects", None, length).as_bytes())
        .await
        .unwrap();
    let writer = tokio::spawn(async move {
        let (mut reader, mut writer) = stream.into_split();
        let _ = writer.write_all(&vec![b' '; length]).await;
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest).await;
        rest
    });
    let rest = writer.await.unwrap();
    buffered.extend_from_slice(&rest);
    let head = String::from_utf8_lossy(&buffered).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
}

crate::on_both_backends!(
    the_connection_survives_an_answer_before_the_body,
    a_body_too_long_to_skip_closes_the_connection_and_says_so,
);
