//! Nothing the token client logs — at TRACE, every crate, the HTTP client included — carries
//! the client secret (plain, urlencoded, JSON-escaped, inside Basic credentials) or a token,
//! through fetches of every request shape, refreshes, retries, refusals, garbage, an issuer
//! that is down, and requests through the tower layer.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bearer_guard::client::{AddBearerLayer, TokenEndpoint, TokenSource};
use bearer_guard::credentials::basic_credentials;
use bearer_guard::{BearerGuardLayer, RemoteVerifier};
use bearer_guard_mock::Fault;
use common::client_support::{
    PARTNER_ID, PARTNER_SECRET, build, crm_now, issuer_with_lifetime, reqwest_service, token_of,
};
use common::log_capture::{Flavor, run_logged};
use common::{app, serve};
use http::Request;
use tower::{ServiceBuilder, ServiceExt};

#[test]
fn neither_the_secret_nor_a_token_reaches_the_logs() {
    run_logged(Flavor::CurrentThread, |log| async move {
        let mut tokens = Vec::new();
        let issuer = issuer_with_lifetime(Duration::from_secs(2)).await;

        // Every request shape, each fetched once and refreshed once (2 s tokens).
        let endpoints = [
            TokenEndpoint::crm_now(issuer.token_url()),
            TokenEndpoint::suitecrm(issuer.suitecrm_token_url()),
            TokenEndpoint::onecrm(issuer.onecrm_api_url()).scope("read"),
            TokenEndpoint::client_credentials_form(issuer.form_token_url()),
            TokenEndpoint::client_credentials_form(issuer.form_token_url()).client_secret_post(),
        ];
        let sources: Vec<TokenSource> = endpoints
            .into_iter()
            .map(|endpoint| build(TokenSource::builder(endpoint, PARTNER_ID, PARTNER_SECRET)))
            .collect();
        tokens.extend(tokens_of(&sources).await);
        tokio::time::sleep(Duration::from_millis(1_700)).await;
        tokens.extend(tokens_of(&sources).await);

        // Retries, a refusal, garbage, an issuer that is down.
        issuer
            .set_token_fault_for_next(Fault::Status500, 2)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let retried = build(crm_now(&issuer))
            .bearer_header()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokens.push(token_of(&retried));
        let wrong = build(TokenSource::builder(
            TokenEndpoint::suitecrm(issuer.suitecrm_token_url()),
            PARTNER_ID,
            "wrong-Secret-5d1e",
        ));
        assert!(wrong.bearer_header().await.is_err());
        for fault in [Fault::HtmlBody, Fault::Truncated, Fault::Down] {
            issuer
                .set_token_fault(fault)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let error = build(crm_now(&issuer).max_retries(1))
                .bearer_header()
                .await
                .expect_err("faulted");
            tracing::warn!(%error, ?error, "the application logs the error");
        }
        issuer
            .set_token_fault(Fault::None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        // Through the tower layer to a guarded API.
        let verifier = RemoteVerifier::builder()
            .url(issuer.verify_url())
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let api = format!(
            "http://{}",
            serve(app(BearerGuardLayer::new(verifier))).await
        );
        let source = build(crm_now(&issuer));
        let client = ServiceBuilder::new()
            .layer(AddBearerLayer::new(source.clone(), &api).unwrap_or_else(|e| panic!("{e}")))
            .service(reqwest_service());
        let request = Request::get(format!("{api}/me"))
            .body(String::new())
            .unwrap_or_else(|e| panic!("{e}"));
        let response = client
            .oneshot(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status(), 200);
        let token = source
            .access_token()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tracing::debug!(?token, ?source, "the application logs its token source");
        tokens.push(token.secret().to_owned());

        let text = log.text_containing(&[
            "fetching an access token",
            "retrying",
            "access token fetch failed",
        ]);
        let urlencoded: String =
            form_urlencoded::byte_serialize(PARTNER_SECRET.as_bytes()).collect();
        let json_escaped = serde_json::to_string(PARTNER_SECRET).unwrap_or_default();
        let basic = basic_credentials(PARTNER_ID, PARTNER_SECRET);
        let mut secrets = vec![
            PARTNER_SECRET.to_owned(),
            urlencoded,
            json_escaped.trim_matches('"').to_owned(),
            basic.trim_start_matches("Basic ").to_owned(),
            STANDARD.encode(PARTNER_SECRET),
            "wrong-Secret-5d1e".to_owned(),
        ];
        for token in &tokens {
            secrets.push(token.clone());
            // Each JWT segment: a logged payload leaks the claims, a signature the token.
            secrets.extend(
                token
                    .split('.')
                    .filter(|s| s.len() >= 16)
                    .map(str::to_owned),
            );
        }
        assert!(tokens.len() >= 12, "{} tokens", tokens.len());
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret or token is in the logs"
            );
        }
    });
}

/// The token each of `sources` gives now (fetched or cached), in order.
async fn tokens_of(sources: &[TokenSource]) -> Vec<String> {
    let mut tokens = Vec::with_capacity(sources.len());
    for source in sources {
        let header = source
            .bearer_header()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        tokens.push(token_of(&header));
    }
    tokens
}
