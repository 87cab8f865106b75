//! The LLM port: [`ChatModel`], one chat completion with tool calls, and its adapters.
//!
//! - [`OpenAiCompatible`]: any OpenAI-compatible chat-completions API (Scaleway
//!   Generative APIs, OpenAI, Ollama, vLLM…) through the `async-openai` client, which
//!   owns the transport: base URL, bearer auth, error bodies. Its request and answer
//!   types are ours (`async-openai`'s "bring your own types"), so providers that leave
//!   out fields OpenAI always sends (`id`, `created`, `object`) still work.
//! - [`Fallback`]: several models tried in order; a provider that is down (no answer,
//!   429, 5xx) hands the call to the next, so one outage does not stop the agents.
//!
//! Agents hold an [`Llm`], a cheap handle on any [`ChatModel`]. Every call reports the
//! tokens it used ([`Usage`]) and which model answered, which agents add up per task.
//!
//! Any model fits behind the port; here one that always says the same, as a test might
//! use:
//!
//! ```
//! use std::sync::Arc;
//!
//! use agentops_agents::llm::{ChatModel, Completion, Llm, LlmError, Message, Tool, Usage};
//!
//! #[derive(Debug)]
//! struct Canned(&'static str);
//!
//! #[async_trait::async_trait]
//! impl ChatModel for Canned {
//!     fn model(&self) -> &str {
//!         "canned"
//!     }
//!
//!     async fn chat(&self, _: &[Message], _: &[Tool]) -> Result<Completion, LlmError> {
//!         Ok(Completion {
//!             message: Message {
//!                 role: "assistant".into(),
//!                 content: Some(self.0.into()),
//!                 tool_calls: Vec::new(),
//!                 tool_call_id: None,
//!                 images: Vec::new(),
//!             },
//!             usage: Usage { prompt_tokens: 3, completion_tokens: 1 },
//!             model: "canned".into(),
//!         })
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let llm = Llm::from_model(Arc::new(Canned("done")));
//! let answer = llm.chat(&[Message::user("status?")], &[]).await.unwrap();
//! assert_eq!(answer.message.content.as_deref(), Some("done"));
//! # });
//! ```

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::SecretString;

use agentops_sdk::types::Spender;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::meter::Meter;

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
    /// A budget that applies has no room for the call: it was not made (see
    /// [`crate::meter`]).
    #[error("{message}")]
    Budget {
        /// Which budget, and when it starts over.
        message: String,
        /// How long until it does.
        retry_after: Option<Duration>,
    },
}

impl LlmError {
    /// Whether trying again later may succeed (transport errors, 429 and 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Transport { .. } => true,
            LlmError::Status { status, .. } => *status == 429 || *status >= 500,
            LlmError::Malformed(_) | LlmError::Budget { .. } => false,
        }
    }
}

/// One message of a conversation.
///
/// Sent as the protocol has it: `content` a string, or, with [`images`](Self::images),
/// a list of parts (`text`, then each picture as an `image_url` data URL) for models
/// that see.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
    /// Pictures shown with a `user` message (never read from an answer).
    #[serde(skip)]
    pub images: Vec<Image>,
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("role", &self.role)?;
        if self.images.is_empty() {
            if let Some(content) = &self.content {
                map.serialize_entry("content", content)?;
            }
        } else {
            let text = self
                .content
                .iter()
                .map(|text| serde_json::json!({"type": "text", "text": text}));
            let pictures = self.images.iter().map(|image| {
                serde_json::json!({"type": "image_url", "image_url": {"url": image.data_url()}})
            });
            map.serialize_entry("content", &text.chain(pictures).collect::<Vec<_>>())?;
        }
        if !self.tool_calls.is_empty() {
            map.serialize_entry("tool_calls", &self.tool_calls)?;
        }
        if let Some(id) = &self.tool_call_id {
            map.serialize_entry("tool_call_id", id)?;
        }
        map.end()
    }
}

/// A picture for a model that sees: its bytes and media type (`image/png`…).
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    /// The media type.
    pub content_type: String,
    /// The file.
    pub bytes: Arc<[u8]>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Image({}, {} bytes)",
            self.content_type,
            self.bytes.len()
        )
    }
}

impl Image {
    /// The picture as a `data:` URL, as `image_url` parts carry it.
    pub fn data_url(&self) -> String {
        use base64::Engine as _;
        format!(
            "data:{};base64,{}",
            self.content_type,
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }
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

    /// A user message showing `images`.
    pub fn user_with_images(text: impl Into<String>, images: Vec<Image>) -> Self {
        Self {
            images,
            ..Self::text("user", text)
        }
    }

    fn text(role: &str, text: impl Into<String>) -> Self {
        Self {
            role: role.to_owned(),
            content: Some(text.into()),
            tool_calls: Vec::new(),
            tool_call_id: None,
            images: Vec::new(),
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
    pub name: std::borrow::Cow<'static, str>,
    /// What it does, for the model.
    pub description: std::borrow::Cow<'static, str>,
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

/// The model's turn: its message, what it cost and which model gave it.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The assistant message (text, tool calls or both).
    pub message: Message,
    /// Tokens used.
    pub usage: Usage,
    /// The model that answered, as the provider named it (the configured name when it
    /// named none).
    pub model: String,
}

/// One chat completion with tool calls: the port every agent thinks through.
///
/// Implement it to put any model behind the agents (a provider with another protocol,
/// a recorded conversation in a test); [`Llm::from_model`] wraps it.
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync + std::fmt::Debug {
    /// The model's name (the first one's, for a [`Fallback`]).
    fn model(&self) -> &str;

    /// Who serves it, for the ledger (an API's host; the first one's, for a
    /// [`Fallback`]).
    fn provider(&self) -> &str {
        "custom"
    }

    /// One completion: the conversation so far, the tools the model may call.
    ///
    /// # Errors
    /// [`LlmError`] if the call fails or the answer is not a completion.
    async fn chat(&self, messages: &[Message], tools: &[Tool]) -> Result<Completion, LlmError>;
}

/// A handle on a [`ChatModel`], as agents hold it. Cheap to clone.
///
/// With a [`Meter`] ([`metered`](Self::metered)) every call is reserved against the
/// budgets and recorded in the ledger for the [`Spender`] the handle carries
/// ([`for_spender`](Self::for_spender)).
#[derive(Debug, Clone)]
pub struct Llm {
    model: Arc<dyn ChatModel>,
    meter: Option<Meter>,
    spender: Spender,
}

impl Llm {
    /// An OpenAI-compatible API at `config.base_url`.
    ///
    /// # Errors
    /// If the HTTP client cannot be built (no TLS roots) or the API key cannot be sent
    /// in a header.
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        Ok(Self::from_model(Arc::new(OpenAiCompatible::new(config)?)))
    }

    /// Several OpenAI-compatible APIs tried in order (see [`Fallback`]).
    ///
    /// # Errors
    /// As [`Llm::new`] for any of them, or if `configs` is empty.
    pub fn with_fallbacks(configs: Vec<LlmConfig>) -> Result<Self, LlmError> {
        let models = configs
            .into_iter()
            .map(|config| Ok(Arc::new(OpenAiCompatible::new(config)?) as Arc<dyn ChatModel>))
            .collect::<Result<Vec<_>, LlmError>>()?;
        Ok(Self::from_model(Arc::new(Fallback::new(models)?)))
    }

    /// Any model.
    pub fn from_model(model: Arc<dyn ChatModel>) -> Self {
        Self {
            model,
            meter: None,
            spender: Spender::default(),
        }
    }

    /// The same model, every call booked through `meter`.
    #[must_use]
    pub fn metered(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The same model (and meter), its calls booked for `spender`.
    #[must_use]
    pub fn for_spender(&self, spender: Spender) -> Self {
        Self {
            spender,
            ..self.clone()
        }
    }

    /// Whom its calls are booked for.
    pub fn spender(&self) -> &Spender {
        &self.spender
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        self.model.model()
    }

    /// One chat completion: the conversation so far, the tools it may call.
    ///
    /// # Errors
    /// [`LlmError`] if the call fails or the answer is not a completion.
    ///
    /// With a meter, room is reserved first ([`LlmError::Budget`] if a budget has none:
    /// the call is not made) and the call is recorded after, failed or not.
    pub async fn chat(&self, messages: &[Message], tools: &[Tool]) -> Result<Completion, LlmError> {
        let Some(meter) = &self.meter else {
            return self.model.chat(messages, tools).await;
        };
        let estimate = meter.estimate(messages, tools);
        let reservation = meter
            .reserve(&self.spender, self.model.model(), estimate)
            .await?;
        let started = std::time::Instant::now();
        let result = self.model.chat(messages, tools).await;
        let call = crate::meter::Call {
            provider: self.model.provider(),
            model: self.model.model(),
            latency: started.elapsed(),
            result: &result,
        };
        meter.record(&self.spender, reservation, call).await;
        result
    }
}

/// An OpenAI-compatible chat-completions API (`POST {base}/chat/completions`).
#[derive(Clone)]
pub struct OpenAiCompatible {
    config: LlmConfig,
    client: async_openai::Client<Endpoint>,
    /// The API's host (and port), as the ledger names the provider.
    provider: String,
    /// The sampling temperature asked for, if any (else the provider's default).
    temperature: Option<f64>,
}

/// Where `async-openai` sends a call and with which headers: unlike its `OpenAIConfig`,
/// no `Authorization` header at all without a key (a local Ollama or vLLM needs none,
/// and some proxies refuse an empty bearer).
#[derive(Clone)]
pub(crate) struct Endpoint {
    base: String,
    key: SecretString,
    headers: HeaderMap,
}

impl Endpoint {
    /// Calls to `base_url`, with `api_key` as a bearer token unless it is empty.
    ///
    /// # Errors
    /// If the key holds characters an HTTP header cannot carry.
    pub(crate) fn new(base_url: &str, api_key: &str) -> Result<Self, String> {
        let mut headers = HeaderMap::new();
        if !api_key.is_empty() {
            let mut bearer = HeaderValue::from_str(&format!("Bearer {api_key}"))
                .map_err(|_| "the API key holds characters an HTTP header cannot carry")?;
            bearer.set_sensitive(true);
            headers.insert(AUTHORIZATION, bearer);
        }
        Ok(Self {
            base: base_url.trim_end_matches('/').to_owned(),
            key: SecretString::from(api_key.to_owned()),
            headers,
        })
    }
}

impl async_openai::config::Config for Endpoint {
    fn headers(&self) -> HeaderMap {
        self.headers.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn query(&self) -> Vec<(&str, &str)> {
        Vec::new()
    }

    fn api_base(&self) -> &str {
        &self.base
    }

    fn api_key(&self) -> &SecretString {
        &self.key
    }
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    /// One answer, not a stream (what `async-openai`'s `create` expects of us).
    stream: bool,
}

#[derive(Deserialize)]
struct Response {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

impl OpenAiCompatible {
    /// A client for `config`.
    ///
    /// # Errors
    /// If the HTTP client cannot be built (no TLS roots), or the API key holds
    /// characters an HTTP header cannot carry.
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        let (client, provider) = one_try_client(&config.base_url, &config.api_key, config.timeout)
            .map_err(|err| match err {
                ClientError::Key(err) => LlmError::Malformed(format!("the LLM: {err}")),
                ClientError::Http(source) => LlmError::Transport {
                    url: config.base_url.clone(),
                    source,
                },
            })?;
        Ok(Self {
            config,
            client,
            provider,
            temperature: None,
        })
    }

    /// The same model, sampling at `temperature` (0–2).
    #[must_use]
    pub fn with_temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }
}

/// Why [`one_try_client`] could not make a client.
pub(crate) enum ClientError {
    /// The key holds characters an HTTP header cannot carry.
    Key(String),
    /// No HTTP client (no TLS roots).
    Http(reqwest::Error),
}

/// An `async-openai` client for the OpenAI-compatible API at `base_url` that sends each
/// call once, within `timeout`, and the API's host (and port) as the ledger names the
/// provider. `async-openai` retries 429, 5xx and refused connections by default; here
/// each call is one try, and the caller decides (the next provider of a `Fallback`, a
/// failed attempt the platform retries later, a person told).
pub(crate) fn one_try_client(
    base_url: &str,
    api_key: &str,
    timeout: Duration,
) -> Result<(async_openai::Client<Endpoint>, String), ClientError> {
    let endpoint = Endpoint::new(base_url, api_key).map_err(ClientError::Key)?;
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(ClientError::Http)?;
    let client = async_openai::Client::with_config(endpoint)
        .with_http_client(http.clone())
        .with_http_service(OneTry(http));
    let provider = reqwest::Url::parse(base_url)
        .ok()
        .and_then(|url| {
            let host = url.host_str()?.to_owned();
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| base_url.to_owned());
    Ok((client, provider))
}

/// Sends each request once (no retry layer).
#[derive(Clone)]
struct OneTry(reqwest::Client);

impl tower::Service<async_openai::middleware::HttpRequestFactory> for OneTry {
    type Response = reqwest::Response;
    type Error = async_openai::error::OpenAIError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: async_openai::middleware::HttpRequestFactory) -> Self::Future {
        let client = self.0.clone();
        Box::pin(async move {
            use async_openai::error::{ApiError, ApiErrorResponse, OpenAIError};
            let request = request.build().await?;
            let response = client
                .execute(request)
                .await
                .map_err(OpenAIError::Reqwest)?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            // Every refusal keeps its status, whatever its body: async-openai reads only
            // OpenAI's `{"error":{"message":…}}` as an error, and providers (Ollama, vLLM,
            // a proxy's HTML 429 page) answer otherwise.
            let body = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|json| {
                    let error = json.get("error")?;
                    error
                        .get("message")
                        .and_then(Value::as_str)
                        .or_else(|| error.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or(body);
            Err(OpenAIError::ApiError(ApiErrorResponse {
                status_code: status,
                api_error: ApiError {
                    message,
                    r#type: None,
                    param: None,
                    code: None,
                    misalignment: None,
                },
            }))
        })
    }
}

#[async_trait::async_trait]
impl ChatModel for OpenAiCompatible {
    fn model(&self) -> &str {
        &self.config.model
    }

    fn provider(&self) -> &str {
        &self.provider
    }

    async fn chat(&self, messages: &[Message], tools: &[Tool]) -> Result<Completion, LlmError> {
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
            temperature: self.temperature,
            stream: false,
        };
        let parsed: Response = self
            .client
            .chat()
            .create_byot(&body)
            .await
            .map_err(|err| self.error(err))?;
        let choice = parsed
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| LlmError::Malformed("no choices".into()))?;
        Ok(Completion {
            message: choice.message,
            usage: parsed.usage.unwrap_or_default(),
            model: parsed
                .model
                .filter(|model| !model.is_empty())
                .unwrap_or_else(|| self.config.model.clone()),
        })
    }
}

impl OpenAiCompatible {
    fn error(&self, err: async_openai::error::OpenAIError) -> LlmError {
        use async_openai::error::OpenAIError;
        match err {
            OpenAIError::Reqwest(source) => LlmError::Transport {
                url: format!(
                    "{}/chat/completions",
                    self.config.base_url.trim_end_matches('/')
                ),
                source,
            },
            OpenAIError::ApiError(answer) => LlmError::Status {
                status: answer.status_code.as_u16(),
                body: truncate(&answer.api_error.message, 500),
            },
            OpenAIError::JSONDeserialize(err, body) => {
                LlmError::Malformed(format!("{err}: {}", truncate(&body, 200)))
            }
            other => LlmError::Malformed(truncate(&other.to_string(), 500)),
        }
    }
}

/// Several models tried in order: a call goes to the first; when that one does not
/// answer, is rate-limited or fails on its side ([`LlmError::is_transient`]), to the
/// next, and so on. A refusal of the request itself (4xx other than 429, an answer that
/// is not a completion) is returned at once: the next provider would refuse it too. When
/// every one fails, the last error is returned.
#[derive(Debug)]
pub struct Fallback {
    models: Vec<Arc<dyn ChatModel>>,
}

impl Fallback {
    /// `models`, tried in this order.
    ///
    /// # Errors
    /// If `models` is empty.
    pub fn new(models: Vec<Arc<dyn ChatModel>>) -> Result<Self, LlmError> {
        if models.is_empty() {
            return Err(LlmError::Malformed("a fallback list needs a model".into()));
        }
        Ok(Self { models })
    }
}

#[async_trait::async_trait]
impl ChatModel for Fallback {
    fn model(&self) -> &str {
        self.models[0].model()
    }

    fn provider(&self) -> &str {
        self.models[0].provider()
    }

    async fn chat(&self, messages: &[Message], tools: &[Tool]) -> Result<Completion, LlmError> {
        let mut last = None;
        for (i, model) in self.models.iter().enumerate() {
            match model.chat(messages, tools).await {
                Ok(completion) => return Ok(completion),
                Err(err) if err.is_transient() && i + 1 < self.models.len() => {
                    tracing::warn!(model = model.model(), error = %err,
                        "the LLM provider failed; trying the next one");
                    last = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or_else(|| LlmError::Malformed("no model answered".into())))
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
