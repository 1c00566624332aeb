//! What the JWT verifier logs: never a JWKS or discovery URL's query (it may carry an API key),
//! at any level, and one warning at build time for discovery without an audience.
//!
//! Each test logs at TRACE into its own buffer (`common::log_capture::run_logged`, as
//! `secret_hygiene.rs` does) and searches it.

use crate::common;
use common::eventually;

use std::time::Duration;

use bearer_guard::verify::{Verdict, Verifier};
use bearer_guard::{BearerToken, JwtVerifier};
use common::jwt_support::{JwksServer, TestKey};
use common::log_capture::{Capture, Flavor, run_logged};
use common::raw_http::closed_port;

const SECRET: &str = "SECRETVALUE";
const WAIT: Duration = Duration::from_secs(10);

async fn count(log: &Capture, needle: &str) -> usize {
    log.text().matches(needle).count()
}

#[test]
fn jwks_and_discovery_urls_with_a_query_never_reach_the_log() {
    run_logged(Flavor::CurrentThread, |log| async move {
        let token = TestKey::ec("k").fresh_token();

        // A JWKS endpoint that refuses connections: the transport error is logged at WARN.
        let port = closed_port();
        let jwks = JwtVerifier::builder()
            .jwks_url(format!(
                "http://127.0.0.1:{port}/jwks.json?api_key={SECRET}"
            ))
            .unknown_kid_cooldown(Duration::from_millis(50))
            .build()
            .unwrap();
        assert!(matches!(
            jwks.verify(&BearerToken::new(token.as_str())).await,
            Verdict::Unavailable(_)
        ));
        // Discovery to a closed port, and to a live server whose document names a jwks_uri
        // that then refuses connections (the query is on the issuer, so on both URLs).
        let discovery = JwtVerifier::builder()
            .discovery(format!("http://127.0.0.1:{port}/realm?api_key={SECRET}"))
            .audience("api")
            .build()
            .unwrap();
        assert!(matches!(
            discovery.verify(&BearerToken::new(token.as_str())).await,
            Verdict::Unavailable(_)
        ));
        // A JWKS server that answers 500.
        let server = JwksServer::start(vec![TestKey::ec("k").jwk()]).await;
        server.set_failing(true);
        let failing = JwtVerifier::builder()
            .jwks_url(format!("{}?api_key={SECRET}", server.jwks_url()))
            .build()
            .unwrap();
        assert!(matches!(
            failing.verify(&BearerToken::new(token.as_str())).await,
            Verdict::Unavailable(_)
        ));

        assert!(
            eventually(WAIT, || async {
                count(&log, "JWKS fetch failed").await >= 3
            })
            .await,
            "{}",
            log.text()
        );
        let text = log.text();
        assert!(
            text.contains("error sending request"),
            "the errors were logged: {text}"
        );
        assert!(
            !text.contains(SECRET),
            "a URL query reached the log:\n{text}"
        );
        assert!(
            !text.contains("api_key"),
            "a URL query reached the log:\n{text}"
        );
    });
}

#[test]
fn discovery_without_an_audience_warns_once_at_build() {
    run_logged(Flavor::CurrentThread, |log| async move {
        let server = JwksServer::start(vec![TestKey::rsa("k").jwk()]).await;
        let issuer = server.base_url();
        let before = count(&log, "no audience is configured").await;
        let verifier = JwtVerifier::builder()
            .discovery(issuer.clone())
            .build()
            .unwrap();
        assert_eq!(count(&log, "no audience is configured").await, before + 1);
        let with_audience = JwtVerifier::builder()
            .discovery(issuer)
            .audience("api")
            .build()
            .unwrap();
        assert_eq!(count(&log, "no audience is configured").await, before + 1);
        drop((verifier, with_audience));
    });
}
