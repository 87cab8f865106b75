//! `client.personas()`: `/api/v1/personas`.

use reqwest::Method;

use super::ListRequest;
use crate::Client;
use crate::error::Result;
use crate::types::{
    MessageOut, PersonaChatIn, PersonaChatOut, PersonaConversationOut, PersonaIn, PersonaModelsOut,
    PersonaOut, PersonaPatch, PersonaSecretsOut, PersonaStatus, PersonaVersionOut, Visibility,
};

/// Personas: agents people create, share by link and talk to. Get it with
/// [`Client::personas`]; an interface holding an admin key acts for one of its people
/// with [`on_behalf_of`](Self::on_behalf_of) (the `X-On-Behalf-Of` header).
///
/// A persona is named by its id or by its slug (any case) wherever `persona` is asked.
#[derive(Debug, Clone)]
pub struct Personas<'a> {
    pub(crate) client: &'a Client,
    pub(crate) person: Option<String>,
}

impl Personas<'_> {
    /// The same calls, acting for `person` (`telegram:123456789`, `web:ana`): the
    /// personas they create are theirs, they change only their own, and they see the
    /// public ones, their own, and those whose link they have. Admin keys only.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::PersonaIn;
    /// let ana = client.personas().on_behalf_of("telegram:42");
    /// let pirate = ana
    ///     .create(&PersonaIn::new("Captain Byte", "You are a cheerful pirate.", "llama-3.3-70b-instruct"))
    ///     .await?;
    /// println!("share https://t.me/your_bot?start={}", pirate.slug);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn on_behalf_of(mut self, person: impl Into<String>) -> Self {
        self.person = Some(person.into());
        self
    }

    fn call(&self, method: Method, path: &str) -> crate::client::Call {
        let call = self.client.call(method, path);
        match &self.person {
            Some(person) => call.header("x-on-behalf-of", person.clone()),
            None => call,
        }
    }

    fn path(persona: &str) -> String {
        // A slug is `[A-Za-z0-9_-]` and an id a UUID: nothing to escape.
        format!("api/v1/personas/{persona}")
    }

    /// Creates a persona (agent or admin key), owned by who acts. Its slug is made from
    /// its name when not given; a provider key is sealed at rest and never shown again.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::{PersonaIn, Visibility};
    /// let made = client
    ///     .personas()
    ///     .create(&PersonaIn {
    ///         visibility: Some(Visibility::Public),
    ///         greeting: Some("Hello! Ask me about the stars.".into()),
    ///         ..PersonaIn::new("Stargazer", "You love astronomy and explain it simply.", "gpt-4o-mini")
    ///     })
    ///     .await?;
    /// assert_eq!(made.version, 1);
    /// # Ok(()) }
    /// ```
    pub async fn create(&self, input: &PersonaIn) -> Result<PersonaOut> {
        let call = self
            .call(Method::POST, "api/v1/personas")
            .json(input)?
            .not_repeatable();
        self.client.send(call).await
    }

    /// One persona, by id or slug (its system prompt only for its owner).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let pirate = client.personas().get("captain-byte").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self, persona: &str) -> Result<PersonaOut> {
        self.client
            .send(self.call(Method::GET, &Self::path(persona)))
            .await
    }

    /// Changes a persona (its owner only); a change of its prompt, model, temperature or
    /// greeting makes a new version.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::PersonaPatch;
    /// let changed = client
    ///     .personas()
    ///     .on_behalf_of("telegram:42")
    ///     .update("captain-byte", &PersonaPatch {
    ///         system_prompt: Some("You are a grumpy pirate.".into()),
    ///         ..PersonaPatch::default()
    ///     })
    ///     .await?;
    /// assert_eq!(changed.version, 2);
    /// # Ok(()) }
    /// ```
    pub async fn update(&self, persona: &str, patch: &PersonaPatch) -> Result<PersonaOut> {
        let call = self.call(Method::PATCH, &Self::path(persona)).json(patch)?;
        self.client.send(call).await
    }

    /// Deletes a persona (its owner only): it takes no new messages and its history
    /// stays for its owner; with `purge`, it is removed for good.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// client.personas().on_behalf_of("telegram:42").delete("captain-byte", false).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self, persona: &str, purge: bool) -> Result<()> {
        let call = self
            .call(Method::DELETE, &Self::path(persona))
            .query("purge", purge.to_string());
        self.client.send_empty(call).await
    }

    /// A persona's versions, newest first (up to 200).
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let versions = client.personas().versions("captain-byte").await?;
    /// # Ok(()) }
    /// ```
    pub async fn versions(&self, persona: &str) -> Result<Vec<PersonaVersionOut>> {
        let call = self
            .call(Method::GET, &format!("{}/versions", Self::path(persona)))
            .query("limit", "200");
        self.client.send(call).await
    }

    /// One version of a persona.
    pub async fn version(&self, persona: &str, version: u32) -> Result<PersonaVersionOut> {
        self.client
            .send(self.call(
                Method::GET,
                &format!("{}/versions/{version}", Self::path(persona)),
            ))
            .await
    }

    /// Says `text` to a persona in the person's own conversation with it, waiting up to
    /// `wait_seconds` (0–120) for its answer (`reply` is `None` if it was not ready: it
    /// comes later in the thread). `user` defaults to who acts. A person past the
    /// persona's daily limit gets `429 rate_limited` (see [`crate::Error::retry_after`]).
    /// Retries repeat nothing: the message carries an idempotency key.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// use agentops_sdk::types::PersonaChatIn;
    /// let bob = client.personas().on_behalf_of("telegram:7");
    /// let out = bob
    ///     .chat("captain-byte", &PersonaChatIn { text: "What is RAM?".into(), ..Default::default() }, 30)
    ///     .await?;
    /// if let Some(reply) = out.reply {
    ///     println!("{}", reply.text);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn chat(
        &self,
        persona: &str,
        input: &PersonaChatIn,
        wait_seconds: u32,
    ) -> Result<PersonaChatOut> {
        let call = self
            .call(Method::POST, &format!("{}/chat", Self::path(persona)))
            .query("wait", wait_seconds.min(120).to_string())
            .json(input)?
            .idempotent_create();
        self.client.send(call).await
    }

    /// [`chat`](Self::chat) with the caller's own idempotency key (1–255 visible ASCII
    /// characters): a message an interface may hand over twice (a Telegram update seen
    /// again after a restart) is kept once, and the second call answers the first one's
    /// message.
    pub async fn chat_with_key(
        &self,
        persona: &str,
        input: &PersonaChatIn,
        wait_seconds: u32,
        key: impl Into<String>,
    ) -> Result<PersonaChatOut> {
        let call = self
            .call(Method::POST, &format!("{}/chat", Self::path(persona)))
            .query("wait", wait_seconds.min(120).to_string())
            .json(input)?
            .with_idempotency_key(key.into());
        self.client.send(call).await
    }

    /// A persona's secrets, sealed: for the platform's own runtimes (an admin key acting
    /// for itself), which open them with the master key (`MasterKey::open` of the
    /// `secrets` feature, the context from
    /// [`crate::types::persona_keys::secret_context`]). Nothing is ever answered in
    /// clear.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let sealed = client.personas().secrets("captain-byte").await?;
    /// println!("has a bot: {}", sealed.telegram_bot_token.is_some());
    /// # Ok(()) }
    /// ```
    pub async fn secrets(&self, persona: &str) -> Result<PersonaSecretsOut> {
        self.client
            .send(self.call(Method::GET, &format!("{}/secrets", Self::path(persona))))
            .await
    }

    /// The models people may choose for a persona (`GET /models`); empty: any name is
    /// taken.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// for model in client.personas().models().await?.models {
    ///     println!("{model}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn models(&self) -> Result<PersonaModelsOut> {
        self.client
            .send(self.client.call(Method::GET, "api/v1/models"))
            .await
    }

    /// A persona's conversations, newest first, with who each is with, how many
    /// messages it holds and when the last came: for its owner (and the operator) only.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let ana = client.personas().on_behalf_of("telegram:42");
    /// for talk in ana.conversations("captain-byte").limit(20).send().await?.items {
    ///     println!("{}: {} messages", talk.person, talk.messages);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn conversations(&self, persona: &str) -> ListRequest<PersonaConversationOut> {
        self.acting_list(format!("{}/conversations", Self::path(persona)))
    }

    /// The messages of one of a persona's conversations, newest first (page through
    /// them all to export it): for its owner (and the operator) only.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client, thread: uuid::Uuid) -> agentops_sdk::Result<()> {
    /// let ana = client.personas().on_behalf_of("telegram:42");
    /// let last_10 = ana.conversation("captain-byte", thread).limit(10).send().await?.items;
    /// # Ok(()) }
    /// ```
    pub fn conversation(&self, persona: &str, thread_id: uuid::Uuid) -> ListRequest<MessageOut> {
        self.acting_list(format!("{}/conversations/{thread_id}", Self::path(persona)))
    }

    /// A listing of `path`, sent as who acts (`X-On-Behalf-Of`) when one is set.
    fn acting_list<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        path: String,
    ) -> ListRequest<T> {
        let list = ListRequest::new(self.client, path, "cursor");
        match &self.person {
            Some(person) => list.header("x-on-behalf-of", person.clone()),
            None => list,
        }
    }

    /// Lists personas, newest first: the public ones and who acts's own.
    ///
    /// ```no_run
    /// # async fn example(client: agentops_sdk::Client) -> agentops_sdk::Result<()> {
    /// let mine = client.personas().on_behalf_of("telegram:42").list().owner("me").send().await?;
    /// # Ok(()) }
    /// ```
    pub fn list(&self) -> ListRequest<PersonaOut> {
        self.acting_list("api/v1/personas".to_owned())
    }
}

impl ListRequest<PersonaOut> {
    /// Only this owner's (`me`: who acts).
    pub fn owner(self, owner: impl Into<String>) -> Self {
        self.param("owner", owner.into())
    }

    /// Only this visibility.
    pub fn visibility(self, visibility: Visibility) -> Self {
        self.param("visibility", visibility.as_str())
    }

    /// Only this status.
    pub fn status(self, status: PersonaStatus) -> Self {
        self.param("status", status.as_str())
    }

    /// Only those that are (`true`) or are not (`false`) a Telegram bot of their own.
    pub fn telegram_bot(self, is_bot: bool) -> Self {
        self.param("telegram_bot", is_bot.to_string())
    }
}
