//! [`TokenSource`]: keeps one access token, refreshes it ahead of its expiry, and runs at most
//! one fetch at a time, whose outcome every waiting caller shares.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::HeaderValue;
use tokio::sync::watch;
use tokio::time::Instant;

use super::error::TokenSourceError;
use super::grant::TokenEndpoint;
use super::retry::Fetcher;
use super::token::AccessToken;
use crate::log_limit::RateLimitedLog;

/// After a failed fetch, callers without a usable token get its error at once, and no new
/// fetch starts, for this long: 1 s (so a down endpoint sees at most one fetch — of a few
/// attempts — per second, and callers fail fast meanwhile).
pub(crate) const FAILURE_PAUSE: Duration = Duration::from_secs(1);
/// A token younger than this is not dropped by [`TokenSource::invalidate`]: 1 s (a resource
/// server that refuses every token would otherwise cause a fetch per request).
pub(crate) const MIN_AGE_TO_INVALIDATE: Duration = Duration::from_secs(1);
/// How much longer than the fetch's own total timeout a caller waits for it: 1 s.
const WAIT_GRACE: Duration = Duration::from_secs(1);

/// A fetch's outcome, shared by every caller waiting for it.
type Outcome = Option<Result<AccessToken, TokenSourceError>>;

/// Fetches an OAuth 2.0 access token with client credentials, keeps it, refreshes it before
/// it expires, and hands out `Authorization: Bearer …` values.
///
/// A cheap handle (an `Arc` inside): clone it into every task and client that needs the
/// token; all clones share one token and one fetch. See the [module docs](super) for when a
/// token is refreshed, how concurrent callers share a fetch, and what is retried.
///
/// Fetches run as tokio tasks on the caller's runtime, so a refresh started by one caller
/// finishes even if that caller is cancelled.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    fetcher: Fetcher,
    client_id: String,
    endpoint: TokenEndpoint,
    state: Mutex<State>,
    /// "access token fetch failed": at most one line per 10 s while an endpoint stays down.
    failure_log: RateLimitedLog,
}

#[derive(Default)]
struct State {
    /// The current token (possibly past its refresh point, never handed out once stale).
    token: Option<AccessToken>,
    /// The fetch in flight, if any.
    inflight: Option<watch::Receiver<Outcome>>,
    /// The last fetch failed: until when its error is the answer for callers without a usable
    /// token, and no fetch starts.
    failure: Option<(Instant, TokenSourceError)>,
}

impl TokenSource {
    pub(crate) fn from_parts(fetcher: Fetcher, client_id: String, endpoint: TokenEndpoint) -> Self {
        TokenSource {
            inner: Arc::new(Inner {
                fetcher,
                client_id,
                endpoint,
                state: Mutex::new(State::default()),
                failure_log: RateLimitedLog::default(),
            }),
        }
    }

    /// The current access token, fetching one first if there is none or it is stale.
    ///
    /// - A token that is still fresh is returned at once.
    /// - Past its refresh point (but not stale), it is still returned at once, and a refresh
    ///   starts in the background (unless one is running, or a fetch failed less than 1 s ago).
    /// - With no usable token the caller waits for the fetch in flight (starting one if none
    ///   runs): 1,000 concurrent callers cause one fetch and all get its outcome.
    ///
    /// # Errors
    /// The fetch's [`TokenSourceError`] (shared by every caller that waited for it, and
    /// returned at once for 1 s after it to callers without a usable token);
    /// [`TokenSourceError::NoRuntime`] outside a tokio runtime.
    pub async fn access_token(&self) -> Result<AccessToken, TokenSourceError> {
        let mut wait = match self.poll_token() {
            Poll::Ready(result) => return result,
            Poll::Wait(receiver) => receiver,
        };
        let patience = self.inner.fetcher.total_timeout + WAIT_GRACE;
        let outcome = match tokio::time::timeout(patience, wait.wait_for(Option::is_some)).await {
            Ok(Ok(outcome)) => outcome.clone(),
            Ok(Err(_)) | Err(_) => None,
        };
        match outcome {
            Some(result) => result,
            // The fetch task ended without a word (cancelled) or is overdue: forget it, so the
            // next caller starts afresh.
            None => {
                let mut state = self.inner.lock();
                if state
                    .inflight
                    .as_ref()
                    .is_some_and(|running| running.same_channel(&wait))
                {
                    state.inflight = None;
                }
                Err(TokenSourceError::Interrupted)
            }
        }
    }

    /// `Authorization: Bearer <token>` for the current token, marked sensitive; see
    /// [`access_token`](Self::access_token) for when it fetches.
    ///
    /// # Errors
    /// As for [`access_token`](Self::access_token).
    pub async fn bearer_header(&self) -> Result<HeaderValue, TokenSourceError> {
        self.access_token().await.map(|token| token.bearer_header())
    }

    /// Drops the current token if `rejected` is its `Authorization` value (say, a resource
    /// server answered 401 to it), so the next caller fetches a new one. A token fetched less
    /// than 1 s ago is kept, so a server that refuses every token cannot cause a fetch per
    /// request; so is a token that has already been replaced. Returns whether it was dropped.
    pub fn invalidate(&self, rejected: &HeaderValue) -> bool {
        let now = Instant::now();
        let mut state = self.inner.lock();
        let drop_it = state
            .token
            .as_ref()
            .is_some_and(|token| token.is(rejected) && token.age(now) >= MIN_AGE_TO_INVALIDATE);
        if drop_it {
            state.token = None;
            tracing::debug!(
                host = %self.inner.fetcher.request.host(),
                "access token dropped after a rejection; the next caller fetches a new one"
            );
        }
        drop_it
    }

    /// The header of a usable token, without waiting (starting a background refresh when the
    /// token is due); `None` when the caller would have to wait.
    pub(crate) fn ready_header(&self) -> Option<HeaderValue> {
        let now = Instant::now();
        let mut state = self.inner.lock();
        let token = state.token.as_ref().filter(|token| token.is_usable(now))?;
        let header = token.bearer_header();
        if token.wants_refresh(now) {
            let _ = self.start_fetch(&mut state, now);
        }
        Some(header)
    }

    /// The token now, or the fetch to wait for.
    fn poll_token(&self) -> Poll {
        let now = Instant::now();
        let mut state = self.inner.lock();
        if let Some(token) = state.token.as_ref().filter(|token| token.is_usable(now)) {
            let token = token.clone();
            if token.wants_refresh(now) {
                // A failure here (no runtime) leaves the refresh to a later caller.
                let _ = self.start_fetch(&mut state, now);
            }
            return Poll::Ready(Ok(token));
        }
        if let Some(running) = &state.inflight {
            return Poll::Wait(running.clone());
        }
        if let Some((until, error)) = &state.failure
            && now < *until
        {
            return Poll::Ready(Err(error.clone()));
        }
        match self.start_fetch(&mut state, now) {
            Ok(receiver) => Poll::Wait(receiver),
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    /// Starts a fetch unless one runs or the last one failed less than [`FAILURE_PAUSE`] ago;
    /// returns the channel its outcome arrives on.
    fn start_fetch(
        &self,
        state: &mut State,
        now: Instant,
    ) -> Result<watch::Receiver<Outcome>, TokenSourceError> {
        if let Some(running) = &state.inflight {
            return Ok(running.clone());
        }
        if let Some((until, error)) = &state.failure
            && now < *until
        {
            return Err(error.clone());
        }
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| TokenSourceError::NoRuntime)?;
        let (sender, receiver) = watch::channel(None);
        state.inflight = Some(receiver.clone());
        let inner = Arc::clone(&self.inner);
        runtime.spawn(run_fetch(inner, sender));
        Ok(receiver)
    }
}

/// What [`TokenSource::poll_token`] found.
enum Poll {
    Ready(Result<AccessToken, TokenSourceError>),
    Wait(watch::Receiver<Outcome>),
}

/// The fetch task: fetch, store the outcome, tell every waiter. If the task is cancelled
/// (the runtime shutting down), the guard clears the in-flight mark and the dropped sender
/// tells the waiters.
async fn run_fetch(inner: Arc<Inner>, sender: watch::Sender<Outcome>) {
    let mut guard = ClearOnDrop(Some(Arc::clone(&inner)));
    let host = inner.fetcher.request.host().to_owned();
    tracing::debug!(%host, "fetching an access token");
    let outcome = inner.fetcher.fetch().await;
    {
        let mut state = inner.lock();
        state.inflight = None;
        match &outcome {
            Ok(token) => {
                tracing::debug!(%host, lifetime = ?token.lifetime(), "access token fetched");
                state.token = Some(token.clone());
                state.failure = None;
            }
            Err(error) => {
                let still_usable = state
                    .token
                    .as_ref()
                    .is_some_and(|token| token.is_usable(Instant::now()));
                inner.failure_log.warn(|suppressed| {
                    tracing::warn!(
                        %host, %error, still_usable, suppressed,
                        "access token fetch failed"
                    );
                });
                state.failure = Some((Instant::now() + FAILURE_PAUSE, error.clone()));
            }
        }
    }
    guard.0 = None;
    let _ = sender.send(Some(outcome));
}

/// Clears the in-flight mark if the fetch task ends early (disarmed by taking the `Arc` out).
struct ClearOnDrop(Option<Arc<Inner>>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        if let Some(inner) = &self.0 {
            inner.lock().inflight = None;
        }
    }
}

impl Inner {
    /// Locks the state (held for a few field reads and writes, never across an `.await`). A
    /// poisoned lock is still usable: every critical section leaves the state consistent.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("TokenSource")
            .field("endpoint", &self.inner.endpoint)
            .field("client_id", &self.inner.client_id)
            .field("token", &state.token)
            .field("fetching", &state.inflight.is_some())
            .finish_non_exhaustive()
    }
}
