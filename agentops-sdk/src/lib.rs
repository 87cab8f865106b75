//! Typed Rust client for the AgentOps control plane.
//!
//! The [`types`] module holds every request and response body of the HTTP API; the
//! server uses the same definitions, so the two cannot disagree.

#![deny(missing_docs)]

pub mod types;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "client")]
pub mod events;
#[cfg(feature = "client")]
pub mod resources;
#[cfg(feature = "client")]
pub mod worker;

#[cfg(feature = "client")]
pub use client::{Client, ClientBuilder};
#[cfg(feature = "client")]
pub use error::{Error, Result};
#[cfg(feature = "client")]
pub use worker::{TaskContext, TaskError, Worker};

/// HTTP status codes, as carried by [`Error::Api`].
#[cfg(feature = "client")]
pub use reqwest::StatusCode;
/// URLs, as returned by [`Client::base_url`].
#[cfg(feature = "client")]
pub use reqwest::Url;
/// The cancellation token of a [`TaskContext`].
#[cfg(feature = "client")]
pub use tokio_util::sync::CancellationToken;
