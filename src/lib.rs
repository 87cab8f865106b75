//! The `agentops` binary's library half: the command line and what each command does.
//!
//! This crate is the composition root: it wires the server, the migrations, the agents and the
//! interfaces together. The command-line definition here is the
//! single source of truth for the settings and environment variables the binary reads;
//! the deployment contract test compares the Terraform containers against it.

pub mod agents;
pub mod bench;
pub mod bench_artifacts;
pub mod bench_events;
pub mod chief;
pub mod cli;
pub mod telegram;
