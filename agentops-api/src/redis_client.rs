//! One way to build a Redis client from the configuration (`REDIS_URL`, and
//! `REDIS_CA_CERT` for servers whose certificate no public CA signed), for every part of
//! the server that talks to Redis.

use anyhow::Context;

use crate::config::ApiConfig;

/// A client for `url`; no connection is made until it is used.
pub fn client(url: &str, cfg: &ApiConfig) -> anyhow::Result<redis::Client> {
    match cfg
        .redis_ca_cert
        .as_deref()
        .filter(|c| !c.trim().is_empty())
    {
        Some(ca) => {
            let pem = if ca.contains("-----BEGIN") {
                ca.as_bytes().to_vec()
            } else {
                std::fs::read(ca).with_context(|| format!("cannot read REDIS_CA_CERT file {ca}"))?
            };
            redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )
        }
        None => redis::Client::open(url),
    }
    .context("REDIS_URL is not a valid Redis URL")
}
