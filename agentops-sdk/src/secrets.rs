//! Secrets kept at rest (feature `secrets`): a persona owner's provider key, a bot token.
//!
//! A secret is sealed with AES-256-GCM under the platform's master key
//! (`AGENTOPS_SECRET_KEY`: 32 random bytes, written as base64 or hex), with a fresh
//! random 96-bit nonce each time and the record it belongs to as associated data, so a
//! sealed value copied onto another record does not open. The sealed text names the
//! key it was sealed under (an id derived from the key, never the key), so a rotation
//! can tell what still needs re-sealing and a service holding the wrong key says so
//! instead of failing obscurely:
//!
//! `v1.<key id: 8 hex>.<nonce: base64url>.<ciphertext and tag: base64url>`
//!
//! The server seals; agents and interfaces that must use a secret (the persona runtime
//! calling a model with its owner's key) open it with the same master key. No endpoint
//! returns a secret in clear.
//!
//! ```
//! use agentops_sdk::secrets::MasterKey;
//!
//! let key = MasterKey::generate();
//! let sealed = key.seal("sk-live-123", "persona:7:provider_api_key");
//! assert!(!sealed.contains("sk-live-123"));
//! assert_eq!(key.open(&sealed, "persona:7:provider_api_key").unwrap(), "sk-live-123");
//! // Another record's sealed value does not open here.
//! assert!(key.open(&sealed, "persona:8:provider_api_key").is_err());
//! // Nor under another key.
//! assert!(MasterKey::generate().open(&sealed, "persona:7:provider_api_key").is_err());
//! ```

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// The format's version, first in every sealed value.
const VERSION: &str = "v1";

/// Why a secret could not be opened, or a master key read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The master key is not 32 bytes written as base64 or hex.
    #[error("a master key is 32 bytes written as base64 or 64 hex characters")]
    BadKey,
    /// The sealed value is not one.
    #[error("not a sealed secret")]
    Malformed,
    /// It was sealed under another master key.
    #[error("sealed under master key {sealed_with}, and this key is {this}")]
    OtherKey {
        /// The key it was sealed under.
        sealed_with: String,
        /// The key tried.
        this: String,
    },
    /// It does not open: altered, or sealed for another record.
    #[error("the sealed secret does not open: altered, or sealed for another record")]
    Tampered,
}

/// The master key secrets are sealed under. Its `Debug` shows its id only.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

impl MasterKey {
    /// A key from 32 bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"agentops master key id\0")
            .chain_update(key)
            .finalize();
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Self { key, id }
    }

    /// A new random key.
    pub fn generate() -> Self {
        let key = aes_gcm::Key::<Aes256Gcm>::generate();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&key);
        Self::from_bytes(bytes)
    }

    /// A key written as base64 (standard or URL-safe, padded or not) or as 64 hex
    /// characters; surrounding white space is ignored.
    ///
    /// # Errors
    /// [`SecretError::BadKey`] if it is not 32 bytes so written.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SecretError::BadKey)?
        } else {
            [&URL_SAFE_NO_PAD, &URL_SAFE, &STANDARD_NO_PAD, &STANDARD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .ok_or(SecretError::BadKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadKey)?;
        Ok(Self::from_bytes(key))
    }

    /// The key written as URL-safe base64 (what [`parse`](Self::parse) reads).
    pub fn encoded(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key)
    }

    /// The key's id: 8 hex characters derived from it (not secret).
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        // 32 bytes is AES-256's key size: this cannot fail.
        Aes256Gcm::new_from_slice(&self.key).expect("a 32-byte key")
    }

    /// `secret` sealed for the record named `context` (a persona's id and field, say).
    pub fn seal(&self, secret: &str, context: &str) -> String {
        let nonce = Nonce::generate();
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            // Encryption fails only past 64 GiB of plaintext.
            .expect("AES-GCM encrypts a short secret");
        format!(
            "{VERSION}.{}.{}.{}",
            self.id,
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(sealed)
        )
    }

    /// Opens what [`seal`](Self::seal) made for `context`.
    ///
    /// # Errors
    /// [`SecretError`]: not a sealed value, sealed under another key, or altered (or
    /// sealed for another record).
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let mut parts = sealed.split('.');
        let (Some(VERSION), Some(id), Some(nonce), Some(body), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SecretError::Malformed);
        };
        if id != self.id {
            return Err(SecretError::OtherKey {
                sealed_with: id.to_owned(),
                this: self.id.clone(),
            });
        }
        let nonce = URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| SecretError::Malformed)?;
        let nonce = Nonce::try_from(nonce.as_slice()).map_err(|_| SecretError::Malformed)?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SecretError::Malformed)?;
        let opened = self
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: &body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Tampered)?;
        String::from_utf8(opened).map_err(|_| SecretError::Tampered)
    }
}

/// The id of the key `sealed` was sealed under, if it is a sealed value.
pub fn sealed_with(sealed: &str) -> Option<&str> {
    let mut parts = sealed.split('.');
    (parts.next() == Some(VERSION))
        .then(|| parts.next())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_as_base64_or_hex_and_shown_by_id_only() {
        let key = MasterKey::generate();
        let again = MasterKey::parse(&key.encoded()).unwrap();
        assert_eq!(again.id(), key.id());
        let hex: String = key.key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(MasterKey::parse(&hex).unwrap().id(), key.id());
        assert_eq!(
            MasterKey::parse(&STANDARD.encode(key.key)).unwrap().id(),
            key.id()
        );
        assert_eq!(
            MasterKey::parse("c2hvcnQ=").unwrap_err(),
            SecretError::BadKey
        );
        assert!(!format!("{key:?}").contains(&key.encoded()));
    }

    #[test]
    fn a_sealed_secret_opens_only_whole_under_its_key_for_its_record() {
        let key = MasterKey::generate();
        let a = key.seal("sk-1", "r1");
        let b = key.seal("sk-1", "r1");
        assert_ne!(a, b, "a fresh nonce each time");
        assert_eq!(sealed_with(&a), Some(key.id()));
        assert_eq!(key.open(&a, "r1").unwrap(), "sk-1");
        assert_eq!(key.open(&a, "r2"), Err(SecretError::Tampered));
        // One bit of the ciphertext flipped.
        let (head, body) = a.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        bytes[0] ^= 1;
        let altered = format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(key.open(&altered, "r1"), Err(SecretError::Tampered));
        assert_eq!(key.open("sk-1", "r1"), Err(SecretError::Malformed));
        assert!(matches!(
            MasterKey::generate().open(&a, "r1"),
            Err(SecretError::OtherKey { .. })
        ));
    }
}
