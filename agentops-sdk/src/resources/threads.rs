//! `client.threads()` and `client.approvals()`: `/api/v1/threads`, `/api/v1/approvals`.

use reqwest::Method;
use uuid::Uuid;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{
    ApprovalDecisionIn, ApprovalIn, ApprovalOut, ApprovalOutcomeIn, ApprovalStatus, MessageIn,
    MessageOut, ThreadIn, ThreadOut, ThreadPatch,
};

/// Conversation threads and their messages. Get it with [`Client::threads`].
#[derive(Debug, Clone, Copy)]
pub struct Threads<'a> {
    pub(crate) client: &'a Client,
}

impl Threads<'_> {
    /// Opens a thread (agent role), or returns the one its channel already has under
    /// `external_id`: safe to call on every incoming message.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ThreadIn;
    /// let thread = client.threads().open(ThreadIn::for_channel("telegram", "123456789")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn open(&self, input: ThreadIn) -> Result<ThreadOut> {
        let call = self
            .client
            .call(Method::POST, "api/v1/threads")
            .json(&input)?;
        // With an external id a repeat finds the same thread, so it may be retried;
        // without one, a repeat would open a second thread.
        let call = if input.external_id.is_some() {
            call
        } else {
            call.not_repeatable()
        };
        self.client.send(call).await
    }

    /// Changes a thread's title or settings: `metadata` keys are merged into its
    /// metadata (`null` removes a key; see [`ThreadPatch`]).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ThreadPatch;
    /// let thread = client
    ///     .threads()
    ///     .update(id, ThreadPatch { metadata: Some(serde_json::json!({"voice": true})), ..Default::default() })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, id: Uuid, patch: ThreadPatch) -> Result<ThreadOut> {
        self.client
            .send(
                self.client
                    .call(Method::PATCH, &format!("api/v1/threads/{id}"))
                    .json(&patch)?,
            )
            .await
    }

    /// One thread.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let thread = client.threads().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<ThreadOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/threads/{id}")),
            )
            .await
    }

    /// Lists threads, newest first.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let chats = client.threads().list().channel("telegram").send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<ThreadOut> {
        ListRequest::new(self.client, "api/v1/threads", "cursor")
    }

    /// Adds a message to a thread (agent role). A `user` message supersedes the thread's
    /// pending approval. Retries are safe: the call sends an `Idempotency-Key`, so a
    /// repeated request returns the first message instead of storing a second.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, thread: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::MessageIn;
    /// client.threads().post(thread, MessageIn::user("what is blocked?")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn post(&self, thread_id: Uuid, input: MessageIn) -> Result<MessageOut> {
        let call = self
            .client
            .call(
                Method::POST,
                &format!("api/v1/threads/{thread_id}/messages"),
            )
            .json(&input)?;
        self.client.send(call.idempotent_create()).await
    }

    /// Adds a message with your own idempotency key: posting again with the same key,
    /// thread and message (even from another process, days later) returns the first
    /// message and changes nothing (no second event; a pending approval is not
    /// superseded again); the same key with anything else fails with 422
    /// `idempotency_key_reused`. Returns the message and whether it was such a replay.
    /// Keys are scoped to the API key that sends them.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, thread: uuid::Uuid, update_id: i64) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::MessageIn;
    /// // Telegram may deliver an update twice: its id makes the second post a no-op.
    /// let (message, replayed) = client
    ///     .threads()
    ///     .post_with_key(thread, MessageIn::user("what is blocked?"), format!("telegram:{update_id}"))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn post_with_key(
        &self,
        thread_id: Uuid,
        input: MessageIn,
        idempotency_key: impl Into<String>,
    ) -> Result<(MessageOut, bool)> {
        let call = self
            .client
            .call(
                Method::POST,
                &format!("api/v1/threads/{thread_id}/messages"),
            )
            .json(&input)?;
        self.client
            .send_with_replay(call.with_idempotency_key(idempotency_key.into()))
            .await
    }

    /// A thread's messages, newest first: one page of `limit(n)` is the last `n`.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, thread: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let mut last_30 = client.threads().messages(thread).limit(30).send().await?.items;
    /// last_30.reverse(); // oldest first, for a prompt
    /// # Ok(()) }
    /// ```
    pub fn messages(&self, thread_id: Uuid) -> ListRequest<MessageOut> {
        ListRequest::new(
            self.client,
            format!("api/v1/threads/{thread_id}/messages"),
            "cursor",
        )
    }

    /// Proposes a plan in a thread for a human to approve (agent role); the thread's
    /// pending approval is superseded. Not retried once it may have arrived.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, thread: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ApprovalIn;
    /// let approval = client
    ///     .threads()
    ///     .propose(thread, ApprovalIn {
    ///         summary: "Understood: a launch plan. Will: create project Launch with 3 tasks.".into(),
    ///         plan: serde_json::json!({"project": "Launch", "tasks": ["draft", "review", "publish"]}),
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn propose(&self, thread_id: Uuid, input: ApprovalIn) -> Result<ApprovalOut> {
        let call = self
            .client
            .call(
                Method::POST,
                &format!("api/v1/threads/{thread_id}/approvals"),
            )
            .json(&input)?
            .not_repeatable();
        self.client.send(call).await
    }
}

/// Plans proposed in threads, and the humans' decisions on them. Get it with
/// [`Client::approvals`].
#[derive(Debug, Clone, Copy)]
pub struct Approvals<'a> {
    pub(crate) client: &'a Client,
}

impl Approvals<'_> {
    /// One approval.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let approval = client.approvals().get(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, id: Uuid) -> Result<ApprovalOut> {
        self.client
            .send(
                self.client
                    .call(Method::GET, &format!("api/v1/approvals/{id}")),
            )
            .await
    }

    /// Lists approvals, newest first.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ApprovalStatus;
    /// // Approved plans an agent has not carried out yet (after a restart, say).
    /// let owed = client.approvals().list().status(ApprovalStatus::Approved).send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<ApprovalOut> {
        ListRequest::new(self.client, "api/v1/approvals", "cursor")
    }

    /// Approves a pending plan (admin: a human's OK); 409 if it is no longer pending.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let approval = client.approvals().approve(id).await?;
    /// # Ok(()) }
    /// ```
    pub async fn approve(&self, id: Uuid) -> Result<ApprovalOut> {
        self.decide(id, "approve", ApprovalDecisionIn::default())
            .await
    }

    /// Rejects a pending plan (admin), with an optional reason; 409 if it is no longer
    /// pending.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let approval = client.approvals().reject(id, Some("not this week".into())).await?;
    /// # Ok(()) }
    /// ```
    pub async fn reject(&self, id: Uuid, reason: Option<String>) -> Result<ApprovalOut> {
        self.decide(id, "reject", ApprovalDecisionIn { reason })
            .await
    }

    async fn decide(&self, id: Uuid, verb: &str, input: ApprovalDecisionIn) -> Result<ApprovalOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/approvals/{id}/{verb}"))
            .json(&input)?;
        self.client.send(call).await
    }

    /// Records what carrying out an approved plan gave (agent role): a result makes it
    /// `executed`, an error `failed`; 409 unless it is `approved`.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, id: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::ApprovalOutcomeIn;
    /// let done = ApprovalOutcomeIn { result: Some(serde_json::json!({"tasks": 3})), ..Default::default() };
    /// client.approvals().finish(id, done).await?;
    /// # Ok(()) }
    /// ```
    pub async fn finish(&self, id: Uuid, outcome: ApprovalOutcomeIn) -> Result<ApprovalOut> {
        let call = self
            .client
            .call(Method::POST, &format!("api/v1/approvals/{id}/finish"))
            .json(&outcome)?;
        self.client.send(call).await
    }
}

impl ListRequest<ThreadOut> {
    /// Only threads of this channel.
    pub fn channel(self, channel: impl Into<String>) -> Self {
        self.param("channel", channel.into())
    }

    /// Only the thread with this `external_id` (with [`channel`](Self::channel): at most
    /// one), found without opening it.
    pub fn external_id(self, external_id: impl Into<String>) -> Self {
        self.param("external_id", external_id.into())
    }
}

impl ListRequest<ApprovalOut> {
    /// Only this thread's approvals.
    pub fn thread(self, thread_id: Uuid) -> Self {
        self.param("thread_id", thread_id)
    }

    /// Only approvals in this status.
    pub fn status(self, status: ApprovalStatus) -> Self {
        self.param("status", status.as_str())
    }
}
