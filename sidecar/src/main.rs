//! `bearer-guard`: the forward-auth sidecar. See the crate docs of `bearer_guard_sidecar` and
//! the README's "Forward auth for any language (the sidecar)".
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use bearer_guard_sidecar::{Sidecar, SidecarConfig, StartupError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;

const USAGE: &str = "\
usage: bearer-guard [--check-config]

Forward-auth service for nginx auth_request, Traefik ForwardAuth, Envoy ext_authz and
Caddy forward_auth. Configured by environment variables: the GUARD_* variables of
bearer-guard (one verification source is required), plus
  GUARD_LISTEN            address to bind (default 127.0.0.1:8080)
  GUARD_RULES             path to a TOML rules file (default: any valid token, every route)
  GUARD_TRUSTED_PROXIES   CIDRs whose X-Forwarded-*/X-Original-* headers are believed
                          (default 127.0.0.0/8,::1/128)
  GUARD_FORWARDED_HEADERS which of them /auth reads: auto (both; 400 when they
                          disagree), original (X-Original-* only: nginx) or
                          forwarded (X-Forwarded-* only: Traefik, Caddy); default auto
Logs go to stderr (RUST_LOG, default info).

  --check-config   check the environment and the rules file, then exit (0 when usable)
  -h, --help       this text";

/// What the command line asks for.
enum Command {
    Serve,
    CheckConfig,
    Help,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => Command::Serve,
        ["--check-config"] => Command::CheckConfig,
        ["-h" | "--help"] => Command::Help,
        _ => {
            eprintln!("bearer-guard: unknown arguments {args:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Command::Help = command {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bearer-guard: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::CheckConfig => check_config().await,
            _ => run().await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bearer-guard: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `--check-config`: everything startup does short of binding and serving.
async fn check_config() -> Result<(), StartupError> {
    let config = SidecarConfig::from_env()?;
    let sidecar = Sidecar::build(&config, None)?;
    // GUARD_ADMIN_LISTEN without GUARD_ADMIN_TOKEN (or a short one) is refused here too.
    config.guard.admin_router(sidecar.guard())?;
    drop(sidecar);
    let rules = match &config.rules_file {
        Some(file) => format!(
            "{} rules from {}",
            config.rules.rules().len(),
            file.display()
        ),
        None => "no rules file: any valid token for every route".to_owned(),
    };
    let mode = config.guard.mode.map_or("none", |mode| mode.as_str());
    println!(
        "configuration OK: mode {mode}, {rules}, listen {}, forwarded headers {}",
        config.listen(),
        config.forwarded_headers.as_str()
    );
    Ok(())
}

async fn run() -> Result<(), StartupError> {
    let config = SidecarConfig::from_env()?;
    // First, before the guard exists: its metric handles bind to the recorder at build.
    let metrics = install_metrics()?;
    let sidecar = Sidecar::build(&config, Some(metrics))?;
    let listener =
        TcpListener::bind(config.listen())
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.listen(),
                source,
            })?;
    let addr = listener.local_addr().map_err(StartupError::Serve)?;
    let (shutdown, _) = watch::channel(false);
    start_extra_listeners(&config, &sidecar, shutdown.subscribe()).await?;
    let mode = config.guard.mode.map_or("none", |mode| mode.as_str());
    println!(
        "bearer-guard: mode {mode}, {} rules",
        config.rules.rules().len()
    );
    println!("listening on http://{addr}");
    bearer_guard_sidecar::server::serve(listener, sidecar.router(), shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Listeners besides the main one, bound after it and before `listening on` is printed: the
/// admin listener (`GUARD_ADMIN_LISTEN`, the library's `POST /revoke` router, requiring
/// `GUARD_ADMIN_TOKEN`), which stops when `shutdown` turns `true`. The main listener has no
/// admin routes.
async fn start_extra_listeners(
    config: &SidecarConfig,
    sidecar: &Sidecar,
    shutdown: watch::Receiver<bool>,
) -> Result<(), StartupError> {
    let (Some(router), Some(at)) = (
        config.guard.admin_router(sidecar.guard())?,
        config.guard.admin_listen,
    ) else {
        return Ok(());
    };
    let listener = TcpListener::bind(at)
        .await
        .map_err(|source| StartupError::AdminBind { addr: at, source })?;
    let addr = listener.local_addr().map_err(StartupError::Serve)?;
    println!("admin listener at http://{addr} (POST /revoke)");
    let mut stop = shutdown;
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(%error, "admin listener stopped");
        }
    });
    Ok(())
}

/// Buckets of `bearer_guard_verification_duration_seconds`: 1 ms to 10 s (as the demo's).
const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder (no listener of its own: `/metrics` is a route) and runs
/// its upkeep every 5 s.
fn install_metrics() -> Result<PrometheusHandle, StartupError> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&DURATION_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(StartupError::Metrics)?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}
