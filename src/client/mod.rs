//! The partner side (feature `client`): fetch an access token with client credentials, keep
//! it, refresh it before it expires, and put it on outgoing requests.
//!
//! A [`TokenSource`] fetches from one [`TokenEndpoint`]:
//!
//! | endpoint | request |
//! |---|---|
//! | [`TokenEndpoint::crm_now`] ([`CRM_NOW_TOKEN_URL`]) | `POST`, no body, `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` |
//! | [`TokenEndpoint::suitecrm`] (`…/Api/access_token`) | `POST`, `Content-Type: application/vnd.api+json`, `{"grant_type": "client_credentials", "client_id", "client_secret"}` (+ `"scope"`) |
//! | [`TokenEndpoint::onecrm`] (`…/api.php` → `…/api.php/auth/user/access_token`), [`TokenEndpoint::client_credentials_json`] | the same JSON object, `Content-Type: application/json` |
//! | [`TokenEndpoint::client_credentials_form`] (RFC 6749 §4.4) | `POST`, form `grant_type=client_credentials` (+ `scope`), `Authorization: Basic` as above, or `client_id` + `client_secret` in the form ([`client_secret_post`](TokenEndpoint::client_secret_post)) |
//!
//! Every request has `Accept: application/json`; the answer must be a JSON object with a
//! `b64token` `access_token`, `token_type` `Bearer` and optionally `expires_in` (seconds, a
//! number or a string of digits) and `scope`.
//!
//! # When a token is fetched
//!
//! - **The first caller** fetches; nothing is fetched at build.
//! - **Refresh:** once less than `max(refresh_before, lifetime / 10)` remains (at most half
//!   the lifetime; `refresh_before` defaults to 30 s), the next caller starts a refresh *in
//!   the background* and every caller keeps getting the current token until the new one has
//!   arrived. crm-now's 300 s token is refreshed after 270 s; an hour-long SuiteCRM or 1CRM
//!   token after 54 minutes.
//! - **Stale:** the current token is no longer handed out once less than `min(5 s, margin /
//!   2)` remains (295 s for crm-now). Only callers that find no usable token wait.
//! - A token's lifetime counts from when its request was *sent*; an answer without
//!   `expires_in` is taken to live [`default_lifetime`](TokenSourceBuilder::default_lifetime)
//!   (60 s); a lifetime over a day counts as a day.
//! - **One fetch at a time.** However many callers arrive while a fetch runs — 1,000 at
//!   once on an empty source — they all wait for that one fetch and share its outcome, token
//!   or error. The fetch runs as a tokio task, so it finishes (and stores its token) even if
//!   the caller that started it is cancelled.
//! - **After a failure**, callers without a usable token get that error at once for 1 s, and
//!   no fetch starts; then the next caller tries again. A source recovers by itself when the
//!   endpoint does: nothing needs rebuilding. A failed background refresh leaves the current
//!   token in use until it is stale. A failed fetch is logged at WARN (at most one line per
//!   10 s per source, the next one saying how many were held back).
//! - [`TokenSource::invalidate`] drops a token a resource server refused (401), unless it is
//!   younger than 1 s; [`AddBearerLayer`] does that by itself.
//!
//! # Retries
//!
//! One fetch makes at most `1 + max_retries` attempts (default 3), each bounded by `timeout`
//! (5 s), all within `total_timeout` (15 s). Retried: connection refused or broken, timeouts,
//! 5xx, 408 and 429. Pauses grow 100 ms, 200 ms, 400 ms … up to 2 s, with jitter (between half
//! and all of the step), and respect a `Retry-After` in seconds; a pause that would end past
//! `total_timeout` is not taken. Never retried: any other 4xx (`invalid_client`,
//! `invalid_scope`, …: [`TokenSourceError::Rejected`]), an unusable answer
//! ([`TokenSourceError::InvalidAnswer`]: not the JSON above, over 64 KiB, a redirect).
//!
//! # Secrets
//!
//! The client secret and the tokens never reach a log line, an error or a `Debug` output:
//! `Authorization` values are marked sensitive, errors carry no URL, no body and no free text
//! from the endpoint (an OAuth `error` code only when it is a short plain word), and
//! [`AccessToken`], [`TokenSource`] and [`TokenSourceBuilder`] redact. The token endpoint must be
//! `https` (loopback excepted, or opt in with
//! [`allow_plain_http`](TokenSourceBuilder::allow_plain_http)); the default HTTP client follows
//! no redirect and uses no proxy from the environment.
//!
//! # Example
//!
//! Against the embedded crm-now issuer of the tests (`bearer-guard-mock`):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use bearer_guard::client::{TokenEndpoint, TokenSource};
//! use bearer_guard_mock::MockIssuer;
//!
//! let issuer = MockIssuer::builder().client("partner", "s3cret").start().await?;
//! let source = TokenSource::builder(TokenEndpoint::crm_now(issuer.token_url()), "partner", "s3cret")
//!     .build()?;
//! let header = source.bearer_header().await?; // fetched now
//! assert!(header.to_str()?.starts_with("Bearer ey"));
//! assert!(header.is_sensitive());
//! assert_eq!(source.bearer_header().await?, header); // kept: no second fetch
//! # Ok(())
//! # }
//! ```
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the partner side (feature `client`): docs (request shapes, when a token is fetched, retries, secrets) and re-exports |
//! | `grant.rs` | `TokenEndpoint`: crm-now, SuiteCRM, 1CRM, JSON and RFC 6749 form grants, scope, `client_secret_post`; the request prepared once at build |
//! | `builder.rs` | `TokenSource::builder`, `TokenSourceBuilder`: every setting, its default and bounds, checked at build |
//! | `source.rs` | `TokenSource`: the kept token, background refresh, one fetch at a time (a task and a `watch` channel), the failure pause, `invalidate` |
//! | `token.rs` | `AccessToken` (redacted `Debug`, sensitive header) and its `Schedule`: when it is refreshed, when it is stale |
//! | `retry.rs` | `Fetcher`: bounded attempts, exponential backoff with jitter, one total deadline |
//! | `fetch.rs` | one bounded attempt (timeout, 64 KiB cap, no redirect) and what its outcome means: token, retry, or final error |
//! | `answer.rs` | reading the token answer (RFC 6749 §5.1) and a plain `error` code (§5.2), quoting nothing from the body |
//! | `error.rs` | `TokenSourceError`, `Unavailable` |
//! | `layer.rs` | `AddBearerLayer`, `AddBearer`: the client-side tower middleware, origin matching |
//! | `future.rs` | `client::future::ResponseFuture`: waits for a token if needed, then the inner call; a 401 drops the token |

pub(crate) mod answer;
mod builder;
mod error;
mod fetch;
pub mod future;
mod grant;
mod layer;
mod retry;
mod source;
mod token;

pub use builder::TokenSourceBuilder;
pub use error::{TokenSourceError, Unavailable};
pub use fetch::MAX_TOKEN_RESPONSE_BYTES;
pub use grant::{CRM_NOW_TOKEN_URL, TokenEndpoint};
pub use layer::{AddBearer, AddBearerLayer};
pub use source::TokenSource;
pub use token::AccessToken;
