//! `client.keys()`: `/api/v1/keys` (admin only).

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{ApiKeyCreated, ApiKeyIn, ApiKeyOut, SessionIn};

/// API keys (admin only). Get it with [`Client::keys`].
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    pub(crate) client: &'a Client,
}

impl Keys<'_> {
    /// Creates a key; the answer is the only time its secret is shown.
    ///
    /// Not retried unless the request certainly did not reach the server: a repeat could
    /// make a second key.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{ApiKeyIn, Role};
    /// let created = client
    ///     .keys()
    ///     .create(ApiKeyIn { name: "seed-1".into(), role: Role::Agent, expires_at: None })
    ///     .await?;
    /// println!("store this secret now: {}", created.secret);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: ApiKeyIn) -> Result<ApiKeyCreated> {
        let call = self.client.call(Method::POST, "api/v1/keys").json(&input)?;
        self.client.send(call.not_repeatable()).await
    }

    /// Lists the keys that have not been revoked (never their secrets).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let page = client.keys().list().send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<ApiKeyOut> {
        ListRequest::new(self.client, "api/v1/keys", "cursor")
    }

    /// Revokes a key: it stops working at once on this server (within a few seconds on
    /// other replicas).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// client.keys().revoke(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn revoke(&self, id: Uuid) -> Result<()> {
        self.client
            .send_empty(
                self.client
                    .call(Method::DELETE, &format!("api/v1/keys/{id}")),
            )
            .await
    }

    /// The key this client uses: its id, name and role (any role). Services that take
    /// platform keys from their own callers check them with it.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let me = client.keys().me().await?;
    /// println!("this is {} ({})", me.name, me.role);
    /// # Ok(()) }
    /// ```
    pub async fn me(&self) -> Result<ApiKeyOut> {
        self.client
            .send(self.client.call(Method::GET, "api/v1/keys/me"))
            .await
    }

    /// Starts a session (any role): a short-lived key with this key's role, revoked with
    /// it. A web front end exchanges the key a person pastes for one of these and keeps
    /// only the session. Not retried unless the request certainly did not arrive.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::SessionIn;
    /// let session = client
    ///     .keys()
    ///     .start_session(SessionIn { name: Some("dashboard".into()), ttl_seconds: Some(3600) })
    ///     .await?;
    /// println!("expires at {:?}", session.key.expires_at);
    /// # Ok(()) }
    /// ```
    pub async fn start_session(&self, input: SessionIn) -> Result<ApiKeyCreated> {
        let call = self
            .client
            .call(Method::POST, "api/v1/sessions")
            .json(&input)?;
        self.client.send(call.not_repeatable()).await
    }

    /// Ends the session this client uses (logout): its key stops working. Refused with
    /// `not_a_session` (409) when the client's key is not a session.
    ///
    /// ```no_run
    /// # async fn example(session: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// session.keys().end_session().await?;
    /// # Ok(()) }
    /// ```
    pub async fn end_session(&self) -> Result<()> {
        self.client
            .send_empty(self.client.call(Method::DELETE, "api/v1/sessions/current"))
            .await
    }
}
