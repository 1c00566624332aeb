//! Shared helpers of the sidecar's integration tests: the issuer, clients, rules files, the
//! in-process router with a chosen peer address, and (as submodules) the sidecar binary as a
//! child process, nginx, and a backend that records what it got.

pub mod backend;
pub mod nginx;
pub mod process;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use bearer_guard_mock::{MintOptions, MockIssuer};
use bearer_guard_sidecar::{Sidecar, SidecarConfig};
use http::{Request, Response};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The rules most tests run with: the routes of the README's example (an exact rule, a named
/// one), but `default = "authenticated"`, so that the tests can reach the any-valid-token
/// gate on unlisted paths. A fixture, not an example: the README's example starts with
/// `default = "deny"` (`readme_rules.rs` runs it).
pub const RULES: &str = r#"
default = "authenticated"
[[rule]]
path = "/health"
public = true
[[rule]]
name = "read records"
path = "/records"
methods = ["GET", "HEAD"]
scopes_any = ["read"]
[[rule]]
path = "/records"
methods = ["POST", "PUT", "PATCH", "DELETE"]
scopes_all = ["write"]
[[rule]]
path = "/admin"
exact = true
scopes_all = ["read", "admin"]
"#;

/// A crm-now issuer on 127.0.0.1 (random port).
pub async fn issuer() -> MockIssuer {
    MockIssuer::builder()
        .client("sidecar-test", "sidecar-secret")
        .token_lifetime(Duration::from_secs(300))
        .start()
        .await
        .unwrap_or_else(|e| panic!("mock issuer: {e}"))
}

/// A token for `Users:7` with `scope`, valid for 300 s at `issuer`.
pub fn token(issuer: &MockIssuer, scope: &str) -> String {
    issuer
        .mint(MintOptions::default().subject("Users:7").scope(scope))
        .unwrap_or_else(|e| panic!("mint: {e}"))
}

/// A rules file holding `text` (removed when dropped).
pub fn rules_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .unwrap_or_else(|e| panic!("temp file: {e}"));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("write rules: {e}"));
    file
}

/// The sidecar in-process, configured from `vars` only (no process environment).
pub fn sidecar(vars: &[(&str, &str)]) -> Sidecar {
    let config = SidecarConfig::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap_or_else(|e| panic!("config: {e}"));
    Sidecar::build(&config, None).unwrap_or_else(|e| panic!("build: {e}"))
}

/// Sends `request` through the router as if from `peer`.
pub async fn send_from(
    sidecar: &Sidecar,
    peer: &str,
    mut request: Request<Body>,
) -> Response<Body> {
    let peer: SocketAddr = peer.parse().unwrap_or_else(|e| panic!("{peer}: {e}"));
    request.extensions_mut().insert(ConnectInfo(peer));
    match sidecar.router().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A request to `uri` with `method` and `headers`.
pub fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Body::empty())
        .unwrap_or_else(|e| panic!("request: {e}"))
}

/// The body as text.
pub async fn body_text(response: Response<Body>) -> String {
    match response.into_body().collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(e) => panic!("body: {e}"),
    }
}

/// A header as text.
pub fn header<'r, B>(response: &'r Response<B>, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The names of the `x-auth-*` headers of `response`.
pub fn auth_headers<B>(response: &Response<B>) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("x-auth-"))
        .collect()
}

/// An HTTP client that ignores proxy variables.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("client: {e}"))
}

/// The status of `POST {url}` revoking `token` with `admin_token` (the admin listener's
/// `/revoke`, or a path that should not be one).
pub async fn revoke_at(url: &str, admin_token: &str, token: &str) -> http::StatusCode {
    client()
        .post(url)
        .bearer_auth(admin_token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status()
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    bearer_guard_mock::process::free_port().unwrap_or_else(|e| panic!("free port: {e}"))
}
