//! A real nginx (`auth_request`) in front of a backend, asking the sidecar binary, which asks
//! the crm-now issuer (the mock crate): everything over loopback TCP. Fails, saying how to
//! install it, when nginx is missing (CI's `.ci/run` installs it).

use crate::common;

use bearer_guard_mock::Endpoint;
use common::backend;
use common::nginx::{HTTP_LINES, Nginx, SERVER_BLOCK};
use common::process::SidecarProcess;
use common::{client, closed_port, issuer, token};

/// The variable the README runs the sidecar behind nginx with.
const README_SIDECAR_VARS: &[(&str, &str)] = &[("GUARD_FORWARDED_HEADERS", "original")];

/// The `WWW-Authenticate` values of a response.
fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn through_nginx_every_answer_reaches_the_client_and_the_backend_gets_the_subject() {
    let issuer = issuer().await;
    let sidecar = SidecarProcess::with_rules_and(issuer.verify_url(), README_SIDECAR_VARS).await;
    let (backend_addr, seen) = backend::start().await;
    let nginx = Nginx::start(&sidecar.addr, backend_addr).await;
    let client = client();
    let read = token(&issuer, "read");

    // No token: 401 with the Bearer challenge, once.
    let response = client
        .get(nginx.url("/records"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 401, "{}", nginx.error_log());
    assert_eq!(challenges(&response), [r#"Bearer realm="api""#]);
    assert_eq!(backend::count(&seen), 0);

    // A read token: GET 200 from the backend, which got the sidecar's X-Auth-* headers and
    // none of the client's.
    let response = client
        .get(nginx.url("/records/7?page=2"))
        .bearer_auth(&read)
        .header("x-auth-subject", "Users:1")
        .header("x-auth-scopes", "admin")
        .header("x-auth-owner-type", "contact")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200, "{}", nginx.error_log());
    assert_eq!(response.text().await.unwrap_or_default(), "backend");
    let (method, uri, headers) =
        backend::last(&seen).unwrap_or_else(|| panic!("the backend got nothing"));
    assert_eq!(
        (method.as_str(), uri.as_str()),
        ("GET", "/records/7?page=2")
    );
    let got = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(got("x-auth-subject"), ["Users:7"]);
    assert_eq!(got("x-auth-scopes"), ["read"]);
    assert_eq!(got("x-auth-source"), ["remote"]);
    assert_eq!(got("x-auth-owner-type"), ["user"]);
    assert_eq!(got("x-auth-expires").len(), 1);

    // The read-only token: POST 403 with scope="write", once; the backend is not called.
    let before = backend::count(&seen);
    let response = client
        .post(nginx.url("/records"))
        .bearer_auth(&read)
        .body("{}")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 403);
    assert_eq!(
        challenges(&response),
        [
            r#"Bearer realm="api", error="insufficient_scope", error_description="the access token lacks a required scope", scope="write""#
        ]
    );
    assert_eq!(backend::count(&seen), before);

    // An invalid token: 401 invalid_token.
    let response = client
        .get(nginx.url("/records"))
        .bearer_auth("no-such-token")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 401);
    let challenge = challenges(&response);
    assert_eq!(challenge.len(), 1, "{challenge:?}");
    assert!(
        challenge[0].contains(r#"error="invalid_token""#),
        "{challenge:?}"
    );

    // A public path: 200 without a token, and no X-Auth-* for the backend.
    let response = client
        .get(nginx.url("/health"))
        .header("x-auth-subject", "Users:1")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200);
    assert!(challenges(&response).is_empty());
    let (_, uri, headers) = backend::last(&seen).unwrap_or_else(|| panic!("nothing"));
    assert_eq!(uri, "/health");
    assert!(
        headers
            .keys()
            .all(|name| !name.as_str().starts_with("x-auth-")),
        "{headers:?}"
    );

    // A client cannot name another path or method for the check: its own X-Forwarded-* and
    // X-Original-* headers never reach the sidecar in place of nginx's.
    let before_spoofs = backend::count(&seen);
    for (name, value) in [
        ("x-forwarded-uri", "/health"),
        ("x-original-uri", "/health"),
        ("x-forwarded-method", "GET"),
        ("x-original-method", "GET"),
    ] {
        let response = client
            .post(nginx.url("/records"))
            .bearer_auth(&read)
            .header(name, value)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 403, "{name}: {value}");
    }
    let response = client
        .get(nginx.url("/records"))
        .header("x-forwarded-uri", "/health")
        .header("x-original-uri", "/health")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 401);
    assert_eq!(backend::count(&seen), before_spoofs);

    // nginx normalises too; the sidecar sees $request_uri, the raw original.
    let response = client
        .get(nginx.url("/health/../records"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 401);
    let response = client
        .get(nginx.url("/%72ecords"))
        .bearer_auth(token(&issuer, "write"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 403);
    assert!(issuer.calls(Endpoint::Verify) >= 2);
}

#[tokio::test]
async fn through_nginx_a_verifier_that_is_down_is_503_never_2xx() {
    let issuer = issuer().await;
    let closed = format!("http://127.0.0.1:{}/v1/getOauthToken.php", closed_port());
    let sidecar = SidecarProcess::with_rules_and(&closed, README_SIDECAR_VARS).await;
    let (backend_addr, seen) = backend::start().await;
    let nginx = Nginx::start(&sidecar.addr, backend_addr).await;
    let client = client();
    let read = token(&issuer, "read");
    for (method, path) in [("GET", "/records"), ("POST", "/records"), ("GET", "/other")] {
        let response = client
            .request(method.parse().unwrap_or_default(), nginx.url(path))
            .bearer_auth(&read)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            response.status(),
            503,
            "{method} {path}: {}",
            nginx.error_log()
        );
        assert_eq!(response.headers()["retry-after"], "5");
        assert_eq!(challenges(&response), [r#"Bearer realm="api""#]);
        let body = response.text().await.unwrap_or_default();
        assert!(body.contains("temporarily_unavailable"), "{body}");
    }
    assert_eq!(backend::count(&seen), 0);
    // The sidecar itself is fine: public paths still pass.
    let response = client
        .get(nginx.url("/health"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200);
}

#[test]
fn the_readme_prints_the_nginx_config_this_test_uses() {
    let readme = include_str!("../../../README.md");
    for block in [HTTP_LINES, SERVER_BLOCK] {
        assert!(
            readme.contains(block),
            "README.md no longer holds, verbatim:\n{block}"
        );
    }
    // The sidecar behind it: as README_SIDECAR_VARS.
    let nginx_section = readme
        .split_once("\n### nginx\n")
        .and_then(|(_, rest)| rest.split_once("\n### "))
        .map(|(section, _)| section)
        .unwrap_or_else(|| panic!("README.md has no `### nginx` section"));
    assert!(
        nginx_section.contains("```sh\nGUARD_FORWARDED_HEADERS=original "),
        "the README's nginx section no longer runs the sidecar with \
         GUARD_FORWARDED_HEADERS=original"
    );
}
