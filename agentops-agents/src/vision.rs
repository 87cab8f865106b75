//! Seeing pictures: a photo sent to the Chief of Staff is described by a model that
//! sees — any OpenAI-compatible chat model that takes `image_url` content parts
//! (Scaleway's `pixtral-12b-2409`, `gpt-4o-mini`, a local vLLM…) — through the same
//! [`Llm`] port as every other model call, so it is reserved against the budgets and
//! recorded in the token ledger like them ([`crate::meter`]). What the Chief reads is
//! the description (and the person's caption), never the picture itself.
//!
//! ```
//! use agentops_agents::vision::image_type;
//!
//! assert_eq!(image_type(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
//! assert_eq!(image_type(b"%PDF-1.7"), None);
//! ```

use std::sync::Arc;

use crate::llm::{Image, Llm, LlmError, Message};

/// The largest picture accepted, in bytes (what Telegram hands bots, and OpenAI's limit).
pub const MAX_IMAGE: usize = 20 * 1024 * 1024;

/// What the model is asked to do with a picture.
const LOOK: &str = "You describe pictures for an assistant that cannot see them. Say what the \
picture shows in at most 120 words: what kind of picture it is (a photo, a screenshot, a chart, \
a document…), the things that matter in it, and any text in it word for word (error messages, \
numbers, names, addresses). Describe only; do not answer questions about it or give advice.";

/// What was seen.
#[derive(Debug, Clone, PartialEq)]
pub struct Sight {
    /// The description.
    pub description: String,
    /// The model that saw it, as the provider named it.
    pub model: String,
}

/// The media type of a picture, from its first bytes: PNG, JPEG, GIF or WebP (what
/// vision models take); `None` for anything else.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Why a picture was not seen.
#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    /// Not a picture a model takes (PNG, JPEG, GIF, WebP).
    #[error("this is not a PNG, JPEG, GIF or WebP picture")]
    NotAPicture,
    /// Larger than [`MAX_IMAGE`].
    #[error("the picture is {0} bytes; at most {MAX_IMAGE} are taken")]
    TooLarge(usize),
    /// The model answered nothing.
    #[error("the vision model said nothing about the picture")]
    NothingSeen,
    /// The model could not be asked, or refused.
    #[error(transparent)]
    Llm(#[from] LlmError),
}

impl VisionError {
    /// Whether the model refused the picture itself (a 4xx other than 429: it could not
    /// read it), rather than being down or out of budget.
    pub fn is_unreadable(&self) -> bool {
        matches!(self, VisionError::NotAPicture | VisionError::NothingSeen)
            || matches!(self, VisionError::Llm(LlmError::Status { status, .. })
                if (400..500).contains(status) && *status != 429)
    }
}

/// Describes `picture` with `llm` (a model that sees, metered for whoever sent it),
/// `caption` being what the person wrote with it, if anything.
///
/// # Errors
/// [`VisionError`]: not a picture, too large, or the model failed (down, out of budget,
/// refused it).
pub async fn describe(
    llm: &Llm,
    picture: Vec<u8>,
    caption: Option<&str>,
) -> Result<Sight, VisionError> {
    if picture.len() > MAX_IMAGE {
        return Err(VisionError::TooLarge(picture.len()));
    }
    let content_type = image_type(&picture).ok_or(VisionError::NotAPicture)?;
    let ask = match caption.map(str::trim).filter(|c| !c.is_empty()) {
        Some(caption) => {
            format!("Describe this picture. The person sent it with these words: \"{caption}\"")
        }
        None => "Describe this picture.".to_owned(),
    };
    let image = Image {
        content_type: content_type.to_owned(),
        bytes: Arc::from(picture),
    };
    let answer = llm
        .chat(
            &[
                Message::system(LOOK),
                Message::user_with_images(ask, vec![image]),
            ],
            &[],
        )
        .await?;
    let description = answer
        .message
        .content
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if description.is_empty() {
        return Err(VisionError::NothingSeen);
    }
    Ok(Sight {
        description,
        model: answer.model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_told_by_their_first_bytes() {
        assert_eq!(image_type(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(image_type(b"GIF89a...."), Some("image/gif"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(image_type(b""), None);
    }

    #[test]
    fn a_picture_goes_to_the_model_as_a_data_url_part() {
        let message = Message::user_with_images(
            "Describe this picture.",
            vec![Image {
                content_type: "image/png".into(),
                bytes: Arc::from(&b"\x89PNG"[..]),
            }],
        );
        let sent = serde_json::to_value(&message).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({"role": "user", "content": [
                {"type": "text", "text": "Describe this picture."},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
            ]})
        );
        // Without pictures, content stays a string.
        assert_eq!(
            serde_json::to_value(Message::user("hi")).unwrap(),
            serde_json::json!({"role": "user", "content": "hi"})
        );
    }
}
