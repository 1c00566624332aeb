//! Revocation messages and the subscriber task that applies them, with the pub/sub gap policy.
//!
//! **Messages.** `version (1) | origin (16: the publishing process) | revocation id (32) | until_ms
//! (u64 BE) | tag (32: HMAC-SHA-256 under the message key over (len(channel) ‖ channel ‖ the
//! rest))`. A message that does not verify, or whose revocation has already ended (a replay of
//! an old one), is ignored. A process skips its own messages (it applied them already).
//!
//! **Applying one.** The revocation id (a JWT's signing input's, an opaque token's shared id:
//! `keys.rs`) goes into the tier's set of announced revocations (checked after every valid
//! local fill), then is looked up in the revocation id → local revocation key map (filled just
//! before a valid verdict enters the local tier): when this process holds the token in any
//! form, its revocation key goes into the revoked set and the local positive entry of every
//! form (the guard's `Forms`: a JWT and its ECDSA twin) is dropped. A token it does not hold
//! needs nothing more: its next miss reads the deny marker.
//!
//! **The gap.** While the subscription is down this process cannot know what it misses. So:
//! when it is lost (the stream ends, or two `PING`s in a row on it are not answered within the
//! ping timeout, the Redis timeout but at least 1 s — one slow answer does not flush every
//! replica's local cache; a stopped server keeps the TCP connection open, so only the ping
//! notices), every local
//! positive is dropped; while it is down, a new local positive lives at most 1 s
//! ([`UNHEARD_LIFETIME`](super::tier::UNHEARD_LIFETIME)), so the deny marker is read again on
//! the next miss at least every second; when it is back, every local positive is dropped once
//! more (revocations published in between were missed). Each loss and each return also moves
//! the feed's epoch (`feed.rs`), so a fill that began before a loss and ends after the return
//! is not taken for one that heard everything. None of this touches the local hit
//! path: only this task and the miss path.
//!
//! **The breaker.** On each return the task sends one `PING` over the data connection (the
//! store's, not the subscription's): its answer closes the circuit breaker at once, its failure
//! leaves it open (see `breaker.rs`). The first time it answers, the task also spawns the
//! `maxmemory-policy` check (`eviction_check.rs`), once per guard.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use metrics::{Counter, Gauge};
use moka::sync::Cache;
use redis::aio::ConnectionManager;

use super::breaker::Breaker;
use super::eviction_check;
use super::feed::Feed;
use super::keys::{SharedId, SharedKeys};
use crate::cache::{Forms, RevocationKey, RevokedSet, VerdictCache};
use crate::clock::wall_ms;
use crate::log_limit::RateLimitedLog;

const VERSION: u8 = 1;
const MESSAGE_LEN: usize = 1 + 16 + 32 + 8 + 32;
/// How often the subscription is pinged.
pub(crate) const PING_EVERY: Duration = Duration::from_secs(1);
/// Shortest time a ping may take before it counts as missed.
pub(crate) const MIN_PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Consecutive missed pings after which the feed counts as lost.
pub(crate) const MISSED_PINGS_TO_LOSE: u32 = 2;

/// How long a ping may take: the Redis timeout, but at least [`MIN_PING_TIMEOUT`].
pub(crate) fn ping_timeout(redis_timeout: Duration) -> Duration {
    redis_timeout.max(MIN_PING_TIMEOUT)
}

/// Counts consecutive missed pings.
#[derive(Debug, Default)]
struct PingMisses(u32);

impl PingMisses {
    /// Records one ping's outcome; whether the feed is now to be taken as lost.
    fn lost_after(&mut self, answered: bool) -> bool {
        self.0 = if answered { 0 } else { self.0 + 1 };
        self.0 >= MISSED_PINGS_TO_LOSE
    }
}
/// First and longest wait between subscription attempts.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(1);
/// How many `PING`s the data connection gets, within one Redis timeout, when the feed is back.
const DATA_PING_TRIES: u32 = 2;
/// Longest time to connect and subscribe.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A revocation message for `id`, in force until `until_ms`.
pub(crate) fn message(
    keys: &SharedKeys,
    channel: &str,
    origin: [u8; 16],
    id: &SharedId,
    until_ms: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(MESSAGE_LEN);
    out.push(VERSION);
    out.extend_from_slice(&origin);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&until_ms.to_be_bytes());
    let tag = keys.message_tag(channel, &out);
    out.extend_from_slice(tag.as_ref());
    out
}

/// An authenticated message: (origin, id). `None` for anything else, or one no longer in force.
pub(crate) fn read_message(
    keys: &SharedKeys,
    channel: &str,
    payload: &[u8],
    now_ms: u64,
) -> Option<([u8; 16], SharedId)> {
    if payload.len() != MESSAGE_LEN {
        return None;
    }
    let (body, tag) = payload.split_at(MESSAGE_LEN - 32);
    if !keys.message_tag_ok(channel, body, tag) || body[0] != VERSION {
        return None;
    }
    let origin = <[u8; 16]>::try_from(&body[1..17]).ok()?;
    let id = <[u8; 32]>::try_from(&body[17..49]).ok()?;
    let until_ms = u64::from_be_bytes(<[u8; 8]>::try_from(&body[49..57]).ok()?);
    (until_ms > now_ms).then_some((origin, SharedId::from_bytes(id)))
}

/// Aborts the task when dropped (the guard is gone).
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the subscriber task needs.
pub(crate) struct Subscriber {
    pub(crate) client: redis::Client,
    pub(crate) channel: String,
    pub(crate) keys: Arc<SharedKeys>,
    pub(crate) ids: Cache<SharedId, RevocationKey>,
    pub(crate) revoked_ids: Cache<SharedId, ()>,
    pub(crate) local: Option<VerdictCache>,
    pub(crate) revoked: RevokedSet,
    pub(crate) forms: Option<Forms>,
    pub(crate) feed: Arc<Feed>,
    /// Closed when the feed comes back and the data connection answers a `PING`.
    pub(crate) breaker: Arc<Breaker>,
    /// The store's data connection, checked when the feed comes back.
    pub(crate) data: ConnectionManager,
    /// The bound of one call on it.
    pub(crate) redis_timeout: Duration,
    pub(crate) origin: [u8; 16],
    pub(crate) ping_timeout: Duration,
    pub(crate) remote_revocations: Counter,
    pub(crate) subscribed: Gauge,
    /// The "message ignored" warning, which anyone who can PUBLISH could repeat.
    pub(crate) ignored_log: RateLimitedLog,
}

impl Subscriber {
    /// Subscribes, applies messages, pings; on loss, drops local positives and tries again
    /// with backoff, for as long as the guard lives.
    pub(crate) async fn run(self) {
        let mut retry = RETRY_FIRST;
        // The eviction check runs once, at the first data connection that answers.
        let mut eviction_checked = false;
        loop {
            match tokio::time::timeout(SUBSCRIBE_TIMEOUT, self.subscribe()).await {
                Ok(Ok(pubsub)) => {
                    // Back: revocations published while away were missed. The epoch moves
                    // before the flush, `up` only after it (see `feed.rs`).
                    self.feed.reestablished();
                    self.drop_local_positives();
                    self.feed.set_up();
                    // Redis answers the subscription; if it answers the data connection too,
                    // the miss path reads deny markers and shares again now, not when the
                    // breaker's backoff ends (see `breaker.rs`).
                    if self.data_answers().await && !eviction_checked {
                        eviction_checked = true;
                        let (mut conn, timeout) = (self.data.clone(), self.redis_timeout);
                        tokio::spawn(async move {
                            eviction_check::warn_if_evicting(&mut conn, timeout).await;
                        });
                    }
                    self.subscribed.set(1.0);
                    tracing::info!("bearer-guard: subscribed to shared revocations");
                    self.listen(pubsub).await;
                    self.feed.lost();
                    self.subscribed.set(0.0);
                    self.drop_local_positives();
                    tracing::warn!(
                        "bearer-guard: shared revocation feed lost; local verdicts dropped, \
                         new ones kept at most 1 s until it is back"
                    );
                    retry = RETRY_FIRST;
                }
                Ok(Err(error)) => {
                    tracing::debug!(kind = ?error.kind(), "bearer-guard: subscribing to revocations failed");
                }
                Err(_) => tracing::debug!("bearer-guard: subscribing to revocations timed out"),
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_MAX);
        }
    }

    /// One `PING` over the data connection (the store's connection manager, not the
    /// subscription's), under the breaker's [`permit_always`](Breaker::permit_always): its
    /// success closes the breaker; its failure leaves it as it is (open, it then probes each
    /// second, the feed being up). Within one Redis timeout; a second try follows a quick
    /// failure, since the first call after an outage may only meet the connection the manager
    /// lost (it starts the reconnection and fails at once). Whether Redis answered.
    async fn data_answers(&self) -> bool {
        let deadline = tokio::time::Instant::now() + self.redis_timeout;
        let mut conn = self.data.clone();
        let ping_cmd = redis::cmd("PING");
        for _ in 0..DATA_PING_TRIES {
            let permit = self.breaker.permit_always();
            let ping = ping_cmd.query_async::<redis::Value>(&mut conn);
            let answered = matches!(tokio::time::timeout_at(deadline, ping).await, Ok(Ok(_)));
            permit.record(answered);
            if answered || tokio::time::Instant::now() >= deadline {
                return answered;
            }
        }
        false
    }

    async fn subscribe(&self) -> redis::RedisResult<redis::aio::PubSub> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&self.channel).await?;
        Ok(pubsub)
    }

    /// Until the stream ends or [`MISSED_PINGS_TO_LOSE`] pings in a row go unanswered.
    async fn listen(&self, pubsub: redis::aio::PubSub) {
        let (mut sink, mut stream) = pubsub.split();
        let mut misses = PingMisses::default();
        let mut every = tokio::time::interval(PING_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => self.apply(message.get_payload_bytes()),
                    None => return,
                },
                _ = every.tick() => {
                    let ping = tokio::time::timeout(self.ping_timeout, sink.ping::<redis::Value>()).await;
                    if misses.lost_after(matches!(ping, Ok(Ok(_)))) {
                        return;
                    }
                }
            }
        }
    }

    fn apply(&self, payload: &[u8]) {
        let now = wall_ms(SystemTime::now());
        let Some((origin, id)) = read_message(&self.keys, &self.channel, payload, now) else {
            self.ignored_log.warn(|suppressed| {
                tracing::warn!(
                    suppressed,
                    "bearer-guard: revocation message ignored (not authentic or expired)"
                );
            });
            return;
        };
        if origin == self.origin {
            return;
        }
        self.remote_revocations.increment(1);
        // The id first: a verdict being stored now checks it after its local insert, so it
        // either sees the id or has put its mapping in place before the lookup below.
        self.revoked_ids.insert(id, ());
        if let Some(revocation) = self.ids.get(&id) {
            self.revoked.insert(revocation);
            if let Some(forms) = &self.forms {
                forms.drop_verdicts(&revocation);
            }
        }
    }

    fn drop_local_positives(&self) {
        if let Some(local) = &self.local {
            local.invalidate_all_valid();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_verify_only_untouched_current_and_on_their_channel() {
        let keys = SharedKeys::derive(&[5u8; 32], b"").unwrap_or_else(|e| panic!("{e}"));
        let id = keys.id_of("token");
        let m = message(&keys, "c", [1; 16], &id, 2_000);
        assert_eq!(read_message(&keys, "c", &m, 1_000), Some(([1; 16], id)));
        assert_eq!(
            read_message(&keys, "c", &m, 2_000),
            None,
            "no longer in force"
        );
        assert_eq!(read_message(&keys, "d", &m, 1_000), None, "another channel");
        let mut altered = m.clone();
        altered[20] ^= 1;
        assert_eq!(read_message(&keys, "c", &altered, 1_000), None);
        assert_eq!(read_message(&keys, "c", &m[..m.len() - 1], 1_000), None);
        let other = SharedKeys::derive(&[6u8; 32], b"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_message(&other, "c", &m, 1_000), None);
    }

    #[test]
    fn one_missed_ping_is_forgiven_two_in_a_row_lose_the_feed() {
        let mut misses = PingMisses::default();
        assert!(!misses.lost_after(false), "one slow ping");
        assert!(!misses.lost_after(true));
        assert!(
            !misses.lost_after(false),
            "the answer in between reset the count"
        );
        assert!(misses.lost_after(false), "two in a row");
    }

    #[test]
    fn the_ping_timeout_is_at_least_a_second() {
        assert_eq!(ping_timeout(Duration::from_millis(100)), MIN_PING_TIMEOUT);
        assert_eq!(
            ping_timeout(Duration::from_millis(2_500)),
            Duration::from_millis(2_500)
        );
    }
}
