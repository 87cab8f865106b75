//! One API process started by a benchmark, so its memory and CPU can be measured on their
//! own (not mixed with the benchmark's clients): this binary's hidden `api` command, which
//! runs exactly what `agentops api` runs (see `main.rs`).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

/// The API process under test.
pub struct ApiProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its CPU cap, if it has one (removed after the process ends).
    cap: Option<CpuCap>,
}

impl ApiProcess {
    pub fn start(envs: &[(&str, String)]) -> anyhow::Result<Self> {
        Self::start_command(&["api"], envs)
    }

    /// Starts this binary with `args` (listening on the port in `AGENTOPS_BIND`).
    pub fn start_command(args: &[&str], envs: &[(&str, String)]) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(args)
            .env("AGENTOPS_BIND", format!("127.0.0.1:{port}"))
            .env("AGENTOPS_RATE_LIMIT_PER_SECOND", "1000000")
            .env("AGENTOPS_RATE_LIMIT_BURST", "1000000")
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL")
            .env_remove("REDIS_URL")
            .env_remove("S3_BUCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in envs {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start `agentops-bench {}`", args.join(" ")))?;
        Ok(Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            cap: None,
        })
    }

    /// Caps the process at `cores` of CPU time (0.25: a quarter of one core), in a
    /// control group of its own: what limits a replica on a machine of its own is its own
    /// CPU, where on this machine every process shares the same cores.
    pub fn cap_cpu(&mut self, cores: f64) -> anyhow::Result<()> {
        self.cap = Some(CpuCap::new(self.child.id(), cores)?);
        Ok(())
    }

    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(response) = http.get(format!("{}/ready", self.base)).send().await
                && let Ok(body) = response.json::<serde_json::Value>().await
                && body["status"] == "ok"
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{} did not become ready", self.base)
    }

    /// A field of `/proc/<pid>/status` in MiB (`VmRSS`, `VmHWM`).
    pub fn memory_mib(&self, field: &str) -> anyhow::Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .with_context(|| format!("no {field} in /proc status"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .context("malformed /proc status")?
            .parse()?;
        Ok(kib / 1024.0)
    }

    /// CPU time the process has used (user + system), in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds_in(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Creates a project through the API with the admin key; returns its id.
    pub async fn create_project(
        &self,
        http: &reqwest::Client,
        admin_key: &str,
    ) -> anyhow::Result<String> {
        let project: serde_json::Value = http
            .post(format!("{}/api/v1/projects", self.base))
            .bearer_auth(admin_key)
            .json(&serde_json::json!({ "name": "bench" }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(project["id"].as_str().context("no project id")?.to_owned())
    }

    /// Resets the peak RSS to the current RSS (Linux ≥ 4.0).
    pub fn reset_peak(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .context("cannot reset the API's peak RSS")
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Empty now: the group can go.
        self.cap.take();
    }
}

/// A CPU control group holding one process, capped by the kernel's CFS bandwidth
/// control: cgroup v2 (`cpu.max`, where the `cpu` controller is enabled for child groups
/// of the root) or v1 (`cpu.cfs_quota_us` under `/sys/fs/cgroup/cpu`). Needs write access
/// to `/sys/fs/cgroup` (root, outside a container that hides it). The group is made at
/// the top of the hierarchy, so on cgroup v2 the process leaves its own group's other
/// limits (memory, an enclosing CPU limit) for the run.
struct CpuCap {
    dir: std::path::PathBuf,
}

/// Where CPU control groups go on this machine, and the file that caps one.
fn cpu_cgroup_hierarchy() -> (std::path::PathBuf, &'static str) {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        (std::path::PathBuf::from("/sys/fs/cgroup"), "cpu.max")
    } else {
        (
            std::path::PathBuf::from("/sys/fs/cgroup/cpu"),
            "cpu.cfs_quota_us",
        )
    }
}

impl CpuCap {
    const PERIOD_US: u64 = 100_000;

    fn new(pid: u32, cores: f64) -> anyhow::Result<Self> {
        let quota = (cores * Self::PERIOD_US as f64).round() as u64;
        if quota < 1_000 {
            bail!("a CPU cap below 0.01 of a core is too small to measure anything");
        }
        let (hierarchy, cap_file) = cpu_cgroup_hierarchy();
        let dir = hierarchy.join(format!(
            "agentops-bench-{pid}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&dir)
            .with_context(|| format!("cannot create the control group {}", dir.display()))?;
        let cap = Self { dir };
        if !cap.dir.join(cap_file).exists() {
            bail!(
                "{} has no {cap_file}: the cpu controller is not enabled for child groups \
                 here (cgroup v2: `+cpu` in the parent's cgroup.subtree_control)",
                cap.dir.display()
            );
        }
        let write = |file: &str, value: String| {
            std::fs::write(cap.dir.join(file), value)
                .with_context(|| format!("cannot write {}/{file}", cap.dir.display()))
        };
        if cap_file == "cpu.max" {
            write("cpu.max", format!("{quota} {}", Self::PERIOD_US))?;
        } else {
            write("cpu.cfs_period_us", Self::PERIOD_US.to_string())?;
            write("cpu.cfs_quota_us", quota.to_string())?;
        }
        write("cgroup.procs", pid.to_string())?;
        Ok(cap)
    }
}

impl Drop for CpuCap {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// CPU time this process has used (user + system), in seconds.
pub fn own_cpu_seconds() -> anyhow::Result<f64> {
    cpu_seconds_in("/proc/self/stat")
}

/// CPU seconds (user + system) used so far by each process whose command name is
/// `name` (`/proc/<pid>/comm`), by pid; empty where there is no `/proc`.
pub fn cpu_by_pid(name: &str) -> std::collections::HashMap<u32, f64> {
    let mut found = std::collections::HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if comm.trim_end() == name
            && let Ok(secs) = cpu_seconds_in(&format!("/proc/{pid}/stat"))
        {
            found.insert(pid, secs);
        }
    }
    found
}

/// CPU seconds the processes of `after` used since `before` (a process that started in
/// between counts from zero; one that ended is not counted).
pub fn cpu_since(
    before: &std::collections::HashMap<u32, f64>,
    after: &std::collections::HashMap<u32, f64>,
) -> f64 {
    after
        .iter()
        .map(|(pid, secs)| secs - before.get(pid).copied().unwrap_or(0.0))
        .filter(|used| *used > 0.0)
        .sum()
}

/// User + system CPU seconds from a `/proc/<pid>/stat` file.
fn cpu_seconds_in(path: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(path)?;
    // Fields after the command name (which may hold spaces) start at the state.
    let rest = stat.rsplit_once(')').context("malformed /proc stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields.get(i).context("short /proc stat")?.parse::<f64>()?)
    };
    // utime and stime, in USER_HZ (100 per second on Linux).
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// How busy the whole machine's CPUs were between two moments: `/proc/stat`'s first line,
/// read at [`MachineCpu::now`] and again at [`MachineCpu::busy_since`].
#[derive(Debug, Clone, Copy)]
pub struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    /// The counters now; `None` where `/proc/stat` cannot be read (not Linux).
    pub fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let ticks: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
        let total: u64 = ticks.iter().take(8).sum();
        let idle = ticks.get(3)? + ticks.get(4)?;
        Some(Self {
            busy: total - idle,
            total,
        })
    }

    /// The fraction (0–1) of all CPU time that was busy since `self`, softirq included
    /// (which per-process counters miss); `None` if no tick passed or `/proc` is gone.
    pub fn busy_since(self) -> Option<f64> {
        let now = Self::now()?;
        let total = now.total.checked_sub(self.total).filter(|t| *t > 0)?;
        Some(now.busy.saturating_sub(self.busy) as f64 / total as f64)
    }
}
