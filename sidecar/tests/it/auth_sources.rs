//! What the sidecar tells the proxy about where a verdict came from and whose realm it is,
//! in-process against the mock crate's real endpoints on 127.0.0.1: `X-Auth-Source` in each
//! verification mode (`jwt` from a JWKS, `introspection`, `bitrix24`, `remote`), and
//! `GUARD_REALM` in the challenges of both the guard (401) and the rules' scope gates (403).

use crate::common;

use std::time::Duration;

use bearer_guard_mock::{Bitrix24Token, MintOptions};
use common::{RULES, header, issuer, request, rules_file, send_from, sidecar, token};
use http::StatusCode;

const LOOPBACK: &str = "127.0.0.1:40000";

/// `GET /auth` for `uri` with `token`, as nginx sends it; the answer.
async fn ask(
    sidecar: &bearer_guard_sidecar::Sidecar,
    uri: &str,
    token: Option<&str>,
) -> http::Response<axum::body::Body> {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("x-original-method", "GET"), ("x-original-uri", uri)];
    if let Some(value) = &authorization {
        headers.push(("authorization", value));
    }
    send_from(sidecar, LOOPBACK, request("GET", "/auth", &headers)).await
}

#[tokio::test]
async fn x_auth_source_names_the_verifier_of_each_mode() {
    let issuer = issuer().await;
    let jwt = issuer
        .mint(MintOptions::default().subject("Users:7").scope("read"))
        .unwrap_or_else(|e| panic!("mint: {e}"));
    let introspected = issuer
        .issue_introspection_token("Users:7", "read", Duration::from_secs(300))
        .unwrap_or_else(|e| panic!("{e}"));
    let bitrix24 = issuer
        .issue_bitrix24_token(Bitrix24Token::new(7, "local.acme.app", ["read"]))
        .unwrap_or_else(|e| panic!("{e}"));
    let remote = token(&issuer, "read");
    let introspection_url = issuer.introspection_url();
    for (variable, url, token, source) in [
        ("GUARD_JWKS_URL", issuer.jwks_url(), &jwt, "jwt"),
        (
            "GUARD_INTROSPECTION_URL",
            introspection_url.as_str(),
            &introspected,
            "introspection",
        ),
        (
            "GUARD_BITRIX24_PORTAL",
            issuer.bitrix24_portal_url(),
            &bitrix24,
            "bitrix24",
        ),
        ("GUARD_VERIFY_URL", issuer.verify_url(), &remote, "remote"),
    ] {
        let sidecar = sidecar(&[(variable, url)]);
        let response = ask(&sidecar, "/records", Some(token)).await;
        assert_eq!(response.status(), StatusCode::OK, "{source}");
        assert_eq!(header(&response, "x-auth-source"), Some(source));
        let subject = if source == "bitrix24" { "7" } else { "Users:7" };
        assert_eq!(
            header(&response, "x-auth-subject"),
            Some(subject),
            "{source}"
        );
    }
}

#[tokio::test]
async fn guard_realm_is_the_realm_of_the_401_and_of_the_rules_403() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let rules_path = rules.path().display().to_string();
    let sidecar = sidecar(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_RULES", &rules_path),
        ("GUARD_REALM", "partner-shop"),
    ]);
    let missing = ask(&sidecar, "/records", None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&missing, "www-authenticate"),
        Some(r#"Bearer realm="partner-shop""#)
    );
    let read = token(&issuer, "read");
    let refused = ask(&sidecar, "/admin", Some(&read)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let challenge = header(&refused, "www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with(r#"Bearer realm="partner-shop""#)
            && challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
}
