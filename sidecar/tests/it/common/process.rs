//! The `bearer-guard` binary as a child process: started with chosen variables and nothing
//! else from the test's environment, read until it prints `listening on`, its stderr kept for
//! the test, killed when dropped.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

use super::{RULES, rules_file};

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_bearer-guard");

/// How long the sidecar may take to print `listening on`.
const START_WAIT: Duration = Duration::from_secs(30);

/// A running sidecar.
pub struct SidecarProcess {
    pub child: Child,
    /// `127.0.0.1:port`.
    pub addr: String,
    /// The admin listener's `127.0.0.1:port`, when `GUARD_ADMIN_LISTEN` is set (read from its
    /// `admin listener at` line, so `127.0.0.1:0` works and no port is guessed).
    pub admin: Option<String>,
    /// Lines it wrote to stderr so far.
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// The rules file it was started with by [`SidecarProcess::with_rules`] (removed on drop).
    rules: Option<tempfile::NamedTempFile>,
}

impl SidecarProcess {
    /// Starts the binary with `vars` (`GUARD_LISTEN` is `127.0.0.1:0` unless given) and waits
    /// for `listening on`.
    pub async fn start(vars: &[(&str, &str)]) -> SidecarProcess {
        let mut command = Command::new(BINARY);
        command
            .env_clear()
            .env("GUARD_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BINARY}: {e}"));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    lock(&sink).push(line);
                }
            });
        }
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(stdout).lines();
        let mut admin = None;
        let read = async {
            while let Ok(Some(line)) = lines.next_line().await {
                // Printed before `listening on` when GUARD_ADMIN_LISTEN is set.
                if let Some(rest) = line.split("admin listener at http://").nth(1) {
                    admin = rest.split_whitespace().next().map(str::to_owned);
                }
                if let Some(rest) = line.split("listening on ").nth(1) {
                    return Some(rest.trim().to_owned());
                }
            }
            None
        };
        let addr = match timeout(START_WAIT, read).await {
            Ok(Some(url)) => url.trim_start_matches("http://").to_owned(),
            Ok(None) => panic!(
                "the sidecar exited without `listening on`: {:?}",
                lock(&stderr)
            ),
            Err(_) => panic!("no `listening on` within {START_WAIT:?}"),
        };
        // Keep draining stdout so that the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        assert!(addr.starts_with("127.0.0.1:"), "listening on {addr:?}");
        SidecarProcess {
            child,
            addr,
            admin,
            stderr,
            rules: None,
        }
    }

    /// Starts the binary asking `verify_url`, with a rules file holding [`RULES`] (kept
    /// while the process runs).
    pub async fn with_rules(verify_url: &str) -> SidecarProcess {
        Self::with_rules_and(verify_url, &[]).await
    }

    /// As [`with_rules`](Self::with_rules), with `more` variables.
    pub async fn with_rules_and(verify_url: &str, more: &[(&str, &str)]) -> SidecarProcess {
        let rules = rules_file(RULES);
        let rules_path = rules.path().display().to_string();
        let mut vars = vec![
            ("GUARD_VERIFY_URL", verify_url),
            ("GUARD_RULES", rules_path.as_str()),
        ];
        vars.extend_from_slice(more);
        let mut sidecar = Self::start(&vars).await;
        sidecar.rules = Some(rules);
        sidecar
    }

    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        super::client()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default()
    }

    /// The stderr lines so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        lock(&self.stderr).clone()
    }

    /// Sends SIGTERM.
    pub async fn terminate(&self) {
        let pid = self
            .child
            .id()
            .unwrap_or_else(|| panic!("the sidecar has exited"));
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .unwrap_or_else(|e| panic!("kill: {e}"));
        assert!(status.success(), "kill -TERM {pid}");
    }
}

/// Runs the binary with `args` and `vars` to the end (bounded): exit code, stdout, stderr.
pub async fn run(args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = Command::new(BINARY);
    command.env_clear().args(args).kill_on_drop(true);
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = timeout(Duration::from_secs(30), command.output())
        .await
        .unwrap_or_else(|_| panic!("{BINARY} {args:?} did not exit within 30 s"))
        .unwrap_or_else(|e| panic!("run {BINARY}: {e}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
