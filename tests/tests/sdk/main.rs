//! End-to-end tests of `agentops-sdk` against the real API spawned in-process, on SQLite
//! and on PostgreSQL. One binary, one module per part of the SDK.

/// The harness: `crate::helpers::TestApp` and the proxies.
pub(crate) use agentops_testkit::app as helpers;

/// `crate::on_both_backends!(…)` in every module.
pub(crate) use agentops_testkit::on_both_backends;

mod artifacts;
mod client;
mod deployments;
mod events;
mod pairings;
mod personas;
mod retries;
mod threads;
mod worker;
mod worker_outages;
