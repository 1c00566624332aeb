//! `AddBearerLayer` on a tower HTTP client built from reqwest, against real servers on
//! 127.0.0.1: a guarded axum API (the crm-now verifier of the mock issuer) answers 200 through
//! it; only the configured origin gets the token; no token means no request; a 401 makes the
//! next request carry a new token.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bearer_guard::client::{AddBearerLayer, TokenEndpoint, TokenSource, TokenSourceError};
use bearer_guard::{BearerGuardLayer, RemoteVerifier};
use bearer_guard_mock::{Endpoint, MockIssuer};
use common::client_support::{PARTNER_ID, build, crm_now, issuer_with_lifetime, reqwest_service};
use common::{app, lock, serve};
use http::header::AUTHORIZATION;
use http::{HeaderMap, Request, StatusCode};
use tower::{Service, ServiceBuilder, ServiceExt};

type TestResult = Result<(), bearer_guard::verify::BoxError>;

/// A GET to `url`, optionally with an `Authorization` header of its own.
fn request_to(url: &str, authorization: Option<&str>) -> Request<String> {
    let mut request = Request::get(url);
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    request
        .body(String::new())
        .unwrap_or_else(|e| panic!("request: {e}"))
}

/// The API the partner calls: `/me` etc. guarded by the issuer's crm-now verifier.
async fn guarded_api(issuer: &MockIssuer) -> String {
    let verifier = RemoteVerifier::builder()
        .url(issuer.verify_url())
        .build()
        .unwrap_or_else(|e| panic!("verifier: {e}"));
    let addr = serve(app(BearerGuardLayer::new(verifier))).await;
    format!("http://{addr}")
}

/// A server that counts its requests and answers whether they carried `Authorization`.
async fn echo_server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let router = Router::new().route(
        "/echo",
        get(move |headers: HeaderMap| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                match headers.get(AUTHORIZATION) {
                    Some(value) if value.as_bytes().starts_with(b"Bearer ey") => "bearer",
                    Some(_) => "other",
                    None => "none",
                }
            }
        }),
    );
    let addr = serve(router).await;
    (format!("http://{addr}"), hits)
}

#[tokio::test]
async fn a_guarded_api_answers_200_through_the_layer() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    let api = guarded_api(&issuer).await;
    let source = build(crm_now(&issuer));
    let mut client = ServiceBuilder::new()
        .layer(AddBearerLayer::new(source, &api)?)
        .service(reqwest_service());
    for _ in 0..3 {
        let response = client
            .ready()
            .await?
            .call(request_to(&format!("{api}/me"), None))
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.body().starts_with(PARTNER_ID),
            "{}",
            response.body()
        );
    }
    // A header already on the request is replaced by the source's.
    let response = client
        .ready()
        .await?
        .call(request_to(&format!("{api}/me"), Some("Bearer stale-token")))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        issuer.calls(Endpoint::Token),
        1,
        "one token for every request"
    );
    // Without the layer the same request is refused: the layer made the difference.
    let bare = reqwest_service()
        .oneshot(request_to(&format!("{api}/me"), None))
        .await?;
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn only_the_configured_origin_gets_the_token() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    let api = guarded_api(&issuer).await;
    let (other, _) = echo_server().await;
    let source = build(crm_now(&issuer));

    let for_api = ServiceBuilder::new()
        .layer(AddBearerLayer::new(source.clone(), &api)?)
        .service(reqwest_service());
    let answer = for_api
        .clone()
        .oneshot(request_to(&format!("{other}/echo"), None))
        .await?;
    assert_eq!(
        answer.body(),
        "none",
        "another port of the same host is another origin"
    );
    let kept = for_api
        .oneshot(request_to(&format!("{other}/echo"), Some("Basic abc")))
        .await?;
    assert_eq!(kept.body(), "other", "its own header is left alone");
    assert_eq!(
        issuer.calls(Endpoint::Token),
        0,
        "no token was even fetched"
    );

    let everywhere = ServiceBuilder::new()
        .layer(AddBearerLayer::any_origin(source))
        .service(reqwest_service());
    let answer = everywhere
        .oneshot(request_to(&format!("{other}/echo"), None))
        .await?;
    assert_eq!(answer.body(), "bearer");
    Ok(())
}

#[tokio::test]
async fn without_a_token_the_request_is_not_sent() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    let (echo, hits) = echo_server().await;
    let source = build(TokenSource::builder(
        TokenEndpoint::crm_now(issuer.token_url()),
        PARTNER_ID,
        "wrong-secret",
    ));
    let client = ServiceBuilder::new()
        .layer(AddBearerLayer::new(source, &echo)?)
        .service(reqwest_service());
    let error = client
        .oneshot(request_to(&format!("{echo}/echo"), None))
        .await
        .expect_err("no token, no request");
    let error = error
        .downcast_ref::<TokenSourceError>()
        .ok_or("the error is the token source's")?;
    assert!(
        matches!(
            error,
            TokenSourceError::Rejected {
                status: StatusCode::UNAUTHORIZED,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the request never left");
    Ok(())
}

#[tokio::test]
async fn a_401_makes_the_next_request_carry_a_new_token() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    // An API that refuses one token on demand and remembers the tokens it was sent.
    #[derive(Default)]
    struct Seen {
        refused: Option<String>,
        tokens: Vec<String>,
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = Arc::clone(&seen);
    let router = Router::new().route(
        "/data",
        get(move |headers: HeaderMap| {
            let state = Arc::clone(&state);
            async move {
                let token = headers
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let mut seen = lock(&state);
                seen.tokens.push(token.clone());
                if seen.refused.as_deref() == Some(token.as_str()) {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let api = format!("http://{}", serve(router).await);
    let source = build(crm_now(&issuer));
    let client = ServiceBuilder::new()
        .layer(AddBearerLayer::new(source, &api)?)
        .service(reqwest_service());
    let call = || {
        client
            .clone()
            .oneshot(request_to(&format!("{api}/data"), None))
    };

    assert_eq!(call().await?.status(), StatusCode::OK);
    // Tokens younger than a second are not dropped; this one is old enough.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let first = lock(&seen).tokens[0].clone();
    lock(&seen).refused = Some(first.clone());
    assert_eq!(call().await?.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(call().await?.status(), StatusCode::OK);
    let tokens = lock(&seen).tokens.clone();
    assert_eq!(tokens.len(), 3);
    assert_eq!(
        tokens[1], first,
        "the refused request carried the old token"
    );
    assert_ne!(tokens[2], first, "the next one a new token");
    assert_eq!(issuer.calls(Endpoint::Token), 2);
    Ok(())
}

#[test]
fn the_response_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let source = build(TokenSource::builder(
        TokenEndpoint::crm_now("http://127.0.0.1:9/t"),
        "i",
        "s",
    ));
    let mut client = ServiceBuilder::new()
        .layer(AddBearerLayer::any_origin(source))
        .service(reqwest_service());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let _guard = runtime.enter();
    let future = client.call(request_to("http://127.0.0.1:9/x", None));
    assert_send(&future);
}
