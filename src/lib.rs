//! # bearer-guard
//!
//! A [tower] layer that guards axum (or any tower HTTP) services with RFC 6750
//! `Authorization: Bearer` tokens: it extracts the token exactly as RFC 6750 §2.1 says (header
//! only, never the URL), has a [`Verifier`] check it — crm-now's remote `verifytoken` endpoint,
//! a local JWT signature check, or your own — caches the verdict, and either calls the route
//! with a [`Principal`] in the request's extensions or answers 400/401/403/503 with a correct
//! `WWW-Authenticate` challenge. It fails closed: a backend that times out, refuses, or answers
//! garbage gives 503, never a pass.
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use bearer_guard::verify::{BoxFuture, Verdict, Verifier};
//! use bearer_guard::{BearerGuardLayer, BearerToken, Principal, VerifierKind};
//! use http::{Request, StatusCode, header::AUTHORIZATION};
//! use tower::ServiceExt;
//!
//! // A toy verifier; real ones are `RemoteVerifier` (crm-now) and `JwtVerifier`.
//! struct Demo;
//! impl Verifier for Demo {
//!     fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
//!         Box::pin(async move {
//!             match token.as_str() {
//!                 "let-me-in" => Verdict::Valid(
//!                     Principal::builder(VerifierKind::Custom("demo")).subject("Users:1").build(),
//!                 ),
//!                 _ => Verdict::invalid("unknown token"),
//!             }
//!         })
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = Router::new()
//!     .route("/whoami", get(|p: Principal| async move { p.subject().unwrap_or("").to_owned() }))
//!     .layer(BearerGuardLayer::new(Demo));
//!
//! let request = |auth: &str| Request::get("/whoami").header(AUTHORIZATION, auth).body(Body::empty());
//! let denied = app.clone().oneshot(request("Bearer wrong").unwrap()).await.unwrap();
//! assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     denied.headers()["www-authenticate"],
//!     r#"Bearer realm="api", error="invalid_token", error_description="the access token is invalid or expired""#
//! );
//! let allowed = app.oneshot(request("Bearer let-me-in").unwrap()).await.unwrap();
//! assert_eq!(allowed.status(), StatusCode::OK);
//! # }
//! ```
//!
//! ## One request
//!
//! 1. [`extract`]: one `Authorization` header, scheme `Bearer` in any case, one or more spaces,
//!    a `b64token` of at most 8 KiB (configurable). Anything else is answered at once
//!    (see the table in [`error`]).
//! 2. Cache lookup by a 128-bit keyed fingerprint of the token (its GMAC tag under a random
//!    per-guard key; the token itself is never kept). A valid verdict is reused until
//!    `min(positive TTL, the token's own expiry)`, the expiry checked against the wall clock;
//!    an invalid one for the negative TTL, in a separate, smaller cache so a flood of garbage
//!    tokens cannot evict real users.
//! 3. On a miss, concurrent requests for the same token share **one** verifier call (made by
//!    the first of them, bounded by a verify timeout and a cap on verifications in flight).
//!    A token revoked with [`BearerGuardLayer::revoke`] is refused here for the revocation TTL.
//!    With a shared cache (feature `redis`, module `shared`), the first request of a miss asks
//!    Redis before the verifier, so replicas share verdicts and revocations (README, "Running
//!    several replicas").
//! 4. Valid: the [`Principal`] goes into the request's extensions and the route runs. Invalid:
//!    401. Unavailable: 503 with `Retry-After`, never cached.
//! 5. [`RequireScopeLayer`] on a route answers 403 `insufficient_scope` when scopes are missing.
//!
//! Handlers take the [`Principal`] as an axum extractor; on a route the guard does not cover,
//! that extractor answers 500 (a wiring bug), not 401.
//!
//! Every rejection is built by a [`RejectionResponse`] ([`DefaultRejection`] unless the layer
//! is given another) and carries its [`AuthError`] in the response's extensions.
//!
//! ## The partner side
//!
//! With the `client` feature, the `client` module is the other end of the same tokens: a
//! `TokenSource` fetches an access token with client credentials (crm-now, SuiteCRM, 1CRM, any
//! RFC 6749 token endpoint), keeps it, refreshes it before it expires, and hands out
//! `Authorization` values; `AddBearerLayer` adds them to the requests of a tower HTTP client.
//! [`credentials::basic_credentials`] (always available) builds the `Basic` value both sides
//! use.
//!
//! ## What the public API may mention
//!
//! Besides this crate's own types and `std`, a public signature (function, field, variant,
//! trait bound) names only types of `http`, `tower`, `axum` and `serde_json` (with the `serde`
//! traits `serde_json` is built on), and `reqwest::Client` where a client is injected. The
//! crates doing the work inside — jsonwebtoken, moka, aws-lc-rs, url, reqwest's errors — never
//! appear in it, so upgrading them is not a breaking change. An error from one of them is
//! reachable only as a [`source`](std::error::Error::source).
//!
//! ## Files
//!
//! Each folder's `mod.rs` has the table of its own files.
//!
//! | file | job |
//! |---|---|
//! | `lib.rs` | crate docs (incl. which types may appear in the public API), re-exports |
//! | `extract.rs` | RFC 6750 §2.1: the one `Authorization` header → token (extraction) |
//! | `token.rs` | `BearerToken`: owned, redacted in `Debug`; a compact JWS's signing input (a three-segment token whose header is JSON with a string `alg`) |
//! | `rejection.rs` | how a rejection is answered: `RejectionResponse` (closures implement it), `DefaultRejection` (the JSON answers), `Challenge`; the `AuthError` into the response's extensions |
//! | `extractor.rs` | `Principal` as an axum extractor |
//! | `clock.rs` | (crate-private) the wall clock in whole milliseconds, for cache deadlines, shared entries and revocations |
//! | `secret.rs` | `Secret`: a secret setting (introspection client secret, cache secret, admin token, Redis URL; the client secret of `ClientAuth` and `TokenSource`) — `Debug` `[redacted]`, no `Display`, wiped on drop (a `secrecy` box), read only through `expose_secret` |
//! | `redact.rs` | (crate-private) URLs for logs and `Debug`: without user info, query or fragment |
//! | `outbound.rs` | (crate-private) the shared HTTP client, the https-or-loopback URL policy, capped body reads |
//! | `presets.rs` | crm-now, SuiteCRM, 1CRM: each a builder |
//! | `credentials.rs` | client credentials on the wire: `basic_credentials` (`Basic base64(urlencode(id):urlencode(secret))`), shared by the introspection verifier and the token client |
//! | `log_limit.rs` | `RateLimitedLog`: rate-limited log lines, a budget of lines per window (the guard's warnings: 1 per 10 s; the sidecar's decisions: 100 per s), and `bearer_guard_log_lines_suppressed_total`; the guard's own warnings go through it, and it is public for binaries built on the guard (the sidecar) |
//! | `telemetry.rs` | metrics: every name, label and description; `DecisionOutcome`; the guard's and the shared tier's handles (`LookupCounters`, `StoreMetrics`), registered at build; imports nothing of `shared/` |
//! | `fuzzing.rs` | thin wrappers for the fuzz targets (feature `fuzzing`, not a public API) |
//! | `admin/` | the admin listener's routes (`POST /revoke`) |
//! | `cache/` | the verdict caches, the in-flight table, the revoked set |
//! | `client/` | the partner side (feature `client`): `TokenSource`, `AddBearerLayer` |
//! | `config/` | the `GUARD_*` variables: `GuardConfig` |
//! | `error/` | `AuthError`, `ConfigError`, `RevokeError` |
//! | `guard/` | the guard middleware |
//! | `principal/` | `Principal`: who the token belongs to |
//! | `scope/` | the scope middleware |
//! | `shared/` | the shared verdict cache on Redis (feature `redis`) |
//! | `verify/` | the `Verifier` trait and every verifier |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod admin;
mod cache;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
mod clock;
pub mod config;
pub mod credentials;
pub mod error;
pub mod extract;
mod extractor;
#[cfg(feature = "fuzzing")]
#[cfg_attr(docsrs, doc(cfg(feature = "fuzzing")))]
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod log_limit;
mod outbound;
pub mod presets;
pub mod principal;
mod redact;
pub mod rejection;
pub mod scope;
mod secret;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod shared;
mod telemetry;
mod token;
pub mod verify;

pub use config::{GuardConfig, Mode};
pub use error::{AuthError, ConfigError, RevokeError};
pub use guard::{
    BearerGuard, BearerGuardLayer, BearerGuardLayerBuilder, Decision, RevocationReach,
};
pub use principal::{OwnerKind, Principal, ResourceOwner, Scopes, VerifierKind};
pub use rejection::{Challenge, DefaultRejection, RejectionResponse};
pub use scope::{RequireScopeLayer, ScopeRequirement};
pub use secret::Secret;
pub use token::BearerToken;
pub use verify::{AutoVerifier, JwtAlgorithm, JwtVerifier, JwtVerifierBuilder, StaticKey};
pub use verify::{Bitrix24Verifier, IntrospectionVerifier, RemoteVerifier, Verdict, Verifier};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
