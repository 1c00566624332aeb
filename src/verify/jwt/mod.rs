//! Local JWT verification: [`JwtVerifier`].
//!
//! A token is accepted when its signature verifies with a known key **and** its claims pass
//! the configured rules. Nothing is sent anywhere per request; keys come from a JWKS URL, from
//! OpenID Connect discovery, or from PEM keys / an HMAC secret configured in code
//! ([`StaticKey`]).
//!
//! # Keys decide the algorithm
//! Each key accepts a fixed list of algorithms, set when the key is loaded: its type gives the
//! family (RSA → RS256/384/512 and PS256/384/512, EC P-256 → ES256, EC P-384 → ES384,
//! Ed25519 → EdDSA, HMAC secret → the one HS algorithm configured), and a JWK `alg` narrows it
//! to one. The token's `alg` only selects among keys that already accept it, so:
//! * `alg: none` is always rejected;
//! * an `HS256` token is never checked against an RSA or EC public key used as an HMAC
//!   secret — HMAC keys come only from [`StaticKey::hmac_secret`], never from a JWKS;
//! * each key is parsed once, when it is loaded, for each algorithm it accepts;
//! * keys named or carried by the token itself (`jwk`, `jku`, `x5u`, `x5c` headers) are never
//!   used, and a token with a `crit` header is rejected (no extension is understood).
//!
//! # Which key checks a token
//! A token with a `kid` is checked only against keys with that `kid`; if the signature fails
//! there the token is invalid (no other key is tried). When **no** key has its `kid`:
//! * with a JWKS or discovery configured, the `kid` is unknown: one JWKS refetch (see below),
//!   then, if still unknown, invalid. Static keys without a `kid` are *not* tried — they would
//!   capture every token of their family and keep a newly published key from being fetched;
//! * with static keys only, the static keys *without* a `kid` that accept its `alg` are tried
//!   (a pasted PEM key rarely knows the issuer's `kid`); if there are none, invalid.
//!
//! In [`auto`](crate::verify::auto) a `kid` no key carries goes to the remote verifier (after
//! the refetch), never to the keys without `kid`.
//!
//! A token without `kid` is tried against the keys that accept its `alg` — those without a
//! `kid` first — at most [`max_keys_without_kid`](JwtVerifierBuilder::max_keys_without_kid) of
//! them (default 4).
//!
//! # Keys bound to an issuer
//! Keys found by [`discovery`](JwtVerifierBuilder::discovery) of issuer X, or fetched from
//! [`jwks_url_for_issuer`](JwtVerifierBuilder::jwks_url_for_issuer)`(url, X)`, validate only
//! tokens with `iss` exactly X, whatever other issuers are accepted (checked right after the
//! signature). Keys of a plain [`jwks_url`](JwtVerifierBuilder::jwks_url) and static keys are
//! unbound: any accepted issuer.
//!
//! # JWKS lifecycle
//! * The first fetch starts when the verifier is built. If it fails the service still starts:
//!   tokens that need JWKS keys get 503 until keys arrive (a warning is logged), and the fetch
//!   is retried after `min(refresh interval, cool-down)`.
//! * A background task refreshes the keys every
//!   [`refresh_interval`](JwtVerifierBuilder::refresh_interval) (default 300 s), or after the
//!   answer's `Cache-Control: max-age` kept within
//!   [`max_age_bounds`](JwtVerifierBuilder::max_age_bounds) (default 60 s – 24 h). It stops
//!   when the verifier is dropped.
//! * An unknown `kid` triggers one refetch, at most once per
//!   [`unknown_kid_cooldown`](JwtVerifierBuilder::unknown_kid_cooldown) (default 30 s,
//!   counted from the start of the last fetch of any kind); concurrent triggers share one fetch.
//!   A flood of tokens with random `kid`s therefore costs at most one JWKS request per
//!   cool-down. Within the cool-down an unknown `kid` is invalid (401), not 503.
//! * While the endpoint fails, the last good key set stays in use. A key removed from the JWKS
//!   stops validating at the next successful fetch.
//! * Keys are swapped atomically: an `Arc` replaced under a `std::sync::RwLock` held only for
//!   the pointer copy, never across an `.await`.
//! * All fetches use one `reqwest::Client` ([`http_client`](JwtVerifierBuilder::http_client)),
//!   answers are capped ([`max_jwks_bytes`](JwtVerifierBuilder::max_jwks_bytes), default
//!   256 KiB), and every URL — including a discovered `jwks_uri` — must be https (or loopback
//!   http, unless [`allow_plain_http`](JwtVerifierBuilder::allow_plain_http)).
//! * No URL is ever logged with its query: fetch errors are stripped of their URL.
//!
//! # Claims
//! `exp` is required (configurable) and, like `nbf`, checked with a leeway (default 30 s, at
//! most 60 s). When issuers or audiences are configured, a token must carry a matching `iss`
//! (a string) or `aud` (a string, or an array holding one of them); a token *without* the
//! claim is rejected. With no audience configured, `aud` is not checked. The header `typ` may
//! be absent, `JWT` or `at+jwt` (or only `at+jwt`, RFC 9068). Required scopes and custom checks
//! run last. The payload becomes the [`Principal`](crate::Principal)'s claims, kept as its
//! JSON text (scopes from `scope`, `scopes` or `scp`; no scope claim means no scopes; an array
//! item that is empty or contains a space is ignored); use
//! [`Principal::deserialize_claims`](crate::Principal::deserialize_claims) for a type of your
//! own.
//!
//! # Verdicts
//! Bad signature, expired, not yet valid, wrong `iss`/`aud`/`typ`, an `iss` other than the
//! key's bound issuer, algorithm not accepted by the key, malformed, unknown `kid`, missing
//! scope, failed custom check → `Invalid` (401) with
//! a short reason for the logs (never the token). No JWKS keys loaded yet → `Unavailable` (503).
//!
//! # Example
//! ```
//! use axum::{Router, routing::get};
//! use bearer_guard::{BearerGuardLayer, JwtAlgorithm, JwtVerifier};
//!
//! # fn main() -> Result<(), bearer_guard::ConfigError> {
//! let verifier = JwtVerifier::builder()
//!     .hmac_secret(b"0123456789abcdef0123456789abcdef", JwtAlgorithm::HS256)
//!     .issuer("https://issuer.example")
//!     .audience("orders-api")
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/orders", get(|| async { "orders" }))
//!     .layer(BearerGuardLayer::new(verifier));
//! # drop(app);
//! # Ok(())
//! # }
//! ```
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | local JWT verification: docs (keys decide the algorithm, JWKS lifecycle, claims) |
//! | `builder.rs` | `JwtVerifier::builder()`, `JwtVerifierBuilder`: key sources, claim rules, JWKS settings |
//! | `verifier.rs` | `JwtVerifier`: one pass over a token (header, key, signature, claims) |
//! | `header.rs` | a token's shape and JOSE header, read before any key is chosen |
//! | `algorithm.rs` | `JwtAlgorithm` and the key type each needs |
//! | `keys.rs` | the key set: JWK parsing, which keys a token may be checked against |
//! | `signature.rs` | signature checks with keys parsed once (aws-lc-rs) |
//! | `static_key.rs` | `StaticKey`: PEM public keys, HMAC secrets |
//! | `validate.rs` | claim rules: `exp`/`nbf`, `iss`, `aud`, `typ`, scopes, custom checks |
//! | `jwks.rs` | the key store and JWKS lifecycle: first fetch, refresh, unknown `kid`, cool-down |
//! | `discovery.rs` | OpenID Connect discovery → `jwks_uri` |
//! | `fetch.rs` | the one capped-JSON GET of JWKS and discovery; `FetchError` |

mod algorithm;
mod builder;
mod discovery;
mod fetch;
mod header;
mod jwks;
mod keys;
mod signature;
mod static_key;
mod validate;
mod verifier;

// The JWKS parser, for `crate::fuzzing` only (the `keys` module is private to `jwt`).
#[cfg(feature = "fuzzing")]
pub(crate) use keys::{JwksDocument, key_from_jwk};

pub use algorithm::JwtAlgorithm;
pub use builder::{
    DEFAULT_LEEWAY, DEFAULT_MAX_JWKS_BYTES, DEFAULT_MAX_KEYS_WITHOUT_KID, DEFAULT_MAX_MAX_AGE,
    DEFAULT_MIN_MAX_AGE, DEFAULT_REFRESH_INTERVAL, DEFAULT_UNKNOWN_KID_COOLDOWN,
    JwtVerifierBuilder, MAX_LEEWAY,
};
pub use static_key::StaticKey;
pub use validate::ClaimsCheck;
pub(crate) use verifier::AutoRoute;
pub use verifier::JwtVerifier;
