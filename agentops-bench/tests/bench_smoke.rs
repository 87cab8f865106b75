//! The benchmarks at toy sizes: each `agentops-bench …` runs end to end against the same
//! services as the other tests and prints its JSON report, so a change that breaks a
//! benchmark shows here rather than on the day someone measures. The figures are not
//! checked (speed is measured by benchmarks, not asserted by tests); what each report
//! says about correctness is (bytes verified, every event delivered once, every task
//! completed once).
//!
//! This is an integration test of the `agentops-bench` package (it needs its binary).

use std::process::Command;

use serde_json::Value;

/// Runs `agentops-bench <args> --json`; returns its last line, parsed.
fn bench(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_agentops-bench"))
        .args(args)
        .arg("--json")
        .output()
        .expect("the agentops binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "agentops-bench {args:?} failed:\n{stderr}"
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let last = stdout.lines().last().expect("a report");
    serde_json::from_str(last).unwrap_or_else(|err| panic!("not JSON ({err}): {last}"))
}

/// `bench claim` over `tasks` tasks, 4 workers, one round, on the test database, with
/// `options`.
fn claim(tasks: &str, options: &[&str]) -> Value {
    let database = service("TEST_DATABASE_URL");
    let mut args = vec![
        "claim",
        "--tasks",
        tasks,
        "--workers",
        "4",
        "--rounds",
        "1",
        "--database-url",
        &database,
    ];
    args.extend_from_slice(options);
    bench(&args)
}

fn service(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: run the tests with scripts/test.sh, which starts the services"
        )
    })
}

#[test]
fn dashboard_pages_with_a_few_tasks() {
    let report = bench(&["dashboard", "--tasks", "30", "--rounds", "2"]);
    // Every page answered 2xx (the benchmark stops on any other status).
    let pages = report["pages"].as_array().expect("pages");
    assert_eq!(pages.len(), 9, "{report}");
    assert!(pages.iter().all(|p| p["p50_ms"].is_number()), "{report}");
    assert_eq!(
        report["floor"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );
}

#[test]
fn artifacts_on_the_local_store() {
    let report = bench(&["artifacts", "--size-mib", "4", "--rounds", "1"]);
    assert_eq!(report["store"], "local");
    assert_eq!(report["verified"], true, "{report}");
    for field in ["upload_ratio", "download_ratio", "api_rss_growth_mib"] {
        assert!(report[field].is_number(), "no {field}: {report}");
    }
}

#[test]
fn artifacts_on_s3() {
    let endpoint = service("TEST_S3_ENDPOINT");
    let report = bench(&[
        "artifacts",
        "--size-mib",
        "4",
        "--rounds",
        "1",
        "--store",
        "s3",
        "--s3-endpoint",
        &endpoint,
    ]);
    assert_eq!(report["store"], "s3");
    assert_eq!(report["verified"], true, "{report}");
    let mut fields = vec!["upload_ratio", "download_ratio", "download_redirect_ratio"];
    if cfg!(target_os = "linux") && endpoint.starts_with("http://") {
        fields.extend(["download_ratio_buffered", "download_body_ratio"]);
    }
    for field in fields {
        assert!(report[field].is_number(), "no {field}: {report}");
    }
}

#[test]
fn events_at_a_few_subscribers() {
    let (database, redis) = (service("TEST_DATABASE_URL"), service("TEST_REDIS_URL"));
    let report = bench(&[
        "events",
        "--subscribers",
        "20",
        "--events",
        "50",
        "--rate",
        "200",
        "--database-url",
        &database,
        "--redis-url",
        &redis,
    ]);
    assert_eq!(report["expected"], 20 * 50);
    assert_eq!(report["delivered"], report["expected"], "{report}");
    assert_eq!(report["gaps"], 0);
    assert_eq!(report["duplicates"], 0);
}

#[test]
fn claims_of_a_few_hundred_tasks() {
    let report = claim("200", &[]);
    assert_eq!(report["completed_once"], true, "{report}");
    if cfg!(target_os = "linux") {
        for side in ["raw_sql", "api_x1", "api_x2"] {
            for part in ["postgres", "api", "workers"] {
                assert!(
                    report["cpu_ms_per_task"][side][part].is_number(),
                    "no CPU of {part} on {side}: {report}"
                );
            }
        }
        assert!(report["cpu_ms_per_task"]["api_x1"]["postgres"].as_f64() > Some(0.0));
    }
    // Every side writes a log: its changes (and on the API's side, its events).
    for side in ["raw_sql", "api_x1", "api_x2"] {
        assert!(
            report["wal_bytes_per_task"][side].as_f64() > Some(0.0),
            "no WAL on {side}: {report}"
        );
    }
}

/// `--redis-url`: the API processes run as replicas are deployed, sharing Redis (event
/// fan-out, rate limits) under a prefix of the run's own.
#[test]
fn claims_through_replicas_that_share_redis() {
    let redis = service("TEST_REDIS_URL");
    let report = claim("200", &["--redis-url", &redis]);
    assert_eq!(report["completed_once"], true, "{report}");
    assert!(
        report["two_replicas_tasks_per_sec"].as_f64() > Some(0.0),
        "{report}"
    );
}

#[test]
fn claims_with_completions_in_requests_of_their_own() {
    let report = claim("100", &["--two-replicas", "false", "--report", "apart"]);
    assert_eq!(report["completed_once"], true, "{report}");
}

/// `--api-cpu`: each API process runs in a CPU control group of its own, removed once
/// it ends. Needs write access to `/sys/fs/cgroup` with the cpu controller (root, as in
/// CI); elsewhere it says so and checks nothing.
#[test]
fn claims_with_each_api_process_capped() {
    let (hierarchy, cap_file) =
        if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            (std::path::PathBuf::from("/sys/fs/cgroup"), "cpu.max")
        } else {
            (
                std::path::PathBuf::from("/sys/fs/cgroup/cpu"),
                "cpu.cfs_quota_us",
            )
        };
    let probe = hierarchy.join(format!("agentops-bench-probe-{}", std::process::id()));
    if std::fs::create_dir(&probe).is_err() {
        eprintln!(
            "skipped: {} is not writable here (the cap needs root)",
            hierarchy.display()
        );
        return;
    }
    let capable = probe.join(cap_file).exists();
    std::fs::remove_dir(&probe).expect("remove the probe group");
    if !capable {
        eprintln!("skipped: no {cap_file} in a new group (the cpu controller is not enabled)");
        return;
    }
    let groups = || -> std::collections::BTreeSet<String> {
        std::fs::read_dir(&hierarchy)
            .expect("list control groups")
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("agentops-bench-"))
            .collect()
    };
    let before = groups();
    let report = claim("100", &["--api-cpu", "0.5"]);
    assert_eq!(report["completed_once"], true, "{report}");
    assert_eq!(report["api_cpu_cap"], 0.5, "{report}");
    assert!(
        report["two_replicas_tasks_per_sec"].as_f64() > Some(0.0),
        "{report}"
    );
    let left: Vec<String> = groups().difference(&before).cloned().collect();
    assert!(left.is_empty(), "control groups left behind: {left:?}");
}
