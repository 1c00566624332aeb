//! The mock issuer's JSON (SuiteCRM, 1CRM) and form (RFC 6749) token endpoints, over raw HTTP:
//! what they grant and refuse, their counters, the recorded request, and the token fault
//! (bounded to the next requests, or until changed).

use crate::common;

use std::time::Duration;

use bearer_guard_mock::{Endpoint, Fault, MockIssuer};
use common::{JsonValue, granted, http};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A form, its `Authorization`, and the status and `error` code it must get.
type Refusal<'a> = (
    &'a [(&'a str, &'a str)],
    Option<&'a str>,
    StatusCode,
    &'a str,
);

async fn issuer() -> MockIssuer {
    MockIssuer::builder()
        .client_with_scope("app", "pw", "read write")
        .token_lifetime(Duration::from_secs(120))
        .start()
        .await
        .expect("issuer starts")
}

/// POST `body` as JSON with `content_type` to `url`: (status, JSON answer).
async fn post_json(url: &str, content_type: &str, body: Value) -> (StatusCode, Value) {
    let response = http()
        .post(url)
        .header(CONTENT_TYPE, content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("answer");
    let status = response.status();
    (status, response.json_value().await)
}

/// POST a form to `url`, with an optional `Authorization`: (status, JSON answer).
async fn post_form(url: &str, fields: &[(&str, &str)], auth: Option<&str>) -> (StatusCode, Value) {
    let mut request = http().post(url).form(fields);
    if let Some(value) = auth {
        request = request.header(AUTHORIZATION, value);
    }
    let response = request.send().await.expect("answer");
    let status = response.status();
    (status, response.json_value().await)
}

#[tokio::test]
async fn the_json_endpoint_grants_client_credentials_like_suitecrm() -> TestResult {
    let issuer = issuer().await;
    let grant =
        json!({"grant_type": "client_credentials", "client_id": "app", "client_secret": "pw"});
    for url in [issuer.suitecrm_token_url(), issuer.onecrm_token_url()] {
        let response = http()
            .post(&url)
            .header(CONTENT_TYPE, "application/vnd.api+json")
            .body(grant.to_string())
            .send()
            .await?;
        let body = granted(response).await;
        assert_eq!(body["expires_in"], 120);
        let token = body["access_token"].as_str().unwrap();
        assert!(issuer.is_valid(token));
        assert!(
            body.get("scope").is_none(),
            "SuiteCRM's answer has no scope"
        );
    }
    let with_scope = json!({"grant_type": "client_credentials", "client_id": "app", "client_secret": "pw", "scope": "read"});
    let (status, _) = post_json(&issuer.suitecrm_token_url(), "application/json", with_scope).await;
    assert_eq!(status, StatusCode::OK);
    let refusals = [
        (
            json!({"grant_type": "client_credentials", "client_id": "app", "client_secret": "no"}),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            json!({"grant_type": "client_credentials", "client_id": "app"}),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            json!({"grant_type": "password", "client_id": "app", "client_secret": "pw"}),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            json!({"client_id": "app", "client_secret": "pw"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"grant_type": "client_credentials", "client_id": "app", "client_secret": "pw", "scope": "admin"}),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            json!({"grant_type": "client_credentials", "client_id": "app", "client_secret": "pw", "scope": 1}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!(["not", "an", "object"]),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, status, code) in refusals {
        let answer = post_json(
            &issuer.suitecrm_token_url(),
            "application/json",
            body.clone(),
        )
        .await;
        assert_eq!(
            (answer.0, answer.1["error"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    // A form is not JSON.
    let (status, body) = post_form(
        &issuer.suitecrm_token_url(),
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    assert_eq!(issuer.calls(Endpoint::JsonToken), 2 + 1 + 7 + 1);
    assert_eq!(issuer.calls(Endpoint::Token), 0);
    Ok(())
}

#[tokio::test]
async fn the_form_endpoint_takes_one_client_authentication() -> TestResult {
    let issuer = issuer().await;
    let url = issuer.form_token_url();
    let basic = "Basic YXBwOnB3"; // base64("app:pw")
    let grant = [("grant_type", "client_credentials")];
    let (status, body) = post_form(&url, &grant, Some(basic)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["scope"], "read write");
    assert!(issuer.is_valid(body["access_token"].as_str().unwrap()));
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", "app"),
        ("client_secret", "pw"),
        ("scope", "write"),
    ];
    let (status, body) = post_form(&url, &post, None).await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (StatusCode::OK, Some("write"))
    );

    let refusals: [Refusal<'_>; 6] = [
        (
            &post,
            Some(basic),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (&grant, None, StatusCode::UNAUTHORIZED, "invalid_client"),
        (
            &grant,
            Some("Basic YXBwOm5v"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            &[("grant_type", "password")],
            Some(basic),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            Some(basic),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read admin"),
            ],
            Some(basic),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
    ];
    for (fields, auth, status, code) in refusals {
        let answer = post_form(&url, fields, auth).await;
        assert_eq!(
            (answer.0, answer.1["error"].as_str()),
            (status, Some(code)),
            "{fields:?}"
        );
    }
    let seen = issuer.last_token_request().unwrap();
    assert_eq!(seen.path, "/oauth2/token");
    assert_eq!(seen.basic, Some(("app".to_owned(), "pw".to_owned())));
    assert_eq!(seen.form[1], ("scope".to_owned(), "read admin".to_owned()));
    assert_eq!(issuer.calls(Endpoint::FormToken), 8);
    Ok(())
}

#[tokio::test]
async fn the_token_fault_covers_every_token_endpoint_and_can_be_bounded() -> TestResult {
    let issuer = issuer().await;
    let basic = "Basic YXBwOnB3";
    let crm_now = || async {
        http()
            .post(issuer.token_url())
            .header(AUTHORIZATION, basic)
            .send()
            .await
            .unwrap()
            .status()
    };
    let form = || post_form_status(&issuer, basic);
    issuer.set_token_fault_for_next(Fault::Status500, 2).await?;
    assert_eq!(issuer.token_fault(), Fault::Status500);
    assert_eq!(crm_now().await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(form().await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        crm_now().await,
        StatusCode::OK,
        "the fault held for two requests"
    );
    assert_eq!(issuer.token_fault(), Fault::None);

    issuer.set_token_fault(Fault::TooManyRequests).await?;
    for _ in 0..3 {
        let response = http()
            .post(issuer.token_url())
            .header(AUTHORIZATION, basic)
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "1");
    }
    // The verify endpoint is not affected by the token fault.
    let (status, _) = common::verify_form(&http(), &issuer, "x").await?;
    assert_eq!(status, StatusCode::OK);
    issuer.set_token_fault(Fault::None).await?;
    assert_eq!(form().await, StatusCode::OK);

    let refused = issuer.set_token_fault_for_next(Fault::Down, 1).await;
    assert_eq!(
        refused.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::InvalidInput)
    );
    issuer.set_token_fault(Fault::Down).await?;
    common::assert_refused(&issuer).await;
    issuer.set_token_fault_for_next(Fault::Status500, 0).await?;
    assert_eq!(
        form().await,
        StatusCode::OK,
        "clearing a Down opens the port again"
    );
    Ok(())
}

async fn post_form_status(issuer: &MockIssuer, basic: &str) -> StatusCode {
    http()
        .post(issuer.form_token_url())
        .header(AUTHORIZATION, basic)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}
