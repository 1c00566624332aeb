//! The response future of [`BearerGuard`](crate::BearerGuard).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::answer_count::CountAtAnswer;
use super::core::GuardCore;
use crate::cache::Outcome;
use crate::error::{AuthError, DEFAULT_REALM, DEFAULT_RETRY_AFTER_SECS};
use crate::rejection::{DefaultRejection, RejectionResponse, reject};

type Verification = Pin<Box<dyn Future<Output = Outcome> + Send>>;

pin_project! {
    /// Response future of [`BearerGuard`](crate::BearerGuard).
    pub struct ResponseFuture<S, ReqBody, R = DefaultRejection>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody, R>
    where
        S: Service<Request<ReqBody>>,
    {
        // The token was known: the inner service is running; its answer is counted.
        Inner { #[pin] future: S::Future, count: CountAtAnswer },
        // The token is being verified; the request and the ready service wait for the answer.
        // Boxed: the miss path allocates anyway, and a small future is cheaper to move on the
        // hit path.
        Verifying { pending: Option<Box<Pending<S, ReqBody, R>>> },
        // The answer is a rejection, already built (boxed for the same reason).
        Rejected { response: Option<Box<S::Response>> },
    }
}

/// A request waiting for its token's verification.
struct Pending<S, ReqBody, R> {
    verification: Verification,
    request: Request<ReqBody>,
    service: S,
    core: Arc<GuardCore>,
    rejection: R,
}

impl<S, ReqBody, R> ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn inner(future: S::Future, count: CountAtAnswer) -> Self {
        ResponseFuture {
            state: State::Inner { future, count },
        }
    }

    pub(crate) fn rejected(response: S::Response) -> Self {
        ResponseFuture {
            state: State::Rejected {
                response: Some(Box::new(response)),
            },
        }
    }

    pub(crate) fn verifying(
        verification: Verification,
        request: Request<ReqBody>,
        service: S,
        core: Arc<GuardCore>,
        rejection: R,
    ) -> Self {
        ResponseFuture {
            state: State::Verifying {
                pending: Some(Box::new(Pending {
                    verification,
                    request,
                    service,
                    core,
                    rejection,
                })),
            },
        }
    }
}

impl<S, ReqBody, R, ResBody> Future for ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: RejectionResponse<ResBody>,
    ResBody: From<String>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Inner { future, count } => {
                    let output = ready!(future.poll(cx));
                    count.answered(output.as_ref().ok());
                    return Poll::Ready(output);
                }
                StateProj::Rejected { response } => {
                    return Poll::Ready(Ok(match response.take() {
                        Some(response) => *response,
                        // Polled again after completion: answer 503 rather than panic.
                        None => AuthError::VerifierUnavailable
                            .to_response(DEFAULT_REALM, DEFAULT_RETRY_AFTER_SECS),
                    }));
                }
                StateProj::Verifying { pending } => {
                    let Some(waiting) = pending.as_mut() else {
                        return Poll::Ready(Ok(AuthError::VerifierUnavailable
                            .to_response(DEFAULT_REALM, DEFAULT_RETRY_AFTER_SECS)));
                    };
                    let outcome = ready!(waiting.verification.as_mut().poll(cx));
                    let Some(waiting) = pending.take() else {
                        continue;
                    };
                    let Pending {
                        mut request,
                        mut service,
                        core,
                        rejection,
                        ..
                    } = *waiting;
                    let settings = &core.settings;
                    let error = match outcome {
                        Outcome::Valid(principal) => {
                            request.extensions_mut().insert(principal);
                            let future = service.call(request);
                            let count = CountAtAnswer::new(core);
                            let inner = State::Inner { future, count };
                            self.as_mut().project().state.set(inner);
                            continue;
                        }
                        Outcome::Invalid => AuthError::InvalidToken,
                        Outcome::Unavailable => AuthError::VerifierUnavailable,
                    };
                    State::Rejected {
                        response: Some(Box::new(reject(
                            &rejection,
                            error,
                            &settings.realm,
                            settings.retry_after_secs,
                        ))),
                    }
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}

impl<S, ReqBody, R> std::fmt::Debug for ResponseFuture<S, ReqBody, R>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Inner { .. } => "inner",
            State::Verifying { .. } => "verifying",
            State::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
