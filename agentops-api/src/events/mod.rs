//! Event fan-out: after a transaction commits, the events it wrote are published to
//! every subscriber of this process.
//!
//! The log in the database is the source of truth; fan-out only makes delivery fast.
//! A subscriber that lags or misses a publication catches up from the log.

use tokio::sync::broadcast;

use agentops_sdk::types::Event;

/// Publishes committed events to live subscribers.
pub trait EventBus: Send + Sync + 'static {
    /// Hands committed events to subscribers. Never fails the caller: the events are
    /// already durable in the log.
    fn publish(&self, events: &[Event]);

    /// A receiver of events published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Event>;
}

/// In-process fan-out over a tokio broadcast channel: the embedded default.
pub struct MemoryBus {
    sender: broadcast::Sender<Event>,
}

impl MemoryBus {
    /// A bus whose subscribers may lag by up to `capacity` events before they are told
    /// they missed some.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity);
        Self { sender }
    }
}

impl EventBus for MemoryBus {
    fn publish(&self, events: &[Event]) {
        for event in events {
            // An error only means nobody is listening.
            let _ = self.sender.send(event.clone());
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}
