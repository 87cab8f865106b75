//! Every model call on the books: before it, room is reserved in the budgets that apply
//! (`POST /budgets/reservations`); after it, what it really spent is recorded in the
//! ledger (`POST /usage`), settling the reservation.
//!
//! An [`Llm`](crate::llm::Llm) with a [`Meter`] does this on every
//! [`chat`](crate::llm::Llm::chat), for the [`Spender`] it was given
//! ([`Llm::for_spender`](crate::llm::Llm::for_spender)): the Seed per task, the Chief of
//! Staff per conversation. A budget without room stops the call before it is made
//! ([`crate::llm::LlmError::Budget`]); the agent then pauses the work
//! and says why instead of failing it.
//!
//! The platform being unreachable does not stop the agents: the call goes ahead without
//! a reservation, and its record (retried by the SDK) is charged to the budgets when it
//! lands. A record the platform never takes is logged as an error.

use std::time::Duration;

use agentops_sdk::Client;
use agentops_sdk::types::{ReservationIn, Spender, UsageIn, UsageKind, UsageOutcome};
use uuid::Uuid;

use crate::llm::{Completion, LlmError, Message, Tool};

/// Tokens reserved for a call's answer on top of its prompt, when the meter is not told
/// otherwise (a generous answer with tool calls).
pub const DEFAULT_ANSWER_ALLOWANCE: u64 = 2_048;

/// Tokens reserved for a picture shown to a model (a megapixel in 16-pixel patches, as
/// Pixtral counts it; OpenAI's models count fewer).
pub const IMAGE_TOKENS: u64 = 4_096;

/// Reserves and records model calls through the platform. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Meter {
    client: Client,
    answer_allowance: u64,
}

impl Meter {
    /// A meter that books calls through `client` (an agent or admin key).
    pub fn new(client: Client) -> Self {
        Self {
            client,
            answer_allowance: DEFAULT_ANSWER_ALLOWANCE,
        }
    }

    /// Reserves `tokens` for a call's answer on top of its prompt (the most a model is
    /// allowed to answer, if it is capped).
    #[must_use]
    pub fn answer_allowance(mut self, tokens: u64) -> Self {
        self.answer_allowance = tokens.max(1);
        self
    }

    /// What a call with `messages` and `tools` may spend: its prompt (about four
    /// characters a token, [`IMAGE_TOKENS`] a picture) and the answer allowance.
    pub fn estimate(&self, messages: &[Message], tools: &[Tool]) -> u64 {
        let chars: usize = messages
            .iter()
            .map(|m| {
                m.content.as_deref().map_or(0, str::len)
                    + m.tool_calls
                        .iter()
                        .map(|c| c.function.name.len() + c.function.arguments.len())
                        .sum::<usize>()
                    + 8
            })
            .sum::<usize>()
            + tools
                .iter()
                .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
                .sum::<usize>();
        let pictures: u64 = messages.iter().map(|m| m.images.len() as u64).sum();
        (chars as u64).div_ceil(4) + pictures * IMAGE_TOKENS + self.answer_allowance
    }

    /// Reserves room for a call of `model` for `spender`; the reservation's id, or none
    /// when the platform could not be asked.
    ///
    /// # Errors
    /// [`LlmError::Budget`] when a budget that applies has no room.
    pub async fn reserve(
        &self,
        spender: &Spender,
        model: &str,
        tokens: u64,
    ) -> Result<Option<Uuid>, LlmError> {
        let request = ReservationIn {
            model: Some(model.to_owned()),
            ..ReservationIn::for_spender(spender, tokens.clamp(1, 1_000_000_000))
        };
        match self.client.budgets().reserve(request).await {
            Ok(held) => Ok(Some(held.id)),
            Err(err) if err.is_budget_exhausted() => Err(LlmError::Budget {
                message: match &err {
                    agentops_sdk::Error::Api { message, .. } => message.clone(),
                    other => other.to_string(),
                },
                retry_after: err.retry_after(),
            }),
            Err(err) => {
                tracing::warn!("cannot reserve budget for an LLM call, going ahead: {err}");
                Ok(None)
            }
        }
    }

    /// Records a call's outcome in the ledger (settling `reservation`).
    pub async fn record(&self, spender: &Spender, reservation: Option<Uuid>, call: Call<'_>) {
        let (model, tokens_in, tokens_out, outcome, error) = match call.result {
            Ok(completion) => (
                completion.model.clone(),
                completion.usage.prompt_tokens,
                completion.usage.completion_tokens,
                UsageOutcome::Ok,
                None,
            ),
            Err(err) => (
                call.model.to_owned(),
                0,
                0,
                UsageOutcome::Error,
                Some(err.to_string().chars().take(2_000).collect()),
            ),
        };
        let record = UsageIn {
            provider: call.provider.to_owned(),
            model,
            tokens_in,
            tokens_out,
            latency_ms: u64::try_from(call.latency.as_millis()).unwrap_or(u64::MAX),
            outcome,
            error,
            reservation_id: reservation,
            ..UsageIn::for_spender(spender)
        };
        if let Err(err) = self.client.usage().record(record).await {
            tracing::error!(
                tokens_in,
                tokens_out,
                "an LLM call could not be recorded in the ledger: {err}"
            );
        }
    }

    /// Records a speech call (`kind`: transcription or speech) in the ledger: its text
    /// counted in tokens (about four characters a token: the transcript for a
    /// transcription, what was spoken for speech; audio itself is not tokens), or the
    /// error it ended with. Not reserved beforehand: a recording must be heard to know
    /// what it costs.
    pub async fn record_audio(&self, spender: &Spender, call: AudioCall<'_>) {
        let tokens = |text: &str| (text.chars().count() as u64).div_ceil(4);
        let (tokens_in, tokens_out, outcome, error) = match call.result {
            Ok(text) if call.kind == UsageKind::Speech => (tokens(text), 0, UsageOutcome::Ok, None),
            Ok(text) => (0, tokens(text), UsageOutcome::Ok, None),
            Err(err) => (
                0,
                0,
                UsageOutcome::Error,
                Some(err.chars().take(2_000).collect()),
            ),
        };
        let record = UsageIn {
            kind: Some(call.kind),
            provider: call.provider.to_owned(),
            model: call.model.to_owned(),
            tokens_in,
            tokens_out,
            latency_ms: u64::try_from(call.latency.as_millis()).unwrap_or(u64::MAX),
            outcome,
            error,
            ..UsageIn::for_spender(spender)
        };
        if let Err(err) = self.client.usage().record(record).await {
            tracing::error!("a speech call could not be recorded in the ledger: {err}");
        }
    }

    /// Gives back a reservation whose call was not made.
    pub async fn release(&self, reservation: Uuid) {
        if let Err(err) = self.client.budgets().release(reservation).await {
            tracing::warn!("cannot release a budget reservation (it expires on its own): {err}");
        }
    }
}

/// One speech call, as the meter records it.
#[derive(Debug)]
pub struct AudioCall<'a> {
    /// Transcription or speech.
    pub kind: UsageKind,
    /// The engine (its host).
    pub provider: &'a str,
    /// The model.
    pub model: &'a str,
    /// How long it took.
    pub latency: Duration,
    /// The text heard or spoken, or why it failed.
    pub result: Result<&'a str, String>,
}

/// One call, as the meter records it.
#[derive(Debug)]
pub struct Call<'a> {
    /// Where it went.
    pub provider: &'a str,
    /// The model asked (the answering one is in the completion).
    pub model: &'a str,
    /// How long it took.
    pub latency: Duration,
    /// How it ended.
    pub result: &'a Result<Completion, LlmError>,
}
