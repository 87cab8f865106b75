//! AgentOps agents, built only on `agentops-sdk`: they reach the platform through its
//! HTTP API like any agent anyone writes.
//!
//! - [`chief`]: the Chief of Staff, the agent people talk to: conversations in platform
//!   threads, answers, plans that wait for a person's OK, and carrying them out.
//! - [`seed`]: a general worker that carries out tasks in a sandbox (shell, fetch,
//!   files uploaded as artifacts, questions to a human, an LLM reasoning loop).
//! - [`llm`]: the LLM port ([`llm::ChatModel`]), any OpenAI-compatible chat-completions
//!   API, and a fallback list of providers.
//! - [`meter`]: every model call reserved against the budgets and recorded in the
//!   platform's token ledger.
//! - [`speech`]: hearing voice notes and speaking answers (an OpenAI-compatible audio
//!   API, or the local engine).
//! - [`vision`]: pictures described by a model that sees.
//! - [`tools`]: tools the model may call ([`tools::Tool`]) and the one loop
//!   ([`tools::ToolLoop`]) the agents think through.

pub mod chief;
pub mod llm;
pub mod meter;
pub mod persona;
pub mod seed;
pub mod speech;
pub mod tools;
pub mod vision;
