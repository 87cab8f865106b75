//! The updates of one chat are handled one after the other, in the order they arrived;
//! those of different chats side by side.
//!
//! Without it, two messages sent a second apart reach the Chief of Staff in either
//! order (the webhook answers each at once and handles it on a task of its own), and a
//! button pressed right after a message may be read before it. Each update takes a
//! [`Place`] in its chat's lane as soon as it arrives (before anything that waits), and
//! is handled once every update of that chat that arrived before it is done.
//!
//! A message for the Chief of Staff lets the next one go before the Chief has answered
//! ([`let_next_go_soon`]): the Chief keeps the order of the messages it receives (its
//! own arrival lanes) and decides what a message sent while it is busy does (`/busy`),
//! so the next message must reach it while it still thinks — but only after this one
//! has, which [`SETTLE`] after it was sent leaves ample time for.
//!
//! A lane holds nothing once its last place is gone, so the map never grows with every
//! chat ever seen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

/// How long after a message was sent to the Chief of Staff the chat's next update may
/// be handled (see the module documentation).
pub const SETTLE: Duration = Duration::from_secs(1);

tokio::task_local! {
    /// The place of the update being handled on this task, if any.
    static CURRENT: Release;
}

/// Every chat's lane. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Lanes {
    inner: Arc<Mutex<LanesState>>,
}

#[derive(Debug, Default)]
struct LanesState {
    /// Chat → the last place taken in its lane (its number, and what says it is done).
    last: HashMap<i64, (u64, oneshot::Receiver<()>)>,
    taken: u64,
}

impl Lanes {
    fn state(&self) -> MutexGuard<'_, LanesState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the next place in `chat`'s lane, now (call it in arrival order).
    pub fn join(&self, chat: i64) -> Place {
        let (done, done_rx) = oneshot::channel();
        let mut state = self.state();
        state.taken += 1;
        let number = state.taken;
        let before = state.last.insert(chat, (number, done_rx)).map(|(_, rx)| rx);
        Place {
            lanes: self.clone(),
            chat,
            number,
            before,
            release: Release(Arc::new(Mutex::new(Some(done)))),
        }
    }

    /// How many chats have updates waiting or being handled.
    pub fn busy(&self) -> usize {
        self.state().last.len()
    }
}

/// An update's place in its chat's lane: [`turn`](Self::turn) waits for the updates
/// before it; dropping it lets the next one go.
#[derive(Debug)]
pub struct Place {
    lanes: Lanes,
    chat: i64,
    number: u64,
    before: Option<oneshot::Receiver<()>>,
    release: Release,
}

impl Place {
    /// Waits until every update of the chat that arrived before this one is done (or
    /// has let the next go).
    pub async fn turn(&mut self) {
        if let Some(before) = self.before.take() {
            // Sent or dropped: either way the one before is done.
            let _ = before.await;
        }
    }

    /// Runs `work` as this place's (so [`let_next_go_soon`] inside it applies to it).
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        CURRENT.scope(self.release.clone(), work).await
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.release.now();
        let mut state = self.lanes.state();
        if state
            .last
            .get(&self.chat)
            .is_some_and(|(number, _)| *number == self.number)
        {
            state.last.remove(&self.chat);
        }
    }
}

/// Lets the next update of a place's chat go.
#[derive(Debug, Clone)]
struct Release(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl Release {
    fn now(&self) {
        let sender = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }
}

/// Lets the next update of the chat being handled on this task go after [`SETTLE`],
/// even if this one is not done by then (nothing if the task handles no update).
pub fn let_next_go_soon() {
    if let Ok(release) = CURRENT.try_with(Release::clone) {
        tokio::spawn(async move {
            tokio::time::sleep(SETTLE).await;
            release.now();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_chat_takes_its_updates_in_order_and_others_pass() {
        let lanes = Lanes::default();
        let first = lanes.join(1);
        let mut second = lanes.join(1);
        let mut other = lanes.join(2);
        // Another chat does not wait.
        tokio::time::timeout(Duration::from_millis(100), other.turn())
            .await
            .expect("another chat passes");
        // The second waits for the first.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), second.turn())
                .await
                .is_err()
        );
        drop(first);
        tokio::time::timeout(Duration::from_millis(100), second.turn())
            .await
            .expect("its turn once the first is done");
        drop(second);
        drop(other);
        assert_eq!(lanes.busy(), 0, "lanes are forgotten once empty");
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_for_the_chief_lets_the_next_go_after_a_while() {
        let lanes = Lanes::default();
        let first = lanes.join(7);
        let mut second = lanes.join(7);
        let held = tokio::spawn(async move {
            first
                .scope(async {
                    let_next_go_soon();
                    tokio::time::sleep(Duration::from_secs(60)).await;
                })
                .await;
            drop(first);
        });
        let started = tokio::time::Instant::now();
        second.turn().await;
        let waited = started.elapsed();
        assert!(
            waited >= SETTLE && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        held.abort();
    }
}
