//! The key store and the JWKS lifecycle: first fetch, background refresh, refetch on an
//! unknown `kid`, cool-down, coalescing, atomic swap.
//!
//! * **Swap.** The keys in use are one `Arc<KeySet>` behind a `std::sync::RwLock` that is held
//!   only to copy or replace that pointer — never across an `.await`. A request takes a
//!   snapshot and checks against it; a refresh builds a whole new set and swaps it in.
//! * **First fetch** starts when the verifier is built. If it fails, the service still runs:
//!   tokens that need JWKS keys get `Unavailable` (503) until keys arrive, and a warning is
//!   logged. Failed fetches are retried after `min(refresh interval, cool-down)`.
//! * **Refresh** runs in a background task every refresh interval, or after the answer's
//!   `Cache-Control: max-age` clamped to the configured bounds when it sends one. The task holds
//!   only a `Weak` reference and is aborted when the verifier is dropped.
//! * **Unknown `kid`** triggers one refetch, unless a fetch (of any kind) *started* less than
//!   the cool-down ago. Concurrent triggers share the fetch in flight, so a flood of random
//!   `kid`s costs at most one fetch per cool-down.
//! * **Logs** never show a URL: every reqwest error is stripped of its URL
//!   ([`reqwest::Error::without_url`]) before it is kept, as a JWKS or discovery URL may carry
//!   an API key in its query.
//! * **Failures** keep the last good key set in use. An answer with no usable key counts as a
//!   failure too (a broken endpoint is likelier than an issuer with no keys). A key the issuer
//!   drops from its JWKS stops validating with the next successful fetch.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use http::HeaderMap;
use reqwest::Url;
use reqwest::header::CACHE_CONTROL;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::discovery;
use super::fetch::{FetchError, get_json};
use super::keys::{JwksDocument, KeySet, VerifyingKey, key_from_jwk};
use crate::redact::redacted;

/// Where JWKS keys come from.
#[derive(Clone)]
pub(crate) enum RemoteSource {
    /// A JWKS URL configured directly, optionally bound to one issuer.
    Jwks { url: Url, issuer: Option<String> },
    /// OIDC discovery: the document URL and the issuer it must name (its keys are bound to it).
    Discovery { issuer: String, document: Url },
}

impl RemoteSource {
    /// The issuer the fetched keys are bound to, if any.
    fn bound_issuer(&self) -> Option<&str> {
        match self {
            RemoteSource::Jwks { issuer, .. } => issuer.as_deref(),
            RemoteSource::Discovery { issuer, .. } => Some(issuer),
        }
    }
}

/// `Debug` without the URLs' queries (they may hold secrets).
impl fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteSource::Jwks { url, issuer } => f
                .debug_struct("Jwks")
                .field("url", &redacted(url))
                .field("issuer", issuer)
                .finish(),
            RemoteSource::Discovery { issuer, document } => f
                .debug_struct("Discovery")
                .field("issuer", issuer)
                .field("document", &redacted(document))
                .finish(),
        }
    }
}

/// Timing and size settings of the JWKS lifecycle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FetchSettings {
    pub(crate) max_bytes: usize,
    pub(crate) refresh_interval: Duration,
    pub(crate) min_max_age: Duration,
    pub(crate) max_max_age: Duration,
    pub(crate) cooldown: Duration,
    pub(crate) allow_plain_http: bool,
}

/// Everything needed to fetch keys.
pub(crate) struct Remote {
    pub(crate) source: RemoteSource,
    pub(crate) client: reqwest::Client,
    pub(crate) settings: FetchSettings,
    pub(crate) runtime: tokio::runtime::Handle,
}

#[derive(Debug, Clone, Copy)]
enum LastFetch {
    Never,
    Loaded { max_age: Option<Duration> },
    Failed,
}

struct Gate {
    /// The fetch in flight: its receiver turns `true` when it has finished.
    in_flight: Option<watch::Receiver<bool>>,
    last_started: Option<Instant>,
    last: LastFetch,
}

struct RemoteState {
    remote: Remote,
    /// `bearer_guard_jwks_fetches_total{result="ok"}` and `{result="error"}`, registered when
    /// the verifier is built.
    fetched_ok: metrics::Counter,
    fetched_error: metrics::Counter,
    /// The `jwks_uri` found by discovery (read once, until it succeeds).
    discovered: Mutex<Option<Url>>,
    gate: Mutex<Gate>,
}

/// The keys in use, and (when a JWKS is configured) how they are kept fresh.
pub(crate) struct KeyStore {
    current: RwLock<Arc<KeySet>>,
    remote: Option<RemoteState>,
    /// Turns `true` once keys are available (at once without a JWKS): readiness.
    loaded: watch::Sender<bool>,
}

/// Aborts the background refresh task when dropped (with the verifier).
pub(crate) struct RefreshTask(AbortHandle);

impl Drop for RefreshTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl KeyStore {
    /// A store with static keys only: nothing is ever fetched.
    pub(crate) fn fixed(statics: Vec<VerifyingKey>) -> Arc<Self> {
        Arc::new(KeyStore {
            current: RwLock::new(Arc::new(KeySet::new(statics.into(), true))),
            remote: None,
            loaded: watch::channel(true).0,
        })
    }

    /// A store that fetches keys from `remote` (plus any static keys). Call
    /// [`KeyStore::start`] to begin.
    pub(crate) fn fetching(statics: Vec<VerifyingKey>, remote: Remote) -> Arc<Self> {
        let (fetched_ok, fetched_error) = crate::telemetry::jwks_fetch_counters();
        Arc::new(KeyStore {
            current: RwLock::new(Arc::new(KeySet::new(statics.into(), false))),
            loaded: watch::channel(false).0,
            remote: Some(RemoteState {
                remote,
                fetched_ok,
                fetched_error,
                discovered: Mutex::new(None),
                gate: Mutex::new(Gate {
                    in_flight: None,
                    last_started: None,
                    last: LastFetch::Never,
                }),
            }),
        })
    }

    /// Starts the first fetch and the refresh task; `None` for a store without JWKS.
    pub(crate) fn start(self: &Arc<Self>) -> Option<RefreshTask> {
        let state = self.remote.as_ref()?;
        let first = self.trigger(false);
        let task = state
            .remote
            .runtime
            .spawn(refresh_loop(Arc::downgrade(self), first));
        Some(RefreshTask(task.abort_handle()))
    }

    /// The keys in use now. The lock is held only to clone the pointer.
    pub(crate) fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Resolves once keys are available: at once for static keys, after the first
    /// successful fetch for a JWKS.
    pub(crate) async fn loaded(&self) {
        // The sender lives in `self`, so the wait cannot fail while it runs.
        let _ = self.loaded.subscribe().wait_for(|loaded| *loaded).await;
    }

    /// Whether keys come from a JWKS (so an unknown `kid` may be worth a refetch).
    pub(crate) fn has_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The configured source, for `Debug`.
    pub(crate) fn source(&self) -> Option<&RemoteSource> {
        self.remote.as_ref().map(|state| &state.remote.source)
    }

    /// Refetches for an unknown `kid` or missing keys: joins the fetch in flight, or starts one
    /// unless the cool-down forbids it. Returns once that fetch has finished; `false` when no
    /// fetch ran because of the cool-down.
    pub(crate) async fn refetch(self: &Arc<Self>) -> bool {
        match self.trigger(true) {
            Some(mut done) => {
                // An error means the fetch task was dropped (runtime shutting down): done too.
                let _ = done.wait_for(|finished| *finished).await;
                true
            }
            None => false,
        }
    }

    /// Joins the fetch in flight or starts one (respecting the cool-down when asked).
    /// The gate's mutex is held only for these few assignments.
    fn trigger(self: &Arc<Self>, respect_cooldown: bool) -> Option<watch::Receiver<bool>> {
        let state = self.remote.as_ref()?;
        let sender = {
            let mut gate = state.gate.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(in_flight) = &gate.in_flight
                && in_flight.has_changed().is_ok()
            {
                return Some(in_flight.clone());
            }
            if respect_cooldown
                && gate
                    .last_started
                    .is_some_and(|at| at.elapsed() < state.remote.settings.cooldown)
            {
                return None;
            }
            let (sender, receiver) = watch::channel(false);
            gate.in_flight = Some(receiver);
            gate.last_started = Some(Instant::now());
            sender
        };
        let receiver = sender.subscribe();
        let store = Arc::clone(self);
        state.remote.runtime.spawn(async move {
            store.fetch_and_install().await;
            if let Some(state) = &store.remote {
                state
                    .gate
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .in_flight = None;
            }
            sender.send_replace(true);
        });
        Some(receiver)
    }

    /// One fetch; on success the new key set replaces the old one in a single swap.
    async fn fetch_and_install(&self) {
        let Some(state) = &self.remote else { return };
        let outcome = state.fetch().await;
        let had_keys = self.snapshot().remote_loaded();
        let last = match outcome {
            Ok((keys, max_age)) => {
                state.fetched_ok.increment(1);
                let count = keys.len();
                {
                    let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
                    let next = Arc::new(current.with_fetched(keys));
                    *current = next;
                }
                if had_keys {
                    tracing::debug!(keys = count, "bearer-guard: JWKS refreshed");
                } else {
                    tracing::info!(keys = count, "bearer-guard: JWKS loaded");
                }
                self.loaded.send_replace(true);
                LastFetch::Loaded { max_age }
            }
            Err(error) => {
                state.fetched_error.increment(1);
                if had_keys {
                    tracing::warn!(
                        error = %error,
                        cause = ?std::error::Error::source(&error).map(ToString::to_string),
                        "bearer-guard: JWKS fetch failed; keeping the last good key set"
                    );
                } else {
                    tracing::warn!(
                        error = %error,
                        cause = ?std::error::Error::source(&error).map(ToString::to_string),
                        "bearer-guard: JWKS fetch failed and no keys are loaded yet; \
                         JWT requests get 503 until keys arrive"
                    );
                }
                LastFetch::Failed
            }
        };
        state
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last = last;
    }

    /// How long the refresh task waits before the next fetch.
    fn next_delay(&self) -> Duration {
        let Some(state) = &self.remote else {
            return Duration::MAX;
        };
        let settings = &state.remote.settings;
        let last = state
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last;
        match last {
            LastFetch::Loaded {
                max_age: Some(max_age),
            } => max_age.max(settings.min_max_age).min(settings.max_max_age),
            LastFetch::Loaded { max_age: None } => settings.refresh_interval,
            LastFetch::Never | LastFetch::Failed => {
                settings.refresh_interval.min(settings.cooldown)
            }
        }
    }
}

impl RemoteState {
    async fn fetch(&self) -> Result<(Vec<VerifyingKey>, Option<Duration>), FetchError> {
        let remote = &self.remote;
        let url = self.jwks_url().await?;
        let (document, headers): (JwksDocument, _) = get_json(
            &remote.client,
            url,
            "application/jwk-set+json, application/json",
            remote.settings.max_bytes,
        )
        .await?;
        let max_age = cache_max_age(&headers);
        let mut keys = Vec::with_capacity(document.keys.len());
        let bound: Option<Arc<str>> = remote.source.bound_issuer().map(Arc::from);
        for value in document.keys {
            match key_from_jwk(value) {
                Ok(mut key) => {
                    key.issuer.clone_from(&bound);
                    keys.push(key);
                }
                Err(reason) => tracing::debug!(reason, "bearer-guard: JWKS key skipped"),
            }
        }
        if keys.is_empty() {
            return Err(FetchError::NoUsableKeys);
        }
        Ok((keys, max_age))
    }

    /// The JWKS URL: configured, or found by discovery (which is then remembered).
    async fn jwks_url(&self) -> Result<Url, FetchError> {
        match &self.remote.source {
            RemoteSource::Jwks { url, .. } => Ok(url.clone()),
            RemoteSource::Discovery { issuer, document } => {
                let known = self
                    .discovered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                if let Some(url) = known {
                    return Ok(url);
                }
                let settings = &self.remote.settings;
                let url = discovery::jwks_uri(
                    &self.remote.client,
                    document,
                    issuer,
                    settings.max_bytes,
                    settings.allow_plain_http,
                )
                .await?;
                *self
                    .discovered
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(url.clone());
                Ok(url)
            }
        }
    }
}

/// The background refresh: wait for the fetch in flight, sleep, fetch, … Holds only a `Weak`
/// reference between steps, so it ends when the verifier is gone (it is also aborted then).
async fn refresh_loop(store: Weak<KeyStore>, first: Option<watch::Receiver<bool>>) {
    let mut pending = first;
    loop {
        if let Some(mut done) = pending.take() {
            let _ = done.wait_for(|finished| *finished).await;
        }
        let Some(delay) = store.upgrade().map(|store| store.next_delay()) else {
            return;
        };
        tokio::time::sleep(delay).await;
        let Some(strong) = store.upgrade() else {
            return;
        };
        pending = strong.trigger(false);
    }
}

/// `max-age` from `Cache-Control` (`no-cache` / `no-store` count as 0; the caller clamps).
fn cache_max_age(headers: &HeaderMap) -> Option<Duration> {
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            if directive.eq_ignore_ascii_case("no-cache")
                || directive.eq_ignore_ascii_case("no-store")
            {
                return Some(Duration::ZERO);
            }
            if let Some((name, seconds)) = directive.split_once('=')
                && name.trim().eq_ignore_ascii_case("max-age")
                && let Ok(seconds) = seconds.trim().trim_matches('"').parse::<u64>()
            {
                return Some(Duration::from_secs(seconds));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(CACHE_CONTROL, HeaderValue::from_static(value));
        map
    }

    #[test]
    fn cache_control_max_age_is_read() {
        assert_eq!(
            cache_max_age(&headers("public, max-age=600")),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            cache_max_age(&headers("Max-Age=\"42\"")),
            Some(Duration::from_secs(42))
        );
        assert_eq!(cache_max_age(&headers("no-store")), Some(Duration::ZERO));
        assert_eq!(cache_max_age(&headers("public")), None);
        assert_eq!(cache_max_age(&headers("max-age=soon")), None);
        assert_eq!(cache_max_age(&HeaderMap::new()), None);
    }

    fn store_with(last: LastFetch) -> Arc<KeyStore> {
        let remote = Remote {
            source: RemoteSource::Jwks {
                url: Url::parse("https://127.0.0.1/jwks").unwrap(),
                issuer: None,
            },
            client: reqwest::Client::new(),
            settings: FetchSettings {
                max_bytes: 1024,
                refresh_interval: Duration::from_secs(300),
                min_max_age: Duration::from_secs(60),
                max_max_age: Duration::from_secs(86_400),
                cooldown: Duration::from_secs(30),
                allow_plain_http: false,
            },
            runtime: tokio::runtime::Handle::current(),
        };
        let store = KeyStore::fetching(Vec::new(), remote);
        if let Some(state) = &store.remote {
            state.gate.lock().unwrap().last = last;
        }
        store
    }

    #[tokio::test]
    async fn refresh_delay_honours_max_age_within_bounds() {
        let at = |max_age| store_with(LastFetch::Loaded { max_age }).next_delay();
        assert_eq!(at(Some(Duration::from_secs(600))), Duration::from_secs(600));
        assert_eq!(at(Some(Duration::from_secs(5))), Duration::from_secs(60));
        assert_eq!(
            at(Some(Duration::from_secs(10 * 86_400))),
            Duration::from_secs(86_400)
        );
        assert_eq!(at(None), Duration::from_secs(300));
        assert_eq!(
            store_with(LastFetch::Failed).next_delay(),
            Duration::from_secs(30)
        );
    }

    #[tokio::test]
    async fn cooldown_blocks_a_second_trigger_but_not_the_schedule() {
        let store = store_with(LastFetch::Never);
        if let Some(state) = &store.remote {
            state.gate.lock().unwrap().last_started = Some(Instant::now());
        }
        assert!(store.trigger(true).is_none());
        let first = store.trigger(false);
        assert!(first.is_some());
        // A second trigger while the first is in flight joins it instead of starting another.
        let joined = store.trigger(true);
        assert!(joined.is_some());
    }
}
