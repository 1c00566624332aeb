//! The demo (`examples/guarded_api.rs`) as a child process: built once, started with chosen
//! `GUARD_*` variables and nothing else from the test's environment, read until it prints
//! `listening on`; or run to its exit. Every child (the demo, the nested `cargo build`, a shell
//! running the printed lines) has a timeout and is killed when its handle is dropped.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::OnceCell;
use tokio::time::timeout;

/// How long the nested `cargo build --example guarded_api` may take (a first build compiles
/// the example; later ones find it up to date).
const BUILD_WAIT: Duration = Duration::from_secs(600);

/// How long a demo that must stop at startup, or a shell running its printed lines, may run.
const EXIT_WAIT: Duration = Duration::from_secs(60);

/// Builds the example once per test run (at most [`BUILD_WAIT`]; the build is killed if it
/// takes longer) and returns its path.
pub async fn example_binary() -> PathBuf {
    static BUILT: OnceCell<PathBuf> = OnceCell::const_new();
    BUILT
        .get_or_init(|| async {
            let mut cargo = Command::new(env!("CARGO"));
            cargo
                .args(["build", "--quiet", "--example", "guarded_api"])
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            let output = run_to_exit(&mut cargo, BUILD_WAIT, "cargo build --example").await;
            assert!(
                output.status.success(),
                "building the example failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
            let profile_dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .unwrap_or_else(|| panic!("no target dir above {exe:?}"));
            profile_dir.join("examples").join("guarded_api")
        })
        .await
        .clone()
}

/// Runs `command` to its exit with its output collected: killed when `within` passes (or the
/// test ends first), which fails the test naming `what`.
pub async fn run_to_exit(command: &mut Command, within: Duration, what: &str) -> Output {
    command.stdin(Stdio::null()).kill_on_drop(true);
    timeout(within, command.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not exit within {within:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Runs the demo with `vars` (nothing else from the test's environment; `GUARD_LISTEN` is
/// `127.0.0.1:0` unless given) to its exit, at most [`EXIT_WAIT`]: whether it succeeded, and
/// its stderr. For settings that must stop it at startup.
pub async fn demo_exit(vars: &[(&str, &str)]) -> (bool, String) {
    let mut demo = Command::new(example_binary().await);
    demo.env_clear()
        .env("GUARD_LISTEN", "127.0.0.1:0")
        .envs(vars.iter().copied());
    let output = run_to_exit(&mut demo, EXIT_WAIT, "the demo").await;
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `script` with `sh -c` (the demo's printed lines, pasted), at most [`EXIT_WAIT`]:
/// whether it succeeded, and its stdout.
pub async fn run_shell(script: &str) -> (bool, String) {
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(script);
    let output = run_to_exit(&mut sh, EXIT_WAIT, "the pasted lines").await;
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// What the demo printed before it was ready.
struct Printed {
    /// From `listening on <url>`.
    addr: String,
    /// From `admin listening on <addr> …`, when printed.
    admin: Option<String>,
    /// The `TOKEN=` and `curl ` lines (with the embedded issuer).
    shell: Vec<String>,
}

/// Starts the demo with `vars` (nothing else from the test's environment, killed on drop) and
/// reads its stdout (at most 60 s) until `listening on` and, when `want_curl`, until the four
/// shell lines of the embedded issuer have been printed.
async fn launch(vars: &[(&str, &str)], want_curl: bool) -> (Child, Printed) {
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
    let mut printed = Printed {
        addr: String::new(),
        admin: None,
        shell: Vec::new(),
    };
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("admin listening on ") {
                printed.admin = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.strip_prefix("listening on ") {
                printed.addr = rest.trim().to_owned();
                if !want_curl {
                    break;
                }
            }
            if line.starts_with("TOKEN=") || line.starts_with("curl ") {
                printed.shell.push(line);
                if printed.shell.len() == 4 {
                    break;
                }
            }
        }
    };
    timeout(Duration::from_secs(60), read)
        .await
        .unwrap_or_else(|_| panic!("the demo did not print its lines in time"));
    assert!(
        printed.addr.starts_with("http://127.0.0.1:"),
        "listening line: {:?}",
        printed.addr
    );
    (child, printed)
}

/// Starts the demo with `vars` and reads its stdout until `listening on` (and, with the
/// embedded issuer, the curl lines) have been printed.
pub async fn start(vars: &[(&str, &str)], want_curl: bool) -> (Child, String, Vec<String>) {
    let (child, printed) = launch(vars, want_curl).await;
    (child, printed.addr, printed.shell)
}

/// Starts the demo with `vars` and reads its stdout until `listening on`; returns the API
/// address and the admin address (from the `admin listening on` line, when printed).
pub async fn start_with_admin(vars: &[(&str, &str)]) -> (Child, String, Option<String>) {
    let (child, printed) = launch(vars, false).await;
    (child, printed.addr, printed.admin)
}

/// The admin token the two-process demo tests start their demos with.
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin-token-0123456789";

/// Two demo processes sharing one Redis, each with an admin listener (killed on drop).
pub struct DemoPair {
    /// The first process (kept so that it is killed when the pair is dropped).
    pub _one: Child,
    /// The first process's API address.
    pub api_one: String,
    /// The first process's admin address.
    pub admin_one: String,
    /// The second process (kept so that it is killed when the pair is dropped).
    pub _two: Child,
    /// The second process's API address.
    pub api_two: String,
}

/// Starts two demos with the verifier setting `verifier` (`(name, value)`), the Redis at
/// `redis_url`, the shared test secret and an admin listener with [`DEMO_ADMIN_TOKEN`].
pub async fn start_pair_with_admin(verifier: (&str, &str), redis_url: &str) -> DemoPair {
    let vars = [
        verifier,
        ("GUARD_REDIS_URL", redis_url),
        ("GUARD_CACHE_SECRET", super::shared_support::SECRET),
        ("GUARD_ADMIN_LISTEN", "127.0.0.1:0"),
        ("GUARD_ADMIN_TOKEN", DEMO_ADMIN_TOKEN),
    ];
    let (one, api_one, admin_one) = start_with_admin(&vars).await;
    let (two, api_two, _) = start_with_admin(&vars).await;
    DemoPair {
        _one: one,
        api_one,
        admin_one: admin_one.unwrap_or_else(|| panic!("no admin listener line")),
        _two: two,
        api_two,
    }
}

/// `GET {base}/whoami` with `token`: the status.
pub async fn whoami(base: &str, token: &str) -> StatusCode {
    super::client()
        .get(format!("{base}/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status()
}

/// `POST {base}/revoke` of `token` with the admin bearer `admin_token`: the status.
pub async fn post_revoke(base: &str, admin_token: &str, token: &str) -> StatusCode {
    super::client()
        .post(format!("{base}/revoke"))
        .bearer_auth(admin_token)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status()
}
