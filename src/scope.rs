//! Per-route scope requirements: [`RequireScopeLayer`] answers 403 `insufficient_scope` when
//! the [`Principal`](crate::Principal) lacks the scopes a route needs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::error::{AuthError, ConfigError, DEFAULT_REALM, DEFAULT_RETRY_AFTER_SECS};
use crate::principal::Principal;

/// A set of scopes a route requires: any one of them, or all of them.
#[derive(Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    mode: Mode,
    scopes: Arc<[String]>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Any,
    All,
}

impl ScopeRequirement {
    /// Satisfied when the token has at least one of `scopes`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] (setting `scopes`) when `scopes` is empty — a requirement of
    /// nothing would be met by every token — or a scope is not an RFC 6749 §3.3 `scope-token`
    /// (printable ASCII without space, `"` or `\`: it must fit the `scope="…"` challenge).
    pub fn any<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Mode::Any, scopes)
    }

    /// Satisfied when the token has every one of `scopes`.
    ///
    /// # Errors
    /// As [`ScopeRequirement::any`].
    pub fn all<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Mode::All, scopes)
    }

    fn new<I, S>(mode: Mode, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Arc<[String]> = scopes.into_iter().map(Into::into).collect();
        if scopes.is_empty() {
            return Err(ConfigError::invalid(
                "scopes",
                "name at least one scope: an empty requirement would admit every token",
            ));
        }
        if !scopes.iter().all(|scope| is_scope_token(scope)) {
            return Err(ConfigError::invalid(
                "scopes",
                "a scope must be non-empty printable ASCII without space, `\"` or `\\`",
            ));
        }
        Ok(ScopeRequirement { mode, scopes })
    }

    /// Whether `principal` satisfies the requirement.
    pub fn is_met_by(&self, principal: &Principal) -> bool {
        match self.mode {
            Mode::Any => self.scopes.iter().any(|s| principal.has_scope(s)),
            Mode::All => self.scopes.iter().all(|s| principal.has_scope(s)),
        }
    }

    /// The scopes, space-separated, as they go into `WWW-Authenticate: … scope="…"`.
    pub fn scope_list(&self) -> String {
        self.scopes.join(" ")
    }

    /// Checks `principal`.
    ///
    /// # Errors
    /// [`AuthError::InsufficientScope`] when the requirement is not met.
    pub fn check(&self, principal: &Principal) -> Result<(), AuthError> {
        if self.is_met_by(principal) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope(self.clone()))
        }
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl fmt::Debug for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}{:?}", self.mode, self.scopes)
    }
}

/// Layer that requires scopes on the routes it wraps. Put it inside (after) the
/// [`BearerGuardLayer`](crate::BearerGuardLayer): it reads the `Principal` the guard stored.
///
/// ```
/// use axum::{Router, routing::get};
/// use bearer_guard::RequireScopeLayer;
///
/// # fn main() -> Result<(), bearer_guard::ConfigError> {
/// let app: Router = Router::new()
///     .route("/records", get(|| async { "records" }))
///     .route_layer(RequireScopeLayer::any(["read"])?);
/// # drop(app);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RequireScopeLayer {
    requirement: ScopeRequirement,
    realm: Arc<str>,
}

impl RequireScopeLayer {
    /// Requires at least one of `scopes`.
    ///
    /// # Errors
    /// As [`ScopeRequirement::any`]: no scopes, or a scope that is not a `scope-token`.
    pub fn any<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopeRequirement::any(scopes).map(Self::new)
    }

    /// Requires all of `scopes`.
    ///
    /// # Errors
    /// As [`ScopeRequirement::any`].
    pub fn all<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopeRequirement::all(scopes).map(Self::new)
    }

    /// Requires `requirement`.
    pub fn new(requirement: ScopeRequirement) -> Self {
        RequireScopeLayer {
            requirement,
            realm: Arc::from(DEFAULT_REALM),
        }
    }

    /// Sets the realm of the 403 challenge. Default: `"api"` (use the guard's realm).
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.realm = realm.into();
        self
    }
}

impl<S> Layer<S> for RequireScopeLayer {
    type Service = RequireScope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            layer: self.clone(),
        }
    }
}

/// Service made by [`RequireScopeLayer`].
#[derive(Clone, Debug)]
pub struct RequireScope<S> {
    inner: S,
    layer: RequireScopeLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScope<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let verdict = match request.extensions().get::<Principal>() {
            Some(principal) => self.layer.requirement.check(principal),
            None => Err(AuthError::GuardMissing),
        };
        match verdict {
            Ok(()) => ResponseFuture {
                kind: Kind::Inner {
                    future: self.inner.call(request),
                },
            },
            Err(error) => ResponseFuture {
                kind: Kind::Answer {
                    response: Some(Box::new(
                        error.to_response(&self.layer.realm, DEFAULT_RETRY_AFTER_SECS),
                    )),
                },
            },
        }
    }
}

pin_project! {
    /// Response future of [`RequireScope`].
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner { #[pin] future: F },
        Answer { response: Option<Box<Response<B>>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<String>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Answer { response } => Poll::Ready(Ok(match response.take() {
                Some(response) => *response,
                None => {
                    AuthError::GuardMissing.to_response(DEFAULT_REALM, DEFAULT_RETRY_AFTER_SECS)
                }
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VerifierKind;

    fn with(scopes: &[&str]) -> Principal {
        Principal::builder(VerifierKind::Jwt)
            .scopes(scopes.iter().copied())
            .build()
    }

    fn requirement(made: Result<ScopeRequirement, ConfigError>) -> ScopeRequirement {
        made.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn any_needs_one_all_needs_every_one() {
        let any = requirement(ScopeRequirement::any(["read", "write"]));
        let all = requirement(ScopeRequirement::all(["read", "write"]));
        assert!(any.is_met_by(&with(&["write"])));
        assert!(!any.is_met_by(&with(&["profile"])));
        assert!(all.is_met_by(&with(&["write", "read", "profile"])));
        assert!(!all.is_met_by(&with(&["read"])));
        assert_eq!(all.scope_list(), "read write");
    }

    #[test]
    fn an_empty_requirement_is_refused_when_built() {
        let none: [&str; 0] = [];
        for made in [
            ScopeRequirement::any(none),
            ScopeRequirement::all(none),
            RequireScopeLayer::any(none).map(|layer| layer.requirement),
            RequireScopeLayer::all(none).map(|layer| layer.requirement),
        ] {
            assert!(matches!(made, Err(ConfigError::Invalid { ref name, .. }) if name == "scopes"));
        }
    }

    #[test]
    fn a_scope_that_does_not_fit_the_challenge_is_refused() {
        for bad in ["", "two words", "quo\"te", "back\\slash", "tab\t", "é"] {
            assert!(ScopeRequirement::any([bad]).is_err(), "{bad:?}");
        }
        assert!(ScopeRequirement::all(["orders:read", "https://api.example/x!#$"]).is_ok());
    }
}
