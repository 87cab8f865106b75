//! A cgroup (v2) of its own for every shell step, where the worker has one delegated to
//! it: the step's processes **together** are bounded in memory (`memory.max`, no swap),
//! in number (`pids.max`) and in CPU (`cpu.max`, `SEED_STEP_CPUS` of them), and killed
//! as a whole (`cgroup.kill`) when the step ends. The rlimits set inside the sandbox
//! (`prlimit`) stay as a second wall; they bound each process, not the step, so without
//! a cgroup a step may use up to its process limit times its memory limit.
//!
//! Where the cgroup comes from (`SEED_CGROUP`):
//! - `auto` (the default): the worker's own cgroup, if the machine runs cgroup v2
//!   (`/sys/fs/cgroup` is one) and that cgroup is the worker's to divide — the root of
//!   its own cgroup namespace with a writable cgroup file system (a container run so),
//!   one systemd delegated (`Delegate=yes`), or one its (non-root) user owns — and it has
//!   it to itself. The
//!   worker moves to a leaf, `agentops-worker`, so that controllers can be enabled for
//!   the steps' cgroups beside it (cgroup v2 lets only a cgroup without processes of its
//!   own do that). If that is not possible, or none of the `memory`, `pids`, `cpu`
//!   controllers is delegated, the steps are bounded by rlimits only, and the Seed says
//!   so at start.
//! - a directory: that cgroup (created if missing, on a cgroup v2 file system), used
//!   with whatever controllers it has; an error there stops the Seed at start.
//! - `off`: rlimits only.
//!
//! A step's process is placed in its cgroup by the worker before it runs anything: it
//! starts behind a gate (`read` on its stdin), the worker writes its process id into the
//! step's `cgroup.procs` and only then opens the gate, so everything the step starts is
//! born inside.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The controllers that bound a step.
const WANTED: [&str; 3] = ["memory", "pids", "cpu"];

/// Where the worker's own cgroup v2 hierarchy is mounted.
const MOUNT: &str = "/sys/fs/cgroup";

/// The leaf the worker's processes move to, so their cgroup may have children with
/// controllers.
const WORKER_LEAF: &str = "agentops-worker";

/// `SEED_CGROUP`: where steps' cgroups are made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CgroupSetting {
    /// The worker's own cgroup, if it can be used (else rlimits only).
    #[default]
    Auto,
    /// Rlimits only.
    Off,
    /// This cgroup v2 directory.
    At(PathBuf),
}

impl std::str::FromStr for CgroupSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "auto" | "" => Ok(Self::Auto),
            "off" | "none" => Ok(Self::Off),
            path if path.starts_with('/') => Ok(Self::At(PathBuf::from(path))),
            other => Err(format!(
                "`{other}`: SEED_CGROUP is `auto` (the default), `off` or the absolute path of a cgroup v2 directory"
            )),
        }
    }
}

/// The cgroup under which steps get cgroups of their own.
#[derive(Debug)]
pub struct Cgroups {
    base: PathBuf,
    controllers: Vec<String>,
    /// CPUs a step may use (`cpu.max`), if bounded.
    cpus: Option<f64>,
}

impl Cgroups {
    /// Sets up the cgroup `setting` names (`Ok(None)` for [`CgroupSetting::Off`]), with
    /// `cpus` as the steps' CPU bound.
    ///
    /// # Errors
    /// Why it cannot be used: for [`CgroupSetting::Auto`] a reason to say at start before
    /// going on with rlimits, for [`CgroupSetting::At`] a configuration error.
    pub fn open(setting: &CgroupSetting, cpus: Option<f64>) -> Result<Option<Self>, String> {
        let (base, need_controllers) = match setting {
            CgroupSetting::Off => return Ok(None),
            CgroupSetting::Auto => {
                let own = std::fs::read_to_string("/proc/self/cgroup")
                    .map_err(|err| format!("cannot read /proc/self/cgroup: {err}"))?;
                let relative = unified_path(&own)
                    .ok_or("this machine runs cgroup v1 (no unified hierarchy)")?;
                if !Path::new(MOUNT).join("cgroup.controllers").exists() {
                    return Err(format!("{MOUNT} is not a cgroup v2 file system"));
                }
                let base = Path::new(MOUNT).join(relative.trim_start_matches('/'));
                // Only a cgroup that is the worker's to divide: the root of its own cgroup
                // namespace (a container's), one systemd delegated (`Delegate=yes` marks
                // it), or one owned by the worker's user. Root may write any cgroup, which
                // does not make it the worker's.
                if relative != "/" && !delegated(&base) {
                    return Err(format!(
                        "the worker's cgroup {} is not delegated to it (systemd: Delegate=yes; \
                         or set SEED_CGROUP to a cgroup v2 directory of its own)",
                        base.display()
                    ));
                }
                (base, true)
            }
            CgroupSetting::At(path) => {
                if !path.exists() {
                    std::fs::create_dir_all(path)
                        .map_err(|err| format!("cannot create {}: {err}", path.display()))?;
                }
                if !path.join("cgroup.controllers").exists() {
                    return Err(format!(
                        "{} is not a cgroup v2 directory (no cgroup.controllers)",
                        path.display()
                    ));
                }
                // What the parent can give it, asked for (it may not be ours to change).
                if let Some(parent) = path.parent() {
                    for controller in WANTED {
                        let _ = std::fs::write(
                            parent.join("cgroup.subtree_control"),
                            format!("+{controller}"),
                        );
                    }
                }
                (path.clone(), false)
            }
        };
        make_room(&base)?;
        let available = std::fs::read_to_string(base.join("cgroup.controllers"))
            .map_err(|err| format!("cannot read {}: {err}", base.display()))?;
        let mut controllers = Vec::new();
        for controller in WANTED {
            if available.split_whitespace().any(|c| c == controller)
                && std::fs::write(
                    base.join("cgroup.subtree_control"),
                    format!("+{controller}"),
                )
                .is_ok()
            {
                controllers.push(controller.to_owned());
            }
        }
        if need_controllers && controllers.is_empty() {
            return Err(format!(
                "none of the memory, pids and cpu controllers is delegated to {}",
                base.display()
            ));
        }
        let cgroups = Self {
            base,
            controllers,
            cpus,
        };
        cgroups.sweep();
        cgroups.probe()?;
        Ok(Some(cgroups))
    }

    /// Removes the empty step cgroups a worker that was killed left behind (a step's
    /// processes die with their worker; one still running belongs to another worker
    /// sharing this cgroup, and is left alone).
    fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.base) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(STEP_PREFIX)
                && !populated(&entry.path())
            {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }

    /// Makes a step cgroup and moves a process into it, as every step will be: what
    /// cannot be done is said at start rather than at every step.
    fn probe(&self) -> Result<(), String> {
        let step = self.step(64, 8).map_err(|err| {
            format!(
                "cannot make a step's cgroup in {}: {err}",
                self.base.display()
            )
        })?;
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "read -r _"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|err| format!("cannot start /bin/sh: {err}"))?;
        let moved = step.add(child.id());
        drop(child.stdin.take());
        let _ = child.wait();
        moved.map_err(|err| {
            format!(
                "cannot move a process into a step's cgroup under {}: {err}",
                self.base.display()
            )
        })
    }

    /// The cgroup steps' cgroups are made in.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// How it stands, for the log at start.
    pub fn describe(&self) -> String {
        if self.controllers.is_empty() {
            format!(
                "each step in a cgroup of its own under {} (killed as a whole; no controller \
                 is delegated there, so its limits are rlimits)",
                self.base.display()
            )
        } else {
            format!(
                "each step in a cgroup of its own under {}, bounded by {}",
                self.base.display(),
                self.controllers.join(", ")
            )
        }
    }

    /// A new cgroup for one step: at most `memory_mb` MiB of memory (no swap) and
    /// `max_processes` processes for all its processes together, and the configured CPUs.
    ///
    /// # Errors
    /// If it cannot be made or its limits cannot be set.
    pub fn step(&self, memory_mb: u64, max_processes: u64) -> std::io::Result<StepCgroup> {
        let dir = self
            .base
            .join(format!("{STEP_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir)?;
        let step = StepCgroup { dir };
        let has = |c: &str| self.controllers.iter().any(|x| x == c);
        if has("memory") {
            step.set(
                "memory.max",
                &memory_mb.saturating_mul(1024 * 1024).to_string(),
            )?;
            // Not every kernel has swap accounting.
            let _ = step.set("memory.swap.max", "0");
        }
        if has("pids") {
            step.set("pids.max", &max_processes.to_string())?;
        }
        if let (true, Some(cpus)) = (has("cpu"), self.cpus) {
            const PERIOD: u64 = 100_000;
            let quota = ((cpus * PERIOD as f64).round() as u64).max(1_000);
            step.set("cpu.max", &format!("{quota} {PERIOD}"))?;
        }
        Ok(step)
    }
}

/// Whether systemd delegated cgroup `dir` (`Delegate=yes` sets `trusted.delegate` or,
/// for a user's manager, `user.delegate`), or this process's user (not root) owns it.
fn delegated(dir: &Path) -> bool {
    let marked = ["trusted.delegate", "user.delegate"].iter().any(|name| {
        let mut value = [0u8; 8];
        rustix::fs::getxattr(dir, *name, &mut value[..]).is_ok_and(|n| value[..n] == *b"1")
    });
    let me = rustix::process::geteuid();
    let owned = !me.is_root()
        && std::fs::metadata(dir.join("cgroup.procs"))
            .is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == me.as_raw());
    marked || owned
}

/// Whether cgroup `dir` has processes (in it or below).
fn populated(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.events"))
        .ok()
        .and_then(|events| {
            events
                .lines()
                .find_map(|l| l.strip_prefix("populated ").map(|n| n.trim() != "0"))
        })
        .unwrap_or(true)
}

/// How step cgroups' names start.
const STEP_PREFIX: &str = "agentops-step-";

/// Moves the worker out of `base` into its leaf [`WORKER_LEAF`], so that `base` may
/// enable controllers for its children. Nothing moves if other processes share `base`
/// (a terminal's session, say): that cgroup is not the worker's to divide.
fn make_room(base: &Path) -> Result<(), String> {
    let procs = std::fs::read_to_string(base.join("cgroup.procs"))
        .map_err(|err| format!("cannot read {}: {err}", base.display()))?;
    let own = std::process::id().to_string();
    let pids: Vec<&str> = procs.split_whitespace().collect();
    if pids.is_empty() {
        return Ok(());
    }
    if pids.iter().any(|pid| *pid != own) {
        return Err(format!(
            "other processes share {} with the worker (give the Seed a cgroup of its own, or set SEED_CGROUP)",
            base.display()
        ));
    }
    let leaf = base.join(WORKER_LEAF);
    if !leaf.exists() {
        std::fs::create_dir(&leaf)
            .map_err(|err| format!("cannot create {}: {err}", leaf.display()))?;
    }
    std::fs::write(leaf.join("cgroup.procs"), &own)
        .map_err(|err| format!("cannot move the worker into {}: {err}", leaf.display()))
}

/// The cgroup v2 path of a process, from its `/proc/<pid>/cgroup` (`0::/path`).
fn unified_path(proc_cgroup: &str) -> Option<&str> {
    proc_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .map(str::trim)
}

/// One step's cgroup: everything in it is killed, and it is removed, when this is
/// dropped.
#[derive(Debug)]
pub struct StepCgroup {
    dir: PathBuf,
}

impl StepCgroup {
    fn set(&self, file: &str, value: &str) -> std::io::Result<()> {
        std::fs::write(self.dir.join(file), value)
            .map_err(|err| std::io::Error::new(err.kind(), format!("{file} = {value}: {err}")))
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Puts process `pid` (and what it starts from then on) in it.
    ///
    /// # Errors
    /// If the kernel refuses.
    pub fn add(&self, pid: u32) -> std::io::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
    }

    /// How many of its processes the kernel killed for want of memory.
    pub fn oom_kills(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("memory.events"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Kills everything in it (`cgroup.kill`; on kernels before 5.14, frozen first so
    /// nothing forks meanwhile, then each process).
    pub fn kill(&self) {
        kill_all(&self.dir);
    }
}

fn kill_all(dir: &Path) {
    if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    let frozen = std::fs::write(dir.join("cgroup.freeze"), "1").is_ok();
    let pids = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in pids
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
    {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    if frozen {
        let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
    }
}

/// Kills what is left in `dir` until it is empty, then removes it (for up to 10 s).
fn clean_up(dir: &Path) {
    for _ in 0..500 {
        if !dir.exists() {
            return;
        }
        if populated(dir) {
            kill_all(dir);
        } else if std::fs::remove_dir(dir).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::warn!("a step's cgroup {} could not be removed", dir.display());
}

impl Drop for StepCgroup {
    fn drop(&mut self) {
        kill_all(&self.dir);
        // Removable once its processes are gone, which takes the kernel a moment: waited
        // for off the async threads.
        let dir = self.dir.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || clean_up(&dir));
            }
            Err(_) => clean_up(&dir),
        }
    }
}

/// `cmd` behind a gate: it waits for a line on its stdin (the worker writes it once the
/// process is in its cgroup), then runs with stdin from `/dev/null`.
///
/// # Errors
/// If its program cannot be found (said now, not as the gate's exit status 127).
pub(crate) fn gated(cmd: &tokio::process::Command) -> std::io::Result<tokio::process::Command> {
    let std = cmd.as_std();
    let program = resolve(std.get_program()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not installed", std.get_program().to_string_lossy()),
        )
    })?;
    let mut gated = tokio::process::Command::new("/bin/sh");
    gated
        .arg("-c")
        .arg("read -r _ && exec \"$@\" </dev/null")
        .arg("sh")
        .arg(program)
        .args(std.get_args())
        .env_clear();
    for (key, value) in std.get_envs() {
        if let Some(value) = value {
            gated.env(key, value);
        }
    }
    if let Some(dir) = std.get_current_dir() {
        gated.current_dir(dir);
    }
    Ok(gated)
}

/// `program` as a path, looked up in the worker's `PATH` if it is a bare name (`None` if
/// it is not there).
fn resolve(program: &std::ffi::OsStr) -> Option<PathBuf> {
    let path = Path::new(program);
    if path.components().count() > 1 {
        return path.is_file().then(|| path.to_owned());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|dirs| std::env::split_paths(&dirs).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unified_path_is_read_from_proc() {
        assert_eq!(
            unified_path("0::/system.slice/seed.service\n"),
            Some("/system.slice/seed.service")
        );
        assert_eq!(
            unified_path("9:name=systemd:/\n4:memory:/x\n0::/\n"),
            Some("/")
        );
        assert_eq!(unified_path("4:memory:/x\n1:cpu:/\n"), None);
    }

    /// What a step's cgroup is given, as the kernel's files take it (on a plain directory:
    /// this machine's cgroup v2 has none of these controllers to write them to).
    #[test]
    fn a_steps_cgroup_is_given_the_limits_of_the_delegated_controllers() {
        let base = tempfile::tempdir().unwrap();
        let read = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).ok();
        let all = Cgroups {
            base: base.path().to_owned(),
            controllers: WANTED.iter().map(|c| (*c).to_owned()).collect(),
            cpus: Some(1.5),
        };
        let step = all.step(1024, 256).unwrap();
        assert!(step.dir().starts_with(base.path()));
        assert_eq!(read(step.dir(), "memory.max").unwrap(), "1073741824");
        assert_eq!(read(step.dir(), "memory.swap.max").unwrap(), "0");
        assert_eq!(read(step.dir(), "pids.max").unwrap(), "256");
        assert_eq!(read(step.dir(), "cpu.max").unwrap(), "150000 100000");
        // Only what is delegated is set.
        let pids_only = Cgroups {
            base: base.path().to_owned(),
            controllers: vec!["pids".into()],
            cpus: Some(1.0),
        };
        let other = pids_only.step(64, 8).unwrap();
        assert_eq!(read(other.dir(), "pids.max").unwrap(), "8");
        assert_eq!(read(other.dir(), "memory.max"), None);
        assert_eq!(read(other.dir(), "cpu.max"), None);
        assert!(
            pids_only.describe().ends_with("bounded by pids"),
            "{}",
            pids_only.describe()
        );
        // Out of memory, as the kernel counts it.
        std::fs::write(
            step.dir().join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .unwrap();
        assert_eq!(step.oom_kills(), 1);
        assert_eq!(other.oom_kills(), 0);
        // Plain directories, not cgroups: removed here, not waited for as cgroups are.
        for dir in [step.dir(), other.dir()] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn the_setting_reads_auto_off_or_a_path() {
        assert_eq!("auto".parse::<CgroupSetting>(), Ok(CgroupSetting::Auto));
        assert_eq!("off".parse::<CgroupSetting>(), Ok(CgroupSetting::Off));
        assert_eq!(
            "/sys/fs/cgroup/seed".parse::<CgroupSetting>(),
            Ok(CgroupSetting::At("/sys/fs/cgroup/seed".into()))
        );
        assert!("seed".parse::<CgroupSetting>().is_err());
    }

    #[test]
    fn a_gated_command_keeps_its_program_arguments_environment_and_directory() {
        let mut cmd = tokio::process::Command::new("prlimit");
        cmd.args(["--nproc=8", "--", "/bin/sh", "-c", "echo hi"])
            .env_clear()
            .env("PATH", "/usr/bin")
            .current_dir("/tmp");
        let gated = gated(&cmd).unwrap();
        let std = gated.as_std();
        assert_eq!(std.get_program(), "/bin/sh");
        let args: Vec<_> = std
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args[0], "-c");
        assert_eq!(args[2], "sh");
        assert!(args[3].ends_with("/prlimit"), "{args:?}");
        assert_eq!(&args[4..], ["--nproc=8", "--", "/bin/sh", "-c", "echo hi"]);
        assert_eq!(std.get_current_dir(), Some(Path::new("/tmp")));
        assert_eq!(
            std.get_envs().collect::<Vec<_>>(),
            [(
                std::ffi::OsStr::new("PATH"),
                Some(std::ffi::OsStr::new("/usr/bin"))
            )]
        );
        let missing = tokio::process::Command::new("no-such-program-here");
        assert_eq!(
            super::gated(&missing).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
    }
}
