#![doc = include_str!("../README.md")]
//!
//! # Modules
//!
//! - [`limits`]: the longest names, titles and notes the platform takes.
//! - [`types`]: every request and response body of the HTTP API. The server uses the same
//!   definitions, so the two cannot disagree. Always compiled, even without the `client`
//!   feature.
//! - [`Client`] and [`resources`]: the HTTP client, one handle per resource (artifacts
//!   streamed in and out included).
//! - [`events`]: the resumable live event stream.
//! - [`worker`]: the worker runtime.
#![deny(missing_docs)]

pub mod limits;
#[cfg(feature = "secrets")]
pub mod secrets;
pub mod text;
pub mod types;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod error;
mod error_code;
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
