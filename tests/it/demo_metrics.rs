//! The demo's operator routes over real HTTP: `/metrics` (Prometheus text format, parsed here)
//! after known requests, and `/ready` (503 while the JWKS is down at start, 200 once it is up)
//! next to `/health` (always 200).

use crate::common;
use common::eventually;

use std::collections::BTreeMap;
use std::time::Duration;

use common::demo_process::{run_shell, start};
use common::jwt_support::{JwksServer, TestKey};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .no_proxy()
        .build()
        .unwrap()
}

async fn status(addr: &str, path: &str, token: Option<&str>) -> u16 {
    let mut request = client().get(format!("{addr}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// One sample of the text format: `name{k="v",…} value` → (`name{k="v",…}` with the labels
/// sorted, value). Comment lines are kept apart as `# TYPE name kind`.
struct Scrape {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

fn parse(text: &str) -> Scrape {
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                types.insert(name.to_owned(), kind.to_owned());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = value.parse().expect("a sample value");
        let key = match series.split_once('{') {
            None => format!("{series}{{}}"),
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("closing brace");
                let mut labels: Vec<&str> = labels.split(',').filter(|l| !l.is_empty()).collect();
                labels.sort_unstable();
                format!("{name}{{{}}}", labels.join(","))
            }
        };
        samples.insert(key, value);
    }
    Scrape { samples, types }
}

async fn scrape(addr: &str) -> Scrape {
    let response = client()
        .get(format!("{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse(&response.text().await.unwrap())
}

fn value(scrape: &Scrape, series: &str) -> f64 {
    *scrape
        .samples
        .get(series)
        .unwrap_or_else(|| panic!("no {series} in {:#?}", scrape.samples.keys()))
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format_with_exact_counts() {
    let (mut child, addr, lines) = start(&[], true).await;
    // Before any request: the guard's handles exist at 0 and /ready is 200 (remote mode).
    let before = scrape(&addr).await;
    assert_eq!(
        value(&before, r#"bearer_guard_requests_total{outcome="allowed"}"#),
        0.0
    );
    assert_eq!(status(&addr, "/ready", None).await, 200);
    // The printed lines: token, /whoami (miss, verified), /records (hit), POST /records (hit).
    let script = format!("{}\n{}\n{}\n{}", lines[0], lines[1], lines[2], lines[3]);
    let (ok, _) = run_shell(&script).await;
    assert!(ok);
    assert_eq!(status(&addr, "/whoami", None).await, 401); // missing
    assert_eq!(status(&addr, "/whoami", Some("not-a-token")).await, 401); // invalid
    assert_eq!(status(&addr, "/whoami", Some("not-a-token")).await, 401); // negative hit
    assert_eq!(status(&addr, "/health", None).await, 200);

    let m = scrape(&addr).await;
    let requests = |outcome: &str| format!(r#"bearer_guard_requests_total{{outcome="{outcome}"}}"#);
    assert_eq!(value(&m, &requests("allowed")), 3.0);
    assert_eq!(value(&m, &requests("missing_token")), 1.0);
    assert_eq!(value(&m, &requests("invalid_token")), 2.0);
    assert_eq!(value(&m, &requests("invalid_request")), 0.0);
    assert_eq!(value(&m, &requests("insufficient_scope")), 0.0);
    assert_eq!(value(&m, &requests("unavailable")), 0.0);
    let lookups = |result: &str| {
        format!(r#"bearer_guard_cache_lookups_total{{result="{result}",tier="local"}}"#)
    };
    assert_eq!(value(&m, &lookups("hit")), 3.0);
    assert_eq!(value(&m, &lookups("miss")), 2.0);
    let verifications = |verdict: &str| {
        format!(r#"bearer_guard_verifications_total{{verdict="{verdict}",verifier="remote"}}"#)
    };
    assert_eq!(value(&m, &verifications("valid")), 1.0);
    assert_eq!(value(&m, &verifications("invalid")), 1.0);
    assert_eq!(value(&m, &verifications("unavailable")), 0.0);
    assert_eq!(
        value(
            &m,
            r#"bearer_guard_verification_duration_seconds_count{verifier="remote"}"#
        ),
        2.0
    );
    assert_eq!(value(&m, "bearer_guard_inflight_verifications{}"), 0.0);
    for (name, kind) in [
        ("bearer_guard_requests_total", "counter"),
        ("bearer_guard_cache_lookups_total", "counter"),
        ("bearer_guard_verifications_total", "counter"),
        ("bearer_guard_verification_duration_seconds", "histogram"),
        ("bearer_guard_inflight_verifications", "gauge"),
    ] {
        assert_eq!(m.types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    // No label holds the token.
    assert!(!m.samples.keys().any(|k| k.contains("not-a-token")));
    let _ = child.kill().await;
}

#[tokio::test]
async fn ready_is_503_while_the_jwks_is_down_at_start_and_200_once_it_is_up() {
    let server = JwksServer::start(vec![TestKey::rsa("k1").jwk()]).await;
    server.stop().await;
    let (mut child, addr, _) = start(
        &[
            ("GUARD_MODE", "jwt"),
            ("GUARD_JWKS_URL", &server.jwks_url()),
        ],
        false,
    )
    .await;
    assert_eq!(status(&addr, "/ready", None).await, 503);
    assert_eq!(status(&addr, "/health", None).await, 200);
    server.restart().await;
    // A failed first fetch is retried after min(refresh interval, cool-down): 30 s by default.
    let up = eventually(Duration::from_secs(50), || async {
        status(&addr, "/ready", None).await == 200
    })
    .await;
    assert!(up, "/ready stayed 503 after the JWKS came up");
    assert_eq!(status(&addr, "/health", None).await, 200);
    let m = scrape(&addr).await;
    assert_eq!(
        value(&m, r#"bearer_guard_jwks_fetches_total{result="ok"}"#),
        1.0
    );
    assert!(value(&m, r#"bearer_guard_jwks_fetches_total{result="error"}"#) >= 1.0);
    let _ = child.kill().await;
}
