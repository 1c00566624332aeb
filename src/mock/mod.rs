//! An embedded stand-in for crm-now xRM's central OAuth2 endpoint (cargo feature `mock`).
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
//!
//! Access tokens are RS256 JWTs (`kid`, `typ: "JWT"`; claims `iss`, `aud`, `sub`, `scope`,
//! `iat`, `exp`, `jti`) signed with an RSA-2048 key generated at start; no private key is
//! stored anywhere but in memory.
//!
//! Tests steer it with [`MockIssuer::set_fault`] / [`MockIssuer::set_jwks_fault`] (see
//! [`Fault`]), [`MockIssuer::revoke`], [`MockIssuer::rotate_key`] and count requests with
//! [`MockIssuer::calls`]. Request bodies are capped at [`BODY_LIMIT`] bytes.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bearer_guard::mock::{MintOptions, MockIssuer};
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

mod builder;
mod credentials;
mod faults;
mod issuer;
mod keys;
mod listener;
mod server;
mod state;

pub use builder::MockIssuerBuilder;
pub use faults::Fault;
pub use issuer::MockIssuer;
pub use keys::MockError;
pub use state::{Endpoint, MintOptions};

/// Largest request body the mock reads (64 KiB); larger bodies get `413`.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Path of the crm-now token and verifytoken endpoint.
pub const TOKEN_PATH: &str = "/v1/getOauthToken.php";

/// Path of the JSON Web Key Set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// Path of the discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
