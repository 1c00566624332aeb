//! Revocation of a JWT holds for the token's identity, not its bytes: an ES256 / ES384 token
//! revoked in this process stays refused under its ECDSA twin `(r, n − s)`, whether the twin
//! was cached before the revocation or never seen; a token that is not a three-segment JWS is
//! revoked by its bytes only. In-process guards (no Redis); the shared tier is in
//! `shared_jwt_revocation.rs`.

use crate::common;

use axum::Router;
use bearer_guard::{BearerGuardLayer, RevocationReach};
use common::ecdsa_twin::ecdsa_twin;
use common::jwt_support::{
    AUD, ISS, TestKey, claims, good_claims, guarded_by, status, verifier_for,
};
use common::{Answer, ScriptedVerifier};
use http::StatusCode;
use proptest::prelude::*;
use serde_json::json;

/// A guard checking `key`'s tokens (its PEM public key), and the router it guards.
fn jwt_guard(key: &TestKey) -> (BearerGuardLayer, Router) {
    let layer = BearerGuardLayer::new(verifier_for(key));
    (layer.clone(), guarded_by(layer))
}

fn ecdsa_keys() -> [TestKey; 2] {
    [TestKey::ec("es256"), TestKey::ec384("es384")]
}

#[test]
fn the_twin_helper_flips_s_and_back() {
    let key = TestKey::ec("k");
    let token = key.sign(&good_claims());
    let twin = ecdsa_twin(&token);
    assert_ne!(twin, token);
    assert_eq!(
        twin.rsplit_once('.').map(|(input, _)| input),
        token.rsplit_once('.').map(|(input, _)| input),
        "same header and payload"
    );
    assert_eq!(ecdsa_twin(&twin), token);
}

#[tokio::test]
async fn a_revoked_ecdsa_token_is_refused_under_its_twin_that_was_cached_before() {
    for key in ecdsa_keys() {
        let alg = key.alg;
        let (layer, app) = jwt_guard(&key);
        let token = key.sign(&good_claims());
        let twin = ecdsa_twin(&token);
        assert_eq!(status(&app, &token).await, StatusCode::OK, "{alg:?}");
        assert_eq!(
            status(&app, &twin).await,
            StatusCode::OK,
            "{alg:?}: the twin verifies (and is now cached)"
        );
        assert_eq!(layer.revoke(&token).await, Ok(RevocationReach::Local));
        assert_eq!(
            status(&app, &token).await,
            StatusCode::UNAUTHORIZED,
            "{alg:?}"
        );
        assert_eq!(
            status(&app, &twin).await,
            StatusCode::UNAUTHORIZED,
            "{alg:?}: the cached twin outlived the revocation"
        );
        // Still refused on the next request (answered from the negative cache or the set).
        assert_eq!(
            status(&app, &twin).await,
            StatusCode::UNAUTHORIZED,
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn a_revoked_ecdsa_token_is_refused_under_a_twin_never_seen_before() {
    for key in ecdsa_keys() {
        let alg = key.alg;
        let (layer, app) = jwt_guard(&key);
        let token = key.sign(&good_claims());
        assert_eq!(status(&app, &token).await, StatusCode::OK, "{alg:?}");
        assert_eq!(layer.revoke(&token).await, Ok(RevocationReach::Local));
        assert_eq!(
            status(&app, &ecdsa_twin(&token)).await,
            StatusCode::UNAUTHORIZED,
            "{alg:?}: the twin of a revoked token was admitted"
        );
        // Revoking the twin refuses the original just as well.
        let other = key.sign(&good_claims());
        assert_eq!(
            layer.revoke(&ecdsa_twin(&other)).await,
            Ok(RevocationReach::Local)
        );
        assert_eq!(
            status(&app, &other).await,
            StatusCode::UNAUTHORIZED,
            "{alg:?}"
        );
        // Another token of the same key is untouched.
        assert_eq!(
            status(&app, &key.sign(&good_claims())).await,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_token_that_is_not_a_three_segment_jws_is_revoked_by_its_bytes() {
    let verifier = ScriptedVerifier::new();
    // Opaque, two segments, five segments (a JWE's shape): each shares a prefix with the next.
    let pairs = [
        ("opaque-token-1", "opaque-token-2"),
        ("hdr.payload", "hdr.payload2"),
        ("a.b.c.d.e1", "a.b.c.d.e2"),
        // The signing input of `s1.s2.sig` as an opaque token: not the JWS's identity.
        ("s1.s2", "s1.s2.sig"),
    ];
    for (revoked, kept) in pairs {
        verifier.set(revoked, Answer::valid(&["read"]));
        verifier.set(kept, Answer::valid(&["read"]));
    }
    let layer = common::guard(&verifier);
    let app = common::app(layer.clone());
    for (revoked, kept) in pairs {
        assert_eq!(common::status_of(&app, revoked).await, StatusCode::OK);
        assert_eq!(common::status_of(&app, kept).await, StatusCode::OK);
        assert_eq!(layer.revoke(revoked).await, Ok(RevocationReach::Local));
        assert_eq!(
            common::status_of(&app, revoked).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            common::status_of(&app, kept).await,
            StatusCode::OK,
            "revoking {revoked:?} refused {kept:?}"
        );
    }
    // A compact JWS (its header a JSON object with a string `alg`) is keyed on
    // `header.payload`: any signature over it is refused.
    let (sig1, sig2) = (
        format!("{JWS_HEADER}.p.sig1"),
        format!("{JWS_HEADER}.p.sig2"),
    );
    for t in [&sig1, &sig2] {
        verifier.set(t, Answer::valid(&["read"]));
    }
    assert_eq!(common::status_of(&app, &sig2).await, StatusCode::OK);
    assert_eq!(layer.revoke(&sig1).await, Ok(RevocationReach::Local));
    assert_eq!(
        common::status_of(&app, &sig2).await,
        StatusCode::UNAUTHORIZED
    );
}

/// `{"alg":"ES256"}`, base64url: the header of a compact JWS.
const JWS_HEADER: &str = "eyJhbGciOiJFUzI1NiJ9";

/// Opaque tokens with two dots and a constant prefix (PASETO `v4.local.<payload>`) are not
/// JWSs: each is its own identity. Keyed on their shared `v4.local` they would share one
/// revocation key, so the local cache would hold at most a few of them (each fill dropping an
/// older one's verdict) and revoking one would refuse them all.
#[tokio::test]
async fn opaque_tokens_with_two_dots_are_each_cached_and_revoked_alone() {
    let verifier = ScriptedVerifier::new();
    let tokens = verifier.ten_v4_local_tokens();
    let layer = common::guard(&verifier);
    let app = common::app(layer.clone());
    for _round in 0..3 {
        for token in &tokens {
            assert_eq!(common::status_of(&app, token).await, StatusCode::OK);
        }
    }
    for token in &tokens {
        assert_eq!(
            verifier.calls(token),
            1,
            "each token verified once, then answered from the cache"
        );
    }
    assert_eq!(layer.revoke(&tokens[0]).await, Ok(RevocationReach::Local));
    assert_eq!(
        common::status_of(&app, &tokens[0]).await,
        StatusCode::UNAUTHORIZED
    );
    for token in &tokens[1..] {
        assert_eq!(
            common::status_of(&app, token).await,
            StatusCode::OK,
            "revoking one v4.local token refused another"
        );
        assert_eq!(
            verifier.calls(token),
            1,
            "still cached after the revocation"
        );
    }
}

/// Which form is revoked, and whether the other was cached before.
#[derive(Debug, Clone, Copy)]
struct Case {
    p384: bool,
    revoke_twin: bool,
    other_cached: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(p384, revoke_twin, other_cached)| {
        Case {
            p384,
            revoke_twin,
            other_cached,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// For random ECDSA tokens (random claims, ES256 or ES384), once one of the two forms is
    /// revoked the other is refused, whether it was cached before or not.
    #[test]
    fn once_one_form_of_an_ecdsa_token_is_revoked_the_other_is_refused(
        case in case(),
        subject in "[A-Za-z0-9:_-]{1,40}",
        scope in "[a-z:]{0,30}",
        extra in proptest::collection::btree_map("[a-z]{1,8}", "[ -~]{0,24}", 0..4),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let key = if case.p384 { TestKey::ec384("k") } else { TestKey::ec("k") };
            let mut more = json!({"iss": ISS, "aud": AUD, "sub": subject, "scope": scope});
            for (name, value) in &extra {
                more[format!("x_{name}")] = json!(value);
            }
            let token = key.sign(&claims(more));
            let twin = ecdsa_twin(&token);
            let (revoked, other) = if case.revoke_twin { (&twin, &token) } else { (&token, &twin) };
            let (layer, app) = jwt_guard(&key);
            assert_eq!(status(&app, revoked).await, StatusCode::OK, "{case:?}");
            if case.other_cached {
                assert_eq!(status(&app, other).await, StatusCode::OK, "{case:?}: the twin verifies");
            }
            assert_eq!(layer.revoke(revoked).await, Ok(RevocationReach::Local));
            assert_eq!(status(&app, revoked).await, StatusCode::UNAUTHORIZED, "{case:?}");
            assert_eq!(status(&app, other).await, StatusCode::UNAUTHORIZED, "{case:?}");
        });
    }
}
