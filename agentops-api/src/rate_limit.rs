//! Per-key rate limits: `AGENTOPS_RATE_LIMIT_PER_SECOND` sustained, with bursts of up to
//! `AGENTOPS_RATE_LIMIT_BURST` requests (the generic cell rate algorithm, GCRA).
//!
//! With `REDIS_URL` set, every replica counts against one budget per key, kept in Redis:
//! one script call per request stores the key's *theoretical arrival time* under
//! `<prefix>rate:<key id>`, with Redis's own clock, so replicas need not agree on time.
//! Without Redis, or while it cannot be reached, each replica keeps the budget in memory
//! (so N replicas allow up to N times the rate): a request is never refused because Redis
//! is down, and waits for it at most `AGENTOPS_REDIS_TIMEOUT_MS` (250 ms). A failed or
//! late call puts the replica on its own budget for [`REDIS_BACKOFF`]; then one request
//! probes Redis while the others keep to the replica's budget, until the probe succeeds.
//! So an outage delays only the requests already waiting on Redis when it began.
//!
//! The script reads Redis's clock (`TIME`) before it writes, which needs Redis 5 or later
//! (effects replication); Scaleway's managed Redis is 7. A call whose connection broke is
//! tried once more; if the first try had in fact run, that request counts twice.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prometheus_client::metrics::counter::Counter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::config::ApiConfig;

/// How long a replica keeps to its own budget after Redis failed it.
pub const REDIS_BACKOFF: Duration = Duration::from_secs(5);

/// GCRA over the key's theoretical arrival time (TAT), in microseconds of Redis's clock.
/// `ARGV[1]`: the emission interval (one request's share of a second); `ARGV[2]`: the
/// burst tolerance (burst × interval). Answers 0 when the request may go, else how many
/// microseconds until it could.
const GCRA: &str = r"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local next_tat = tat + interval
local wait = next_tat - tolerance - now
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return 0
";

/// A request over its key's budget: it may be retried after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub retry_after: Duration,
}

/// The per-key budgets of this replica (and, with Redis, of all replicas).
pub struct RateLimits {
    local: DefaultKeyedRateLimiter<Uuid>,
    shared: Option<Shared>,
}

struct Shared {
    client: redis::Client,
    connection: OnceCell<ConnectionManager>,
    script: redis::Script,
    prefix: String,
    /// One request's share of a second, in whole microseconds (rounded down: a rate that
    /// does not divide a million runs a little fast).
    interval_us: u64,
    tolerance_us: u64,
    timeout: Duration,
    health: Mutex<Health>,
    fallbacks: Counter,
}

/// Whether this replica counts on Redis right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// The last call answered: every request asks Redis.
    Answering,
    /// A call failed: the replica keeps to its own budget until then.
    BackingOff(Instant),
    /// One request is asking Redis again (since then); the others keep to the
    /// replica's budget. A probe abandoned half-way (its request dropped) is taken over
    /// once it is older than the timeout.
    Probing(Instant),
}

impl RateLimits {
    /// The budgets `cfg` sets, shared through `cfg.redis_url` when there is one;
    /// `fallbacks` counts the times Redis fails and the replica keeps its own.
    pub fn new(cfg: &ApiConfig, fallbacks: Counter) -> Self {
        let per_second = NonZeroU32::new(cfg.rate_limit_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.rate_limit_burst).unwrap_or(NonZeroU32::MIN);
        let shared = cfg
            .redis_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .and_then(|url| match crate::redis_client::client(url, cfg) {
                Ok(client) => Some(client),
                Err(err) => {
                    tracing::error!(error = %err, "rate limits stay per replica: no Redis client");
                    None
                }
            })
            .map(|client| {
                let interval_us = (1_000_000 / u64::from(per_second.get())).max(1);
                Shared {
                    client,
                    connection: OnceCell::new(),
                    script: redis::Script::new(GCRA),
                    prefix: format!("{}rate:", cfg.redis_prefix),
                    interval_us,
                    tolerance_us: interval_us * u64::from(burst.get()),
                    timeout: Duration::from_millis(cfg.redis_timeout_ms),
                    health: Mutex::new(Health::Answering),
                    fallbacks,
                }
            });
        Self {
            local: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            shared,
        }
    }

    /// Counts one request against `key_id`'s budget.
    pub async fn check(&self, key_id: Uuid) -> Result<(), Limited> {
        if let Some(shared) = &self.shared
            && let Some(answer) = shared.check(key_id).await
        {
            return answer;
        }
        self.local.check_key(&key_id).map_err(|not_until| Limited {
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }

    /// Whether the budgets are shared between replicas right now: Redis is configured
    /// and its last call answered.
    pub fn shared(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|shared| *shared.health() == Health::Answering)
    }
}

impl Shared {
    /// The shared answer, or `None` when Redis cannot give one (now, or recently).
    async fn check(&self, key_id: Uuid) -> Option<Result<(), Limited>> {
        {
            let mut health = self.health();
            match *health {
                Health::Answering => {}
                Health::BackingOff(until) if Instant::now() >= until => {
                    *health = Health::Probing(Instant::now());
                }
                Health::Probing(since) if since.elapsed() > self.timeout => {
                    *health = Health::Probing(Instant::now());
                }
                Health::BackingOff(_) | Health::Probing(_) => return None,
            }
        }
        let answer = match tokio::time::timeout(self.timeout, self.call(key_id)).await {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(wait_us)) => Err(Limited {
                retry_after: Duration::from_micros(wait_us),
            }),
            Ok(Err(err)) => {
                self.back_off(&err.to_string());
                return None;
            }
            Err(_) => {
                self.back_off("no answer in time");
                return None;
            }
        };
        *self.health() = Health::Answering;
        Some(answer)
    }

    async fn call(&self, key_id: Uuid) -> redis::RedisResult<u64> {
        let connection = self
            .connection
            .get_or_try_init(|| {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config)
            })
            .await?;
        let mut invocation = self.script.key(format!("{}{key_id}", self.prefix));
        invocation.arg(self.interval_us).arg(self.tolerance_us);
        match invocation.invoke_async(&mut connection.clone()).await {
            // The connection broke (Redis restarted, a failover): the manager reconnects,
            // and a second try waits for that rather than giving up on Redis at once.
            Err(err) if err.is_io_error() || err.is_connection_dropped() => {
                invocation.invoke_async(&mut connection.clone()).await
            }
            answer => answer,
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn back_off(&self, reason: &str) {
        let mut health = self.health();
        // Counted and logged once an outage, not at every failed probe.
        if *health == Health::Answering {
            self.fallbacks.inc();
            tracing::warn!(
                reason,
                "rate limits fall back to this replica's own budget for {}s: Redis failed",
                REDIS_BACKOFF.as_secs()
            );
        }
        *health = Health::BackingOff(Instant::now() + REDIS_BACKOFF);
    }
}
