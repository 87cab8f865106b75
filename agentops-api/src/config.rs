//! Server configuration: command-line flags, each backed by an environment variable.
//!
//! Every setting has exactly one flag and one variable, declared here with clap, so the
//! list of variables the binary reads is derived from this struct (the deployment
//! contract test in `tests/` reads it from clap rather than from a second list).
//! Defaults give a working embedded platform with no set-up; invalid values fail at start
//! with a message that names the setting.
//!
//! The STYLE guide suggests figment with a TOML file; flags plus variables cover every
//! deployment we target (serverless containers are configured by variables only) with one
//! mechanism less.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Everything the API server needs to start.
#[derive(Debug, Clone, Args)]
pub struct ApiConfig {
    /// Address to listen on.
    #[arg(long, env = "AGENTOPS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Directory for the embedded defaults (SQLite file, admin key, local artifacts).
    #[arg(long, env = "AGENTOPS_DATA_DIR", default_value = "agentops-data")]
    pub data_dir: PathBuf,

    /// Database: `postgres://user:pass@host/db` for PostgreSQL, or `sqlite://path` ;
    /// defaults to a SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Apply pending database migrations on start (`false` when a deploy step runs
    /// `agentops migrate up` instead, so an older image can still start on a newer schema).
    #[arg(long, env = "AGENTOPS_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate: bool,

    /// Maximum database connections per process (PostgreSQL).
    #[arg(long, env = "AGENTOPS_DB_MAX_CONNECTIONS", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,

    /// Longest a request waits for a database connection, in seconds (PostgreSQL). While
    /// the database is down, requests are answered 503 with `Retry-After` after this
    /// long instead of hanging; they succeed again on their own once it is back.
    #[arg(long, env = "AGENTOPS_DB_ACQUIRE_TIMEOUT_SECS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub db_acquire_timeout_secs: u64,

    /// Task claims and completions that arrive together share a transaction (group
    /// commit, see `agentops_api::coalesce`): at most this many such transactions run
    /// at once in this process, each carrying what queued while the others ran. `1`
    /// batches the most; a replica never waits on another's lanes. Claims and completions
    /// share the lanes, and each lane holds a database connection while it runs, so at
    /// most half of `AGENTOPS_DB_MAX_CONNECTIONS` are used (8 connections on SQLite).
    ///
    /// Each lane's statement keeps a database core busy while it runs, so lanes beyond
    /// what the database's cores can run at once only make smaller batches, each with
    /// its own commit and per-statement work. The default suits the 2-vCPU database
    /// `infra/` provisions (about its cores plus one, measured in `docs/benchmarks.md`,
    /// "How many write lanes"); raise it with a larger database.
    #[arg(long, env = "AGENTOPS_WRITE_LANES", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=256))]
    pub write_lanes: u32,

    /// An admin API key to install on start (at least 32 characters). Without it, the
    /// first start on an empty database generates one and writes it to
    /// `<data dir>/admin.key`.
    #[arg(long, env = "AGENTOPS_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// The master key secrets are sealed under at rest (a persona owner's provider key):
    /// 32 random bytes as base64 or 64 hex characters. Without it, an embedded SQLite
    /// platform generates one on first start and keeps it in `<data dir>/secret.key`;
    /// on PostgreSQL (many replicas) it must be given, else secrets cannot be stored.
    #[arg(long, env = "AGENTOPS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Requests per second allowed per API key (sustained).
    #[arg(long, env = "AGENTOPS_RATE_LIMIT_PER_SECOND", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_per_second: u32,

    /// Requests per API key allowed in a burst above the sustained rate.
    #[arg(long, env = "AGENTOPS_RATE_LIMIT_BURST", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Origins allowed by CORS, comma-separated, or `*` for any. None if empty.
    #[arg(
        long,
        env = "AGENTOPS_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub cors_origins: Vec<String>,

    /// Seconds without a heartbeat after which an agent shows as offline.
    #[arg(long, env = "AGENTOPS_AGENT_TTL_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub agent_ttl_seconds: u64,

    /// How often the reaper looks for expired leases and silent agents, in milliseconds.
    #[arg(long, env = "AGENTOPS_REAPER_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub reaper_interval_ms: u64,

    /// First retry delay after a failed attempt, in milliseconds; doubles per attempt.
    #[arg(long, env = "AGENTOPS_RETRY_BASE_MS", default_value_t = 1000)]
    pub retry_base_ms: u64,

    /// Longest retry delay, in milliseconds.
    #[arg(long, env = "AGENTOPS_RETRY_MAX_MS", default_value_t = 300_000)]
    pub retry_max_ms: u64,

    /// Redis for event fan-out between replicas and their shared per-key rate limits
    /// (`redis://` or `rediss://` for TLS).
    /// Without it events fan out in-process only (one replica).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of the Redis channel names, so several deployments can share one Redis.
    #[arg(long, env = "AGENTOPS_REDIS_PREFIX", default_value = "agentops:")]
    pub redis_prefix: String,

    /// Longest a client may take, in seconds, to send a request's headers; its connection
    /// is closed after it.
    #[arg(long, env = "AGENTOPS_HEADER_READ_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub header_read_timeout_secs: u64,

    /// Longest wait, in seconds, for the next piece of a request body: a client that
    /// stops sending half-way is answered 400 after it.
    #[arg(long, env = "AGENTOPS_BODY_IDLE_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub body_idle_timeout_secs: u64,

    /// Longest a request waits for Redis to count it against its key's rate limit, in
    /// milliseconds; past it, the replica counts on its own budget for a while.
    #[arg(long, env = "AGENTOPS_REDIS_TIMEOUT_MS", default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub redis_timeout_ms: u64,

    /// CA certificate (PEM text, or a path to it) to trust for `rediss://`, for servers
    /// whose certificate is not signed by a public CA (Scaleway Managed Redis).
    #[arg(long, env = "REDIS_CA_CERT", hide_env_values = true)]
    pub redis_ca_cert: Option<String>,

    /// Events a WebSocket subscriber may fall behind by before it is disconnected (it
    /// then resumes from the last id it saw).
    #[arg(long, env = "AGENTOPS_EVENT_BUFFER", default_value_t = 4096,
          value_parser = clap::value_parser!(u64).range(16..=1_000_000))]
    pub event_buffer: u64,

    /// How often each replica reads the event log for events whose publication it missed,
    /// in milliseconds (more often while Redis is unreachable).
    #[arg(long, env = "AGENTOPS_EVENT_POLL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub event_poll_ms: u64,

    /// How often the event stream pings each subscriber, in milliseconds. Not a flag:
    /// tests shorten it.
    #[arg(skip = 15_000u64)]
    pub event_ping_ms: u64,

    /// Days events are kept in the log before they are pruned.
    #[arg(long, env = "AGENTOPS_EVENT_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=36_500))]
    pub event_retention_days: u64,

    /// Largest accepted JSON request body, in bytes.
    #[arg(long, env = "AGENTOPS_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest accepted artifact, in bytes; a larger upload is refused with 413 as soon as
    /// it goes over, and nothing of it is kept.
    #[arg(long, env = "AGENTOPS_ARTIFACT_MAX_BYTES", default_value_t = 100 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub artifact_max_bytes: u64,

    /// Directory of the local artifact store (used when `S3_BUCKET` is not set); defaults to
    /// `artifacts` in the data directory.
    #[arg(long, env = "AGENTOPS_ARTIFACTS_DIR")]
    pub artifacts_dir: Option<PathBuf>,

    /// S3-compatible endpoint of the artifact bucket, e.g. `https://s3.fr-par.scw.cloud`
    /// (AWS's own endpoint if unset). Addressed path-style.
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Bucket for artifacts. When set, artifacts are stored there instead of the local
    /// directory.
    #[arg(long, env = "S3_BUCKET")]
    pub s3_bucket: Option<String>,

    /// Region of the artifact bucket (`fr-par` on Scaleway).
    #[arg(long, env = "S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Access key of the artifact bucket; without it (and its secret) the usual AWS
    /// credential chain is used (`AWS_*` variables, profile, instance role).
    #[arg(long, env = "S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,

    /// Secret of `S3_ACCESS_KEY_ID`.
    #[arg(long, env = "S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,

    /// Prefix of artifact keys in the bucket, so the bucket can hold other things too.
    #[arg(long, env = "AGENTOPS_S3_PREFIX", default_value = "artifacts/")]
    pub s3_prefix: String,

    /// Size of the parts of a multipart upload, in bytes (S3's minimum is 5 MiB); an
    /// artifact up to this size is stored with a single PUT.
    #[arg(long, env = "AGENTOPS_S3_PART_BYTES", default_value_t = 8 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(5 * 1024 * 1024..=5 * 1024 * 1024 * 1024))]
    pub s3_part_bytes: u64,

    /// Lifetime of the presigned download URLs handed out by
    /// `GET /api/v1/artifacts/{id}/content?redirect=true`, in seconds.
    #[arg(long, env = "AGENTOPS_S3_PRESIGN_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub s3_presign_seconds: u64,

    /// Prices of models, to estimate what each call cost: comma-separated
    /// `MODEL=IN/OUT`, US dollars per million tokens sent (IN) and received (OUT), e.g.
    /// `gpt-4o-mini=0.15/0.60,mistral-small=0.1/0.3`. A model not listed is counted in
    /// tokens only.
    #[arg(long, env = "AGENTOPS_PRICES", value_delimiter = ',', value_parser = parse_price)]
    pub prices: Vec<Price>,

    /// The models people may choose for their personas, comma-separated, as the LLM
    /// provider names them (`llama-3.3-70b-instruct,mistral-small-3.1-24b-instruct-2503`):
    /// `GET /api/v1/models` lists them to every interface, and a persona naming another
    /// is refused. Empty: any model name is taken (the provider decides when it answers).
    #[arg(long, env = "AGENTOPS_PERSONA_MODELS", value_delimiter = ',')]
    pub persona_models: Vec<String>,

    /// Tokens proactive work (agents acting on their own) may spend per day: installed
    /// as the budget `default proactive` on first start (then managed with
    /// `/api/v1/budgets`); `0` installs none.
    #[arg(
        long,
        env = "AGENTOPS_PROACTIVE_DAILY_TOKENS",
        default_value_t = 7_000_000
    )]
    pub proactive_daily_tokens: u64,

    /// The time zone whose midnight starts the default budget's days (IANA name).
    #[arg(long, env = "AGENTOPS_BUDGET_TIME_ZONE", default_value = "UTC", value_parser = parse_time_zone)]
    pub budget_time_zone: chrono_tz::Tz,

    /// How long a budget reservation is held when its maker asks for no other time, in
    /// seconds; one neither settled nor released by then is released.
    #[arg(long, env = "AGENTOPS_RESERVATION_TTL_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub reservation_ttl_secs: u64,

    /// How tools agents write for themselves are approved: `review` (a person approves
    /// each from Telegram or the dashboard; until then only the task that made it may
    /// use it) or `auto` (approved when stored: for deployments whose agents are
    /// trusted).
    #[arg(long, env = "AGENTOPS_TOOL_APPROVAL", value_enum, default_value_t = ToolApproval::Review)]
    pub tool_approval: ToolApproval,

    /// How long a preview of a task's server is shown when its agent asks for no other
    /// time, in seconds (its server is stopped then, and `/preview/…` answers 410).
    #[arg(long, env = "AGENTOPS_PREVIEW_TTL_SECS", default_value_t = 1_800,
          value_parser = clap::value_parser!(u64).range(5..=86_400))]
    pub preview_ttl_secs: u64,

    /// The hosts previews may be forwarded to, comma-separated (the Seed workers'
    /// addresses as the API reaches them): a preview naming another upstream is refused,
    /// so that an agent key cannot make the API fetch what it should not.
    #[arg(
        long,
        env = "AGENTOPS_PREVIEW_UPSTREAMS",
        value_delimiter = ',',
        default_value = "127.0.0.1,localhost,::1"
    )]
    pub preview_upstreams: Vec<String>,
}

/// How new tools are approved (`AGENTOPS_TOOL_APPROVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolApproval {
    /// A person approves each one.
    Review,
    /// Approved when stored.
    Auto,
}

/// The price of one model, in US dollars per million tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    /// The model's name, as providers report it.
    pub model: String,
    /// Per million tokens sent.
    pub input: f64,
    /// Per million tokens received.
    pub output: f64,
}

/// Reads `MODEL=IN/OUT`.
fn parse_price(text: &str) -> Result<Price, String> {
    let (model, prices) = text
        .trim()
        .rsplit_once('=')
        .ok_or_else(|| format!("`{text}` is not MODEL=IN/OUT"))?;
    let (input, output) = prices
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not MODEL=IN/OUT"))?;
    let number = |value: &str| {
        value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && (0.0..=1_000_000.0).contains(n))
            .ok_or_else(|| format!("`{value}` in `{text}` is not a price between 0 and 1000000"))
    };
    let model = model.trim();
    if model.is_empty() {
        return Err(format!("`{text}` names no model"));
    }
    Ok(Price {
        model: model.to_owned(),
        input: number(input)?,
        output: number(output)?,
    })
}

/// Reads an IANA time zone name.
fn parse_time_zone(text: &str) -> Result<chrono_tz::Tz, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an IANA time zone (such as UTC or Europe/Paris)"))
}

impl ApiConfig {
    /// The configuration with every default, as if started with no flag and no variable.
    pub fn defaults() -> Self {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: ApiConfig,
        }
        <Wrapper as clap::Parser>::parse_from(["agentops"]).config
    }

    /// The master key secrets are sealed under, if one is set.
    pub fn master_key(&self) -> Option<agentops_sdk::secrets::MasterKey> {
        self.secret_key
            .as_deref()
            .and_then(|key| agentops_sdk::secrets::MasterKey::parse(key).ok())
    }

    /// The database URL in effect: `DATABASE_URL`, or the embedded SQLite file.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("agentops.db").display()
            ),
        }
    }

    /// The directory of the local artifact store.
    pub fn effective_artifacts_dir(&self) -> PathBuf {
        self.artifacts_dir
            .clone()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| self.data_dir.join("artifacts"))
    }

    /// The artifact bucket, if artifacts go to S3 (a blank `S3_BUCKET` counts as unset).
    pub fn s3_bucket(&self) -> Option<&str> {
        self.s3_bucket
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
    }

    /// The agent TTL as a duration.
    pub fn agent_ttl(&self) -> Duration {
        Duration::from_secs(self.agent_ttl_seconds)
    }

    /// The longest a client may take to send a request's headers.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// The longest wait for the next piece of a request body.
    pub fn db_acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.db_acquire_timeout_secs)
    }

    pub fn body_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.body_idle_timeout_secs)
    }

    /// Checks what clap cannot; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(key) = &self.admin_key
            && key.trim().len() < 32
        {
            return Err(
                "AGENTOPS_ADMIN_KEY must be at least 32 characters (use a random secret)"
                    .to_owned(),
            );
        }
        if let Some(key) = &self.secret_key
            && agentops_sdk::secrets::MasterKey::parse(key).is_err()
        {
            return Err(
                "AGENTOPS_SECRET_KEY must be 32 bytes written as base64 or 64 hex characters                  (e.g. `openssl rand -base64 32`)"
                    .to_owned(),
            );
        }
        let url = self.effective_database_url();
        if !(url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            return Err(format!(
                "DATABASE_URL must start with postgres://, postgresql:// or sqlite: (got `{}`)",
                url.split("://").next().unwrap_or_default()
            ));
        }
        if self.retry_max_ms < self.retry_base_ms {
            return Err(
                "AGENTOPS_RETRY_MAX_MS must not be below AGENTOPS_RETRY_BASE_MS".to_owned(),
            );
        }
        if self.max_body_bytes < 1024 {
            return Err("AGENTOPS_MAX_BODY_BYTES must be at least 1024".to_owned());
        }
        self.validate_s3()
    }

    fn validate_s3(&self) -> Result<(), String> {
        if self.s3_bucket().is_none() {
            return Ok(());
        }
        if let Some(endpoint) = self.s3_endpoint.as_deref().map(str::trim)
            && !endpoint.is_empty()
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(format!(
                "S3_ENDPOINT must be an http:// or https:// URL (got `{endpoint}`)"
            ));
        }
        let key = self
            .s3_access_key_id
            .as_deref()
            .is_some_and(|k| !k.is_empty());
        let secret = self
            .s3_secret_access_key
            .as_deref()
            .is_some_and(|k| !k.is_empty());
        if key != secret {
            return Err(
                "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together".to_owned(),
            );
        }
        if self.s3_region.trim().is_empty() {
            return Err("S3_REGION must not be empty".to_owned());
        }
        if self.s3_prefix.starts_with('/') || self.s3_prefix.len() > 512 {
            return Err(
                "AGENTOPS_S3_PREFIX must not start with `/` and must be at most 512 bytes"
                    .to_owned(),
            );
        }
        Ok(())
    }
}
