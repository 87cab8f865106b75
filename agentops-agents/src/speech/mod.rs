//! The speech ports: [`Transcriber`] (speech to text) and [`Speaker`] (text to speech),
//! and their adapter [`OpenAiSpeech`] for any OpenAI-compatible audio API
//! (`POST {base}/audio/transcriptions`, `POST {base}/audio/speech`) through the
//! `async-openai` client: Scaleway Generative APIs (`whisper-large-v3`), OpenAI, or the
//! local engine in `scripts/speech` (faster-whisper `tiny.en` and piper, see
//! `docs/speech.md`), which `agentops up` and the tests use.
//!
//! Transcriptions are read with our own answer type (`async-openai`'s "bring your own
//! types"): servers that leave out `usage` still work. Spoken answers are asked for as
//! `opus` (an OGG container with Opus audio: what Telegram's `sendVoice` plays, and
//! browsers too).
//!
//! A voice note over [`MAX_AUDIO`] is refused before it is sent: Telegram hands bots at
//! most 20 MB (about an hour and a half of a voice note at Telegram's bitrate). A
//! recording longer or larger than one call to the engine takes
//! ([`SpeechConfig::chunk`]: 10 minutes by default) is cut at its pauses into pieces
//! ([`chunks`]), heard one after the other and put together; a piece the engine still
//! refuses as too large (413) is cut in half again.
//!
//! Any engine fits behind the ports; here one that hears the same every time, as a test
//! might use:
//!
//! ```
//! use agentops_agents::speech::{SpeechError, Transcriber, Transcript};
//!
//! #[derive(Debug)]
//! struct Parrot;
//!
//! #[async_trait::async_trait]
//! impl Transcriber for Parrot {
//!     fn model(&self) -> &str {
//!         "parrot"
//!     }
//!
//!     async fn transcribe(&self, _audio: Vec<u8>, _name: &str) -> Result<Transcript, SpeechError> {
//!         Ok(Transcript { text: "hello".into(), seconds: Some(1.0), model: "parrot".into() })
//!     }
//! }
//! ```

use std::time::Duration;

use async_openai::types::audio::{
    AudioInput, CreateSpeechRequest, CreateTranscriptionRequest, SpeechModel, SpeechResponseFormat,
    Voice,
};
use serde::Deserialize;
use serde_json::Value;

pub mod chunks;

use crate::llm::{ClientError, Endpoint, one_try_client};

/// The largest audio accepted for a transcription, in bytes.
pub const MAX_AUDIO: usize = 20 * 1024 * 1024;

/// The longest text spoken at once, in characters (the OpenAI API's limit); a longer
/// answer is spoken up to its last sentence that fits.
pub const MAX_SPOKEN: usize = 4_096;

/// Where the speech API is and which models it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechConfig {
    /// Base URL of an OpenAI-compatible API, with its version (`…/v1`).
    pub base_url: String,
    /// Its key (empty for a local engine).
    pub api_key: String,
    /// The transcription model (`whisper-1`, `whisper-large-v3`…).
    pub stt_model: String,
    /// The speech model (`tts-1`…).
    pub tts_model: String,
    /// The voice.
    pub voice: String,
    /// How long one call may take.
    pub timeout: Duration,
    /// The most one transcription is sent at once: a longer recording (Ogg/Opus) is cut
    /// into pieces within it.
    pub chunk: chunks::Limit,
}

impl SpeechConfig {
    /// The API at `base_url`, with the local engine's default models.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: String::new(),
            stt_model: "whisper-1".into(),
            tts_model: "tts-1".into(),
            voice: "alloy".into(),
            timeout: Duration::from_secs(120),
            chunk: chunks::Limit {
                seconds: 600.0,
                bytes: MAX_AUDIO,
            },
        }
    }
}

/// What was heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The words, trimmed (empty if none were made out).
    pub text: String,
    /// How long the audio was, when the engine says.
    pub seconds: Option<f64>,
    /// The model that heard it.
    pub model: String,
}

/// Why speech failed.
#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    /// The audio is too large to send.
    #[error("the audio is {0} bytes; at most {MAX_AUDIO} are taken")]
    TooLarge(usize),
    /// The engine did not answer (connection, timeout).
    #[error("the speech engine at {url} did not answer: {source}")]
    Transport {
        /// The endpoint called.
        url: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// The engine answered with an error status.
    #[error("the speech engine answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// What it said.
        message: String,
    },
    /// The answer was not what the protocol says.
    #[error("the speech engine's answer is not one: {0}")]
    Malformed(String),
}

impl SpeechError {
    /// Whether trying again later may succeed (no answer, 429, 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            SpeechError::Transport { .. } => true,
            SpeechError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// Whether the engine could not read the audio itself (a 4xx other than 429).
    pub fn is_unreadable(&self) -> bool {
        matches!(self, SpeechError::Status { status, .. } if (400..500).contains(status) && *status != 429)
    }
}

/// Speech to text.
#[async_trait::async_trait]
pub trait Transcriber: Send + Sync + std::fmt::Debug {
    /// The model's name.
    fn model(&self) -> &str;

    /// Who serves it (the API's host), as the ledger names it.
    fn provider(&self) -> &str {
        "local"
    }

    /// The words in `audio` (any format the engine reads: OGG/Opus, WebM, WAV, MP3…),
    /// `name` being its file name (its extension tells some engines the format).
    async fn transcribe(&self, audio: Vec<u8>, name: &str) -> Result<Transcript, SpeechError>;
}

/// Text to speech.
#[async_trait::async_trait]
pub trait Speaker: Send + Sync + std::fmt::Debug {
    /// The model's name.
    fn model(&self) -> &str;

    /// Who serves it (the API's host), as the ledger names it.
    fn provider(&self) -> &str {
        "local"
    }

    /// `text` spoken, as OGG/Opus.
    async fn speak(&self, text: &str) -> Result<Vec<u8>, SpeechError>;
}

/// An OpenAI-compatible audio API.
#[derive(Clone)]
pub struct OpenAiSpeech {
    config: SpeechConfig,
    client: async_openai::Client<Endpoint>,
    /// The API's host (and port).
    provider: String,
}

impl std::fmt::Debug for OpenAiSpeech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiSpeech")
            .field("base_url", &self.config.base_url)
            .field("stt_model", &self.config.stt_model)
            .field("tts_model", &self.config.tts_model)
            .finish_non_exhaustive()
    }
}

/// A transcription, as any compatible server answers it (only `text` is sure).
#[derive(Deserialize)]
struct Heard {
    text: String,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    usage: Option<Value>,
}

impl OpenAiSpeech {
    /// A client for `config`.
    ///
    /// # Errors
    /// If the HTTP client cannot be built, or the key holds characters an HTTP header
    /// cannot carry.
    pub fn new(config: SpeechConfig) -> Result<Self, SpeechError> {
        let (client, provider) = one_try_client(&config.base_url, &config.api_key, config.timeout)
            .map_err(|err| match err {
                ClientError::Key(err) => SpeechError::Malformed(format!("the speech API: {err}")),
                ClientError::Http(source) => SpeechError::Transport {
                    url: config.base_url.clone(),
                    source,
                },
            })?;
        Ok(Self {
            config,
            client,
            provider,
        })
    }

    /// Its settings.
    pub fn config(&self) -> &SpeechConfig {
        &self.config
    }

    fn error(&self, path: &str, err: async_openai::error::OpenAIError) -> SpeechError {
        use async_openai::error::OpenAIError;
        match err {
            OpenAIError::Reqwest(source) => SpeechError::Transport {
                url: format!("{}{path}", self.config.base_url.trim_end_matches('/')),
                source,
            },
            OpenAIError::ApiError(answer) => SpeechError::Status {
                status: answer.status_code.as_u16(),
                message: agentops_sdk::text::truncate(&answer.api_error.message, 500),
            },
            OpenAIError::JSONDeserialize(err, body) => SpeechError::Malformed(format!(
                "{err}: {}",
                agentops_sdk::text::truncate(&body, 200)
            )),
            other => SpeechError::Malformed(agentops_sdk::text::truncate(&other.to_string(), 500)),
        }
    }
}

#[async_trait::async_trait]
impl Transcriber for OpenAiSpeech {
    fn model(&self) -> &str {
        &self.config.stt_model
    }

    fn provider(&self) -> &str {
        &self.provider
    }

    async fn transcribe(&self, audio: Vec<u8>, name: &str) -> Result<Transcript, SpeechError> {
        if audio.len() > MAX_AUDIO {
            return Err(SpeechError::TooLarge(audio.len()));
        }
        // Pieces still to hear, each with the limit it was cut to.
        let mut left = std::collections::VecDeque::new();
        match chunks::split(&audio, self.config.chunk) {
            Some(pieces) if pieces.len() > 1 => {
                tracing::debug!(pieces = pieces.len(), "a long recording is heard in pieces");
                left.extend(pieces.into_iter().map(|p| (p, self.config.chunk)));
            }
            _ => left.push_back((audio, self.config.chunk)),
        }
        let mut heard: Vec<Transcript> = Vec::new();
        while let Some((piece, limit)) = left.pop_front() {
            match self.transcribe_one(piece.clone(), name).await {
                Ok(transcript) => heard.push(transcript),
                Err(SpeechError::Status {
                    status: 413,
                    message,
                }) => {
                    // Too large for this engine: cut in halves, if it can be cut (and the
                    // halves are not already tiny).
                    let smaller = chunks::duration(&piece).map(|seconds| chunks::Limit {
                        seconds: limit.seconds.min(seconds) / 2.0,
                        bytes: limit.bytes.min(piece.len()) / 2,
                    });
                    let halves = smaller
                        .filter(|smaller| smaller.seconds >= 1.0)
                        .and_then(|smaller| Some((chunks::split(&piece, smaller)?, smaller)))
                        .filter(|(pieces, _)| pieces.len() > 1);
                    let Some((halves, smaller)) = halves else {
                        return Err(SpeechError::Status {
                            status: 413,
                            message,
                        });
                    };
                    for half in halves.into_iter().rev() {
                        left.push_front((half, smaller));
                    }
                }
                Err(err) => return Err(err),
            }
        }
        let seconds = heard.iter().map(|t| t.seconds).sum::<Option<f64>>();
        let text = heard
            .iter()
            .map(|t| t.text.as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Transcript {
            text,
            seconds,
            model: self.config.stt_model.clone(),
        })
    }
}

impl OpenAiSpeech {
    /// One call to `/audio/transcriptions`.
    async fn transcribe_one(&self, audio: Vec<u8>, name: &str) -> Result<Transcript, SpeechError> {
        let request = CreateTranscriptionRequest {
            file: AudioInput::from_vec_u8(name.to_owned(), audio),
            model: self.config.stt_model.clone(),
            ..CreateTranscriptionRequest::default()
        };
        let heard: Heard = self
            .client
            .audio()
            .transcription()
            .create_byot(request)
            .await
            .map_err(|err| self.error("/audio/transcriptions", err))?;
        // Whisper reports how long the audio was as usage in seconds.
        let seconds = heard.duration.or_else(|| {
            heard
                .usage
                .as_ref()
                .and_then(|u| u.get("seconds"))
                .and_then(Value::as_f64)
        });
        Ok(Transcript {
            text: tidy(&heard.text),
            seconds,
            model: self.config.stt_model.clone(),
        })
    }
}

#[async_trait::async_trait]
impl Speaker for OpenAiSpeech {
    fn model(&self) -> &str {
        &self.config.tts_model
    }

    fn provider(&self) -> &str {
        &self.provider
    }

    async fn speak(&self, text: &str) -> Result<Vec<u8>, SpeechError> {
        let request = CreateSpeechRequest {
            input: spoken_part(text),
            model: SpeechModel::Other(self.config.tts_model.clone()),
            voice: Voice::Other(self.config.voice.clone()),
            response_format: Some(SpeechResponseFormat::Opus),
            ..CreateSpeechRequest::default()
        };
        let answer = self
            .client
            .audio()
            .speech()
            .create(request)
            .await
            .map_err(|err| self.error("/audio/speech", err))?;
        if answer.bytes.is_empty() {
            return Err(SpeechError::Malformed("no audio".into()));
        }
        Ok(answer.bytes.to_vec())
    }
}

/// A transcript as a person would have typed it: trimmed, and, when every word is
/// capitalised (small Whisper models write "Create Project Voice With Tasks"), in
/// sentence case, so words that name things (a shell command, a title) read as said.
pub fn tidy(text: &str) -> String {
    let text = text.trim();
    let words: Vec<&str> = text.split_whitespace().collect();
    // Title Case leaves small words ("with", "to", "a") small: the others decide.
    const SMALL: [&str; 24] = [
        "a", "an", "the", "and", "or", "but", "nor", "for", "so", "yet", "at", "by", "in", "of",
        "on", "to", "up", "with", "from", "into", "as", "via", "per", "over",
    ];
    let long: Vec<&&str> = words
        .iter()
        .filter(|w| w.chars().next().is_some_and(char::is_alphabetic))
        .filter(|w| {
            let bare = w.trim_matches(|c: char| !c.is_alphanumeric());
            !SMALL.contains(&bare.to_lowercase().as_str())
        })
        .collect();
    let title_case = long.len() >= 3
        && long
            .iter()
            .all(|w| w.chars().next().is_some_and(char::is_uppercase));
    if !title_case {
        return text.to_owned();
    }
    let mut sentence_start = true;
    let mut out = Vec::with_capacity(words.len());
    for word in words {
        let lowered = if sentence_start || word == "I" || word.starts_with("I'") {
            word.to_owned()
        } else if word.chars().skip(1).any(char::is_uppercase) {
            // An acronym or a name written so (AWS, GitHub): kept.
            word.to_owned()
        } else {
            word.to_lowercase()
        };
        sentence_start = lowered.ends_with(['.', '!', '?']);
        out.push(lowered);
    }
    out.join(" ")
}

/// What of `text` is spoken: all of it if it fits [`MAX_SPOKEN`], else up to its last
/// sentence that does (or its last word).
pub fn spoken_part(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_SPOKEN {
        return text.to_owned();
    }
    let head: String = text.chars().take(MAX_SPOKEN).collect();
    let cut = head
        .rfind(['.', '!', '?', '\n'])
        .map(|at| at + 1)
        .or_else(|| head.rfind(char::is_whitespace))
        .unwrap_or(head.len());
    head[..cut].trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_answer_is_spoken_up_to_a_sentence() {
        assert_eq!(spoken_part("  Hello there. "), "Hello there.");
        let long = format!("{} Last one is cut", "Done. ".repeat(1_000));
        let spoken = spoken_part(&long);
        assert!(spoken.chars().count() <= MAX_SPOKEN);
        assert!(spoken.ends_with("Done."), "{spoken}");
        let words = "word ".repeat(2_000);
        assert!(spoken_part(&words).chars().count() <= MAX_SPOKEN);
    }

    #[test]
    fn title_cased_transcripts_read_as_typed() {
        assert_eq!(
            tidy(" Create Project Voice With Tasks Run, Echo Hello. Then Ship It. "),
            "Create project voice with tasks run, echo hello. Then ship it."
        );
        assert_eq!(
            tidy("Deploy To AWS And I Will Check"),
            "Deploy to AWS and I will check"
        );
        // Ordinary casing is left alone.
        assert_eq!(
            tidy("Create Project Voice with Tasks Run, Echo Hello."),
            "Create project voice with tasks run, echo hello."
        );
        assert_eq!(tidy("create project Voice"), "create project Voice");
        assert_eq!(
            tidy("Deploy the site to Scaleway tomorrow"),
            "Deploy the site to Scaleway tomorrow"
        );
        assert_eq!(tidy("Hi Ana"), "Hi Ana");
    }

    #[test]
    fn failures_say_whether_to_try_again() {
        let busy = SpeechError::Status {
            status: 503,
            message: "busy".into(),
        };
        assert!(busy.is_transient() && !busy.is_unreadable());
        let bad = SpeechError::Status {
            status: 400,
            message: "cannot decode".into(),
        };
        assert!(!bad.is_transient() && bad.is_unreadable());
        assert!(!SpeechError::TooLarge(MAX_AUDIO + 1).is_transient());
    }
}
