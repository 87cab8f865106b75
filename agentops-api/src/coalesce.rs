//! Group commit inside one API replica: small writes of one kind that arrive together
//! share a transaction.
//!
//! A worker that claims one task at a time and completes it makes two requests, and each
//! used to be a transaction of its own: a `BEGIN`, a few statements, an event append and
//! a `COMMIT` with its fsync. Sixteen such workers make the database do sixteen of
//! everything where one would do. A [`Coalescer`] queues each call and lets at most
//! `lanes` flushers run at once; a flusher takes everything queued (up to `max_batch`
//! items) and runs it as one batch, then takes the next. Under light load a call finds a
//! free lane and runs alone at once, so nothing waits for a timer; under load the calls
//! that arrive while the lanes are busy go together in the next batch. Hatchet buffers
//! its writes the same way, on a timer; group commit needs none.
//!
//! This is per replica and bounded: it is not a lock all replicas share, and every
//! replica's lanes commit concurrently with every other's. Each item of a batch is still
//! judged on its own (the batch function returns one outcome per item), and a batch that
//! fails as a whole (a deadlock, a lost connection) is run again item by item by the
//! caller's batch function, so one item's trouble is never another's.
//!
//! The flusher runs in a task of its own: a caller that goes away (its client
//! disconnected) never cancels a transaction that also carries other callers' items.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// What the queue holds: each item with where its outcome goes.
type Waiting<I, O> = VecDeque<(I, oneshot::Sender<O>)>;

struct Queue<I, O> {
    waiting: Waiting<I, O>,
    /// Flushers running now.
    flushing: usize,
}

/// Queues calls of one kind and runs them in batches; see the module doc.
pub struct Coalescer<I, O> {
    queue: Arc<Mutex<Queue<I, O>>>,
    lanes: usize,
    max_batch: usize,
}

/// An item of a batch: items that share a key never share a batch (two completions of
/// one task go one after the other, as they would alone).
pub trait Keyed {
    /// The key.
    type Key: Eq + Hash;
    /// This item's keys (a batch request has one per task it names).
    fn keys(&self) -> Vec<Self::Key>;
}

/// The flusher that was to answer this call stopped without an answer (it panicked).
#[derive(Debug, thiserror::Error)]
#[error("the batch carrying this call stopped without an answer")]
pub struct Lost;

impl<I, O> Coalescer<I, O>
where
    I: Keyed + Send + 'static,
    O: Send + 'static,
{
    /// At most `lanes` batches at once, each of at most `max_batch` items.
    pub fn new(lanes: usize, max_batch: usize) -> Self {
        Self {
            queue: Arc::new(Mutex::new(Queue {
                waiting: VecDeque::new(),
                flushing: 0,
            })),
            lanes: lanes.max(1),
            max_batch: max_batch.max(1),
        }
    }

    /// Runs `item` in the next batch, with `run` (which must return one outcome per item,
    /// in the items' order), and returns its outcome.
    ///
    /// # Errors
    /// [`Lost`] if the flusher carrying the item stopped without an answer.
    pub async fn submit<F, Fut>(&self, item: I, run: F) -> Result<O, Lost>
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        let (answer, outcome) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            queue.waiting.push_back((item, answer));
            let start = queue.flushing < self.lanes;
            if start {
                queue.flushing += 1;
            }
            start
        };
        if start {
            tokio::spawn(flush(self.queue.clone(), self.max_batch, run));
        }
        outcome.await.map_err(|_| Lost)
    }
}

/// Runs batches until the queue is empty, then gives its lane back.
async fn flush<I, O, F, Fut>(queue: Arc<Mutex<Queue<I, O>>>, max_batch: usize, run: F)
where
    I: Keyed + Send + 'static,
    O: Send + 'static,
    F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<O>> + Send + 'static,
{
    // Gives the lane back even if `run` panics, so the queue never stalls for want of a
    // flusher (the panicking batch's callers get `Lost`).
    struct Lane<I, O>(Option<Arc<Mutex<Queue<I, O>>>>);
    impl<I, O> Drop for Lane<I, O> {
        fn drop(&mut self) {
            if let Some(queue) = self.0.take() {
                queue.lock().unwrap_or_else(|e| e.into_inner()).flushing -= 1;
            }
        }
    }
    let mut lane = Lane(Some(queue.clone()));
    // Calls that arrive together reach the queue a few scheduler turns apart: the
    // requests behind this one are still being read and parsed. One turn of the
    // runtime before the first batch lets them queue, so they share it (on a busy
    // replica that is the difference between a batch of one and a batch of several);
    // a lone call loses only that turn. Later batches need none: they take what queued
    // while the one before ran.
    tokio::task::yield_now().await;
    loop {
        let batch = {
            let mut waiting = queue.lock().unwrap_or_else(|e| e.into_inner());
            let batch = take(&mut waiting.waiting, max_batch);
            if batch.is_empty() {
                // Found empty and given back under one lock: whoever queues an item
                // after this sees a free lane and starts a flusher.
                waiting.flushing -= 1;
                lane.0 = None;
                return;
            }
            batch
        };
        let (items, answers): (Vec<I>, Vec<oneshot::Sender<O>>) = batch.into_iter().unzip();
        let outcomes = run(items).await;
        debug_assert_eq!(outcomes.len(), answers.len(), "one outcome per item");
        for (answer, outcome) in answers.into_iter().zip(outcomes) {
            // The caller may have gone away; its item was carried out all the same.
            let _ = answer.send(outcome);
        }
    }
}

/// Takes up to `max` items whose keys are all distinct, oldest first; items with a key
/// already taken stay queued, in order, for a later batch.
fn take<I: Keyed, O>(waiting: &mut Waiting<I, O>, max: usize) -> Vec<(I, oneshot::Sender<O>)> {
    let mut keys = HashSet::new();
    let mut batch = Vec::new();
    let mut kept = VecDeque::new();
    while let Some((item, answer)) = waiting.pop_front() {
        if batch.len() >= max {
            kept.push_back((item, answer));
            kept.extend(waiting.drain(..));
            break;
        }
        let item_keys = item.keys();
        if item_keys.iter().any(|key| keys.contains(key)) {
            kept.push_back((item, answer));
        } else {
            keys.extend(item_keys);
            batch.push((item, answer));
        }
    }
    *waiting = kept;
    batch
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    struct Item(u32, u32);
    impl Keyed for Item {
        type Key = u32;
        fn keys(&self) -> Vec<u32> {
            vec![self.0]
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_that_arrive_together_share_batches_and_each_gets_its_own_outcome() {
        let coalescer = Arc::new(Coalescer::<Item, (u32, usize)>::new(1, 100));
        let batches = Arc::new(AtomicUsize::new(0));
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..50u32 {
            let (coalescer, batches) = (coalescer.clone(), batches.clone());
            calls.spawn(async move {
                let outcome = coalescer
                    .submit(Item(i, i * 10), move |items: Vec<Item>| {
                        let batches = batches.clone();
                        async move {
                            batches.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            let size = items.len();
                            items.into_iter().map(|item| (item.1, size)).collect()
                        }
                    })
                    .await
                    .unwrap();
                (i, outcome)
            });
        }
        let mut largest = 0;
        while let Some(done) = calls.join_next().await {
            let (i, (value, size)) = done.unwrap();
            assert_eq!(value, i * 10);
            largest = largest.max(size);
        }
        let batches = batches.load(Ordering::SeqCst);
        assert!(batches < 50, "{batches} batches for 50 calls");
        assert!(largest > 1);
    }

    #[tokio::test]
    async fn a_lone_call_runs_at_once() {
        let coalescer = Coalescer::<Item, u32>::new(4, 100);
        let out = coalescer
            .submit(Item(1, 7), |items: Vec<Item>| async move {
                items.into_iter().map(|i| i.1 + 1).collect()
            })
            .await
            .unwrap();
        assert_eq!(out, 8);
    }

    #[test]
    fn items_with_one_key_never_share_a_batch_and_keep_their_order() {
        let mut waiting: Waiting<Item, u32> = VecDeque::new();
        for (key, value) in [(1, 0), (2, 1), (1, 2), (3, 3), (1, 4)] {
            waiting.push_back((Item(key, value), oneshot::channel().0));
        }
        let first: Vec<u32> = take(&mut waiting, 10).iter().map(|(i, _)| i.1).collect();
        assert_eq!(first, [0, 1, 3]);
        let second: Vec<u32> = take(&mut waiting, 10).iter().map(|(i, _)| i.1).collect();
        assert_eq!(second, [2]);
        let third: Vec<u32> = take(&mut waiting, 10).iter().map(|(i, _)| i.1).collect();
        assert_eq!(third, [4]);
        assert!(take(&mut waiting, 10).is_empty());
    }

    #[test]
    fn a_batch_stops_at_its_size() {
        let mut waiting: Waiting<Item, u32> = VecDeque::new();
        for key in 0..5 {
            waiting.push_back((Item(key, key), oneshot::channel().0));
        }
        assert_eq!(take(&mut waiting, 2).len(), 2);
        assert_eq!(waiting.len(), 3);
        assert_eq!(waiting.front().unwrap().0.0, 2);
    }

    #[tokio::test]
    async fn a_panicking_batch_loses_its_calls_but_not_the_lane() {
        let coalescer = Coalescer::<Item, u32>::new(1, 100);
        let lost = coalescer
            .submit(Item(1, 1), |_items: Vec<Item>| async move {
                panic!("the batch broke");
            })
            .await;
        assert!(lost.is_err());
        let out = coalescer
            .submit(Item(2, 2), |items: Vec<Item>| async move {
                items.into_iter().map(|i| i.1).collect()
            })
            .await
            .unwrap();
        assert_eq!(out, 2);
    }
}
