//! Redis pub/sub between replicas: every replica publishes its committed events on one
//! channel and subscribes to it.
//!
//! Publishing happens on a background task fed by a bounded queue, so a slow or absent
//! Redis never delays a request; what cannot be published is dropped, and the other
//! replicas' hubs read it from the log on their next poll.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{OnceCell, mpsc};

use agentops_sdk::types::Event;

use super::hub::Input;
use crate::config::ApiConfig;

pub(super) struct RedisFanout {
    client: redis::Client,
    channel: String,
    outbox: mpsc::Sender<Vec<String>>,
    outbox_rx: std::sync::Mutex<Option<mpsc::Receiver<Vec<String>>>>,
    manager: Arc<OnceCell<ConnectionManager>>,
    subscribed: Arc<AtomicBool>,
}

impl RedisFanout {
    /// Prepares the client; connections are made lazily and re-made as needed.
    pub fn connect(url: &str, cfg: &ApiConfig) -> anyhow::Result<Self> {
        let client = match cfg
            .redis_ca_cert
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        {
            Some(ca) => {
                let pem = if ca.contains("-----BEGIN") {
                    ca.as_bytes().to_vec()
                } else {
                    std::fs::read(ca)
                        .with_context(|| format!("cannot read REDIS_CA_CERT file {ca}"))?
                };
                redis::Client::build_with_tls(
                    url,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem),
                    },
                )
            }
            None => redis::Client::open(url),
        }
        .context("REDIS_URL is not a valid Redis URL")?;
        let (outbox, outbox_rx) = mpsc::channel(16_384);
        Ok(Self {
            client,
            channel: format!("{}events", cfg.redis_prefix),
            outbox,
            outbox_rx: std::sync::Mutex::new(Some(outbox_rx)),
            manager: Arc::new(OnceCell::new()),
            subscribed: Arc::new(AtomicBool::new(false)),
        })
    }

    pub fn subscribed_flag(&self) -> Arc<AtomicBool> {
        self.subscribed.clone()
    }

    /// Starts the publisher and subscriber tasks.
    pub fn spawn(&self, hub: mpsc::Sender<Input>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if let Some(rx) = self
            .outbox_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            tasks.push(tokio::spawn(publish_loop(
                self.client.clone(),
                self.manager.clone(),
                self.channel.clone(),
                rx,
            )));
        }
        tasks.push(tokio::spawn(subscribe_loop(
            self.client.clone(),
            self.channel.clone(),
            hub,
            self.subscribed.clone(),
        )));
        tasks
    }

    /// Queues events for publication; drops them if the queue is full.
    pub fn publish(&self, events: &[Event]) {
        let messages = events
            .iter()
            .filter_map(|event| serde_json::to_string(event).ok())
            .collect();
        if self.outbox.try_send(messages).is_err() {
            tracing::warn!(
                "redis publish queue full; subscribers will read these events from the log"
            );
        }
    }

    /// Whether Redis answers and this replica is subscribed.
    pub async fn check(&self) -> Result<(), String> {
        let mut conn = manager(&self.client, &self.manager)
            .await
            .map_err(|e| format!("error: {e}"))?;
        let pong: Result<String, _> = tokio::time::timeout(
            Duration::from_secs(2),
            redis::cmd("PING").query_async(&mut conn),
        )
        .await
        .map_err(|_| "error: redis did not answer within 2 s".to_owned())?;
        pong.map_err(|e| format!("error: {e}"))?;
        if self.subscribed.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err("error: not subscribed to the event channel (reconnecting)".to_owned())
        }
    }
}

async fn manager(
    client: &redis::Client,
    cell: &OnceCell<ConnectionManager>,
) -> redis::RedisResult<ConnectionManager> {
    cell.get_or_try_init(|| async {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        client.get_connection_manager_with_config(config).await
    })
    .await
    .cloned()
}

async fn publish_loop(
    client: redis::Client,
    cell: Arc<OnceCell<ConnectionManager>>,
    channel: String,
    mut rx: mpsc::Receiver<Vec<String>>,
) {
    let mut failing = false;
    while let Some(mut messages) = rx.recv().await {
        // Batch whatever else is waiting into one round trip.
        while messages.len() < 1024 {
            match rx.try_recv() {
                Ok(more) => messages.extend(more),
                Err(_) => break,
            }
        }
        let result = async {
            let mut conn = manager(&client, &cell).await?;
            let mut pipe = redis::pipe();
            for message in &messages {
                pipe.cmd("PUBLISH").arg(&channel).arg(message).ignore();
            }
            pipe.query_async::<()>(&mut conn).await
        }
        .await;
        match result {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("redis publishing works again");
            }
            Ok(()) => {}
            Err(err) => {
                if !failing {
                    tracing::warn!(error = %err, "cannot publish events to redis; subscribers fall back to the log");
                }
                failing = true;
            }
        }
    }
}

async fn subscribe_loop(
    client: redis::Client,
    channel: String,
    hub: mpsc::Sender<Input>,
    subscribed: Arc<AtomicBool>,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        let connected = tokio::time::timeout(Duration::from_secs(5), async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match connected {
            Ok(Ok(pubsub)) => {
                subscribed.store(true, Ordering::Relaxed);
                delay = Duration::from_millis(100);
                tracing::info!(channel, "subscribed to redis event channel");
                // Anything published while we were away is in the log.
                let _ = hub.send(Input::CatchUp).await;
                let mut stream = pubsub.into_on_message();
                while let Some(message) = stream.next().await {
                    match serde_json::from_slice::<Event>(message.get_payload_bytes()) {
                        Ok(event) => {
                            let _ = hub.try_send(Input::Events(vec![event]));
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "ignoring a malformed event on the redis channel")
                        }
                    }
                }
                subscribed.store(false, Ordering::Relaxed);
                tracing::warn!("redis event subscription lost; reconnecting");
            }
            Ok(Err(err)) => {
                subscribed.store(false, Ordering::Relaxed);
                tracing::warn!(error = %err, "cannot subscribe to redis; retrying");
            }
            Err(_) => {
                subscribed.store(false, Ordering::Relaxed);
                tracing::warn!("redis subscription timed out; retrying");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
