//! Where a Seed task runs: a private working directory, shell commands with a time limit,
//! a memory limit and a scrubbed environment, bounded HTTP fetches, and the files it
//! leaves in `out/` collected as artifacts.
//!
//! The limits protect the worker from a runaway step, not the machine from a hostile
//! one: run Seed in its own container (as the Terraform does), with nothing else
//! reachable that a task should not reach.

use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Limits applied to every step.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest a shell command may run (wall clock; CPU time is capped to the same).
    pub step_timeout: Duration,
    /// Address-space limit of a shell command, in MiB.
    pub memory_mb: u64,
    /// Largest file a command or fetch may write, and largest fetched body, in MiB.
    pub max_file_mb: u64,
    /// How much of a command's stdout and stderr is kept in the result (the tail).
    pub output_tail_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            step_timeout: Duration::from_secs(300),
            memory_mb: 1024,
            max_file_mb: 100,
            output_tail_bytes: 8 * 1024,
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
#[derive(Debug)]
pub struct Sandbox {
    dir: tempfile::TempDir,
    limits: Limits,
    http: reqwest::Client,
}

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

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
        std::fs::create_dir(dir.path().join("out"))?;
        std::fs::create_dir(dir.path().join("tmp"))?;
        let http = reqwest::Client::builder()
            .timeout(limits.step_timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("agentops-seed/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(Self { dir, limits, http })
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

    /// Runs `command` with `/bin/sh -c` in the workspace.
    ///
    /// The environment holds only `PATH`, `HOME` (the workspace), `TMPDIR`, `LANG` and
    /// the variables given; stdin is empty. The command and everything it starts run in
    /// their own process group, which is killed when the time is up (or as soon as the
    /// command exits, so nothing it left in the background outlives the step, or when
    /// this future is dropped before the command is done).
    ///
    /// # Errors
    /// [`StepError::Transient`] if the shell cannot be started.
    pub async fn shell(
        &self,
        command: &str,
        env: &[(String, String)],
        timeout: Option<Duration>,
    ) -> Result<ShellOutcome, StepError> {
        let timeout = timeout
            .unwrap_or(self.limits.step_timeout)
            .min(self.limits.step_timeout);
        let cpu_secs = timeout.as_secs().max(1);
        let memory_kib = self.limits.memory_mb.saturating_mul(1024);
        let file_blocks = self.limits.max_file_mb.saturating_mul(2048);
        // The limits are set by the shell itself (no unsafe `pre_exec`): `ulimit` applies
        // to the shell and every process it starts; then the command runs in it.
        let script = format!(
            "ulimit -c 0; ulimit -t {cpu_secs} && ulimit -v {memory_kib} && ulimit -f {file_blocks} || exit 125\neval \"$1\""
        );
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .arg("seed-step")
            .arg(command)
            .current_dir(self.root())
            .env_clear()
            .env("PATH", PATH)
            .env("HOME", self.root())
            .env("TMPDIR", self.root().join("tmp"))
            .env("LANG", "C.UTF-8")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|err| StepError::Transient(format!("cannot start /bin/sh: {err}")))?;
        // Declared after `child`, so dropped first: the group is killed while the shell,
        // its leader, is not yet reaped and its id cannot have been reused.
        let mut group = GroupGuard(child.id());
        let tail = self.limits.output_tail_bytes;
        let stdout = tokio::spawn(read_tail(child.stdout.take(), tail));
        let stderr = tokio::spawn(read_tail(child.stderr.take(), tail));
        let (status, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => (status.ok(), false),
            Err(_) => {
                kill_group(group.0);
                (child.wait().await.ok(), true)
            }
        };
        // Whatever the command left running in the background goes with it (and must,
        // before the pipes are read to their end: it may hold them open).
        group.kill();
        let stdout = stdout.await.unwrap_or_default();
        let stderr = stderr.await.unwrap_or_default();
        Ok(ShellOutcome {
            exit_code: status.and_then(|s| s.code()),
            timed_out,
            stdout,
            stderr,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
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
        let target = save_as.map(|p| self.resolve(p)).transpose()?;
        let mut response = self
            .http
            .get(parsed)
            .send()
            .await
            .map_err(|err| StepError::Transient(format!("GET {url}: {err}")))?;
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
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|err| StepError::Failed(format!("{}: {err}", path.display())))?;
                }
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
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|err| StepError::Failed(format!("{path}: {err}")))?;
        }
        tokio::fs::write(&target, content)
            .await
            .map_err(|err| StepError::Failed(format!("{path}: {err}")))?;
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
        let sb = sandbox(Limits::default());
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
        let sb = sandbox(Limits::default());
        let peek = "tr '\\0' '\\n' < /proc/$PPID/environ | grep -c '^PATH='";
        let before = sb.shell(peek, &[], None).await.unwrap();
        assert!(before.succeeded(), "{before:?}");
        protect_secrets().unwrap();
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::NotDumpable
        );
        let after = sb.shell(peek, &[], None).await.unwrap();
        if rustix::process::geteuid().is_root() {
            // Root reads any process's /proc files: nothing more to check here.
            return;
        }
        assert!(!after.succeeded(), "{after:?}");
        assert!(after.stderr.contains("Permission denied"), "{after:?}");
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
