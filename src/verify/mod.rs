//! The verifier contract: one async trait, three possible verdicts.
//!
//! A [`Verifier`] looks at a bearer token and answers with a [`Verdict`]:
//!
//! | verdict | meaning | what the guard does |
//! |---|---|---|
//! | [`Verdict::Valid`] | the token is good; here is who holds it | cache until `min(ttl, token expiry)`, call the route |
//! | [`Verdict::Invalid`] | the token is bad (expired, revoked, forged) | cache for the short negative TTL, answer 401 |
//! | [`Verdict::Unavailable`] | the backend could not say (timeout, refused, garbage) | never cache, answer 503 |
//!
//! A verifier must never turn a backend failure into `Valid`: when in doubt, `Unavailable`.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the `Verifier` trait, `Verdict` (and `Verdict::LABELS`, its names in logs and metrics) |
//! | `remote.rs` | crm-now `verifytoken`: `RemoteVerifier` and its builder, its answer table (the one-pass `result` reader) |
//! | `introspection.rs` | RFC 7662: `IntrospectionVerifier`, `ClientAuth`, its answer table, the principal from the answer |
//! | `bitrix24.rs` | Bitrix24: `Bitrix24Verifier` (`app.info`, then one `batch` for `profile` and `scope`), its answer tables |
//! | `upstream.rs` | what the three upstream verifiers (remote, introspection, Bitrix24) share: `CallSettings` and the `call_setters!` their builders emit (checked once at build), the bounded form `POST` (`FormEncoding`, call cap, one deadline, capped body), `UpstreamError`, the duplicate-refusing JSON object reader |
//! | `auto.rs` | `AutoVerifier`: local JWT when a key is known, remote otherwise, one set of claim rules |
//! | `jwt/` | local JWT verification |

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::principal::{Principal, VerifierKind};
use crate::token::BearerToken;

pub mod auto;
pub mod bitrix24;
pub mod introspection;
pub mod jwt;
pub mod remote;
pub(crate) mod upstream;

pub use auto::AutoVerifier;
pub use bitrix24::{Bitrix24Verifier, Bitrix24VerifierBuilder};
pub use introspection::{ClientAuth, IntrospectionVerifier, IntrospectionVerifierBuilder};
pub use jwt::{JwtAlgorithm, JwtVerifier, JwtVerifierBuilder, StaticKey};
pub use remote::{FormEncoding, RemoteVerifier, RemoteVerifierBuilder};
pub use upstream::UpstreamError;

/// A boxed, sendable future, as returned by [`Verifier::verify`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The cause of an [`Verdict::Unavailable`] answer: any error, kept for logs.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Checks a bearer token. Object safe: the guard holds it as `Arc<dyn Verifier>`.
///
/// The guard calls a verifier only on a cache miss, and only once for concurrent requests
/// that carry the same token, so an implementation does not need a cache of its own.
///
/// # Example
///
/// ```
/// use bearer_guard::verify::{BoxFuture, Verdict, Verifier};
/// use bearer_guard::{BearerToken, Principal, VerifierKind};
///
/// /// Accepts exactly one static token: for tests and demos only.
/// struct OneToken(&'static str);
///
/// impl Verifier for OneToken {
///     fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
///         Box::pin(async move {
///             if token.as_str() == self.0 {
///                 Verdict::Valid(Principal::builder(VerifierKind::Custom("one-token")).build())
///             } else {
///                 Verdict::invalid("unknown token")
///             }
///         })
///     }
/// }
/// ```
pub trait Verifier: Send + Sync + 'static {
    /// Checks `token` and says what it is. Must not panic on any input.
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict>;

    /// This verifier's name in metrics: the `verifier` label of
    /// `bearer_guard_verifications_total` and `bearer_guard_verification_duration_seconds`,
    /// whatever the verdict. Read once, when the guard is built. Default:
    /// `VerifierKind::Custom("custom")`; override it with the kind your principals carry.
    fn kind(&self) -> VerifierKind {
        VerifierKind::Custom("custom")
    }

    /// Whether every key source this verifier needs has loaded at least once (a readiness
    /// probe; see [`BearerGuardLayer::is_ready`](crate::BearerGuardLayer::is_ready)).
    /// Default: `true` (nothing to load).
    fn is_ready(&self) -> bool {
        true
    }

    /// Resolves once [`is_ready`](Self::is_ready) is `true`; it never resolves for a source
    /// that never loads (bound it with a timeout). Default: at once.
    fn ready(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}

impl<V: Verifier + ?Sized> Verifier for Arc<V> {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        (**self).verify(token)
    }

    fn kind(&self) -> VerifierKind {
        (**self).kind()
    }

    fn is_ready(&self) -> bool {
        (**self).is_ready()
    }

    fn ready(&self) -> BoxFuture<'_, ()> {
        (**self).ready()
    }
}

/// What a [`Verifier`] says about one token.
#[derive(Debug)]
#[non_exhaustive]
pub enum Verdict {
    /// The token is valid. The principal's [`Principal::expires_at`] (when known) bounds how
    /// long the guard may reuse this verdict.
    Valid(Principal),
    /// The token is not valid. The reason goes to logs, never to the client.
    Invalid(InvalidReason),
    /// The verifier could not reach a decision (backend down, timeout, malformed answer).
    /// Never cached; the client gets 503.
    Unavailable(BoxError),
}

impl Verdict {
    /// An [`Verdict::Invalid`] verdict with a reason for logs.
    pub fn invalid(reason: impl Into<Cow<'static, str>>) -> Self {
        Verdict::Invalid(InvalidReason(reason.into()))
    }

    /// An [`Verdict::Unavailable`] verdict with its cause.
    pub fn unavailable(cause: impl Into<BoxError>) -> Self {
        Verdict::Unavailable(cause.into())
    }

    /// Every verdict's name ([`as_str`](Self::as_str)), in [`index`](Self::index) order: the
    /// `verdict` label values of `bearer_guard_verifications_total`.
    pub(crate) const LABELS: [&'static str; 3] = ["valid", "invalid", "unavailable"];

    /// Index of the verdict in [`LABELS`](Self::LABELS).
    pub(crate) fn index(&self) -> usize {
        match self {
            Verdict::Valid(_) => 0,
            Verdict::Invalid(_) => 1,
            Verdict::Unavailable(_) => 2,
        }
    }

    /// The verdict's name, in logs and metrics: `valid`, `invalid` or `unavailable`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Valid(_) => Self::LABELS[0],
            Verdict::Invalid(_) => Self::LABELS[1],
            Verdict::Unavailable(_) => Self::LABELS[2],
        }
    }
}

/// Why a token was found invalid: for logs only, never sent to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidReason(Cow<'static, str>);

impl InvalidReason {
    /// The reason as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
