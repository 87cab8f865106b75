//! Typed Rust client for the AgentOps control plane.
//!
//! The [`types`] module holds every request and response body of the HTTP API; the
//! server uses the same definitions, so the two cannot disagree.

#![deny(missing_docs)]

pub mod types;
