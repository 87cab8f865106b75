//! AgentOps agents, built only on `agentops-sdk`: they reach the platform through its
//! HTTP API like any agent anyone writes.
//!
//! - [`seed`]: a general worker that carries out tasks in a sandbox (shell, fetch,
//!   files uploaded as artifacts, questions to a human, an LLM reasoning loop).
//! - [`llm`]: the LLM port, any OpenAI-compatible chat-completions API.

pub mod llm;
pub mod seed;
