//! The agent subcommands (`agentops seed`): settings from flags or the environment, the
//! SDK client and worker, and a `/health` endpoint for container platforms.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use agentops_agents::llm::LlmConfig;
use agentops_agents::seed::{
    CgroupSetting, Cgroups, Egress, IpNet, Isolation, Limits, PreviewConfig, Seed, SeedConfig,
    StepNetwork,
};
use agentops_sdk::{Client, Worker};

/// How an agent reaches the platform.
#[derive(Debug, Clone, Args)]
pub struct PlatformArgs {
    /// The AgentOps API's base URL.
    #[arg(long, env = "AGENTOPS_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key: the agent role for Seed, the admin role for the Chief of Staff and
    /// the Telegram bot (required; checked when the command starts, so a subcommand such
    /// as `agentops telegram pair` does not need the parent's).
    #[arg(
        long,
        env = "AGENTOPS_API_KEY",
        hide_env_values = true,
        default_value = ""
    )]
    pub api_key: String,
}

/// The platform's master key for stored secrets, for the services that open them (the
/// persona runtime opens owners' provider keys; the Telegram bot, personas' bot tokens).
#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// The master key stored secrets are sealed under: the API's `AGENTOPS_SECRET_KEY`
    /// (on an embedded platform, `<data dir>/secret.key`).
    #[arg(long, env = "AGENTOPS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
}

impl SecretArgs {
    /// The key, if one is set; else the one an embedded platform on this machine keeps
    /// in `<data dir>/secret.key` (`AGENTOPS_DATA_DIR`), if there is one.
    ///
    /// # Errors
    /// If it is set but is not a key.
    pub fn master_key(&self) -> anyhow::Result<Option<agentops_sdk::secrets::MasterKey>> {
        let parse = |text: &str, from: &str| {
            agentops_sdk::secrets::MasterKey::parse(text)
                .map(Some)
                .map_err(|err| anyhow::anyhow!("{from}: {err}"))
        };
        if let Some(key) = self.secret_key.as_deref().filter(|k| !k.trim().is_empty()) {
            return parse(key, "AGENTOPS_SECRET_KEY");
        }
        let dir = std::env::var_os("AGENTOPS_DATA_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| agentops_api::config::ApiConfig::defaults().data_dir);
        let file = dir.join("secret.key");
        match std::fs::read_to_string(&file) {
            Ok(text) => parse(&text, &file.display().to_string()),
            Err(_) => Ok(None),
        }
    }
}

/// The LLM an agent thinks with: any OpenAI-compatible chat API. Without a base URL the
/// built-in rule-based brain is used.
#[derive(Debug, Clone, Args)]
pub struct LlmArgs {
    /// Base URL of an OpenAI-compatible API (e.g. `https://api.scaleway.ai/v1`,
    /// `http://127.0.0.1:11434/v1`); empty = the rule-based brain.
    #[arg(long, env = "LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// Its API key (empty for servers without auth).
    #[arg(long, env = "LLM_API_KEY", hide_env_values = true, default_value = "")]
    pub llm_api_key: String,
    /// The model.
    #[arg(long, env = "LLM_MODEL", default_value = "llama-3.3-70b-instruct")]
    pub llm_model: String,
    /// The model the Chief of Staff classifies each message with (question, command or
    /// other) before it thinks with `LLM_MODEL`: a cheaper one on the same provider.
    /// Empty = `LLM_MODEL` itself.
    #[arg(long, env = "LLM_CLASSIFIER_MODEL")]
    pub llm_classifier_model: Option<String>,
    /// Longest wait for one completion, in seconds.
    #[arg(long, env = "LLM_TIMEOUT_SECS", default_value_t = 120)]
    pub llm_timeout_secs: u64,
    /// A model that sees, describing the pictures people send the Chief of Staff
    /// (`pixtral-12b-2409` on Scaleway); empty = pictures are not seen (their captions
    /// are read).
    #[arg(long, env = "VISION_MODEL", default_value = "")]
    pub vision_model: String,
    /// Its OpenAI-compatible API; empty = `LLM_BASE_URL`.
    #[arg(long, env = "VISION_BASE_URL", default_value = "")]
    pub vision_base_url: String,
    /// Its key; empty = `LLM_API_KEY`.
    #[arg(
        long,
        env = "VISION_API_KEY",
        hide_env_values = true,
        default_value = ""
    )]
    pub vision_api_key: String,
}

/// The speech engine the Chief of Staff hears voice notes and speaks with: any
/// OpenAI-compatible audio API (see `docs/speech.md`).
#[derive(Debug, Clone, Args)]
pub struct SpeechArgs {
    /// Base URL of an OpenAI-compatible audio API (`…/v1`: Scaleway's
    /// `https://api.scaleway.ai/v1`, or the local engine of `scripts/speech`); `auto`: the
    /// local engine on `http://127.0.0.1:8093/v1` if it answers; empty: no voice.
    #[arg(long, env = "SPEECH_BASE_URL", default_value = "auto")]
    pub speech_base_url: String,
    /// Its API key (empty for the local engine).
    #[arg(
        long,
        env = "SPEECH_API_KEY",
        hide_env_values = true,
        default_value = ""
    )]
    pub speech_api_key: String,
    /// The transcription model (`whisper-large-v3` on Scaleway).
    #[arg(long, env = "SPEECH_STT_MODEL", default_value = "whisper-1")]
    pub speech_stt_model: String,
    /// The speech model.
    #[arg(long, env = "SPEECH_TTS_MODEL", default_value = "tts-1")]
    pub speech_tts_model: String,
    /// The voice it speaks with.
    #[arg(long, env = "SPEECH_TTS_VOICE", default_value = "alloy")]
    pub speech_voice: String,
    /// The longest recording sent in one transcription, in seconds: a longer voice note
    /// is cut at its pauses into pieces this long at most (a piece the engine refuses as
    /// too large is cut again by itself).
    #[arg(long, env = "SPEECH_CHUNK_SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u32).range(5..))]
    pub speech_chunk_seconds: u32,
}

/// Where the local speech engine (`scripts/speech/start.sh`) listens.
pub const LOCAL_SPEECH: &str = "http://127.0.0.1:8093/v1";

impl SpeechArgs {
    /// The engine, its calls recorded in the token ledger through `client`, or `None`
    /// (said in the log) if voice is off.
    ///
    /// # Errors
    /// If the settings are not usable (a key a header cannot carry).
    pub async fn speech(
        &self,
        client: Client,
    ) -> anyhow::Result<Option<agentops_agents::chief::server::Speech>> {
        use agentops_agents::speech::{OpenAiSpeech, SpeechConfig};
        let base = match self.speech_base_url.trim() {
            "" => {
                tracing::info!("voice is off (SPEECH_BASE_URL is empty)");
                return Ok(None);
            }
            "auto" => {
                if !speech_answers(LOCAL_SPEECH).await {
                    tracing::info!(
                        "voice is off: no speech engine answers on {LOCAL_SPEECH} (start the local one with \
                         scripts/speech/install.sh && scripts/speech/start.sh, or set SPEECH_BASE_URL)"
                    );
                    return Ok(None);
                }
                LOCAL_SPEECH.to_owned()
            }
            url => url.to_owned(),
        };
        let engine = OpenAiSpeech::new(SpeechConfig {
            api_key: self.speech_api_key.trim().to_owned(),
            stt_model: self.speech_stt_model.clone(),
            tts_model: self.speech_tts_model.clone(),
            voice: self.speech_voice.clone(),
            chunk: agentops_agents::speech::chunks::Limit {
                seconds: f64::from(self.speech_chunk_seconds),
                bytes: agentops_agents::speech::MAX_AUDIO,
            },
            ..SpeechConfig::new(base.clone())
        })
        .context("cannot set up the speech client")?;
        tracing::info!(
            "voice is on: {base} (hearing with {}, speaking with {})",
            self.speech_stt_model,
            self.speech_tts_model
        );
        Ok(Some(
            agentops_agents::chief::server::Speech::both(engine)
                .metered(agentops_agents::meter::Meter::new(client)),
        ))
    }
}

/// Whether the OpenAI-compatible API at `base` answers `GET …/models` within a second.
pub(crate) async fn speech_answers(base: &str) -> bool {
    let Ok(http) = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
    else {
        return false;
    };
    http.get(format!("{base}/models"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

impl LlmArgs {
    /// The model that sees pictures, its calls metered through `client`; `None` (said in
    /// the log) when none is set.
    ///
    /// # Errors
    /// If `VISION_MODEL` is set without an API to reach it, or the settings are not
    /// usable.
    pub fn vision(&self, client: Client) -> anyhow::Result<Option<agentops_agents::llm::Llm>> {
        let model = self.vision_model.trim();
        if model.is_empty() {
            tracing::info!("pictures are not seen (set VISION_MODEL for a model that sees)");
            return Ok(None);
        }
        let base_url = match self.vision_base_url.trim() {
            "" => self
                .llm_base_url
                .as_deref()
                .map(str::trim)
                .unwrap_or_default(),
            url => url,
        };
        anyhow::ensure!(
            !base_url.is_empty(),
            "VISION_MODEL is set but neither VISION_BASE_URL nor LLM_BASE_URL says where it is"
        );
        let parsed = reqwest::Url::parse(base_url)
            .with_context(|| format!("VISION_BASE_URL `{base_url}` is not a URL"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "VISION_BASE_URL must be an http(s) URL"
        );
        let api_key = match self.vision_api_key.trim() {
            "" => self.llm_api_key.clone(),
            key => key.to_owned(),
        };
        let llm = agentops_agents::llm::Llm::new(LlmConfig {
            base_url: base_url.to_owned(),
            api_key,
            model: model.to_owned(),
            timeout: Duration::from_secs(self.llm_timeout_secs.max(1)),
        })
        .context("cannot set up the vision model's client")?;
        tracing::info!("pictures are seen by {model} at {base_url}");
        Ok(Some(llm.metered(
            agentops_agents::meter::Meter::new(client).answer_allowance(400),
        )))
    }

    /// The classifier's model, if one other than the LLM's own is set.
    pub fn classifier_model(&self) -> Option<String> {
        self.llm_classifier_model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
    }

    /// The LLM's configuration, or `None` for the rule-based brain.
    pub fn config(&self) -> anyhow::Result<Option<LlmConfig>> {
        let Some(base_url) = self
            .llm_base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        let parsed = reqwest::Url::parse(base_url)
            .with_context(|| format!("LLM_BASE_URL `{base_url}` is not a URL"))?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https"),
            "LLM_BASE_URL must be an http(s) URL"
        );
        anyhow::ensure!(
            !self.llm_model.trim().is_empty(),
            "LLM_MODEL must name a model"
        );
        Ok(Some(LlmConfig {
            base_url: base_url.to_owned(),
            api_key: self.llm_api_key.clone(),
            model: self.llm_model.trim().to_owned(),
            timeout: Duration::from_secs(self.llm_timeout_secs.max(1)),
        }))
    }
}

/// The Chief of Staff's own rounds (see `agentops_agents::chief::proactive`).
#[derive(Debug, Clone, Args)]
pub struct ProactiveArgs {
    /// The Chief of Staff's proactive rounds: `auto` (on when an LLM is configured), `on`
    /// or `off`. Always bounded by the proactive budget.
    #[arg(long, env = "AGENTOPS_PROACTIVE", default_value = "auto",
          value_parser = ["auto", "on", "off"])]
    pub proactive: String,
    /// The shortest sleep between two rounds, in seconds.
    #[arg(long, env = "AGENTOPS_PROACTIVE_MIN_INTERVAL_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub proactive_min_interval_secs: u64,
    /// The longest sleep between two rounds, in seconds.
    #[arg(long, env = "AGENTOPS_PROACTIVE_MAX_INTERVAL_SECS", default_value_t = 21_600,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub proactive_max_interval_secs: u64,
    /// How often, at most, the Chief tells a plan's conversation how its tasks are going
    /// while they run, in seconds (0: never; questions a task asks and the report when
    /// the plan ends still come).
    #[arg(long, env = "AGENTOPS_PLAN_PROGRESS_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3_600))]
    pub plan_progress_secs: u64,
}

impl ProactiveArgs {
    /// Whether the rounds run, given whether an LLM is configured.
    pub fn enabled(&self, has_llm: bool) -> bool {
        match self.proactive.as_str() {
            "on" => true,
            "off" => false,
            _ => has_llm,
        }
    }

    /// How plans' progress is told.
    pub fn progress(&self) -> agentops_agents::chief::progress::ProgressConfig {
        agentops_agents::chief::progress::ProgressConfig {
            every: (self.plan_progress_secs > 0)
                .then(|| Duration::from_secs(self.plan_progress_secs)),
        }
    }

    /// The rounds' settings.
    pub fn config(&self) -> agentops_agents::chief::proactive::ProactiveConfig {
        agentops_agents::chief::proactive::ProactiveConfig {
            min_interval: Duration::from_secs(self.proactive_min_interval_secs),
            max_interval: Duration::from_secs(
                self.proactive_max_interval_secs
                    .max(self.proactive_min_interval_secs),
            ),
            ..Default::default()
        }
    }
}

/// `agentops seed`: the Seed worker.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Serve `GET /health` on this address (for container health checks); off if unset.
    #[arg(long, env = "AGENTOPS_BIND")]
    pub bind: Option<SocketAddr>,
    /// The agent's name, as the platform lists it.
    #[arg(long, env = "SEED_NAME", default_value = "seed")]
    pub name: String,
    /// Task kinds it claims (comma-separated).
    #[arg(
        long,
        env = "SEED_KINDS",
        value_delimiter = ',',
        default_value = "seed"
    )]
    pub kinds: Vec<String>,
    /// Tasks it runs at once.
    #[arg(long, env = "SEED_CONCURRENCY", default_value_t = 2)]
    pub concurrency: usize,
    /// Where task workspaces are created (the system's temp dir if unset).
    #[arg(long, env = "SEED_WORKDIR")]
    pub workdir: Option<PathBuf>,
    /// Longest a shell step may run, in seconds.
    #[arg(long, env = "SEED_STEP_TIMEOUT_SECS", default_value_t = 300)]
    pub step_timeout_secs: u64,
    /// Memory (address space) limit of a shell step, in MiB.
    #[arg(long, env = "SEED_MEMORY_LIMIT_MB", default_value_t = 1024)]
    pub memory_limit_mb: u64,
    /// Largest file a step may write or fetch, in MiB.
    #[arg(long, env = "SEED_MAX_FILE_MB", default_value_t = 100)]
    pub max_file_mb: u64,
    /// Most LLM turns for one task.
    #[arg(long, env = "SEED_MAX_TURNS", default_value_t = 20)]
    pub max_turns: usize,
    /// How shell steps are isolated: `bubblewrap` (namespaces of their own; shell steps
    /// are refused where it cannot run) or `processes` (the weaker mode: limits and a
    /// cleared environment only, said so in every task result).
    #[arg(long, env = "SEED_SANDBOX", default_value = "bubblewrap", value_parser = parse_isolation)]
    pub sandbox: Isolation,
    /// Which tasks' shell steps may reach the network: `off` (none; `fetch` steps always
    /// may), `on-request` (tasks whose input says `"network": true`) or `always`.
    #[arg(long, env = "SEED_STEP_NETWORK", default_value = "off", value_parser = parse_step_network)]
    pub step_network: StepNetwork,
    /// Most processes (and threads) a shell step may run at once.
    #[arg(long, env = "SEED_MAX_PROCESSES", default_value_t = 256)]
    pub max_processes: u64,
    /// Largest a task's workspace may grow, in MiB (a step growing it further is killed).
    #[arg(long, env = "SEED_WORKSPACE_MB", default_value_t = 2048)]
    pub workspace_mb: u64,
    /// Where each shell step gets a cgroup (v2) of its own, bounding its processes
    /// together: `auto` (the worker's own cgroup, where it may manage it), `off`
    /// (rlimits only) or the absolute path of a cgroup v2 directory.
    #[arg(long, env = "SEED_CGROUP", default_value = "auto")]
    pub cgroup: CgroupSetting,
    /// CPUs a shell step may use (its cgroup's `cpu.max`; `0`: unbounded).
    #[arg(long, env = "SEED_STEP_CPUS", default_value_t = 1.0)]
    pub step_cpus: f64,
    /// Private address ranges that steps granted the network, and fetches, may reach
    /// all the same: comma-separated CIDRs (`10.20.0.0/16,fd00::/8`). Loopback, private,
    /// link-local (cloud metadata) and the other non-public ranges stay refused.
    #[arg(long, env = "SEED_EGRESS_ALLOW", value_delimiter = ',', value_parser = parse_net)]
    pub egress_allow: Vec<IpNet>,
    /// Where this Seed serves the previews of servers its tasks start, for the platform's
    /// API to forward to (`off`: tasks cannot start previews).
    #[arg(long, env = "SEED_PREVIEW_BIND", default_value = "127.0.0.1:0")]
    pub preview_bind: String,
    /// The base URL the API reaches that listener at, if not `http://<bind>/` (its host
    /// must be in the API's AGENTOPS_PREVIEW_UPSTREAMS).
    #[arg(long, env = "SEED_PREVIEW_URL")]
    pub preview_url: Option<String>,
}

/// One range of `SEED_EGRESS_ALLOW`.
fn parse_net(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| {
            format!("`{text}` is not an address range such as 10.20.0.0/16 (SEED_EGRESS_ALLOW)")
        })
}

/// `SEED_STEP_NETWORK`: `off`, `on-request` or `always`.
fn parse_step_network(text: &str) -> Result<StepNetwork, String> {
    match text.trim() {
        "off" | "false" => Ok(StepNetwork::Off),
        "on-request" => Ok(StepNetwork::OnRequest),
        "always" | "true" => Ok(StepNetwork::Always),
        other => Err(format!(
            "`{other}`: SEED_STEP_NETWORK is `off` (the default), `on-request` or `always`"
        )),
    }
}

/// `SEED_SANDBOX`: `bubblewrap` or `processes`.
fn parse_isolation(text: &str) -> Result<Isolation, String> {
    match text.trim() {
        "bubblewrap" | "bwrap" => Ok(Isolation::Bubblewrap),
        "processes" => Ok(Isolation::Processes),
        other => Err(format!(
            "`{other}`: SEED_SANDBOX is `bubblewrap` (the default) or `processes`"
        )),
    }
}

/// The cgroup steps get theirs under, as `setting` says (`SEED_CGROUP`), said in the
/// log: where `auto` finds none to use, the steps have rlimits only; a path that cannot
/// be used is an error.
fn step_cgroups(setting: &CgroupSetting, cpus: f64) -> anyhow::Result<Option<Arc<Cgroups>>> {
    let cpus = (cpus > 0.0).then_some(cpus);
    match Cgroups::open(setting, cpus) {
        Ok(Some(cgroups)) => {
            tracing::info!("shell steps: {}", cgroups.describe());
            Ok(Some(Arc::new(cgroups)))
        }
        Ok(None) => {
            tracing::info!("shell steps are bounded by rlimits only (SEED_CGROUP=off)");
            Ok(None)
        }
        Err(why) if *setting == CgroupSetting::Auto => {
            tracing::warn!(
                "shell steps are bounded by rlimits only, each process on its own, not by a \
                 cgroup per step: {why}"
            );
            Ok(None)
        }
        Err(why) => Err(anyhow::anyhow!("SEED_CGROUP: {why}")),
    }
}

/// Says at start how the Seed's shell steps are isolated, and removes the workspaces a
/// worker killed mid-task left under `workdir` (the system's temp dir if `None`).
async fn seed_start(seed: &Seed, workdir: Option<&std::path::Path>) {
    match seed.isolation().await {
        Isolation::Bubblewrap => {
            tracing::info!("shell steps run under bubblewrap, in namespaces of their own");
        }
        Isolation::Processes => tracing::warn!(
            "shell steps run WITHOUT namespaces (SEED_SANDBOX=processes): limits and a \
             cleared environment only; every task result says so"
        ),
        Isolation::Refused(why) => tracing::error!(
            "shell steps will be REFUSED: {why}. Install bubblewrap, or allow the weaker \
             mode with SEED_SANDBOX=processes"
        ),
    }
    let parent = workdir.map_or_else(std::env::temp_dir, std::path::Path::to_path_buf);
    match agentops_agents::seed::remove_orphans(&parent) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            "removed {n} workspace(s) a stopped Seed left in {}",
            parent.display()
        ),
        Err(err) => tracing::warn!(
            "cannot look for workspaces left in {}: {err}",
            parent.display()
        ),
    }
}

impl SeedArgs {
    /// The Seed's configuration.
    pub fn config(&self) -> anyhow::Result<SeedConfig> {
        anyhow::ensure!(
            (1..=64).contains(&self.concurrency),
            "SEED_CONCURRENCY must be from 1 to 64"
        );
        anyhow::ensure!(
            self.step_timeout_secs >= 1,
            "SEED_STEP_TIMEOUT_SECS must be at least 1"
        );
        anyhow::ensure!(
            self.memory_limit_mb >= 16,
            "SEED_MEMORY_LIMIT_MB must be at least 16"
        );
        anyhow::ensure!(self.max_file_mb >= 1, "SEED_MAX_FILE_MB must be at least 1");
        anyhow::ensure!(
            self.max_processes >= 8,
            "SEED_MAX_PROCESSES must be at least 8"
        );
        anyhow::ensure!(
            self.workspace_mb >= 1,
            "SEED_WORKSPACE_MB must be at least 1"
        );
        anyhow::ensure!(
            (0.0..=1024.0).contains(&self.step_cpus),
            "SEED_STEP_CPUS must be from 0 (unbounded) to 1024"
        );
        anyhow::ensure!(
            (1..=200).contains(&self.max_turns),
            "SEED_MAX_TURNS must be from 1 to 200"
        );
        anyhow::ensure!(
            self.kinds.iter().all(|k| !k.trim().is_empty()),
            "SEED_KINDS must not contain an empty kind"
        );
        Ok(SeedConfig {
            limits: Limits {
                isolation: self.sandbox.clone(),
                max_processes: self.max_processes,
                workspace_mb: self.workspace_mb,
                step_timeout: Duration::from_secs(self.step_timeout_secs),
                memory_mb: self.memory_limit_mb,
                max_file_mb: self.max_file_mb,
                egress: Egress {
                    allow: self.egress_allow.clone(),
                },
                cgroups: step_cgroups(&self.cgroup, self.step_cpus)?,
                ..Limits::default()
            },
            network: self.step_network,
            preview: match self.preview_bind.trim() {
                "off" | "" => None,
                bind => Some(PreviewConfig {
                    bind: bind.parse().map_err(|_| {
                        anyhow::anyhow!(
                            "SEED_PREVIEW_BIND must be an address such as 127.0.0.1:7070, or off"
                        )
                    })?,
                    public_url: self.preview_url.clone(),
                    ..PreviewConfig::default()
                }),
            },
            workdir: self.workdir.clone(),
            llm: self.llm.config()?,
            max_turns: self.max_turns,
        })
    }
}

/// A client for an agent called `agent`.
pub(crate) fn client(platform: &PlatformArgs, agent: &str) -> anyhow::Result<Client> {
    anyhow::ensure!(
        !platform.api_key.trim().is_empty(),
        "AGENTOPS_API_KEY must be set (`agentops keys create --role agent --name {agent}`; the Chief of Staff needs --role admin)"
    );
    Client::builder()
        .base_url(&platform.url)
        .api_key(platform.api_key.trim())
        .user_agent(format!("agentops-{agent}/{}", env!("CARGO_PKG_VERSION")))
        .build()
        .with_context(|| format!("cannot make a client for {}", platform.url))
}

/// Runs the Seed worker until Ctrl-C or SIGTERM (then finishes or releases its tasks).
pub async fn seed(args: SeedArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let client = client(&args.platform, "seed")?;
    if let Err(err) = agentops_agents::seed::protect_secrets() {
        tracing::warn!("commands run by tasks may be able to read this process's keys: {err}");
    }
    let seed = Seed::new(config).context("cannot set up the LLM client")?;
    let brain = if seed.has_llm() {
        format!("the LLM {}", args.llm.llm_model)
    } else {
        "the rule-based brain (set LLM_BASE_URL for an LLM)".to_owned()
    };
    tracing::info!(url = %args.platform.url, kinds = ?args.kinds, "seed starting, thinking with {brain}");
    seed_start(&seed, args.workdir.as_deref()).await;
    let worker = Worker::builder(client)
        .name(&args.name)
        .agent_kind("seed")
        .version(env!("CARGO_PKG_VERSION"))
        .kinds(args.kinds.clone())
        .concurrency(args.concurrency)
        .build();
    let running = Arc::new(AtomicBool::new(true));
    let health = match args.bind {
        Some(bind) => Some(serve_health(bind, "seed", running.clone()).await?),
        None => None,
    };
    let result = worker
        .run(move |task| seed.clone().handle(task))
        .await
        .context("the worker stopped");
    running.store(false, Ordering::Release);
    if let Some(health) = health {
        health.abort();
    }
    result
}

/// Serves `GET /health` (200 while the agent runs) on `bind`.
async fn serve_health(
    bind: SocketAddr,
    agent: &'static str,
    running: Arc<AtomicBool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use axum::{Json, Router, http::StatusCode, routing::get};
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind} (AGENTOPS_BIND)"))?;
    let app = Router::new().route(
        "/health",
        get(move || {
            let running = running.clone();
            async move {
                if running.load(Ordering::Acquire) {
                    (
                        StatusCode::OK,
                        Json(serde_json::json!({"status": "ok", "agent": agent})),
                    )
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(serde_json::json!({"status": "stopping", "agent": agent})),
                    )
                }
            }
        }),
    );
    tracing::info!(
        "health endpoint on http://{}/health",
        listener.local_addr()?
    );
    Ok(tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::warn!("health endpoint stopped: {err}");
        }
    }))
}

/// The API key of an agent that `agentops up` runs in-process (`seed.key`,
/// `chief.key`): the one saved in `<data dir>/<file>` while it is still a valid key of
/// `role`, else a new one (saved there, mode 0600).
pub async fn embedded_key(
    state: &agentops_api::state::AppState,
    data_dir: &std::path::Path,
    file: &str,
    name: &str,
    role: agentops_sdk::types::Role,
) -> anyhow::Result<String> {
    use agentops_sdk::types::ApiKeyIn;
    let path = data_dir.join(file);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let secret = text.trim().to_owned();
        let hash = agentops_api::auth::hash_secret(&secret);
        let stored = agentops_api::store::keys::find_by_hash(&state.db, &hash)
            .await
            .with_context(|| format!("cannot look up the key in {}", path.display()))?;
        let now = chrono::Utc::now();
        if stored.is_some_and(|key| {
            key.role == role.to_string()
                && key.revoked_at.is_none()
                && key.expires_at.is_none_or(|at| at > now)
        }) {
            return Ok(secret);
        }
    }
    let created = agentops_api::domain::keys::create(
        state,
        ApiKeyIn {
            name: name.into(),
            role,
            expires_at: None,
        },
    )
    .await
    .map_err(|err| anyhow::anyhow!("cannot create the key `{name}`: {err}"))?;
    write_secret(&path, &created.secret)
        .with_context(|| format!("cannot save the key `{name}` to {}", path.display()))?;
    Ok(created.secret)
}

/// The URL of the API listening on `api`, as a client on this machine reaches it.
pub fn local_url(api: SocketAddr) -> String {
    let host = match api.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    format!("http://{host}:{}", api.port())
}

fn write_secret(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()
}

/// A Seed worker running in the same process as the API (`agentops up`).
pub struct EmbeddedSeed {
    stop: agentops_sdk::worker::ShutdownHandle,
    run: tokio::task::JoinHandle<agentops_sdk::Result<()>>,
}

impl EmbeddedSeed {
    /// Starts a Seed against the API listening on `api`, with `key` and the LLM settings.
    ///
    /// # Errors
    /// If the LLM settings are invalid or the client cannot be built.
    pub fn start(api: SocketAddr, key: String, llm: LlmArgs) -> anyhow::Result<Self> {
        let platform = PlatformArgs {
            url: local_url(api),
            api_key: key,
        };
        // The embedded Seed takes SEED_SANDBOX, SEED_EGRESS_ALLOW and SEED_CGROUP too
        // (its other settings are the defaults).
        let isolation = match std::env::var("SEED_SANDBOX") {
            Ok(text) => parse_isolation(&text).map_err(anyhow::Error::msg)?,
            Err(_) => Isolation::Bubblewrap,
        };
        // Off unless asked for: `agentops up` shares its process with the API.
        let cgroup = match std::env::var("SEED_CGROUP") {
            Ok(text) => text.parse().map_err(anyhow::Error::msg)?,
            Err(_) => CgroupSetting::Off,
        };
        let allow = match std::env::var("SEED_EGRESS_ALLOW") {
            Ok(text) if !text.trim().is_empty() => text
                .split(',')
                .map(parse_net)
                .collect::<Result<Vec<_>, _>>()
                .map_err(anyhow::Error::msg)?,
            _ => Vec::new(),
        };
        let config = SeedConfig {
            llm: llm.config()?,
            limits: Limits {
                isolation,
                egress: Egress { allow },
                cgroups: step_cgroups(&cgroup, 1.0)?,
                ..Limits::default()
            },
            ..SeedConfig::default()
        };
        let seed = Seed::new(config).context("cannot set up the LLM client")?;
        if let Err(err) = agentops_agents::seed::protect_secrets() {
            tracing::warn!("commands run by tasks may be able to read this process's keys: {err}");
        }
        let builder = Worker::builder(client(&platform, "seed")?)
            .name("seed-embedded")
            .agent_kind("seed")
            .version(env!("CARGO_PKG_VERSION"))
            .kinds(["seed"])
            .concurrency(2)
            .handle_signals(false);
        let stop = builder.shutdown_handle();
        let worker = async move {
            seed_start(&seed, None).await;
            builder.run(move |task| seed.clone().handle(task)).await
        };
        let run = tokio::spawn(async move {
            let result = worker.await;
            if let Err(err) = &result {
                tracing::error!("the embedded Seed stopped: {err}");
            }
            result
        });
        Ok(Self { stop, run })
    }

    /// Stops claiming, lets running tasks finish (or hands them back) and waits.
    pub async fn stop(self) {
        self.stop.shutdown();
        match self.run.await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {} // logged when it happened
            Err(err) => tracing::warn!("the embedded Seed crashed: {err}"),
        }
    }
}
