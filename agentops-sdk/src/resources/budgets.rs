//! `client.budgets()`: `/api/v1/budgets`, and the reservations taken before a call.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{BudgetIn, BudgetOut, BudgetPatch, ReservationIn, ReservationOut};

/// Budgets and reservations. Get it with [`Client::budgets`].
#[derive(Debug, Clone, Copy)]
pub struct Budgets<'a> {
    pub(crate) client: &'a Client,
}

impl Budgets<'_> {
    /// Creates a budget (admin).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{BudgetIn, BudgetPeriod, BudgetTarget};
    /// let budget = client
    ///     .budgets()
    ///     .create(BudgetIn {
    ///         name: "all agents, daily".into(),
    ///         applies_to: BudgetTarget::All,
    ///         subject: None,
    ///         period: BudgetPeriod::Day,
    ///         time_zone: Some("Europe/Paris".into()),
    ///         limit_tokens: 2_000_000,
    ///         limit_cost_usd: Some(5.0),
    ///         enabled: None,
    ///     })
    ///     .await?;
    /// println!("{} tokens left today", budget.current.remaining_tokens);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: BudgetIn) -> Result<BudgetOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/budgets")
            .json(&input)?;
        // Names are unique: a repeat after a lost answer is refused as `already_exists`
        // rather than making a second budget, so it is safe to retry.
        self.client.send(call).await
    }

    /// One budget, with where it stands this period.
    pub async fn get(&self, id: Uuid) -> Result<BudgetOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/budgets/{id}")),
            )
            .await
    }

    /// Budgets, newest first.
    pub fn list(&self) -> ListRequest<BudgetOut> {
        ListRequest::new(self.client, "api/v1/budgets", "cursor")
    }

    /// Changes a budget (admin).
    pub async fn update(&self, id: Uuid, patch: BudgetPatch) -> Result<BudgetOut> {
        let call = self
            .client
            .call(Method::PATCH, &format!("api/v1/budgets/{id}"))
            .json(&patch)?;
        self.client.send(call).await
    }

    /// Deletes a budget (admin).
    pub async fn delete(&self, id: Uuid) -> Result<()> {
        self.client
            .send_empty(
                self.client
                    .call(Method::DELETE, &format!("api/v1/budgets/{id}")),
            )
            .await
    }

    /// Reserves room for a call in every budget that applies (agent role). A budget
    /// without room answers `budget_exhausted` (`Error::is_budget_exhausted`, with the
    /// time it starts over in `retry_after`); that is not retried.
    ///
    /// Not retried unless the request certainly did not reach the server: a repeat would
    /// hold room twice until the first reservation expires.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{ReservationIn, Spender, UsageIn, UsageScope};
    /// let spender = Spender { scope: UsageScope::Proactive, ..Spender::default() };
    /// let held = client.budgets().reserve(ReservationIn::for_spender(&spender, 4_000)).await?;
    /// // ... call the model ...
    /// client
    ///     .usage()
    ///     .record(UsageIn {
    ///         provider: "local".into(),
    ///         model: "llama3".into(),
    ///         tokens_in: 2_500,
    ///         tokens_out: 400,
    ///         reservation_id: Some(held.id),
    ///         ..UsageIn::for_spender(&spender)
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn reserve(&self, input: ReservationIn) -> Result<ReservationOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/budgets/reservations")
            .json(&input)?;
        self.client.send(call.not_repeatable()).await
    }

    /// Releases a reservation whose call was not made.
    pub async fn release(&self, reservation_id: Uuid) -> Result<()> {
        self.client
            .send_empty(self.client.call(
                Method::DELETE,
                &format!("api/v1/budgets/reservations/{reservation_id}"),
            ))
            .await
    }
}
