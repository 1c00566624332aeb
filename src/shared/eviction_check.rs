//! Once per guard, one look at whether Redis may evict deny markers: a revocation lives only as
//! long as Redis keeps its marker, and a `maxmemory-policy` of `allkeys-*` or `volatile-*`
//! (deny markers carry a TTL) lets Redis drop it under memory pressure, re-admitting the token
//! on replicas that did not hear the revocation.
//!
//! `CONFIG GET maxmemory-policy` over the data connection, bounded by the Redis timeout, in a
//! task of its own that the subscriber task (`revocation.rs`) spawns the first time the
//! revocation feed is up and the data connection answers a `PING`: at start-up when Redis is
//! up then, else as soon as it comes up (start-up never waits for it, and a Redis down at
//! start-up still gets its check). An evicting policy is one WARN
//! naming the setting and its value; `noeviction` (or anything else) is a DEBUG line. A
//! refused `CONFIG` (ACL, a renamed command, a managed Redis) or no answer is a DEBUG line
//! too: the guard cannot tell, and says so in its documentation instead.

use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;

/// The setting read.
const SETTING: &str = "maxmemory-policy";
/// Longest policy value logged (every real one is under 20 bytes).
const MAX_POLICY_LEN: usize = 32;

/// Reads `maxmemory-policy` and warns once when it may evict deny markers.
pub(crate) async fn warn_if_evicting(conn: &mut ConnectionManager, timeout: Duration) {
    let asked = tokio::time::timeout(
        timeout,
        redis::cmd("CONFIG")
            .arg("GET")
            .arg(SETTING)
            .query_async::<HashMap<String, String>>(conn),
    )
    .await;
    let Some(policy) = asked
        .ok()
        .and_then(Result::ok)
        .and_then(|mut answer| answer.remove(SETTING))
        .filter(|policy| is_printable(policy))
    else {
        tracing::debug!("bearer-guard: redis maxmemory-policy could not be read");
        return;
    };
    if evicts_deny_markers(&policy) {
        tracing::warn!(
            maxmemory_policy = %policy,
            "bearer-guard: redis maxmemory-policy {policy} may evict deny markers, ending \
             revocations early under memory pressure; use noeviction for the guard's Redis"
        );
    } else {
        tracing::debug!(maxmemory_policy = %policy, "bearer-guard: redis maxmemory-policy checked");
    }
}

/// Whether `policy` lets Redis evict keys with a TTL (every deny marker has one).
fn evicts_deny_markers(policy: &str) -> bool {
    policy.starts_with("allkeys-") || policy.starts_with("volatile-")
}

/// A short printable ASCII value, safe to put in a log line as it is.
fn is_printable(policy: &str) -> bool {
    !policy.is_empty()
        && policy.len() <= MAX_POLICY_LEN
        && policy.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allkeys_and_volatile_policies_evict_deny_markers_noeviction_does_not() {
        for policy in [
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            assert!(evicts_deny_markers(policy), "{policy}");
        }
        assert!(!evicts_deny_markers("noeviction"));
        assert!(is_printable("allkeys-lru"));
        assert!(!is_printable("allkeys-lru\nforged line"));
        assert!(!is_printable(&"a".repeat(MAX_POLICY_LEN + 1)));
    }
}
