//! Redis pub/sub between replicas: every replica publishes its committed events on one
//! channel and subscribes to it.
//!
//! Publishing happens on a background task fed by a bounded queue, so a slow or absent
//! Redis never delays a request; what cannot be published is dropped, and the other
//! replicas' hubs read it from the log on their next poll.
//!
//! Each message is one [`Envelope`]: the event and the moment its transaction committed,
//! so every replica can tell how long fan-out takes (`agentops_event_redis_lag_seconds`).
//! A bare event (as published by older replicas during a rolling upgrade) is accepted too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use prometheus_client::metrics::histogram::Histogram;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, mpsc};

use agentops_sdk::types::Event;

use super::hub::Input;
use crate::config::ApiConfig;

/// One message on the event channel.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// When the publishing replica's transaction committed (just after `COMMIT` returned).
    pub committed_at: DateTime<Utc>,
    /// The committed event.
    pub event: Event,
}

/// An [`Envelope`] as written, borrowing the event.
#[derive(Serialize)]
struct Outgoing<'a> {
    committed_at: DateTime<Utc>,
    event: &'a Event,
}

/// What may arrive on the channel: an envelope, or a bare event from an older replica.
#[derive(Deserialize)]
#[serde(untagged)]
enum Incoming {
    Envelope(Envelope),
    Bare(Event),
}

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
        let client = crate::redis_client::client(url, cfg)?;
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

    /// Starts the publisher and subscriber tasks; `lag` observes how long events take
    /// from their commit on any replica to their arrival here.
    pub fn spawn(
        &self,
        hub: mpsc::Sender<Input>,
        lag: Histogram,
    ) -> Vec<tokio::task::JoinHandle<()>> {
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
            lag,
        )));
        tasks
    }

    /// Queues events that committed at `committed_at` for publication; drops them if the
    /// queue is full.
    pub fn publish(&self, events: &[Event], committed_at: DateTime<Utc>) {
        let messages = events
            .iter()
            .filter_map(|event| {
                serde_json::to_string(&Outgoing {
                    committed_at,
                    event,
                })
                .ok()
            })
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
    lag: Histogram,
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
                    match serde_json::from_slice::<Incoming>(message.get_payload_bytes()) {
                        Ok(Incoming::Envelope(Envelope {
                            committed_at,
                            event,
                        })) => {
                            let lag_us = (Utc::now() - committed_at).num_microseconds();
                            lag.observe(lag_us.unwrap_or(0).max(0) as f64 / 1e6);
                            let _ = hub.try_send(Input::Events(vec![event]));
                        }
                        Ok(Incoming::Bare(event)) => {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        serde_json::from_value(serde_json::json!({
            "id": 7,
            "type": "project.created",
            "created_at": "2026-11-22T07:00:00Z",
            "project_id": null,
            "task_id": null,
            "agent_id": null,
            "data": {"name": "x"}
        }))
        .unwrap()
    }

    #[test]
    fn messages_carry_the_commit_time_and_bare_events_are_still_understood() {
        let committed_at = Utc::now();
        let event = event();
        let wire = serde_json::to_string(&Outgoing {
            committed_at,
            event: &event,
        })
        .unwrap();
        match serde_json::from_str::<Incoming>(&wire).unwrap() {
            Incoming::Envelope(envelope) => {
                assert_eq!(envelope.committed_at, committed_at);
                assert_eq!(envelope.event.id, 7);
            }
            Incoming::Bare(_) => panic!("an envelope was read as a bare event"),
        }
        let bare = serde_json::to_string(&event).unwrap();
        assert!(matches!(
            serde_json::from_str::<Incoming>(&bare).unwrap(),
            Incoming::Bare(e) if e.id == 7
        ));
    }
}
