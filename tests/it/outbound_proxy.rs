//! Proxy variables in the guard's environment never carry a token, a verify call or a JWKS
//! fetch anywhere but the configured host (SECURITY.md, "hostile proxy settings").
//!
//! A real forward proxy on 127.0.0.1 that vouches for every token (`{"result": true}` to any
//! POST, its own signing key to any GET) stands behind `HTTP_PROXY`, `HTTPS_PROXY`,
//! `ALL_PROXY` (both cases) and `GUARD_HTTPS_PROXY` in the demo's environment. Before the fix
//! the demo sent the verify call (with the token, in cleartext) and the JWKS fetch to it.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bearer_guard_mock::MockIssuer;
use common::jwt_support::{JwksServer, TestKey, claims};
use serde_json::json;

/// What the proxy saw: every request line's method and target.
#[derive(Default)]
struct ProxyLog {
    requests: Mutex<Vec<String>>,
    count: AtomicUsize,
}

struct Proxy {
    url: String,
    log: Arc<ProxyLog>,
}

impl Proxy {
    /// A forward proxy that answers every plain request itself: any POST is a verify answer
    /// saying yes, any GET is a JWKS with `key`. `CONNECT` (an https tunnel) gets 502.
    async fn start(key: &TestKey) -> Proxy {
        let log = Arc::new(ProxyLog::default());
        let jwks = json!({ "keys": [key.jwk()] }).to_string();
        let app = Router::new()
            .fallback(
                move |State(log): State<Arc<ProxyLog>>, request: Request<Body>| {
                    let jwks = jwks.clone();
                    async move {
                        log.count.fetch_add(1, Ordering::SeqCst);
                        let line = format!("{} {}", request.method(), request.uri());
                        log.requests.lock().unwrap().push(line);
                        match *request.method() {
                            Method::POST => (
                                [("content-type", "application/json")],
                                r#"{"result": true}"#.to_owned(),
                            )
                                .into_response(),
                            Method::GET => {
                                ([("content-type", "application/json")], jwks).into_response()
                            }
                            _ => Response::builder()
                                .status(StatusCode::BAD_GATEWAY)
                                .body(Body::empty())
                                .unwrap(),
                        }
                    }
                },
            )
            .with_state(Arc::clone(&log));
        let url = format!("http://{}", common::serve(app).await);
        Proxy { url, log }
    }

    /// Every proxy variable reqwest (or curl) would read, pointing at this proxy.
    fn env(&self) -> Vec<(&'static str, String)> {
        [
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
            "GUARD_HTTPS_PROXY",
        ]
        .into_iter()
        .map(|name| (name, self.url.clone()))
        .collect()
    }

    /// Fails the test (listing what it got) if anything reached the proxy.
    fn assert_unused(&self) {
        assert_eq!(
            self.log.count.load(Ordering::SeqCst),
            0,
            "{:?}",
            self.requests()
        );
    }

    fn requests(&self) -> Vec<String> {
        self.log.requests.lock().unwrap().clone()
    }
}

async fn status_with_token(addr: &str, path: &str, token: &str) -> u16 {
    let client = common::client_builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    client
        .get(format!("{addr}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn start_demo(vars: Vec<(&'static str, String)>) -> (tokio::process::Child, String) {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (child, addr, _) = common::demo_process::start(&vars, false).await;
    (child, addr)
}

#[tokio::test]
async fn remote_mode_never_sends_the_token_to_a_proxy_from_the_environment() {
    let issuer = MockIssuer::start().await.unwrap();
    let proxy = Proxy::start(&TestKey::rsa("proxy-kid")).await;
    let mut vars = proxy.env();
    vars.push(("GUARD_VERIFY_URL", issuer.verify_url().to_owned()));
    let (mut demo, addr) = start_demo(vars).await;

    // The issuer never issued this token: it says `result: false`; the proxy would say yes.
    let status = status_with_token(&addr, "/whoami", "not-issued-by-the-issuer").await;
    assert_eq!(
        status, 401,
        "the verify call must go to the issuer, not the proxy"
    );
    proxy.assert_unused();
    let _ = demo.kill().await;
}

#[tokio::test]
async fn jwt_mode_never_fetches_keys_through_a_proxy_from_the_environment() {
    let issuer_key = TestKey::rsa("issuer-kid");
    let jwks = JwksServer::start(vec![issuer_key.jwk()]).await;
    let attacker = TestKey::rsa("proxy-kid");
    let proxy = Proxy::start(&attacker).await;
    let mut vars = proxy.env();
    vars.push(("GUARD_JWKS_URL", jwks.jwks_url()));
    let (mut demo, addr) = start_demo(vars).await;

    let forged = attacker.sign(&claims(json!({ "scope": "read write admin" })));
    assert_eq!(status_with_token(&addr, "/whoami", &forged).await, 401);
    let genuine = issuer_key.sign(&claims(json!({ "scope": "read" })));
    assert_eq!(status_with_token(&addr, "/whoami", &genuine).await, 200);
    assert!(jwks.jwks_fetches() >= 1);
    proxy.assert_unused();
    let _ = demo.kill().await;
}

#[tokio::test]
async fn guard_https_proxy_tunnels_https_calls_only() {
    let proxy = Proxy::start(&TestKey::rsa("proxy-kid")).await;
    // Nothing listens on port 9: only the proxy can be reached, and it refuses the tunnel.
    let (mut demo, addr) = start_demo(vec![
        ("GUARD_HTTPS_PROXY", proxy.url.clone()),
        ("GUARD_VERIFY_URL", "https://127.0.0.1:9/verify".to_owned()),
    ])
    .await;
    // The proxy refused the tunnel: unavailable, and never a pass.
    assert_eq!(status_with_token(&addr, "/whoami", "some-token").await, 503);
    let seen = proxy.requests();
    assert!(!seen.is_empty(), "GUARD_HTTPS_PROXY was not used");
    assert!(
        seen.iter().all(|line| line == "CONNECT 127.0.0.1:9"),
        "the proxy may only see a tunnel to the configured host: {seen:?}"
    );
    let _ = demo.kill().await;
}

#[tokio::test]
async fn a_bad_guard_https_proxy_stops_the_demo_naming_the_variable_not_the_credentials() {
    let (ok, stderr) = common::demo_process::demo_exit(&[(
        "GUARD_HTTPS_PROXY",
        "socks9://user:hunter2@127.0.0.1:1",
    )])
    .await;
    assert!(!ok);
    assert!(stderr.contains("GUARD_HTTPS_PROXY"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
