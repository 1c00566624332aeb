//! The circuit breaker in front of every Redis command: after a few consecutive failures the
//! shared tier is skipped (no Redis call, no added latency) for a while, then one probe decides.
//!
//! Closed → (3 consecutive failures) → open for 1 s → half-open: one call goes through (the
//! probe), every other call is skipped → success: closed; failure: open again for twice as
//! long, at most 30 s. A success while closed resets the failure count.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Consecutive failures that open the breaker.
pub(crate) const FAILURES_TO_OPEN: u32 = 3;
/// First open period.
pub(crate) const FIRST_OPEN: Duration = Duration::from_secs(1);
/// Longest open period.
pub(crate) const MAX_OPEN: Duration = Duration::from_secs(30);

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
    Open {
        until: Instant,
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
}

/// Leave to make one call; report how it went with [`Breaker::record`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub(crate) struct Permit {
    probe: bool,
}

impl Breaker {
    pub(crate) fn new() -> Self {
        Breaker {
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Leave to call Redis now, or `None` while the breaker is open (or a probe is out).
    pub(crate) fn permit(&self) -> Option<Permit> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match *state {
            State::Closed { .. } => Some(Permit { probe: false }),
            State::Open { until, period } if Instant::now() >= until => {
                *state = State::HalfOpen { period };
                Some(Permit { probe: true })
            }
            State::Open { .. } | State::HalfOpen { .. } => None,
        }
    }

    /// Records the outcome of the call `permit` allowed; returns the state after it.
    pub(crate) fn record(&self, permit: Permit, success: bool) -> CircuitState {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let next = match (&*state, success) {
            (_, true) => State::Closed { failures: 0 },
            (State::HalfOpen { period }, false) if permit.probe => State::Open {
                until: Instant::now() + (*period * 2).min(MAX_OPEN),
                period: (*period * 2).min(MAX_OPEN),
            },
            (State::Closed { failures }, false) if failures + 1 >= FAILURES_TO_OPEN => {
                State::Open {
                    until: Instant::now() + FIRST_OPEN,
                    period: FIRST_OPEN,
                }
            }
            (State::Closed { failures }, false) => State::Closed {
                failures: failures + 1,
            },
            // A call let through before the breaker opened failed late: the state stands.
            (State::Open { until, period }, false) => State::Open {
                until: *until,
                period: *period,
            },
            (State::HalfOpen { period }, false) => State::HalfOpen { period: *period },
        };
        *state = next;
        state_of(&state)
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

    fn fail(breaker: &Breaker) -> CircuitState {
        match breaker.permit() {
            Some(permit) => breaker.record(permit, false),
            None => breaker.state(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_three_failures_then_probes_once_and_doubles() {
        let breaker = Breaker::new();
        assert_eq!(fail(&breaker), CircuitState::Closed);
        assert_eq!(fail(&breaker), CircuitState::Closed);
        assert_eq!(fail(&breaker), CircuitState::Open);
        assert!(breaker.permit().is_none());
        tokio::time::advance(FIRST_OPEN).await;
        let probe = breaker.permit();
        assert!(probe.is_some());
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert!(breaker.permit().is_none(), "one probe at a time");
        if let Some(probe) = probe {
            assert_eq!(breaker.record(probe, false), CircuitState::Open);
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
            assert_eq!(breaker.record(probe, true), CircuitState::Closed);
        }
        assert!(breaker.permit().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn the_open_period_stops_doubling_at_thirty_seconds() {
        let breaker = Breaker::new();
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
        let breaker = Breaker::new();
        fail(&breaker);
        fail(&breaker);
        if let Some(permit) = breaker.permit() {
            breaker.record(permit, true);
        }
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}
