//! The circuit breaker in front of every Redis command: after a few consecutive failures the
//! shared tier is skipped (no Redis call, no added latency) for a while, then one probe decides.
//!
//! Closed → (3 consecutive failures) → open for 1 s → half-open: one call goes through (the
//! probe), every other call is skipped → success: closed; failure: open again for twice as
//! long, at most 30 s. A success while closed resets the failure count.
//!
//! The revocation feed (`feed.rs`) is the other witness of Redis: its subscription is a
//! second connection that retries at least once a second while it is down. So
//! - the feed coming back closes the breaker at once if the data connection answers too: the
//!   subscriber then sends one `PING` over the store's connection under
//!   [`Breaker::permit_always`], whose success closes the breaker (`revocation.rs`), so the
//!   miss path reads deny markers and shares verdicts again now, not when a 30 s backoff
//!   ends. Its failure (the data connection still stuck on a dead socket while the
//!   subscription's new one gets through) leaves the breaker open: no miss then waits a
//!   Redis timeout for a connection that does not answer;
//! - while the feed is up, an open breaker lets a probe through at least once a second
//!   ([`PROBE_WHILE_FEED_UP`]), whatever its backoff: Redis answers the subscription, so the
//!   failures are likely short (a `-LOADING` server, one broken connection). While the feed
//!   is down the backoff doubles to 30 s as before, and the feed's return ends it.
//!
//! A call too rare and important to skip (an admin revocation) takes
//! [`Breaker::permit_always`]: it goes through even while the breaker is open, and its
//! success closes the breaker.
//!
//! A [`Permit`] is a guard: a probe permit dropped without [`Permit::record`] (the request
//! future was dropped mid-call, e.g. the client hung up) counts as a failed probe, so the
//! breaker goes back to open with its backoff instead of staying half-open with no probe out.
//! A dropped ordinary permit records nothing (a cancelled call says nothing about Redis).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use metrics::Gauge;
use tokio::time::Instant;

use super::feed::Feed;

/// Consecutive failures that open the breaker.
pub(crate) const FAILURES_TO_OPEN: u32 = 3;
/// First open period.
pub(crate) const FIRST_OPEN: Duration = Duration::from_secs(1);
/// Longest open period.
pub(crate) const MAX_OPEN: Duration = Duration::from_secs(30);
/// Longest an open breaker waits for its probe while the revocation feed is up.
pub(crate) const PROBE_WHILE_FEED_UP: Duration = Duration::from_secs(1);

/// The breaker's state, as the `bearer_guard_redis_circuit_state` gauge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CircuitState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    /// Opened at `since`; the probe is due `period` later (at most
    /// [`PROBE_WHILE_FEED_UP`] later while the feed is up).
    Open {
        since: Instant,
        period: Duration,
    },
    /// A probe is out; `period` is the open period that preceded it.
    HalfOpen {
        period: Duration,
    },
}

/// See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Breaker {
    state: Mutex<State>,
    /// `bearer_guard_redis_circuit_state`, set on every change.
    gauge: Gauge,
    /// Whether the revocation feed is up: an open breaker probes at least once a second then.
    feed: Arc<Feed>,
}

/// Leave to make one call; report how it went with [`Permit::record`]. Dropping a probe
/// permit unrecorded counts as a failed probe (see the [module docs](self)).
#[derive(Debug)]
#[must_use]
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    recorded: bool,
}

impl Permit<'_> {
    /// Records the outcome of the call this permit allowed; returns the state after it.
    pub(crate) fn record(mut self, success: bool) -> CircuitState {
        self.recorded = true;
        self.breaker.record_outcome(self.probe, success)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.recorded && self.probe {
            self.breaker.record_outcome(true, false);
        }
    }
}

impl Breaker {
    pub(crate) fn new(gauge: Gauge, feed: Arc<Feed>) -> Self {
        gauge.set(CircuitState::Closed as u8 as f64);
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
            gauge,
            feed,
        }
    }

    /// Leave to call Redis now, or `None` while the breaker is open (or a probe is out).
    pub(crate) fn permit(&self) -> Option<Permit<'_>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let probe = match *state {
            State::Closed { .. } => false,
            State::Open { since, period } if Instant::now() >= since + self.wait(period) => {
                *state = State::HalfOpen { period };
                self.gauge.set(CircuitState::HalfOpen as u8 as f64);
                true
            }
            State::Open { .. } | State::HalfOpen { .. } => return None,
        };
        Some(Permit {
            breaker: self,
            probe,
            recorded: false,
        })
    }

    /// Leave to call Redis now, whatever the state: for a call too rare and important to skip
    /// (an admin revocation). Its success closes the breaker; its failure counts as an
    /// ordinary call's.
    pub(crate) fn permit_always(&self) -> Permit<'_> {
        Permit {
            breaker: self,
            probe: false,
            recorded: false,
        }
    }

    /// How long an open period of `period` keeps the probe back now.
    fn wait(&self, period: Duration) -> Duration {
        if self.feed.is_up() {
            period.min(PROBE_WHILE_FEED_UP)
        } else {
            period
        }
    }

    /// Records the outcome of a call (`probe`: the half-open probe's); returns the state after.
    fn record_outcome(&self, probe: bool, success: bool) -> CircuitState {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let next = match (&*state, success) {
            (_, true) => State::Closed { failures: 0 },
            (State::HalfOpen { period }, false) if probe => State::Open {
                since: Instant::now(),
                period: (*period * 2).min(MAX_OPEN),
            },
            (State::Closed { failures }, false) if failures + 1 >= FAILURES_TO_OPEN => {
                State::Open {
                    since: Instant::now(),
                    period: FIRST_OPEN,
                }
            }
            (State::Closed { failures }, false) => State::Closed {
                failures: failures + 1,
            },
            // A call let through before the breaker opened failed late: the state stands.
            (State::Open { since, period }, false) => State::Open {
                since: *since,
                period: *period,
            },
            (State::HalfOpen { period }, false) => State::HalfOpen { period: *period },
        };
        *state = next;
        let now = state_of(&state);
        self.gauge.set(now as u8 as f64);
        now
    }

    /// The current state.
    pub(crate) fn state(&self) -> CircuitState {
        state_of(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn state_of(state: &State) -> CircuitState {
    match state {
        State::Closed { .. } => CircuitState::Closed,
        State::Open { .. } => CircuitState::Open,
        State::HalfOpen { .. } => CircuitState::HalfOpen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A breaker whose revocation feed is down (never subscribed).
    fn breaker() -> Breaker {
        Breaker::new(Gauge::noop(), Arc::new(Feed::default()))
    }

    /// A breaker and its feed, up.
    fn breaker_with_feed_up() -> (Breaker, Arc<Feed>) {
        let feed = Arc::new(Feed::default());
        feed.reestablished();
        feed.set_up();
        (Breaker::new(Gauge::noop(), Arc::clone(&feed)), feed)
    }

    /// Opens `breaker` and backs it off to `MAX_OPEN` by failed probes.
    async fn back_off_fully(breaker: &Breaker) {
        for _ in 0..FAILURES_TO_OPEN {
            fail(breaker);
        }
        let mut period = FIRST_OPEN;
        for _ in 0..6 {
            tokio::time::advance(period).await;
            assert_eq!(fail(breaker), CircuitState::Open);
            period = (period * 2).min(MAX_OPEN);
        }
    }

    fn fail(breaker: &Breaker) -> CircuitState {
        match breaker.permit() {
            Some(permit) => permit.record(false),
            None => breaker.state(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_three_failures_then_probes_once_and_doubles() {
        let breaker = breaker();
        assert_eq!(fail(&breaker), CircuitState::Closed);
        assert_eq!(fail(&breaker), CircuitState::Closed);
        assert_eq!(fail(&breaker), CircuitState::Open);
        assert!(breaker.permit().is_none());
        tokio::time::advance(FIRST_OPEN).await;
        let probe = breaker.permit();
        assert!(probe.is_some());
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        // (A second permit is refused while the probe is out.)
        assert!(breaker.permit().is_none(), "one probe at a time");
        if let Some(probe) = probe {
            assert_eq!(probe.record(false), CircuitState::Open);
        }
        tokio::time::advance(FIRST_OPEN).await;
        assert!(
            breaker.permit().is_none(),
            "open twice as long after a failed probe"
        );
        tokio::time::advance(FIRST_OPEN).await;
        let probe = breaker.permit();
        assert!(probe.is_some());
        if let Some(probe) = probe {
            assert_eq!(probe.record(true), CircuitState::Closed);
        }
        assert!(breaker.permit().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_open_period_stops_doubling_at_thirty_seconds() {
        let breaker = breaker();
        for _ in 0..FAILURES_TO_OPEN {
            fail(&breaker);
        }
        let mut period = FIRST_OPEN;
        for _ in 0..10 {
            tokio::time::advance(period).await;
            assert_eq!(fail(&breaker), CircuitState::Open);
            period = (period * 2).min(MAX_OPEN);
        }
        tokio::time::advance(MAX_OPEN - Duration::from_millis(1)).await;
        assert!(breaker.permit().is_none());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(breaker.permit().is_some());
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = breaker();
        fail(&breaker);
        fail(&breaker);
        if let Some(permit) = breaker.permit() {
            permit.record(true);
        }
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_counts_as_failed_and_a_new_probe_follows() {
        let breaker = breaker();
        for _ in 0..FAILURES_TO_OPEN {
            fail(&breaker);
        }
        tokio::time::advance(FIRST_OPEN).await;
        let probe = breaker.permit();
        assert!(probe.is_some());
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        // The request future holding the probe is dropped mid-call.
        drop(probe);
        assert_eq!(breaker.state(), CircuitState::Open, "not stuck half-open");
        assert!(breaker.permit().is_none(), "open again, with its backoff");
        tokio::time::advance(FIRST_OPEN * 2).await;
        let next = breaker.permit();
        assert!(next.is_some(), "a new probe is granted");
        if let Some(next) = next {
            assert_eq!(next.record(true), CircuitState::Closed);
        }
    }

    #[test]
    fn a_dropped_ordinary_permit_records_nothing() {
        let breaker = breaker();
        fail(&breaker);
        fail(&breaker);
        drop(breaker.permit());
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn the_feed_coming_back_closes_an_open_breaker_at_once_if_the_data_ping_answers() {
        let feed = Arc::new(Feed::default());
        let breaker = Breaker::new(Gauge::noop(), Arc::clone(&feed));
        back_off_fully(&breaker).await;
        assert!(breaker.permit().is_none(), "backed off");
        // The subscriber re-subscribes: epoch, flush, up, then the data connection's PING.
        feed.reestablished();
        feed.set_up();
        // Unanswered (the data connection is stuck): the breaker stays open.
        assert_eq!(breaker.permit_always().record(false), CircuitState::Open);
        assert_eq!(breaker.state(), CircuitState::Open);
        // Answered: closed at once.
        assert_eq!(breaker.permit_always().record(true), CircuitState::Closed);
        assert_eq!(breaker.state(), CircuitState::Closed);
        let permit = breaker.permit();
        assert!(permit.is_some(), "no wait at all");
        if let Some(permit) = permit {
            assert!(!permit.probe, "an ordinary call, not a lone probe");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn while_the_feed_is_up_an_open_breaker_probes_at_least_once_a_second() {
        let (breaker, feed) = breaker_with_feed_up();
        feed.lost();
        back_off_fully(&breaker).await;
        // The feed is back but the breaker is not closed by it (say, Redis answers the
        // subscription while the data connection fails): the 30 s backoff no longer holds.
        feed.reestablished();
        feed.set_up();
        for _ in 0..5 {
            tokio::time::advance(PROBE_WHILE_FEED_UP - Duration::from_millis(1)).await;
            assert!(breaker.permit().is_none(), "not before a second");
            tokio::time::advance(Duration::from_millis(1)).await;
            assert_eq!(fail(&breaker), CircuitState::Open, "a probe each second");
        }
        tokio::time::advance(PROBE_WHILE_FEED_UP).await;
        let probe = breaker.permit();
        assert!(probe.is_some());
        if let Some(probe) = probe {
            assert_eq!(probe.record(true), CircuitState::Closed);
        }
        // Lost again: the long backoff is back (the feed's return will end it).
        feed.lost();
        back_off_fully(&breaker).await;
        tokio::time::advance(PROBE_WHILE_FEED_UP * 2).await;
        assert!(breaker.permit().is_none(), "feed down: the backoff holds");
    }

    #[tokio::test(start_paused = true)]
    async fn a_permit_always_goes_through_an_open_breaker_and_its_success_closes_it() {
        let breaker = breaker();
        back_off_fully(&breaker).await;
        assert!(breaker.permit().is_none());
        assert_eq!(breaker.permit_always().record(false), CircuitState::Open);
        assert!(breaker.permit().is_none(), "a failure leaves the backoff");
        assert_eq!(breaker.permit_always().record(true), CircuitState::Closed);
        assert!(breaker.permit().is_some());
    }
}
