//! The LLM port: any OpenAI-compatible chat-completions API (Scaleway Generative APIs,
//! OpenAI, Ollama, vLLM…), with tool calls.
//!
//! It speaks the wire protocol directly (`POST {base}/chat/completions`), so the code
//! path tests exercise against a local stand-in is the one production runs. Every call
//! reports the tokens it used ([`Usage`]), which agents add up per task.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where the model is and which one to use.
#[derive(Clone)]
pub struct LlmConfig {
    /// Base URL of the API, e.g. `https://api.scaleway.ai/v1` (the part before
    /// `/chat/completions`).
    pub base_url: String,
    /// Bearer token (empty for servers without auth, such as a local Ollama).
    pub api_key: String,
    /// Model name, e.g. `llama-3.3-70b-instruct`.
    pub model: String,
    /// Longest wait for one completion.
    pub timeout: Duration,
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &if self.api_key.is_empty() { "" } else { "***" })
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What can go wrong talking to the model.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The request did not get an answer (connection, timeout).
    #[error("the LLM at {url} did not answer: {source}")]
    Transport {
        /// The endpoint called.
        url: String,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("the LLM answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the error body.
        body: String,
    },
    /// The answer was not a chat completion.
    #[error("the LLM's answer is not a chat completion: {0}")]
    Malformed(String),
}

impl LlmError {
    /// Whether trying again later may succeed (transport errors, 429 and 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Transport { .. } => true,
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Malformed(_) => false,
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text (absent on an assistant message that only calls tools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The tools an assistant message calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// On a `tool` message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::text("system", text)
    }

    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::text("user", text)
    }

    /// The answer to a tool call.
    pub fn tool(call_id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            tool_call_id: Some(call_id.into()),
            ..Self::text("tool", text)
        }
    }

    fn text(role: &str, text: impl Into<String>) -> Self {
        Self {
            role: role.to_owned(),
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, echoed in the answer.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// Which function, with which arguments.
    pub function: FunctionCall,
}

fn function_type() -> String {
    "function".to_owned()
}

/// The function part of a [`ToolCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The tool's name.
    pub name: String,
    /// Its arguments, a JSON object encoded as a string (as the protocol has it).
    #[serde(default)]
    pub arguments: String,
}

/// A tool the model may call: a name, what it does, and a JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// The function name.
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// JSON Schema of its arguments object.
    pub parameters: Value,
}

/// Tokens one call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens sent.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens generated.
    #[serde(default)]
    pub completion_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// The model's turn: its message and what it cost.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The assistant message (text, tool calls or both).
    pub message: Message,
    /// Tokens used.
    pub usage: Usage,
}

/// A client for one model.
#[derive(Debug, Clone)]
pub struct Llm {
    config: LlmConfig,
    http: reqwest::Client,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
}

#[derive(Deserialize)]
struct Response {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

impl Llm {
    /// A client for `config`.
    ///
    /// # Errors
    /// If the HTTP client cannot be built (no TLS roots).
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| LlmError::Transport {
                url: config.base_url.clone(),
                source,
            })?;
        Ok(Self { config, http })
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// One chat completion: the conversation so far, the tools it may call.
    ///
    /// # Errors
    /// [`LlmError`] if the call fails or the answer is not a completion.
    pub async fn chat(&self, messages: &[Message], tools: &[Tool]) -> Result<Completion, LlmError> {
        let url = format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let body = Request {
            model: &self.config.model,
            messages,
            tools: tools
                .iter()
                .map(|tool| {
                    serde_json::json!({
                        "type": "function",
                        "function": {
                            "name": tool.name,
                            "description": tool.description,
                            "parameters": tool.parameters,
                        }
                    })
                })
                .collect(),
        };
        let mut request = self.http.post(&url).json(&body);
        if !self.config.api_key.is_empty() {
            request = request.bearer_auth(&self.config.api_key);
        }
        let transport = |source| LlmError::Transport {
            url: url.clone(),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let text = response.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(LlmError::Status {
                status: status.as_u16(),
                body: text.chars().take(500).collect(),
            });
        }
        let parsed: Response = serde_json::from_str(&text)
            .map_err(|err| LlmError::Malformed(format!("{err}: {}", truncate(&text, 200))))?;
        let choice = parsed
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| LlmError::Malformed("no choices".into()))?;
        Ok(Completion {
            message: choice.message,
            usage: parsed.usage.unwrap_or_default(),
        })
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
