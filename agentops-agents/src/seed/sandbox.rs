//! Where a Seed task runs: a private working directory, shell commands isolated from
//! everything else, bounded HTTP fetches, and the files it leaves in `out/` collected as
//! artifacts.
//!
//! **Isolation** ([`Isolation::Bubblewrap`], the default): every shell step runs under
//! [bubblewrap](https://github.com/containers/bubblewrap) in namespaces of its own (user,
//! mount, PID, network, IPC, UTS, cgroup): the system read-only (`/usr` and a short list
//! of harmless `/etc` files; no `/etc/shadow`, no home, no data directory, no key file),
//! only the task's workspace writable, a private `/tmp`, no network (unless the operator
//! grants it to steps), a fresh PID namespace that dies as a whole with the step, with the
//! worker (`--die-with-parent`) or when the time is up, and a cleared environment. Inside,
//! `prlimit` caps CPU time, address space, file size and the number of processes; a
//! worker running as root runs its steps as `nobody` (65534), so that the process limit
//! holds. A watchdog kills a step whose workspace grows over its size limit. Where the
//! worker has a cgroup v2 to divide ([`Cgroups`]), each step also runs in
//! a cgroup of its own that bounds its processes together (memory, processes, CPU).
//!
//! Without bubblewrap (or where the kernel refuses it namespaces), shell steps are
//! refused unless the operator chose [`Isolation::Processes`] (`SEED_SANDBOX=processes`):
//! the same limits and cleared environment, in a process group killed with the step, but
//! no namespaces: weaker, and said so in every result.

use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::sync::Arc;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::cgroup::{self, Cgroups, StepCgroup};
use super::egress::{self, Egress, Proxy, Resolver, refuse_literal};

/// Where a preview's socket directory is bound in its sandbox.
const PREVIEW_DIR_IN_SANDBOX: &str = "/run/agentops-preview";

/// A server a task started for a preview (see [`Sandbox::serve`]): it runs until this
/// is dropped.
#[derive(Debug)]
pub struct Server {
    child: tokio::process::Child,
    group: GroupGuard,
    /// Its cgroup, if steps get one (dropped after the child: see [`Sandbox::spawn`]).
    _cgroup: Option<StepCgroup>,
    socket: PathBuf,
    dir: PathBuf,
    output: Option<(
        tokio::task::JoinHandle<String>,
        tokio::task::JoinHandle<String>,
    )>,
}

impl Server {
    /// The Unix socket its port is relayed to (HTTP).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops it (and everything it started) now.
    pub fn stop(&mut self) {
        self.group.kill();
        if let Some(cgroup) = &self._cgroup {
            cgroup.kill();
        }
    }

    /// The ends of what it wrote (once it ended).
    async fn output(&mut self) -> (String, String) {
        match self.output.take() {
            Some((out, err)) => (out.await.unwrap_or_default(), err.await.unwrap_or_default()),
            None => Default::default(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.group.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether an HTTP server answers on `socket`.
async fn answers_http(socket: &Path) -> bool {
    let Ok(Ok(mut stream)) = tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::UnixStream::connect(socket),
    )
    .await
    else {
        return false;
    };
    if stream
        .write_all(b"HEAD / HTTP/1.0\r\nHost: preview\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut start = [0u8; 5];
    matches!(
        tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut start)).await,
        Ok(Ok(_)) if &start == b"HTTP/"
    )
}

/// An error with its causes, `: `-separated.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// How shell steps are kept apart from the worker and the machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Namespaces of their own, with bubblewrap (see the module docs).
    #[default]
    Bubblewrap,
    /// The weaker mode an operator may allow where bubblewrap cannot run: limits, a
    /// cleared environment and a process group, no namespaces.
    Processes,
    /// Shell steps are refused, for this reason (bubblewrap was asked for and cannot run).
    Refused(String),
}

/// How often a running step's workspace is measured against its size limit (less
/// often when measuring it takes long: see [`Sandbox::shell`]).
const WATCH: Duration = Duration::from_millis(100);

/// The user a root worker's steps run as (`nobody`).
pub const SANDBOX_UID: u32 = 65_534;

/// Files of `/etc` a step sees (read-only): what programs need to run, resolve names and
/// check certificates; nothing secret.
const ETC: &[&str] = &[
    "/etc/alternatives",
    "/etc/ca-certificates",
    "/etc/ssl",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/passwd",
    "/etc/group",
    "/etc/mime.types",
    "/etc/os-release",
];

/// Limits applied to every step.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How shell steps are isolated.
    pub isolation: Isolation,
    /// Whether shell steps may reach the network (isolated steps have none otherwise).
    pub network: bool,
    /// Most processes (and threads) a step may run at once.
    pub max_processes: u64,
    /// Largest the workspace may grow, in MiB: a step making it larger is killed.
    pub workspace_mb: u64,
    /// Longest a shell command may run (wall clock; CPU time is capped to the same).
    pub step_timeout: Duration,
    /// Address-space limit of a shell command, in MiB.
    pub memory_mb: u64,
    /// Largest file a command or fetch may write, and largest fetched body, in MiB.
    pub max_file_mb: u64,
    /// How much of a command's stdout and stderr is kept in the result (the tail).
    pub output_tail_bytes: usize,
    /// Which addresses steps granted the network, and the worker's own fetches, may
    /// reach (see [`Egress`]).
    pub egress: Egress,
    /// Where each step gets a cgroup of its own, bounding all its processes together
    /// (see [`Cgroups`]); rlimits only if `None`.
    pub cgroups: Option<Arc<Cgroups>>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            isolation: Isolation::Bubblewrap,
            network: false,
            max_processes: 256,
            workspace_mb: 2048,
            step_timeout: Duration::from_secs(300),
            memory_mb: 1024,
            max_file_mb: 100,
            output_tail_bytes: 8 * 1024,
            egress: Egress::default(),
            cgroups: None,
        }
    }
}

/// What a step did wrong, as the task's failure says it.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The step's own input is wrong; no retry can fix it.
    #[error("{0}")]
    Invalid(String),
    /// It failed in a way another attempt might not (a timeout, a network error).
    #[error("{0}")]
    Transient(String),
    /// It ran and failed (a non-zero exit, an HTTP error status).
    #[error("{0}")]
    Failed(String),
}

/// The outcome of one shell command.
#[derive(Debug, Clone, Serialize)]
pub struct ShellOutcome {
    /// Exit code (absent when killed by a signal).
    pub exit_code: Option<i32>,
    /// Whether the time limit killed it.
    pub timed_out: bool,
    /// Why it was killed before its end, if a limit other than time did (the
    /// workspace's size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed: Option<String>,
    /// The last `output_tail_bytes` of stdout.
    pub stdout: String,
    /// The last `output_tail_bytes` of stderr.
    pub stderr: String,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
}

impl ShellOutcome {
    /// Whether it exited 0 within its time.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// How it exited, for messages: its exit code, or `a signal`.
    pub fn exit_status(&self) -> String {
        self.exit_code
            .map_or_else(|| "a signal".to_owned(), |c| c.to_string())
    }
}

/// The outcome of one fetch.
#[derive(Debug, Clone, Serialize)]
pub struct FetchOutcome {
    /// The HTTP status.
    pub status: u16,
    /// The response's content type.
    pub content_type: Option<String>,
    /// Bytes received.
    pub bytes: u64,
    /// Where the body was saved, relative to the workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saved_as: Option<String>,
    /// The body as text (up to the output tail), when it was not saved to a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A file the task left in `out/`.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// The artifact name: its path under `out/`, with `/` turned into `__`.
    pub name: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its media type, guessed from the extension.
    pub content_type: &'static str,
}

/// A task's private working directory, removed when dropped.
///
/// Beside it, `<dir>.lock` is held locked for as long as it lives: a worker starting
/// after a crash removes the workspaces whose lock nobody holds ([`remove_orphans`]).
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
    /// Held (locked) while the workspace lives.
    _lock: std::fs::File,
    lock_path: PathBuf,
    limits: Limits,
    http: reqwest::Client,
    /// The egress proxy of steps granted the network, started by the first of them.
    proxy: std::sync::Mutex<Option<Proxy>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock_path);
    }
}

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A started command: the child, its process group, the tails of its stdout and stderr.
type Started = (
    tokio::process::Child,
    GroupGuard,
    tokio::task::JoinHandle<String>,
    tokio::task::JoinHandle<String>,
);

/// What relays a sandbox's ports (granted network, previews) to the worker.
const SOCAT: &str = "/usr/bin/socat";

/// Whether this process runs as root (its steps then run as [`SANDBOX_UID`]).
fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Gives `path` to the user steps run as, when that is not this process's.
fn hand_over(path: &Path) -> std::io::Result<()> {
    if running_as_root() {
        std::os::unix::fs::chown(path, Some(SANDBOX_UID), Some(SANDBOX_UID))?;
    }
    Ok(())
}

/// Removes the Seed workspaces under `parent` that no live worker holds (their lock is
/// free): what a worker killed mid-task left behind. Returns how many it removed.
///
/// # Errors
/// If `parent` cannot be listed.
pub fn remove_orphans(parent: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(parent)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(workspace) = name
            .strip_suffix(".lock")
            .filter(|w| w.starts_with("seed-"))
        else {
            continue;
        };
        let Ok(lock) = std::fs::OpenOptions::new().write(true).open(entry.path()) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            let dir = parent.join(workspace);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
                removed += 1;
            }
            let _ = std::fs::remove_dir_all(parent.join(format!("{workspace}.net")));
            // Preview socket directories: `<workspace>.preview-<port>`.
            if let Ok(entries) = std::fs::read_dir(parent) {
                let prefix = format!("{workspace}.preview-");
                for entry in entries.flatten() {
                    if entry.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(removed)
}

impl Sandbox {
    /// A fresh working directory under `parent` (the system's temp dir if `None`), with
    /// an empty `out/` in it.
    ///
    /// # Errors
    /// If the directory cannot be created.
    pub fn create(parent: Option<&Path>, limits: Limits) -> std::io::Result<Self> {
        let dir = match parent {
            Some(parent) => {
                std::fs::create_dir_all(parent)?;
                tempfile::Builder::new()
                    .prefix("seed-")
                    .tempdir_in(parent)?
            }
            None => tempfile::Builder::new().prefix("seed-").tempdir()?,
        };
        let lock_path = dir.path().with_extension("lock");
        let lock = std::fs::File::create(&lock_path)?;
        lock.lock()?;
        std::fs::create_dir(dir.path().join("out"))?;
        std::fs::create_dir(dir.path().join("tmp"))?;
        for path in [dir.path(), &dir.path().join("out"), &dir.path().join("tmp")] {
            hand_over(path)?;
        }
        let egress = Arc::new(limits.egress.clone());
        let checked = egress.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if let Some(why) = refuse_literal(&checked, attempt.url()) {
                attempt.error(why)
            } else if attempt.previous().len() >= 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(Resolver(egress)))
            .redirect(redirects)
            .timeout(limits.step_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("agentops-seed/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self {
            dir,
            _lock: lock,
            lock_path,
            limits,
            http,
            proxy: std::sync::Mutex::new(None),
        })
    }

    /// For steps granted the network, the directory of the egress proxy's socket (the
    /// proxy started if it is not yet); `None` for steps without network.
    fn proxy_for_steps(&self) -> Result<Option<PathBuf>, StepError> {
        if !self.limits.network {
            return Ok(None);
        }
        if !Path::new(SOCAT).exists() {
            return Err(StepError::Invalid(
                "this task's steps are granted the network, which goes through an egress \
                 proxy that needs socat (Debian: `apt-get install socat`)"
                    .into(),
            ));
        }
        self.egress_proxy()
            .map(Some)
            .map_err(|err| StepError::Transient(format!("cannot start the egress proxy: {err}")))
    }

    /// A cgroup for the next step, if steps get one.
    fn step_cgroup(&self) -> Result<Option<StepCgroup>, StepError> {
        self.limits
            .cgroups
            .as_ref()
            .map(|cgroups| {
                cgroups
                    .step(self.limits.memory_mb, self.limits.max_processes)
                    .map_err(|err| {
                        StepError::Transient(format!("cannot make the step's cgroup: {err}"))
                    })
            })
            .transpose()
    }

    /// Starts a step's (or a server's) command: as `nobody` under a root worker, so that
    /// the process limit holds (it does not for root) and nothing it writes is root's;
    /// in a process group of its own, killed with it; in `cgroup` (if any) before it runs
    /// anything; the tails of its output read as it runs. Bind the group after the
    /// child, and the cgroup before it, so that the group is dropped first and the
    /// cgroup last.
    async fn spawn(
        &self,
        cmd: tokio::process::Command,
        cgroup: Option<&StepCgroup>,
    ) -> Result<Started, StepError> {
        let mut cmd = match cgroup {
            Some(_) => cgroup::gated(&cmd)
                .map_err(|err| StepError::Transient(format!("cannot start the step: {err}")))?,
            None => cmd,
        };
        if running_as_root() {
            cmd.uid(SANDBOX_UID).gid(SANDBOX_UID);
        }
        cmd.stdin(if cgroup.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
        let program = cmd.as_std().get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .spawn()
            .map_err(|err| StepError::Transient(format!("cannot start {program}: {err}")))?;
        let group = GroupGuard(child.id());
        if let Some(cgroup) = cgroup {
            // In its cgroup before the gate opens: all it starts is born inside.
            let placed = match (child.id(), child.stdin.take()) {
                (Some(pid), Some(mut gate)) => match cgroup.add(pid) {
                    Ok(()) => gate.write_all(b"go\n").await,
                    Err(err) => Err(err),
                },
                _ => Err(std::io::Error::other("the step ended before it started")),
            };
            if let Err(err) = placed {
                let _ = child.kill().await;
                return Err(StepError::Transient(format!(
                    "cannot put the step in its cgroup {}: {err}",
                    cgroup.dir().display()
                )));
            }
        }
        let tail = self.limits.output_tail_bytes;
        let stdout = tokio::spawn(read_tail(child.stdout.take(), tail));
        let stderr = tokio::spawn(read_tail(child.stderr.take(), tail));
        Ok((child, group, stdout, stderr))
    }

    /// The directory of this sandbox's egress proxy socket, the proxy started if it is
    /// not yet.
    fn egress_proxy(&self) -> std::io::Result<PathBuf> {
        let mut proxy = self.proxy.lock().unwrap_or_else(|e| e.into_inner());
        if proxy.is_none() {
            let dir = self.root().with_extension("net");
            *proxy = Some(Proxy::start(&dir, Arc::new(self.limits.egress.clone()))?);
        }
        Ok(proxy
            .as_ref()
            .map(|p| p.dir().to_owned())
            .unwrap_or_default())
    }

    /// The working directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Resolves a path the task gave, which must stay inside the workspace.
    ///
    /// # Errors
    /// [`StepError::Invalid`] for an absolute path or one that climbs out with `..`.
    pub fn resolve(&self, relative: &str) -> Result<PathBuf, StepError> {
        let path = Path::new(relative);
        if relative.trim().is_empty() {
            return Err(StepError::Invalid("a path must not be empty".into()));
        }
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(StepError::Invalid(format!(
                "`{relative}` must be a relative path inside the workspace (no `/` at the start, no `..`)"
            )));
        }
        Ok(self.root().join(path))
    }

    /// Makes the directories up to `target` (a resolved workspace path) and gives them,
    /// once written, to the user steps run as.
    async fn make_parents(&self, target: &Path) -> std::io::Result<()> {
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await?;
            let mut dir = parent;
            while dir.starts_with(self.root()) && dir != self.root() {
                hand_over(dir)?;
                match dir.parent() {
                    Some(up) => dir = up,
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Runs `command` with `/bin/sh -c` in the workspace, isolated as
    /// [`Limits::isolation`] says (see the module docs).
    ///
    /// The environment holds only `PATH`, `HOME` (the workspace), `TMPDIR`, `LANG` and
    /// the variables given; stdin is empty. Nothing the command starts outlives it: under
    /// bubblewrap its PID namespace ends with it, otherwise its process group is killed
    /// when it exits, when the time is up, or when this future is dropped.
    ///
    /// # Errors
    /// [`StepError::Invalid`] when shell steps are refused (no isolation available),
    /// [`StepError::Transient`] if the sandbox cannot be started.
    pub async fn shell(
        &self,
        command: &str,
        env: &[(String, String)],
        timeout: Option<Duration>,
    ) -> Result<ShellOutcome, StepError> {
        let timeout = timeout
            .unwrap_or(self.limits.step_timeout)
            .min(self.limits.step_timeout);
        let cmd = match &self.limits.isolation {
            Isolation::Refused(why) => {
                return Err(StepError::Invalid(format!(
                    "shell steps are refused here: {why}. Install bubblewrap (Debian: \
                     `apt-get install bubblewrap`), or let an operator allow the weaker \
                     sandbox (SEED_SANDBOX=processes)"
                )));
            }
            Isolation::Bubblewrap => {
                let proxy = self.proxy_for_steps()?;
                self.bubblewrap(command, env, timeout, proxy.as_deref(), None)
            }
            Isolation::Processes => self.plain(command, env, timeout),
        };
        let started = Instant::now();
        let cgroup = self.step_cgroup()?;
        // `group` is bound after `child`, so dropped first: the group is killed while the
        // shell, its leader, is not yet reaped and its id cannot have been reused.
        let (mut child, mut group, stdout, stderr) = self.spawn(cmd, cgroup.as_ref()).await?;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut next_look = tokio::time::Instant::now();
        // Over the limit is what kills, but only by growing: a step that starts over it
        // (a task's earlier step was cut short there) may still clean up.
        let max_bytes = self
            .limits
            .workspace_mb
            .saturating_mul(1024 * 1024)
            .max(self.disk_usage().await);
        let (status, timed_out, killed) = loop {
            tokio::select! {
                status = child.wait() => break (status.ok(), false, None),
                () = &mut deadline => {
                    kill_group(group.0);
                    break (child.wait().await.ok(), true, None);
                }
                () = tokio::time::sleep_until(next_look) => {
                    let looked = Instant::now();
                    let size = self.disk_usage().await;
                    // A workspace of many files is measured less often: the walk takes
                    // at most a tenth of the time.
                    next_look = tokio::time::Instant::now() + WATCH.max(looked.elapsed() * 10);
                    if size > max_bytes {
                        kill_group(group.0);
                        let why = format!(
                            "killed: the workspace grew over its {} MiB limit",
                            self.limits.workspace_mb
                        );
                        break (child.wait().await.ok(), false, Some(why));
                    }
                }
            }
        };
        // Whatever the command left running in the background goes with it (and must,
        // before the pipes are read to their end: it may hold them open).
        group.kill();
        let mut killed = killed;
        if let Some(cgroup) = &cgroup {
            cgroup.kill();
            if killed.is_none() && cgroup.oom_kills() > 0 {
                killed = Some(format!(
                    "killed: out of memory (the step's {} MiB limit)",
                    self.limits.memory_mb
                ));
            }
        }
        let stdout = stdout.await.unwrap_or_default();
        let stderr = stderr.await.unwrap_or_default();
        Ok(ShellOutcome {
            exit_code: status.and_then(|s| s.code()),
            timed_out,
            killed,
            stdout,
            stderr,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Bytes the workspace takes now (walked off the async threads).
    async fn disk_usage(&self) -> u64 {
        let root = self.root().to_owned();
        tokio::task::spawn_blocking(move || disk_usage(&root))
            .await
            .unwrap_or(0)
    }

    /// The environment a step gets: `PATH`, `HOME` (the workspace), `TMPDIR`, `LANG`,
    /// then the step's own variables.
    fn environment<'a>(
        &self,
        env: &'a [(String, String)],
    ) -> impl Iterator<Item = (String, String)> + 'a {
        let root = self.root();
        [
            ("PATH".to_owned(), PATH.to_owned()),
            ("HOME".to_owned(), root.to_string_lossy().into_owned()),
            (
                "TMPDIR".to_owned(),
                root.join("tmp").to_string_lossy().into_owned(),
            ),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ]
        .into_iter()
        .chain(env.iter().cloned())
    }

    /// The limits as `prlimit` options: no core files, CPU time, address space, file
    /// size and processes.
    fn prlimits(&self, timeout: Duration) -> Vec<String> {
        vec![
            "--core=0".into(),
            format!("--cpu={}", timeout.as_secs().max(1)),
            format!("--as={}", self.limits.memory_mb.saturating_mul(1024 * 1024)),
            format!(
                "--fsize={}",
                self.limits.max_file_mb.saturating_mul(1024 * 1024)
            ),
            format!("--nproc={}", self.limits.max_processes),
        ]
    }

    /// `command` under bubblewrap (see the module docs); with `proxy` (the directory of
    /// the egress proxy's socket), its HTTP(S) goes out through the proxy; with `serve`
    /// (a directory and a port), `port` in the sandbox is relayed to `http.sock` in that
    /// directory, for a preview.
    fn bubblewrap(
        &self,
        command: &str,
        env: &[(String, String)],
        timeout: Duration,
        proxy: Option<&Path>,
        serve: Option<(&Path, u16)>,
    ) -> tokio::process::Command {
        let root = self.root().to_string_lossy().into_owned();
        let mut cmd = tokio::process::Command::new("bwrap");
        cmd.env_clear();
        cmd.args(["--unshare-all", "--die-with-parent", "--new-session"]);
        cmd.args(["--hostname", "seed"]);
        cmd.args(["--ro-bind", "/usr", "/usr"]);
        // Merged-/usr systems have these as links into /usr; older ones as directories.
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            match std::fs::read_link(top) {
                Ok(target) => {
                    cmd.arg("--symlink").arg(target).arg(top);
                }
                Err(_) if Path::new(top).is_dir() => {
                    cmd.args(["--ro-bind", top, top]);
                }
                Err(_) => {}
            }
        }
        for file in ETC {
            cmd.args(["--ro-bind-try", file, file]);
        }
        cmd.args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
        cmd.args(["--bind", &root, &root, "--chdir", &root]);
        if let Some(proxy) = proxy {
            cmd.arg("--bind").arg(proxy).arg("/run/agentops");
        }
        if let Some((dir, _)) = serve {
            cmd.arg("--bind").arg(dir).arg(PREVIEW_DIR_IN_SANDBOX);
        }
        // The sandbox's own root (where bubblewrap made its mount points) read-only too.
        cmd.args(["--remount-ro", "/"]);
        cmd.arg("--clearenv");
        let proxied = proxy
            .map(|_| egress::proxy_environment())
            .unwrap_or_default();
        for (key, value) in self.environment(env).chain(proxied) {
            cmd.arg("--setenv").arg(key).arg(value);
        }
        cmd.args(["--", "prlimit"]);
        cmd.args(self.prlimits(timeout));
        let mut wrapper = String::new();
        if proxy.is_some() {
            wrapper.push_str(&egress::relay_lines());
        }
        if let Some((_, port)) = serve {
            wrapper.push_str(&format!(
                "socat UNIX-LISTEN:{PREVIEW_DIR_IN_SANDBOX}/http.sock,fork,mode=777 \
                 TCP:127.0.0.1:{port} </dev/null >/dev/null 2>&1 &\n"
            ));
        }
        if wrapper.is_empty() {
            cmd.args(["--", "/bin/sh", "-c", command]);
        } else {
            wrapper.push_str("exec /bin/sh -c \"$1\"");
            cmd.args(["--", "/bin/sh", "-c", &wrapper, "sh", command]);
        }
        cmd
    }

    /// Starts `command`, a server listening on `port` in the sandbox, for a preview: it
    /// runs until the returned [`Server`] is dropped (or `lifetime`'s CPU time is spent),
    /// and its port is reachable from the worker only, as HTTP on a Unix socket
    /// ([`Server::socket`]). Returns once the server answers HTTP there (within
    /// `ready_within`).
    ///
    /// # Errors
    /// [`StepError::Invalid`] where previews cannot be isolated (bubblewrap is needed),
    /// [`StepError::Failed`] when the server exits or does not answer in time.
    pub async fn serve(
        &self,
        command: &str,
        port: u16,
        env: &[(String, String)],
        lifetime: Duration,
        ready_within: Duration,
    ) -> Result<Server, StepError> {
        if self.limits.isolation != Isolation::Bubblewrap {
            return Err(StepError::Invalid(
                "previews need the bubblewrap sandbox (a server's port must stay inside it)".into(),
            ));
        }
        if !Path::new(SOCAT).exists() {
            return Err(StepError::Invalid(
                "previews need socat (Debian: `apt-get install socat`)".into(),
            ));
        }
        let dir = self.root().with_extension(format!("preview-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .and_then(|()| hand_over(&dir))
            .map_err(|err| {
                StepError::Transient(format!("cannot make the preview's socket directory: {err}"))
            })?;
        let proxy = self.proxy_for_steps()?;
        let cmd = self.bubblewrap(command, env, lifetime, proxy.as_deref(), Some((&dir, port)));
        let cgroup = self.step_cgroup()?;
        let (child, group, stdout, stderr) = self.spawn(cmd, cgroup.as_ref()).await?;
        let socket = dir.join("http.sock");
        let mut server = Server {
            child,
            group,
            _cgroup: cgroup,
            socket,
            dir,
            output: Some((stdout, stderr)),
        };
        let deadline = Instant::now() + ready_within;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let (out, err) = server.output().await;
                return Err(StepError::Failed(format!(
                    "the server exited ({status}) before it answered on port {port}: {}",
                    super::last_words(&out, &err)
                )));
            }
            if answers_http(&server.socket).await {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                let secs = ready_within.as_secs();
                server.group.kill();
                let (out, err) = server.output().await;
                return Err(StepError::Failed(format!(
                    "the server did not answer HTTP on port {port} within {secs} s: {}",
                    super::last_words(&out, &err)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `command` in the weaker mode: limits and a cleared environment only.
    fn plain(
        &self,
        command: &str,
        env: &[(String, String)],
        timeout: Duration,
    ) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("prlimit");
        cmd.args(self.prlimits(timeout))
            .args(["--", "/bin/sh", "-c", command])
            .current_dir(self.root())
            .env_clear()
            .envs(self.environment(env));
        cmd
    }

    /// Fetches `url` with GET: into `save_as` (a workspace path) if given, else into the
    /// outcome as text. Bodies over the file limit are refused.
    ///
    /// # Errors
    /// [`StepError::Invalid`] for a URL that is not http(s), [`StepError::Transient`] for
    /// a network error, [`StepError::Failed`] for an error status or a body too large.
    pub async fn fetch(&self, url: &str, save_as: Option<&str>) -> Result<FetchOutcome, StepError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|err| StepError::Invalid(format!("`{url}` is not a URL: {err}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(StepError::Invalid(format!(
                "`{url}`: only http and https URLs can be fetched"
            )));
        }
        if let Some(why) = refuse_literal(&self.limits.egress, &parsed) {
            return Err(StepError::Invalid(format!("GET {url}: {why}")));
        }
        let target = save_as.map(|p| self.resolve(p)).transpose()?;
        let mut response = self.http.get(parsed).send().await.map_err(|err| {
            let why = error_chain(&err);
            if why.contains("may not reach") {
                StepError::Invalid(format!("GET {url}: {why}"))
            } else {
                StepError::Transient(format!("GET {url}: {why}"))
            }
        })?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            let transient = status.as_u16() == 429 || status.is_server_error();
            let message = format!("GET {url} answered {status}");
            return Err(if transient {
                StepError::Transient(message)
            } else {
                StepError::Failed(message)
            });
        }
        let max = self.limits.max_file_mb.saturating_mul(1024 * 1024);
        if response.content_length().is_some_and(|len| len > max) {
            return Err(StepError::Failed(format!(
                "GET {url}: the body is larger than the {} MiB limit",
                self.limits.max_file_mb
            )));
        }
        let mut received = 0u64;
        let mut buffer = Vec::new();
        let mut file = match &target {
            Some(path) => {
                self.make_parents(path)
                    .await
                    .map_err(|err| StepError::Failed(format!("{}: {err}", path.display())))?;
                Some(
                    tokio::fs::File::create(path)
                        .await
                        .map_err(|err| StepError::Failed(format!("{}: {err}", path.display())))?,
                )
            }
            None => None,
        };
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|err| StepError::Transient(format!("GET {url}: {err}")))?
        {
            received += chunk.len() as u64;
            if received > max {
                drop(file);
                if let Some(path) = &target {
                    let _ = tokio::fs::remove_file(path).await;
                }
                return Err(StepError::Failed(format!(
                    "GET {url}: the body is larger than the {} MiB limit",
                    self.limits.max_file_mb
                )));
            }
            match file.as_mut() {
                Some(file) => file
                    .write_all(&chunk)
                    .await
                    .map_err(|err| StepError::Failed(format!("writing {url}'s body: {err}")))?,
                None => buffer.extend_from_slice(&chunk),
            }
        }
        if let Some(mut file) = file {
            file.flush()
                .await
                .map_err(|err| StepError::Failed(format!("writing {url}'s body: {err}")))?;
        }
        if let Some(path) = &target {
            hand_over(path)
                .map_err(|err| StepError::Failed(format!("{}: {err}", path.display())))?;
        }
        Ok(FetchOutcome {
            status: status.as_u16(),
            content_type,
            bytes: received,
            saved_as: save_as.map(str::to_owned),
            body: target
                .is_none()
                .then(|| tail_text(&buffer, self.limits.output_tail_bytes)),
        })
    }

    /// Writes `content` to a workspace path (creating its directories).
    ///
    /// # Errors
    /// [`StepError::Invalid`] for a path outside the workspace or content over the limit.
    pub async fn write(&self, path: &str, content: &str) -> Result<u64, StepError> {
        let target = self.resolve(path)?;
        if content.len() as u64 > self.limits.max_file_mb.saturating_mul(1024 * 1024) {
            return Err(StepError::Invalid(format!(
                "`{path}`: the content is larger than the {} MiB limit",
                self.limits.max_file_mb
            )));
        }
        self.make_parents(&target)
            .await
            .map_err(|err| StepError::Failed(format!("{path}: {err}")))?;
        tokio::fs::write(&target, content)
            .await
            .map_err(|err| StepError::Failed(format!("{path}: {err}")))?;
        hand_over(&target).map_err(|err| StepError::Failed(format!("{path}: {err}")))?;
        Ok(content.len() as u64)
    }

    /// Reads a workspace file as text, up to `max` bytes (the rest is cut, and said so).
    ///
    /// # Errors
    /// [`StepError::Invalid`] for a path outside the workspace, [`StepError::Failed`] if
    /// it cannot be read.
    pub async fn read(&self, path: &str, max: usize) -> Result<String, StepError> {
        let target = self.resolve(path)?;
        let file = tokio::fs::File::open(&target)
            .await
            .map_err(|err| StepError::Failed(format!("{path}: {err}")))?;
        let mut bytes = Vec::new();
        file.take(max as u64 + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|err| StepError::Failed(format!("{path}: {err}")))?;
        let cut = bytes.len() > max;
        bytes.truncate(max);
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if cut {
            text.push_str("\n[… cut: the file is longer]");
        }
        Ok(text)
    }

    /// Every regular file under `out/`, sorted by name (symbolic links are skipped: a
    /// task cannot publish a file from outside its workspace).
    ///
    /// # Errors
    /// If `out/` cannot be listed.
    pub fn outputs(&self) -> std::io::Result<Vec<OutputFile>> {
        let out = self.root().join("out");
        let mut files = Vec::new();
        let mut dirs = vec![out.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    dirs.push(entry.path());
                } else if kind.is_file() {
                    let path = entry.path();
                    let relative = path.strip_prefix(&out).unwrap_or(&path);
                    let name = relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("__");
                    files.push(OutputFile {
                        content_type: guess_content_type(&name),
                        name,
                        path,
                    });
                }
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }
}

/// Keeps this process's secrets (its API key and LLM key, in its environment and memory)
/// away from the commands it runs: they run as the same user, who could otherwise read
/// `/proc/<seed>/environ` or attach a debugger. A process that is not "dumpable" has its
/// `/proc` files owned by root and refuses `ptrace` from other processes of its user.
/// (Root, with `CAP_SYS_PTRACE`, is not stopped: run Seed as an unprivileged user, as the
/// image does.)
///
/// # Errors
/// If the kernel refuses the change (non-Linux systems have no such switch).
pub fn protect_secrets() -> std::io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{DumpableBehavior, set_dumpable_behavior};
        set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(std::io::Error::from)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Err(std::io::Error::other(
            "hiding the process from its children needs Linux",
        ))
    }
}

/// Kills a step's process group when dropped, unless [`kill`](Self::kill) did already.
///
/// The worker drops a handler's future, whatever step it is in, when the task's lease is
/// lost or the shutdown grace ends. `kill_on_drop` then kills only the shell; this kills
/// everything it started too, rather than leave it running in a deleted workspace while
/// the task runs again elsewhere.
#[derive(Debug)]
struct GroupGuard(Option<u32>);

impl GroupGuard {
    /// Kills the group now, and not again on drop: once the shell has been reaped, its
    /// id may in time name another group.
    fn kill(&mut self) {
        kill_group(self.0.take());
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn kill_group(group: Option<u32>) {
    let Some(pid) = group
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // ESRCH (the group is gone already) is the usual answer after a clean exit.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

/// Bytes the files under `dir` take (links not followed; what cannot be read counts 0).
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                // Blocks really taken: a sparse file counts what it holds.
                total += std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
            }
        }
    }
    total
}

/// Reads a pipe to its end, keeping the last `keep` bytes.
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>, keep: usize) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let mut kept: Vec<u8> = Vec::new();
    let mut total = 0u64;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n as u64;
                kept.extend_from_slice(&chunk[..n]);
                if kept.len() > 2 * keep.max(1) {
                    kept.drain(..kept.len() - keep);
                }
            }
        }
    }
    let mut text = tail_text(&kept, keep);
    if total > keep as u64 {
        text.insert_str(
            0,
            &format!("[… {} earlier bytes cut]\n", total - keep as u64),
        );
    }
    text
}

/// The last `keep` bytes as text, starting on a character boundary.
fn tail_text(bytes: &[u8], keep: usize) -> String {
    let start = bytes.len().saturating_sub(keep);
    let text = String::from_utf8_lossy(&bytes[start..]);
    text.trim_start_matches('\u{FFFD}').to_owned()
}

fn guess_content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "log") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("json") => "application/json",
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("xml") => "application/xml",
        Some("yaml" | "yml") => "application/yaml",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        Some("tar") => "application/x-tar",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(limits: Limits) -> Sandbox {
        Sandbox::create(None, limits).unwrap()
    }

    #[tokio::test]
    async fn a_command_runs_in_the_workspace_with_a_scrubbed_environment() {
        let sb = sandbox(Limits::default());
        let out = sb
            .shell(
                "pwd; echo \"[$SECRET_FROM_PARENT]\"; echo \"$GREETING\"; env | wc -l",
                &[("GREETING".into(), "hello".into())],
                None,
            )
            .await
            .unwrap();
        assert!(out.succeeded(), "{out:?}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            std::path::Path::new(lines[0]).canonicalize().unwrap(),
            sb.root().canonicalize().unwrap()
        );
        assert_eq!(lines[1], "[]");
        assert_eq!(lines[2], "hello");
        // PATH, HOME, TMPDIR, LANG, GREETING, plus what sh itself adds (PWD, OLDPWD…).
        let count: usize = lines[3].trim().parse().unwrap();
        assert!(count <= 8, "{count} variables: {}", out.stdout);
    }

    #[tokio::test]
    async fn a_command_over_its_time_is_killed_with_everything_it_started() {
        let sb = sandbox(Limits::default());
        let out = sb
            .shell(
                "sleep 30 & echo started; wait",
                &[],
                Some(Duration::from_millis(300)),
            )
            .await
            .unwrap();
        assert!(out.timed_out);
        assert!(!out.succeeded());
        assert_eq!(out.stdout.trim(), "started");
    }

    /// Whether `pid` is gone: no such process, or a zombie (dead, waiting for a parent
    /// that is not this test to reap it).
    #[cfg(target_os = "linux")]
    fn gone(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            // `pid (comm) S …`: the state follows the last `)`.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dropping_a_running_step_kills_everything_it_started() {
        // Without namespaces (the weaker mode): its process group goes. (Under
        // bubblewrap, see `nothing_a_step_starts_outlives_it_or_its_worker`.)
        let sb = sandbox(Limits {
            isolation: Isolation::Processes,
            ..Limits::default()
        });
        let pid_file = sb.root().join("grandchild.pid");
        // A grandchild of the shell: it writes its own pid, then sleeps on.
        let step = sb.shell(
            "sh -c 'echo $$ > tmp/pid && mv tmp/pid grandchild.pid && exec sleep 300' & wait",
            &[],
            None,
        );
        let started = async {
            loop {
                if let Ok(text) = std::fs::read_to_string(&pid_file) {
                    return text.trim().parse::<i32>().unwrap();
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };

        // The step is dropped, unfinished, as the worker drops an aborted handler.
        let pid = tokio::select! {
            out = step => panic!("the step ended by itself: {out:?}"),
            pid = tokio::time::timeout(Duration::from_secs(10), started) => {
                pid.expect("the grandchild never started")
            }
        };

        let deadline = Instant::now() + Duration::from_secs(10);
        while !gone(pid) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let survived = !gone(pid);
        if survived {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(pid).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
        assert!(!survived, "process {pid} outlived the dropped step");
    }

    #[tokio::test]
    async fn a_command_over_its_memory_limit_fails() {
        // dd allocates its whole block at once: 256 MiB fits in 1 GiB, not in 64 MiB.
        let command = "dd if=/dev/zero of=/dev/null bs=256M count=1";
        let roomy = sandbox(Limits::default());
        let out = roomy.shell(command, &[], None).await.unwrap();
        assert!(out.succeeded(), "{out:?}");
        let tight = sandbox(Limits {
            memory_mb: 64,
            ..Limits::default()
        });
        let out = tight.shell(command, &[], None).await.unwrap();
        assert!(!out.succeeded(), "{out:?}");
        assert!(out.stderr.contains("memory"), "{out:?}");
    }

    #[tokio::test]
    async fn output_keeps_its_tail_and_says_how_much_was_cut() {
        let sb = sandbox(Limits {
            output_tail_bytes: 100,
            ..Limits::default()
        });
        let out = sb
            .shell("seq 1 10000; echo done >&2; exit 3", &[], None)
            .await
            .unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert!(out.stdout.starts_with("[… "), "{}", out.stdout);
        assert!(out.stdout.ends_with("9999\n10000\n"));
        assert_eq!(out.stderr, "done\n");
    }

    #[tokio::test]
    async fn paths_cannot_leave_the_workspace() {
        let sb = sandbox(Limits::default());
        for bad in ["/etc/passwd", "../x", "out/../../x", ""] {
            assert!(
                matches!(sb.resolve(bad), Err(StepError::Invalid(_))),
                "{bad}"
            );
        }
        sb.write("out/report/summary.md", "# hi").await.unwrap();
        assert_eq!(sb.read("out/report/summary.md", 100).await.unwrap(), "# hi");
        std::os::unix::fs::symlink("/etc/hostname", sb.root().join("out/link")).unwrap();
        let outputs = sb.outputs().unwrap();
        assert_eq!(outputs.len(), 1);
        assert_eq!(outputs[0].name, "report__summary.md");
        assert_eq!(outputs[0].content_type, "text/markdown; charset=utf-8");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn commands_cannot_read_the_workers_environment_once_secrets_are_protected() {
        // The weaker mode, where the worker's process is in sight (under bubblewrap it
        // is not: see `a_step_sees_nothing_of_the_worker_or_the_machine`).
        let sb = sandbox(Limits {
            isolation: Isolation::Processes,
            ..Limits::default()
        });
        let peek = "tr '\\0' '\\n' < /proc/$PPID/environ | grep -c '^PATH='";
        let before = sb.shell(peek, &[], None).await.unwrap();
        if running_as_root() {
            // A root worker's steps run as nobody: they cannot read it at all.
            assert!(!before.succeeded(), "{before:?}");
            assert!(before.stderr.contains("Permission denied"), "{before:?}");
            return;
        }
        assert!(before.succeeded(), "{before:?}");
        protect_secrets().unwrap();
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
        let after = sb.shell(peek, &[], None).await.unwrap();
        assert!(!after.succeeded(), "{after:?}");
        assert!(after.stderr.contains("Permission denied"), "{after:?}");
    }

    /// Host processes whose command line holds `marker`.
    #[cfg(target_os = "linux")]
    fn processes_with(marker: &str) -> Vec<i32> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if String::from_utf8_lossy(&cmdline).contains(marker) && !gone(pid) {
                found.push(pid);
            }
        }
        found
    }

    /// Under bubblewrap a step sees its workspace, a private `/tmp`, the system
    /// read-only and nothing else: not the machine's secrets, not the worker (its
    /// environment, its key file, its process), not the network.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_step_sees_nothing_of_the_worker_or_the_machine() {
        let parent = tempfile::tempdir().unwrap();
        // The worker's own key file, beside the workspaces.
        let key = parent.path().join("secret.key");
        std::fs::write(&key, "worker-key-canary").unwrap();
        let sb = Sandbox::create(Some(parent.path()), Limits::default()).unwrap();
        let api = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = api.local_addr().unwrap().port();
        let checks = [
            ("cat /etc/shadow", false),
            (&format!("cat {}", key.display()), false),
            ("ls /root /home /var/lib", false),
            ("tr '\\0' '\\n' < /proc/1/environ | grep -q PATH=", false),
            // Only the step's own processes: bwrap, prlimit's sh, and this pipeline.
            ("test $(ls /proc | grep -c '^[0-9]') -le 6", true),
            ("touch /usr/x", false),
            ("touch /etc/x", false),
            ("touch out/mine", true),
            (
                &format!(
                    "python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\""
                ),
                false,
            ),
            (
                "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\"",
                false,
            ),
            ("test \"$(hostname)\" = seed", true),
        ];
        for (command, allowed) in checks {
            let out = sb.shell(command, &[], None).await.unwrap();
            assert_eq!(out.succeeded(), allowed, "{command}: {out:?}");
        }
        // Writes outside the workspace land in the sandbox's private /tmp, if anywhere.
        let private = sb
            .shell(
                &format!(
                    "touch /tmp/private && touch {}/escaped; ls /tmp",
                    parent.path().display()
                ),
                &[],
                None,
            )
            .await
            .unwrap();
        assert!(private.succeeded(), "{private:?}");
        assert!(sb.root().join("out/mine").exists());
        assert!(!parent.path().join("escaped").exists());
        assert!(!Path::new("/tmp/private").exists());
        assert!(!Path::new("/usr/x").exists());
        let environment = sb.shell("env", &[], None).await.unwrap();
        let names: Vec<&str> = environment
            .stdout
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k))
            .collect();
        assert!(
            names
                .iter()
                .all(|n| ["PATH", "HOME", "TMPDIR", "LANG", "PWD"].contains(n)),
            "{names:?}"
        );
        drop(api);
    }

    /// A fork bomb, a disk filler, a runaway writer: each ends in its step, and the
    /// worker runs the next step as if nothing happened.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_hostile_step_ends_and_leaves_the_worker_healthy() {
        let sb = sandbox(Limits {
            max_processes: 64,
            max_file_mb: 8,
            workspace_mb: 24,
            ..Limits::default()
        });
        let bomb = sb
            .shell(
                "b() { b | b & }; b; sleep 1",
                &[],
                Some(Duration::from_secs(5)),
            )
            .await
            .unwrap();
        // It hit the process limit, and ended with its step.
        assert!(bomb.stderr.contains("Cannot fork"), "{bomb:?}");
        assert!(bomb.duration_ms < 5_000, "{bomb:?}");
        // Bigger than a file may be: cut at the file-size limit.
        let big = sb
            .shell("dd if=/dev/zero of=big bs=1M count=64", &[], None)
            .await
            .unwrap();
        assert!(!big.succeeded(), "{big:?}");
        assert!(std::fs::metadata(sb.root().join("big")).unwrap().len() <= 8 * 1024 * 1024);
        // Many files under the limit each, over the workspace's size in all.
        let filler = sb
            .shell(
                "i=0; while [ $i -lt 150 ]; do i=$((i+1)); dd if=/dev/zero of=f$i bs=1M count=4 2>/dev/null; done",
                &[],
                Some(Duration::from_secs(60)),
            )
            .await
            .unwrap();
        assert!(!filler.timed_out, "{filler:?}");
        assert!(
            filler
                .killed
                .as_deref()
                .is_some_and(|k| k.contains("24 MiB")),
            "{filler:?}"
        );
        // Measured every 100 ms, the limit may be passed by what the step writes in
        // that time; the filler was stopped well before the 600 MiB it meant to write.
        let used = disk_usage(sb.root());
        assert!(used < 400 * 1024 * 1024, "{} MiB used", used / 1024 / 1024);
        let healthy = sb
            .shell("rm -f f* big; echo fine", &[], None)
            .await
            .unwrap();
        assert!(healthy.succeeded(), "{healthy:?}");
        assert_eq!(healthy.stdout.trim(), "fine");
    }

    /// What a step leaves running in the background ends with it.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn nothing_a_step_starts_outlives_it() {
        let sb = sandbox(Limits::default());
        let out = sb
            .shell("sleep 300.123 & echo left", &[], None)
            .await
            .unwrap();
        assert!(out.succeeded(), "{out:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_with("300.123").is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(processes_with("300.123"), Vec::<i32>::new());
    }

    /// The environment variable that makes this test binary a worker for
    /// `a_step_dies_with_its_worker_killed_with_sigkill`: the workspace parent to use.
    const WORKER_PARENT: &str = "AGENTOPS_TEST_SANDBOX_WORKER";

    /// Run only by `a_step_dies_with_its_worker_killed_with_sigkill`, as a process of
    /// its own: a worker in the middle of a long step.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    #[ignore = "a helper process for a_step_dies_with_its_worker_killed_with_sigkill"]
    async fn sandbox_worker_helper() {
        let Some(parent) = std::env::var_os(WORKER_PARENT) else {
            return;
        };
        let sb = Sandbox::create(Some(Path::new(&parent)), Limits::default()).unwrap();
        let out = sb
            .shell(
                "echo started > started; sleep 300.456; echo finished > finished",
                &[],
                None,
            )
            .await;
        panic!("the step was not meant to end: {out:?}");
    }

    /// A worker killed with SIGKILL in the middle of a step takes the step with it (no
    /// process left to finish its command after the task went to another worker), and
    /// the next worker to start there removes the workspace it left.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_step_dies_with_its_worker_killed_with_sigkill() {
        let parent = tempfile::tempdir().unwrap();
        // The step writes beside its workspace's parent... not: it may not. Markers go in
        // a directory it can write, handed over like a workspace.
        let markers = parent.path().join("seed-markers");
        std::fs::create_dir(&markers).unwrap();
        hand_over(&markers).unwrap();
        let mut worker = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "seed::sandbox::tests::sandbox_worker_helper",
                "--ignored",
                "--nocapture",
            ])
            .env(WORKER_PARENT, &markers)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Started: its command runs (bubblewrap has set up the sandbox, and its tie to
        // the worker, before it runs the command).
        let deadline = Instant::now() + Duration::from_secs(30);
        let started = || {
            std::fs::read_dir(&markers)
                .unwrap()
                .flatten()
                .any(|e| e.path().join("started").exists())
        };
        while !started() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            !processes_with("300.456").is_empty(),
            "the step never started"
        );
        assert!(
            remove_orphans(&markers).unwrap() == 0,
            "a live workspace is no orphan"
        );

        worker.kill().unwrap(); // SIGKILL
        worker.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_with("300.456").is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = processes_with("300.456");
        let described: Vec<String> = left
            .iter()
            .map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                format!(
                    "{stat} :: {}",
                    String::from_utf8_lossy(&cmd).replace('\0', " ")
                )
            })
            .collect();
        for pid in &left {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(*pid).unwrap(),
                rustix::process::Signal::KILL,
            );
        }
        assert!(
            left.is_empty(),
            "the step outlived its worker: {described:#?}"
        );
        let workspaces = || {
            std::fs::read_dir(&markers)
                .unwrap()
                .flatten()
                .filter(|e| e.path().is_dir())
                .count()
        };
        assert_eq!(workspaces(), 1, "the killed worker left its workspace");
        assert_eq!(remove_orphans(&markers).unwrap(), 1);
        assert_eq!(workspaces(), 0);
    }

    /// Waits up to 2 s for `steps` (the step cgroups there are) to be none.
    async fn until_no_step_cgroups(steps: &impl Fn() -> Vec<PathBuf>) {
        for _ in 0..100 {
            if steps().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// With a cgroup v2 directory to use (`SEED_CGROUP=<path>`), every step runs in a
    /// cgroup of its own: all its processes, from the first, are in it while it runs,
    /// and it is gone with the step. (This machine's cgroup v2 hierarchy has none of the
    /// memory, pids and cpu controllers, which its cgroup v1 holds: the limits they set
    /// are not tried here, the placement and the clean-up are, on the real kernel.)
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn each_step_runs_in_a_cgroup_of_its_own_gone_with_it() {
        use super::cgroup::CgroupSetting;
        if !running_as_root() {
            eprintln!("not run: mounting a cgroup v2 file system to try it on takes root");
            return;
        }
        let mount = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "cgroup2", "none"])
            .arg(mount.path())
            .status()
            .unwrap();
        assert!(mounted.success(), "cgroup2 mounts on this machine");
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = std::process::Command::new("umount")
                    .arg("-l")
                    .arg(&self.0)
                    .status();
            }
        }
        let _unmount = Unmount(mount.path().to_owned());
        let base = mount
            .path()
            .join(format!("agentops-test-{}", uuid::Uuid::new_v4().simple()));
        struct Remove(PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir(self.0.join("agentops-worker"));
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let _remove = Remove(base.clone());
        let cgroups = Cgroups::open(&CgroupSetting::At(base.clone()), Some(1.0))
            .unwrap()
            .expect("a cgroup");
        assert_eq!(cgroups.base(), base);
        let sb = sandbox(Limits {
            cgroups: Some(Arc::new(cgroups)),
            ..Limits::default()
        });
        let steps = || -> Vec<PathBuf> {
            std::fs::read_dir(&base)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("agentops-step-"))
                })
                .collect()
        };
        let marker = format!("cg-{}", uuid::Uuid::new_v4().simple());
        let command = format!("sleep 30 & sleep 1.5; echo done # {marker}");
        let watch = async {
            loop {
                let with_marker = processes_with(&marker);
                if let [step] = steps().as_slice()
                    && !with_marker.is_empty()
                {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let inside: Vec<i32> = std::fs::read_to_string(step.join("cgroup.procs"))
                        .unwrap()
                        .split_whitespace()
                        .map(|p| p.parse().unwrap())
                        .collect();
                    return (processes_with(&marker), inside);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let (out, (with_marker, inside)) = tokio::join!(sb.shell(&command, &[], None), watch);
        let out = out.unwrap();
        assert!(out.succeeded(), "{out:?}");
        assert_eq!(out.stdout.trim(), "done");
        // bubblewrap, the step's shell and both sleeps: every one of them inside.
        assert!(inside.len() >= 3, "{inside:?}");
        for pid in &with_marker {
            assert!(inside.contains(pid), "process {pid} is outside: {inside:?}");
        }
        until_no_step_cgroups(&steps).await;
        assert!(
            steps().is_empty(),
            "the step's cgroup is removed: {:?}",
            steps()
        );
        assert!(
            processes_with(&marker).is_empty(),
            "the background sleep is gone"
        );

        // A preview's server too: in a cgroup of its own while it runs, gone with it.
        let page = format!("{marker}-page");
        sb.write(&format!("{page}/index.html"), "<p>hi</p>")
            .await
            .unwrap();
        let server = sb
            .serve(
                &format!("python3 -m http.server 8080 --bind 127.0.0.1 --directory {page}"),
                8080,
                &[],
                Duration::from_secs(60),
                Duration::from_secs(20),
            )
            .await
            .unwrap();
        let [step] = <[PathBuf; 1]>::try_from(steps()).expect("one cgroup, the server's");
        let inside = std::fs::read_to_string(step.join("cgroup.procs")).unwrap();
        let serving = processes_with(&page);
        assert!(!serving.is_empty());
        for pid in serving {
            assert!(
                inside.split_whitespace().any(|p| p == pid.to_string()),
                "server process {pid} is outside: {inside}"
            );
        }
        drop(server);
        until_no_step_cgroups(&steps).await;
        assert!(
            steps().is_empty(),
            "the server's cgroup is removed: {:?}",
            steps()
        );
        assert!(processes_with(&page).is_empty(), "the server is gone");
    }

    #[tokio::test]
    async fn only_http_urls_are_fetched() {
        let sb = sandbox(Limits::default());
        for bad in ["file:///etc/passwd", "not a url", "ftp://example.com/x"] {
            assert!(
                matches!(sb.fetch(bad, None).await, Err(StepError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
