//! A real nginx (`auth_request`) in front of a backend that records every request, asking the
//! sidecar binary: clients that send their own `X-Forwarded-*` / `X-Original-*` headers, or a
//! raw `#` in the request line, never get a refused request run at the backend — with the
//! README's nginx block as printed, and with the block most nginx guides write (only
//! `X-Original-URI` / `X-Original-Method` set, no clearing lines). Fails, saying how to
//! install it, when nginx is missing.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use common::backend::{self, Seen};
use common::nginx::{Nginx, SERVER_BLOCK, guide_server_block};
use common::process::SidecarProcess;
use common::{client, issuer, token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `DELETE /records/7` through `nginx` with `headers` and, when given, the token; the status.
async fn delete_record(nginx: &Nginx, headers: &[(&str, &str)], token: Option<&str>) -> u16 {
    let mut request = client().delete(nginx.url("/records/7"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .status()
        .as_u16()
}

/// Clients that try to have `DELETE /records/7` judged as something else, each with the
/// token it sends (`read`: a read-only token).
const SPOOFS: [(&[(&str, &str)], bool); 8] = [
    (&[("x-forwarded-uri", "/health")], false),
    (&[("x-forwarded-method", "GET")], true),
    (
        &[
            ("x-forwarded-uri", "/health"),
            ("x-forwarded-method", "GET"),
        ],
        false,
    ),
    (
        &[
            ("x-forwarded-uri", "/records/7"),
            ("x-forwarded-method", "GET"),
        ],
        true,
    ),
    (&[("x-original-uri", "/health")], false),
    (&[("x-original-method", "GET")], true),
    (
        &[
            ("x-forwarded-uri", "/health"),
            ("x-forwarded-method", "GET"),
            ("x-original-uri", "/health"),
            ("x-original-method", "GET"),
        ],
        false,
    ),
    (
        &[
            ("x-forwarded-uri", "/records/7"),
            ("x-forwarded-method", "GET"),
            ("x-original-uri", "/records/7"),
            ("x-original-method", "GET"),
        ],
        true,
    ),
];

/// Sends every spoof of [`SPOOFS`] through `nginx`; returns the statuses, in order. Asserts
/// that none was answered 2xx and that the backend ran no DELETE.
async fn send_spoofs(nginx: &Nginx, read: &str, seen: &Seen, case: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    for (headers, with_read) in SPOOFS {
        let status = delete_record(nginx, headers, with_read.then_some(read)).await;
        assert!(
            !(200..300).contains(&status),
            "{case}: {headers:?} got {status}: {}",
            nginx.error_log()
        );
        statuses.push(status);
    }
    assert_eq!(
        backend::count_method(seen, "DELETE"),
        0,
        "{case}: the backend ran a DELETE"
    );
    statuses
}

/// A legitimate `DELETE /records/7` (a write token) reaches the backend: the backend's record
/// of DELETEs can see one.
async fn a_write_token_deletes(nginx: &Nginx, write: &str, seen: &Seen) {
    let before = backend::count_method(seen, "DELETE");
    assert_eq!(delete_record(nginx, &[], Some(write)).await, 200);
    assert_eq!(backend::count_method(seen, "DELETE"), before + 1);
}

#[tokio::test]
async fn behind_nginx_without_clearing_lines_a_spoofed_forwarded_header_never_runs_the_delete() {
    let issuer = issuer().await;
    let read = token(&issuer, "read");
    let write = token(&issuer, "write");
    let guide = guide_server_block();
    for mode in ["auto", "original"] {
        let sidecar = SidecarProcess::with_rules_and(
            issuer.verify_url(),
            &[("GUARD_FORWARDED_HEADERS", mode)],
        )
        .await;
        let (backend_addr, seen) = backend::start().await;
        let nginx = Nginx::start_with(&guide, &sidecar.addr, backend_addr).await;
        let statuses = send_spoofs(&nginx, &read, &seen, mode).await;
        let want: [u16; 8] = match mode {
            // A client's X-Forwarded-* disagree with nginx's X-Original-*: the sidecar's 400,
            // which nginx answers 500 and the config's error_page turns into 503.
            "auto" => [503, 503, 503, 503, 401, 403, 503, 503],
            // X-Forwarded-* ignored: judged as DELETE /records/7.
            _ => [401, 403, 401, 403, 401, 403, 401, 403],
        };
        assert_eq!(statuses, want, "{mode}");
        a_write_token_deletes(&nginx, &write, &seen).await;
    }
}

#[tokio::test]
async fn the_readme_nginx_block_keeps_every_spoofing_client_from_the_backend() {
    let issuer = issuer().await;
    let read = token(&issuer, "read");
    let write = token(&issuer, "write");
    // `original` is what the README runs the sidecar with; `auto` is the default.
    for mode in ["original", "auto"] {
        let sidecar = SidecarProcess::with_rules_and(
            issuer.verify_url(),
            &[("GUARD_FORWARDED_HEADERS", mode)],
        )
        .await;
        let (backend_addr, seen) = backend::start().await;
        let nginx = Nginx::start_with(SERVER_BLOCK, &sidecar.addr, backend_addr).await;
        let statuses = send_spoofs(&nginx, &read, &seen, mode).await;
        assert_eq!(statuses, [401, 403, 401, 403, 401, 403, 401, 403], "{mode}");
        a_write_token_deletes(&nginx, &write, &seen).await;
    }
}

/// Writes `request` to `addr` as it is (a raw `#` included: an HTTP client would cut it) and
/// reads the answer to the end; returns the status code and the whole answer.
async fn raw_exchange(addr: SocketAddr, request: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .unwrap_or_else(|_| panic!("no answer within 30 s to {request:?}"))
        .unwrap_or_else(|e| panic!("{request:?}: {e}"));
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    (status, answer)
}

#[tokio::test]
async fn behind_nginx_a_raw_hash_in_the_request_line_never_reaches_the_backend() {
    let issuer = issuer().await;
    let read = token(&issuer, "read");
    let sidecar = SidecarProcess::with_rules_and(
        issuer.verify_url(),
        &[("GUARD_FORWARDED_HEADERS", "original")],
    )
    .await;
    let (backend_addr, seen) = backend::start().await;
    let nginx = Nginx::start(&sidecar.addr, backend_addr).await;
    // `/health#/../records` met the public `/health` rule, and nginx passed the request line
    // on as it was.
    for (method, target, token) in [
        ("DELETE", "/health#/../records/7", None),
        ("GET", "/health#/../records", None),
        ("DELETE", "/records/7#x", Some(read.as_str())),
        ("GET", "/health?x=1#/../records", None),
    ] {
        let authorization = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}Connection: close\r\n\r\n"
        );
        let before = backend::count(&seen);
        let (status, answer) = raw_exchange(nginx.addr, &request).await;
        // The sidecar's 400, which nginx answers 500 and the error_page turns into 503.
        assert_eq!(
            status,
            503,
            "{method} {target}: {answer}\n{}",
            nginx.error_log()
        );
        assert_eq!(
            backend::count(&seen),
            before,
            "{method} {target} reached the backend: {:?}",
            backend::last(&seen)
        );
    }
    // The same line without the `#` part is served (the exchange itself works).
    let (status, _) = raw_exchange(
        nginx.addr,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(backend::count(&seen), 1);
}
