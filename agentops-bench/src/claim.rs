//! `agentops-bench claim`: end-to-end claim throughput through HTTP and the SDK, against
//! the same job done by the minimal SQL, in one run.
//!
//! Everything runs over one database of its own (`agentops_bench_<random>`, dropped at
//! the end) on the given PostgreSQL server. For each batch size `B`:
//!
//! - **Raw SQL** (the baseline, independent of our code): a table of the benchmark's own
//!   (`bench_raw_tasks`, just an id, a status, a claim token and a result) and `W`
//!   workers, each on its own connection, that loop: claim up to `B` queued rows with one
//!   `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED LIMIT B)`, then complete each
//!   row with one `UPDATE` in its own commit, until a claim comes back empty. That is
//!   the floor of this database and machine for the job: no HTTP, no auth, no events.
//! - **API × 1**: `agentops api` as a child process on `127.0.0.1`, and `W` SDK
//!   workers (each a [`Client`] and its own registered agent) that loop
//!   `claim(limit = B)` → complete what they got with a tiny result: one
//!   `POST /tasks/{id}/complete` for a single task, one `POST /tasks/complete` (the
//!   batched protocol, one transaction) for several.
//! - **API × 2**: the same with two `agentops api` processes on the same database, the
//!   workers split between them. The second runs only for these parts: left idle
//!   through the others, it would still follow the first one's events (from the log, or
//!   from Redis with `--redis-url`) and tax them.
//!
//! Each side runs in `--rounds` parts, the sides taking turns in a rotating order, and
//! each part starts on a freshly vacuumed table: on a shared machine, load from
//! elsewhere and the history of the tables then weigh on every side alike. Enqueueing and
//! vacuuming are not timed. The workers run in this process, on the same two cores as
//! the API processes, as a worker fleet on one machine would.
//!
//! Correctness is checked on every side: every task completed exactly once, and for the
//! API each with exactly one `task.completed` event.
//!
//! Where the CPU went is measured on every side too (from `/proc`): milliseconds of CPU
//! per task of PostgreSQL's processes, of the API processes, and of this process (the
//! workers, or the raw SQL's connections). On a machine whose cores are all busy, that
//! is what decides the throughput.
//!
//! And the write-ahead log each side makes the server write per task (from
//! `pg_current_wal_insert_lsn()` before and after each timed part): what every commit
//! has to flush, and a direct measure of how much each side writes for the same job.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agentops_api::auth::Caller;
use agentops_api::state::AppState;
use agentops_sdk::Client;
use agentops_sdk::types::{
    AgentIn, BatchItemOut, ClaimIn, ClaimedTask, CompleteIn, CompleteItem, CompleteManyIn,
    ProjectIn, Role, TaskIn,
};
use anyhow::{Context, bail};
use clap::Args;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, FromQueryResult,
    Statement,
};
use serde::Serialize;
use uuid::Uuid;

use crate::process::{ApiProcess, cpu_by_pid, cpu_since, own_cpu_seconds};

/// Options of `agentops-bench claim`.
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
    /// Database connections of each API process's pool.
    #[arg(long, default_value_t = 20)]
    pub db_connections: u32,
    /// Also run the API side with two API processes on the same database.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub two_replicas: bool,
    /// Caps each API process at this much CPU (in cores: 0.25 is a quarter of one),
    /// in a Linux control group of its own (needs write access to `/sys/fs/cgroup`).
    /// Here every process shares the same cores, so a second replica can only add CPU
    /// the database then lacks; capped, each replica is limited by its own share, as on
    /// a machine of its own, and whether two replicas add capacity or queue on each
    /// other shows.
    #[arg(long, value_parser = parse_cores)]
    pub api_cpu: Option<f64>,
    /// Redis for the API processes (`REDIS_URL`), under a key prefix of this run's own,
    /// as replicas are deployed: each gets the others' events through it rather than by
    /// reading them back from the log, and every request is counted against its key's
    /// rate limit there. `none` (the default): every API process on the embedded
    /// defaults, as the README's first command runs it.
    #[arg(long, env = "BENCH_CLAIM_REDIS_URL", default_value = "none")]
    pub redis_url: String,
    /// Print one JSON object per run as the last lines.
    #[arg(long)]
    pub json: bool,
    /// How the SDK workers report what they finished: with their next claim (`with-claim`,
    /// `POST /tasks/claim` with `complete`: one request per round) or in requests of its
    /// own (`apart`: `POST /tasks/{id}/complete` or `POST /tasks/complete`, then the claim).
    #[arg(long, value_enum, default_value_t = Reporting::WithClaim)]
    pub report: Reporting,
}

/// How SDK workers report the tasks they finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reporting {
    /// In the next claim request.
    WithClaim,
    /// In a request of their own before the next claim.
    Apart,
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
    /// Throughput of the minimal SQL doing the same job on a table of its own.
    pub baseline_tasks_per_sec: f64,
    /// End-to-end throughput through HTTP and the SDK, one API process.
    pub tasks_per_sec: f64,
    /// `tasks_per_sec / baseline_tasks_per_sec`.
    pub ratio: f64,
    /// The same with two API processes on one database (unless `--two-replicas false`).
    pub two_replicas_tasks_per_sec: Option<f64>,
    /// `two_replicas_tasks_per_sec / baseline_tasks_per_sec`.
    pub two_replicas_ratio: Option<f64>,
    /// Whether, on every side, every task was completed exactly once.
    pub completed_once: bool,
    /// The CPU cap of each API process, in cores (`--api-cpu`; absent: none).
    pub api_cpu_cap: Option<f64>,
    /// Where the CPU went, in CPU milliseconds per task, for each side (`raw_sql`,
    /// `api_x1`, `api_x2`); absent where `/proc` cannot be read.
    pub cpu_ms_per_task: Option<serde_json::Map<String, serde_json::Value>>,
    /// Bytes of write-ahead log the server wrote per task, for each side (`raw_sql`,
    /// `api_x1`, `api_x2`): what each commit has to flush to disk.
    pub wal_bytes_per_task: serde_json::Map<String, serde_json::Value>,
}

/// CPU milliseconds per task of one side: PostgreSQL's processes, the API processes, and
/// this process (the workers, or the raw SQL's clients).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuPerTask {
    /// Every `postgres` process of the machine (the benchmark's database is the only
    /// busy one).
    pub postgres: f64,
    /// The API processes under test (none for the raw SQL).
    pub api: f64,
    /// The benchmark's own process: SDK workers, or the raw SQL's connections.
    pub workers: f64,
}

/// A CPU share in cores, more than 0 and at most 64.
fn parse_cores(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(cores) if (0.01..=64.0).contains(&cores) => Ok(cores),
        _ => Err(format!("{text:?} is not a number of cores from 0.01 to 64")),
    }
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: ClaimBenchArgs) -> anyhow::Result<()> {
    let bench_db = BenchDatabase::create(&args.database_url).await?;
    let outcome = run_on(&args, &bench_db.url).await;
    bench_db.drop_now().await;
    let results = outcome?;
    println!();
    if let Some(cores) = args.api_cpu {
        println!("each API process capped at {cores} core(s) of CPU time");
    }
    println!(
        "batch  workers  tasks   raw SQL tasks/s  API x1 tasks/s  ratio  API x2 tasks/s  ratio  completed once"
    );
    for r in &results {
        println!(
            "{:>5}  {:>7}  {:>6}  {:>15.0}  {:>14.0}  {:>5.2}  {:>14}  {:>5}  {}",
            r.batch,
            r.workers,
            r.tasks,
            r.baseline_tasks_per_sec,
            r.tasks_per_sec,
            r.ratio,
            r.two_replicas_tasks_per_sec
                .map_or("-".to_owned(), |v| format!("{v:.0}")),
            r.two_replicas_ratio
                .map_or("-".to_owned(), |v| format!("{v:.2}")),
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

/// One side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Runner {
    RawSql,
    Api { replicas: usize },
}

async fn run_on(args: &ClaimBenchArgs, database_url: &str) -> anyhow::Result<Vec<RunResult>> {
    let data_dir = tempfile::tempdir()?;
    let admin_key = format!("bench-admin-{}", Uuid::new_v4().simple());
    // The benchmark's own view of the database (migrations, enqueueing, checks); it
    // serves no requests.
    let mut cfg = agentops_api::config::ApiConfig::defaults();
    cfg.database_url = Some(database_url.to_owned());
    cfg.data_dir = data_dir.path().to_path_buf();
    cfg.admin_key = Some(admin_key.clone());
    cfg.redis_url = None;
    cfg.db_max_connections = 10;
    let state = AppState::connect(cfg).await?;
    let raw = RawQueue::create(database_url, args.workers).await?;

    // The API processes: the first runs throughout; the second only for the parts run
    // through two (idle, it would still follow the first's events, and tax its parts).
    let redis_prefix = format!("agentops_bench_{}:", Uuid::new_v4().simple());
    let replica = Replica {
        args,
        database_url,
        admin_key: &admin_key,
        data_dir: data_dir.path(),
        redis_prefix: &redis_prefix,
    };
    let first = replica.start(0).await?;
    let caller = Caller {
        key_id: Uuid::new_v4(),
        role: Role::Admin,
    };
    let mut agents = Vec::new();
    for i in 0..args.workers {
        let agent = first
            .1
            .agents()
            .register(AgentIn {
                name: format!("bench-{i}"),
                ..Default::default()
            })
            .await?;
        agents.push(agent.id);
    }

    let mut runners = vec![Runner::RawSql, Runner::Api { replicas: 1 }];
    if args.two_replicas {
        runners.push(Runner::Api { replicas: 2 });
    }
    let mut results = Vec::new();
    for &batch in &args.batch {
        eprintln!(
            "batch {batch}: {} tasks, {} workers, {} rounds",
            args.tasks, args.workers, args.rounds
        );
        let mut totals = vec![Side::default(); runners.len()];
        let rounds = args.rounds.min(args.tasks);
        for round in 0..rounds {
            let n = args.tasks / rounds + u64::from(round < args.tasks % rounds);
            // Rotate which side goes first, so background load and table history weigh
            // on every side alike.
            for k in 0..runners.len() {
                let which = (k + round as usize) % runners.len();
                let runner = runners[which];
                let second = match runner {
                    Runner::Api { replicas: 2 } => Some(replica.start(1).await?),
                    _ => None,
                };
                let mut apis = Vec::new();
                let mut clients = Vec::new();
                if runner != Runner::RawSql {
                    for (api, client) in std::iter::once(&first).chain(&second) {
                        apis.push(api);
                        clients.push(client.clone());
                    }
                }
                let in_use = &apis[..];
                let (secs, done, ok, cpu, wal) = match runner {
                    Runner::RawSql => {
                        raw.enqueue(n).await?;
                        raw.vacuum().await?;
                        let wal = wal_position(&state.db).await?;
                        let cpu = CpuMark::now(in_use);
                        let (secs, done) = raw.run(batch).await.context("raw SQL run")?;
                        let cpu = cpu_used(cpu, in_use);
                        let wal = wal_position(&state.db).await? - wal;
                        (secs, done, done == n && raw.completed(n).await?, cpu, wal)
                    }
                    Runner::Api { .. } => {
                        let project = enqueue(&state, &caller, n).await?;
                        vacuum(&state).await?;
                        let wal = wal_position(&state.db).await?;
                        let cpu = CpuMark::now(in_use);
                        let (secs, done) = through_sdk(&clients, &agents, batch, args.report)
                            .await
                            .context("SDK run")?;
                        let cpu = cpu_used(cpu, in_use);
                        let wal = wal_position(&state.db).await? - wal;
                        (
                            secs,
                            done,
                            done == n && completed_once(&state, project, n).await?,
                            cpu,
                            wal,
                        )
                    }
                };
                let side = &mut totals[which];
                side.secs += secs;
                side.tasks += done;
                side.wal_bytes += wal;
                side.ok &= ok;
                side.cpu = side.cpu.zip(cpu).map(|(a, b)| CpuPerTask {
                    postgres: a.postgres + b.postgres,
                    api: a.api + b.api,
                    workers: a.workers + b.workers,
                });
                eprintln!(
                    "  round {}: {:<10} {:>6.0} tasks/s",
                    round + 1,
                    match runner {
                        Runner::RawSql => "raw SQL".to_owned(),
                        Runner::Api { replicas } => format!("API x{replicas}"),
                    },
                    done as f64 / secs
                );
            }
        }
        let mut cpu = serde_json::Map::new();
        let mut cpu_line = Vec::new();
        let mut wal = serde_json::Map::new();
        let mut wal_line = Vec::new();
        for (runner, side) in runners.iter().zip(&totals) {
            let name = match runner {
                Runner::RawSql => "raw_sql".to_owned(),
                Runner::Api { replicas } => format!("api_x{replicas}"),
            };
            let wal_per_task = (side.wal_bytes as f64 / side.tasks.max(1) as f64).round();
            wal_line.push(format!("{name}: {wal_per_task:.0}"));
            wal.insert(name.clone(), serde_json::json!(wal_per_task));
            let Some(used) = side.cpu else { continue };
            let per_task = |secs: f64| round3(secs * 1000.0 / side.tasks.max(1) as f64);
            let used = CpuPerTask {
                postgres: per_task(used.postgres),
                api: per_task(used.api),
                workers: per_task(used.workers),
            };
            cpu_line.push(format!(
                "{name}: postgres {:.2}, api {:.2}, workers {:.2}",
                used.postgres, used.api, used.workers
            ));
            cpu.insert(name, serde_json::to_value(used)?);
        }
        if !cpu_line.is_empty() {
            eprintln!("  CPU ms per task: {}", cpu_line.join(" | "));
        }
        eprintln!("  WAL bytes per task: {}", wal_line.join(" | "));
        let rate = |side: &Side| side.tasks as f64 / side.secs;
        let baseline_rate = rate(&totals[0]);
        let one = rate(&totals[1]);
        let two = totals.get(2).map(rate);
        results.push(RunResult {
            batch,
            workers: args.workers,
            tasks: args.tasks,
            baseline_tasks_per_sec: round1(baseline_rate),
            tasks_per_sec: round1(one),
            ratio: round3(one / baseline_rate),
            two_replicas_tasks_per_sec: two.map(round1),
            two_replicas_ratio: two.map(|two| round3(two / baseline_rate)),
            completed_once: totals
                .iter()
                .all(|side| side.ok && side.tasks == args.tasks),
            api_cpu_cap: args.api_cpu,
            cpu_ms_per_task: (!cpu.is_empty()).then_some(cpu),
            wal_bytes_per_task: wal,
        });
    }

    drop(first);
    raw.close().await;
    state.db.clone().close().await.ok();
    Ok(results)
}

/// How to start the API processes under test, and the SDK client of each.
struct Replica<'a> {
    args: &'a ClaimBenchArgs,
    database_url: &'a str,
    admin_key: &'a str,
    data_dir: &'a std::path::Path,
    redis_prefix: &'a str,
}

impl Replica<'_> {
    /// Starts API process number `i` (its own data directory), capped when asked, and
    /// waits until it is ready.
    async fn start(&self, i: usize) -> anyhow::Result<(ApiProcess, Client)> {
        let args = self.args;
        let mut envs = vec![
            ("DATABASE_URL", self.database_url.to_owned()),
            ("AGENTOPS_ADMIN_KEY", self.admin_key.to_owned()),
            (
                "AGENTOPS_DB_MAX_CONNECTIONS",
                args.db_connections.to_string(),
            ),
            ("AGENTOPS_MIGRATE", "false".to_owned()),
            (
                "AGENTOPS_DATA_DIR",
                self.data_dir.join(format!("api-{i}")).display().to_string(),
            ),
        ];
        // A capped process runs as many runtime threads as it has whole cores (at least
        // one), as it would on a machine of that size, rather than one per core here.
        if let Some(cores) = args.api_cpu {
            envs.push((
                "TOKIO_WORKER_THREADS",
                (cores.ceil() as u32).max(1).to_string(),
            ));
        }
        if args.redis_url != "none" {
            envs.push(("REDIS_URL", args.redis_url.clone()));
            envs.push(("AGENTOPS_REDIS_PREFIX", self.redis_prefix.to_owned()));
        }
        let mut api = ApiProcess::start(&envs)?;
        if let Some(cores) = args.api_cpu {
            api.cap_cpu(cores)?;
        }
        api.wait_ready().await?;
        let client = Client::builder()
            .base_url(&api.base)
            .api_key(self.admin_key)
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok((api, client))
    }
}

/// Time, tasks and CPU seconds of one side over the rounds.
#[derive(Clone)]
struct Side {
    secs: f64,
    tasks: u64,
    ok: bool,
    cpu: Option<CpuPerTask>,
    /// Bytes of write-ahead log written during its runs.
    wal_bytes: i64,
}

impl Default for Side {
    fn default() -> Self {
        Self {
            secs: 0.0,
            tasks: 0,
            ok: true,
            cpu: Some(CpuPerTask::default()),
            wal_bytes: 0,
        }
    }
}

/// CPU time used so far by PostgreSQL, the API processes of a side, and this process.
struct CpuMark {
    postgres: std::collections::HashMap<u32, f64>,
    api: f64,
    own: f64,
}

impl CpuMark {
    fn now(apis: &[&ApiProcess]) -> Option<Self> {
        let postgres = cpu_by_pid("postgres");
        if postgres.is_empty() {
            return None;
        }
        Some(Self {
            postgres,
            api: apis
                .iter()
                .map(|api| api.cpu_seconds().unwrap_or(0.0))
                .sum(),
            own: own_cpu_seconds().ok()?,
        })
    }
}

/// CPU seconds used since `mark` by part (`None` without a mark).
fn cpu_used(mark: Option<CpuMark>, apis: &[&ApiProcess]) -> Option<CpuPerTask> {
    let mark = mark?;
    let api: f64 = apis
        .iter()
        .map(|api| api.cpu_seconds().unwrap_or(0.0))
        .sum();
    Some(CpuPerTask {
        postgres: cpu_since(&mark.postgres, &cpu_by_pid("postgres")),
        api: api - mark.api,
        workers: own_cpu_seconds().ok()? - mark.own,
    })
}

/// The server's write-ahead log insert position, in bytes. The benchmark's database is
/// the only busy one, so the difference over a run is that run's log.
async fn wal_position(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let position = Count::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint AS value",
    ))
    .one(db)
    .await?
    .context("no WAL position")?;
    Ok(position.value)
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

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
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

fn claim_input(agent_id: Uuid, batch: u32, complete: Vec<CompleteItem>) -> ClaimIn {
    ClaimIn {
        agent_id,
        kinds: Some(vec!["bench".into()]),
        labels: None,
        project_id: None,
        limit: Some(batch),
        lease_seconds: Some(300),
        complete: (!complete.is_empty()).then_some(complete),
    }
}

/// Fails unless every outcome says completed.
fn all_completed(outcomes: &[BatchItemOut]) -> anyhow::Result<u64> {
    if let Some(refused) = outcomes.iter().find(|item| item.status != 200) {
        bail!("task {} was not completed: {:?}", refused.id, refused.error);
    }
    Ok(outcomes.len() as u64)
}

fn tiny_result() -> Option<serde_json::Value> {
    Some(serde_json::json!({ "ok": true }))
}

/// A completion with a tiny result for each of `tasks`.
fn completions_of(tasks: &[ClaimedTask]) -> Vec<CompleteItem> {
    tasks
        .iter()
        .map(|task| CompleteItem {
            id: task.task.id,
            claim_token: task.claim_token,
            result: tiny_result(),
        })
        .collect()
}

/// `W` SDK workers, spread over `clients` (one per API process), claim and complete until
/// the queue is empty; returns the elapsed seconds and the number of tasks completed.
async fn through_sdk(
    clients: &[Client],
    agents: &[Uuid],
    batch: u32,
    report: Reporting,
) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for (i, &agent) in agents.iter().enumerate() {
        let client = clients[i % clients.len()].clone();
        workers.spawn(async move {
            let mut done = 0u64;
            if report == Reporting::WithClaim {
                // Each claim reports what the previous one handed out.
                let mut finished = Vec::new();
                loop {
                    let out = client
                        .tasks()
                        .claim(claim_input(agent, batch, finished))
                        .await?;
                    done += all_completed(&out.completed)?;
                    if out.tasks.is_empty() {
                        return Ok::<_, anyhow::Error>(done);
                    }
                    finished = completions_of(&out.tasks);
                }
            }
            loop {
                let claimed = client
                    .tasks()
                    .claim(claim_input(agent, batch, Vec::new()))
                    .await?
                    .tasks;
                match claimed.len() {
                    0 => return Ok::<_, anyhow::Error>(done),
                    1 => {
                        let task = &claimed[0];
                        let input = CompleteIn {
                            claim_token: task.claim_token,
                            result: tiny_result(),
                        };
                        client.tasks().complete(task.task.id, input).await?;
                        done += 1;
                    }
                    _ => {
                        // What a worker holding several tasks does: one request for all.
                        let items = completions_of(&claimed);
                        let outcome = client
                            .tasks()
                            .complete_many(CompleteManyIn { items })
                            .await?;
                        done += all_completed(&outcome.items)?;
                    }
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
    // Every API process answered after committing, so its events are in the log.
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

/// The baseline: the minimal SQL for the same job, on a table of its own, each worker on
/// a connection of its own.
struct RawQueue {
    db: DatabaseConnection,
    workers: u32,
}

#[derive(Debug, FromQueryResult)]
struct Claimed {
    id: i64,
    claim_token: Uuid,
}

#[derive(Debug, FromQueryResult)]
struct Count {
    value: i64,
}

impl RawQueue {
    async fn create(database_url: &str, workers: u32) -> anyhow::Result<Self> {
        let mut options = ConnectOptions::new(database_url.to_owned());
        options
            .sqlx_logging(false)
            .max_connections(workers + 1)
            .min_connections(workers);
        let db = Database::connect(options)
            .await
            .context("cannot connect the raw SQL baseline")?;
        for statement in [
            "CREATE TABLE bench_raw_tasks ( \
                 id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
                 status text NOT NULL, \
                 priority integer NOT NULL DEFAULT 0, \
                 claimed_by uuid, \
                 claim_token uuid, \
                 result jsonb)",
            "CREATE INDEX bench_raw_tasks_queued ON bench_raw_tasks (priority DESC, id) \
                 WHERE status = 'queued'",
        ] {
            db.execute_unprepared(statement)
                .await
                .context("cannot create the raw SQL baseline's table")?;
        }
        Ok(Self { db, workers })
    }

    /// Empties the table and queues `n` rows (untimed).
    async fn enqueue(&self, n: u64) -> anyhow::Result<()> {
        self.db
            .execute_unprepared("TRUNCATE bench_raw_tasks")
            .await?;
        self.db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO bench_raw_tasks (status) SELECT 'queued' FROM generate_series(1, $1)",
                [i64::try_from(n)?.into()],
            ))
            .await?;
        Ok(())
    }

    async fn vacuum(&self) -> anyhow::Result<()> {
        self.db
            .execute_unprepared("VACUUM ANALYZE bench_raw_tasks")
            .await?;
        Ok(())
    }

    /// `W` workers claim `batch` rows, then complete each in its own commit, until the
    /// queue is empty; returns the elapsed seconds and the rows completed.
    async fn run(&self, batch: u32) -> anyhow::Result<(f64, u64)> {
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.workers {
            let db = self.db.clone();
            let agent = Uuid::new_v4();
            workers.spawn(async move {
                let mut done = 0u64;
                loop {
                    let claimed = Claimed::find_by_statement(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "UPDATE bench_raw_tasks SET status = 'running', claimed_by = $1, \
                             claim_token = gen_random_uuid() \
                         WHERE id IN (SELECT id FROM bench_raw_tasks WHERE status = 'queued' \
                             ORDER BY priority DESC, id LIMIT $2 FOR UPDATE SKIP LOCKED) \
                         RETURNING id, claim_token",
                        [agent.into(), i64::from(batch).into()],
                    ))
                    .all(&db)
                    .await?;
                    if claimed.is_empty() {
                        return Ok::<_, anyhow::Error>(done);
                    }
                    for row in claimed {
                        let updated = db
                            .execute_raw(Statement::from_sql_and_values(
                                DbBackend::Postgres,
                                "UPDATE bench_raw_tasks SET status = 'completed', result = $3 \
                                 WHERE id = $1 AND claim_token = $2 AND status = 'running'",
                                [row.id.into(), row.claim_token.into(), tiny_result().into()],
                            ))
                            .await?;
                        if updated.rows_affected() != 1 {
                            bail!("raw SQL: row {} was not completed", row.id);
                        }
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

    /// Whether all `n` rows are completed.
    async fn completed(&self, n: u64) -> anyhow::Result<bool> {
        let count = Count::find_by_statement(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS value FROM bench_raw_tasks WHERE status = 'completed'",
        ))
        .one(&self.db)
        .await?
        .context("no count")?;
        Ok(count.value == i64::try_from(n)?)
    }

    async fn close(self) {
        self.db.close().await.ok();
    }
}
