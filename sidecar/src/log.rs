//! One structured log line per decision, rate-limited.
//!
//! Each `/auth` request gives one `tracing` event at `info` on the target
//! `bearer_guard_sidecar::decision`, with the fields `method`, `path` (normalised, without the
//! query, cut to [`MAX_LOGGED_PATH`] bytes), `rule` (the rule's `name`, else its number, else
//! `default`), `outcome` (`public`, `denied`, `bad_request`, or the guard's: `allowed`,
//! `missing_token`, `invalid_request`, `invalid_token`, `insufficient_scope`,
//! `unavailable`), `status` and `latency_us`. Never the token, the `Authorization` header or
//! the subject.
//!
//! At most [`DECISION_LINES_PER_SECOND`] lines a second go out
//! ([`bearer_guard::log_limit::RateLimitedLog`]); the first line after a held
//! back stretch carries `suppressed = N`, and every held-back line counts in
//! `bearer_guard_log_lines_suppressed_total`.

use std::time::Duration;

use bearer_guard::log_limit::RateLimitedLog;
use http::{Method, StatusCode};

use crate::decision::Matched;

/// Decision lines let through per second.
pub const DECISION_LINES_PER_SECOND: u64 = 100;

/// Longest path written to the log, in bytes.
pub const MAX_LOGGED_PATH: usize = 256;

/// The rate-limited decision log.
#[derive(Debug)]
pub struct DecisionLog {
    limit: RateLimitedLog,
}

impl Default for DecisionLog {
    /// [`DECISION_LINES_PER_SECOND`] lines a second.
    fn default() -> Self {
        Self::new(DECISION_LINES_PER_SECOND, Duration::from_secs(1))
    }
}

/// What one decision was.
#[derive(Debug, Clone, Copy)]
pub struct DecisionRecord<'a> {
    /// The original method.
    pub method: &'a Method,
    /// The normalised original path (`None` when it could not be read).
    pub path: Option<&'a str>,
    /// The rule that decided (`None` when no rule was looked at).
    pub matched: Option<Matched<'a>>,
    /// The outcome's name.
    pub outcome: &'static str,
    /// The answer's status.
    pub status: StatusCode,
    /// From the request's arrival to the answer.
    pub latency: Duration,
}

impl DecisionLog {
    /// At most `lines` lines per window of `per`.
    pub fn new(lines: u64, per: Duration) -> Self {
        DecisionLog {
            limit: RateLimitedLog::new(lines, per),
        }
    }

    /// Writes `record`, unless the budget of this second is spent.
    pub fn record(&self, record: &DecisionRecord<'_>) {
        self.limit.emit(|suppressed| {
            let path = record.path.map_or("-", |p| cut(p, MAX_LOGGED_PATH));
            let rule = match record.matched {
                None => String::from("-"),
                Some(Matched::Default) => String::from("default"),
                Some(Matched::Rule(rule)) => rule
                    .name()
                    .map_or_else(|| rule.number().to_string(), str::to_owned),
            };
            let latency_us = u64::try_from(record.latency.as_micros()).unwrap_or(u64::MAX);
            tracing::info!(
                target: "bearer_guard_sidecar::decision",
                method = %record.method,
                path,
                rule = %rule,
                outcome = record.outcome,
                status = record.status.as_u16(),
                latency_us,
                suppressed,
                "decision"
            );
        });
    }
}

/// `text` cut to at most `max` bytes at a character boundary (paths are ASCII after
/// normalisation; the boundary check is for safety).
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer that keeps what the subscriber wrote.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(log: &DecisionLog, records: &[DecisionRecord<'_>]) -> Vec<String> {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            for record in records {
                log.record(record);
            }
        });
        let bytes = captured
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn record(outcome: &'static str) -> DecisionRecord<'static> {
        DecisionRecord {
            method: &Method::POST,
            path: Some("/records/7"),
            matched: Some(Matched::Default),
            outcome,
            status: StatusCode::FORBIDDEN,
            latency: Duration::from_micros(1234),
        }
    }

    #[test]
    fn one_line_per_decision_with_its_fields() {
        let lines = lines_of(&DecisionLog::default(), &[record("insufficient_scope")]);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        for field in [
            "bearer_guard_sidecar::decision",
            "method=POST",
            "path=\"/records/7\"",
            "rule=default",
            "outcome=\"insufficient_scope\"",
            "status=403",
            "latency_us=1234",
            "suppressed=0",
        ] {
            assert!(line.contains(field), "{field} not in {line}");
        }
    }

    #[test]
    fn a_flood_is_cut_to_the_budget() {
        // (The count carried by the next window's first line is tested with a fake clock in
        // bearer_guard's src/log_limit.rs.)
        // Three lines per hour: deterministic whatever the machine's speed.
        let log = DecisionLog::new(3, Duration::from_secs(3600));
        let flood = vec![record("invalid_token"); 50];
        let lines = lines_of(&log, &flood);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines.iter().all(|l| l.contains("suppressed=0")));
    }

    #[test]
    fn long_paths_are_cut_at_a_character_boundary() {
        assert_eq!(cut("/short", 256), "/short");
        assert_eq!(cut(&"a".repeat(300), 256).len(), 256);
        assert_eq!(cut("/ééé", 3), "/é");
    }
}
