//! The server `scripts/load.sh` drives with wrk: one port per variant on 127.0.0.1, every
//! variant the same route (`GET /records`, a static body) and accepting the same token.
//!
//! | variant | what guards the route |
//! |---|---|
//! | `unguarded` | nothing |
//! | `static_bearer` | tower-http `ValidateRequestHeaderLayer::bearer` (the floor) |
//! | `cache_hit` | bearer-guard, remote verifier (embedded crm-now issuer), verdict cached |
//! | `jwt_cache_on` | bearer-guard, `JwtVerifier` RS256-2048, cache on |
//! | `jwt_cache_off` | bearer-guard, `JwtVerifier` RS256-2048, `cache_capacity(0)` |
//! | `jwt_authorizer` | jwt-authorizer 0.15, RS256-2048 (no cache) |
//!
//! Usage: `load_server --env-file PATH [--workers N] [--max-seconds S]`
//!
//! When every variant has answered 200 once (in-process) and listens, the server writes
//! `TOKEN=…` and one `PORT_<variant>=…` line per variant to `PATH` (atomically: a temporary
//! file renamed), for the script to source. It serves with `N` tokio worker threads (default
//! 1: on a small machine wrk needs the other cores), binds only 127.0.0.1, and exits by itself
//! after `S` seconds (default 3600) in case nobody stops it.
// Measurement code: a setup step that fails ends the run with its message; no request data
// reaches an unwrap or expect here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../support.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use bearer_guard_mock::MockIssuer;

struct Args {
    env_file: PathBuf,
    workers: usize,
    max_seconds: u64,
}

fn args() -> Args {
    let mut env_file = None;
    let mut workers = 1;
    let mut max_seconds = 3600;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--env-file" => env_file = Some(PathBuf::from(value())),
            "--workers" => workers = value().parse().unwrap_or_else(|_| usage("bad --workers")),
            "--max-seconds" => {
                max_seconds = value()
                    .parse()
                    .unwrap_or_else(|_| usage("bad --max-seconds"))
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    Args {
        env_file: env_file.unwrap_or_else(|| usage("--env-file is required")),
        workers: workers.max(1),
        max_seconds,
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("load_server: {problem}");
    eprintln!("usage: load_server --env-file PATH [--workers N] [--max-seconds S]");
    std::process::exit(2)
}

fn main() {
    let args = args();
    // The issuer only answers the priming request of `cache_hit`; it gets a thread of its own.
    let issuer_runtime = support::multi_thread(1, "issuer");
    let issuer = issuer_runtime.block_on(async { MockIssuer::start().await.expect("mock issuer") });
    let token = support::mock_token(&issuer);
    let authorization = support::bearer(&token);

    let runtime = support::multi_thread(args.workers, "server");
    // The routes of the in-process benches, under the short names load.sh uses.
    let short_names = [
        "unguarded",
        "static_bearer",
        "cache_hit",
        "jwt_cache_on",
        "jwt_cache_off",
        "jwt_authorizer",
    ];
    let variants: Vec<(&str, Router)> = short_names
        .into_iter()
        .zip(support::per_request_variants(&runtime, &issuer, &token))
        .map(|(short, (_, app))| (short, app))
        .collect();
    runtime.block_on(async {
        let mut env = format!("TOKEN={token}\n");
        for (name, app) in variants {
            support::assert_ok(name, &app, &authorization).await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1");
            let port = listener.local_addr().expect("local address").port();
            env.push_str(&format!("PORT_{name}={port}\n"));
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, app).await {
                    eprintln!("load_server: {name}: {error}");
                }
            });
        }
        let temporary = args.env_file.with_extension("tmp");
        std::fs::write(&temporary, env).expect("write env file");
        std::fs::rename(&temporary, &args.env_file).expect("rename env file");
        eprintln!(
            "load_server: ready ({} worker thread(s)), ports in {}",
            args.workers,
            args.env_file.display()
        );
        tokio::time::sleep(Duration::from_secs(args.max_seconds)).await;
        eprintln!("load_server: --max-seconds reached, exiting");
    });
    drop(issuer);
}
