//! `/auth` and `/auth/<path>` in-process, one test per contract bullet: the router of the
//! sidecar, built from `GUARD_*` values as the binary builds it, with the peer address of each
//! request chosen by the test. Tokens are checked by a real crm-now issuer on 127.0.0.1 (the
//! mock crate), over HTTP.

use crate::common;

use std::time::{SystemTime, UNIX_EPOCH};

use bearer_guard::{AuthError, ScopeRequirement};
use bearer_guard_mock::{Endpoint, Fault};
use common::{
    RULES, auth_headers, body_text, closed_port, header, issuer, request, rules_file, send_from,
    sidecar, token,
};
use http::StatusCode;

const LOOPBACK: &str = "127.0.0.1:40000";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A sidecar with the shared rules in front of `issuer`.
fn with_rules(verify_url: &str, rules: &tempfile::NamedTempFile) -> bearer_guard_sidecar::Sidecar {
    sidecar(&[
        ("GUARD_VERIFY_URL", verify_url),
        ("GUARD_RULES", &rules.path().display().to_string()),
    ])
}

/// `/auth` as nginx sends it: the original method and URI in `X-Original-*`.
fn nginx_style(method: &str, uri: &str, auth: Option<&str>) -> http::Request<axum::body::Body> {
    let mut headers = vec![("x-original-method", method), ("x-original-uri", uri)];
    if let Some(auth) = auth {
        headers.push(("authorization", auth));
    }
    request("GET", "/auth", &headers)
}

#[tokio::test]
async fn no_token_is_401_with_the_librarys_challenge_and_body() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", "/records", None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let library = AuthError::MissingCredentials.to_response::<String>("api", 5);
    assert_eq!(
        header(&response, "www-authenticate"),
        Some(r#"Bearer realm="api""#)
    );
    assert_eq!(
        response.headers().get("www-authenticate"),
        library.headers().get("www-authenticate")
    );
    assert!(auth_headers(&response).is_empty());
    assert_eq!(body_text(response).await, *library.body());
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
}

#[tokio::test]
async fn a_read_token_gets_200_with_every_auth_header() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    let read = token(&issuer, "read");
    let response = send_from(
        &sidecar,
        LOOPBACK,
        nginx_style("GET", "/records/7?page=2", Some(&bearer(&read))),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "x-auth-subject"), Some("Users:7"));
    assert_eq!(header(&response, "x-auth-scopes"), Some("read"));
    assert_eq!(header(&response, "x-auth-source"), Some("remote"));
    assert_eq!(header(&response, "x-auth-owner-type"), Some("user"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let expires: u64 = header(&response, "x-auth-expires")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("X-Auth-Expires missing or not a number"));
    assert!(expires > now && expires <= now + 301, "{expires} vs {now}");
    assert_eq!(issuer.calls(Endpoint::Verify), 1);
}

#[tokio::test]
async fn missing_scopes_are_403_with_the_scope_the_rule_needs() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    let read = bearer(&token(&issuer, "read"));
    let response = send_from(
        &sidecar,
        LOOPBACK,
        nginx_style("POST", "/records", Some(&read)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let write = ScopeRequirement::all(["write"]).unwrap_or_else(|e| panic!("{e}"));
    let library = AuthError::InsufficientScope(write).to_response::<String>("api", 5);
    assert_eq!(
        header(&response, "www-authenticate"),
        Some(
            r#"Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="write""#
        )
    );
    assert_eq!(
        response.headers().get("www-authenticate"),
        library.headers().get("www-authenticate")
    );
    assert!(auth_headers(&response).is_empty());
    assert_eq!(body_text(response).await, *library.body());

    // scopes_all on an exact path: both scopes needed, only there.
    let admin = bearer(&token(&issuer, "read admin"));
    for (auth, path, status, scope) in [
        (
            &read,
            "/admin",
            StatusCode::FORBIDDEN,
            Some(r#"scope="read admin""#),
        ),
        (&admin, "/admin", StatusCode::OK, None),
        // Not the exact path: the default (any valid token).
        (&read, "/admin/x", StatusCode::OK, None),
        (&read, "/admin/", StatusCode::OK, None),
    ] {
        let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", path, Some(auth))).await;
        assert_eq!(response.status(), status, "{path}");
        let challenge = header(&response, "www-authenticate").unwrap_or_default();
        assert_eq!(
            scope.is_some_and(|s| challenge.ends_with(s)),
            scope.is_some(),
            "{path}: {challenge}"
        );
    }
    // scopes_any: one of them is enough.
    let any = rules_file("[[rule]]\npath = \"/x\"\nscopes_any = [\"a\", \"b\"]\n");
    let sidecar = with_rules(issuer.verify_url(), &any);
    for (scope, status) in [
        ("b", StatusCode::OK),
        ("a b", StatusCode::OK),
        ("c", StatusCode::FORBIDDEN),
    ] {
        let auth = bearer(&token(&issuer, scope));
        let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", "/x", Some(&auth))).await;
        assert_eq!(response.status(), status, "{scope}");
    }
}

#[tokio::test]
async fn an_invalid_token_is_401_invalid_token_and_a_malformed_header_400() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    let revoked = token(&issuer, "read");
    issuer.revoke(&revoked);
    for auth in [bearer("not-a-token"), bearer(&revoked)] {
        let response = send_from(
            &sidecar,
            LOOPBACK,
            nginx_style("GET", "/records", Some(&auth)),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = header(&response, "www-authenticate").unwrap_or_default();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        assert!(auth_headers(&response).is_empty());
    }
    let response = send_from(
        &sidecar,
        LOOPBACK,
        nginx_style("GET", "/records", Some("Bearer ")),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let challenge = header(&response, "www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains(r#"error="invalid_request""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_public_route_is_200_without_a_token_and_without_auth_headers() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    for (auth, path) in [
        (None, "/health"),
        (None, "/health/live"),
        (Some("Bearer garbage"), "/health"),
        (Some("Basic dXNlcjpwYXNz"), "/records/../health"),
    ] {
        let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", path, auth)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(auth_headers(&response).is_empty(), "{path}");
        assert!(response.headers().get("www-authenticate").is_none());
    }
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
}

#[tokio::test]
async fn spoofed_auth_headers_of_a_request_are_never_echoed() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    let read = bearer(&token(&issuer, "read"));
    let spoof = |uri: &'static str, auth: Option<&str>| {
        let mut headers = vec![
            ("x-original-uri", uri),
            ("x-auth-subject", "Users:1"),
            ("x-auth-scopes", "admin write"),
            ("x-auth-source", "jwt"),
            ("x-auth-owner-type", "contact"),
            ("x-auth-expires", "9999999999"),
            ("x-auth-extra", "1"),
        ];
        if let Some(auth) = auth {
            headers.push(("authorization", auth));
        }
        request("GET", "/auth", &headers)
    };
    let granted = send_from(&sidecar, LOOPBACK, spoof("/records", Some(&read))).await;
    assert_eq!(granted.status(), StatusCode::OK);
    assert_eq!(header(&granted, "x-auth-subject"), Some("Users:7"));
    assert_eq!(header(&granted, "x-auth-scopes"), Some("read"));
    assert_eq!(header(&granted, "x-auth-source"), Some("remote"));
    assert_eq!(header(&granted, "x-auth-owner-type"), Some("user"));
    // The token's own expiry (the mock's 300 s lifetime), not the spoofed one.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let expires: u64 = header(&granted, "x-auth-expires")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("X-Auth-Expires missing or not a number"));
    assert!(
        (now + 250..=now + 310).contains(&expires),
        "{expires} vs {now}"
    );
    assert!(granted.headers().get("x-auth-extra").is_none());
    for (uri, auth, status) in [
        ("/health", None, StatusCode::OK),
        ("/records", None, StatusCode::UNAUTHORIZED),
        ("/records", Some("Bearer nope"), StatusCode::UNAUTHORIZED),
    ] {
        let response = send_from(&sidecar, LOOPBACK, spoof(uri, auth)).await;
        assert_eq!(response.status(), status, "{uri}");
        assert!(
            auth_headers(&response).is_empty(),
            "{uri}: {:?}",
            auth_headers(&response)
        );
    }
}

#[tokio::test]
async fn every_spelling_of_records_meets_the_rules_of_records() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    // A token with `write` only: the /records GET rule says 403 scope="read", while the
    // default (no rule matched) would say 200. So 403 proves the rule of /records matched.
    let write = bearer(&token(&issuer, "write"));
    for path in [
        "/records",
        "/health/../records",
        "//records",
        "/%72ecords",
        "/records/./",
        "/../records",
        "/./records/7/..",
        "/%2E%2E/records?x=/health",
        "http://example.test/records",
    ] {
        let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", path, Some(&write))).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        let challenge = header(&response, "www-authenticate").unwrap_or_default();
        assert!(
            challenge.ends_with(r#"scope="read""#),
            "{path}: {challenge}"
        );
    }
    // Not /records: the default rule (any valid token) answers.
    for path in ["/recordsX", "/records%2Fx", "/record", "/x/records"] {
        let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", path, Some(&write))).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, "x-auth-scopes"), Some("write"));
    }
}

#[tokio::test]
async fn paths_that_cannot_be_read_are_400_without_a_challenge() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    let read = bearer(&token(&issuer, "read"));
    // The `;` and `//`-with-`..` spellings were 200 here before they were refused: under the
    // public `/health` rule without a token, or (`/admin;x`) under the default rule with a
    // `read` token while Tomcat serves `/admin`, whose rule needs `admin`.
    for path in [
        "/records%2F..%2Fadmin",
        "/health%2F..",
        "/records/%zz",
        "/records%00",
        "/records%0d%0aX-Auth-Subject:%20x",
        "records",
        "/health/..;/records",
        "/health/%2e%2e;/records",
        "/health/..;jsessionid=x/records",
        "/health/..%3B/records",
        "/admin;x",
        "/admin//../health",
        "/a//..//health",
    ] {
        for auth in [None, Some(read.as_str())] {
            let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", path, auth)).await;
            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{path} {auth:?}"
            );
            assert!(
                response.headers().get("www-authenticate").is_none(),
                "{path}"
            );
            assert!(auth_headers(&response).is_empty());
            assert!(
                body_text(response)
                    .await
                    .contains(r#""error":"invalid_request""#)
            );
        }
    }
    // Each alone is read: `//` merges, `..` resolves (so these reach `/health`, public).
    for path in ["/health//live", "/admin/../health", "/health/x/../live/"] {
        let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", path, None)).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
    let repeated = request(
        "GET",
        "/auth",
        &[
            ("x-original-uri", "/health"),
            ("x-original-uri", "/records"),
        ],
    );
    let response = send_from(&sidecar, LOOPBACK, repeated).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let long = format!("/{}", "a".repeat(8 * 1024));
    let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", &long, Some(&read))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_method_selects_the_rule() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    let read = bearer(&token(&issuer, "read"));
    let write = bearer(&token(&issuer, "write"));
    for (method, auth, status, scope) in [
        ("GET", &read, StatusCode::OK, None),
        ("HEAD", &write, StatusCode::FORBIDDEN, Some("read")),
        ("PUT", &read, StatusCode::FORBIDDEN, Some("write")),
        ("DELETE", &write, StatusCode::OK, None),
        // Upper-cased before the rules see it.
        ("post", &read, StatusCode::FORBIDDEN, Some("write")),
        // No rule names OPTIONS on /records: the default (any valid token).
        ("OPTIONS", &read, StatusCode::OK, None),
    ] {
        let response = send_from(
            &sidecar,
            LOOPBACK,
            nginx_style(method, "/records", Some(auth)),
        )
        .await;
        assert_eq!(response.status(), status, "{method}");
        let challenge = header(&response, "www-authenticate").unwrap_or_default();
        if let Some(scope) = scope {
            assert!(
                challenge.ends_with(&format!("scope=\"{scope}\"")),
                "{method}: {challenge}"
            );
        }
    }
    // Traefik and Caddy send X-Forwarded-Method (the request's own method is GET).
    let traefik = request(
        "GET",
        "/auth",
        &[
            ("x-forwarded-method", "POST"),
            ("x-forwarded-uri", "/records"),
            ("authorization", &read),
        ],
    );
    let response = send_from(&sidecar, LOOPBACK, traefik).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // X-Forwarded-Method no longer wins over an X-Original-Method that disagrees: 400
    // (`forwarded_headers.rs` has every such pair).
    let disagreeing = request(
        "GET",
        "/auth",
        &[
            ("x-forwarded-method", "POST"),
            ("x-original-method", "GET"),
            ("x-forwarded-uri", "/records"),
            ("authorization", &read),
        ],
    );
    let response = send_from(&sidecar, LOOPBACK, disagreeing).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("www-authenticate").is_none());
}

#[tokio::test]
async fn default_deny_refuses_unmatched_routes_with_403_without_a_challenge() {
    let issuer = issuer().await;
    let rules = rules_file(&RULES.replace("default = \"authenticated\"", "default = \"deny\""));
    let sidecar = with_rules(issuer.verify_url(), &rules);
    let read = bearer(&token(&issuer, "read"));
    for auth in [Some(read.as_str()), None, Some("Bearer garbage")] {
        let response = send_from(&sidecar, LOOPBACK, nginx_style("GET", "/other", auth)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{auth:?}");
        assert!(response.headers().get("www-authenticate").is_none());
        assert!(auth_headers(&response).is_empty());
        assert_eq!(
            body_text(response).await,
            r#"{"error":"access_denied","error_description":"no rule allows this request"}"#
        );
    }
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
    let listed = send_from(
        &sidecar,
        LOOPBACK,
        nginx_style("GET", "/records", Some(&read)),
    )
    .await;
    assert_eq!(listed.status(), StatusCode::OK);
    let public = send_from(&sidecar, LOOPBACK, nginx_style("GET", "/health", None)).await;
    assert_eq!(public.status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_peers() {
    let issuer = issuer().await;
    // `/` for POST needs `write`: an untrusted POST is judged as POST / whatever it claims.
    let rules = rules_file(&format!(
        "{RULES}\n[[rule]]\npath = \"/\"\nmethods = [\"POST\"]\nscopes_all = [\"write\"]\n"
    ));
    let vars = |trusted: &'static str| {
        [
            ("GUARD_VERIFY_URL", issuer.verify_url().to_owned()),
            ("GUARD_RULES", rules.path().display().to_string()),
            ("GUARD_TRUSTED_PROXIES", trusted.to_owned()),
        ]
    };
    let only_tens = vars("10.0.0.0/8");
    let only_tens: Vec<(&str, &str)> = only_tens.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let sidecar = sidecar(&only_tens);
    let read = bearer(&token(&issuer, "read"));
    let claims_public = |auth: Option<&str>| {
        let mut headers = vec![
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/health"),
            ("x-original-uri", "/health"),
        ];
        if let Some(auth) = auth {
            headers.push(("authorization", auth));
        }
        request("POST", "/auth", &headers)
    };
    // Loopback is not trusted here: its headers are ignored (POST /, not GET /health).
    let response = send_from(&sidecar, LOOPBACK, claims_public(None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = send_from(&sidecar, LOOPBACK, claims_public(Some(&read))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(header(&response, "www-authenticate").is_some_and(|c| c.ends_with(r#"scope="write""#)));
    let response = send_from(&sidecar, "[::1]:40000", claims_public(None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A peer inside 10.0.0.0/8 is believed: GET /health is public.
    for peer in ["10.1.2.3:40000", "[::ffff:10.9.9.9]:40000"] {
        let response = send_from(&sidecar, peer, claims_public(None)).await;
        assert_eq!(response.status(), StatusCode::OK, "{peer}");
        assert!(auth_headers(&response).is_empty());
    }
    // By default loopback is trusted and 10/8 is not.
    let default: Vec<(&str, String)> = vec![
        ("GUARD_VERIFY_URL", issuer.verify_url().to_owned()),
        ("GUARD_RULES", rules.path().display().to_string()),
    ];
    let default: Vec<(&str, &str)> = default.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let sidecar = common::sidecar(&default);
    assert_eq!(
        send_from(&sidecar, LOOPBACK, claims_public(None))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send_from(&sidecar, "[::1]:1", claims_public(None))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        send_from(&sidecar, "10.1.2.3:40000", claims_public(None))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_envoy_path_prefix_carries_the_original_method_and_path() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = with_rules(issuer.verify_url(), &rules);
    let read = bearer(&token(&issuer, "read"));
    let write = bearer(&token(&issuer, "write"));
    for (method, uri, auth, status) in [
        ("GET", "/auth/records", Some(&read), StatusCode::OK),
        ("GET", "/auth/records/7?page=2", Some(&read), StatusCode::OK),
        ("GET", "/auth//records", Some(&write), StatusCode::FORBIDDEN),
        (
            "GET",
            "/auth/%72ecords",
            Some(&write),
            StatusCode::FORBIDDEN,
        ),
        (
            "GET",
            "/auth/health/../records",
            Some(&write),
            StatusCode::FORBIDDEN,
        ),
        ("POST", "/auth/records", Some(&read), StatusCode::FORBIDDEN),
        ("POST", "/auth/records", Some(&write), StatusCode::OK),
        ("GET", "/auth/health", None, StatusCode::OK),
        (
            "GET",
            "/auth/health/..;/records",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "GET",
            "/auth/admin//../health",
            None,
            StatusCode::BAD_REQUEST,
        ),
        ("GET", "/auth/", None, StatusCode::UNAUTHORIZED),
        ("GET", "/auth/other", Some(&write), StatusCode::OK),
    ] {
        let mut headers = Vec::new();
        if let Some(auth) = auth {
            headers.push(("authorization", auth.as_str()));
        }
        let response = send_from(&sidecar, LOOPBACK, request(method, uri, &headers)).await;
        assert_eq!(response.status(), status, "{method} {uri}");
        if status == StatusCode::OK && auth.is_some() {
            assert_eq!(header(&response, "x-auth-subject"), Some("Users:7"));
        }
    }
    // The request line is the original: forwarded headers do not move it (here: not public).
    let headers = [
        ("x-original-uri", "/health"),
        ("x-forwarded-uri", "/health"),
    ];
    let response = send_from(
        &sidecar,
        LOOPBACK,
        request("GET", "/auth/records", &headers),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_verifier_that_is_down_is_503_with_retry_after_never_2xx() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let read = bearer(&token(&issuer, "read"));
    // A closed port.
    let closed = format!("http://127.0.0.1:{}/v1/getOauthToken.php", closed_port());
    let down = with_rules(&closed, &rules);
    // The issuer answering 500.
    let failing = with_rules(issuer.verify_url(), &rules);
    issuer
        .set_fault(Fault::Status500)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for sidecar in [&down, &failing] {
        for (method, path) in [("GET", "/records"), ("GET", "/other"), ("POST", "/records")] {
            let response =
                send_from(sidecar, LOOPBACK, nginx_style(method, path, Some(&read))).await;
            assert_eq!(
                response.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "{method} {path}"
            );
            assert_eq!(header(&response, "retry-after"), Some("5"));
            assert_eq!(
                header(&response, "www-authenticate"),
                Some(r#"Bearer realm="api""#)
            );
            assert!(auth_headers(&response).is_empty());
            let library = AuthError::VerifierUnavailable.to_response::<String>("api", 5);
            assert_eq!(body_text(response).await, *library.body());
        }
        // A public route needs no verifier.
        let response = send_from(sidecar, LOOPBACK, nginx_style("GET", "/health", None)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert!(issuer.calls(Endpoint::Verify) >= 1);
}

#[tokio::test]
async fn health_ready_and_metrics_are_beside_auth() {
    let issuer = issuer().await;
    let sidecar = sidecar(&[("GUARD_VERIFY_URL", issuer.verify_url())]);
    let health = send_from(&sidecar, LOOPBACK, request("GET", "/health", &[])).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(body_text(health).await, "ok");
    let ready = send_from(&sidecar, LOOPBACK, request("GET", "/ready", &[])).await;
    assert_eq!(ready.status(), StatusCode::OK);
    // Built without a recorder: no /metrics (the binary always has one: see binary.rs).
    let metrics = send_from(&sidecar, LOOPBACK, request("GET", "/metrics", &[])).await;
    assert_eq!(metrics.status(), StatusCode::NOT_FOUND);
    // No rules file: any valid token for every path, none without.
    let read = bearer(&token(&issuer, "read"));
    let anything = send_from(
        &sidecar,
        LOOPBACK,
        nginx_style("DELETE", "/x/y", Some(&read)),
    )
    .await;
    assert_eq!(anything.status(), StatusCode::OK);
    let nothing = send_from(&sidecar, LOOPBACK, nginx_style("GET", "/health", None)).await;
    assert_eq!(nothing.status(), StatusCode::UNAUTHORIZED);
}
