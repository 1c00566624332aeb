//! An embedded stand-in for crm-now xRM's central OAuth2 endpoint (and the SuiteCRM, 1CRM and
//! RFC 6749 token endpoints, RFC 7662 introspection, a Bitrix24 portal), for tests and demos.
//!
//! This crate is to [bearer-guard](https://crates.io/crates/bearer-guard) what `tower-test` is
//! to `tower`: a test tool kept apart from the library. It depends on nothing from
//! bearer-guard, so the guard's tests check the guard against an independent issuer; any
//! bearer-token client or guard can be tested against it. Add it as a dev-dependency:
//!
//! ```toml
//! [dev-dependencies]
//! bearer-guard-mock = "0.1"
//! ```
//!
//! [`MockIssuer`] is a real HTTP server on `127.0.0.1` (a random port unless
//! [`MockIssuerBuilder::port`] says otherwise), started inside the calling tokio runtime.
//! It speaks the crm-now protocol and the usual JWT discovery documents:
//!
//! | request | answer |
//! |---|---|
//! | `POST /v1/getOauthToken.php` with `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` | `200 {"access_token", "expires_in", "refresh_expires_in": 0, "token_type": "Bearer", "scope"}`, or `401 {"error": "invalid_client"}` |
//! | `POST /v1/getOauthToken.php` with a `verifytoken` form field (multipart or urlencoded) | `200 {"result": true, "message": "token valid"}` or `200 {"result": false, "message": "token invalid"}` |
//! | `POST /v1/getOauthToken.php` with neither | `400 {"error": "invalid_request"}` |
//! | `GET /.well-known/jwks.json` | the RSA public keys, `Cache-Control: max-age=…` |
//! | `GET /.well-known/openid-configuration` | `{"issuer", "jwks_uri", "token_endpoint"}` |
//! | `POST /oauth2/introspect` (RFC 7662: form `token=…`, client authentication Basic or in the body once an [introspection client](MockIssuerBuilder::introspection_client) is registered) | `200 {"active": true, …members}` for a [registered token](MockIssuer::add_introspection_token), `200 {"active": false}` otherwise; `401 {"error": "invalid_client"}` |
//! | `POST /rest/app.info`, `/rest/profile`, `/rest/scope`, `/rest/batch` (Bitrix24, form `auth=…`) | `200 {"result": …}` for a [registered token](MockIssuer::add_bitrix24_token); `401` `NO_AUTH_FOUND` / `invalid_token` / `expired_token` |
//! | `POST /Api/access_token` (SuiteCRM) or `POST /api.php/auth/user/access_token` (1CRM): JSON body `{"grant_type": "client_credentials", "client_id", "client_secret", "scope"?}` | `200 {"token_type": "Bearer", "expires_in", "access_token"}`; `401 {"error": "invalid_client"}`; `400` `invalid_request` (not a JSON object), `unsupported_grant_type`, `invalid_scope` |
//! | `POST /oauth2/token` (RFC 6749 §4.4): form `grant_type=client_credentials` (+ `scope`), client authentication Basic or `client_id` + `client_secret` in the form (not both) | `200 {"access_token", "token_type": "Bearer", "expires_in", "scope"}`; `401 invalid_client`; `400` `invalid_request` (not a form, a repeated parameter, two authentication methods), `unsupported_grant_type`, `invalid_scope` |
//!
//! The three token endpoints share the registered [clients](MockIssuerBuilder::client), the
//! token lifetime and one fault ([`MockIssuer::set_token_fault`], or
//! [`MockIssuer::set_token_fault_for_next`] for the next *n* requests), count their requests
//! per endpoint ([`Endpoint::Token`], [`Endpoint::JsonToken`], [`Endpoint::FormToken`]) and
//! record the last request's shape ([`MockIssuer::last_token_request`]). A requested `scope`
//! must be within the client's scope (its own, else the default scope); the token then
//! carries exactly the requested scopes.
//!
//! Access tokens are RS256 JWTs (`kid`, `typ: "JWT"`; claims `iss`, `aud`, `sub`, `scope`,
//! `iat`, `exp`, `jti`) signed with an RSA-2048 key generated at start; no private key is
//! stored anywhere but in memory.
//!
//! Tests steer it with [`MockIssuer::set_fault`] / [`MockIssuer::set_jwks_fault`] /
//! [`MockIssuer::set_token_fault`] (see [`Fault`]), [`MockIssuer::revoke`], [`MockIssuer::rotate_key`] and count requests with
//! [`MockIssuer::calls`]. Request bodies are capped at [`BODY_LIMIT`] bytes.
//!
//! Besides the issuer, [`process`] starts real servers for tests on `127.0.0.1`: a free port,
//! and (feature `redis-server`) a `redis-server` killed on drop.
//!
//! # Example: a token and the issuer's URLs
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bearer_guard_mock::{MintOptions, MockIssuer};
//!
//! let issuer = MockIssuer::builder()
//!     .client("demo-client", "demo-secret")
//!     .start()
//!     .await?;
//! let token = issuer.mint(MintOptions::default().subject("alice").scope("read"))?;
//! assert_eq!(token.split('.').count(), 3);
//! assert!(issuer.token_url().ends_with("/v1/getOauthToken.php"));
//! issuer.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # Example: in your own test
//!
//! Start one issuer per test (each listens on its own port), point the code under test at its
//! URLs, then steer it and count what it saw:
//!
//! ```
//! use std::time::Duration;
//!
//! use bearer_guard_mock::{Endpoint, Fault, MintOptions, MockIssuer};
//!
//! // In tests/my_service.rs, annotated #[tokio::test]:
//! async fn my_service_copes_with_the_issuer() -> Result<(), Box<dyn std::error::Error>> {
//!     let issuer = MockIssuer::builder()
//!         .client("my-client", "my-secret")
//!         .token_lifetime(Duration::from_secs(60))
//!         .start()
//!         .await?;
//!     let token = issuer.mint(MintOptions::default().subject("alice").scope("read"))?;
//!     // Build the service under test with `issuer.verify_url()` (crm-now verifytoken),
//!     // `issuer.jwks_url()` or `issuer.discovery_url()` (local JWT), send it
//!     // `Authorization: Bearer {token}`, and assert on its answers. Then:
//!     issuer.revoke(&token); // verifytoken now answers `"result": false` for it
//!     assert!(!issuer.is_valid(&token));
//!     issuer.set_fault(Fault::Slow(Duration::from_secs(2))).await?; // a slow verifytoken
//!     issuer.set_fault(Fault::Down).await?; // the port refuses connections
//!     assert_eq!(issuer.calls(Endpoint::Verify), 0); // how often the service asked
//!     issuer.shutdown().await;
//!     Ok(())
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! #     my_service_copes_with_the_issuer().await
//! # }
//! ```
//!
//! | file | job |
//! |---|---|
//! | `lib.rs` | the crate's docs and re-exports |
//! | `paths.rs` | the paths the mock serves, [`BODY_LIMIT`] |
//! | `issuer.rs` | the public handle `MockIssuer`: addresses, tokens, counters, faults (the token endpoints' and the opaque-token sources' too) |
//! | `builder.rs` | `MockIssuerBuilder`: the issuer's settings and its start (`MockIssuer::start`, `MockIssuer::builder`) |
//! | `state.rs` | the issuer's shared state: configuration, keys, clients, revocations, faults, counters, the last [`TokenRequest`] |
//! | `server.rs` | the HTTP routes: crm-now's token and `verifytoken` endpoints, JWKS, discovery |
//! | `listener.rs` | the listening socket: start, stop (`Fault::Down`), rebinding the same port |
//! | `socket.rs` | the TCP side: a listener handing out streams with a kill switch, `ConnInfo`, the serving task's slot, the `Control` signals |
//! | `answers.rs` | the JSON answers the token and introspection endpoints share (`invalid_client`, `no_store`) |
//! | `credentials.rs` | decoding crm-now's Basic `urlencode(id):urlencode(secret)` |
//! | `faults.rs` | the fault modes and the answers they produce |
//! | `keys.rs` | RSA signing keys: generation, JWK and PEM export, JWT signing |
//! | `introspection.rs` | the mock's RFC 7662 endpoint: client check, recorded request shape, `active` answers |
//! | `bitrix24.rs` | the mock's Bitrix24 portal: `app.info`, `profile`, `scope`, `batch`, token errors |
//! | `grants.rs` | the mock's token endpoints (crm-now token requests, SuiteCRM/1CRM JSON, RFC 6749 form): client and scope checks, the recorded request, the token fault (bounded or not) |
//! | `opaque.rs` | the mock's opaque-token state (tokens, faults, per-token counters, request URIs) |
//! | `process/` | real server processes for tests and benches |

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod answers;
mod bitrix24;
mod builder;
mod credentials;
mod faults;
mod grants;
mod introspection;
mod issuer;
mod keys;
mod listener;
mod opaque;
mod paths;
pub mod process;
mod server;
mod socket;
mod state;

pub use builder::MockIssuerBuilder;
pub use faults::Fault;
pub use issuer::MockIssuer;
pub use keys::MockError;
pub use opaque::{Bitrix24Token, IntrospectionRequest};
pub use paths::{
    BITRIX24_PATH, BODY_LIMIT, DISCOVERY_PATH, FORM_TOKEN_PATH, INTROSPECTION_PATH, JWKS_PATH,
    ONECRM_TOKEN_PATH, SUITECRM_TOKEN_PATH, TOKEN_PATH,
};
pub use state::{Endpoint, MintOptions, TokenRequest};
