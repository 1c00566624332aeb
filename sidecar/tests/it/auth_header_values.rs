//! What the `X-Auth-*` headers of a 200 carry when the verifier's subject or scopes are odd:
//! tokens minted with such claims by a real crm-now issuer on 127.0.0.1, checked in-process.

use crate::common;

use axum::body::Body;
use bearer_guard_mock::{MintOptions, MockIssuer};
use bearer_guard_sidecar::Sidecar;
use common::{header, issuer, request, send_from, sidecar};
use http::{Response, StatusCode};

const LOOPBACK: &str = "127.0.0.1:40000";

/// `GET /auth` (for `/records`, from loopback) with a token `issuer` mints for `subject` and
/// `scope`.
async fn auth_minted(
    sidecar: &Sidecar,
    issuer: &MockIssuer,
    subject: &str,
    scope: &str,
) -> Response<Body> {
    let token = issuer
        .mint(MintOptions::default().subject(subject).scope(scope))
        .unwrap_or_else(|e| panic!("mint: {e}"));
    let bearer = format!("Bearer {token}");
    send_from(
        sidecar,
        LOOPBACK,
        request(
            "GET",
            "/auth",
            &[("x-original-uri", "/records"), ("authorization", &bearer)],
        ),
    )
    .await
}

#[tokio::test]
async fn a_subject_with_leading_or_trailing_whitespace_is_left_out() {
    let issuer = issuer().await;
    let sidecar = sidecar(&[("GUARD_VERIFY_URL", issuer.verify_url())]);
    // An HTTP parser strips a header value's outer whitespace: " admin " would reach the
    // backend as "admin", another subject.
    for subject in [
        " admin ", "admin ", " admin", "\tadmin", "admin\t", "Users:7 ",
    ] {
        let response = auth_minted(&sidecar, &issuer, subject, "read write").await;
        assert_eq!(response.status(), StatusCode::OK, "{subject:?}");
        assert_eq!(header(&response, "x-auth-subject"), None, "{subject:?}");
        assert_eq!(header(&response, "x-auth-scopes"), Some("read write"));
        assert_eq!(header(&response, "x-auth-source"), Some("remote"));
    }
    // Inner spaces are part of the subject.
    let response = auth_minted(&sidecar, &issuer, "Max Mustermann", " read  write ").await;
    assert_eq!(header(&response, "x-auth-subject"), Some("Max Mustermann"));
    assert_eq!(header(&response, "x-auth-scopes"), Some("read write"));
}
