//! The embedded crm-now issuer's fault modes, over real HTTP on 127.0.0.1: down (and healed
//! on the same port), slow, the shaped verify answers, oversized, JWKS faults, and shutdown.
//!
//! Every request goes through a reqwest client with a timeout, so no test can hang.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use bearer_guard::client::MAX_TOKEN_RESPONSE_BYTES;
use bearer_guard_mock::{Endpoint, Fault, MockIssuer};
use jsonwebtoken::jwk::JwkSet;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;

use common::{
    JsonValue, assert_refused, fresh_http, http, issuer, jwks, token_over_http, verified,
    verify_form, verify_form_response,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn down_refuses_connections_and_heals_on_the_same_port() -> TestResult {
    let issuer = issuer().await;
    let client = fresh_http();
    let token = token_over_http(&issuer).await;
    let url_before = issuer.verify_url().to_owned();

    issuer.set_fault(Fault::Down).await?;
    assert_refused(&issuer).await;
    let error = verify_form(&client, &issuer, &token)
        .await
        .expect_err("down");
    assert!(error.is_connect(), "{error:?}");
    issuer.reset_calls();

    issuer.set_fault(Fault::None).await?;
    assert_eq!(issuer.verify_url(), url_before);
    assert!(verified(&issuer, &token).await);
    assert_eq!(issuer.calls(Endpoint::Verify), 1);

    // Down through the JWKS fault takes the whole port down too; both must be clear to heal.
    issuer.set_jwks_fault(Fault::Down).await?;
    issuer.set_fault(Fault::Down).await?;
    assert_refused(&issuer).await;
    issuer.set_fault(Fault::None).await?;
    assert_refused(&issuer).await;
    issuer.set_jwks_fault(Fault::None).await?;
    assert_eq!(jwks(&issuer).await.keys.len(), 1);
    Ok(())
}

#[tokio::test]
async fn slow_answers_late_and_trips_client_timeouts() -> TestResult {
    let issuer = issuer().await;
    let token = token_over_http(&issuer).await;
    issuer
        .set_fault(Fault::Slow(Duration::from_millis(800)))
        .await?;
    let started = Instant::now();
    assert!(verified(&issuer, &token).await);
    assert!(started.elapsed() >= Duration::from_millis(800));

    let impatient = common::client_builder()
        .timeout(Duration::from_millis(100))
        .build()?;
    let error = verify_form(&impatient, &issuer, &token)
        .await
        .expect_err("timeout");
    assert!(error.is_timeout(), "{error:?}");

    // Token requests are not slowed down.
    let started = Instant::now();
    token_over_http(&issuer).await;
    assert!(started.elapsed() < Duration::from_millis(800));
    Ok(())
}

#[tokio::test]
async fn faults_shape_the_verify_answer() -> TestResult {
    let issuer = issuer().await;
    let client = http();
    let good = token_over_http(&issuer).await;

    issuer.set_fault(Fault::Status500).await?;
    let (status, body) = verify_form(&client, &issuer, &good).await?;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_ne!(
        serde_json::from_slice::<Value>(&body)?.get("result"),
        Some(&json!(true))
    );
    // The token endpoint is not affected.
    token_over_http(&issuer).await;

    issuer.set_fault(Fault::HtmlBody).await?;
    let response = verify_form_response(&client, &issuer, &good).await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()?
            .starts_with("text/html")
    );
    let body = response.bytes().await?;
    assert!(serde_json::from_slice::<Value>(&body).is_err());

    issuer.set_fault(Fault::ResultStringTrue).await?;
    let (status, body) = verify_form(&client, &issuer, "garbage").await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body)?["result"],
        json!("true")
    );

    issuer.set_fault(Fault::ResultNumberOne).await?;
    let (_, body) = verify_form(&client, &issuer, "garbage").await?;
    assert_eq!(serde_json::from_slice::<Value>(&body)?["result"], json!(1));

    issuer.set_fault(Fault::Truncated).await?;
    let response = verify_form_response(&client, &issuer, &good).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let length = response.headers()[CONTENT_LENGTH]
        .to_str()?
        .parse::<usize>()?;
    let body = response.bytes().await?;
    assert_eq!(&body[..], br#"{"result": tr"#);
    assert_eq!(length, body.len());
    assert!(serde_json::from_slice::<Value>(&body).is_err());

    issuer.set_fault(Fault::Oversized).await?;
    let (status, body) = verify_form(&client, &issuer, "garbage").await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.len() > MAX_TOKEN_RESPONSE_BYTES + 30 * 1024,
        "{}",
        body.len()
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&body)?["result"],
        json!(true)
    );

    issuer.set_fault(Fault::ResetConnection).await?;
    let error = verify_form(&client, &issuer, &good)
        .await
        .expect_err("reset");
    assert!(!error.is_timeout(), "{error:?}");
    // On a raw socket: not a single byte comes back, and the close is a reset.
    let mut stream = tokio::net::TcpStream::connect(issuer.addr()).await?;
    let body = format!("verifytoken={good}");
    let request = format!(
        "POST /v1/getOauthToken.php HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        issuer.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await?;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    let error = read.expect_err("a reset, not a clean close");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    // Fresh connections after a reset are served normally again.
    issuer.set_fault(Fault::None).await?;
    assert!(verified(&issuer, &good).await);
    assert!(!verified(&issuer, "garbage").await);
    Ok(())
}

#[tokio::test]
async fn no_fault_but_oversized_says_true_for_a_bad_token() -> TestResult {
    let issuer = issuer().await;
    let client = http();
    let faults = [
        Fault::None,
        Fault::Slow(Duration::from_millis(10)),
        Fault::Status500,
        Fault::HtmlBody,
        Fault::ResultStringTrue,
        Fault::ResultNumberOne,
        Fault::Truncated,
        Fault::ResetConnection,
    ];
    for fault in faults {
        issuer.set_fault(fault).await?;
        // Every outcome is checked: a JSON answer never says `true`; only the faults that
        // break the body or the connection may give something else.
        match verify_form(&client, &issuer, "forged.token.value").await {
            Ok((_, body)) => match serde_json::from_slice::<Value>(&body) {
                Ok(value) => assert_ne!(value.get("result"), Some(&json!(true)), "{fault:?}"),
                Err(_) => assert!(
                    matches!(fault, Fault::HtmlBody | Fault::Truncated),
                    "{fault:?} gave a body that is not JSON"
                ),
            },
            Err(error) => assert!(
                matches!(fault, Fault::ResetConnection | Fault::Truncated),
                "{fault:?}: {error}"
            ),
        }
    }
    Ok(())
}

#[tokio::test]
async fn jwks_faults() -> TestResult {
    let issuer = issuer().await;
    let client = fresh_http();
    issuer.set_fault(Fault::Status500).await?; // the verify fault leaves JWKS alone
    assert_eq!(jwks(&issuer).await.keys.len(), 1);

    issuer.set_jwks_fault(Fault::Status500).await?;
    let response = client.get(issuer.jwks_url()).send().await?;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);

    issuer.set_jwks_fault(Fault::ResultStringTrue).await?;
    let body = client
        .get(issuer.jwks_url())
        .send()
        .await?
        .json_value()
        .await;
    assert_eq!(body, json!({"keys": "true"}));

    issuer.set_jwks_fault(Fault::Truncated).await?;
    let body = client.get(issuer.jwks_url()).send().await?.bytes().await?;
    assert!(serde_json::from_slice::<Value>(&body).is_err());

    issuer.set_jwks_fault(Fault::Oversized).await?;
    let body = client.get(issuer.jwks_url()).send().await?.bytes().await?;
    assert!(body.len() > 100 * 1024);
    let set: JwkSet = serde_json::from_slice(&body)?;
    assert_eq!(
        set.keys[0].common.key_id.as_deref(),
        Some(issuer.current_kid().as_str())
    );

    issuer.set_jwks_fault(Fault::ResetConnection).await?;
    assert!(client.get(issuer.jwks_url()).send().await.is_err());

    issuer
        .set_jwks_fault(Fault::Slow(Duration::from_millis(200)))
        .await?;
    let started = Instant::now();
    assert_eq!(jwks(&issuer).await.keys.len(), 1);
    assert!(started.elapsed() >= Duration::from_millis(200));

    issuer.set_jwks_fault(Fault::Down).await?;
    assert_refused(&issuer).await;
    issuer.set_jwks_fault(Fault::None).await?;
    assert_eq!(jwks(&issuer).await.keys.len(), 1);
    assert_eq!(issuer.calls(Endpoint::Jwks), 8);
    Ok(())
}

#[tokio::test]
async fn shutdown_and_drop_close_the_port() -> TestResult {
    let issuer = issuer().await;
    token_over_http(&issuer).await;
    let addr = issuer.addr();
    issuer.shutdown().await;
    let error = tokio::net::TcpStream::connect(addr)
        .await
        .expect_err("closed");
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);

    let issuer = MockIssuer::start().await?;
    let addr = issuer.addr();
    issuer
        .set_fault(Fault::Slow(Duration::from_secs(30)))
        .await?;
    let pending = tokio::spawn({
        let client = http();
        let url = issuer.verify_url().to_owned();
        async move { client.post(url).form(&[("verifytoken", "x")]).send().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(issuer);
    // The listener closes soon after the drop (at most 50 tries, 20 ms apart).
    let mut closed = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed, "port still open after drop");
    // The slow answer (30 s) is cut short by the drop: the pending request ends well before
    // its client's timeout (10 s) would end it, and not by that timeout.
    let outcome = tokio::time::timeout(Duration::from_secs(3), pending)
        .await
        .map_err(|_| "the pending request outlived the dropped issuer by 3 s")??;
    match outcome {
        Ok(response) => assert_eq!(response.status(), StatusCode::OK, "answered early"),
        Err(error) => assert!(!error.is_timeout(), "ended by its own timeout: {error}"),
    }
    Ok(())
}
