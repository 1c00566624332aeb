//! [`BearerGuard`]: the service the layer wraps around a route.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::Service;

use super::answer_count::CountAtAnswer;
use super::core::{GuardCore, Lookup};
use super::future::ResponseFuture;
use crate::rejection::{DefaultRejection, RejectionResponse, reject};
use crate::token::BearerToken;

/// Middleware that lets a request through only with a valid bearer token. Made by
/// [`BearerGuardLayer`](crate::BearerGuardLayer).
///
/// Every rejection is an `Ok` response (401, 400, 403, 503), never an `Err`, so no
/// `HandleErrorLayer` is needed. On success the request carries a
/// [`Principal`](crate::Principal) in its extensions; a rejection carries the
/// [`AuthError`](crate::AuthError) in its extensions. `R` builds rejections
/// ([`RejectionResponse`]).
pub struct BearerGuard<S, R = DefaultRejection> {
    inner: S,
    core: Arc<GuardCore>,
    rejection: R,
}

impl<S, R> BearerGuard<S, R> {
    pub(crate) fn new(inner: S, core: Arc<GuardCore>, rejection: R) -> Self {
        BearerGuard {
            inner,
            core,
            rejection,
        }
    }
}

impl<S: Clone, R: Clone> Clone for BearerGuard<S, R> {
    fn clone(&self) -> Self {
        BearerGuard {
            inner: self.inner.clone(),
            core: Arc::clone(&self.core),
            rejection: self.rejection.clone(),
        }
    }
}

impl<S: std::fmt::Debug, R> std::fmt::Debug for BearerGuard<S, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerGuard")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for BearerGuard<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    R: RejectionResponse<ResBody> + Clone,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let (key, token) = match self.core.lookup(request.headers()) {
            Lookup::Allow(principal) => {
                // The hit path: the ready inner service is called at once, nothing boxed; the
                // outcome is counted when it answers.
                request.extensions_mut().insert(principal);
                let count = CountAtAnswer::new(Arc::clone(&self.core));
                return ResponseFuture::inner(self.inner.call(request), count);
            }
            Lookup::Deny(error) => {
                let settings = &self.core.settings;
                return ResponseFuture::rejected(reject(
                    &self.rejection,
                    error,
                    &settings.realm,
                    settings.retry_after_secs,
                ));
            }
            Lookup::Miss(key, token) => (key, BearerToken::new(token)),
        };
        // The miss path: take the service that was made ready (leave a fresh clone behind),
        // verify, then call it.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let verification = Box::pin(Arc::clone(&self.core).decide(key, token));
        ResponseFuture::verifying(
            verification,
            request,
            ready,
            Arc::clone(&self.core),
            self.rejection.clone(),
        )
    }
}
