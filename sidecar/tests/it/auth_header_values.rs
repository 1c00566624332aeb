//! What the `X-Auth-*` headers of a 200 carry when the verifier's subject or scopes are odd:
//! tokens minted with such claims by a real crm-now issuer on 127.0.0.1, checked in-process.

use crate::common;

use bearer_guard_mock::MintOptions;
use common::{header, issuer, request, send_from, sidecar};
use http::StatusCode;

const LOOPBACK: &str = "127.0.0.1:40000";

#[tokio::test]
async fn a_subject_with_leading_or_trailing_whitespace_is_left_out() {
    let issuer = issuer().await;
    let sidecar = sidecar(&[("GUARD_VERIFY_URL", issuer.verify_url())]);
    // An HTTP parser strips a header value's outer whitespace: " admin " would reach the
    // backend as "admin", another subject.
    for subject in [
        " admin ", "admin ", " admin", "\tadmin", "admin\t", "Users:7 ",
    ] {
        let token = issuer
            .mint(MintOptions::default().subject(subject).scope("read write"))
            .unwrap_or_else(|e| panic!("mint: {e}"));
        let bearer = format!("Bearer {token}");
        let response = send_from(
            &sidecar,
            LOOPBACK,
            request(
                "GET",
                "/auth",
                &[("x-original-uri", "/records"), ("authorization", &bearer)],
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{subject:?}");
        assert_eq!(header(&response, "x-auth-subject"), None, "{subject:?}");
        assert_eq!(header(&response, "x-auth-scopes"), Some("read write"));
        assert_eq!(header(&response, "x-auth-source"), Some("remote"));
    }
    // Inner spaces are part of the subject.
    let token = issuer
        .mint(
            MintOptions::default()
                .subject("Max Mustermann")
                .scope(" read  write "),
        )
        .unwrap_or_else(|e| panic!("mint: {e}"));
    let bearer = format!("Bearer {token}");
    let response = send_from(
        &sidecar,
        LOOPBACK,
        request(
            "GET",
            "/auth",
            &[("x-original-uri", "/records"), ("authorization", &bearer)],
        ),
    )
    .await;
    assert_eq!(header(&response, "x-auth-subject"), Some("Max Mustermann"));
    assert_eq!(header(&response, "x-auth-scopes"), Some("read write"));
}
