//! The hot path: claims and completions, batched into shared transactions (group
//! commit, see [`crate::coalesce`]), each call still judged on its own.

use super::*;

/// Hands up to `limit` runnable tasks to an agent, each with a fresh lease.
///
/// With an idempotency key, a repeat of the agent's claim (its answer was lost) returns
/// the tasks that claim still holds, with their claim tokens, and claims nothing more;
/// the lease of each is what the first claim gave it. The key names the claim, its body
/// is not compared. Once the claim holds nothing (it found no task, or its tasks ended
/// or their leases ran out), the key claims afresh, as a new claim would. Claims with one key and agent
/// take turns (the agent's row is locked), so a repeat sent while the first is still
/// under way waits for it rather than claiming a second set.
///
/// The request's `complete` items are completed first, in the same transaction, each
/// judged as [`complete`] would judge it (a repeat of the request completes nothing
/// twice: a completion already made answers with the completed task).
pub async fn claim(
    state: &Context,
    input: ClaimIn,
    idempotency_key: Option<String>,
) -> Result<Created<ClaimOut>, DomainError> {
    let mut checks = Checks::default();
    let limit = input.limit.unwrap_or(1);
    checks.range("limit", i64::from(limit), limits::CLAIM_LIMIT);
    let kinds = input.kinds.unwrap_or_default();
    checks.count("kinds", kinds.len(), limits::CLAIM_KINDS);
    for (i, kind) in kinds.iter().enumerate() {
        checks.ident(&format!("kinds.{i}"), kind, limits::KIND);
    }
    let labels = normalise_labels(&input.labels.unwrap_or_default());
    check_labels(&mut checks, &labels);
    let completions = input.complete.unwrap_or_default();
    check_batch(
        &mut checks,
        "complete",
        limits::CLAIM_COMPLETIONS,
        completions.iter().map(|item| item.id),
    );
    for (i, item) in completions.iter().enumerate() {
        if let Some(result) = &item.result {
            checks.json_size(&format!("complete.{i}.result"), result, INPUT_MAX);
        }
    }
    checks.finish()?;
    let lease_seconds = lease_seconds(input.lease_seconds, DEFAULT_LEASE_SECONDS)?;

    let call = ClaimCall {
        params: store::tasks::ClaimParams {
            agent_id: input.agent_id,
            kinds,
            labels,
            project_id: input.project_id,
            limit,
            lease_seconds,
            now: store::now(),
            claim_key: idempotency_key,
        },
        completions: completions.into_iter().map(Completion::from).collect(),
    };
    let batch_state = state.clone();
    state
        .task_writes
        .claims
        .submit(call, move |calls| claim_batch(batch_state.clone(), calls))
        .await
        .map_err(lost)?
}

/// One claim request, waiting for its batch.
struct ClaimCall {
    params: store::tasks::ClaimParams,
    /// Its tasks to complete first.
    completions: Vec<Completion>,
}

impl Keyed for ClaimCall {
    type Key = Uuid;
    /// The agent, and each task it completes (agents and tasks never share an id).
    fn keys(&self) -> Vec<Uuid> {
        std::iter::once(self.params.agent_id)
            .chain(self.completions.iter().map(|item| item.id))
            .collect()
    }
}

/// Claims `calls` in one statement on PostgreSQL ([`claim_round`]), or else in one
/// transaction; if that fails as a whole, each in its own.
async fn claim_batch(
    state: Context,
    calls: Vec<ClaimCall>,
) -> Vec<Result<Created<ClaimOut>, DomainError>> {
    let _lane = state.task_writes.lane().await;
    let keyed = calls.iter().all(|call| call.params.claim_key.is_some());
    let round = claim_round(&state, &calls);
    if let Some(outcomes) = in_one_statement(&state, "claims", calls.len(), keyed, round).await {
        return outcomes;
    }
    together_or_one_by_one(&calls, "claims", |calls| claim_together(&state, calls))
        .await
        .into_iter()
        .map(|outcome| outcome.and_then(|claimed| claimed))
        .collect()
}

/// On PostgreSQL, runs `round` (a batch of `calls` in one statement, see [`run_round`])
/// and returns each call's outcome; every call gets a 503 when the database could not
/// be reached, or when the connection went while the statement ran and running the
/// batch again is not safe (`again_safe`: every completion is safe to repeat, a keyed
/// claim too, an unkeyed claim is not). `None` when the general path is to run the
/// batch: on SQLite, when the round left it to that path (nothing was changed), or when
/// the statement failed as a whole and nothing stayed (a deadlock).
async fn in_one_statement<T>(
    state: &Context,
    what: &str,
    calls: usize,
    again_safe: bool,
    round: impl std::future::Future<
        Output = Result<Option<Vec<Result<T, DomainError>>>, sea_orm::DbErr>,
    >,
) -> Option<Vec<Result<T, DomainError>>> {
    if state.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return None;
    }
    // Answered 503, like an unreachable database.
    let unavailable = |err: sea_orm::DbErr| {
        let message = err.to_string();
        let conn = || sea_orm::DbErr::Conn(sea_orm::RuntimeErr::Internal(message.clone()));
        Some((0..calls).map(|_| Err(DomainError::Db(conn()))).collect())
    };
    match round.await {
        Ok(outcomes) => outcomes,
        // Unreachable: the general path would wait as long again.
        Err(err @ (sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_))) => {
            unavailable(err)
        }
        // Lost while it ran: it may have committed.
        Err(err) if store::connection_lost(&err) && !again_safe => unavailable(err),
        Err(err) => {
            tracing::debug!(error = %err, "a batch of {what} failed in one statement; \
                running it on the general path");
            None
        }
    }
}

/// What a batch run in one statement ([`run_round`]) changed, its events published.
struct Round {
    /// The completed tasks, by id.
    completed: HashMap<Uuid, TaskOut>,
    /// Each claim's tasks, in claim order.
    claimed: Vec<Vec<ClaimedTask>>,
    /// Why the answer could not be read, if it could not: the changes were made, but
    /// no call can be told what they were.
    broken: Option<String>,
}

impl Round {
    /// If the answer could not be read, what each of `calls` claims is answered (a 500:
    /// the changes were made).
    fn unreadable<T>(&self, calls: usize) -> Option<Vec<Result<T, DomainError>>> {
        let broken = self.broken.as_ref()?;
        let err = || DomainError::Db(sea_orm::DbErr::Custom(broken.clone()));
        Some((0..calls).map(|_| Err(err())).collect())
    }

    /// The outcome of one completion of the round: the completed task.
    fn completion(&mut self, id: Uuid) -> Result<TaskOut, DomainError> {
        if let Some(broken) = &self.broken {
            return Err(DomainError::Db(sea_orm::DbErr::Custom(broken.clone())));
        }
        self.completed
            .remove(&id)
            .ok_or_else(|| DomainError::not_found(ErrorCode::TaskNotFound, id))
    }
}

/// PostgreSQL: `claims` (distinct agents) after the completions `done` (distinct tasks),
/// with their events, in one statement ([`store::tasks::claim_round`]): one round trip
/// where the general path takes six. `None` if they need the general path (nothing was
/// changed): an unknown agent, a repeated keyed claim, a completion that does not apply
/// (a retry, a stale token), a completed task with dependents. Otherwise every
/// completion applied, and the events are published.
async fn run_round(
    state: &Context,
    claims: &[&store::tasks::ClaimParams],
    done: &[&Completion],
) -> Result<Option<Round>, sea_orm::DbErr> {
    let now = claims
        .iter()
        .map(|params| params.now)
        .max()
        .unwrap_or_else(store::now);
    let created = store::now();
    let Some(rows) = store::tasks::claim_round(&state.db, claims, done, now, created).await? else {
        return Ok(None);
    };
    // Committed: from here on an error cannot send the calls elsewhere.
    let mut round = Round {
        completed: HashMap::with_capacity(done.len()),
        claimed: claims.iter().map(|_| Vec::new()).collect(),
        broken: None,
    };
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let parsed = serde_json::from_str::<serde_json::Value>(&row.task).and_then(|data| {
            let task = <TaskOut as serde::Deserialize>::deserialize(&data)?;
            Ok((data, task))
        });
        let (data, task) = match parsed {
            Ok(parsed) => parsed,
            Err(err) => {
                round.broken = Some(format!(
                    "a task changed in one statement read back as {err}"
                ));
                continue;
            }
        };
        events.push(agentops_sdk::types::Event {
            id: row.event_id,
            kind: if row.completed {
                "task.completed"
            } else {
                "task.claimed"
            }
            .to_owned(),
            created_at: created,
            project_id: Some(task.project_id),
            task_id: Some(task.id),
            agent_id: task.agent_id,
            data,
        });
        let claim = row
            .call_no
            .and_then(|call| usize::try_from(call).ok())
            .and_then(|call| round.claimed.get_mut(call));
        match (row.completed, claim, row.claim_token) {
            (true, _, _) => {
                round.completed.insert(task.id, task);
            }
            (false, Some(tasks), Some(claim_token)) => {
                tasks.push(ClaimedTask { task, claim_token })
            }
            (false, _, _) => {
                round.broken = Some(format!("task {} was claimed without its claim", task.id));
            }
        }
    }
    if let Some(broken) = &round.broken {
        tracing::error!(error = %broken, "the answer of a batch run in one statement could not be read");
    }
    state.published(events);
    Ok(Some(round))
}

/// PostgreSQL: claim `calls` with [`run_round`]; each call's outcome, or `None` for the
/// general path.
async fn claim_round(
    state: &Context,
    calls: &[ClaimCall],
) -> Result<Option<Vec<Result<Created<ClaimOut>, DomainError>>>, sea_orm::DbErr> {
    let claims: Vec<&store::tasks::ClaimParams> = calls.iter().map(|call| &call.params).collect();
    let done: Vec<&Completion> = calls.iter().flat_map(|call| &call.completions).collect();
    let Some(mut round) = run_round(state, &claims, &done).await? else {
        return Ok(None);
    };
    let claimed = std::mem::take(&mut round.claimed);
    state
        .metrics
        .claims
        .inc_by(claimed.iter().map(|tasks| tasks.len() as u64).sum());
    state.metrics.write_batch("claim", calls.len());
    if let Some(outcomes) = round.unreadable(calls.len()) {
        return Ok(Some(outcomes));
    }
    Ok(Some(
        calls
            .iter()
            .zip(claimed)
            .map(|(call, tasks)| {
                let completed = call
                    .completions
                    .iter()
                    .map(|item| match round.completion(item.id) {
                        Ok(task) => item_done(task),
                        Err(refused) => item_refused(item.id, refused),
                    })
                    .collect();
                Ok(Created {
                    value: ClaimOut { tasks, completed },
                    replayed: false,
                })
            })
            .collect(),
    ))
}

/// Runs `calls` with `run` in one transaction; if that fails as a whole (a deadlock, a
/// lost connection), runs each call alone, so one call's trouble never becomes another's.
/// Each call's outcome, in the calls' order.
async fn together_or_one_by_one<'a, C, O, F, Fut>(
    calls: &'a [C],
    what: &str,
    run: F,
) -> Vec<Result<O, DomainError>>
where
    F: Fn(&'a [C]) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<O>, DomainError>>,
{
    if calls.len() > 1 {
        match run(calls).await {
            Ok(outcomes) => return outcomes.into_iter().map(Ok).collect(),
            Err(err) => tracing::debug!(error = %err, calls = calls.len(),
                "a batch of {what} failed together; running them one by one"),
        }
    }
    let mut outcomes = Vec::with_capacity(calls.len());
    for call in calls {
        outcomes.push(
            run(std::slice::from_ref(call))
                .await
                .map(|mut one| one.remove(0)),
        );
    }
    outcomes
}

/// `calls` in one transaction: each call's outcome, or the error that undid them all.
///
/// With an idempotency key, the agent's row is locked (one keyed claim of an agent at a
/// time, across replicas) and a repeat returns what the key's claim still holds. On
/// PostgreSQL a batch costs a fixed number of statements whatever its size: one to lock
/// the keyed claims' agents, one to check the others', one claim per set of filters
/// (calls asking for the same kinds, labels and project are dealt tasks from one pick,
/// in arrival order; it returns each task's dependencies too), the event append.
async fn claim_together(
    state: &Context,
    calls: &[ClaimCall],
) -> Result<Vec<Result<Created<ClaimOut>, DomainError>>, DomainError> {
    let mut tx = state.begin().await?;
    // Keyed claims read (and lock) their agent below; the others are checked at once.
    let unkeyed: Vec<Uuid> = calls
        .iter()
        .filter(|call| call.params.claim_key.is_none())
        .map(|call| call.params.agent_id)
        .collect();
    let agents = store::agents::existing(tx.conn(), &unkeyed).await?;
    // Keyed claims lock their agents and learn whether their key still holds tasks, all
    // in one round trip.
    let keyed: Vec<(Uuid, &str)> = calls
        .iter()
        .filter_map(|call| Some((call.params.agent_id, call.params.claim_key.as_deref()?)))
        .collect();
    let now = calls
        .iter()
        .map(|call| call.params.now)
        .max()
        .unwrap_or_else(store::now);
    let locked = store::tasks::lock_claimants(tx.conn(), &keyed, now).await?;
    let known = |params: &store::tasks::ClaimParams| match &params.claim_key {
        Some(_) => locked.get(&params.agent_id).copied().flatten(),
        None => agents.contains(&params.agent_id).then_some(false),
    };
    // The completions of the calls whose agent exists come first, all in one go.
    let finishing: Vec<&Completion> = calls
        .iter()
        .filter(|call| known(&call.params).is_some())
        .flat_map(|call| &call.completions)
        .collect();
    let mut finished = if finishing.is_empty() {
        Vec::new()
    } else {
        complete_in(&mut tx, &finishing).await?
    }
    .into_iter()
    .zip(finishing.iter().map(|item| item.id));
    // Each call's rows (and whether they are a keyed repeat's), or its refusal; `None`
    // for the calls still to claim.
    let mut taken: Vec<Option<Taken>> = Vec::with_capacity(calls.len());
    let mut completed: Vec<Vec<BatchItemOut>> = Vec::with_capacity(calls.len());
    for ClaimCall {
        params,
        completions,
    } in calls
    {
        let agent_id = params.agent_id;
        let known = known(params);
        completed.push(if known.is_some() {
            finished
                .by_ref()
                .take(completions.len())
                .map(|(outcome, id)| match outcome {
                    Ok(task) => item_done(task),
                    Err(refused) => item_refused(id, refused),
                })
                .collect()
        } else {
            Vec::new()
        });
        taken.push(match known {
            None => Some(Err(DomainError::not_found(
                ErrorCode::AgentNotFound,
                agent_id,
            ))),
            Some(true) => {
                let key = params.claim_key.as_deref().unwrap_or_default();
                let held = store::tasks::held_by_claim(tx.conn(), agent_id, key, now).await?;
                let ids: Vec<Uuid> = held.iter().map(|row| row.id).collect();
                let mut deps = store::tasks::dependencies_of(tx.conn(), &ids).await?;
                let held: Vec<(Model, Vec<Uuid>)> = held
                    .into_iter()
                    .map(|row| {
                        let depends_on = deps.remove(&row.id).unwrap_or_default();
                        (row, depends_on)
                    })
                    .collect();
                // Once the key's claim holds nothing, the key claims afresh.
                (!held.is_empty()).then_some(Ok((held, true)))
            }
            Some(false) => None,
        });
    }
    // The rest claim together, one statement per set of filters.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        if taken[i].is_some() {
            continue;
        }
        let p = &call.params;
        let same_filter = |members: &&mut Vec<usize>| {
            let q = &calls[members[0]].params;
            q.kinds == p.kinds && q.labels == p.labels && q.project_id == p.project_id
        };
        match groups.iter_mut().find(same_filter) {
            Some(members) => members.push(i),
            None => groups.push(vec![i]),
        }
    }
    for members in groups {
        let claims: Vec<&store::tasks::ClaimParams> =
            members.iter().map(|&i| &calls[i].params).collect();
        let claimed = store::tasks::claim_many(tx.conn(), now, &claims).await?;
        for (i, rows) in members.into_iter().zip(claimed) {
            let rows = rows
                .into_iter()
                .map(|row| {
                    let (row, depends_on) = row.into_parts()?;
                    Ok((row, depends_on))
                })
                .collect::<Result<_, sea_orm::DbErr>>()?;
            taken[i] = Some(Ok((rows, false)));
        }
    }
    let taken: Vec<Taken> = taken
        .into_iter()
        .map(|call| call.unwrap_or_else(|| Ok((Vec::new(), false))))
        .collect();
    let mut outcomes = Vec::with_capacity(calls.len());
    let mut claimed_tasks = 0;
    for (call, completed) in taken.into_iter().zip(completed) {
        let (rows, replayed) = match call {
            Ok(taken) => taken,
            Err(refused) => {
                outcomes.push(Err(refused));
                continue;
            }
        };
        let mut tasks = Vec::with_capacity(rows.len());
        for (row, depends_on) in rows {
            let claim_token = row.claim_token.ok_or_else(|| {
                DomainError::Db(sea_orm::DbErr::Custom(
                    "claimed task without a token".into(),
                ))
            })?;
            let task = to_out(row, depends_on)?;
            // A repeat changed nothing: no event.
            if !replayed {
                tx.emit(task_event("task.claimed", &task));
            }
            tasks.push(ClaimedTask { task, claim_token });
        }
        if !replayed {
            claimed_tasks += tasks.len();
        }
        outcomes.push(Ok(Created {
            value: ClaimOut { tasks, completed },
            replayed,
        }));
    }
    state.commit(tx).await?;
    state.metrics.claims.inc_by(claimed_tasks as u64);
    state.metrics.write_batch("claim", calls.len());
    Ok(outcomes)
}

/// What a claim call took, each task with its upstream tasks (and whether it is a keyed
/// repeat's), or its refusal.
type Taken = Result<(Vec<(Model, Vec<Uuid>)>, bool), DomainError>;

/// A batch that stopped without an answer (it panicked): the call's outcome is unknown.
fn lost(err: crate::coalesce::Lost) -> DomainError {
    DomainError::Db(sea_orm::DbErr::Custom(err.to_string()))
}

/// The claims and completions of this process, batched (see [`crate::coalesce`]).
pub struct TaskWrites {
    claims: Coalescer<ClaimCall, Result<Created<ClaimOut>, DomainError>>,
    completions: Coalescer<CompleteCall, CompleteOutcome>,
    /// One per lane: claims and completions together run at most this many
    /// transactions (and hold at most this many connections) at once.
    transactions: tokio::sync::Semaphore,
}

/// Calls per batch. A completion call names at most [`limits::BATCH`] tasks, so a batch
/// binds at most a few thousand values.
const CALLS_PER_BATCH: usize = 32;

impl TaskWrites {
    /// At most `lanes` batches at once, claims and completions together.
    pub fn new(lanes: usize) -> Self {
        Self {
            claims: Coalescer::new(lanes, CALLS_PER_BATCH),
            completions: Coalescer::new(lanes, CALLS_PER_BATCH),
            transactions: tokio::sync::Semaphore::new(lanes.max(1)),
        }
    }

    /// Waits for a lane: held while a batch's transactions run.
    async fn lane(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed; without a permit the batch runs all the same.
        self.transactions.acquire().await.ok()
    }
}

/// Completes a running task.
pub async fn complete(
    state: &Context,
    id: Uuid,
    input: CompleteIn,
) -> Result<TaskOut, DomainError> {
    if let Some(result) = &input.result {
        let mut checks = Checks::default();
        checks.json_size("result", result, INPUT_MAX);
        checks.finish()?;
    }
    let completion = Completion {
        id,
        claim_token: input.claim_token,
        result: input.result.unwrap_or(serde_json::Value::Null),
    };
    complete_batched(state, vec![completion]).await?.remove(0)
}

/// The outcome of a completion call: the error that undid it, or each item's outcome.
type CompleteOutcome = Result<Vec<Result<TaskOut, DomainError>>, DomainError>;

/// One completion request (one task, or a batch request's many), waiting for its batch.
struct CompleteCall(Vec<Completion>);

impl Keyed for CompleteCall {
    type Key = Uuid;
    fn keys(&self) -> Vec<Uuid> {
        self.0.iter().map(|item| item.id).collect()
    }
}

/// Completes `items` (their input already checked) in a transaction they may share with
/// other calls' completions; each item's outcome in the items' order.
async fn complete_batched(state: &Context, items: Vec<Completion>) -> CompleteOutcome {
    let batch_state = state.clone();
    state
        .task_writes
        .completions
        .submit(CompleteCall(items), move |calls| {
            complete_batch(batch_state.clone(), calls)
        })
        .await
        .map_err(lost)?
}

/// Completes `calls` in one statement on PostgreSQL ([`complete_round`]), or else in one
/// transaction; if that fails as a whole, each in its own.
async fn complete_batch(state: Context, calls: Vec<CompleteCall>) -> Vec<CompleteOutcome> {
    let _lane = state.task_writes.lane().await;
    // A completion is safe to make again: one already made is answered as made.
    let round = complete_round(&state, &calls);
    if let Some(outcomes) = in_one_statement(&state, "completions", calls.len(), true, round).await
    {
        return outcomes;
    }
    together_or_one_by_one(&calls, "completions", |calls| {
        complete_together(&state, calls)
    })
    .await
}

/// PostgreSQL: complete `calls` with [`run_round`]; each call's outcome, or `None` for
/// the general path.
async fn complete_round(
    state: &Context,
    calls: &[CompleteCall],
) -> Result<Option<Vec<CompleteOutcome>>, sea_orm::DbErr> {
    let done: Vec<&Completion> = calls.iter().flat_map(|call| &call.0).collect();
    let Some(mut round) = run_round(state, &[], &done).await? else {
        return Ok(None);
    };
    state.metrics.write_batch("complete", calls.len());
    Ok(Some(
        calls
            .iter()
            .map(|call| {
                Ok(call
                    .0
                    .iter()
                    .map(|item| round.completion(item.id))
                    .collect())
            })
            .collect(),
    ))
}

/// `calls` in one transaction: each call's items' outcomes, or the error that undid them
/// all.
async fn complete_together(
    state: &Context,
    calls: &[CompleteCall],
) -> Result<Vec<Vec<Result<TaskOut, DomainError>>>, DomainError> {
    let items: Vec<&Completion> = calls.iter().flat_map(|call| &call.0).collect();
    let mut tx = state.begin().await?;
    let mut outcomes = complete_in(&mut tx, &items).await?.into_iter();
    state.commit(tx).await?;
    state.metrics.write_batch("complete", calls.len());
    Ok(calls
        .iter()
        .map(|call| outcomes.by_ref().take(call.0.len()).collect())
        .collect())
}

/// Completes the running tasks among `items` inside `tx`, their input already checked
/// and their ids distinct; each item's outcome in the items' order, as [`complete`]
/// would answer it alone.
///
/// Whatever the number of items, the usual case costs one statement: an update that
/// completes every item running under its claim token and returns, with each row, its
/// dependencies and whether any task depends on it. Only for the rows that have
/// dependents does a second statement find (and lock) the waiting ones, to release them;
/// only items it left alone (retries of a completion, stale tokens) are read again,
/// locked, to say why.
async fn complete_in(
    tx: &mut Tx,
    items: &[&Completion],
) -> Result<Vec<Result<TaskOut, DomainError>>, DomainError> {
    let order: Vec<Uuid> = items.iter().map(|item| item.id).collect();
    let tokens: HashMap<Uuid, Uuid> = items
        .iter()
        .map(|item| (item.id, item.claim_token))
        .collect();
    // In id order, so that overlapping batches tend to lock their rows in the same order.
    let mut sorted = items.to_vec();
    sorted.sort_by_key(|item| item.id);
    let mut outs: HashMap<Uuid, TaskOut> = HashMap::with_capacity(items.len());
    // The completed tasks that others depend on: only their dependents may need
    // releasing.
    let mut upstreams: Vec<Uuid> = Vec::new();
    for completed in store::tasks::complete_running(tx.conn(), &sorted, store::now()).await? {
        let (row, depends_on) = completed.linked.into_parts()?;
        if completed.has_dependents {
            upstreams.push(row.id);
        }
        outs.insert(row.id, to_out(row, depends_on)?);
    }
    let (completed, leftovers): (Vec<Uuid>, Vec<Uuid>) =
        order.iter().partition(|id| outs.contains_key(id));
    // Items it left alone (retries of a completion, stale tokens): read again, locked, to
    // say why.
    let mut refused: HashMap<Uuid, DomainError> = HashMap::new();
    let mut unchanged: Vec<Model> = Vec::new();
    for row in store::tasks::find_many_for_update(tx.conn(), &leftovers).await? {
        match unchanged_completion(&row, tokens[&row.id]) {
            Ok(()) => unchanged.push(row),
            Err(why) => {
                refused.insert(row.id, why);
            }
        }
    }
    let ids: Vec<Uuid> = unchanged.iter().map(|row| row.id).collect();
    let mut deps = store::tasks::dependencies_of(tx.conn(), &ids).await?;
    for row in unchanged {
        let depends_on = deps.remove(&row.id).unwrap_or_default();
        outs.insert(row.id, to_out(row, depends_on)?);
    }
    for id in &completed {
        tx.emit(task_event("task.completed", &outs[id]));
    }
    // In a statement of its own, so that it sees a dependent created while the update
    // waited for the lock its creator held on the upstream task (the update's answer
    // to "has dependents" is asked after that wait, so it counts that dependent).
    if !upstreams.is_empty() {
        release_dependents_of_any(tx, &upstreams).await?;
    }
    Ok(order
        .into_iter()
        .map(|id| match outs.remove(&id) {
            Some(out) => Ok(out),
            None => Err(refused
                .remove(&id)
                .unwrap_or_else(|| DomainError::not_found(ErrorCode::TaskNotFound, id))),
        })
        .collect())
}

/// Why a completion with `token` left `row` alone: `Ok` for a retry of a completion that
/// succeeded (answered with the completed task), otherwise the refusal.
fn unchanged_completion(row: &Model, token: Uuid) -> Result<(), DomainError> {
    let status = status_of(row);
    check_claim(row, token, status, "complete")?;
    if status == TaskStatus::Completed {
        return Ok(());
    }
    // Not running under this token, or it would have been completed.
    Err(not_allowed(status, TaskAction::Complete))
}

/// Completes many running tasks in one transaction; each item is judged on its own, as
/// [`complete`] would judge it. See `complete_in` for what it costs.
pub async fn complete_many(
    state: &Context,
    input: CompleteManyIn,
) -> Result<BatchOut, DomainError> {
    let mut checks = Checks::default();
    check_batch(
        &mut checks,
        "items",
        limits::BATCH,
        input.items.iter().map(|item| item.id),
    );
    for (i, item) in input.items.iter().enumerate() {
        if let Some(result) = &item.result {
            checks.json_size(&format!("items.{i}.result"), result, INPUT_MAX);
        }
    }
    checks.finish()?;
    let ids: Vec<Uuid> = input.items.iter().map(|item| item.id).collect();
    let items = input.items.into_iter().map(Completion::from).collect();
    let outcomes = complete_batched(state, items).await?;
    let items = outcomes
        .into_iter()
        .zip(ids)
        .map(|(outcome, id)| match outcome {
            Ok(task) => item_done(task),
            Err(refused) => item_refused(id, refused),
        })
        .collect();
    Ok(BatchOut { items })
}

impl From<agentops_sdk::types::CompleteItem> for Completion {
    fn from(item: agentops_sdk::types::CompleteItem) -> Self {
        Self {
            id: item.id,
            claim_token: item.claim_token,
            result: item.result.unwrap_or(serde_json::Value::Null),
        }
    }
}
