//! `agentops bench claim`: end-to-end claim throughput through HTTP and the SDK, against
//! the same claim + complete issued straight to PostgreSQL, in one run.
//!
//! The API runs in this process on `127.0.0.1:0` over a database of its own
//! (`agentops_bench_<random>`, dropped at the end). For each batch size:
//!
//! - **SDK**: `N` tasks are enqueued, then `W` workers (each an SDK [`Client`] and its
//!   own registered agent) loop `claim(limit = B)` → `complete` each task with a tiny
//!   result, until a claim comes back empty.
//! - **Baseline**: the same with `agentops_api::domain::tasks::{claim, complete}` called
//!   directly on the server's own state: the very SQL the HTTP handlers run, with the
//!   same transactions, event outbox writes and connection pool, but no HTTP, JSON or
//!   SDK. The ratio is therefore the cost of the HTTP + SDK layers alone.
//!
//! Each side runs in `--rounds` parts, the two sides taking turns, and each part starts
//! on a freshly vacuumed table: on a shared machine, load from elsewhere and the history
//! of the table then weigh on both alike. Enqueueing and vacuuming are not timed. Both
//! sides run on the same runtime and cores as the API, as a worker fleet on one machine
//! would.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agentops_api::auth::Caller;
use agentops_api::state::AppState;
use agentops_sdk::Client;
use agentops_sdk::types::{AgentIn, ClaimIn, CompleteIn, ProjectIn, Role, TaskIn};
use anyhow::{Context, bail};
use clap::Args;
use sea_orm::{ConnectionTrait, Database, DbBackend, FromQueryResult, Statement};
use serde::Serialize;
use uuid::Uuid;

/// Options of `agentops bench claim`.
#[derive(Debug, Args)]
pub struct ClaimBenchArgs {
    /// PostgreSQL server to create the benchmark database on (any database of it; the
    /// benchmark creates `agentops_bench_<random>` and drops it at the end).
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub database_url: String,
    /// Tasks per run.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub tasks: u64,
    /// Concurrent workers.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub workers: u32,
    /// Claim batch sizes to measure, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,10",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub batch: Vec<u32>,
    /// Rounds per batch size: each side runs `tasks / rounds` tasks per round, the two
    /// sides taking turns, so load from elsewhere on the machine weighs on both alike.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: u64,
    /// Database connections of the API's pool (shared by both sides).
    #[arg(long, default_value_t = 20)]
    pub db_connections: u32,
    /// Print one JSON object per run as the last lines.
    #[arg(long)]
    pub json: bool,
}

/// The outcome of one batch size.
#[derive(Debug, Serialize)]
pub struct RunResult {
    /// Tasks per claim.
    pub batch: u32,
    /// Concurrent workers.
    pub workers: u32,
    /// Tasks per side.
    pub tasks: u64,
    /// End-to-end throughput through HTTP and the SDK.
    pub tasks_per_sec: f64,
    /// Throughput of the same calls made directly on the server's state.
    pub baseline_tasks_per_sec: f64,
    /// `tasks_per_sec / baseline_tasks_per_sec`.
    pub ratio: f64,
    /// Whether, on both sides, every task was completed exactly once.
    pub completed_once: bool,
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: ClaimBenchArgs) -> anyhow::Result<()> {
    let bench_db = BenchDatabase::create(&args.database_url).await?;
    let outcome = run_on(&args, &bench_db.url).await;
    bench_db.drop_now().await;
    let results = outcome?;
    println!();
    println!("batch  workers  tasks   sdk tasks/s  baseline tasks/s  ratio  completed once");
    for r in &results {
        println!(
            "{:>5}  {:>7}  {:>6}  {:>11.0}  {:>16.0}  {:>5.2}  {}",
            r.batch,
            r.workers,
            r.tasks,
            r.tasks_per_sec,
            r.baseline_tasks_per_sec,
            r.ratio,
            if r.completed_once { "yes" } else { "NO" }
        );
    }
    if args.json {
        for r in &results {
            println!("{}", serde_json::to_string(r)?);
        }
    }
    if results.iter().any(|r| !r.completed_once) {
        bail!("some tasks were not completed exactly once");
    }
    Ok(())
}

async fn run_on(args: &ClaimBenchArgs, database_url: &str) -> anyhow::Result<Vec<RunResult>> {
    let data_dir = tempfile::tempdir()?;
    let admin_key = format!("bench-admin-{}", Uuid::new_v4().simple());
    let mut cfg = agentops_api::config::ApiConfig::defaults();
    cfg.database_url = Some(database_url.to_owned());
    cfg.data_dir = data_dir.path().to_path_buf();
    cfg.admin_key = Some(admin_key.clone());
    cfg.redis_url = None;
    cfg.rate_limit_per_second = 10_000_000;
    cfg.rate_limit_burst = 10_000_000;
    cfg.db_max_connections = args.db_connections;
    let server = agentops_api::Server::start(cfg).await?;
    let state = server.state().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(listener, async {
        let _ = stopped.await;
    }));

    let client = Client::builder()
        .base_url(&base)
        .api_key(&admin_key)
        .timeout(Duration::from_secs(60))
        .build()?;
    let caller = Caller {
        key_id: Uuid::new_v4(),
        role: Role::Admin,
    };
    let mut agents = Vec::new();
    for i in 0..args.workers {
        let agent = client
            .agents()
            .register(AgentIn {
                name: format!("bench-{i}"),
                ..Default::default()
            })
            .await?;
        agents.push(agent.id);
    }

    let mut results = Vec::new();
    for &batch in &args.batch {
        eprintln!(
            "batch {batch}: {} tasks, {} workers, {} rounds",
            args.tasks, args.workers, args.rounds
        );
        let mut sdk = Side::default();
        let mut base = Side::default();
        let rounds = args.rounds.min(args.tasks);
        for round in 0..rounds {
            let n = args.tasks / rounds + u64::from(round < args.tasks % rounds);
            // Alternate which side goes first, so background load and table history
            // weigh on both alike.
            for side in if round % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            } {
                let project = enqueue(&state, &caller, n).await?;
                vacuum(&state).await?;
                let (secs, done) = if side {
                    through_sdk(&client, &agents, batch)
                        .await
                        .context("SDK run")?
                } else {
                    baseline(&state, &agents, batch)
                        .await
                        .context("baseline run")?
                };
                let ok = done == n && completed_once(&state, project, n).await?;
                let totals = if side { &mut sdk } else { &mut base };
                totals.secs += secs;
                totals.tasks += done;
                totals.ok &= ok;
                eprintln!(
                    "  round {}: {:<8} {:>6.0} tasks/s",
                    round + 1,
                    if side { "sdk" } else { "baseline" },
                    done as f64 / secs
                );
            }
        }
        let sdk_rate = sdk.tasks as f64 / sdk.secs;
        let baseline_rate = base.tasks as f64 / base.secs;
        results.push(RunResult {
            batch,
            workers: args.workers,
            tasks: args.tasks,
            tasks_per_sec: round(sdk_rate),
            baseline_tasks_per_sec: round(baseline_rate),
            ratio: (sdk_rate / baseline_rate * 1000.0).round() / 1000.0,
            completed_once: sdk.ok
                && base.ok
                && sdk.tasks == args.tasks
                && base.tasks == args.tasks,
        });
    }

    let _ = stop.send(());
    serving.await??;
    state.db.clone().close().await.ok();
    Ok(results)
}

/// Time and tasks of one side over the rounds.
struct Side {
    secs: f64,
    tasks: u64,
    ok: bool,
}

impl Default for Side {
    fn default() -> Self {
        Self {
            secs: 0.0,
            tasks: 0,
            ok: true,
        }
    }
}

/// Clears dead rows and refreshes statistics (untimed), so each run starts from the same
/// table state whatever ran before it.
async fn vacuum(state: &AppState) -> anyhow::Result<()> {
    for table in ["tasks", "events"] {
        state
            .db
            .execute_unprepared(&format!("VACUUM ANALYZE {table}"))
            .await
            .with_context(|| format!("cannot vacuum {table}"))?;
    }
    Ok(())
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Creates a project with `n` queued tasks (untimed), straight through the domain layer.
async fn enqueue(state: &AppState, caller: &Caller, n: u64) -> anyhow::Result<Uuid> {
    let project = agentops_api::domain::projects::create(
        state,
        caller,
        ProjectIn {
            name: format!("bench-{}", Uuid::new_v4().simple()),
            ..Default::default()
        },
        None,
    )
    .await
    .map_err(|err| anyhow::anyhow!("cannot create the project: {err:?}"))?
    .value
    .id;
    let next = Arc::new(AtomicU64::new(0));
    let mut fillers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (state, caller, next) = (state.clone(), caller.clone(), next.clone());
        fillers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let input = TaskIn {
                    project_id: project,
                    title: format!("bench task {i}"),
                    kind: Some("bench".into()),
                    input: Some(serde_json::json!({ "i": i })),
                    ..Default::default()
                };
                agentops_api::domain::tasks::create(&state, &caller, input, None)
                    .await
                    .map_err(|err| anyhow::anyhow!("cannot enqueue: {err:?}"))?;
            }
        });
    }
    while let Some(filled) = fillers.join_next().await {
        filled??;
    }
    Ok(project)
}

fn claim_input(agent_id: Uuid, batch: u32) -> ClaimIn {
    ClaimIn {
        agent_id,
        kinds: Some(vec!["bench".into()]),
        labels: None,
        project_id: None,
        limit: Some(batch),
        lease_seconds: Some(300),
    }
}

fn tiny_result() -> Option<serde_json::Value> {
    Some(serde_json::json!({ "ok": true }))
}

/// `W` SDK workers claim and complete until the queue is empty; returns the elapsed
/// seconds and the number of tasks completed.
async fn through_sdk(client: &Client, agents: &[Uuid], batch: u32) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for &agent in agents {
        let client = client.clone();
        workers.spawn(async move {
            let mut done = 0u64;
            loop {
                let claimed = client.tasks().claim(claim_input(agent, batch)).await?.tasks;
                if claimed.is_empty() {
                    return Ok::<_, agentops_sdk::Error>(done);
                }
                for task in claimed {
                    client
                        .tasks()
                        .complete(
                            task.task.id,
                            CompleteIn {
                                claim_token: task.claim_token,
                                result: tiny_result(),
                            },
                        )
                        .await?;
                    done += 1;
                }
            }
        });
    }
    let mut total = 0;
    while let Some(done) = workers.join_next().await {
        total += done??;
    }
    Ok((started.elapsed().as_secs_f64(), total))
}

/// The same loop on the server's own domain functions, without HTTP.
async fn baseline(state: &AppState, agents: &[Uuid], batch: u32) -> anyhow::Result<(f64, u64)> {
    use agentops_api::domain::tasks;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for &agent in agents {
        let state = state.clone();
        workers.spawn(async move {
            let mut done = 0u64;
            loop {
                let claimed = tasks::claim(&state, claim_input(agent, batch), None)
                    .await
                    .map_err(|err| anyhow::anyhow!("claim: {err:?}"))?
                    .value
                    .tasks;
                if claimed.is_empty() {
                    return Ok::<_, anyhow::Error>(done);
                }
                for task in claimed {
                    let input = CompleteIn {
                        claim_token: task.claim_token,
                        result: tiny_result(),
                    };
                    tasks::complete(&state, task.task.id, input)
                        .await
                        .map_err(|err| anyhow::anyhow!("complete: {err:?}"))?;
                    done += 1;
                }
            }
        });
    }
    let mut total = 0;
    while let Some(done) = workers.join_next().await {
        total += done??;
    }
    Ok((started.elapsed().as_secs_f64(), total))
}

#[derive(Debug, FromQueryResult)]
struct Counts {
    completed: i64,
    events: i64,
    distinct_tasks: i64,
}

/// Whether all `n` tasks of `project` are completed and each has exactly one
/// `task.completed` event.
async fn completed_once(state: &AppState, project: Uuid, n: u64) -> anyhow::Result<bool> {
    let counts = Counts::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT \
           (SELECT COUNT(*) FROM tasks WHERE project_id = $1 AND status = 'completed') AS completed, \
           (SELECT COUNT(*) FROM events WHERE project_id = $1 AND type = 'task.completed') AS events, \
           (SELECT COUNT(DISTINCT task_id) FROM events WHERE project_id = $1 AND type = 'task.completed') AS distinct_tasks",
        [project.into()],
    ))
    .one(&state.db)
    .await?
    .context("no counts")?;
    let n = i64::try_from(n)?;
    Ok(counts.completed == n && counts.events == n && counts.distinct_tasks == n)
}

/// The benchmark's own database, dropped at the end.
struct BenchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl BenchDatabase {
    async fn create(admin_url: &str) -> anyhow::Result<Self> {
        if !admin_url.starts_with("postgres") {
            bail!(
                "the claim benchmark needs PostgreSQL (got {})",
                agentops_api::redact(admin_url)
            );
        }
        let name = format!("agentops_bench_{}", Uuid::new_v4().simple());
        let admin = Database::connect(admin_url)
            .await
            .with_context(|| format!("cannot connect to {}", agentops_api::redact(admin_url)))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .context("cannot create the benchmark database")?;
        admin.close().await.ok();
        let url = agentops_api::store::with_database_name(admin_url, &name);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    async fn drop_now(self) {
        if let Ok(admin) = Database::connect(&self.admin_url).await {
            let _ = admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                ))
                .await;
            admin.close().await.ok();
        }
    }
}
