//! The local speech engine under `agentops up`: when `scripts/speech/install.sh` has
//! installed it (a virtualenv with faster-whisper and piper, see `docs/speech.md`) and
//! nothing answers on its port yet, `agentops up` starts it as a child process (the
//! server script is built into the binary) and stops it on the way out; the embedded
//! Chief of Staff then finds it (`SPEECH_BASE_URL=auto`). Not installed, it says how to
//! turn voice on.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// The server, as `scripts/speech/server.py` is.
const SERVER: &str = include_str!("../scripts/speech/server.py");

/// How long the engine may take to load its models.
const STARTUP: Duration = Duration::from_secs(90);

/// The engine's home (`AGENTOPS_SPEECH_HOME`, as `scripts/speech/install.sh` uses it).
fn home() -> Option<PathBuf> {
    match std::env::var_os("AGENTOPS_SPEECH_HOME") {
        Some(home) if !home.is_empty() => Some(PathBuf::from(home)),
        _ => {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/agentops/speech"))
        }
    }
}

/// The local engine, running as this process's child (stopped when dropped).
#[derive(Debug)]
pub struct LocalSpeech {
    child: tokio::process::Child,
}

impl LocalSpeech {
    /// Starts the installed engine on the local speech port, unless one answers there
    /// already (`None` then, as when it is not installed: both are said in the log).
    ///
    /// # Errors
    /// If it is installed but does not start or answer within `STARTUP`.
    pub async fn start_if_installed(data_dir: &Path) -> anyhow::Result<Option<Self>> {
        if crate::agents::speech_answers(crate::agents::LOCAL_SPEECH).await {
            tracing::info!(
                "a speech engine already answers on {}",
                crate::agents::LOCAL_SPEECH
            );
            return Ok(None);
        }
        let Some(python) = home()
            .map(|home| home.join("venv/bin/python"))
            .filter(|python| python.exists())
        else {
            tracing::info!(
                "voice is off: the local speech engine is not installed (scripts/speech/install.sh)"
            );
            return Ok(None);
        };
        std::fs::create_dir_all(data_dir)?;
        let script = data_dir.join("speech-server.py");
        std::fs::write(&script, SERVER)
            .with_context(|| format!("cannot write {}", script.display()))?;
        let port = reqwest::Url::parse(crate::agents::LOCAL_SPEECH)
            .ok()
            .and_then(|url| url.port())
            .unwrap_or(8093);
        tracing::info!("starting the local speech engine ({})", python.display());
        let child = tokio::process::Command::new(&python)
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", python.display()))?;
        let mut engine = Self { child };
        let started = std::time::Instant::now();
        while started.elapsed() < STARTUP {
            if let Some(status) = engine.child.try_wait()? {
                anyhow::bail!("the local speech engine stopped at once ({status})");
            }
            if crate::agents::speech_answers(crate::agents::LOCAL_SPEECH).await {
                return Ok(Some(engine));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        engine.stop().await;
        anyhow::bail!(
            "the local speech engine did not answer within {}s",
            STARTUP.as_secs()
        )
    }

    /// Stops it.
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}
