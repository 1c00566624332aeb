//! Response futures of [`BearerGuard`](crate::BearerGuard).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::core::GuardCore;
use crate::cache::Outcome;
use crate::error::AuthError;

type Verification = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pin_project! {
    /// Response future of [`BearerGuard`](crate::BearerGuard).
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        // The token was known: the inner service is running.
        Inner { #[pin] future: S::Future },
        // The token is being verified; the request and the ready service wait for the answer.
        Verifying {
            verification: Verification,
            request: Option<Request<ReqBody>>,
            service: Option<S>,
            core: Arc<GuardCore>,
        },
        // The answer is a rejection, already built.
        Answer { response: Option<S::Response> },
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn inner(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Inner { future },
        }
    }

    pub(crate) fn answer(response: S::Response) -> Self {
        ResponseFuture {
            state: State::Answer {
                response: Some(response),
            },
        }
    }

    pub(crate) fn verifying(
        verification: Verification,
        request: Request<ReqBody>,
        service: S,
        core: Arc<GuardCore>,
    ) -> Self {
        ResponseFuture {
            state: State::Verifying {
                verification,
                request: Some(request),
                service: Some(service),
                core,
            },
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<String>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Inner { future } => return future.poll(cx),
                StateProj::Answer { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        // Polled again after completion: answer 503 rather than panic.
                        None => {
                            Poll::Ready(Ok(AuthError::VerifierUnavailable.to_response("api", 5)))
                        }
                    };
                }
                StateProj::Verifying {
                    verification,
                    request,
                    service,
                    core,
                } => {
                    let outcome = ready!(verification.as_mut().poll(cx));
                    let settings = &core.settings;
                    match outcome {
                        Outcome::Valid(principal) => match (request.take(), service.take()) {
                            (Some(mut request), Some(mut service)) => {
                                request.extensions_mut().insert(principal);
                                State::Inner {
                                    future: service.call(request),
                                }
                            }
                            _ => State::Answer {
                                response: Some(
                                    AuthError::VerifierUnavailable
                                        .to_response(&settings.realm, settings.retry_after_secs),
                                ),
                            },
                        },
                        Outcome::Invalid => State::Answer {
                            response: Some(
                                AuthError::InvalidToken
                                    .to_response(&settings.realm, settings.retry_after_secs),
                            ),
                        },
                        Outcome::Unavailable => State::Answer {
                            response: Some(
                                AuthError::VerifierUnavailable
                                    .to_response(&settings.realm, settings.retry_after_secs),
                            ),
                        },
                    }
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}
