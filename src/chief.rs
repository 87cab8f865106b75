//! `agentops chief-of-staff`: the Chief of Staff behind its HTTP API
//! ([`agentops_agents::chief::server`]: `POST /chat`, `GET /health`), and the executor of
//! approved plans beside it; also embedded in `agentops up`.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;

use agentops_agents::chief::server::{Senses, router_with_senses, spawn_executor};
use agentops_agents::chief::{ChiefConfig, ChiefOfStaff};
use agentops_sdk::CancellationToken;

use agentops_agents::chief::proactive::Proactive;

use crate::agents::{LlmArgs, PlatformArgs, ProactiveArgs, SecretArgs, SpeechArgs};

/// `agentops chief-of-staff`.
#[derive(Debug, Clone, Args)]
pub struct ChiefArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[command(flatten)]
    pub proactive: ProactiveArgs,
    #[command(flatten)]
    pub speech: SpeechArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
    /// Where its HTTP API (`POST /chat`, `GET /health`) listens.
    #[arg(long, env = "AGENTOPS_BIND", default_value = "127.0.0.1:8090")]
    pub bind: SocketAddr,
}

/// Starts the proactive rounds if they are on (see [`ProactiveArgs`]); they stop with
/// `stop`.
fn spawn_proactive(
    client: agentops_sdk::Client,
    llm: &LlmArgs,
    proactive: &ProactiveArgs,
    stop: CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let config = llm.config()?;
    if !proactive.enabled(config.is_some()) {
        tracing::info!(
            "proactive rounds are off (AGENTOPS_PROACTIVE; `auto` runs them with an LLM)"
        );
        return Ok(None);
    }
    let llm = config
        .map(|config| {
            agentops_agents::llm::Llm::new(config)
                .map(|llm| llm.metered(agentops_agents::meter::Meter::new(client.clone())))
        })
        .transpose()
        .context("cannot set up the LLM client")?;
    let rounds = Proactive::new(client, llm, proactive.config());
    tracing::info!("proactive rounds are on, paced to the proactive budget");
    Ok(Some(tokio::spawn(rounds.run(stop))))
}

/// Runs the persona runtime (the agent answering as the personas people create) beside
/// the Chief of Staff until `stop`, started again while the platform cannot be read.
fn spawn_personas(
    client: agentops_sdk::Client,
    llm: &LlmArgs,
    master_key: Option<agentops_sdk::secrets::MasterKey>,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let mut runtime = agentops_agents::persona::PersonaRuntime::new(client, llm.config()?);
    match master_key {
        Some(key) => runtime = runtime.with_master_key(key),
        None => tracing::info!(
            "personas think with the platform's LLM key only: owners' own keys need \
             AGENTOPS_SECRET_KEY"
        ),
    }
    Ok(tokio::spawn(async move {
        let mut delay = std::time::Duration::from_millis(500);
        loop {
            match runtime.run(stop.clone()).await {
                Ok(()) => return,
                Err(err) => tracing::warn!("the persona runtime cannot run: {err}"),
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => return,
            }
            delay = (delay * 2).min(std::time::Duration::from_secs(30));
        }
    }))
}

/// A Chief of Staff running in the same process as the API (`agentops up`).
pub struct EmbeddedChief {
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl EmbeddedChief {
    /// Starts the Chief of Staff against the API on `api` with an admin `key`, its HTTP
    /// API on `bind`.
    ///
    /// # Errors
    /// If `bind` cannot be listened on or the LLM settings are invalid.
    pub async fn start(
        api: SocketAddr,
        key: String,
        bind: SocketAddr,
        llm: &LlmArgs,
        proactive: &ProactiveArgs,
        speech: &SpeechArgs,
        master_key: Option<agentops_sdk::secrets::MasterKey>,
    ) -> anyhow::Result<(Self, SocketAddr)> {
        let platform = PlatformArgs {
            url: crate::agents::local_url(api),
            api_key: key,
        };
        let chief = ChiefOfStaff::new(
            crate::agents::client(&platform, "chief-of-staff")?,
            ChiefConfig {
                llm: llm.config()?,
                classifier_model: llm.classifier_model(),
                progress: proactive.progress(),
            },
        )
        .context("cannot set up the LLM client")?;
        let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
            format!("cannot listen on {bind} for the Chief of Staff (set AGENTOPS_CHIEF_BIND)")
        })?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let executor = spawn_executor(chief.clone(), stop.clone());
        let rounds = spawn_proactive(
            crate::agents::client(&platform, "chief-of-staff")?,
            llm,
            proactive,
            stop.clone(),
        )?;
        let personas = spawn_personas(
            crate::agents::client(&platform, "personas")?,
            llm,
            master_key,
            stop.clone(),
        )?;
        let senses = Senses {
            speech: speech
                .speech(crate::agents::client(&platform, "chief-of-staff")?)
                .await?,
            vision: llm.vision(crate::agents::client(&platform, "chief-of-staff")?)?,
        };
        let app = router_with_senses(chief, platform.url, senses);
        let http = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(err) = served {
                    tracing::warn!("the Chief of Staff's HTTP API stopped: {err}");
                }
            })
        };
        Ok((
            Self {
                stop,
                tasks: [executor, http, personas]
                    .into_iter()
                    .chain(rounds)
                    .collect(),
            },
            addr,
        ))
    }

    /// Stops it and waits.
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Runs the Chief of Staff: its HTTP API and the executor of approved plans, until
/// Ctrl-C or SIGTERM.
pub async fn run(args: ChiefArgs) -> anyhow::Result<()> {
    let client = crate::agents::client(&args.platform, "chief-of-staff")?;
    let chief = ChiefOfStaff::new(
        client.clone(),
        ChiefConfig {
            llm: args.llm.config()?,
            classifier_model: args.llm.classifier_model(),
            progress: args.proactive.progress(),
        },
    )
    .context("cannot set up the LLM client")?;
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {} (AGENTOPS_BIND)", args.bind))?;
    let brain = if chief.has_llm() {
        format!("the LLM {}", args.llm.llm_model)
    } else {
        "the rule-based brain (set LLM_BASE_URL for an LLM)".to_owned()
    };
    tracing::info!(
        "Chief of Staff on http://{}/chat, thinking with {brain}",
        listener.local_addr()?
    );
    let stop = CancellationToken::new();
    let executor = spawn_executor(chief.clone(), stop.clone());
    let rounds = spawn_proactive(client.clone(), &args.llm, &args.proactive, stop.clone())?;
    let personas = spawn_personas(
        client.clone(),
        &args.llm,
        args.secrets.master_key()?,
        stop.clone(),
    )?;
    let senses = Senses {
        speech: args.speech.speech(client.clone()).await?,
        vision: args.llm.vision(client)?,
    };
    let app = router_with_senses(chief, args.platform.url.clone(), senses);
    let served = crate::serve::serve_until_stopped(listener, app, stop).await;
    let _ = executor.await;
    let _ = personas.await;
    if let Some(rounds) = rounds {
        let _ = rounds.await;
    }
    served
}
