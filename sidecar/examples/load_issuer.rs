//! The crm-now issuer for `scripts/load_sidecar.sh`: the mock crate's issuer on 127.0.0.1,
//! one token with the scopes `read write`, both written to an env file for the script.
//!
//! Usage: `load_issuer --env-file PATH [--max-seconds S]`
//!
//! Writes `VERIFY_URL=…` and `TOKEN=…` to `PATH` (a temporary file renamed, so the script never
//! reads half of it), then serves until killed or for `S` seconds (default 3600). The token
//! lives as long as the issuer.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bearer_guard_mock::{MintOptions, MockIssuer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("load_issuer: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), String> {
    let mut env_file = None;
    let mut max_seconds: u64 = 3600;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--env-file" => env_file = Some(PathBuf::from(value)),
            "--max-seconds" => {
                max_seconds = value.parse().map_err(|_| "bad --max-seconds".to_owned())?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let env_file = env_file.ok_or("--env-file is required")?;
    let lifetime = Duration::from_secs(max_seconds.saturating_add(60));
    let issuer = MockIssuer::builder()
        .token_lifetime(lifetime)
        .start()
        .await
        .map_err(|e| format!("issuer: {e}"))?;
    let token = issuer
        .mint(
            MintOptions::default()
                .subject("Users:1")
                .scope("read write")
                .lifetime(lifetime),
        )
        .map_err(|e| format!("mint: {e}"))?;
    let partial = env_file.with_extension("partial");
    std::fs::write(
        &partial,
        format!("VERIFY_URL={}\nTOKEN={token}\n", issuer.verify_url()),
    )
    .and_then(|()| std::fs::rename(&partial, &env_file))
    .map_err(|e| format!("{}: {e}", env_file.display()))?;
    tokio::time::sleep(Duration::from_secs(max_seconds)).await;
    issuer.shutdown().await;
    Ok(())
}
