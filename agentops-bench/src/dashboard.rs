//! `agentops-bench dashboard`: how soon each dashboard page starts arriving (time to its
//! first byte) on the embedded default (SQLite) holding `--tasks` tasks, against the
//! machine's floor: the minimal SQL each page cannot do without (its list query, or the
//! status counts), run on the same database file in the same run.
//!
//! ```text
//! cargo build --release -p agentops-bench
//! ./target/release/agentops-bench dashboard --tasks 10000 --rounds 50
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;

use crate::process::ApiProcess;

/// Options of `agentops-bench dashboard`.
#[derive(Debug, Args)]
pub struct DashboardBenchArgs {
    /// Tasks in the database before measuring.
    #[arg(long, default_value_t = 10_000)]
    tasks: usize,
    /// Requests per page (sequential, after one warm-up).
    #[arg(long, default_value_t = 50)]
    rounds: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

struct Figures {
    page: String,
    p50_ms: f64,
    p95_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn figures(page: &str, mut samples: Vec<f64>) -> Figures {
    samples.sort_by(f64::total_cmp);
    Figures {
        page: page.to_owned(),
        p50_ms: crate::round2(percentile(&samples, 0.5)),
        p95_ms: crate::round2(percentile(&samples, 0.95)),
    }
}

pub async fn run(args: DashboardBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let key = format!("aok_bench{}", hex::encode(rand::random::<[u8; 16]>()));
    let api = ApiProcess::start(&[
        ("AGENTOPS_DATA_DIR", dir.path().display().to_string()),
        ("AGENTOPS_ADMIN_KEY", key.clone()),
    ])?;
    api.wait_ready().await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = api.base.clone();

    // The data: one project, `--tasks` tasks.
    let project: serde_json::Value = http
        .post(format!("{base}/api/v1/projects"))
        .bearer_auth(&key)
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let project = project["id"].as_str().context("no project id")?.to_owned();
    let started = Instant::now();
    let created = futures_util::stream::iter(0..args.tasks)
        .map(|i| {
            let (http, base, key, project) = (&http, &base, &key, &project);
            async move {
                http.post(format!("{base}/api/v1/tasks"))
                    .bearer_auth(key)
                    .json(&json!({"project_id": project, "title": format!("task {i}"), "kind": "bench", "input": {"i": i}}))
                    .send()
                    .await?
                    .error_for_status()
                    .map(drop)
            }
        })
        .buffer_unordered(16)
        .filter(|r| futures_util::future::ready(r.is_ok()))
        .count()
        .await;
    if created != args.tasks {
        bail!("only {created} of {} tasks were created", args.tasks);
    }
    eprintln!(
        "created {created} tasks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let some_task: serde_json::Value = http
        .get(format!("{base}/api/v1/tasks?limit=1"))
        .bearer_auth(&key)
        .send()
        .await?
        .json()
        .await?;
    let task = some_task["items"][0]["id"]
        .as_str()
        .context("no task")?
        .to_owned();

    // Sign in as a person would: the form's token, then the key.
    let login = http.get(format!("{base}/login")).send().await?;
    let login_cookie = cookie_pair(&login, "agentops_login").context("no sign-in cookie")?;
    let page = login.text().await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no CSRF field on the sign-in page")?
        .to_owned();
    let signed_in = http
        .post(format!("{base}/login"))
        .header("cookie", login_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        // Both are hex or base64url: nothing to escape.
        .body(format!("csrf={csrf}&key={key}&next=%2F"))
        .send()
        .await?;
    let session = cookie_pair(&signed_in, "agentops_session").context("sign-in failed")?;

    let pages = [
        ("overview", "/".to_owned()),
        ("tasks", "/tasks".to_owned()),
        ("tasks?status=queued", "/tasks?status=queued".to_owned()),
        ("task detail", format!("/tasks/{task}")),
        ("projects", "/projects".to_owned()),
        ("project detail", format!("/projects/{project}")),
        ("agents", "/agents".to_owned()),
        ("events", "/events".to_owned()),
        ("approvals", "/approvals".to_owned()),
    ];
    let mut results = Vec::new();
    for (name, path) in &pages {
        let mut samples = Vec::with_capacity(args.rounds);
        for round in 0..=args.rounds {
            let t = Instant::now();
            let response = http
                .get(format!("{base}{path}"))
                .header("cookie", &session)
                .send()
                .await?;
            let first_byte = t.elapsed();
            if !response.status().is_success() {
                bail!("{path} answered {}", response.status());
            }
            let _ = response.bytes().await?;
            if round > 0 {
                samples.push(ms(first_byte));
            }
        }
        results.push(figures(name, samples));
    }

    // The floor: the SQL these pages cannot do without, on the same file.
    let db = Database::connect(format!(
        "sqlite://{}/agentops.db?mode=ro",
        dir.path().display()
    ))
    .await
    .context("cannot open the benchmark's SQLite file")?;
    let floor_queries = [
        (
            "SQL: a page of 51 tasks",
            "SELECT * FROM tasks ORDER BY id DESC LIMIT 51",
        ),
        (
            "SQL: 51 queued tasks",
            "SELECT * FROM tasks WHERE status = 'queued' ORDER BY id DESC LIMIT 51",
        ),
        (
            "SQL: tasks per project and status",
            "SELECT project_id, status, COUNT(*) FROM tasks GROUP BY project_id, status",
        ),
    ];
    let mut floor = Vec::new();
    for (name, sql) in floor_queries {
        let mut samples = Vec::with_capacity(args.rounds);
        for round in 0..=args.rounds {
            let t = Instant::now();
            db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
                .await?;
            if round > 0 {
                samples.push(ms(t.elapsed()));
            }
        }
        floor.push(figures(name, samples));
    }

    if args.json {
        let to_json = |f: &Figures| json!({"page": f.page, "p50_ms": f.p50_ms, "p95_ms": f.p95_ms});
        println!(
            "{}",
            serde_json::to_string(&json!({
                "tasks": args.tasks,
                "rounds": args.rounds,
                "pages": results.iter().map(to_json).collect::<Vec<_>>(),
                "floor": floor.iter().map(to_json).collect::<Vec<_>>(),
            }))?
        );
    } else {
        println!(
            "dashboard time to first byte, {} tasks, {} requests per page (embedded SQLite)",
            args.tasks, args.rounds
        );
        println!("{:<40} {:>9} {:>9}", "", "p50 ms", "p95 ms");
        for f in results.iter().chain(&floor) {
            println!("{:<40} {:>9.2} {:>9.2}", f.page, f.p50_ms, f.p95_ms);
        }
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `name=value` of a cookie the response sets.
fn cookie_pair(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
        .map(str::to_owned)
}
