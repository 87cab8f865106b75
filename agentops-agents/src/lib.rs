//! AgentOps agents, built only on `agentops-sdk`: they reach the platform through its
//! HTTP API like any agent anyone writes.
//!
//! - [`chief`]: the Chief of Staff, the agent people talk to: conversations in platform
//!   threads, answers, plans that wait for a person's OK, and carrying them out.
//! - [`seed`]: a general worker that carries out tasks in a sandbox (shell, fetch,
//!   files uploaded as artifacts, questions to a human, an LLM reasoning loop).
//! - [`llm`]: the LLM port, any OpenAI-compatible chat-completions API.

pub mod chief;
pub mod llm;
pub mod seed;
