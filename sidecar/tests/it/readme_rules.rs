//! The README's rules example, read from README.md at test time and run in-process: a request
//! no rule lists (another spelling of a path, another method) is refused, not open to any
//! valid token, while the routes it lists still work.

use crate::common;

use bearer_guard_mock::Endpoint;
use common::{auth_headers, body_text, header, issuer, request, rules_file, send_from, token};
use http::StatusCode;

const LOOPBACK: &str = "127.0.0.1:40000";

/// The first ```` ```toml ```` block under the README's `### Rules` heading.
fn readme_rules_example() -> String {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split_once("\n### Rules\n")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("README.md has no `### Rules` section"));
    let block = section
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .map(|(block, _)| block)
        .unwrap_or_else(|| panic!("README.md's `### Rules` has no ```toml block"));
    block.to_owned()
}

/// `/auth` as nginx sends it, with `token` when given.
fn nginx_style(method: &str, uri: &str, token: Option<&str>) -> http::Request<axum::body::Body> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("x-original-method", method), ("x-original-uri", uri)];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    request("GET", "/auth", &headers)
}

#[tokio::test]
async fn the_readme_rules_example_refuses_what_it_does_not_list_to_a_read_token() {
    let example = readme_rules_example();
    assert!(
        example.starts_with("default = \"deny\""),
        "the README's example starts with:\n{example}"
    );
    let issuer = issuer().await;
    let rules = rules_file(&example);
    let sidecar = common::sidecar(&[
        ("GUARD_VERIFY_URL", issuer.verify_url()),
        ("GUARD_RULES", &rules.path().display().to_string()),
    ]);
    let read = token(&issuer, "read");
    // What `default = "authenticated"` let through with a read-only token, while
    // `DELETE /records/7` was 403: another case of the path, methods no rule names.
    for (method, path) in [
        ("GET", "/RECORDS/7"),
        ("DELETE", "/RECORDS/7"),
        ("OPTIONS", "/records/7"),
        ("PROPFIND", "/records/7"),
        ("GET", "/other"),
    ] {
        let response = send_from(&sidecar, LOOPBACK, nginx_style(method, path, Some(&read))).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert!(
            response.headers().get("www-authenticate").is_none(),
            "{method} {path}"
        );
        assert!(auth_headers(&response).is_empty());
        assert!(
            body_text(response)
                .await
                .contains(r#""error":"access_denied""#),
            "{method} {path}"
        );
    }
    assert_eq!(issuer.calls(Endpoint::Verify), 0);
    // What the example lists still works.
    let write = token(&issuer, "write");
    let admin = token(&issuer, "read admin");
    for (method, path, token, status) in [
        ("GET", "/health", None, StatusCode::OK),
        ("GET", "/records/7", Some(&read), StatusCode::OK),
        ("HEAD", "/records", Some(&read), StatusCode::OK),
        ("DELETE", "/records/7", Some(&read), StatusCode::FORBIDDEN),
        ("DELETE", "/records/7", Some(&write), StatusCode::OK),
        ("GET", "/records/7", None, StatusCode::UNAUTHORIZED),
        ("GET", "/admin", Some(&admin), StatusCode::OK),
        ("GET", "/admin", Some(&read), StatusCode::FORBIDDEN),
    ] {
        let response = send_from(
            &sidecar,
            LOOPBACK,
            nginx_style(method, path, token.map(String::as_str)),
        )
        .await;
        assert_eq!(response.status(), status, "{method} {path}");
        if status == StatusCode::FORBIDDEN {
            assert!(
                header(&response, "www-authenticate").is_some_and(|c| c.contains("scope=")),
                "{method} {path}: a scope refusal, not the deny"
            );
        }
    }
}
