//! The demo as a newcomer runs it: the built `guarded_api` example, started with no
//! variables, prints `listening on` and curl lines that work when pasted into a shell.

use crate::common;

use std::time::Duration;

use common::demo_process::{demo_exit, run_shell, start};

#[tokio::test]
async fn the_printed_curl_lines_answer_200_when_pasted() {
    let (mut child, _addr, lines) = start(&[], true).await;
    assert_eq!(lines.len(), 4, "{lines:?}");
    // Paste the lines into a shell; print each call's status code after its body.
    let script = lines
        .iter()
        .map(|line| match line.strip_prefix("curl ") {
            Some(rest) => format!(
                "curl -o /dev/null -w '%{{http_code}}\\n' {}",
                rest.replacen("-w '\\n' ", "", 1)
            ),
            None => line.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (_, codes) = run_shell(&script).await;
    let codes = codes.split_whitespace().collect::<Vec<_>>();
    assert_eq!(codes, ["200", "200", "201"], "script:\n{script}");
    let _ = child.kill().await;
}

#[tokio::test]
async fn an_unreachable_verify_url_gives_503_on_protected_routes_and_200_on_health() {
    // Port 1 on loopback: nothing listens, the connection is refused.
    let (mut child, addr, _) = start(
        &[(
            "GUARD_VERIFY_URL",
            "http://127.0.0.1:1/v1/getOauthToken.php",
        )],
        false,
    )
    .await;
    let client = common::client_builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_else(|e| panic!("reqwest client: {e}"));
    let status = |path: &'static str, auth: bool| {
        let mut request = client.get(format!("{addr}{path}"));
        if auth {
            request = request.bearer_auth("some-partner-token");
        }
        async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };
    assert_eq!(status("/health", false).await, 200);
    assert_eq!(status("/whoami", true).await, 503);
    assert_eq!(status("/records", true).await, 503);
    assert_eq!(status("/whoami", false).await, 401);
    let _ = child.kill().await;
}

#[tokio::test]
async fn a_bad_variable_is_named_and_the_demo_exits() {
    let (ok, stderr) = demo_exit(&[("GUARD_CACHE_TTL_SECS", "five minutes")]).await;
    assert!(!ok);
    assert!(stderr.contains("GUARD_CACHE_TTL_SECS"), "{stderr}");
}

/// Runs the printed token line and the `/whoami` line, returning what `/whoami` printed.
async fn whoami_via_printed_lines(lines: &[String]) -> String {
    let script = format!("{}\n{}", lines[0], lines[1]);
    run_shell(&script).await.1
}

#[tokio::test]
async fn jwt_and_auto_modes_check_the_embedded_issuers_tokens_locally() {
    for mode in ["jwt", "auto"] {
        let (mut child, _addr, lines) = start(&[("GUARD_MODE", mode)], true).await;
        let whoami = whoami_via_printed_lines(&lines).await;
        assert!(whoami.contains(r#""source":"jwt""#), "{mode}: {whoami}");
        assert!(
            whoami.contains(r#""sub":"demo-partner""#),
            "{mode}: {whoami}"
        );
        let _ = child.kill().await;
    }
    let (mut child, _addr, lines) = start(&[], true).await;
    assert!(
        whoami_via_printed_lines(&lines)
            .await
            .contains(r#""source":"remote""#)
    );
    let _ = child.kill().await;
}

#[tokio::test]
async fn introspect_and_bitrix24_modes_print_a_token_and_curl_lines_that_work() {
    for (mode, source, sub) in [
        ("introspect", "introspection", "demo-user"),
        ("bitrix24", "bitrix24", "1"),
    ] {
        let (mut child, _addr, lines) = start(&[("GUARD_MODE", mode)], true).await;
        assert_eq!(lines.len(), 4, "{mode}: {lines:?}");
        assert!(lines[0].starts_with("TOKEN='"), "{mode}: {lines:?}");
        let whoami = whoami_via_printed_lines(&lines).await;
        assert!(
            whoami.contains(&format!(r#""source":"{source}""#)),
            "{mode}: {whoami}"
        );
        assert!(
            whoami.contains(&format!(r#""sub":"{sub}""#)),
            "{mode}: {whoami}"
        );
        // The other two lines: GET /records (read) and POST /records (write).
        let script = format!(
            "{}\n{}\n{}",
            lines[0],
            lines[2].replacen(
                "curl -s -w '\\n' ",
                "curl -s -o /dev/null -w '%{http_code}\\n' ",
                1
            ),
            lines[3].replacen(
                "curl -s -w '\\n' ",
                "curl -s -o /dev/null -w '%{http_code}\\n' ",
                1
            ),
        );
        let (_, codes) = run_shell(&script).await;
        let codes = codes.split_whitespace().collect::<Vec<_>>();
        assert_eq!(codes, ["200", "201"], "{mode}: script:\n{script}");
        let _ = child.kill().await;
    }
}
