//! The demo (`examples/guarded_api.rs`) as a child process: built once, started with chosen
//! `GUARD_*` variables and nothing else from the test's environment, read until it prints
//! `listening on`. The child is killed when its handle is dropped.
#![allow(dead_code)]
// `pub` items here are shared by several test crates, each seeing only some of them.
#![allow(unreachable_pub)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// Builds the example (cheap when up to date) and returns its path.
pub async fn example_binary() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--example", "guarded_api"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .await
        .unwrap_or_else(|e| panic!("cargo build: {e}"));
    assert!(status.success(), "building the example failed");
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap_or_else(|| panic!("no target dir above {exe:?}"));
    profile_dir.join("examples").join("guarded_api")
}

/// Starts the demo with `vars` and reads its stdout until `listening on` (and, with the
/// embedded issuer, the curl lines) have been printed.
pub async fn start(vars: &[(&str, &str)], want_curl: bool) -> (Child, String, Vec<String>) {
    let mut command = Command::new(example_binary().await);
    command
        .env_clear()
        .env("GUARD_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn demo: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = BufReader::new(stdout).lines();
    let mut addr = String::new();
    let mut shell = Vec::new();
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("listening on ") {
                addr = rest.trim().to_owned();
                if !want_curl {
                    break;
                }
            }
            if line.starts_with("TOKEN=") || line.starts_with("curl ") {
                shell.push(line);
                if shell.len() == 4 {
                    break;
                }
            }
        }
    };
    timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("the demo did not print its lines in time"));
    assert!(
        addr.starts_with("http://127.0.0.1:"),
        "listening line: {addr:?}"
    );
    (child, addr, shell)
}

/// Starts the demo with `vars` and reads its stdout until `listening on`; returns the API
/// address and the admin address (from the `admin listening on` line, when printed).
pub async fn start_with_admin(vars: &[(&str, &str)]) -> (Child, String, Option<String>) {
    let mut command = Command::new(example_binary().await);
    command
        .env_clear()
        .env("GUARD_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn demo: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut lines = BufReader::new(stdout).lines();
    let (mut addr, mut admin) = (String::new(), None);
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("admin listening on ") {
                admin = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.strip_prefix("listening on ") {
                addr = rest.trim().to_owned();
                break;
            }
        }
    };
    timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("the demo did not print its lines in time"));
    assert!(
        addr.starts_with("http://127.0.0.1:"),
        "listening line: {addr:?}"
    );
    (child, addr, admin)
}
