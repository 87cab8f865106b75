//! End-to-end tests of `agentops-sdk` against the real API spawned in-process, on SQLite
//! and on PostgreSQL. One binary, one module per part of the SDK.

mod helpers;

/// `crate::on_both_backends!(…)` in every module.
pub(crate) use agentops_api::on_both_backends;

mod artifacts;
mod client;
mod events;
mod retries;
mod threads;
mod worker;
mod worker_outages;
