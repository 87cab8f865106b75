//! `agentops-bench`: measurements of the platform's own code paths against a floor that
//! does not depend on our code, run on this machine (loopback only). Each benchmark
//! prints its figures for people and, with `--json`, one JSON object per run as the last
//! lines for scripts. docs/benchmarks.md has the figures and how to read them.
//!
//! Benchmarks are not tests: they assert nothing beyond the correctness of what they
//! measured (every task completed exactly once, every event delivered once, every byte
//! verified). `tests/bench_smoke.rs` runs each at a toy size in CI so none rots.
//!
//! The API under test runs as a child process of this binary (`agentops-bench api`, a
//! hidden command that runs exactly what `agentops api` runs), so its memory and CPU are
//! measured apart from the benchmark's clients. This crate is not published and the
//! `agentops` binary carries none of it.

mod artifacts;
mod claim;
mod dashboard;
mod events;
mod fanout_baseline;
mod process;

use clap::{Parser, Subcommand};

/// jemalloc, as in the `agentops` binary: the API under test must allocate as it does in
/// production (see `src/main.rs` of the `agentops` package).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Benchmarks of AgentOps that print their figures (loopback only).
#[derive(Debug, Parser)]
#[command(name = "agentops-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Live-event latency and delivery at many WebSocket subscribers.
    Events(events::EventsBenchArgs),
    /// Artifact upload/download throughput and API memory against copying directly.
    Artifacts(artifacts::ArtifactsBenchArgs),
    /// Claim throughput end to end (HTTP + SDK) against the same job in minimal SQL.
    Claim(claim::ClaimBenchArgs),
    /// Dashboard pages' time to first byte with many tasks, against their minimal SQL.
    Dashboard(dashboard::DashboardBenchArgs),
    /// The bare fan-out server `events --baseline` starts as a child process.
    #[command(hide = true)]
    FanoutBaselineServer(fanout_baseline::BaselineServerArgs),
    /// The API under test, started by the benchmarks as a child process: exactly
    /// `agentops api`, configured from the environment.
    #[command(hide = true)]
    Api,
}

/// `value` rounded to two decimals, for reports.
pub(crate) fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    if let Command::Api = command {
        // The product's own command line, so the settings and their environment
        // variables are the product's.
        let api = agentops::cli::Cli::try_parse_from(["agentops", "api"])?;
        return agentops::cli::run(api).await;
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    init_tracing();
    match command {
        Command::Events(args) => events::run(args).await,
        Command::Artifacts(args) => artifacts::run(args).await,
        Command::Claim(args) => claim::run(args).await,
        Command::Dashboard(args) => dashboard::run(args).await,
        Command::FanoutBaselineServer(args) => fanout_baseline::serve(args).await,
        Command::Api => unreachable!("handled above"),
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,tower_http=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
