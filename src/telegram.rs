//! `agentops telegram`: the Telegram bot, by webhook (production: `TELEGRAM_WEBHOOK_URL`
//! set) or by long polling (local use), with `GET /health` for container platforms.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::{Args, Subcommand};
use futures_util::TryStreamExt;
use serde_json::json;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use agentops_sdk::CancellationToken;
use agentops_sdk::types::{ErrorCode, PairingIn, PairingOut, PairingStatus};
use agentops_telegram::messages::DEFAULT_BASE;
use agentops_telegram::persona_bots::{PersonaBots, PersonaBotsConfig};
use agentops_telegram::{TelegramBot, TelegramConfig, Update};

use crate::agents::{PlatformArgs, SecretArgs};
use crate::error_response as error;

/// `agentops telegram`: runs the bot, or (with a subcommand) manages the chats it
/// serves.
#[derive(Debug, Clone, Args)]
pub struct TelegramArgs {
    /// Manage the chats the bot serves instead of running it.
    #[command(subcommand)]
    pub chats: Option<ChatsCommand>,
    #[command(flatten)]
    pub platform: PlatformArgs,
    /// Opens the tokens of personas that are Telegram bots of their own: with it, this
    /// process runs those bots too ([`agentops_telegram::persona_bots`]).
    #[command(flatten)]
    pub secrets: SecretArgs,
    /// The bot's token from @BotFather (required to run the bot).
    #[arg(
        long,
        env = "TELEGRAM_BOT_TOKEN",
        hide_env_values = true,
        default_value = ""
    )]
    pub bot_token: String,
    /// Chat ids allowed from the start (comma-separated): they seed the platform's
    /// allowlist, which other chats join by pairing (see `agentops telegram pair`).
    #[arg(long, env = "TELEGRAM_ALLOWED_CHATS", value_delimiter = ',')]
    pub allowed_chats: Vec<String>,
    /// Messages one person may send the bot a minute (0: no limit); beyond it they are
    /// asked to wait.
    #[arg(long, env = "TELEGRAM_USER_RATE", default_value_t = agentops_telegram::USER_RATE)]
    pub user_rate: u32,
    /// The models people may choose for a persona they make with `/create` (its
    /// buttons), as the LLM provider names them, when the platform names none (its
    /// `AGENTOPS_PERSONA_MODELS`, which then wins).
    #[arg(
        long,
        env = "TELEGRAM_PERSONA_MODELS",
        value_delimiter = ',',
        default_value = "llama-3.3-70b-instruct"
    )]
    pub persona_models: Vec<String>,
    /// Public HTTPS URL Telegram calls with updates; long polling if unset.
    #[arg(long, env = "TELEGRAM_WEBHOOK_URL")]
    pub webhook_url: Option<String>,
    /// Secret Telegram sends back with every webhook call (16–256 of A-Z a-z 0-9 _ -).
    #[arg(long, env = "TELEGRAM_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// The Bot API's base URL.
    #[arg(long, env = "TELEGRAM_API_URL", default_value = DEFAULT_BASE)]
    pub api_url: String,
    /// The Chief of Staff's base URL.
    #[arg(
        long,
        env = "CHIEF_OF_STAFF_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    pub chief_url: String,
    /// Where the webhook and `GET /health` listen.
    #[arg(long, env = "AGENTOPS_BIND", default_value = "127.0.0.1:8091")]
    pub bind: SocketAddr,
}

/// `agentops telegram pair|allow|unpair|chats`: the bot's allowlist, kept on the
/// platform (`/api/v1/pairings`, channel `telegram`), with an admin key.
#[derive(Debug, Clone, Subcommand)]
pub enum ChatsCommand {
    /// Approve the one-time code the bot gave a chat: that chat may use the bot.
    Pair {
        /// The code (case, spaces and dashes do not matter).
        code: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Allow a chat by its id, without a code.
    Allow {
        /// The chat's id (negative for a group).
        chat: i64,
        /// A name to know it by.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Stop serving a chat (or refuse a chat's pending code).
    Unpair {
        /// The chat's id.
        chat: i64,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// List the chats: allowed, waiting with a code, refused.
    Chats {
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

/// Runs `command`, printing what it did.
async fn manage(command: ChatsCommand) -> anyhow::Result<()> {
    let by = || {
        Some(format!(
            "{} (agentops telegram)",
            std::env::var("USER").unwrap_or_else(|_| "an operator".into())
        ))
    };
    let line = |p: &PairingOut| {
        let code = p
            .code
            .as_deref()
            .map(|c| {
                format!(
                    "  code {c} until {}",
                    p.expires_at
                        .map(|t| t.format("%H:%M UTC").to_string())
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default();
        format!("{:<9} {:>15}  {}{code}", p.status.as_str(), p.chat, p.name)
    };
    match command {
        ChatsCommand::Pair { code, platform } => {
            let client = crate::agents::client(&platform, "telegram")?;
            let gone = || {
                anyhow::anyhow!(
                    "no chat waits with the code {code}: a code lasts an hour and works once"
                )
            };
            let waiting = agentops_telegram::access::waiting_with(&client, &code)
                .await?
                .and_then(|p| p.code)
                .ok_or_else(gone)?;
            let pairing = client
                .pairings()
                .approve(&waiting, by().as_deref())
                .await
                .map_err(|err| {
                    if err.is_not_found() {
                        gone()
                    } else {
                        err.into()
                    }
                })?;
            println!("approved: {}", line(&pairing));
        }
        ChatsCommand::Allow {
            chat,
            name,
            platform,
        } => {
            let client = crate::agents::client(&platform, "telegram")?;
            let pairing = client
                .pairings()
                .create(&PairingIn {
                    channel: agentops_telegram::CHANNEL.into(),
                    chat: chat.to_string(),
                    name,
                    status: Some(PairingStatus::Approved),
                })
                .await?;
            println!("allowed: {}", line(&pairing));
        }
        ChatsCommand::Unpair { chat, platform } => {
            let client = crate::agents::client(&platform, "telegram")?;
            let pairing = client
                .pairings()
                .list()
                .channel(agentops_telegram::CHANNEL)
                .chat(chat.to_string())
                .send()
                .await?
                .items
                .into_iter()
                .next()
                .with_context(|| format!("the bot has never heard of chat {chat}"))?;
            let pairing = client
                .pairings()
                .revoke(pairing.id, by().as_deref())
                .await?;
            println!("revoked: {}", line(&pairing));
        }
        ChatsCommand::Chats { platform } => {
            let client = crate::agents::client(&platform, "telegram")?;
            let pairings: Vec<PairingOut> = client
                .pairings()
                .list()
                .channel(agentops_telegram::CHANNEL)
                .limit(200)
                .stream()
                .try_collect()
                .await?;
            if pairings.is_empty() {
                println!("no chat has asked yet");
            }
            for pairing in &pairings {
                println!("{}", line(pairing));
            }
        }
    }
    Ok(())
}

/// The checked settings.
#[derive(Debug)]
struct Settings {
    allowed: HashSet<i64>,
    webhook: Option<(String, String, String)>,
}

impl TelegramArgs {
    fn settings(&self) -> anyhow::Result<Settings> {
        anyhow::ensure!(
            !self.bot_token.trim().is_empty(),
            "TELEGRAM_BOT_TOKEN must be set (from @BotFather)"
        );
        let allowed = self
            .allowed_chats
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .map(|c| {
                c.parse::<i64>()
                    .with_context(|| format!("TELEGRAM_ALLOWED_CHATS: `{c}` is not a chat id"))
            })
            .collect::<anyhow::Result<HashSet<i64>>>()?;
        let webhook = match self
            .webhook_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => None,
            Some(url) => {
                let parsed = reqwest::Url::parse(url)
                    .with_context(|| format!("TELEGRAM_WEBHOOK_URL `{url}` is not a URL"))?;
                anyhow::ensure!(
                    parsed.scheme() == "https",
                    "TELEGRAM_WEBHOOK_URL must be https (Telegram only calls HTTPS webhooks)"
                );
                let secret = self.webhook_secret.clone().unwrap_or_default();
                anyhow::ensure!(
                    (16..=256).contains(&secret.len())
                        && secret
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                    "TELEGRAM_WEBHOOK_SECRET must be 16-256 characters of A-Z, a-z, 0-9, _ and - in webhook mode"
                );
                Some((url.to_owned(), parsed.path().to_owned(), secret))
            }
        };
        Ok(Settings { allowed, webhook })
    }
}

#[derive(Clone)]
struct WebhookState {
    bot: TelegramBot,
    secret: String,
    inflight: TaskTracker,
    /// `true` once the updates the last run left are handled: new ones wait for them.
    recovered: watch::Receiver<bool>,
}

/// How long a webhook call waits for the last run's updates to be handled before it
/// asks Telegram to send it again later.
const RECOVERY_WAIT: Duration = Duration::from_secs(10);

/// Constant-time comparison, so the secret cannot be guessed byte by byte from timings.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn webhook(State(state): State<WebhookState>, headers: HeaderMap, body: Bytes) -> Response {
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !same_secret(given, state.secret.as_bytes()) {
        return error(
            ErrorCode::Unauthorized,
            "missing or wrong X-Telegram-Bot-Api-Secret-Token",
        );
    }
    // What the last run left comes first: a newer message of the same chat must not
    // overtake it.
    let mut recovered = state.recovered.clone();
    if tokio::time::timeout(RECOVERY_WAIT, recovered.wait_for(|done| *done))
        .await
        .is_err()
    {
        let mut response = error(
            ErrorCode::Unavailable,
            "still handling the updates the last run left; send this one again",
        );
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
        return response;
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(update) => update,
        Err(err) => {
            return error(ErrorCode::MalformedJson, err.to_string());
        }
    };
    // Kept on the platform first, then confirmed: a crash before it is handled leaves
    // it for the next start (`TelegramBot::recover`). If it cannot be kept, Telegram is
    // told to send it again later.
    let accepted = match state.bot.accept(update.clone()).await {
        Ok(accepted) => accepted,
        // Refused for good (the thread's metadata is full, say): handled without being
        // kept, rather than refused to Telegram again and again.
        Err(err) if !err.is_transient() => {
            tracing::warn!("cannot keep a Telegram update, handling it unkept: {err}");
            let bot = state.bot.clone();
            state
                .inflight
                .spawn(async move { bot.handle_update(update).await });
            return StatusCode::OK.into_response();
        }
        Err(err) => {
            tracing::warn!("cannot keep a Telegram update, asking for it again: {err}");
            let mut response = error(
                ErrorCode::Unavailable,
                "the platform cannot keep the update now; send it again",
            );
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
            return response;
        }
    };
    // Answer at once: Telegram sends an update again if the answer is slow, and talking
    // to the Chief of Staff may take as long as its LLM does. The tracker lets a
    // shutdown wait for the chats already accepted (see `drain`).
    let bot = state.bot.clone();
    state
        .inflight
        .spawn(async move { bot.handle_accepted(accepted).await });
    StatusCode::OK.into_response()
}

/// The bot's HTTP server: `GET /health`, and the webhook at `path` when given.
///
/// Updates accepted on the webhook are answered at once and handled on `inflight`; wait
/// for them with [`drain`] before the process exits.
pub fn router(bot: TelegramBot, hook: Option<(String, String)>, inflight: &TaskTracker) -> Router {
    router_recovering(bot, hook, inflight, watch::channel(true).1)
}

/// [`router`], whose webhook takes new updates only once `recovered` is `true` (the
/// updates the last run left are handled first; until then, after a short wait, it
/// answers 503 with `Retry-After` and Telegram sends them again). `/health` answers
/// all along.
pub fn router_recovering(
    bot: TelegramBot,
    hook: Option<(String, String)>,
    inflight: &TaskTracker,
    recovered: watch::Receiver<bool>,
) -> Router {
    let health = get(|| async { Json(json!({"status": "ok", "agent": "telegram"})) });
    let router = Router::new().route("/health", health);
    let router = match hook {
        Some((path, secret)) => router.merge(Router::new().route(&path, post(webhook)).with_state(
            WebhookState {
                bot,
                secret,
                inflight: inflight.clone(),
                recovered,
            },
        )),
        None => router,
    };
    router.fallback(|| async { error(ErrorCode::RouteNotFound, "no such route") })
}

/// How long a shutdown waits for the chats the webhook already accepted. Telegram does
/// not send an update again once it got its 200, so an unfinished one would be lost;
/// this stays under the usual 30 s between SIGTERM and SIGKILL.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);

/// Stops `inflight` taking new work and waits up to `within` for what it runs. Returns
/// how many handlers were still running when the wait gave up (0: all finished).
pub async fn drain(inflight: &TaskTracker, within: Duration) -> usize {
    inflight.close();
    if inflight.is_empty() {
        return 0;
    }
    tracing::info!("waiting for {} chat(s) in progress", inflight.len());
    match tokio::time::timeout(within, inflight.wait()).await {
        Ok(()) => 0,
        Err(_) => {
            let left = inflight.len();
            tracing::warn!("{left} chat(s) still in progress after {within:?}: giving up on them");
            left
        }
    }
}

/// Runs the bot until Ctrl-C or SIGTERM.
pub async fn run(args: TelegramArgs) -> anyhow::Result<()> {
    if let Some(command) = args.chats {
        return manage(command).await;
    }
    let settings = args.settings()?;
    let platform = crate::agents::client(&args.platform, "telegram")?;
    let bot = TelegramBot::new(
        platform,
        TelegramConfig {
            bot_api_base: args.api_url.clone(),
            token: args.bot_token.trim().to_owned(),
            chief_url: args.chief_url.clone(),
            api_key: args.platform.api_key.trim().to_owned(),
            allowed_chats: settings.allowed,
            user_rate: args.user_rate,
            unheard_retry: agentops_telegram::UNHEARD_RETRY,
            persona_models: args.persona_models.clone(),
        },
    )?;
    let me = bot
        .me()
        .await
        .context("the bot token does not work with the Bot API (getMe)")?;
    tracing::info!("Telegram bot @{} starting", me.username());
    if let Err(err) = bot.register_commands().await {
        // The commands still work when typed; only the menu is missing.
        tracing::warn!("cannot set the bot's command menu (setMyCommands): {err}");
    }
    let stop = CancellationToken::new();
    // What the last run accepted but did not finish, before any new update.
    let (recovering, recovered) = watch::channel(false);
    {
        let bot = bot.clone();
        tokio::spawn(async move {
            match bot.recover().await {
                Ok(0) => {}
                Ok(n) => tracing::info!("handled {n} update(s) left by the last run"),
                Err(err) => tracing::warn!("cannot read the updates left by the last run: {err}"),
            }
            let _ = recovering.send(true);
        });
    }
    let relay = {
        let (bot, stop) = (bot.clone(), stop.clone());
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(500);
            loop {
                match bot.run_relay(stop.clone()).await {
                    Ok(()) => return,
                    Err(err) => {
                        tracing::warn!("cannot follow the event stream: {err}");
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(Duration::from_secs(30));
                    }
                }
            }
        })
    };
    // Personas' own bots, beside this one.
    let persona_bots = match args.secrets.master_key()? {
        Some(master_key) => {
            let bots = PersonaBots::new(
                crate::agents::client(&args.platform, "telegram-personas")?,
                PersonaBotsConfig {
                    bot_api_base: args.api_url.clone(),
                    master_key,
                    refresh: agentops_telegram::persona_bots::REFRESH,
                },
            );
            let stop = stop.clone();
            Some(tokio::spawn(async move {
                if let Err(err) = bots.run(stop).await {
                    tracing::error!("the persona bots stopped: {err}");
                }
            }))
        }
        None => {
            tracing::info!(
                "personas' own bots are off: they need the platform's AGENTOPS_SECRET_KEY"
            );
            None
        }
    };
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {} (AGENTOPS_BIND)", args.bind))?;
    let inflight = TaskTracker::new();
    let (app, poller) = match settings.webhook {
        Some((url, path, secret)) => {
            bot.set_webhook(&url, &secret)
                .await
                .context("Telegram refused the webhook")?;
            tracing::info!("receiving updates on the webhook {url}");
            (
                router_recovering(bot, Some((path, secret)), &inflight, recovered),
                None,
            )
        }
        None => {
            tracing::info!(
                "receiving updates by long polling (set TELEGRAM_WEBHOOK_URL for a webhook)"
            );
            let (bot2, stop2) = (bot.clone(), stop.clone());
            let mut recovered = recovered;
            let poller = tokio::spawn(async move {
                // Recovered updates first (polling does not confirm new ones meanwhile).
                let _ = recovered.wait_for(|done| *done).await;
                if let Err(err) = bot2.poll(stop2).await {
                    tracing::error!("long polling stopped: {err}");
                }
            });
            (router(bot, None, &inflight), Some(poller))
        }
    };
    let served = crate::serve::serve_until_stopped(listener, app, stop).await;
    drain(&inflight, DRAIN_TIMEOUT).await;
    let _ = relay.await;
    if let Some(poller) = poller {
        let _ = poller.await;
    }
    if let Some(persona_bots) = persona_bots {
        let _ = persona_bots.await;
    }
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abcdefghijklmnop", b"abcdefghijklmnop"));
        assert!(!same_secret(b"abcdefghijklmnoq", b"abcdefghijklmnop"));
        assert!(!same_secret(b"abc", b"abcdefghijklmnop"));
    }
}
