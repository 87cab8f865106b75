//! End-to-end tests of the agents in `agentops-agents` against the real API spawned
//! in-process, with a local stand-in for an OpenAI-compatible LLM that speaks the real
//! protocol over HTTP.

/// The harness: `crate::helpers::TestApp`.
pub(crate) use agentops_testkit::app as helpers;

/// `crate::on_both_backends!(…)` in every module.
pub(crate) use agentops_testkit::on_both_backends;

mod bot_standin;
mod chief;
mod economy;
mod llm;
mod llm_standin;
mod multitask;
mod personas;
mod proactive;
mod progress;
mod schedules;
mod seed;
mod speech;
mod telegram;
mod understanding;
