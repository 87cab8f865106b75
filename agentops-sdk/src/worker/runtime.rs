//! The running worker: the claim loop, one supervisor per task (lease kept alive,
//! handler run, outcome written until the server has it), and the graceful shutdown.
//!
//! A task whose handler has returned frees its slot at once, while its outcome is still
//! being written: the claim loop then asks for the next task right away and takes the
//! completions gathering at that moment along (`POST /tasks/claim` with `complete`), so
//! a worker that finishes one task and takes the next makes one request, not two. If that
//! claim fails as a whole, its completions are sent on their own, as they would have
//! been; a server that does not know `complete` (it answers `invalid_body`) is sent no
//! more of them.

use super::*;

pub(super) struct Runtime {
    pub(super) client: Client,
    pub(super) config: Config,
    pub(super) handler: BoxedHandler,
    pub(super) agent_id: Uuid,
    /// Cancelled when the grace period is over: remaining tasks are released.
    pub(super) force: CancellationToken,
    /// Completions, sent together when they come close together.
    pub(super) completions: batch::Batcher<batch::Complete>,
    /// Lease heartbeats, likewise.
    pub(super) heartbeats: batch::Batcher<batch::Heartbeat>,
    /// Supervisors whose handler has returned (their outcome is being written).
    pub(super) finishing: Arc<Finishing>,
    /// Whether claims carry the completions gathering when they are sent.
    pub(super) completes_with_claims: Arc<AtomicBool>,
    pub(super) _agent_heartbeat: AbortOnDrop<()>,
    pub(super) _signals: Option<AbortOnDrop<()>>,
}

impl Runtime {
    pub(super) async fn start(
        client: Client,
        config: Config,
        handler: BoxedHandler,
    ) -> Result<Self> {
        let name = config
            .name
            .clone()
            .ok_or_else(|| crate::Error::Config("a worker needs a name".into()))?;
        let agent = client
            .agents()
            .register(AgentIn {
                name,
                kind: config.agent_kind.clone(),
                capabilities: (!config.kinds.is_empty()).then(|| config.kinds.clone()),
                version: config.version.clone(),
                metadata: config.metadata.clone(),
            })
            .await?;
        tracing::info!(agent_id = %agent.id, name = %agent.name, "worker registered");
        let agent_heartbeat = {
            let client = client.clone();
            let interval = config.agent_heartbeat_interval;
            let id = agent.id;
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    if let Err(err) = client.agents().heartbeat(id).await {
                        tracing::warn!(error = %err, "agent heartbeat failed");
                    }
                }
            }))
        };
        let signals = config.handle_signals.then(|| {
            let shutdown = config.shutdown.clone();
            AbortOnDrop(tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutdown signal received");
                shutdown.shutdown();
            }))
        });
        let finishing = Arc::<Finishing>::default();
        let complete_with_claims = config.complete_with_claims;
        Ok(Self {
            completions: batch::Batcher::start(client.clone()).telling(finishing.wake.clone()),
            heartbeats: batch::Batcher::start(client.clone()),
            finishing,
            completes_with_claims: Arc::new(AtomicBool::new(complete_with_claims)),
            client,
            config,
            handler,
            agent_id: agent.id,
            force: CancellationToken::new(),
            _agent_heartbeat: agent_heartbeat,
            _signals: signals,
        })
    }

    pub(super) async fn run(self) {
        let stop = self.config.shutdown.token.clone();
        let mut running: JoinSet<()> = JoinSet::new();
        let batch = self
            .config
            .batch_size
            .unwrap_or(self.config.concurrency)
            .clamp(1, MAX_BATCH);
        let mut failures: u32 = 0;
        while !stop.is_cancelled() {
            while let Some(done) = running.try_join_next() {
                log_supervisor_end(done);
            }
            let busy = running.len().saturating_sub(self.finishing.count());
            let free = self.config.concurrency.saturating_sub(busy);
            if free == 0 {
                tokio::select! {
                    done = running.join_next() => if let Some(done) = done { log_supervisor_end(done) },
                    () = self.finishing.wake.notified() => {}
                    () = stop.cancelled() => {}
                }
                continue;
            }
            let asked = Instant::now();
            match self.claim(free.min(batch)).await {
                Ok(claimed) if !claimed.is_empty() => {
                    failures = 0;
                    for task in claimed {
                        running.spawn(self.supervise(task, asked));
                    }
                }
                Ok(_) => {
                    failures = 0;
                    tokio::select! {
                        () = tokio::time::sleep(self.config.poll_interval) => {}
                        () = stop.cancelled() => {}
                    }
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let delay = self
                        .config
                        .poll_interval
                        .saturating_mul(1 << failures.min(5))
                        .min(Duration::from_secs(30));
                    tracing::warn!(error = %err, ?delay, "claim failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = stop.cancelled() => {}
                    }
                }
            }
        }
        // Handlers that ended while the loop slept are not in flight any more.
        while let Some(done) = running.try_join_next() {
            log_supervisor_end(done);
        }
        tracing::info!(
            in_flight = running.len(),
            grace = ?self.config.shutdown_grace,
            "worker shutting down: no new claims, finishing in-flight tasks"
        );
        let grace = tokio::time::sleep(self.config.shutdown_grace);
        tokio::pin!(grace);
        loop {
            tokio::select! {
                done = running.join_next() => match done {
                    Some(done) => log_supervisor_end(done),
                    None => break,
                },
                () = &mut grace => {
                    tracing::warn!(remaining = running.len(), "grace period over: releasing the remaining tasks");
                    self.force.cancel();
                    break;
                }
            }
        }
        while let Some(done) = running.join_next().await {
            log_supervisor_end(done);
        }
        tracing::info!("worker stopped");
    }

    async fn claim(&self, limit: usize) -> Result<Vec<ClaimedTask>> {
        let finished = if self.completes_with_claims.load(Ordering::Relaxed) {
            self.completions.take(MAX_BATCH)
        } else {
            Vec::new()
        };
        if finished.is_empty() {
            return self.claim_carrying(limit, finished).await;
        }
        match self.claim_carrying(limit, finished).await {
            // Refused whole for what it carried (a result the server will not take, a
            // server that predates `complete`): the completions went on their own, and
            // the claim goes again at once without them.
            Err(err)
                if err
                    .status()
                    .is_some_and(|s| s.is_client_error() && s.as_u16() != 429) =>
            {
                if unknown_complete_field(&err) {
                    tracing::warn!(error = %err, "the server does not take completions with claims; sending them apart");
                    self.completes_with_claims.store(false, Ordering::Relaxed);
                }
                self.claim_carrying(limit, Vec::new()).await
            }
            claimed => claimed,
        }
    }

    /// Claims up to `limit` tasks, completing `finished` (taken from the completions'
    /// batcher) in the same request; whatever happens, each of `finished` is answered.
    async fn claim_carrying(
        &self,
        limit: usize,
        finished: Vec<batch::Waiting<CompleteItem>>,
    ) -> Result<Vec<ClaimedTask>> {
        let complete: Vec<CompleteItem> = finished.iter().map(|(item, _)| item.clone()).collect();
        let input = ClaimIn {
            agent_id: self.agent_id,
            kinds: (!self.config.kinds.is_empty()).then(|| self.config.kinds.clone()),
            labels: (!self.config.labels.is_empty()).then(|| self.config.labels.clone()),
            project_id: self.config.project_id,
            limit: Some(u32::try_from(limit).unwrap_or(1)),
            lease_seconds: Some(u32::try_from(self.config.lease.as_secs()).unwrap_or(60)),
            complete: (!complete.is_empty()).then_some(complete),
        };
        match self.client.tasks().claim(input).await {
            Ok(out) => {
                self.completions.answer(finished, Some(out.completed));
                Ok(out.tasks)
            }
            Err(err) => {
                // Nothing of it was done: the completions go on their own.
                self.completions.answer(finished, None);
                Err(err)
            }
        }
    }

    /// Runs one task: the handler, its lease heartbeats, and the writing of its outcome.
    ///
    /// `asked` is when the claim was sent: the server started the lease after that.
    fn supervise(
        &self,
        claimed: ClaimedTask,
        asked: Instant,
    ) -> impl Future<Output = ()> + Send + 'static {
        let ctx = TaskContext::new(self.client.clone(), claimed);
        let handler = self.handler.clone();
        let force = self.force.clone();
        let lease = self.config.lease;
        let every = self.config.heartbeat_interval.unwrap_or(lease / 3);
        let grace = self.config.shutdown_grace;
        let client = self.client.clone();
        let completions = self.completions.clone();
        let heartbeats = self.heartbeats.clone();
        let finishing = self.finishing.clone();
        let with_claims = self.completes_with_claims.clone();
        async move {
            let id = ctx.id();
            // The handler is called inside the spawned task, so that a panic in its
            // synchronous part (before its first `.await`) fails the task like any other
            // panic instead of killing this supervisor.
            let mut handle = AbortOnDrop(tokio::spawn({
                let ctx = ctx.clone();
                async move { handler(ctx).await }
            }));
            // Kept beating while the outcome is written, too; cancelled once the lease is
            // gone.
            let lost = CancellationToken::new();
            let writing = CancellationToken::new();
            let _heartbeat = AbortOnDrop(tokio::spawn(keep_lease(
                heartbeats,
                ctx.clone(),
                Lease {
                    lost: lost.clone(),
                    writing: writing.clone(),
                },
                lease,
                every,
                asked,
            )));
            let outcome = tokio::select! {
                joined = &mut handle.0 => Some(joined),
                () = ctx.cancelled() => {
                    // The lease was lost (found by the heartbeat, or by the handler's own
                    // progress or block call): give the handler a moment to return, then
                    // stop it.
                    tokio::time::timeout(LOST_LEASE_GRACE, &mut handle.0).await.ok()
                }
                () = force.cancelled() => {
                    ctx.shut_down();
                    handle.0.abort();
                    None
                }
            };
            if ctx.is_lease_lost() {
                tracing::info!(task_id = %id, "result discarded: the lease was lost");
                return;
            }
            if ctx.is_finished() {
                return;
            }
            // The handler is done: while completions ride on claims, its slot is free
            // while the outcome is written, and the claim loop is woken for it (a
            // completion's once it can go with the next claim: the completions' batcher
            // tells). Otherwise the slot frees once the outcome is written, so that the
            // next claim sees what it changed (a dependent it released).
            let completing = matches!(outcome, Some(Ok(Ok(_))));
            writing.cancel();
            let _finishing = (outcome.is_some() && with_claims.load(Ordering::Relaxed))
                .then(|| finishing.enter(!completing));
            let writer = Writer {
                client: &client,
                completions: &completions,
                ctx: &ctx,
                lost: &lost,
            };
            let (error, retryable) = match outcome {
                None => {
                    // Shutting down is not the task's fault: hand it back without using
                    // up one of its attempts.
                    writer.release(Instant::now() + grace).await;
                    return;
                }
                Some(Ok(Ok(value))) => {
                    writer.complete(value, Instant::now() + lease).await;
                    return;
                }
                Some(Ok(Err(err))) => (err.message, err.retryable),
                Some(Err(joined)) if joined.is_panic() => (
                    format!("handler panicked: {}", panic_message(joined.into_panic())),
                    true,
                ),
                Some(Err(_)) => ("handler was cancelled".to_owned(), true),
            };
            writer.fail(error, retryable, Instant::now() + lease).await;
        }
    }
}

/// The signals between a supervisor and its task's heartbeat.
struct Lease {
    /// Cancelled by the heartbeat once the lease is gone.
    lost: CancellationToken,
    /// Cancelled by the supervisor once the handler has returned and its outcome is being
    /// written.
    writing: CancellationToken,
}

/// Heartbeats `ctx`'s task every `every` until aborted, and once the lease is gone (the
/// server said so, or no heartbeat was answered before its end) cancels `lost` and the
/// context.
///
/// A server that says the task is no longer running while its outcome is being written
/// may be answering after that very outcome landed (a completion that rode on a claim is
/// applied before the claim's answer comes back): then the heartbeat just stops, and the
/// write's own answer says whether the task was still ours.
///
/// The lease's end is counted from when the claim (`asked`) or the last answered
/// heartbeat was sent, less a margin: the server started it later than that, so this end
/// comes first and the handler stops before the task can be handed to another worker.
async fn keep_lease(
    heartbeats: batch::Batcher<batch::Heartbeat>,
    ctx: TaskContext,
    Lease { lost, writing }: Lease,
    lease: Duration,
    every: Duration,
    asked: Instant,
) {
    let id = ctx.id();
    let margin = (lease / 10).min(LEASE_MARGIN_MAX);
    let mut ends = asked + lease - margin;
    let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let ran_out = tokio::select! {
            _ = ticks.tick() => false,
            () = tokio::time::sleep_until(ends) => true,
        };
        if ctx.is_finished() {
            // Blocked by the handler: the attempt is over, nothing left to keep.
            return;
        }
        if ran_out {
            tracing::warn!(task_id = %id, "lease ran out without a heartbeat; cancelling the handler");
            break;
        }
        let sent = Instant::now();
        // Bounded by the lease's end: a server that takes the request but never answers
        // must not keep the handler going once the task may run elsewhere.
        match tokio::time::timeout_at(ends, extend(&heartbeats, &ctx, lease)).await {
            Ok(Ok(())) => ends = sent + lease - margin,
            Ok(Err(err)) if lease_gone(&err) && writing.is_cancelled() => {
                tracing::debug!(task_id = %id, error = %err, "the task is no longer running while its outcome is written; heartbeats stop");
                return;
            }
            Ok(Err(err)) if lease_gone(&err) => {
                tracing::warn!(task_id = %id, error = %err, "lease lost; cancelling the handler");
                break;
            }
            Ok(Err(err)) => {
                tracing::warn!(task_id = %id, error = %err, "lease heartbeat failed");
            }
            Err(_) => {
                tracing::warn!(task_id = %id, "lease ran out waiting for a heartbeat's answer; cancelling the handler");
                break;
            }
        }
    }
    lost.cancel();
    ctx.lose_lease();
}

/// Extends the lease, together with the worker's other tasks' heartbeats of the moment.
async fn extend(
    heartbeats: &batch::Batcher<batch::Heartbeat>,
    ctx: &TaskContext,
    lease: Duration,
) -> Result<()> {
    let item = HeartbeatItem {
        id: ctx.id(),
        claim_token: ctx.claim_token(),
        lease_seconds: Some(u32::try_from(lease.as_secs()).unwrap_or(60)),
        progress: None,
        message: None,
    };
    heartbeats.call(item).await.map(|_| ())
}

/// Why an outcome was not written.
enum Unwritten {
    /// The lease was lost while trying: the task is someone else's now.
    LeaseLost,
    /// Transient failures until the deadline; the last one, if any.
    OutOfTime(Option<crate::Error>),
    /// The server refused it for good.
    Refused(crate::Error),
}

/// Writes one attempt's outcome.
struct Writer<'a> {
    client: &'a Client,
    /// Completions go through the worker's batcher.
    completions: &'a batch::Batcher<batch::Complete>,
    ctx: &'a TaskContext,
    /// Cancelled by [`keep_lease`] once the lease is gone.
    lost: &'a CancellationToken,
}

impl Writer<'_> {
    async fn complete(&self, value: Value, deadline: Instant) {
        let id = self.ctx.id();
        let item = CompleteItem {
            id,
            claim_token: self.ctx.claim_token(),
            result: Some(value),
        };
        let sent = self
            .send(deadline, |_| {
                let (completions, item) = (self.completions.clone(), item.clone());
                async move { completions.call(item).await }
            })
            .await;
        match sent {
            Ok(_) => tracing::debug!(task_id = %id, "task completed"),
            Err(Unwritten::Refused(err)) if refused_for_content(&err) => {
                // Sending it again cannot help, and leaving the task running would only
                // have it re-run after its lease until it is dead: fail it for good.
                tracing::warn!(task_id = %id, error = %err, "the result was refused; failing the task");
                let message = format!("result rejected: {}", api_message(&err));
                self.fail(message, false, deadline).await;
            }
            Err(unwritten) => log_unwritten(id, "complete the task", unwritten),
        }
    }

    async fn fail(&self, error: String, retryable: bool, deadline: Instant) {
        let id = self.ctx.id();
        let error = if error.trim().is_empty() {
            NO_MESSAGE.to_owned()
        } else {
            error
        };
        let send = |error: String| {
            let input = FailIn {
                claim_token: self.ctx.claim_token(),
                error,
                retryable: Some(retryable),
            };
            self.send(deadline, move |client| {
                let input = input.clone();
                async move { client.tasks().fail(id, input).await }
            })
        };
        let mut sent = send(error.clone()).await;
        if let Err(Unwritten::Refused(err)) = &sent
            && refused_for_content(err)
        {
            tracing::warn!(task_id = %id, error = %err, "the failure message was refused; sending it cleaned and cut");
            sent = send(clean_message(&error)).await;
        }
        match sent {
            Ok(task) => tracing::info!(task_id = %id, status = %task.status, "task failed"),
            Err(unwritten) => log_unwritten(id, "report the failure", unwritten),
        }
    }

    async fn release(&self, deadline: Instant) {
        let id = self.ctx.id();
        let input = ReleaseIn {
            claim_token: self.ctx.claim_token(),
            reason: Some("worker shutting down".to_owned()),
        };
        let sent = self
            .send(deadline, |client| {
                let input = input.clone();
                async move { client.tasks().release(id, input).await }
            })
            .await;
        match sent {
            Ok(_) => tracing::info!(task_id = %id, "task released for another worker"),
            Err(unwritten) => log_unwritten(id, "release the task", unwritten),
        }
    }

    /// Sends the request made by `request` until it lands, again after each transient
    /// failure (with back-off), until the lease is lost or `deadline`.
    async fn send<F, Fut>(&self, deadline: Instant, request: F) -> Result<TaskOut, Unwritten>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<TaskOut>>,
    {
        let mut delay = WRITE_RETRY_FIRST;
        let mut last = None;
        loop {
            tokio::select! {
                biased;
                sent = tokio::time::timeout_at(deadline, request(self.client.clone())) => match sent {
                    Ok(Ok(task)) => return Ok(task),
                    Ok(Err(err)) if is_transient(&err) => {
                        tracing::debug!(task_id = %self.ctx.id(), error = %err, ?delay, "cannot write the outcome yet; retrying");
                        last = Some(err);
                    }
                    Ok(Err(err)) => return Err(Unwritten::Refused(err)),
                    Err(_) => return Err(Unwritten::OutOfTime(last)),
                },
                () = self.lost.cancelled() => return Err(Unwritten::LeaseLost),
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = tokio::time::sleep_until(deadline) => return Err(Unwritten::OutOfTime(last)),
                () = self.lost.cancelled() => return Err(Unwritten::LeaseLost),
            }
            delay = delay.saturating_mul(2).min(WRITE_RETRY_MAX);
        }
    }
}

fn log_unwritten(id: Uuid, what: &str, unwritten: Unwritten) {
    match unwritten {
        Unwritten::LeaseLost => {
            tracing::warn!(task_id = %id, "cannot {what}: the lease was lost; the task will run again");
        }
        Unwritten::OutOfTime(last) => {
            let error = last.map_or_else(|| "no answer".to_owned(), |err| err.to_string());
            tracing::warn!(task_id = %id, %error, "cannot {what} in time; its lease will expire");
        }
        // After a try whose answer was lost, this is the sign it landed.
        Unwritten::Refused(err) if lease_gone(&err) => {
            tracing::info!(task_id = %id, error = %err, "cannot {what}: the task is no longer ours");
        }
        Unwritten::Refused(err) => {
            tracing::error!(task_id = %id, error = %err, "cannot {what}; its lease will expire");
        }
    }
}

/// Whether sending the same request again later may succeed.
fn is_transient(err: &crate::Error) -> bool {
    err.is_retryable() || err.status().is_some_and(|status| status.is_server_error())
}

/// Whether the server refused the request for what it carries (too big, invalid).
fn refused_for_content(err: &crate::Error) -> bool {
    err.is_invalid_request() || err.status() == Some(reqwest::StatusCode::PAYLOAD_TOO_LARGE)
}

/// The server's explanation of an API error, or the error itself.
fn api_message(err: &crate::Error) -> String {
    match err {
        crate::Error::Api { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// `message` as the API takes a failure message ([`crate::text::clean`]), at most
/// [`MAX_ERROR_CHARS`] characters (a cut one ends with `…`), not blank.
fn clean_message(message: &str) -> String {
    let cleaned = crate::text::truncate(&crate::text::clean(message), MAX_ERROR_CHARS);
    if cleaned.is_empty() {
        NO_MESSAGE.to_owned()
    } else {
        cleaned
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

fn log_supervisor_end(done: std::result::Result<(), tokio::task::JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        tracing::error!(error = %err, "task supervisor panicked");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Counts the supervisors whose handler has returned, and wakes the claim loop when one
/// joins them.
#[derive(Default)]
pub(super) struct Finishing {
    count: std::sync::atomic::AtomicUsize,
    wake: Arc<tokio::sync::Notify>,
}

impl Finishing {
    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Counts one until the guard is dropped, and wakes the claim loop if `wake`.
    fn enter(self: &Arc<Self>, wake: bool) -> FinishingGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        if wake {
            self.wake.notify_one();
        }
        FinishingGuard(self.clone())
    }
}

/// One supervisor writing its outcome.
pub(super) struct FinishingGuard(Arc<Finishing>);

impl Drop for FinishingGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether `err` is a server's refusal of the `complete` field itself (it predates it).
fn unknown_complete_field(err: &crate::Error) -> bool {
    err.error_code() == Some(crate::types::ErrorCode::InvalidBody)
        && matches!(err, crate::Error::Api { message, .. } if message.contains("unknown field `complete`"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn api(status: StatusCode) -> crate::Error {
        crate::Error::Api {
            status,
            code: String::new(),
            message: "why".to_owned(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    #[test]
    fn a_cleaned_message_keeps_line_breaks_and_tabs_and_fits_the_limit() {
        assert_eq!(
            clean_message("\u{1b}[31mred\u{1b}[0m\n\tnext\r\n\u{0}"),
            "red\n\tnext"
        );
        let long = "é".repeat(MAX_ERROR_CHARS + 1);
        let cut = clean_message(&long);
        assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
        assert!(cut.ends_with("é…"));
        assert_eq!(
            clean_message(&"é".repeat(MAX_ERROR_CHARS)),
            "é".repeat(MAX_ERROR_CHARS)
        );
        assert_eq!(clean_message("\u{7}\u{1b}"), NO_MESSAGE);
    }

    #[test]
    fn outages_are_retried_and_refusals_of_content_are_not() {
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::TOO_MANY_REQUESTS,
        ] {
            assert!(is_transient(&api(status)), "{status}");
            assert!(!refused_for_content(&api(status)), "{status}");
        }
        assert!(is_transient(&crate::Error::Timeout));
        for status in [
            StatusCode::BAD_REQUEST,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNPROCESSABLE_ENTITY,
        ] {
            assert!(!is_transient(&api(status)), "{status}");
            assert!(refused_for_content(&api(status)), "{status}");
        }
        assert!(!is_transient(&api(StatusCode::CONFLICT)));
        assert_eq!(api_message(&api(StatusCode::UNPROCESSABLE_ENTITY)), "why");
    }
}
