//! `agentops` subcommands.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};

use agentops_api::config::ApiConfig;
use agentops_api::{Bootstrap, Server};
use agentops_sdk::types::{ApiKeyIn, Role};

/// AgentOps: a control plane for AI agents.
///
/// With no command, starts the whole platform on the embedded defaults (`agentops up`).
#[derive(Debug, Parser)]
#[command(name = "agentops", version, about, long_about = None)]
pub struct Cli {
    /// Log output format.
    #[arg(
        long,
        global = true,
        env = "AGENTOPS_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// What to do (default: `up`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// The subcommands.
// Parsed once per process: the size of its largest settings does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the whole platform (API, background workers and a Seed agent); the default.
    Up(UpArgs),
    /// Start the API server only (one replica of a scaled-out deployment).
    Api(ApiArgs),
    /// Apply or roll back database migrations.
    Migrate(MigrateArgs),
    /// Manage API keys directly in the database (for the first key of an operator).
    Keys(KeysArgs),
    /// Manage the master key stored secrets are sealed under (`rotate`).
    Secrets(SecretsArgs),
    /// Run the Seed worker: claims `seed` tasks and carries them out in a sandbox.
    Seed(crate::agents::SeedArgs),
    /// Run the Chief of Staff: the agent people talk to (`POST /chat`).
    ChiefOfStaff(crate::chief::ChiefArgs),
    /// Run the Telegram bot (webhook, or long polling for local use), or manage the
    /// chats it serves (`pair`, `allow`, `unpair`, `chats`).
    Telegram(crate::telegram::TelegramArgs),
    /// Print the API's OpenAPI document (the one served at `/api/v1/openapi.json`),
    /// for client generators, without starting a server.
    Openapi,
    /// Exit 0 if a server answers `GET <url>` with 2xx (for container health checks).
    Healthcheck(HealthcheckArgs),
}

/// Settings of `up`: the API's, and the embedded Seed's.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub config: ApiConfig,
    /// Run a Seed agent in the same process, so tasks of kind `seed` get done with no
    /// other set-up (its key is kept in `<data dir>/seed.key`). It runs the shell
    /// commands tasks give it, as this user: turn it off where task authors are not
    /// trusted with that.
    #[arg(
        long,
        env = "AGENTOPS_EMBEDDED_SEED",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub seed: bool,
    /// Run the Chief of Staff in the same process, its HTTP API (`POST /chat`) on
    /// `AGENTOPS_CHIEF_BIND` (its admin key is kept in `<data dir>/chief.key`).
    #[arg(
        long,
        env = "AGENTOPS_EMBEDDED_CHIEF",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub chief: bool,
    /// Where the embedded Chief of Staff's HTTP API listens.
    #[arg(long, env = "AGENTOPS_CHIEF_BIND", default_value = "127.0.0.1:8090")]
    pub chief_bind: std::net::SocketAddr,
    #[command(flatten)]
    pub llm: crate::agents::LlmArgs,
    #[command(flatten)]
    pub proactive: crate::agents::ProactiveArgs,
    #[command(flatten)]
    pub speech: crate::agents::SpeechArgs,
}

/// What `agentops up` runs next to the API.
#[derive(Debug, Default)]
pub struct Embedded {
    /// The Seed, with these LLM settings.
    pub seed: Option<crate::agents::LlmArgs>,
    /// The Chief of Staff, on this address, with these LLM and proactive settings.
    pub chief: Option<(
        std::net::SocketAddr,
        crate::agents::LlmArgs,
        crate::agents::ProactiveArgs,
        crate::agents::SpeechArgs,
    )>,
}

impl UpArgs {
    fn embedded(&self) -> Embedded {
        Embedded {
            seed: self.seed.then(|| self.llm.clone()),
            chief: self.chief.then(|| {
                (
                    self.chief_bind,
                    self.llm.clone(),
                    self.proactive.clone(),
                    self.speech.clone(),
                )
            }),
        }
    }
}

/// Settings of `api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    #[command(flatten)]
    pub config: ApiConfig,
}

/// `agentops migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: MigrateAction,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Where the database is, for commands that only need it.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database URL (see `agentops api --help`); defaults to the embedded SQLite file.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Directory of the embedded SQLite file.
    #[arg(long, env = "AGENTOPS_DATA_DIR", default_value = "agentops-data")]
    pub data_dir: std::path::PathBuf,
}

impl DbArgs {
    fn api_config(&self) -> ApiConfig {
        let mut cfg = ApiConfig::defaults();
        cfg.database_url = self.database_url.clone();
        cfg.data_dir = self.data_dir.clone();
        cfg
    }
}

/// Migration actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Roll back the last migration (or `--steps N`, or `--all`).
    Down {
        /// How many migrations to roll back.
        #[arg(long, default_value_t = 1, conflicts_with = "all")]
        steps: u32,
        /// Roll back every migration (drops all AgentOps tables).
        #[arg(long)]
        all: bool,
    },
}

/// `agentops keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub action: KeysAction,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Key actions.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create a key and print its secret (shown once).
    Create {
        /// The key's label.
        #[arg(long)]
        name: String,
        /// admin, agent or viewer.
        #[arg(long)]
        role: Role,
        /// Days until the key expires (never if absent).
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
}

/// `agentops secrets`.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub action: SecretsAction,
    #[command(flatten)]
    pub db: DbArgs,
}

/// What to do with the master key.
#[derive(Debug, Subcommand)]
pub enum SecretsAction {
    /// Seal every stored secret again under a new master key.
    ///
    /// With `AGENTOPS_SECRET_KEY` (the new key) and `AGENTOPS_SECRET_KEY_OLD` (the one
    /// in use): re-seals, then restart every service with the new key. Without them, on
    /// an embedded platform: the key of `<data dir>/secret.key` is replaced by a new
    /// one, which is written there once every secret is sealed under it. Secrets
    /// already under the new key are left, so a rotation that stopped half-way can be
    /// run again.
    Rotate {
        /// The new master key (32 bytes as base64 or hex).
        #[arg(long, env = "AGENTOPS_SECRET_KEY", hide_env_values = true)]
        new_key: Option<String>,
        /// The master key the secrets are sealed under now.
        #[arg(long, env = "AGENTOPS_SECRET_KEY_OLD", hide_env_values = true)]
        old_key: Option<String>,
    },
}

/// `agentops healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to check.
    #[arg(long, default_value = "http://127.0.0.1:8080/health")]
    pub url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout_seconds: u64,
}

/// Runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_tracing(cli.log_format);
    match cli.command {
        None => {
            let cli = Cli::parse_from(["agentops", "up"]);
            let Some(Command::Up(args)) = cli.command else {
                unreachable!("`agentops up` parses as Up");
            };
            let embedded = args.embedded();
            up(args.config, embedded).await
        }
        Some(Command::Up(args)) => {
            let embedded = args.embedded();
            up(args.config, embedded).await
        }
        Some(Command::Api(args)) => up(args.config, Embedded::default()).await,
        Some(Command::Migrate(args)) => migrate(args).await,
        Some(Command::Secrets(args)) => secrets(args).await,
        Some(Command::Keys(args)) => keys(args).await,
        Some(Command::Seed(args)) => crate::agents::seed(args).await,
        Some(Command::ChiefOfStaff(args)) => crate::chief::run(args).await,
        Some(Command::Telegram(args)) => crate::telegram::run(args).await,
        Some(Command::Healthcheck(args)) => healthcheck(args).await,
        Some(Command::Openapi) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&agentops_api::openapi_document())?
            );
            Ok(())
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn up(config: ApiConfig, embedded: Embedded) -> anyhow::Result<()> {
    let bind = config.bind;
    let data_dir = config.data_dir.clone();
    let server = Server::start(config).await?;
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| {
        format!("cannot listen on {bind} (set AGENTOPS_BIND to another address)")
    })?;
    let addr = listener.local_addr()?;
    match server.bootstrap() {
        Bootstrap::Generated { secret, path } => {
            println!(
                "Created the first admin API key (shown once, also saved to {}):",
                path.display()
            );
            println!("    {secret}");
        }
        Bootstrap::Configured => println!("Admin API key: the one in AGENTOPS_ADMIN_KEY."),
        Bootstrap::Existing => {}
    }
    let seed = match embedded.seed {
        Some(llm) => {
            let key = crate::agents::embedded_key(
                server.state(),
                &data_dir,
                "seed.key",
                "seed (embedded)",
                Role::Agent,
            )
            .await?;
            Some(crate::agents::EmbeddedSeed::start(addr, key, llm)?)
        }
        None => None,
    };
    // The local speech engine, if installed, for the embedded Chief to hear with.
    let local_speech = match &embedded.chief {
        Some((_, _, _, speech)) if speech.speech_base_url.trim() == "auto" => {
            match crate::speech::LocalSpeech::start_if_installed(&data_dir).await {
                Ok(engine) => engine,
                Err(err) => {
                    tracing::warn!("voice is off: {err:#}");
                    None
                }
            }
        }
        _ => None,
    };
    let chief = match embedded.chief {
        Some((bind, llm, proactive, speech)) => {
            let key = crate::agents::embedded_key(
                server.state(),
                &data_dir,
                "chief.key",
                "chief-of-staff (embedded)",
                Role::Admin,
            )
            .await?;
            Some(
                crate::chief::EmbeddedChief::start(
                    addr,
                    key,
                    bind,
                    &llm,
                    &proactive,
                    &speech,
                    server.state().secrets.clone(),
                )
                .await?,
            )
        }
        None => None,
    };
    let chief_url = match &chief {
        Some((_, chief_addr)) => Some(format!("http://{chief_addr}")),
        None => std::env::var("CHIEF_OF_STAFF_URL")
            .ok()
            .filter(|url| !url.trim().is_empty()),
    };
    let server = server.with_routes(dashboard(addr, chief_url)?);
    println!("AgentOps is running at http://{addr}");
    println!("    dashboard:     http://{addr}/  (sign in with an API key)");
    println!("    API reference: http://{addr}/docs");
    if seed.is_some() {
        println!("A Seed agent is running in this process: it carries out tasks of kind `seed`.");
    }
    if let Some((_, chief_addr)) = &chief {
        println!(
            "The Chief of Staff listens on http://{chief_addr}/chat (with an admin key; try {{\"text\":\"help\"}})."
        );
    }
    if local_speech.is_some() {
        println!(
            "Voice is on: the local speech engine runs on {} (voice notes on Telegram, the microphone in the dashboard's Chat).",
            crate::agents::LOCAL_SPEECH
        );
    }
    let shutdown = async move {
        crate::serve::shutdown_signal().await;
        // The agents stop first (the Seed finishes or hands back its tasks), while the
        // API still answers.
        if let Some((chief, _)) = chief {
            chief.stop().await;
        }
        if let Some(mut engine) = local_speech {
            engine.stop().await;
        }
        if let Some(seed) = seed {
            seed.stop().await;
        }
    };
    server.serve(listener, shutdown).await
}

/// The web dashboard, talking to this process's own API over loopback with the key of
/// whoever signs in.
/// `chief_url` is the Chief of Staff the Chat page talks to (the embedded one, or
/// `CHIEF_OF_STAFF_URL`).
fn dashboard(
    addr: std::net::SocketAddr,
    chief_url: Option<String>,
) -> anyhow::Result<axum::Router> {
    let mut local = addr;
    if local.ip().is_unspecified() {
        local.set_ip(match local {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let api = agentops_sdk::Client::builder()
        .base_url(format!("http://{local}"))
        .build()
        .context("cannot make the dashboard's API client")?;
    Ok(agentops_web::router(agentops_web::WebConfig {
        api,
        secure_cookies: false,
        chief_url,
    }))
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let cfg = args.db.api_config();
    let url = cfg.effective_database_url();
    let db = agentops_api::store::connect(&url, 2)
        .await
        .with_context(|| format!("cannot connect to {}", agentops_api::redact(&url)))?;
    match args.action {
        MigrateAction::Up => {
            agentops_api::store::migrate(&db)
                .await
                .context("migration failed")?;
            println!("migrations applied");
        }
        MigrateAction::Down { steps, all } => {
            agentops_api::store::migrate_down(&db, (!all).then_some(steps))
                .await
                .context("rollback failed")?;
            println!("migrations rolled back");
        }
    }
    Ok(())
}

async fn secrets(args: SecretsArgs) -> anyhow::Result<()> {
    use agentops_sdk::secrets::MasterKey;
    let SecretsAction::Rotate { new_key, old_key } = args.action;
    let cfg = args.db.api_config();
    let file = cfg.data_dir.join("secret.key");
    let parse = |what: &str, text: &str| {
        MasterKey::parse(text).map_err(|err| anyhow::anyhow!("{what}: {err}"))
    };
    let (old, new, write_file) = match (old_key, new_key) {
        (Some(old), Some(new)) => (
            parse("AGENTOPS_SECRET_KEY_OLD", &old)?,
            parse("AGENTOPS_SECRET_KEY", &new)?,
            false,
        ),
        (None, None) => {
            let text = std::fs::read_to_string(&file).with_context(|| {
                format!(
                    "no AGENTOPS_SECRET_KEY_OLD and AGENTOPS_SECRET_KEY given, and {} cannot be read",
                    file.display()
                )
            })?;
            (
                parse(&file.display().to_string(), &text)?,
                MasterKey::generate(),
                true,
            )
        }
        _ => anyhow::bail!(
            "give both AGENTOPS_SECRET_KEY_OLD (the key in use) and AGENTOPS_SECRET_KEY (the new              one), or neither to replace the key of an embedded platform's data directory"
        ),
    };
    anyhow::ensure!(old.id() != new.id(), "the new key is the old one");
    let url = cfg.effective_database_url();
    let db = agentops_api::store::connect(&url, 2)
        .await
        .with_context(|| format!("cannot connect to {}", agentops_api::redact(&url)))?;
    let resealed = agentops_api::domain::personas::reseal(&db, &old, &new).await?;
    if write_file {
        let next = file.with_extension("key.new");
        std::fs::write(
            &next,
            format!(
                "{}
",
                new.encoded()
            ),
        )
        .with_context(|| format!("cannot write {}", next.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&next, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&next, &file)
            .with_context(|| format!("cannot replace {}", file.display()))?;
        println!(
            "{resealed} secret(s) sealed again under master key {}; {} holds it now",
            new.id(),
            file.display()
        );
    } else {
        println!(
            "{resealed} secret(s) sealed again under master key {} (was {}); restart every              service with the new AGENTOPS_SECRET_KEY",
            new.id(),
            old.id()
        );
    }
    Ok(())
}

async fn keys(args: KeysArgs) -> anyhow::Result<()> {
    let cfg = args.db.api_config();
    let state = agentops_api::state::AppState::connect(cfg).await?;
    match args.action {
        KeysAction::Create {
            name,
            role,
            expires_in_days,
        } => {
            let expires_at = expires_in_days
                .map(|days| chrono::Utc::now() + chrono::Duration::days(i64::from(days)));
            let created = agentops_api::domain::keys::create(
                &state,
                ApiKeyIn {
                    name,
                    role,
                    expires_at,
                },
            )
            .await
            .map_err(|err| anyhow::anyhow!("{err}: {err:?}"))?;
            println!("{}", created.secret);
            eprintln!(
                "created {} key `{}` ({}); the secret above is shown once",
                created.key.role, created.key.name, created.key.id
            );
        }
    }
    Ok(())
}

async fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(args.timeout_seconds))
        .build()?;
    let response = client
        .get(&args.url)
        .send()
        .await
        .with_context(|| format!("GET {}", args.url))?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET {} answered {}",
        args.url,
        response.status()
    );
    Ok(())
}

/// For a parse error about an invalid value, the environment variable that also sets it.
pub fn env_hint(command: &clap::Command, err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    let ContextValue::String(invalid) = err.get(ContextKind::InvalidArg)? else {
        return None;
    };
    let long = invalid.trim_start_matches("--").split([' ', '=']).next()?;
    fn find(command: &clap::Command, long: &str) -> Option<String> {
        command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(long))
            .and_then(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .or_else(|| command.get_subcommands().find_map(|sub| find(sub, long)))
    }
    find(command, long)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn an_invalid_value_names_its_environment_variable() {
        let err =
            Cli::try_parse_from(["agentops", "api", "--agent-ttl-seconds", "soon"]).unwrap_err();
        assert_eq!(
            env_hint(&Cli::command(), &err).as_deref(),
            Some("AGENTOPS_AGENT_TTL_SECONDS")
        );
    }

    #[test]
    fn no_command_means_up_and_defaults_are_valid() {
        let cli = Cli::try_parse_from(["agentops"]).unwrap();
        assert!(cli.command.is_none());
        let cfg = ApiConfig::defaults();
        assert_eq!(cfg.bind.to_string(), "127.0.0.1:8080");
        assert!(
            cfg.effective_database_url()
                .starts_with("sqlite://agentops-data/")
        );
        cfg.validate().unwrap();
    }

    #[test]
    fn the_seed_takes_egress_ranges_and_refuses_what_is_not_one() {
        let cli = Cli::try_parse_from([
            "agentops",
            "seed",
            "--egress-allow",
            "10.20.0.0/16, fd00::/8,192.168.1.7",
        ])
        .unwrap();
        let Some(Command::Seed(args)) = cli.command else {
            panic!("not the seed command");
        };
        let ranges: Vec<String> = args.egress_allow.iter().map(|n| n.to_string()).collect();
        assert_eq!(ranges, ["10.20.0.0/16", "fd00::/8", "192.168.1.7/32"]);
        let err =
            Cli::try_parse_from(["agentops", "seed", "--egress-allow", "intranet"]).unwrap_err();
        assert_eq!(
            env_hint(&Cli::command(), &err).as_deref(),
            Some("SEED_EGRESS_ALLOW")
        );
    }

    #[test]
    fn a_short_admin_key_is_refused_with_its_name() {
        let mut cfg = ApiConfig::defaults();
        cfg.admin_key = Some("short".into());
        assert!(cfg.validate().unwrap_err().contains("AGENTOPS_ADMIN_KEY"));
    }
}
