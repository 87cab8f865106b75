//! Integration tests of the API, each against a real server on `127.0.0.1:0` and a
//! fresh database, on SQLite and on PostgreSQL. One binary, many modules.

/// `crate::on_both_backends!(…)` in every module.
pub(crate) use agentops_testkit::on_both_backends;

mod agents;
mod artifacts;
mod auth;
mod concurrency;
mod connections;
mod deployments;
mod economy;
mod errors;
mod events;
mod health;
mod migrations;
mod notes;
mod pairings;
mod personas;
mod previews;
mod projects;
mod schedules;
mod tasks;
mod threads;
mod tools;
