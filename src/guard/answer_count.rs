//! Counting a request the guard let through, once its route has answered.
//!
//! `bearer_guard_requests_total` has one outcome per request. The guard's own refusals are
//! counted where it decides them (`core.rs`); a request it lets through is counted here, when
//! the inner service's response is ready, with the outcome of the [`AuthError`] that response
//! carries in its extensions — a scope layer's 403 (`insufficient_scope`), or any other
//! rejection built with the crate's [`reject`](crate::rejection) path, a handler's `AuthError`
//! included — else `allowed`. So a request refused by a scope layer counts once, as
//! `insufficient_scope`, never also as `allowed`.
//!
//! A request whose inner service fails (`Err`), or whose future is dropped before the answer
//! (the client went away, a timeout above the guard), is counted `allowed`: the guard let it
//! through and nothing refused it — as the guard counted every such request before. The sum
//! over outcomes therefore equals the number of requests the guard answered or let through (a
//! request cancelled while its token is still being verified is counted nowhere).
//!
//! Cost on the cache-hit path: one `Arc` clone of the guard's core (no allocation), one
//! extensions lookup on the response (an empty map: a pointer check) and the counter's atomic
//! add, which was paid before too.

use std::sync::Arc;

use http::Response;

use super::core::GuardCore;
use crate::error::AuthError;
use crate::telemetry::DecisionOutcome;

/// Counts the outcome of one let-through request exactly once: at the answer, or when
/// dropped unanswered (`allowed`).
pub(crate) struct CountAtAnswer {
    core: Option<Arc<GuardCore>>,
}

impl CountAtAnswer {
    pub(crate) fn new(core: Arc<GuardCore>) -> Self {
        CountAtAnswer { core: Some(core) }
    }

    /// The inner service answered `response` (or failed: `None`). Counts once.
    pub(crate) fn answered<B>(&mut self, response: Option<&Response<B>>) {
        let Some(core) = self.core.take() else {
            return;
        };
        let outcome = response
            .and_then(|response| response.extensions().get::<AuthError>())
            .and_then(DecisionOutcome::of_rejection)
            .unwrap_or(DecisionOutcome::Allowed);
        core.metrics.request(outcome);
    }
}

impl Drop for CountAtAnswer {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            core.metrics.request(DecisionOutcome::Allowed);
        }
    }
}

impl std::fmt::Debug for CountAtAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountAtAnswer")
            .field("counted", &self.core.is_none())
            .finish()
    }
}
