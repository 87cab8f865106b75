//! `agentops-bench events`: live-event latency and delivery at many WebSocket subscribers.
//!
//! It starts real API processes (this binary's `api` command) on PostgreSQL and Redis,
//! so their memory can be measured on their own: with `--replicas 2` (the default)
//! events are written through replica A while every subscriber is connected to replica
//! B, so each event crosses Redis, as in a scaled-out deployment.
//!
//! Latency runs from each event's commit to its arrival at the subscriber, on the same
//! clock: the commit time is the one the writing replica stamps on the event's Redis
//! message just after `COMMIT` returns, which this benchmark reads by subscribing to the
//! channel too. (Without Redis it falls back to the event's `created_at`, taken inside
//! the transaction, so the commit's own duration is then included.) It also reports
//! latency from `created_at`, which includes the commit, and the first and last receipt
//! of each event: the first leaves the fan-out to the other subscribers out, the last is
//! the whole fan-out.
//!
//! The subscribers are real WebSocket clients (tungstenite does the opening handshake)
//! whose frames are then read straight off the socket: they share the machine's cores
//! with the API they measure, so they should cost it as little CPU as they can.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, Database};
use serde::Deserialize;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::process::{ApiProcess, own_cpu_seconds};
use crate::round2;

/// Options of `agentops-bench events`.
#[derive(Debug, Args)]
pub struct EventsBenchArgs {
    /// WebSocket subscribers.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    /// Events written through the API.
    #[arg(long, default_value_t = 1000)]
    pub events: usize,
    /// Events written per second (paced, so latency is not queueing behind a flood).
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// API processes: 2 puts writers and subscribers on different replicas (via Redis).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub replicas: u8,
    /// PostgreSQL server to create the benchmark database on.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database_url: String,
    /// Redis server for fan-out (`none` for in-process fan-out, one replica only).
    #[arg(
        long,
        env = "BENCH_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: String,
    /// Then run the same subscribers against a bare fan-out server (no database, no
    /// Redis, no HTTP), frames of the same size: the floor of this machine.
    #[arg(long)]
    pub baseline: bool,
    /// Print one JSON object as the last line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Deserialize)]
struct CreatedAt {
    created_at: chrono::DateTime<chrono::Utc>,
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: EventsBenchArgs) -> anyhow::Result<()> {
    let redis = (args.redis_url != "none").then_some(args.redis_url.as_str());
    if redis.is_none() && args.replicas > 1 {
        bail!("--replicas 2 needs Redis (--redis-url)");
    }
    raise_fd_limit(args.subscribers as u64 * 2 + 1024);
    let admin = Database::connect(&args.database_url)
        .await
        .context("cannot reach PostgreSQL")?;
    let name = format!("agentops_bench_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let result = bench(
        &args,
        redis,
        &agentops_api::store::with_database_name(&args.database_url, &name),
    )
    .await;
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    let (mut report, frame_bytes) = result?;
    if args.baseline {
        let floor = baseline(&args, frame_bytes).await?;
        if let (Some(report), Some(floor)) = (report.as_object_mut(), floor.as_object()) {
            report.extend(floor.clone());
        }
    }
    if args.json {
        println!("{report}");
    }
    Ok(())
}

/// Runs the same subscribers against the bare fan-out server
/// ([`crate::fanout_baseline`]), frames of `frame_bytes`; returns its figures,
/// prefixed `baseline_`.
async fn baseline(args: &EventsBenchArgs, frame_bytes: u64) -> anyhow::Result<serde_json::Value> {
    let counts = [
        "--subscribers".to_owned(),
        args.subscribers.to_string(),
        "--events".to_owned(),
        args.events.to_string(),
        "--rate".to_owned(),
        args.rate.to_string(),
        "--frame-bytes".to_owned(),
        frame_bytes.to_string(),
    ];
    let mut command = vec!["fanout-baseline-server"];
    command.extend(counts.iter().map(String::as_str));
    let server = ApiProcess::start_command(&command, &[])?;
    let address = server.base.trim_start_matches("http://").to_owned();
    // Wait for it to listen (it ignores connections that are not WebSocket requests).
    let mut listening = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&address).await.is_ok() {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    if !listening {
        bail!("the baseline server did not start listening on {address}");
    }
    let clients_before = own_cpu_seconds().unwrap_or(f64::NAN);
    let subscribers = Subscribers::connect(
        &format!("ws://{address}/"),
        "baseline",
        args.subscribers,
        args.events,
    )
    .await?;
    let received = subscribers.finish().await?;
    let server_cpu = server.cpu_seconds().unwrap_or(f64::NAN);
    let clients_cpu = own_cpu_seconds().unwrap_or(f64::NAN) - clients_before;
    let mut latencies: Vec<f64> = received
        .receipts
        .iter()
        .map(|&(_, created, arrived)| (arrived - created) as f64 / 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let expected = (args.subscribers * args.events) as u64;
    let report = serde_json::json!({
        "baseline_frame_bytes": frame_bytes,
        "baseline_delivered": received.delivered,
        "baseline_p50_ms": round2(nearest_rank(&latencies, 50.0)),
        "baseline_p99_ms": round2(nearest_rank(&latencies, 99.0)),
        "baseline_max_ms": round2(latencies.last().copied().unwrap_or(f64::NAN)),
        "baseline_server_cpu_seconds": round2(server_cpu),
        "baseline_clients_cpu_seconds": round2(clients_cpu),
    });
    println!(
        "bare fan-out baseline (same subscribers, {frame_bytes}-byte events, no database, Redis or HTTP):\n  delivered {} of {expected}\n  latency send→receipt: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n  server CPU {server_cpu:.2} s, clients CPU {clients_cpu:.2} s",
        received.delivered,
        nearest_rank(&latencies, 50.0),
        nearest_rank(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    if received.delivered != expected {
        bail!(
            "the baseline delivered {} of {expected} events",
            received.delivered
        );
    }
    Ok(report)
}

/// The settings of one API process of this benchmark.
fn api_env(
    database_url: &str,
    redis_url: Option<&str>,
    prefix: &str,
    admin_key: &str,
    data_dir: &std::path::Path,
) -> Vec<(&'static str, String)> {
    let mut envs = vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("AGENTOPS_ADMIN_KEY", admin_key.to_owned()),
        ("AGENTOPS_DATA_DIR", data_dir.display().to_string()),
        ("AGENTOPS_REDIS_PREFIX", prefix.to_owned()),
    ];
    if let Some(url) = redis_url {
        envs.push(("REDIS_URL", url.to_owned()));
    }
    envs
}

fn raise_fd_limit(wanted: u64) {
    // Each subscriber is a socket on both ends; the usual soft limit (1024) is too low.
    // The API processes inherit the raised limit.
    if let Err(err) = rlimit::increase_nofile_limit(wanted) {
        eprintln!("warning: cannot raise the open-file limit to {wanted}: {err}");
    }
}

/// The measurement through the API; returns its report and the mean size of an event's
/// frame.
async fn bench(
    args: &EventsBenchArgs,
    redis: Option<&str>,
    database_url: &str,
) -> anyhow::Result<(serde_json::Value, u64)> {
    let data_dir = tempfile::tempdir()?;
    let admin_key = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let prefix = format!("agentops-bench:{}:", uuid::Uuid::new_v4().simple());
    let envs = api_env(database_url, redis, &prefix, &admin_key, data_dir.path());
    let writer = ApiProcess::start(&envs)?;
    writer.wait_ready().await?;
    let reader = if args.replicas == 2 {
        let reader = ApiProcess::start(&envs)?;
        reader.wait_ready().await?;
        Some(reader)
    } else {
        None
    };
    let subscribed_to = reader.as_ref().unwrap_or(&writer);
    let http = reqwest::Client::new();
    let project_id = writer.create_project(&http, &admin_key).await?;

    let commits = match redis {
        Some(url) => Some(watch_commits(url, &format!("{prefix}events")).await?),
        None => None,
    };
    let ws_url = format!(
        "{}/api/v1/events/stream?types=task.created",
        subscribed_to.base.replacen("http", "ws", 1)
    );
    // Connect every subscriber before writing.
    let subscribers =
        Subscribers::connect(&ws_url, &admin_key, args.subscribers, args.events).await?;

    // Write at a steady pace.
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let mut ticker = tokio::time::interval(interval);
    let mut writes = Vec::with_capacity(args.events);
    for i in 0..args.events {
        ticker.tick().await;
        let http = http.clone();
        let url = format!("{}/api/v1/tasks", writer.base);
        let key = admin_key.clone();
        let project = project_id.clone();
        writes.push(tokio::spawn(async move {
            let sent = Instant::now();
            http.post(url)
                .bearer_auth(key)
                .json(&serde_json::json!({ "project_id": project, "title": format!("event {i}") }))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map(|_| sent.elapsed().as_secs_f64() * 1000.0)
        }));
    }
    // How long each write took to be answered (its transaction included).
    let mut write_ms = Vec::with_capacity(writes.len());
    for write in writes {
        write_ms.push(write.await?.context("a write failed")?);
    }
    write_ms.sort_by(f64::total_cmp);
    let written_in = started.elapsed();
    let received = subscribers.finish().await?;
    let peak_rss_mb = subscribed_to.memory_mib("VmHWM:").unwrap_or(f64::NAN);
    let writer_rss_mb = writer.memory_mib("VmHWM:").unwrap_or(f64::NAN);
    // Where the two cores went: the subscriber-side API versus this process's clients.
    let api_cpu = subscribed_to.cpu_seconds().unwrap_or(f64::NAN);
    let clients_cpu = own_cpu_seconds().unwrap_or(f64::NAN);

    let receipts = &received.receipts;
    let commits = match commits {
        Some(commits) => {
            // Give the last publications a moment to be read.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let commits = commits.lock().unwrap_or_else(|e| e.into_inner()).clone();
            Some(commits)
        }
        None => None,
    };
    let ms = |from: i64, to: i64| (to - from) as f64 / 1000.0;
    // From the commit when it is known, else from `created_at`.
    let mut latencies = Vec::with_capacity(receipts.len());
    let mut from_created = Vec::with_capacity(receipts.len());
    let mut commit_unknown = 0u64;
    // The first and last receipts of each event: the pipeline (commit, Redis, hub)
    // without the fan-out to the other subscribers, and with all of it.
    let mut spans = std::collections::HashMap::<i64, (f64, f64)>::new();
    for &(id, created, arrived) in receipts {
        from_created.push(ms(created, arrived));
        let latency = match commits.as_ref().map(|c| c.get(&id)) {
            Some(Some(&committed)) => ms(committed, arrived),
            Some(None) => {
                commit_unknown += 1;
                continue;
            }
            None => ms(created, arrived),
        };
        latencies.push(latency);
        let (first, last) = spans.entry(id).or_insert((latency, latency));
        *first = first.min(latency);
        *last = last.max(latency);
    }
    if commit_unknown > 0 {
        eprintln!(
            "warning: {commit_unknown} receipts of events whose commit time was not seen on Redis are left out"
        );
    }
    let (mut first, mut last): (Vec<f64>, Vec<f64>) = spans.into_values().unzip();
    first.sort_by(f64::total_cmp);
    last.sort_by(f64::total_cmp);
    latencies.sort_by(f64::total_cmp);
    from_created.sort_by(f64::total_cmp);
    let percentile = |p: f64| nearest_rank(&latencies, p);
    let expected = (args.subscribers * args.events) as u64;
    let delivered = received.delivered;
    let report = serde_json::json!({
        "subscribers": args.subscribers,
        "events": args.events,
        "replicas": args.replicas,
        "fanout": if redis.is_some() { "redis" } else { "in-process" },
        "latency_from": if commits.is_some() { "commit" } else { "created_at" },
        "delivered": delivered,
        "expected": expected,
        "duplicates": received.duplicates,
        "gaps": received.gaps,
        "p50_ms": round2(percentile(50.0)),
        "p99_ms": round2(percentile(99.0)),
        "max_ms": round2(latencies.last().copied().unwrap_or(f64::NAN)),
        "from_created_p50_ms": round2(nearest_rank(&from_created, 50.0)),
        "from_created_p99_ms": round2(nearest_rank(&from_created, 99.0)),
        "from_created_max_ms": round2(from_created.last().copied().unwrap_or(f64::NAN)),
        "first_receipt_p50_ms": round2(nearest_rank(&first, 50.0)),
        "first_receipt_p99_ms": round2(nearest_rank(&first, 99.0)),
        "last_receipt_p50_ms": round2(nearest_rank(&last, 50.0)),
        "last_receipt_p99_ms": round2(nearest_rank(&last, 99.0)),
        "peak_rss_mb": round2(peak_rss_mb),
        "writer_peak_rss_mb": round2(writer_rss_mb),
        "write_seconds": round2(written_in.as_secs_f64()),
        "write_p50_ms": round2(nearest_rank(&write_ms, 50.0)),
        "write_p99_ms": round2(nearest_rank(&write_ms, 99.0)),
        "subscriber_api_cpu_seconds": round2(api_cpu),
        "clients_cpu_seconds": round2(clients_cpu),
    });
    println!(
        "{} subscribers on {} ({} fan-out), {} events at {}/s:\n  delivered {delivered} of {expected} ({} duplicates)\n  latency {}→receipt: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n  (created_at→receipt, the commit included: p50 {:.2} ms, p99 {:.2} ms)\n  subscriber-side API peak RSS {:.1} MiB (writer-side {:.1} MiB)",
        args.subscribers,
        if args.replicas == 2 {
            "replica B, writes through replica A"
        } else {
            "the writing replica"
        },
        report["fanout"].as_str().unwrap_or_default(),
        args.events,
        args.rate,
        report["duplicates"],
        report["latency_from"].as_str().unwrap_or_default(),
        percentile(50.0),
        percentile(99.0),
        latencies.last().copied().unwrap_or(f64::NAN),
        nearest_rank(&from_created, 50.0),
        nearest_rank(&from_created, 99.0),
        peak_rss_mb,
        writer_rss_mb,
    );
    if delivered != expected {
        bail!("{} events were not delivered", expected - delivered);
    }
    Ok((report, received.frame_bytes))
}

/// Commit times of events, by id, as the writing replica stamps them on its Redis
/// messages; filled in the background from a subscription made before this returns.
async fn watch_commits(
    url: &str,
    channel: &str,
) -> anyhow::Result<Arc<std::sync::Mutex<std::collections::HashMap<i64, i64>>>> {
    use agentops_api::events::redis_fanout::Envelope;
    let client = redis::Client::open(url).context("invalid Redis URL")?;
    let mut pubsub = client
        .get_async_pubsub()
        .await
        .context("cannot reach Redis")?;
    pubsub.subscribe(channel).await?;
    let commits = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
    let filled = commits.clone();
    tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            if let Ok(envelope) = serde_json::from_slice::<Envelope>(message.get_payload_bytes()) {
                filled
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(envelope.event.id, envelope.committed_at.timestamp_micros());
            }
        }
    });
    Ok(commits)
}

/// The `p`th percentile of sorted `values` (nearest rank).
fn nearest_rank(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let index = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    values[index.min(values.len() - 1)]
}

/// The benchmark's WebSocket subscribers, reading in the background.
struct Subscribers {
    readers: Vec<tokio::task::JoinHandle<()>>,
    /// (event id, arrival), in microseconds since the epoch.
    receipts: Arc<std::sync::Mutex<Vec<(i64, i64)>>>,
    /// Each event's `created_at`, read by the first subscriber only.
    created: Arc<std::sync::Mutex<std::collections::HashMap<i64, i64>>>,
    /// Bytes and count of the text frames the first subscriber received.
    frames: Arc<std::sync::Mutex<(u64, u64)>>,
    delivered: Arc<AtomicU64>,
    duplicates: Arc<AtomicU64>,
    gaps: Arc<AtomicU64>,
}

/// What the subscribers received.
struct Received {
    /// (event id, `created_at`, arrival), in microseconds since the epoch.
    receipts: Vec<(i64, i64, i64)>,
    delivered: u64,
    duplicates: u64,
    gaps: u64,
    /// Mean size of an event's frame, in bytes.
    frame_bytes: u64,
}

impl Subscribers {
    /// Opens `count` WebSocket connections to `url`, each expecting `events` events
    /// with consecutive ids.
    async fn connect(url: &str, key: &str, count: usize, events: usize) -> anyhow::Result<Self> {
        let mut subscribers = Self {
            readers: Vec::with_capacity(count),
            receipts: Arc::new(std::sync::Mutex::new(Vec::with_capacity(count * events))),
            created: Arc::default(),
            frames: Arc::default(),
            delivered: Arc::default(),
            duplicates: Arc::default(),
            gaps: Arc::default(),
        };
        let mut sockets = Vec::with_capacity(count);
        for _ in 0..count {
            let mut request = url.into_client_request()?;
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {key}").parse()?);
            // tungstenite zeroes its whole read buffer before every read; events are small.
            let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
                .read_buffer_size(4 * 1024);
            let (socket, _) =
                tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                    .await
                    .context("cannot open a WebSocket")?;
            sockets.push(socket);
        }
        for (index, socket) in sockets.into_iter().enumerate() {
            let MaybeTlsStream::Plain(stream) = socket.into_inner() else {
                bail!("the benchmark's subscribers use plain TCP");
            };
            let reader = subscribers.read(stream, index == 0, events);
            subscribers.readers.push(tokio::spawn(reader));
        }
        Ok(subscribers)
    }

    /// One subscriber's reading loop; `first` also records `created_at` and frame sizes.
    fn read(
        &self,
        stream: tokio::net::TcpStream,
        first: bool,
        expected: usize,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let receipts = self.receipts.clone();
        let delivered = self.delivered.clone();
        let duplicates = self.duplicates.clone();
        let gaps = self.gaps.clone();
        let created = first.then(|| (self.created.clone(), self.frames.clone()));
        async move {
            let mut reader = FrameReader::new(stream);
            let mut mine = Vec::with_capacity(expected);
            let mut created_at = Vec::new();
            let (mut frame_bytes, mut frame_count) = (0u64, 0u64);
            let mut last = 0i64;
            let mut count = 0usize;
            // Give up on a subscriber after 10 s without an event (pings do not count).
            let mut deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            'read: while count < expected {
                let Ok(Ok(arrived)) = tokio::time::timeout_at(deadline, reader.fill()).await else {
                    break;
                };
                while let Some(frame) = reader.next_frame() {
                    let text = match frame {
                        Frame::Text(at) => &reader.buf[at],
                        Frame::Ping(payload) => {
                            if reader.pong(payload).await.is_err() {
                                break 'read;
                            }
                            continue;
                        }
                        Frame::Close => break 'read,
                        Frame::Other => continue,
                    };
                    let Some(id) = event_id(text) else { continue };
                    if created.is_some()
                        && let Ok(event) = serde_json::from_slice::<CreatedAt>(text)
                    {
                        created_at.push((id, event.created_at.timestamp_micros()));
                        frame_bytes += text.len() as u64;
                        frame_count += 1;
                    }
                    if id <= last {
                        duplicates.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    // This benchmark writes nothing but tasks, so ids are consecutive.
                    if last > 0 && id != last + 1 {
                        gaps.fetch_add(1, Ordering::Relaxed);
                        eprintln!("subscriber skipped from #{last} to #{id}");
                    }
                    last = id;
                    count += 1;
                    mine.push((id, arrived));
                }
                deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            }
            if count < expected {
                eprintln!("subscriber stopped at #{last} after {count} events");
            }
            delivered.fetch_add(count as u64, Ordering::Relaxed);
            if let Some((created, frames)) = created {
                created
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(created_at);
                *frames.lock().unwrap_or_else(|e| e.into_inner()) = (frame_bytes, frame_count);
            }
            receipts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(mine);
        }
    }

    /// Waits for every subscriber to receive its events (or give up).
    async fn finish(self) -> anyhow::Result<Received> {
        for reader in self.readers {
            reader.await?;
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        let receipts =
            std::mem::take(&mut *self.receipts.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .map(|(id, arrived)| (id, created.get(&id).copied().unwrap_or(arrived), arrived))
                .collect();
        let (bytes, count) = *self.frames.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Received {
            receipts,
            delivered: self.delivered.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
            frame_bytes: bytes.checked_div(count).unwrap_or(0),
        })
    }
}

/// A subscriber's connection after the WebSocket handshake, its frames parsed here
/// rather than by tungstenite: the clients share the two cores with the API they
/// measure, so they should spend as little as they can per event. Server frames are
/// never masked (RFC 6455, section 5.1).
struct FrameReader {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

enum Frame {
    /// Where its text is in the reader's buffer (valid until the next `fill`).
    Text(std::ops::Range<usize>),
    Ping(Vec<u8>),
    Close,
    Other,
}

impl FrameReader {
    fn new(stream: tokio::net::TcpStream) -> Self {
        Self {
            stream,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Reads what has arrived; returns the arrival time (microseconds since the epoch).
    async fn fill(&mut self) -> std::io::Result<i64> {
        use tokio::io::AsyncReadExt;
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(chrono::Utc::now().timestamp_micros())
    }

    /// The next whole frame already read, if any.
    fn next_frame(&mut self) -> Option<Frame> {
        let bytes = &self.buf[self.start..self.end];
        let (&first, &second) = (bytes.first()?, bytes.get(1)?);
        let (header, length) = match second & 0x7f {
            126 => (
                4,
                u64::from(u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?)),
            ),
            127 => (10, u64::from_be_bytes(bytes.get(2..10)?.try_into().ok()?)),
            short => (2, u64::from(short)),
        };
        let total = header + usize::try_from(length).ok()?;
        let payload = bytes.get(header..total)?;
        let at = self.start + header..self.start + total;
        let frame = match first & 0x0f {
            0x1 => Frame::Text(at),
            0x8 => Frame::Close,
            0x9 => Frame::Ping(payload.to_vec()),
            _ => Frame::Other,
        };
        self.start += total;
        Some(frame)
    }

    /// Answers a ping (client frames are masked).
    async fn pong(&mut self, payload: Vec<u8>) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt;
        let mask: [u8; 4] = rand::random();
        let mut frame = vec![0x8a, 0x80 | (payload.len().min(125) as u8)];
        frame.extend_from_slice(&mask);
        frame.extend(
            payload
                .iter()
                .take(125)
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4]),
        );
        self.stream.write_all(&frame).await
    }
}

/// The `id` of an event's JSON text, which the server writes first.
fn event_id(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"{\"id\":")?;
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}
