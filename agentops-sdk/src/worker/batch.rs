//! The worker's completions and lease heartbeats, sent together.
//!
//! A worker running many tasks at once finishes (and extends the leases of) several of
//! them within a few milliseconds of each other. Each call goes through a [`Batcher`]:
//! calls made within [`LINGER`] of the first one waiting go to the server as one
//! request (`POST /tasks/complete`, `POST /tasks/heartbeat`, up to [`MAX_ITEMS`]), one
//! transaction on the server, and each caller gets its own item's outcome as if it had
//! made the call alone. A call with no company goes alone, on the single-task endpoint.
//!
//! A batch that fails as a whole (the server unreachable, a 5xx, a refusal of the whole
//! request) changed nothing on the server; its items are then sent again one by one, so
//! each caller sees exactly the error its own request would have had and retries it as
//! it always did. A completion sent twice is harmless: the server answers a repeated
//! completion with the same claim token with the completed task, so nothing is completed
//! twice.
//!
//! The worker's claim loop may also [`Batcher::take`] the completions still gathering and
//! send them with its next claim (`POST /tasks/claim` with `complete`): a worker that
//! finishes a task and asks for the next then makes one request where it made two.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use crate::Client;
use crate::error::{Error, Result};
use crate::types::{
    BatchItemOut, CompleteIn, CompleteItem, CompleteManyIn, HeartbeatItem, HeartbeatManyIn,
    TaskHeartbeatIn, TaskOut,
};

/// How long the first call of a batch waits for company.
pub(super) const LINGER: Duration = Duration::from_millis(2);
/// Most items in one request (the server's limit).
pub(super) const MAX_ITEMS: usize = 100;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One kind of call that can be batched.
pub(super) trait Op: Send + Sync + 'static {
    /// One call's input.
    type Item: Clone + Send + 'static;
    /// The task the item is about.
    fn id(item: &Self::Item) -> Uuid;
    /// The call on its own.
    fn one(client: Client, item: Self::Item) -> BoxFuture<Result<TaskOut>>;
    /// The calls together.
    fn many(client: Client, items: Vec<Self::Item>) -> BoxFuture<Result<Vec<BatchItemOut>>>;
}

/// Completions.
pub(super) struct Complete;

impl Op for Complete {
    type Item = CompleteItem;

    fn id(item: &CompleteItem) -> Uuid {
        item.id
    }

    fn one(client: Client, item: CompleteItem) -> BoxFuture<Result<TaskOut>> {
        Box::pin(async move {
            let input = CompleteIn {
                claim_token: item.claim_token,
                result: item.result,
            };
            client.tasks().complete(item.id, input).await
        })
    }

    fn many(client: Client, items: Vec<CompleteItem>) -> BoxFuture<Result<Vec<BatchItemOut>>> {
        Box::pin(async move {
            let out = client
                .tasks()
                .complete_many(CompleteManyIn { items })
                .await?;
            Ok(out.items)
        })
    }
}

/// Lease heartbeats.
pub(super) struct Heartbeat;

impl Op for Heartbeat {
    type Item = HeartbeatItem;

    fn id(item: &HeartbeatItem) -> Uuid {
        item.id
    }

    fn one(client: Client, item: HeartbeatItem) -> BoxFuture<Result<TaskOut>> {
        Box::pin(async move {
            let input = TaskHeartbeatIn {
                claim_token: item.claim_token,
                lease_seconds: item.lease_seconds,
                progress: item.progress,
                message: item.message,
            };
            client.tasks().heartbeat(item.id, input).await
        })
    }

    fn many(client: Client, items: Vec<HeartbeatItem>) -> BoxFuture<Result<Vec<BatchItemOut>>> {
        Box::pin(async move {
            let out = client
                .tasks()
                .heartbeat_many(HeartbeatManyIn { items })
                .await?;
            Ok(out.items)
        })
    }
}

/// A call waiting for its batch, with where its answer goes.
pub(super) type Waiting<I> = (I, oneshot::Sender<Result<TaskOut>>);

/// The calls gathering for the next batch.
type Gathering<I> = Arc<Mutex<Vec<Waiting<I>>>>;

/// Gathers calls of one kind into batches. Cheap to clone; its task ends when the last
/// clone is dropped.
pub(super) struct Batcher<O: Op> {
    gathering: Gathering<O::Item>,
    /// One signal per call, to the gathering task.
    wake: mpsc::UnboundedSender<()>,
    /// Also told of each call, once it is gathering (see [`Batcher::telling`]).
    told: Option<Arc<Notify>>,
    client: Client,
}

impl<O: Op> Clone for Batcher<O> {
    fn clone(&self) -> Self {
        Self {
            gathering: self.gathering.clone(),
            wake: self.wake.clone(),
            told: self.told.clone(),
            client: self.client.clone(),
        }
    }
}

impl<O: Op> Batcher<O> {
    /// Starts the gathering task (on the current Tokio runtime).
    pub fn start(client: Client) -> Self {
        let (wake, woken) = mpsc::unbounded_channel();
        let gathering = Gathering::default();
        tokio::spawn(gather::<O>(client.clone(), woken, gathering.clone()));
        Self {
            gathering,
            wake,
            told: None,
            client,
        }
    }

    /// Notifies `told` of each call once it can be [taken](Batcher::take).
    pub fn telling(mut self, told: Arc<Notify>) -> Self {
        self.told = Some(told);
        self
    }

    /// Makes the call, alone or with others; the answer is this item's own.
    pub async fn call(&self, item: O::Item) -> Result<TaskOut> {
        let (reply, answer) = oneshot::channel();
        lock(&self.gathering).push((item, reply));
        if let Some(told) = &self.told {
            told.notify_one();
        }
        if self.wake.send(()).is_err() {
            // The gathering task is gone (its runtime is shutting down): send what is
            // gathered now, this call included.
            send::<O>(self.client.clone(), self.take(usize::MAX)).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(Error::Config(
                "the worker's batching task stopped before answering".to_owned(),
            ))
        })
    }

    /// Takes up to `max` of the calls gathering for the next batch, to send them another
    /// way; each must then be answered, by [`Batcher::answer`].
    pub fn take(&self, max: usize) -> Vec<Waiting<O::Item>> {
        take_gathered(&self.gathering, max)
    }

    /// Answers `taken` (from [`Batcher::take`]) with `outcomes`, one per call in order;
    /// without them, or if they do not answer each call, sends the calls as a batch of
    /// their own (nothing of them was done).
    pub fn answer(&self, taken: Vec<Waiting<O::Item>>, outcomes: Option<Vec<BatchItemOut>>) {
        match outcomes {
            Some(outcomes) if answers_each::<O>(&outcomes, &taken) => {
                for ((_, reply), outcome) in taken.into_iter().zip(outcomes) {
                    let _ = reply.send(item_result(outcome));
                }
            }
            _ if taken.is_empty() => {}
            _ => {
                tokio::spawn(send::<O>(self.client.clone(), taken));
            }
        }
    }
}

fn lock<I>(gathering: &Gathering<I>) -> std::sync::MutexGuard<'_, Vec<Waiting<I>>> {
    gathering.lock().unwrap_or_else(|e| e.into_inner())
}

/// The oldest `max` calls gathering, taken out.
fn take_gathered<I>(gathering: &Gathering<I>, max: usize) -> Vec<Waiting<I>> {
    let mut gathering = lock(gathering);
    let n = gathering.len().min(max);
    gathering.drain(..n).collect()
}

async fn gather<O: Op>(
    client: Client,
    mut woken: mpsc::UnboundedReceiver<()>,
    gathering: Gathering<O::Item>,
) {
    while woken.recv().await.is_some() {
        let until = Instant::now() + LINGER;
        while lock(&gathering).len() < MAX_ITEMS {
            match tokio::time::timeout_at(until, woken.recv()).await {
                Ok(Some(())) => {}
                Ok(None) | Err(_) => break,
            }
        }
        // Sent on tasks of their own: the next batch gathers meanwhile. (The calls may
        // have been taken already, by the claim loop.)
        loop {
            let batch = take_gathered(&gathering, MAX_ITEMS);
            if batch.is_empty() {
                break;
            }
            tokio::spawn(send::<O>(client.clone(), batch));
        }
    }
}

/// Sends `batch` and answers each caller.
async fn send<O: Op>(client: Client, mut batch: Vec<Waiting<O::Item>>) {
    // The server refuses a batch that names a task twice: those go alone.
    let mut seen = HashSet::new();
    let (together, alone): (Vec<_>, Vec<_>) = batch
        .drain(..)
        .partition(|(item, _)| seen.insert(O::id(item)));
    let mut singles = alone;
    if together.len() == 1 {
        singles.extend(together);
    } else if !together.is_empty() {
        let items: Vec<O::Item> = together.iter().map(|(item, _)| item.clone()).collect();
        match O::many(client.clone(), items).await {
            Ok(outcomes) if answers_each::<O>(&outcomes, &together) => {
                for ((_, reply), outcome) in together.into_iter().zip(outcomes) {
                    let _ = reply.send(item_result(outcome));
                }
            }
            Ok(_) | Err(_) => {
                // Nothing of it was committed: each item on its own, as if never batched.
                singles.extend(together);
            }
        }
    }
    let alone = singles.into_iter().map(|(item, reply)| {
        let client = client.clone();
        async move {
            let _ = reply.send(O::one(client, item).await);
        }
    });
    futures_util::future::join_all(alone).await;
}

/// Whether `outcomes` answers each of `batch`, in order.
fn answers_each<O: Op>(outcomes: &[BatchItemOut], batch: &[Waiting<O::Item>]) -> bool {
    outcomes.len() == batch.len()
        && outcomes
            .iter()
            .zip(batch)
            .all(|(outcome, (item, _))| outcome.id == O::id(item))
}

/// One item's outcome as the single-task call would have answered it.
fn item_result(outcome: BatchItemOut) -> Result<TaskOut> {
    match (outcome.task, outcome.error) {
        (Some(task), None) if outcome.status == 200 => Ok(task),
        (_, error) => {
            let status = reqwest::StatusCode::from_u16(outcome.status)
                .unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
            let (code, message, details) = match error {
                Some(error) => (error.code, error.message, error.details),
                None => (
                    format!("http_{}", status.as_u16()),
                    "the batch answered this item without a task".to_owned(),
                    Vec::new(),
                ),
            };
            Err(Error::Api {
                status,
                code,
                message,
                details,
                retry_after: None,
            })
        }
    }
}
