//! Prometheus metrics, rendered in the text exposition format at `/metrics`.
//!
//! Counters and histograms live in memory per process (each replica is scraped on its
//! own); the queue depth is read from the database at scrape time, so every replica
//! reports the same, true figure.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of an HTTP request metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// The route template (`/api/v1/tasks/{id}`), never the raw path.
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of a latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// HTTP method.
    pub method: String,
    /// The route template.
    pub route: String,
}

/// Labels of the queue-depth gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    /// Task status.
    pub status: String,
}

/// Labels of the group-commit counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    /// `claim` or `complete`.
    pub kind: &'static str,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Requests by method, route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Request latency by method and route.
    pub latency: Family<RouteLabels, Histogram>,
    /// Tasks by status (refreshed at each scrape).
    pub tasks: Family<StatusLabels, Gauge>,
    /// Tasks handed out by claims.
    pub claims: Counter,
    /// Leases that expired and were reaped.
    pub lease_expiries: Counter,
    /// Events written to the log.
    pub events_written: Counter,
    /// Stream subscribers closed for falling too far behind (close code 4000).
    pub slow_subscribers: Counter,
    /// Times this replica stopped sharing rate limits through Redis (it failed or was
    /// late) and kept to its own budget.
    pub rate_limit_fallbacks: Counter,
    /// Shared transactions of batched writes (see [`crate::coalesce`]), by kind.
    pub write_batches: Family<WriteLabels, Counter>,
    /// Calls carried by those transactions, by kind: divided by the batches, how many
    /// requests shared each commit.
    pub write_batch_calls: Family<WriteLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("agentops");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        let tasks = Family::<StatusLabels, Gauge>::default();
        let claims = Counter::default();
        let lease_expiries = Counter::default();
        let events_written = Counter::default();
        let slow_subscribers = Counter::default();
        let rate_limit_fallbacks = Counter::default();
        let write_batches = Family::<WriteLabels, Counter>::default();
        let write_batch_calls = Family::<WriteLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register("tasks", "Tasks by status", tasks.clone());
        registry.register("task_claims", "Tasks handed out by claims", claims.clone());
        registry.register(
            "lease_expiries",
            "Task leases that expired and were reaped",
            lease_expiries.clone(),
        );
        registry.register(
            "events_written",
            "Events written to the log",
            events_written.clone(),
        );
        registry.register(
            "event_subscribers_too_slow",
            "Event stream subscribers closed for falling too far behind (code 4000)",
            slow_subscribers.clone(),
        );
        registry.register(
            "rate_limit_redis_fallbacks",
            "Times this replica fell back to its own rate-limit budgets because Redis failed",
            rate_limit_fallbacks.clone(),
        );
        registry.register(
            "write_batches",
            "Transactions that carried batched task claims or completions",
            write_batches.clone(),
        );
        registry.register(
            "write_batch_calls",
            "Requests carried by batched transactions of task claims or completions",
            write_batch_calls.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            tasks,
            claims,
            lease_expiries,
            events_written,
            slow_subscribers,
            rate_limit_fallbacks,
            write_batches,
            write_batch_calls,
        }
    }
}

impl Metrics {
    /// Counts a transaction of `kind` that carried `calls` requests.
    pub fn write_batch(&self, kind: &'static str, calls: usize) {
        let labels = WriteLabels { kind };
        self.write_batches.get_or_create(&labels).inc();
        self.write_batch_calls
            .get_or_create(&labels)
            .inc_by(calls as u64);
    }

    /// Also exports how long events take to cross Redis from the replica that committed
    /// them ([`crate::events::Events::redis_lag`]).
    pub fn with_redis_lag(mut self, lag: Histogram) -> Self {
        self.registry.register(
            "event_redis_lag_seconds",
            "Time from an event's commit on any replica to its arrival here over Redis",
            lag,
        );
        self
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
