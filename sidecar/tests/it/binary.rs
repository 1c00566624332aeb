//! The `bearer-guard` binary as a child process: startup, `--check-config`, the answers over
//! TCP (real peer addresses), the decision log, `/metrics`, and SIGTERM.

use crate::common;

use std::time::Duration;

use bearer_guard_mock::{Endpoint, Fault};
use common::process::{SidecarProcess, run};
use common::{RULES, client, issuer, rules_file, token};

#[tokio::test]
async fn it_prints_listening_on_and_answers_over_tcp_with_metrics_health_and_ready() {
    let issuer = issuer().await;
    let sidecar = SidecarProcess::with_rules(issuer.verify_url()).await;
    let client = client();
    let read = token(&issuer, "read");
    let response = client
        .get(sidecar.url("/auth"))
        .header("x-original-method", "GET")
        .header("x-original-uri", "/records?page=1")
        .header("x-auth-subject", "Users:1")
        .bearer_auth(&read)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["x-auth-subject"], "Users:7");
    assert_eq!(headers["x-auth-scopes"], "read");
    assert_eq!(headers["x-auth-source"], "remote");
    let denied = client
        .post(sidecar.url("/auth/records"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(denied.status(), 403);
    assert!(
        denied.headers()["www-authenticate"]
            .to_str()
            .is_ok_and(|c| c.ends_with(r#"scope="write""#))
    );
    for (path, contains) in [
        ("/health", "ok"),
        ("/ready", "ready"),
        ("/metrics", "bearer_guard_requests_total"),
    ] {
        let response = client
            .get(sidecar.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 200, "{path}");
        let text = response.text().await.unwrap_or_default();
        assert!(text.contains(contains), "{path}: {text}");
    }
    let metrics = sidecar.metrics().await;
    assert!(
        metrics.contains(r#"bearer_guard_requests_total{outcome="insufficient_scope"} 1"#),
        "{metrics}"
    );
    // One outcome per request (issue 21): the refused POST is not also counted `allowed`, and
    // the outcomes sum to the two guarded requests.
    assert!(
        metrics.contains(r#"bearer_guard_requests_total{outcome="allowed"} 1"#),
        "{metrics}"
    );
    let counted: f64 = metrics
        .lines()
        .filter(|line| line.starts_with("bearer_guard_requests_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(counted, 2.0, "{metrics}");
}

#[tokio::test]
async fn an_untrusted_peer_over_tcp_is_judged_on_its_own_request() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let rules_path = rules.path().display().to_string();
    let client = client();
    let ask = |url: String| {
        client
            .get(url)
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-uri", "/health")
            .send()
    };
    // Loopback (the test's address) outside GUARD_TRUSTED_PROXIES: GET /, not GET /health.
    let untrusting = SidecarProcess::start(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_RULES", &rules_path),
        ("GUARD_TRUSTED_PROXIES", "10.0.0.0/8"),
    ])
    .await;
    let response = ask(untrusting.url("/auth"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 401);
    // The default trusts loopback: public.
    let trusting = SidecarProcess::start(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_RULES", &rules_path),
    ])
    .await;
    let response = ask(trusting.url("/auth"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .keys()
            .all(|name| !name.as_str().starts_with("x-auth-"))
    );
}

#[tokio::test]
async fn check_config_accepts_a_usable_configuration_and_exits_0() {
    let issuer = issuer().await;
    let rules = rules_file(RULES);
    let rules_path = rules.path().display().to_string();
    let (code, stdout, stderr) = run(
        &["--check-config"],
        &[
            ("GUARD_VERIFY_URL", issuer.verify_url()),
            ("GUARD_RULES", &rules_path),
        ],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("configuration OK: mode remote, 4 rules from"),
        "{stdout}"
    );
    assert!(!stdout.contains("listening on"));
    // It never asked the issuer anything.
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
    let (code, stdout, _) = run(&["--help"], &[]).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains("--check-config"));
    let (code, _, stderr) = run(&["--frobnicate"], &[]).await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("usage: bearer-guard"));
}

#[tokio::test]
async fn a_bad_rules_file_stops_check_config_and_startup_naming_file_line_and_key() {
    let issuer = issuer().await;
    let syntax = rules_file("[[rule]]\npath = \"/records\"\nscopes_any = [\"read\"\n");
    let unknown =
        rules_file("default = \"deny\"\n\n[[rule]]\npath = \"/records\"\nscope = [\"read\"]\n");
    let public_and_scopes =
        rules_file("[[rule]]\npath = \"/records\"\npublic = true\nscopes_all = [\"write\"]\n");
    for (file, line, key) in [
        (&syntax, "line 3", "key `scopes_any`"),
        (&unknown, "line 5", "key `scope`"),
        (&public_and_scopes, "line 3", "key `public`"),
    ] {
        let path = file.path().display().to_string();
        let vars = [
            ("GUARD_VERIFY_URL", issuer.verify_url()),
            ("GUARD_RULES", path.as_str()),
            ("GUARD_LISTEN", "127.0.0.1:0"),
        ];
        for args in [&["--check-config"][..], &[][..]] {
            let (code, stdout, stderr) = run(args, &vars).await;
            assert_ne!(code, Some(0), "{args:?} {path}");
            assert!(code.is_some(), "killed rather than exited");
            assert!(!stdout.contains("listening on"), "{stdout}");
            for part in ["GUARD_RULES", path.as_str(), line, key] {
                assert!(stderr.contains(part), "{args:?}: `{part}` not in {stderr}");
            }
        }
    }
}

#[tokio::test]
async fn no_verification_source_is_an_error_naming_the_variables() {
    for args in [&["--check-config"][..], &[][..]] {
        let (code, stdout, stderr) = run(
            args,
            &[
                ("GUARD_LISTEN", "127.0.0.1:0"),
                ("GUARD_RULES", "/nonexistent"),
            ],
        )
        .await;
        assert_eq!(code, Some(1), "{args:?}");
        assert!(!stdout.contains("listening on"));
        for name in [
            "GUARD_VERIFY_URL",
            "GUARD_JWKS_URL",
            "GUARD_JWT_PUBLIC_KEY",
            "GUARD_INTROSPECTION_URL",
            "GUARD_BITRIX24_PORTAL",
        ] {
            assert!(stderr.contains(name), "{args:?}: {stderr}");
        }
    }
    let (code, _, stderr) = run(
        &["--check-config"],
        &[
            ("GUARD_VERIFY_URL", "http://127.0.0.1:9/v"),
            ("GUARD_TRUSTED_PROXIES", "10.0.0.0/8,everyone"),
        ],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("GUARD_TRUSTED_PROXIES: `everyone`"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_bad_forwarded_headers_value_stops_check_config_and_startup_naming_the_variable() {
    for value in ["x-forwarded", "Original", "both", "auto,original"] {
        let vars = [
            ("GUARD_VERIFY_URL", "http://127.0.0.1:9/v"),
            ("GUARD_FORWARDED_HEADERS", value),
            ("GUARD_LISTEN", "127.0.0.1:0"),
        ];
        for args in [&["--check-config"][..], &[][..]] {
            let (code, stdout, stderr) = run(args, &vars).await;
            assert_eq!(code, Some(1), "{args:?} {value}: {stderr}");
            assert!(!stdout.contains("listening on"), "{stdout}");
            assert!(
                stderr.contains(&format!("GUARD_FORWARDED_HEADERS: `{value}`")),
                "{args:?}: {stderr}"
            );
        }
    }
    for value in ["auto", "original", "forwarded"] {
        let (code, stdout, stderr) = run(
            &["--check-config"],
            &[
                ("GUARD_VERIFY_URL", "http://127.0.0.1:9/v"),
                ("GUARD_FORWARDED_HEADERS", value),
            ],
        )
        .await;
        assert_eq!(code, Some(0), "{value}: {stderr}");
        assert!(
            stdout.contains(&format!("forwarded headers {value}")),
            "{stdout}"
        );
    }
}

#[tokio::test]
async fn one_log_line_per_decision_and_never_the_token() {
    let issuer = issuer().await;
    let sidecar = SidecarProcess::with_rules(issuer.verify_url()).await;
    let client = client();
    let read = token(&issuer, "read");
    let asks = [
        ("GET", "/health/../records", Some(read.as_str())),
        ("GET", "/records", Some("invalid-token-value")),
        ("GET", "/health", None),
        ("PUT", "/records/7", Some(read.as_str())),
    ];
    for (method, uri, auth) in asks {
        let mut ask = client
            .get(sidecar.url("/auth"))
            .header("x-original-method", method)
            .header("x-original-uri", uri);
        if let Some(auth) = auth {
            ask = ask.bearer_auth(auth);
        }
        ask.send().await.unwrap_or_else(|e| panic!("{e}"));
    }
    // The lines are written before the answers are sent; give the pipe a moment (bounded).
    let mut decisions = Vec::new();
    for _ in 0..50 {
        decisions = sidecar
            .stderr_lines()
            .into_iter()
            .filter(|line| line.contains("bearer_guard_sidecar::decision"))
            .collect();
        if decisions.len() >= asks.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(decisions.len(), asks.len(), "{decisions:#?}");
    for (line, want) in decisions.iter().zip([
        [
            r#"method=GET"#,
            r#"path="/records""#,
            r#"rule=read records"#,
            r#"outcome="allowed""#,
            "status=200",
        ],
        [
            r#"method=GET"#,
            r#"path="/records""#,
            r#"rule=read records"#,
            r#"outcome="invalid_token""#,
            "status=401",
        ],
        [
            r#"method=GET"#,
            r#"path="/health""#,
            "rule=1",
            r#"outcome="public""#,
            "status=200",
        ],
        [
            r#"method=PUT"#,
            r#"path="/records/7""#,
            "rule=3",
            r#"outcome="insufficient_scope""#,
            "status=403",
        ],
    ]) {
        for field in want {
            assert!(line.contains(field), "{field} not in {line}");
        }
        assert!(line.contains("latency_us="), "{line}");
    }
    for line in sidecar.stderr_lines() {
        assert!(!line.contains(&read), "the token was logged: {line}");
        assert!(
            !line.contains("invalid-token-value"),
            "a token was logged: {line}"
        );
    }
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_verification_finish_then_exits_0() {
    let issuer = issuer().await;
    let mut sidecar = SidecarProcess::start(&[("GUARD_VERIFY_URL", issuer.verify_url())]).await;
    issuer
        .set_fault(Fault::Slow(Duration::from_secs(2)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let read = token(&issuer, "read");
    let in_flight = tokio::spawn(
        client()
            .get(sidecar.url("/auth"))
            .header("x-original-uri", "/records")
            .bearer_auth(&read)
            .send(),
    );
    // Wait (bounded) until the verification is under way at the issuer.
    for _ in 0..100 {
        if issuer.calls(Endpoint::Verify) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        1,
        "the verification never started"
    );
    sidecar.terminate().await;
    let response = tokio::time::timeout(Duration::from_secs(30), in_flight)
        .await
        .unwrap_or_else(|_| panic!("the in-flight request was not answered"))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("the in-flight request failed: {e}"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-auth-subject"], "Users:7");
    let status = tokio::time::timeout(Duration::from_secs(30), sidecar.child.wait())
        .await
        .unwrap_or_else(|_| panic!("the sidecar did not exit after SIGTERM"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), Some(0), "{:?}", sidecar.stderr_lines());
    // New connections are refused once it has stopped.
    assert!(client().get(sidecar.url("/health")).send().await.is_err());
}

#[tokio::test]
async fn the_admin_listener_revokes_a_token_and_the_main_listener_has_no_admin_routes() {
    const ADMIN_TOKEN: &str = "sidecar-admin-token-0123456789";
    let issuer = issuer().await;
    // Port 0: the sidecar binds a free port itself and prints it (no port picked here that
    // another process could take first).
    let sidecar = SidecarProcess::start(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_ADMIN_LISTEN", "127.0.0.1:0"),
        ("GUARD_ADMIN_TOKEN", ADMIN_TOKEN),
    ])
    .await;
    let admin_addr = sidecar
        .admin
        .clone()
        .unwrap_or_else(|| panic!("no `admin listener at` line"));
    let client = client();
    let read = token(&issuer, "read");
    let auth = || {
        client
            .get(sidecar.url("/auth"))
            .header("x-original-uri", "/records")
            .bearer_auth(&read)
            .send()
    };
    let first = auth().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first.status(),
        200,
        "the token is valid before the revocation"
    );
    let revoke_url = format!("http://{admin_addr}/revoke");
    let wrong = common::revoke_at(&revoke_url, "not-the-admin-token-at-all", &read).await;
    assert_eq!(wrong, 401, "a wrong admin token revokes nothing");
    let still = auth().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(still.status(), 200);
    let on_main = common::revoke_at(&sidecar.url("/revoke"), ADMIN_TOKEN, &read).await;
    assert!(
        !on_main.is_success(),
        "the main listener has no admin routes: {on_main}"
    );
    assert_eq!(auth().await.unwrap_or_else(|e| panic!("{e}")).status(), 200);
    let revoked = common::revoke_at(&revoke_url, ADMIN_TOKEN, &read).await;
    assert_eq!(revoked, 204);
    let after = auth().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        after.status(),
        401,
        "revoked although the issuer still says valid"
    );
    assert!(
        after.headers()["www-authenticate"]
            .to_str()
            .is_ok_and(|c| c.contains(r#"error="invalid_token""#))
    );
    assert_eq!(
        issuer.calls(Endpoint::Verify),
        1,
        "one verification before the revocation, none after"
    );
}
