//! The token ledger: one record per model call, its estimated cost, and totals.
//!
//! A record is charged to the budgets that apply to the call: through the reservation
//! it settles (see [`super::budgets`]), or directly when there was none. Failed calls
//! are recorded too, with whatever tokens the provider counted. The cost is estimated
//! here, from the server's price table (`AGENTOPS_PRICES`), not taken from the client.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use agentops_sdk::types::{
    Page, Spender, UsageGroup, UsageGroupBy, UsageIn, UsageOut, UsageOutcome, UsageScope,
    UsageSummary, UsageTotals,
};

use super::projects::Created;
use super::{Caller, Checks, Context, PageRequest, create_once, limits, paginate, request_hash};
use crate::config::Price;
use crate::error::DomainError;
use crate::store::usage::{Grouping, UsageFilter};
use crate::store::{self, entity::usage_record};

/// The price of `model`: its own entry, else the longest listed name it starts with
/// (providers report dated versions such as `gpt-4o-mini-2024-07-18`).
fn price<'a>(prices: &'a [Price], model: &str) -> Option<&'a Price> {
    prices.iter().find(|p| p.model == model).or_else(|| {
        prices
            .iter()
            .filter(|p| model.starts_with(&p.model))
            .max_by_key(|p| p.model.len())
    })
}

/// What `tokens_in` and `tokens_out` of `model` cost, in micro-dollars (`None`: no price).
pub(crate) fn cost_micros(
    state: &Context,
    model: &str,
    tokens_in: u64,
    tokens_out: u64,
) -> Option<i64> {
    // A price per million tokens is a price in micro-dollars per token.
    price(&state.cfg.prices, model)
        .map(|p| (tokens_in as f64 * p.input + tokens_out as f64 * p.output).round() as i64)
}

/// What a reservation of `tokens` of `model` may cost, at its dearer rate (0: no price).
pub(crate) fn estimate_micros(state: &Context, model: Option<&str>, tokens: u64) -> i64 {
    model
        .and_then(|model| price(&state.cfg.prices, model))
        .map_or(0, |p| {
            (tokens as f64 * p.input.max(p.output)).round() as i64
        })
}

fn out(row: usage_record::Model) -> UsageOut {
    UsageOut {
        id: row.id,
        recorded_at: row.recorded_at,
        agent_id: row.agent_id,
        project_id: row.project_id,
        task_id: row.task_id,
        thread_id: row.thread_id,
        user: row.user_ref,
        scope: row.scope.parse().unwrap_or(UsageScope::Reactive),
        kind: row.kind.parse().unwrap_or_default(),
        provider: row.provider,
        model: row.model,
        tokens_in: row.tokens_in.max(0) as u64,
        tokens_out: row.tokens_out.max(0) as u64,
        cost_usd: row.cost_micros.map(super::budgets::usd),
        latency_ms: row.latency_ms.max(0) as u64,
        outcome: row.outcome.parse().unwrap_or(UsageOutcome::Ok),
        error: row.error,
        reservation_id: row.reservation_id,
    }
}

impl super::IdempotentRow for usage_record::Model {
    fn request_hash(&self) -> Option<&str> {
        self.request_hash.as_deref()
    }
}

/// Records one call and charges it to the budgets. With a reservation it settles it, and
/// a repeat answers the record already made; with an idempotency key, likewise.
pub async fn record(
    state: &Context,
    caller: &Caller,
    input: UsageIn,
    idempotency_key: Option<String>,
) -> Result<Created<UsageOut>, DomainError> {
    let mut checks = Checks::default();
    let spender = Spender {
        agent_id: input.agent_id,
        project_id: input.project_id,
        task_id: input.task_id,
        thread_id: input.thread_id,
        user: input.user.as_deref().map(|u| u.trim().to_owned()),
        scope: input.scope,
    };
    super::budgets::check_spender(&mut checks, &spender);
    let kind = input.kind.unwrap_or_default();
    checks.text("provider", &input.provider, limits::USAGE_NAME);
    checks.text("model", &input.model, limits::USAGE_NAME);
    let int = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    checks.range("tokens_in", int(input.tokens_in), limits::CALL_TOKENS);
    checks.range("tokens_out", int(input.tokens_out), limits::CALL_TOKENS);
    checks.range("latency_ms", int(input.latency_ms), limits::LATENCY_MS);
    if let Some(error) = &input.error {
        checks.text("error", error, limits::NOTE);
    }
    checks.finish()?;
    let hash = request_hash(&input);
    let cost = cost_micros(state, input.model.trim(), input.tokens_in, input.tokens_out);
    let tokens = int(input.tokens_in) + int(input.tokens_out);
    let row = usage_record::Model {
        id: Uuid::now_v7(),
        recorded_at: store::now(),
        agent_id: spender.agent_id,
        project_id: spender.project_id,
        task_id: spender.task_id,
        thread_id: spender.thread_id,
        user_ref: spender.user.clone(),
        scope: spender.scope.as_str().to_owned(),
        kind: kind.as_str().to_owned(),
        provider: input.provider.trim().to_owned(),
        model: input.model.trim().to_owned(),
        tokens_in: int(input.tokens_in),
        tokens_out: int(input.tokens_out),
        cost_micros: cost,
        latency_ms: int(input.latency_ms),
        outcome: input.outcome.as_str().to_owned(),
        error: input.error.clone(),
        reservation_id: input.reservation_id,
        recorded_by: Some(caller.key_id),
        idempotency_key: idempotency_key.clone(),
        request_hash: Some(hash.clone()),
    };
    if let Some(reservation) = input.reservation_id {
        if store::budgets::find_reservation(&state.db, reservation)
            .await?
            .is_none()
        {
            return Err(DomainError::not_found(
                agentops_sdk::types::ErrorCode::ReservationNotFound,
                reservation,
            ));
        }
        if let Some(existing) = store::usage::find_by_reservation(&state.db, reservation).await? {
            super::check_replay(existing.request_hash.as_deref(), &hash)?;
            return Ok(Created {
                value: out(existing),
                replayed: true,
            });
        }
    }
    let (db, key_id) = (&state.db, caller.key_id);
    let reservation = input.reservation_id;
    create_once(
        idempotency_key,
        &hash,
        move |key| async move { Ok(store::usage::find_by_idempotency_key(db, key_id, &key).await?) },
        |row| async move { Ok(out(row)) },
        || async move {
            let mut tx = state.begin().await?;
            let cost = row.cost_micros.unwrap_or(0);
            let row = store::usage::insert(tx.conn(), row).await?;
            let settled = match reservation {
                Some(id) => super::budgets::settle(&mut tx, id, tokens, cost).await?,
                None => false,
            };
            if !settled {
                // No reservation, or one that expired meanwhile: what was spent is
                // charged all the same.
                super::budgets::charge_applicable(&mut tx, &spender, tokens, cost).await?;
            }
            state.commit(tx).await?;
            Ok(out(row))
        },
    )
    .await
}

/// A listing's or a summary's filters, as the query string gives them.
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    pub agent_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub thread_id: Option<Uuid>,
    pub user: Option<String>,
    pub scope: Option<UsageScope>,
    pub model: Option<String>,
    pub outcome: Option<UsageOutcome>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl UsageQuery {
    fn filter(self) -> Result<UsageFilter, DomainError> {
        let mut checks = Checks::default();
        if let Some(user) = &self.user {
            checks.text("user", user, limits::AUTHOR);
        }
        if let Some(model) = &self.model {
            checks.text("model", model, limits::USAGE_NAME);
        }
        if let (Some(from), Some(to)) = (self.from, self.to)
            && to < from
        {
            checks.push("to", "must not be before `from`");
        }
        checks.finish()?;
        Ok(UsageFilter {
            agent_id: self.agent_id,
            project_id: self.project_id,
            task_id: self.task_id,
            thread_id: self.thread_id,
            user: self.user,
            scope: self.scope.map(|s| s.as_str().to_owned()),
            model: self.model,
            outcome: self.outcome.map(|o| o.as_str().to_owned()),
            from: self.from,
            to: self.to,
        })
    }
}

/// Records, newest first.
pub async fn list(
    state: &Context,
    query: UsageQuery,
    page: PageRequest,
) -> Result<Page<UsageOut>, DomainError> {
    let filter = query.filter()?;
    let rows = store::usage::list(&state.db, &filter, page.before, page.limit + 1).await?;
    Ok(paginate(
        rows.into_iter().map(out).collect(),
        page.limit,
        |u| u.id,
    ))
}

/// Totals per group: biggest spender first (by cost, then tokens), days in order.
pub async fn summary(
    state: &Context,
    query: UsageQuery,
    group_by: UsageGroupBy,
) -> Result<UsageSummary, DomainError> {
    let filter = query.filter()?;
    let grouping = match group_by {
        UsageGroupBy::Agent => Grouping::Agent,
        UsageGroupBy::Project => Grouping::Project,
        UsageGroupBy::Model => Grouping::Model,
        UsageGroupBy::Scope => Grouping::Scope,
        UsageGroupBy::User => Grouping::User,
        UsageGroupBy::Day => Grouping::Day,
    };
    let rows = store::usage::totals(&state.db, &filter, grouping).await?;
    let mut total = UsageTotals::default();
    let mut groups: Vec<UsageGroup> = rows
        .into_iter()
        .map(|row| {
            let totals = UsageTotals {
                calls: row.calls.max(0) as u64,
                errors: row.errors.max(0) as u64,
                tokens_in: row.tokens_in.max(0) as u64,
                tokens_out: row.tokens_out.max(0) as u64,
                cost_usd: super::budgets::usd(row.cost_micros),
            };
            total.calls += totals.calls;
            total.errors += totals.errors;
            total.tokens_in += totals.tokens_in;
            total.tokens_out += totals.tokens_out;
            total.cost_usd += totals.cost_usd;
            UsageGroup {
                key: row.key.unwrap_or_else(|| "none".to_owned()),
                totals,
            }
        })
        .collect();
    if group_by == UsageGroupBy::Day {
        groups.sort_by(|a, b| a.key.cmp(&b.key));
    } else {
        groups.sort_by(|a, b| {
            b.totals
                .cost_usd
                .total_cmp(&a.totals.cost_usd)
                .then(b.totals.tokens().cmp(&a.totals.tokens()))
                .then(a.key.cmp(&b.key))
        });
    }
    Ok(UsageSummary {
        group_by,
        groups,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dated_model_takes_the_price_of_its_family() {
        let prices = vec![
            Price {
                model: "gpt-4o".into(),
                input: 2.5,
                output: 10.0,
            },
            Price {
                model: "gpt-4o-mini".into(),
                input: 0.15,
                output: 0.6,
            },
        ];
        assert_eq!(price(&prices, "gpt-4o-mini").unwrap().input, 0.15);
        assert_eq!(
            price(&prices, "gpt-4o-mini-2024-07-18").unwrap().input,
            0.15
        );
        assert_eq!(price(&prices, "gpt-4o-2024-08-06").unwrap().input, 2.5);
        assert!(price(&prices, "mistral-small").is_none());
    }
}
