//! `client.pairings()`: `/api/v1/pairings`.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{PairingApprove, PairingIn, PairingOut, PairingRevoke, PairingStatus};

/// The allowlist of chats an interface (the Telegram bot) serves: one-time codes for
/// unknown chats, their approval, revocation. Every call needs an admin key. Get it with
/// [`Client::pairings`].
#[derive(Debug, Clone, Copy)]
pub struct Pairings<'a> {
    pub(crate) client: &'a Client,
}

impl Pairings<'_> {
    /// Asks for a chat's pairing (admin). With `status` absent or `pending`, a chat not
    /// yet approved is given a one-time code valid for an hour; a chat already approved,
    /// or one whose code is still valid, is answered as it is (the same code), so
    /// calling for every message of an unknown chat issues one code. More than 50 valid
    /// codes waiting on one channel are refused (`429 rate_limited`, with `Retry-After`).
    /// With `status: Some(PairingStatus::Approved)` the chat is allowed at once.
    /// Retries are safe: the request is idempotent.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{PairingIn, PairingStatus};
    /// let pairing = client
    ///     .pairings()
    ///     .create(&PairingIn {
    ///         channel: "telegram".into(),
    ///         chat: "123456789".into(),
    ///         name: "@alice (Alice Smith)".into(),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// match pairing.status {
    ///     PairingStatus::Approved => { /* serve the chat */ }
    ///     _ => println!("ask an operator to approve code {}", pairing.code.unwrap_or_default()),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: &PairingIn) -> Result<PairingOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/pairings")
            .json(input)?;
        self.client.send(call).await
    }

    /// Approves the pending pairing that holds `code` (admin): case, spaces and dashes
    /// do not matter. `by` is recorded as `decided_by` (the key's name when `None`).
    /// An unknown or expired code is `404 pairing_not_found`.
    ///
    /// Approving clears the code, so a repeat of a request that was carried out would
    /// find no code: this call is retried only when the request certainly did not reach
    /// the server.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let pairing = client.pairings().approve("k7qm-4xpa", Some("@operator")).await?;
    /// assert!(pairing.status.is_allowed());
    /// # Ok(()) }
    /// ```
    pub async fn approve(&self, code: &str, by: Option<&str>) -> Result<PairingOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/pairings/approve")
            .json(&PairingApprove {
                code: code.to_owned(),
                by: by.map(str::to_owned),
            })?;
        self.client.send(call.not_repeatable()).await
    }

    /// Revokes a pairing (admin): the chat is no longer allowed, and a pending code no
    /// longer works. Revoking a revoked pairing changes nothing. `by` is recorded as
    /// `decided_by` (the key's name when `None`).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let pairing = client.pairings().revoke(id, None).await?;
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self, id: Uuid, by: Option<&str>) -> Result<PairingOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/pairings/{id}/revoke"))
            .json(&PairingRevoke {
                by: by.map(str::to_owned),
            })?;
        self.client.send(call).await
    }

    /// One pairing (admin).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let pairing = client.pairings().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<PairingOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/pairings/{id}")),
            )
            .await
    }

    /// Lists pairings (admin), newest first (by when the chat first asked), filtered by
    /// channel, status and chat.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::PairingStatus;
    /// use futures_util::TryStreamExt;
    ///
    /// // The allowlist of the Telegram bot.
    /// let allowed: Vec<_> = client
    ///     .pairings()
    ///     .list()
    ///     .channel("telegram")
    ///     .status(PairingStatus::Approved)
    ///     .stream()
    ///     .try_collect()
    ///     .await?;
    /// // Is one chat allowed?
    /// let page = client.pairings().list().channel("telegram").chat("123456789").send().await?;
    /// let allowed = page.items.first().is_some_and(|p| p.status.is_allowed());
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<PairingOut> {
        ListRequest::new(self.client, "api/v1/pairings", "cursor")
    }
}

impl ListRequest<PairingOut> {
    /// Only pairings of this channel (`telegram`).
    pub fn channel(self, channel: impl Into<String>) -> Self {
        self.param("channel", channel.into())
    }

    /// Only pairings in this status (`pending`: codes still valid; `expired`: codes that
    /// ran out).
    pub fn status(self, status: PairingStatus) -> Self {
        self.param("status", status.as_str())
    }

    /// Only the pairing of this chat (with [`channel`](Self::channel), at most one).
    pub fn chat(self, chat: impl Into<String>) -> Self {
        self.param("chat", chat.into())
    }
}
