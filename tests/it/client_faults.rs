//! The token client against a misbehaving issuer, over real HTTP (the mock's token faults and
//! hand-written answers): down → a clear error, then recovery without rebuilding; transient
//! failures retried a bounded number of times; refusals and garbage never retried; a slow
//! issuer bounded; a failed refresh keeps the current token until it is stale; redirects not
//! followed.

use crate::common;
use common::eventually;

use std::time::Duration;

use bearer_guard::client::{TokenEndpoint, TokenSource, TokenSourceError, Unavailable};
use bearer_guard_mock::{Endpoint, Fault};
use common::client_support::fetch_crm_now;
use common::client_support::{
    PARTNER_ID, PARTNER_SECRET, build, crm_now, issuer_with_lifetime, token_of,
};
use common::raw_http::{chunked, http_answer, raw_server};
use http::StatusCode;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The client of the token-answer tests, whose secret no error may hold.
const ID: &str = "demo-client";
const SECRET: &str = "demo-secret";

/// Neither the secret nor the endpoint's query shows in the error's `Display` or `Debug`.
fn assert_clean(error: &TokenSourceError) {
    let shown = format!("{error} {error:?}");
    for needle in [PARTNER_SECRET, "QUERY-KEY-77"] {
        assert!(!shown.contains(needle), "{needle:?} in {shown}");
    }
}

#[tokio::test]
async fn the_issuer_down_is_a_clear_error_then_recovery_without_rebuilding() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    // A key in the query: it must not reach an error either.
    let url = format!("{}?api_key=QUERY-KEY-77", issuer.token_url());
    let source = build(TokenSource::builder(
        TokenEndpoint::crm_now(url),
        PARTNER_ID,
        PARTNER_SECRET,
    ));
    issuer.set_token_fault(Fault::Down).await?;
    let error = source
        .bearer_header()
        .await
        .expect_err("the issuer is down");
    assert!(
        matches!(
            error,
            TokenSourceError::IssuerUnavailable {
                attempts: 3,
                reason: Unavailable::Connect,
                cause: Some(_)
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "token endpoint unavailable after 3 attempt(s): connection failed"
    );
    assert!(
        std::error::Error::source(&error).is_some(),
        "the cause is kept"
    );
    assert_clean(&error);

    // The issuer comes back: the same source recovers (after its 1 s pause).
    issuer.set_token_fault(Fault::None).await?;
    let mut recovered = None;
    for _ in 0..30 {
        match source.bearer_header().await {
            Ok(header) => {
                recovered = Some(header);
                break;
            }
            Err(error) => assert_clean(&error),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let header = recovered.ok_or("no recovery within 3 s")?;
    assert!(issuer.is_valid(&token_of(&header)));
    assert_eq!(issuer.calls(Endpoint::Token), 1, "one fetch once it was up");
    Ok(())
}

#[tokio::test]
async fn within_a_second_of_a_failure_callers_fail_fast_then_a_new_fetch_is_tried() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    let source = build(crm_now(&issuer));
    issuer.set_token_fault(Fault::Status500).await?;
    let first = source.bearer_header().await.expect_err("500");
    assert!(
        matches!(
            first,
            TokenSourceError::IssuerUnavailable {
                attempts: 3,
                reason: Unavailable::Status(StatusCode::INTERNAL_SERVER_ERROR),
                ..
            }
        ),
        "{first:?}"
    );
    assert_eq!(issuer.calls(Endpoint::Token), 3, "three attempts, no more");
    let again = source.bearer_header().await.expect_err("still failing");
    assert_eq!(again.to_string(), first.to_string());
    assert_eq!(
        issuer.calls(Endpoint::Token),
        3,
        "the same error, not asked again"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    source.bearer_header().await.expect_err("500 again");
    assert_eq!(
        issuer.calls(Endpoint::Token),
        6,
        "after the pause: a new fetch"
    );
    issuer.set_token_fault(Fault::None).await?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    source.bearer_header().await?;
    assert_eq!(issuer.calls(Endpoint::Token), 7);
    Ok(())
}

#[tokio::test]
async fn transient_failures_are_retried_until_a_token_comes() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    // 500 twice, then a token: three attempts.
    issuer.set_token_fault_for_next(Fault::Status500, 2).await?;
    let header = build(crm_now(&issuer)).bearer_header().await?;
    assert!(issuer.is_valid(&token_of(&header)));
    assert_eq!(issuer.calls(Endpoint::Token), 3);

    // A reset connection twice, then a token.
    issuer.reset_calls();
    issuer
        .set_token_fault_for_next(Fault::ResetConnection, 2)
        .await?;
    build(crm_now(&issuer)).bearer_header().await?;
    assert_eq!(issuer.calls(Endpoint::Token), 3);

    // 429 with Retry-After: 1, then a token.
    issuer.reset_calls();
    issuer
        .set_token_fault_for_next(Fault::TooManyRequests, 1)
        .await?;
    build(crm_now(&issuer)).bearer_header().await?;
    assert_eq!(issuer.calls(Endpoint::Token), 2);

    // Three 500s exhaust the default two retries; max_retries(3) outlasts them.
    issuer.reset_calls();
    issuer.set_token_fault_for_next(Fault::Status500, 3).await?;
    build(crm_now(&issuer).max_retries(3))
        .bearer_header()
        .await?;
    assert_eq!(issuer.calls(Endpoint::Token), 4);
    Ok(())
}

#[tokio::test]
async fn invalid_client_is_a_clear_error_and_never_retried() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    let wrong = build(TokenSource::builder(
        TokenEndpoint::crm_now(issuer.token_url()),
        PARTNER_ID,
        "wrong-Secret-77",
    ));
    let error = wrong.bearer_header().await.expect_err("wrong secret");
    assert!(
        matches!(
            &error,
            TokenSourceError::Rejected { status: StatusCode::UNAUTHORIZED, error: Some(code) }
                if code == "invalid_client"
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "token endpoint refused the request: HTTP 401 Unauthorized (invalid_client)"
    );
    assert!(!format!("{error} {error:?}").contains("wrong-Secret-77"));
    assert_eq!(issuer.calls(Endpoint::Token), 1, "not retried");

    // A scope the client is not granted: 400 invalid_scope, not retried either.
    let scoped = build(TokenSource::builder(
        TokenEndpoint::client_credentials_form(issuer.form_token_url()).scope("admin"),
        PARTNER_ID,
        PARTNER_SECRET,
    ));
    let error = scoped.bearer_header().await.expect_err("scope");
    assert!(
        matches!(
            &error,
            TokenSourceError::Rejected { status: StatusCode::BAD_REQUEST, error: Some(code) }
                if code == "invalid_scope"
        ),
        "{error:?}"
    );
    assert_eq!(issuer.calls(Endpoint::FormToken), 1);
    Ok(())
}

#[tokio::test]
async fn garbage_and_oversized_answers_are_invalid_and_never_retried() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    let cases = [
        (Fault::HtmlBody, "not a JSON object"),
        (Fault::Truncated, "not a JSON object"),
        (Fault::ResultStringTrue, "expires_in is not a number"),
        (Fault::ResultNumberOne, "access_token is not a string"),
        (Fault::Oversized, "the answer is larger than 64 KiB"),
    ];
    for (count, (fault, problem)) in (1..).zip(cases) {
        issuer.set_token_fault(fault).await?;
        let error = build(crm_now(&issuer))
            .bearer_header()
            .await
            .expect_err("garbage");
        match &error {
            TokenSourceError::InvalidAnswer {
                status: StatusCode::OK,
                problem: said,
            } => assert_eq!(said, problem, "{fault:?}"),
            other => panic!("{fault:?}: {other:?}"),
        }
        let shown = format!("{error} {error:?}");
        for body_text in [
            "Wartungsarbeiten",
            "wrong-types",
            "oversized-answer",
            "xxxx",
        ] {
            assert!(!shown.contains(body_text), "{fault:?}: {shown}");
        }
        assert_eq!(
            issuer.calls(Endpoint::Token),
            count,
            "{fault:?}: not retried"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_slow_issuer_is_bounded_per_attempt_and_in_total() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    issuer
        .set_token_fault(Fault::Slow(Duration::from_secs(5)))
        .await?;
    let source = build(
        crm_now(&issuer)
            .timeout(Duration::from_millis(300))
            .total_timeout(Duration::from_secs(1)),
    );
    let error = source.bearer_header().await.expect_err("slow");
    let TokenSourceError::IssuerUnavailable {
        attempts,
        reason: Unavailable::Timeout,
        ..
    } = error
    else {
        panic!("{error:?}");
    };
    // 300 ms attempts and their pauses fit two or three times into one second, not more.
    assert!((2..=3).contains(&attempts), "{attempts}");
    assert_eq!(issuer.calls(Endpoint::Token), u64::from(attempts));
    Ok(())
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_current_token_until_it_is_stale() -> TestResult {
    // 8 s tokens, refresh_before 4 s: refresh due after 4 s, stale after 6 s.
    let issuer = issuer_with_lifetime(Duration::from_secs(8)).await;
    let source = build(crm_now(&issuer).refresh_before(Duration::from_secs(4)));
    let first = source.bearer_header().await?;
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    issuer.set_token_fault(Fault::Status500).await?;
    assert_eq!(
        source.bearer_header().await?,
        first,
        "the refresh runs behind"
    );
    let failed = eventually(Duration::from_secs(2), async || {
        issuer.calls(Endpoint::Token) == 4
    })
    .await;
    assert!(failed, "one refresh of three attempts");
    assert_eq!(
        source.bearer_header().await?,
        first,
        "a failed refresh leaves the current token in use"
    );
    // Past the stale point the failure is the answer.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let error = source
        .bearer_header()
        .await
        .expect_err("stale, issuer failing");
    assert!(
        matches!(error, TokenSourceError::IssuerUnavailable { .. }),
        "{error:?}"
    );
    issuer.set_token_fault(Fault::None).await?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let recovered = source.bearer_header().await?;
    assert_ne!(recovered, first);
    Ok(())
}

#[tokio::test]
async fn a_redirect_is_not_followed() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    // SuiteCRM's shape: the secret is in the body, which a followed 307 would send on.
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        issuer.suitecrm_token_url()
    );
    let (url, _server) = raw_server(redirect.into_bytes()).await;
    let source = build(TokenSource::builder(
        TokenEndpoint::suitecrm(url),
        PARTNER_ID,
        PARTNER_SECRET,
    ));
    let error = source.bearer_header().await.expect_err("redirect");
    assert!(
        matches!(
            error,
            TokenSourceError::InvalidAnswer {
                status: StatusCode::TEMPORARY_REDIRECT,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        issuer.calls(Endpoint::JsonToken),
        0,
        "nothing went to the target"
    );
    Ok(())
}

#[tokio::test]
async fn the_token_source_caps_and_checks_the_answer() -> TestResult {
    let too_large = |err: &TokenSourceError| matches!(err, TokenSourceError::InvalidAnswer { status: StatusCode::OK, problem } if problem.contains("64 KiB"));
    let pad = "x".repeat(100 * 1024);
    let big =
        format!(r#"{{"access_token":"t","expires_in":1,"token_type":"Bearer","pad":"{pad}"}}"#);

    // Announced by Content-Length.
    let headers = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        big.len()
    );
    let (url, _server) = raw_server(http_answer(&headers, big.as_bytes())).await;
    let err = fetch_crm_now(&url, ID, SECRET)
        .await
        .expect_err("too large");
    assert!(too_large(&err), "{err:?}");

    // Chunked, no length: caught while reading.
    let body = chunked(big.as_bytes().chunks(8 * 1024));
    let headers = "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n";
    let (url, _server) = raw_server(http_answer(headers, &body)).await;
    let err = fetch_crm_now(&url, ID, SECRET)
        .await
        .expect_err("too large");
    assert!(too_large(&err), "{err:?}");

    // Not a token answer.
    let not_tokens: [&[u8]; 3] = [
        b"<html>hello</html>",
        br#"{"access_token": tr"#,
        br#"{"result": true}"#,
    ];
    for body in not_tokens {
        let headers = format!("Content-Length: {}\r\n", body.len());
        let (url, _server) = raw_server(http_answer(&headers, body)).await;
        let err = fetch_crm_now(&url, ID, SECRET).await.expect_err("invalid");
        assert!(
            matches!(err, TokenSourceError::InvalidAnswer { .. }),
            "{err:?}"
        );
    }

    // Nobody listening: every attempt is refused.
    let closed = format!(
        "http://127.0.0.1:{}/v1/getOauthToken.php",
        common::raw_http::closed_port()
    );
    let err = fetch_crm_now(&closed, ID, SECRET)
        .await
        .expect_err("refused");
    assert!(
        matches!(
            err,
            TokenSourceError::IssuerUnavailable {
                attempts: 3,
                reason: Unavailable::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(SECRET));
    Ok(())
}
