//! The response future of [`AddBearer`](super::AddBearer).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::Service;

use super::error::TokenSourceError;
use super::source::TokenSource;
use crate::verify::{BoxError, BoxFuture};

pin_project! {
    /// Response future of [`AddBearer`](super::AddBearer): waits for a token if the source had
    /// none ready, then for the inner service's response.
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
        // The token the request went out with and its source, to drop it on a 401.
        sent_with: Option<(HeaderValue, TokenSource)>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        // The inner service is running.
        Calling { #[pin] future: S::Future },
        // Waiting for a token; the request and the ready service wait with it (boxed: the
        // waiting path allocates anyway, and the common path stays small).
        Waiting { pending: Option<Box<Pending<S, ReqBody>>> },
    }
}

/// A request waiting for its token.
struct Pending<S, ReqBody> {
    token: BoxFuture<'static, Result<HeaderValue, TokenSourceError>>,
    source: TokenSource,
    request: Request<ReqBody>,
    service: S,
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    /// A request that does not get the token (another origin).
    pub(crate) fn untouched(future: S::Future) -> Self {
        ResponseFuture {
            state: State::Calling { future },
            sent_with: None,
        }
    }

    /// A request sent with `header`.
    pub(crate) fn sent(future: S::Future, header: HeaderValue, source: TokenSource) -> Self {
        ResponseFuture {
            state: State::Calling { future },
            sent_with: Some((header, source)),
        }
    }

    /// A request that waits for a token from `source`, then goes to `service` (polled ready).
    pub(crate) fn waiting(source: TokenSource, request: Request<ReqBody>, service: S) -> Self {
        let fetching = source.clone();
        let token: BoxFuture<'static, _> = Box::pin(async move { fetching.bearer_header().await });
        ResponseFuture {
            state: State::Waiting {
                pending: Some(Box::new(Pending {
                    token,
                    source,
                    request,
                    service,
                })),
            },
            sent_with: None,
        }
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<Response<ResBody>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let response = ready!(future.poll(cx)).map_err(Into::into)?;
                    if response.status() == StatusCode::UNAUTHORIZED
                        && let Some((header, source)) = this.sent_with.take()
                    {
                        source.invalidate(&header);
                    }
                    return Poll::Ready(Ok(response));
                }
                StateProj::Waiting { pending } => {
                    let Some(waiting) = pending.as_mut() else {
                        return Poll::Ready(Err(TokenSourceError::Interrupted.into()));
                    };
                    let token = ready!(waiting.token.as_mut().poll(cx));
                    let Some(waiting) = pending.take() else {
                        return Poll::Ready(Err(TokenSourceError::Interrupted.into()));
                    };
                    let header = token?;
                    let Pending {
                        source,
                        mut request,
                        mut service,
                        ..
                    } = *waiting;
                    request.headers_mut().insert(AUTHORIZATION, header.clone());
                    let future = service.call(request);
                    *this.sent_with = Some((header, source));
                    this.state.set(State::Calling { future });
                }
            }
        }
    }
}

impl<S, ReqBody> std::fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
