//! [`RequireScope`]: the service the layer wraps around a route.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::ScopeRequirement;
use super::future::ResponseFuture;
use super::layer::RequireScopeLayer;
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

/// Service made by [`RequireScopeLayer`]. A rejection carries the
/// [`AuthError`] in its extensions.
#[derive(Clone, Debug)]
pub struct RequireScope<S, R = DefaultRejection> {
    pub(super) inner: S,
    pub(super) layer: RequireScopeLayer<R>,
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
            Some(principal) => self.layer.requirement.check(principal),
            None => Err(AuthError::GuardMissing),
        };
        match verdict {
            Ok(()) => ResponseFuture::inner(self.inner.call(request)),
            // Not counted here: the guard around this layer counts the request once, with the
            // outcome of the `AuthError` in this response's extensions.
            Err(error) => ResponseFuture::refused(reject(
                &self.layer.rejection,
                error,
                &self.layer.realm,
                DEFAULT_RETRY_AFTER_SECS,
            )),
        }
    }
}
