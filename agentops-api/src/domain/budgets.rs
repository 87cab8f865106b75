//! Budgets the server enforces, and the reservations agents take before a model call.
//!
//! **Reserve → settle**, as LiteLLM and OpenRouter do it: before a call an agent
//! reserves an estimate ([`reserve`]); every enabled budget that applies to the call
//! (everything, its scope, its agent, project or person) must have room for it in its
//! current period, or nothing is reserved and the answer is `429 budget_exhausted` with
//! the time until the blocking budget starts over. After the call the agent records what
//! it really spent ([`super::usage::record`] with the reservation's id), which gives the
//! reservation's room back and adds the real figures. A reservation neither settled nor
//! released is released when it expires ([`release_expired`], run by the reaper).
//!
//! Room is checked and taken by one conditional `UPDATE` per budget period, under that
//! row's lock, in budget-id order (no deadlock between two reservers), all in one
//! transaction: concurrent reservers on any number of replicas never hold more than the
//! limit between them. What a call spends beyond its estimate is added anyway (it was
//! spent), so a period ends at most one call's overshoot above its limit.
//!
//! A period warns once at 80 % of its limit (`budget.warning`) and once when spent or
//! when a reservation is refused (`budget.exhausted`).

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use uuid::Uuid;

use agentops_sdk::types::{
    BudgetIn, BudgetOut, BudgetPatch, BudgetPeriod, BudgetStanding, BudgetTarget, ErrorCode, Page,
    ReservationIn, ReservationOut, Spender, UsageScope,
};

use super::{Caller, Checks, Context, PageRequest, limits, paginate};
use crate::error::DomainError;
use crate::store::entity::{budget, budget_period, budget_reservation};
use crate::store::{self, NewEvent};

/// The id of the budget `AGENTOPS_PROACTIVE_DAILY_TOKENS` installs: fixed, so replicas
/// starting together install it once.
pub const DEFAULT_PROACTIVE_ID: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

/// Micro-dollars in a dollar.
const MICROS: f64 = 1_000_000.0;

pub(crate) fn usd(micros: i64) -> f64 {
    micros as f64 / MICROS
}

fn micros(usd: f64) -> i64 {
    (usd * MICROS).round() as i64
}

/// When the period containing `now` began and when it ends.
pub fn period_bounds(
    period: BudgetPeriod,
    tz: Tz,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let today = now.with_timezone(&tz).date_naive();
    let (start, end) = match period {
        BudgetPeriod::Day => (today, today + Duration::days(1)),
        BudgetPeriod::Month => {
            let first = today.with_day(1).unwrap_or(today);
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            };
            (first, next.unwrap_or(first + Duration::days(31)))
        }
    };
    (midnight(tz, start), midnight(tz, end))
}

/// The first instant of `date` in `tz` (past a daylight-saving gap at midnight, the first
/// instant that exists).
fn midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..4)
        .find_map(|hours| {
            tz.from_local_datetime(&(naive + Duration::hours(hours)))
                .earliest()
        })
        .map_or_else(|| naive.and_utc(), |at| at.with_timezone(&Utc))
}

fn time_zone(row: &budget::Model) -> Tz {
    row.time_zone.parse().unwrap_or(Tz::UTC)
}

fn target(row: &budget::Model) -> BudgetTarget {
    row.applies_to.parse().unwrap_or(BudgetTarget::All)
}

fn period(row: &budget::Model) -> BudgetPeriod {
    row.period.parse().unwrap_or(BudgetPeriod::Day)
}

/// Where `row` stands now, from its current period's counters (`None`: nothing yet).
fn standing(
    row: &budget::Model,
    counters: Option<&budget_period::Model>,
    now: DateTime<Utc>,
) -> BudgetStanding {
    let (start, end) = period_bounds(period(row), time_zone(row), now);
    let counters = counters.filter(|c| c.period_start == start);
    let used = counters.map_or(0, |c| c.used_tokens).max(0);
    let reserved = counters.map_or(0, |c| c.reserved_tokens).max(0);
    BudgetStanding {
        period_start: start,
        resets_at: end,
        used_tokens: used as u64,
        reserved_tokens: reserved as u64,
        remaining_tokens: (row.limit_tokens - used - reserved).max(0) as u64,
        used_cost_usd: usd(counters.map_or(0, |c| c.used_cost_micros)),
    }
}

fn out(
    row: budget::Model,
    counters: Option<&budget_period::Model>,
    now: DateTime<Utc>,
) -> BudgetOut {
    let current = standing(&row, counters, now);
    BudgetOut {
        id: row.id,
        applies_to: target(&row),
        period: period(&row),
        limit_tokens: row.limit_tokens.max(0) as u64,
        limit_cost_usd: row.limit_cost_micros.map(usd),
        enabled: row.enabled,
        current,
        name: row.name,
        subject: row.subject,
        time_zone: row.time_zone,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// A budget with its current period read.
async fn load<C: sea_orm::ConnectionTrait>(
    conn: &C,
    row: budget::Model,
) -> Result<BudgetOut, DomainError> {
    let now = store::now();
    let (start, _) = period_bounds(period(&row), time_zone(&row), now);
    let counters = store::budgets::period(conn, row.id, start).await?;
    Ok(out(row, counters.as_ref(), now))
}

fn budget_event(kind: &'static str, budget: &BudgetOut) -> NewEvent {
    let subject = budget
        .subject
        .as_deref()
        .and_then(|s| Uuid::parse_str(s).ok());
    NewEvent {
        kind,
        project_id: subject.filter(|_| budget.applies_to == BudgetTarget::Project),
        task_id: None,
        agent_id: subject.filter(|_| budget.applies_to == BudgetTarget::Agent),
        data: serde_json::to_value(budget).unwrap_or_default(),
    }
}

fn check_limits(checks: &mut Checks, tokens: Option<u64>, cost: Option<f64>) {
    if let Some(tokens) = tokens {
        checks.range(
            "limit_tokens",
            i64::try_from(tokens).unwrap_or(i64::MAX),
            limits::BUDGET_TOKENS,
        );
    }
    if let Some(cost) = cost
        && !(cost.is_finite()
            && (limits::BUDGET_COST.min..=limits::BUDGET_COST.max).contains(&cost))
    {
        checks.push(
            "limit_cost_usd",
            format!(
                "must be between {} and {}",
                limits::BUDGET_COST.min,
                limits::BUDGET_COST.max
            ),
        );
    }
}

/// Creates a budget.
pub async fn create(state: &Context, input: BudgetIn) -> Result<BudgetOut, DomainError> {
    let mut checks = Checks::default();
    checks.text("name", &input.name, limits::BUDGET_NAME);
    check_limits(&mut checks, Some(input.limit_tokens), input.limit_cost_usd);
    let subject = input.subject.as_deref().map(str::trim);
    match (input.applies_to.needs_subject(), subject) {
        (true, None) => checks.push(
            "subject",
            format!("is required for a budget on a {}", input.applies_to),
        ),
        (false, Some(_)) => checks.push(
            "subject",
            format!("must be absent for a budget on {}", input.applies_to),
        ),
        (true, Some(subject)) => {
            if input.applies_to.subject_is_id() {
                if Uuid::parse_str(subject).is_err() {
                    checks.push("subject", format!("must be the {}'s id", input.applies_to));
                }
            } else {
                checks.text("subject", subject, limits::AUTHOR);
            }
        }
        (false, None) => {}
    }
    let tz = input.time_zone.as_deref().unwrap_or("UTC").trim();
    if tz.parse::<Tz>().is_err() {
        checks.push(
            "time_zone",
            "must be an IANA time zone, such as UTC or Europe/Paris",
        );
    }
    checks.finish()?;
    let subject = subject.map(|s| match Uuid::parse_str(s) {
        Ok(id) if input.applies_to.subject_is_id() => id.to_string(),
        _ => s.to_owned(),
    });
    let now = store::now();
    let row = budget::Model {
        id: Uuid::now_v7(),
        name: input.name.trim().to_owned(),
        applies_to: input.applies_to.as_str().to_owned(),
        subject,
        period: input.period.as_str().to_owned(),
        time_zone: tz.to_owned(),
        limit_tokens: input.limit_tokens as i64,
        limit_cost_micros: input.limit_cost_usd.map(micros),
        enabled: input.enabled.unwrap_or(true),
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.begin().await?;
    let row = store::budgets::insert(tx.conn(), row).await?;
    let created = out(row, None, now);
    tx.emit(budget_event("budget.created", &created));
    state.commit(tx).await?;
    Ok(created)
}

/// One budget, with where it stands.
pub async fn get(state: &Context, id: Uuid) -> Result<BudgetOut, DomainError> {
    let row = store::budgets::find(&state.db, id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::BudgetNotFound, id))?;
    load(&state.db, row).await
}

/// Budgets, newest first, with where each stands.
pub async fn list(state: &Context, page: PageRequest) -> Result<Page<BudgetOut>, DomainError> {
    let rows = store::budgets::list(&state.db, page.before, page.limit + 1).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        items.push(load(&state.db, row).await?);
    }
    Ok(paginate(items, page.limit, |b| b.id))
}

/// Changes a budget's name, limits or whether it is enforced.
pub async fn update(
    state: &Context,
    id: Uuid,
    patch: BudgetPatch,
) -> Result<BudgetOut, DomainError> {
    let mut checks = Checks::default();
    if let Some(name) = &patch.name {
        checks.text("name", name, limits::BUDGET_NAME);
    }
    check_limits(&mut checks, patch.limit_tokens, patch.limit_cost_usd);
    checks.finish()?;
    let mut tx = state.begin().await?;
    // Locked: a concurrent change commits first, and this one patches what it left.
    let mut row = store::budgets::find_for_update(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::BudgetNotFound, id))?;
    if let Some(name) = patch.name {
        row.name = name.trim().to_owned();
    }
    if let Some(tokens) = patch.limit_tokens {
        row.limit_tokens = tokens as i64;
    }
    if let Some(cost) = patch.limit_cost_usd {
        row.limit_cost_micros = Some(micros(cost));
    }
    if let Some(enabled) = patch.enabled {
        row.enabled = enabled;
    }
    row.updated_at = store::now();
    let row = store::budgets::update(tx.conn(), row).await?;
    let updated = load(tx.conn(), row).await?;
    tx.emit(budget_event("budget.updated", &updated));
    state.commit(tx).await?;
    Ok(updated)
}

/// Deletes a budget.
pub async fn delete(state: &Context, id: Uuid) -> Result<(), DomainError> {
    let mut tx = state.begin().await?;
    let row = store::budgets::find_for_delete(tx.conn(), id)
        .await?
        .ok_or_else(|| DomainError::not_found(ErrorCode::BudgetNotFound, id))?;
    let gone = load(tx.conn(), row).await?;
    store::budgets::delete(tx.conn(), id).await?;
    tx.emit(budget_event("budget.deleted", &gone));
    state.commit(tx).await?;
    Ok(())
}

/// Installs the daily proactive budget of `AGENTOPS_PROACTIVE_DAILY_TOKENS` unless it
/// exists (under its fixed id, so replicas starting together install it once); whether
/// it was installed now. Once installed it is the operators' to change: a start does not
/// reset its limit. To run without it, disable it (`enabled: false`) or set the variable
/// to 0 (a deleted one is installed again at the next start).
pub async fn install_default(state: &Context) -> Result<bool, DomainError> {
    let tokens = state.cfg.proactive_daily_tokens;
    if tokens == 0 {
        return Ok(false);
    }
    let now = store::now();
    let row = budget::Model {
        id: DEFAULT_PROACTIVE_ID,
        name: "default proactive".to_owned(),
        applies_to: BudgetTarget::Proactive.as_str().to_owned(),
        subject: None,
        period: BudgetPeriod::Day.as_str().to_owned(),
        time_zone: state.cfg.budget_time_zone.name().to_owned(),
        limit_tokens: i64::try_from(tokens).unwrap_or(i64::MAX),
        limit_cost_micros: None,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.begin().await?;
    let installed = store::budgets::insert_if_absent(tx.conn(), row.clone()).await?;
    if installed {
        tx.emit(budget_event("budget.created", &out(row, None, now)));
    }
    state.commit(tx).await?;
    Ok(installed)
}

/// Whether `row` limits a call made for `spender`, in the conversation of `persona`
/// (its id and owner) if it was made in one.
fn applies(row: &budget::Model, spender: &Spender, persona: Option<&(Uuid, String)>) -> bool {
    let id = |value: Option<Uuid>| value.map(|v| v.to_string());
    let subject = || row.subject.as_deref();
    match target(row) {
        BudgetTarget::All => true,
        BudgetTarget::Proactive => spender.scope == UsageScope::Proactive,
        BudgetTarget::Reactive => spender.scope == UsageScope::Reactive,
        BudgetTarget::Agent => row.subject.is_some() && row.subject == id(spender.agent_id),
        BudgetTarget::Project => row.subject.is_some() && row.subject == id(spender.project_id),
        BudgetTarget::User => row.subject.is_some() && row.subject == spender.user,
        BudgetTarget::Persona => {
            persona.is_some_and(|(persona, _)| subject() == Some(persona.to_string().as_str()))
        }
        BudgetTarget::Owner => persona.is_some_and(|(_, owner)| subject() == Some(owner)),
    }
}

/// The enabled budgets that limit a call made for `spender`, in id order.
///
/// A call made in a persona's conversation (its `thread_id` is one) also counts against
/// the budgets on that persona and on its owner: the server finds the persona from the
/// thread itself, so a runtime cannot leave it out. That lookup is made only when such
/// a budget is enforced.
pub(crate) async fn applicable<C: sea_orm::ConnectionTrait>(
    conn: &C,
    spender: &Spender,
) -> Result<Vec<budget::Model>, DomainError> {
    let enabled = store::budgets::enabled(conn).await?;
    let on_personas = enabled
        .iter()
        .any(|row| matches!(target(row), BudgetTarget::Persona | BudgetTarget::Owner));
    let persona = match spender.thread_id {
        Some(thread) if on_personas => store::personas::of_thread(conn, thread).await?,
        _ => None,
    };
    Ok(enabled
        .into_iter()
        .filter(|row| applies(row, spender, persona.as_ref()))
        .collect())
}

pub(crate) fn check_spender(checks: &mut Checks, spender: &Spender) {
    if let Some(user) = &spender.user {
        checks.text("user", user, limits::AUTHOR);
    }
}

/// Reserves room for a call in every budget that applies to it.
pub async fn reserve(
    state: &Context,
    caller: &Caller,
    input: ReservationIn,
) -> Result<ReservationOut, DomainError> {
    let spender = Spender {
        agent_id: input.agent_id,
        project_id: input.project_id,
        task_id: input.task_id,
        thread_id: input.thread_id,
        user: input.user.map(|u| u.trim().to_owned()),
        scope: input.scope,
    };
    let mut checks = Checks::default();
    check_spender(&mut checks, &spender);
    checks.range(
        "tokens",
        i64::try_from(input.tokens).unwrap_or(i64::MAX),
        limits::RESERVE_TOKENS,
    );
    if let Some(model) = &input.model {
        checks.text("model", model, limits::USAGE_NAME);
    }
    if let Some(ttl) = input.ttl_seconds {
        checks.range("ttl_seconds", i64::from(ttl), limits::RESERVATION_TTL);
    }
    checks.finish()?;
    let tokens = input.tokens as i64;
    let cost = super::usage::estimate_micros(state, input.model.as_deref(), input.tokens);
    let now = store::now();
    let ttl = input
        .ttl_seconds
        .map_or(state.cfg.reservation_ttl_secs, u64::from);
    let budgets = applicable(&state.db, &spender).await?;
    let tx = state.begin().await?;
    let mut legs = Vec::with_capacity(budgets.len());
    for row in &budgets {
        let (start, end) = period_bounds(period(row), time_zone(row), now);
        store::budgets::ensure_period(tx.conn(), row.id, start).await?;
        if !store::budgets::try_reserve(tx.conn(), row, start, tokens, cost).await? {
            drop(tx);
            return Err(refuse(state, row, start, end, tokens, now).await);
        }
        legs.push((row.id, start));
    }
    let reservation = store::budgets::insert_reservation(
        tx.conn(),
        budget_reservation::Model {
            id: Uuid::now_v7(),
            created_at: now,
            expires_at: now + Duration::seconds(ttl as i64),
            state: "held".to_owned(),
            tokens,
            cost_micros: cost,
            agent_id: spender.agent_id,
            project_id: spender.project_id,
            task_id: spender.task_id,
            thread_id: spender.thread_id,
            user_ref: spender.user.clone(),
            scope: spender.scope.as_str().to_owned(),
            created_by: Some(caller.key_id),
        },
        &legs,
    )
    .await?;
    state.commit(tx).await?;
    Ok(ReservationOut {
        id: reservation.id,
        tokens: input.tokens,
        expires_at: reservation.expires_at,
        budgets: legs.into_iter().map(|(id, _)| id).collect(),
    })
}

/// The refusal of a reservation `row` has no room for; the period is flagged exhausted
/// (and `budget.exhausted` emitted) the first time.
async fn refuse(
    state: &Context,
    row: &budget::Model,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tokens: i64,
    now: DateTime<Utc>,
) -> DomainError {
    let counters = store::budgets::period(&state.db, row.id, start)
        .await
        .ok()
        .flatten();
    let left = standing(row, counters.as_ref(), now).remaining_tokens;
    if let Err(err) = flag(state, row, start, store::budgets::Flag::Exhausted).await {
        tracing::warn!(budget = %row.id, "cannot flag an exhausted budget: {err}");
    }
    let wait = (end - now).num_seconds().max(1) as u64;
    DomainError::Exhausted {
        message: format!(
            "the budget \"{}\" ({} tokens a {}) has {left} tokens left and {tokens} were asked; \
             it starts over at {}",
            row.name,
            row.limit_tokens,
            row.period,
            end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        retry_after_secs: wait,
    }
}

/// Raises a period's flag in its own transaction, emitting the event if this raised it.
async fn flag(
    state: &Context,
    row: &budget::Model,
    start: DateTime<Utc>,
    which: store::budgets::Flag,
) -> Result<(), DomainError> {
    let mut tx = state.begin().await?;
    if store::budgets::raise(tx.conn(), row.id, start, which).await? {
        let budget = load(tx.conn(), row.clone()).await?;
        tx.emit(budget_event(
            match which {
                store::budgets::Flag::Warned => "budget.warning",
                store::budgets::Flag::Exhausted => "budget.exhausted",
            },
            &budget,
        ));
    }
    state.commit(tx).await
}

/// Adds what a call spent to one budget period inside `tx`, raising its 80 % and 100 %
/// flags (and emitting their events) when it crosses them.
pub(crate) async fn charge(
    tx: &mut store::Tx,
    budget_id: Uuid,
    start: DateTime<Utc>,
    tokens: i64,
    cost: i64,
) -> Result<(), DomainError> {
    let Some(after) = store::budgets::spend(tx.conn(), budget_id, start, tokens, cost).await?
    else {
        return Ok(());
    };
    let Some(row) = store::budgets::find(tx.conn(), budget_id).await? else {
        return Ok(());
    };
    let share = |used: i64, limit: Option<i64>| match limit {
        Some(limit) if limit > 0 => used as f64 / limit as f64,
        _ => 0.0,
    };
    let spent = share(after.used_tokens, Some(row.limit_tokens))
        .max(share(after.used_cost_micros, row.limit_cost_micros));
    for (threshold, which, kind) in [
        (0.8, store::budgets::Flag::Warned, "budget.warning"),
        (1.0, store::budgets::Flag::Exhausted, "budget.exhausted"),
    ] {
        if spent >= threshold && store::budgets::raise(tx.conn(), budget_id, start, which).await? {
            let budget = load(tx.conn(), row.clone()).await?;
            tx.emit(budget_event(kind, &budget));
        }
    }
    Ok(())
}

/// Charges a call to the budgets that apply to it now (no reservation, or one already
/// released).
pub(crate) async fn charge_applicable(
    tx: &mut store::Tx,
    spender: &Spender,
    tokens: i64,
    cost: i64,
) -> Result<(), DomainError> {
    let now = store::now();
    for row in applicable(tx.conn(), spender).await? {
        let (start, _) = period_bounds(period(&row), time_zone(&row), now);
        store::budgets::ensure_period(tx.conn(), row.id, start).await?;
        charge(tx, row.id, start, tokens, cost).await?;
    }
    Ok(())
}

/// Settles a held reservation inside `tx` with what the call really spent: its room is
/// given back and the real figures charged to the same budget periods. `false` if it
/// was not held (already settled, released or expired).
pub(crate) async fn settle(
    tx: &mut store::Tx,
    reservation_id: Uuid,
    tokens: i64,
    cost: i64,
) -> Result<bool, DomainError> {
    let Some(held) = store::budgets::end_reservation(tx.conn(), reservation_id, "settled").await?
    else {
        return Ok(false);
    };
    for leg in store::budgets::legs(tx.conn(), reservation_id).await? {
        store::budgets::unreserve(
            tx.conn(),
            leg.budget_id,
            leg.period_start,
            held.tokens,
            held.cost_micros,
        )
        .await?;
        charge(tx, leg.budget_id, leg.period_start, tokens, cost).await?;
    }
    Ok(true)
}

/// Gives back the room a held reservation holds; `false` if it was not held.
async fn release_in(tx: &mut store::Tx, id: Uuid) -> Result<bool, DomainError> {
    let Some(held) = store::budgets::end_reservation(tx.conn(), id, "released").await? else {
        return Ok(false);
    };
    for leg in store::budgets::legs(tx.conn(), id).await? {
        store::budgets::unreserve(
            tx.conn(),
            leg.budget_id,
            leg.period_start,
            held.tokens,
            held.cost_micros,
        )
        .await?;
    }
    Ok(true)
}

/// Releases a reservation (the call was not made). Releasing one already settled or
/// released changes nothing.
pub async fn release(state: &Context, id: Uuid) -> Result<(), DomainError> {
    if store::budgets::find_reservation(&state.db, id)
        .await?
        .is_none()
    {
        return Err(DomainError::not_found(ErrorCode::ReservationNotFound, id));
    }
    let mut tx = state.begin().await?;
    release_in(&mut tx, id).await?;
    state.commit(tx).await
}

/// Releases held reservations that expired; how many.
pub async fn release_expired(state: &Context) -> Result<usize, DomainError> {
    let expired = store::budgets::expired(&state.db, store::now(), 200).await?;
    let mut released = 0;
    for id in expired {
        let mut tx = state.begin().await?;
        if release_in(&mut tx, id).await? {
            released += 1;
        }
        state.commit(tx).await?;
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn periods_start_at_local_midnight_and_on_the_first_of_the_month() {
        let now = at("2026-12-04T23:30:00Z");
        assert_eq!(
            period_bounds(BudgetPeriod::Day, Tz::UTC, now),
            (at("2026-12-04T00:00:00Z"), at("2026-12-05T00:00:00Z"))
        );
        // 00:30 on the 5th in Paris.
        assert_eq!(
            period_bounds(BudgetPeriod::Day, Tz::Europe__Paris, now),
            (at("2026-12-04T23:00:00Z"), at("2026-12-05T23:00:00Z"))
        );
        assert_eq!(
            period_bounds(BudgetPeriod::Month, Tz::UTC, now),
            (at("2026-12-01T00:00:00Z"), at("2027-01-01T00:00:00Z"))
        );
        // A day with a daylight-saving change is 23 hours long.
        let spring = at("2026-03-29T12:00:00Z");
        let (start, end) = period_bounds(BudgetPeriod::Day, Tz::Europe__Paris, spring);
        assert_eq!(end - start, Duration::hours(23));
    }
}
