//! Nothing the introspection and Bitrix24 verifiers log — at TRACE, every crate, the HTTP
//! client included — carries a token or the introspection client secret, whatever the
//! upstream does.

use crate::common;

use std::time::Duration;

use bearer_guard::{BearerGuardLayer, Bitrix24Verifier, IntrospectionVerifier};
use bearer_guard_mock::{Bitrix24Token, Fault, MockIssuer};
use common::log_capture::{Flavor, run_logged};
use common::{app, status_of};

const SECRET: &str = "SeCrEt-9f3a7c";

#[test]
fn no_token_or_secret_reaches_the_logs() {
    run_logged(Flavor::CurrentThread, |log| async move {
        let issuer = MockIssuer::builder()
            .introspection_client("rs", SECRET)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let active = issuer
            .issue_introspection_token("u", "read", Duration::from_secs(600))
            .unwrap_or_else(|e| panic!("{e}"));
        let b24 = issuer
            .issue_bitrix24_token(Bitrix24Token::new(5, "a.b", ["read"]))
            .unwrap_or_else(|e| panic!("{e}"));
        let introspect = |secret: &str| {
            IntrospectionVerifier::builder(issuer.introspection_url())
                .client_basic("rs", secret)
                .timeout(Duration::from_millis(500))
                .build()
                .map(|v| app(BearerGuardLayer::new(v)))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let bitrix = || {
            Bitrix24Verifier::builder(issuer.bitrix24_portal_url())
                .timeout(Duration::from_millis(500))
                .build()
                .map(|v| app(BearerGuardLayer::new(v)))
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(status_of(&introspect(SECRET), &active).await, 200);
        assert_eq!(
            status_of(&introspect("wrong-secret-1b2c"), &active).await,
            503
        );
        assert_eq!(status_of(&bitrix(), &b24).await, 200);
        for fault in [
            Fault::Truncated,
            Fault::Status500,
            Fault::Slow(Duration::from_secs(2)),
        ] {
            issuer
                .set_introspection_fault(fault)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            issuer
                .set_bitrix24_fault(fault)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                status_of(&introspect(SECRET), &active).await,
                503,
                "{fault:?}"
            );
            assert_eq!(status_of(&bitrix(), &b24).await, 503, "{fault:?}");
        }
        let text = log.text();
        assert!(
            !text.is_empty(),
            "nothing was logged: the test would prove nothing"
        );
        for needle in [SECRET, "wrong-secret-1b2c", active.as_str(), b24.as_str()] {
            assert!(!text.contains(needle), "{needle:?} in the logs");
        }
    });
}
