//! Which forwarded headers `/auth` reads (`GUARD_FORWARDED_HEADERS`), and the original URIs it
//! refuses before it looks at a token: `X-Forwarded-*` and `X-Original-*` that disagree (in
//! `auto`), and a raw `#`. In-process, from a trusted (loopback) peer, with a real crm-now
//! issuer on 127.0.0.1 checking the tokens.

use crate::common;

use bearer_guard_mock::Endpoint;
use common::{
    RULES, auth_headers, body_text, header, issuer, request, rules_file, send_from, token,
};
use http::StatusCode;

const LOOPBACK: &str = "127.0.0.1:40000";

/// A sidecar with the shared rules in front of `verify_url`, `GUARD_FORWARDED_HEADERS` set to
/// `mode` (left unset for `None`).
fn sidecar(
    verify_url: &str,
    rules: &tempfile::NamedTempFile,
    mode: Option<&str>,
) -> bearer_guard_sidecar::Sidecar {
    let rules = rules.path().display().to_string();
    let mut vars = vec![("GUARD_VERIFY_URL", verify_url), ("GUARD_RULES", &rules)];
    if let Some(mode) = mode {
        vars.push(("GUARD_FORWARDED_HEADERS", mode));
    }
    common::sidecar(&vars)
}

/// `GET /auth` with `headers`, plus `Authorization: Bearer <token>` when given.
fn auth(headers: &[(&str, &str)], token: Option<&str>) -> http::Request<axum::body::Body> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut all = headers.to_vec();
    if let Some(bearer) = &bearer {
        all.push(("authorization", bearer));
    }
    request("GET", "/auth", &all)
}

/// Asserts the sidecar's own 400 `invalid_request`: no challenge, no `X-Auth-*`.
async fn assert_invalid_request(response: http::Response<axum::body::Body>, case: &str) {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{case}");
    assert!(
        response.headers().get("www-authenticate").is_none(),
        "{case}"
    );
    assert!(auth_headers(&response).is_empty(), "{case}");
    let body = body_text(response).await;
    assert!(
        body.contains(r#""error":"invalid_request""#),
        "{case}: {body}"
    );
}

#[tokio::test]
async fn forwarded_and_original_headers_that_disagree_are_400_whatever_the_token() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let sidecar = sidecar(issuer.verify_url(), &rules, None);
    let read = token(&issuer, "read");
    let write = token(&issuer, "write");
    // nginx sets X-Original-*; the client adds its own X-Forwarded-* (no clearing lines).
    let conflicts: [&[(&str, &str)]; 7] = [
        // The issue's first spoof: DELETE /records/7 claimed to be /health.
        &[
            ("x-forwarded-uri", "/health"),
            ("x-original-uri", "/records/7"),
            ("x-original-method", "DELETE"),
        ],
        // The second: a write claimed to be a read.
        &[
            ("x-forwarded-method", "GET"),
            ("x-original-method", "DELETE"),
            ("x-original-uri", "/records/7"),
        ],
        &[
            ("x-forwarded-method", "get"),
            ("x-original-method", "DELETE"),
            ("x-original-uri", "/records/7"),
        ],
        // Compared as sent: the same path after normalisation is still a conflict.
        &[
            ("x-forwarded-uri", "/records/%37"),
            ("x-original-uri", "/records/7"),
        ],
        &[
            ("x-forwarded-uri", "/records/7?page=1"),
            ("x-original-uri", "/records/7"),
        ],
        // Traefik in front, a client-sent X-Original-URI passed through.
        &[
            ("x-forwarded-method", "DELETE"),
            ("x-forwarded-uri", "/records/7"),
            ("x-original-uri", "/health"),
        ],
        &[
            ("x-forwarded-method", "DELETE"),
            ("x-forwarded-uri", "/records/7"),
            ("x-original-method", "GET"),
        ],
    ];
    for headers in conflicts {
        for token in [
            None,
            Some(read.as_str()),
            Some(write.as_str()),
            Some("garbage"),
        ] {
            let response = send_from(&sidecar, LOOPBACK, auth(headers, token)).await;
            assert_invalid_request(response, &format!("{headers:?} {}", token.is_some())).await;
        }
    }
    // Refused before the token is looked at.
    assert_eq!(issuer.calls(Endpoint::Verify), 0);

    // Equal values are read as before (methods case-insensitively).
    let agreeing = [
        ("x-forwarded-method", "delete"),
        ("x-original-method", "DELETE"),
        ("x-forwarded-uri", "/records/7?x=1"),
        ("x-original-uri", "/records/7?x=1"),
    ];
    let response = send_from(&sidecar, LOOPBACK, auth(&agreeing, Some(&write))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = send_from(&sidecar, LOOPBACK, auth(&agreeing, Some(&read))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(header(&response, "www-authenticate").is_some_and(|c| c.ends_with(r#"scope="write""#)));

    // One header twice is 400, with different values and with the same one.
    for repeated in [
        [
            ("x-original-uri", "/records/7"),
            ("x-original-uri", "/health"),
        ],
        [("x-original-uri", "/health"), ("x-original-uri", "/health")],
        [
            ("x-forwarded-uri", "/health"),
            ("x-forwarded-uri", "/records"),
        ],
        [
            ("x-original-method", "GET"),
            ("x-original-method", "DELETE"),
        ],
        [
            ("x-forwarded-method", "GET"),
            ("x-forwarded-method", "DELETE"),
        ],
    ] {
        let mut headers = repeated.to_vec();
        if repeated[0].0.ends_with("method") {
            headers.push(("x-original-uri", "/records/7"));
        }
        let response = send_from(&sidecar, LOOPBACK, auth(&headers, Some(&write))).await;
        assert_invalid_request(response, &format!("{headers:?}")).await;
    }
}

#[tokio::test]
async fn guard_forwarded_headers_chooses_which_family_is_read() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let read = token(&issuer, "read");
    let write = token(&issuer, "write");
    // The client claims GET /health in X-Forwarded-*; nginx says DELETE /records/7.
    let behind_nginx = [
        ("x-forwarded-uri", "/health"),
        ("x-forwarded-method", "GET"),
        ("x-original-uri", "/records/7"),
        ("x-original-method", "DELETE"),
    ];
    // The client claims GET /health in X-Original-*; Traefik says DELETE /records/7.
    let behind_traefik = [
        ("x-original-uri", "/health"),
        ("x-original-method", "GET"),
        ("x-forwarded-uri", "/records/7"),
        ("x-forwarded-method", "DELETE"),
    ];
    for (mode, headers) in [("original", behind_nginx), ("forwarded", behind_traefik)] {
        let sidecar = sidecar(issuer.verify_url(), &rules, Some(mode));
        // The other family is ignored: judged as DELETE /records/7.
        let response = send_from(&sidecar, LOOPBACK, auth(&headers, None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{mode}");
        let response = send_from(&sidecar, LOOPBACK, auth(&headers, Some(&read))).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{mode}");
        assert!(
            header(&response, "www-authenticate").is_some_and(|c| c.ends_with(r#"scope="write""#)),
            "{mode}"
        );
        let response = send_from(&sidecar, LOOPBACK, auth(&headers, Some(&write))).await;
        assert_eq!(response.status(), StatusCode::OK, "{mode}");
        // Ignored entirely: the other family alone names nothing (the root, which needs a
        // token), and repeating it is not an error.
        let (other_uri, other_method) = if mode == "original" {
            ("x-forwarded-uri", "x-forwarded-method")
        } else {
            ("x-original-uri", "x-original-method")
        };
        let alone = [
            (other_uri, "/health"),
            (other_uri, "/health/live"),
            (other_method, "GET"),
        ];
        let response = send_from(&sidecar, LOOPBACK, auth(&alone, None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{mode}");
    }
    // `auto` (the default, and spelled out) reads either family alone.
    for mode in [None, Some("auto")] {
        let sidecar = sidecar(issuer.verify_url(), &rules, mode);
        for uri in ["x-original-uri", "x-forwarded-uri"] {
            let response = send_from(&sidecar, LOOPBACK, auth(&[(uri, "/health")], None)).await;
            assert_eq!(response.status(), StatusCode::OK, "{mode:?} {uri}");
        }
    }
}

#[tokio::test]
async fn a_raw_hash_in_the_original_uri_is_400() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let read = token(&issuer, "read");
    for mode in ["auto", "original", "forwarded"] {
        let sidecar = sidecar(issuer.verify_url(), &rules, Some(mode));
        let name = if mode == "forwarded" {
            "x-forwarded-uri"
        } else {
            "x-original-uri"
        };
        // `/health#/../records` met the public `/health` rule while the backend got it raw.
        for uri in [
            "/health#/../records",
            "/health#",
            "/#/records",
            "/records?page=1#/health",
            "http://example.test/health#/../records",
        ] {
            for token in [None, Some(read.as_str())] {
                let response = send_from(&sidecar, LOOPBACK, auth(&[(name, uri)], token)).await;
                assert_invalid_request(response, &format!("{mode} {uri}")).await;
            }
        }
        // An encoded `#` is a character of the path like any other.
        let response = send_from(&sidecar, LOOPBACK, auth(&[(name, "/health%23x")], None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{mode}");
    }
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
}
