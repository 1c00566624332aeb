//! [`RequireScope`]: the service the layer wraps around a route.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::ScopeRequirement;
use super::future::ResponseFuture;
use crate::error::{AuthError, DEFAULT_RETRY_AFTER_SECS};
use crate::principal::Principal;
use crate::rejection::{DefaultRejection, RejectionResponse, reject};

impl ScopeRequirement {
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

/// Service made by [`RequireScopeLayer`](super::RequireScopeLayer). A rejection carries the
/// [`AuthError`] in its extensions.
#[derive(Clone)]
pub struct RequireScope<S, R = DefaultRejection> {
    pub(super) inner: S,
    pub(super) requirement: ScopeRequirement,
    pub(super) realm: Arc<str>,
    pub(super) rejection: R,
}

impl<S: std::fmt::Debug, R> std::fmt::Debug for RequireScope<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScope")
            .field("inner", &self.inner)
            .field("requirement", &self.requirement)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for RequireScope<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RejectionResponse<ResBody>,
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
            Some(principal) => self.requirement.check(principal),
            None => Err(AuthError::GuardMissing),
        };
        match verdict {
            Ok(()) => ResponseFuture::inner(self.inner.call(request)),
            // Not counted here: the guard around this layer counts the request once, with the
            // outcome of the `AuthError` in this response's extensions.
            Err(error) => ResponseFuture::refused(reject(
                &self.rejection,
                error,
                &self.realm,
                DEFAULT_RETRY_AFTER_SECS,
            )),
        }
    }
}
