//! The Redis commands of the shared tier, each bounded by the Redis timeout and behind the
//! circuit breaker. Nothing here knows about verdicts: values are bytes made by `entry.rs`.
//!
//! | key | holds |
//! |---|---|
//! | `{prefix}v1:e:<id>` | the entry (valid or invalid verdict), `PX` = its own deadline |
//! | `{prefix}v1:d:<revocation id>` | the deny marker of a revoked token, `PX` = the revocation's end |
//! | `{prefix}v1:d:<id>` | a revoked JWT's marker at its own id too (what releases before the signing-input keying read and wrote) |
//! | `{prefix}v1:l:<id>` | the cross-replica verification lock, a short `PX` its holder refreshes (`lock.rs`) |
//! | `{prefix}v1:revoked` | the pub/sub channel of revocation messages |
//!
//! `<id>` is the token's shared id; `<revocation id>` that of a JWT's signing input, or the
//! shared id for any other token (`keys.rs`): a deny marker refuses every form of a JWT. A
//! marker at either deny key of a token ([`TokenIds::deny_ids`]) refuses it, whatever it holds:
//! a string to authenticate (`tier.rs`), or a value of another type (a hash, a list: nothing
//! a revocation writes), which `MGET` reads as nil (so the read counts the deny keys with
//! `EXISTS`) and `GET` answers with an error (so the store script reads them with
//! `redis.pcall`): neither may read as "not revoked", nor as a Redis failure, after which a
//! short local fill would let the token in.
//!
//! Scripts are sent with `EVAL` (a few hundred bytes; no SHA-1 code to compile for `EVALSHA`)
//! and use only `GET`, `SET`, `DEL`, `PEXPIRE`: Redis ≥ 6 and Valkey run them.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{RedisError, Value};
use tokio::time::Instant;

use super::breaker::{Breaker, CircuitState, Permit};
use super::keys::{SharedId, TokenIds};
use super::lock;
use super::lock_release::LockRelease;
use crate::clock::millis;
use crate::telemetry::{OPS, StoreMetrics};

/// Extends the lock's life to `PX` if it still holds the caller's value: 1 extended, 0 not
/// (expired, or another's). KEYS: lock. ARGV: lock value, PX.
const REFRESH_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Stores a verdict unless the token is revoked, and drops the caller's lock if it still
/// holds it. KEYS: entry, deny (at the revocation id), lock, [deny at the token's own id: a
/// JWT's]. ARGV: value, PX (0: store nothing), lock value ('' : no lock). Answers 1 (stored) or
/// 0 (nothing to store), or for a deny key that holds anything `{index of its key, value}`,
/// `{index}` alone when the value is not a string (`GET`'s error, caught by `pcall`).
const STORE_SCRIPT: &str = r"
local function deny_at(i)
  local deny = redis.pcall('GET', KEYS[i])
  if type(deny) == 'table' then return {i} end
  if deny then return {i, deny} end
  return false
end
local deny = deny_at(2)
if not deny and #KEYS > 3 then deny = deny_at(4) end
if ARGV[3] ~= '' and redis.call('GET', KEYS[3]) == ARGV[3] then
  redis.call('DEL', KEYS[3])
end
if deny then return deny end
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// The Redis key names under one prefix.
#[derive(Debug, Clone)]
pub(crate) struct KeyNames {
    prefix: String,
}

impl KeyNames {
    pub(crate) fn new(prefix: &str) -> Self {
        KeyNames {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn entry(&self, id: &SharedId) -> String {
        format!("{}v1:e:{}", self.prefix, id.hex())
    }

    pub(crate) fn deny(&self, id: &SharedId) -> String {
        format!("{}v1:d:{}", self.prefix, id.hex())
    }

    pub(crate) fn lock(&self, id: &SharedId) -> String {
        format!("{}v1:l:{}", self.prefix, id.hex())
    }

    pub(crate) fn channel(&self) -> String {
        format!("{}v1:revoked", self.prefix)
    }
}

/// Redis could not be asked: the breaker is open, the call timed out, or Redis answered with
/// an error. The caller goes on without the shared tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unreachable;

/// What a token's deny keys hold, when they hold anything: the token is refused either way.
#[derive(Debug)]
pub(crate) enum DenyFound {
    /// A string at the deny key of this id (the first of [`TokenIds::deny_ids`] that has
    /// one), to be authenticated for that key.
    Value(SharedId, Vec<u8>),
    /// A value of another type (a hash, a list…): nothing a revocation writes.
    OtherType,
}

/// What one read of a token's keys found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) entry: Option<Vec<u8>>,
    pub(crate) deny: Option<DenyFound>,
    /// A live holder's lock is there (see [`lock::is_live`]): one that nobody refreshes, or
    /// that a holder would never have set, does not count.
    pub(crate) locked: bool,
}

/// What [`RedisStore::store_and_unlock`] did.
#[derive(Debug)]
pub(crate) enum Stored {
    /// The value was written (or there was nothing to write).
    Done,
    /// A deny key holds something: nothing was written.
    Denied(DenyFound),
}

/// The operation a Redis error is counted under (`bearer_guard_redis_errors_total{op}`; its
/// label values are [`OPS`], in this order).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Lookup = 0,
    Lock = 1,
    Store = 2,
    Revoke = 3,
}

/// How many times [`RedisStore::revoke`] calls Redis, within one Redis timeout.
const REVOKE_TRIES: u32 = 2;

/// The Redis side of the shared tier.
pub(crate) struct RedisStore {
    conn: ConnectionManager,
    timeout: Duration,
    /// Shared with the subscriber task, whose re-subscription closes it.
    breaker: Arc<Breaker>,
    metrics: StoreMetrics,
    pub(crate) names: KeyNames,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .field("breaker", &self.breaker.state())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    pub(crate) fn new(
        conn: ConnectionManager,
        timeout: Duration,
        names: KeyNames,
        metrics: StoreMetrics,
        breaker: Arc<Breaker>,
    ) -> Self {
        RedisStore {
            conn,
            timeout,
            breaker,
            metrics,
            names,
        }
    }

    /// The bound of one call.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs `call` if the breaker allows, bounded by the timeout; records the outcome.
    async fn guarded<T, F>(&self, op: Op, call: F) -> Result<T, Unreachable>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        let Some(permit) = self.breaker.permit() else {
            return Err(Unreachable);
        };
        self.bounded(op, permit, Instant::now() + self.timeout, call)
            .await
    }

    /// Runs `call` under `permit` until `deadline`; records and counts the outcome.
    async fn bounded<T, F>(
        &self,
        op: Op,
        permit: Permit<'_>,
        deadline: Instant,
        call: F,
    ) -> Result<T, Unreachable>
    where
        F: Future<Output = Result<T, RedisError>>,
    {
        let result = tokio::time::timeout_at(deadline, call).await;
        permit.record(matches!(result, Ok(Ok(_))));
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                self.count_error(op);
                tracing::debug!(op = OPS[op as usize], kind = ?error.kind(), "bearer-guard: redis error");
                Err(Unreachable)
            }
            Err(_) => {
                self.count_error(op);
                tracing::debug!(op = OPS[op as usize], "bearer-guard: redis call timed out");
                Err(Unreachable)
            }
        }
    }

    fn count_error(&self, op: Op) {
        if let Some(counter) = self.metrics.errors.get(op as usize) {
            counter.increment(1);
        }
    }

    /// The entry, the deny markers (at the revocation id, and at a JWT's own id) and whether a
    /// live holder's lock is there, in one round trip (`MGET`, the lock's `PTTL` and `EXISTS`
    /// of the deny keys in one `MULTI`, so every read is of the same moment). A deny key that
    /// exists but reads nil holds another type.
    pub(crate) async fn read(&self, ids: &TokenIds) -> Result<Found, Unreachable> {
        let mut conn = self.conn.clone();
        let lock_key = self.names.lock(&ids.entry);
        let deny_keys: Vec<String> = ids.deny_ids().map(|id| self.names.deny(id)).collect();
        let mut keys = vec![self.names.entry(&ids.entry), lock_key.clone()];
        keys.extend(deny_keys.iter().cloned());
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("MGET")
            .arg(&keys)
            .cmd("PTTL")
            .arg(lock_key)
            .cmd("EXISTS")
            .arg(&deny_keys);
        let (values, pttl, denies): (Vec<Option<Vec<u8>>>, i64, i64) = self
            .guarded(Op::Lookup, async move { pipe.query_async(&mut conn).await })
            .await?;
        let mut values = values.into_iter();
        let (entry, lock) = (values.next().flatten(), values.next().flatten());
        let marker = ids
            .deny_ids()
            .zip(values)
            .find_map(|(id, value)| Some(DenyFound::Value(*id, value?)));
        let deny = marker.or_else(|| (denies > 0).then_some(DenyFound::OtherType));
        Ok(Found {
            entry,
            deny,
            locked: lock::is_live(lock.as_deref(), pttl),
        })
    }

    /// The `PX` of this store's locks (see `lock.rs`).
    fn lock_px(&self) -> Duration {
        lock::lock_px(self.timeout)
    }

    /// A new random lock value naming this store's lock `PX`; `None` if the random generator
    /// fails (the caller then verifies without the lock).
    pub(crate) fn new_lock_value(&self) -> Option<String> {
        lock::new_value(self.lock_px())
    }

    /// `SET lock value NX PX <lock px>`: whether this caller now holds the lock.
    pub(crate) async fn try_lock(&self, ids: &TokenIds, value: &str) -> Result<bool, Unreachable> {
        let mut conn = self.conn.clone();
        let key = self.names.lock(&ids.entry);
        let ttl_ms = millis(self.lock_px()).max(1);
        let answer: Option<String> = self
            .guarded(Op::Lock, async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(answer.is_some())
    }

    /// Extends the lock `value` of the token `ids` to the lock `PX` if it is still this caller's:
    /// `Ok(false)` when it is not (it expired, another replica may hold it now).
    ///
    /// Only while the breaker is closed: a refresh never becomes the half-open probe, since it
    /// is dropped mid-call whenever the holder's work ends first, and a dropped probe counts as
    /// a failed one (it would push the breaker's reopening back for nothing).
    async fn refresh_lock(&self, ids: &TokenIds, value: &str) -> Result<bool, Unreachable> {
        if self.breaker.state() != CircuitState::Closed {
            return Err(Unreachable);
        }
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(REFRESH_SCRIPT)
            .arg(1)
            .arg(self.names.lock(&ids.entry))
            .arg(value)
            .arg(millis(self.lock_px()).max(1));
        let extended: i64 = self
            .guarded(Op::Lock, async move { cmd.query_async(&mut conn).await })
            .await?;
        Ok(extended == 1)
    }

    /// Runs `work` (the holder's verification and store) while refreshing the lock `value`
    /// of the token `ids` every quarter of its `PX` counted from `set_sent` (the instant just
    /// before its `SET NX` was sent: see [`lock::refresh_ticks`]), from inside the caller's
    /// future: the refreshes end when `work` does, or when the future is dropped. A refresh that
    /// fails is tried again at the next period (the lock may still be there); one that finds
    /// the lock gone or another's ends the refreshing. Neither affects `work`.
    pub(crate) async fn while_holding<F: Future>(
        &self,
        ids: &TokenIds,
        value: &str,
        set_sent: Instant,
        work: F,
    ) -> F::Output {
        let refresh = async {
            let mut ticks = lock::refresh_ticks(set_sent, self.lock_px());
            loop {
                ticks.tick().await;
                if let Ok(false) = self.refresh_lock(ids, value).await {
                    break;
                }
            }
            std::future::pending::<()>().await;
        };
        match futures_util::future::select(pin!(work), pin!(refresh)).await {
            futures_util::future::Either::Left((output, _)) => output,
            futures_util::future::Either::Right(((), work)) => work.await,
        }
    }

    /// Writes `value` for `ttl` at the token's entry unless one of its deny keys holds
    /// anything, and drops the lock `lock_value` if it is still this caller's; one round
    /// trip, atomic. `value: None` only drops the lock.
    pub(crate) async fn store_and_unlock(
        &self,
        ids: &TokenIds,
        value: Option<(&[u8], Duration)>,
        lock_value: Option<&str>,
    ) -> Result<Stored, Unreachable> {
        let mut conn = self.conn.clone();
        let cmd = self.store_cmd(ids, value, lock_value);
        let answer: Value = self
            .guarded(Op::Store, async move { cmd.query_async(&mut conn).await })
            .await?;
        Ok(match answer {
            Value::Int(_) => Stored::Done,
            Value::Array(found) => Stored::Denied(deny_found(ids, found)),
            // No other answer comes from the script: refused, as a deny.
            _ => Stored::Denied(DenyFound::OtherType),
        })
    }

    /// The [`STORE_SCRIPT`] call of [`store_and_unlock`](RedisStore::store_and_unlock).
    fn store_cmd(
        &self,
        ids: &TokenIds,
        value: Option<(&[u8], Duration)>,
        lock_value: Option<&str>,
    ) -> redis::Cmd {
        let (bytes, ttl_ms) = value.map_or((&[][..], 0), |(v, ttl)| (v, millis(ttl)));
        let mut cmd = redis::cmd("EVAL");
        let own_deny = (ids.entry != ids.revocation).then(|| self.names.deny(&ids.entry));
        cmd.arg(STORE_SCRIPT)
            .arg(3 + usize::from(own_deny.is_some()))
            .arg(self.names.entry(&ids.entry))
            .arg(self.names.deny(&ids.revocation))
            .arg(self.names.lock(&ids.entry))
            .arg(own_deny)
            .arg(bytes)
            .arg(ttl_ms)
            .arg(lock_value.unwrap_or(""));
        cmd
    }

    /// Drops the lock `lock_value` of `id` (if still held) when the returned guard is dropped
    /// without [`LockRelease::disarm`]: a lock holder whose request is cancelled frees the lock
    /// at once instead of leaving it to its `PX`.
    pub(crate) fn release_on_drop(&self, ids: &TokenIds, lock_value: &str) -> LockRelease {
        LockRelease::new(
            self.conn.clone(),
            self.store_cmd(ids, None, Some(lock_value)),
            self.timeout,
        )
    }

    /// Revokes: the deny markers (`denies`: each id with its value, authenticated for its own
    /// key) for `ttl`, the entry of the token as given deleted, the message published; one
    /// atomic transaction. Rare and important, so
    /// it is tried even while the breaker is open (its success closes it), within one Redis
    /// timeout: a second try follows a quick failure, since the first call after an outage may
    /// only meet the connection the manager lost (it starts the reconnection and fails at once).
    pub(crate) async fn revoke(
        &self,
        ids: &TokenIds,
        denies: &[(SharedId, Vec<u8>)],
        ttl: Duration,
        message: &[u8],
    ) -> Result<(), Unreachable> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (id, value) in denies {
            pipe.cmd("SET")
                .arg(self.names.deny(id))
                .arg(value)
                .arg("PX")
                .arg(millis(ttl).max(1))
                .ignore();
        }
        pipe.cmd("DEL")
            .arg(self.names.entry(&ids.entry))
            .ignore()
            .cmd("PUBLISH")
            .arg(self.names.channel())
            .arg(message)
            .ignore();
        let deadline = Instant::now() + self.timeout;
        let mut tries = REVOKE_TRIES;
        loop {
            tries -= 1;
            let call = pipe.query_async::<()>(&mut conn);
            let done = self
                .bounded(Op::Revoke, self.breaker.permit_always(), deadline, call)
                .await;
            if done.is_ok() || tries == 0 || Instant::now() >= deadline {
                return done;
            }
        }
    }
}

/// The store script's answer for a deny key that holds something: `{index, value}` or
/// `{index}` (another type), the index naming KEYS[2] (the revocation id's) or KEYS[4] (the
/// token's own id's). Any other shape still denies.
fn deny_found(ids: &TokenIds, found: Vec<Value>) -> DenyFound {
    let mut found = found.into_iter();
    let id = match found.next() {
        Some(Value::Int(2)) => ids.revocation,
        Some(Value::Int(4)) => ids.entry,
        _ => return DenyFound::OtherType,
    };
    match found.next() {
        Some(Value::BulkString(value)) => DenyFound::Value(id, value),
        _ => DenyFound::OtherType,
    }
}
