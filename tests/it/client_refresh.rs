//! The token client's refresh and single-flight, over real HTTP against the mock issuer's
//! crm-now token endpoint: a token is refreshed before it expires (seen at the mock's
//! counter), no caller ever gets an expired token, 1,000 concurrent callers cause one fetch,
//! callers keep the current token while a refresh runs, and a cancelled caller does not
//! cancel the fetch.

use crate::common;
use common::eventually;

use std::collections::HashSet;
use std::time::Duration;

use bearer_guard::client::{TokenEndpoint, TokenSource};
use bearer_guard_mock::{Endpoint, Fault};
use common::client_support::{build, claims, crm_now, issuer_with_lifetime, token_of, unix_now};
use common::raw_http::{counting_raw_server, http_answer};
use http::HeaderValue;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `n` concurrent `bearer_header()` calls, each in its own task; their answers.
async fn concurrent_headers(source: &TokenSource, n: usize) -> Vec<HeaderValue> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let source = source.clone();
        tasks.spawn(async move { source.bearer_header().await });
    }
    let mut headers = Vec::with_capacity(n);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(header)) => headers.push(header),
            Ok(Err(error)) => panic!("a caller got an error: {error}"),
            Err(error) => panic!("a caller task failed: {error}"),
        }
    }
    headers
}

/// The one value all `headers` share.
fn the_one(headers: &[HeaderValue]) -> HeaderValue {
    let distinct: HashSet<&[u8]> = headers.iter().map(HeaderValue::as_bytes).collect();
    assert_eq!(distinct.len(), 1, "callers got different tokens");
    headers[0].clone()
}

#[tokio::test]
async fn the_token_is_refreshed_before_it_expires_and_no_caller_gets_an_expired_one() -> TestResult
{
    // 4 s tokens, refresh_before 2 s: refreshed 2 s after each fetch, never handed out past 3 s.
    let issuer = issuer_with_lifetime(Duration::from_secs(4)).await;
    let source = build(crm_now(&issuer).refresh_before(Duration::from_secs(2)));
    let mut first: Option<(String, f64)> = None;
    let mut second_fetch_seen_at = None;
    let mut distinct = HashSet::new();
    // 7 s of callers, one every 50 ms.
    for _ in 0..140 {
        let token = token_of(&source.bearer_header().await?);
        let now = unix_now();
        let exp = claims(&token)["exp"]
            .as_f64()
            .ok_or("the token has no exp")?;
        assert!(
            now < exp,
            "a caller got a token {:.3} s past its exp",
            now - exp
        );
        first.get_or_insert((token.clone(), exp));
        if second_fetch_seen_at.is_none() && issuer.calls(Endpoint::Token) >= 2 {
            second_fetch_seen_at = Some(now);
        }
        distinct.insert(token);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, first_exp) = first.ok_or("no token")?;
    let refreshed = second_fetch_seen_at.ok_or("the token was never refreshed")?;
    assert!(
        refreshed < first_exp,
        "the second fetch came {:.3} s after the first token expired",
        refreshed - first_exp
    );
    // The last call may have started a refresh that is still running (its fetch counted, its
    // token not yet handed out): the next callers get that token once it lands, and a fresh
    // token starts no refresh for 2 s. So call on (at most 2 s) until every fetch counted so
    // far has reached a caller.
    let mut fetches = issuer.calls(Endpoint::Token);
    for _ in 0..40 {
        if distinct.len() as u64 == fetches {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let token = token_of(&source.bearer_header().await?);
        let exp = claims(&token)["exp"]
            .as_f64()
            .ok_or("the token has no exp")?;
        assert!(unix_now() < exp, "a caller got an expired token");
        distinct.insert(token);
        fetches = issuer.calls(Endpoint::Token);
    }
    // About one fetch per 2 s (at 0, 2, 4, 6 s): refreshed, but no fetch per call.
    assert!((3..=5).contains(&fetches), "{fetches} fetches in 7 s");
    assert_eq!(
        distinct.len() as u64,
        fetches,
        "every fetched token was used"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_on_an_empty_source_cause_one_fetch() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    // A slow answer, so the callers really pile up behind the one fetch.
    issuer
        .set_token_fault(Fault::Slow(Duration::from_millis(300)))
        .await?;
    let source = build(crm_now(&issuer));
    let headers = concurrent_headers(&source, 1_000).await;
    assert_eq!(headers.len(), 1_000);
    let header = the_one(&headers);
    assert!(header.is_sensitive());
    assert_eq!(issuer.calls(Endpoint::Token), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_on_an_expired_token_cause_one_fetch() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(1)).await;
    let source = build(crm_now(&issuer));
    let old = source.bearer_header().await?;
    assert_eq!(issuer.calls(Endpoint::Token), 1);
    // A 1 s token is not handed out past 0.75 s; after 1.1 s it is past its `exp`.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let old_exp = claims(&token_of(&old))["exp"].as_f64().ok_or("no exp")?;
    assert!(old_exp <= unix_now(), "the old token has expired");
    issuer
        .set_token_fault(Fault::Slow(Duration::from_millis(300)))
        .await?;
    let headers = concurrent_headers(&source, 1_000).await;
    let new = the_one(&headers);
    assert_ne!(new, old, "nobody got the expired token");
    assert!(issuer.is_valid(&token_of(&new)));
    assert_eq!(
        issuer.calls(Endpoint::Token),
        2,
        "one fetch for 1,000 callers"
    );
    Ok(())
}

#[tokio::test]
async fn callers_keep_the_current_token_while_a_refresh_runs() -> TestResult {
    // 8 s tokens, refresh_before 4 s: refresh due after 4 s, stale after 6 s.
    let issuer = issuer_with_lifetime(Duration::from_secs(8)).await;
    let source = build(crm_now(&issuer).refresh_before(Duration::from_secs(4)));
    let first = source.bearer_header().await?;
    tokio::time::sleep(Duration::from_millis(4_100)).await;
    // The refresh's answer takes a second to come.
    issuer
        .set_token_fault(Fault::Slow(Duration::from_secs(1)))
        .await?;
    assert_eq!(
        source.bearer_header().await?,
        first,
        "the caller that starts the refresh does not wait for it"
    );
    assert!(
        eventually(Duration::from_secs(2), async || issuer
            .calls(Endpoint::Token)
            == 2)
        .await,
        "the refresh reached the issuer"
    );
    assert_eq!(
        source.bearer_header().await?,
        first,
        "callers keep the current token while the refresh runs"
    );
    let mut refreshed = None;
    for _ in 0..150 {
        let header = source.bearer_header().await?;
        if header != first {
            refreshed = Some(header);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refreshed = refreshed.ok_or("the refreshed token never arrived")?;
    assert!(issuer.is_valid(&token_of(&refreshed)));
    assert_eq!(issuer.calls(Endpoint::Token), 2, "one refresh");
    Ok(())
}

#[tokio::test]
async fn a_cancelled_caller_does_not_cancel_the_fetch() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    issuer
        .set_token_fault(Fault::Slow(Duration::from_millis(500)))
        .await?;
    let source = build(crm_now(&issuer));
    let impatient = {
        let source = source.clone();
        tokio::spawn(async move { source.bearer_header().await })
    };
    assert!(
        eventually(Duration::from_secs(2), async || issuer
            .calls(Endpoint::Token)
            == 1)
        .await
    );
    impatient.abort();
    // The fetch it started finishes on its own and serves the next caller.
    let header = source.bearer_header().await?;
    assert!(issuer.is_valid(&token_of(&header)));
    assert_eq!(issuer.calls(Endpoint::Token), 1);
    Ok(())
}

#[tokio::test]
async fn invalidate_drops_only_the_current_token_and_only_once_it_is_a_second_old() -> TestResult {
    let issuer = issuer_with_lifetime(Duration::from_secs(300)).await;
    let source = build(crm_now(&issuer));
    let first = source.bearer_header().await?;
    assert!(
        !source.invalidate(&first),
        "a token younger than 1 s is kept"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(!source.invalidate(&HeaderValue::from_static("Bearer someone-elses")));
    assert_eq!(source.bearer_header().await?, first);
    assert!(source.invalidate(&first));
    let second = source.bearer_header().await?;
    assert_ne!(second, first);
    assert_eq!(issuer.calls(Endpoint::Token), 2);
    assert!(
        !source.invalidate(&first),
        "a token already replaced is not dropped again"
    );
    assert_eq!(source.bearer_header().await?, second);
    Ok(())
}

#[tokio::test]
async fn an_answer_without_expires_in_lives_the_default_lifetime() -> TestResult {
    let body = br#"{"access_token":"opaque-abc","token_type":"Bearer"}"#;
    let headers = format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    let (url, hits) = counting_raw_server(http_answer(&headers, body), 3).await;
    let source = build(
        TokenSource::builder(TokenEndpoint::crm_now(url), "id", "secret")
            .default_lifetime(Duration::from_secs(1)),
    );
    let token = source.access_token().await?;
    assert_eq!(token.lifetime(), Duration::from_secs(1));
    assert_eq!(token.secret(), "opaque-abc");
    assert_eq!(token.scope(), None);
    // Stale after 0.75 s: the next caller fetches again.
    tokio::time::sleep(Duration::from_millis(900)).await;
    source.access_token().await?;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
    Ok(())
}

#[test]
fn the_public_types_are_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<TokenSource>();
    assert_send_sync::<bearer_guard::client::AccessToken>();
    assert_send_sync::<bearer_guard::client::TokenSourceError>();
    assert_send_sync::<bearer_guard::client::AddBearerLayer>();
    fn assert_send<T: Send>(_: &T) {}
    let source = build(TokenSource::builder(
        TokenEndpoint::crm_now("http://127.0.0.1:9/t"),
        "i",
        "s",
    ));
    assert_send(&source.bearer_header());
}
