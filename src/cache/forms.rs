//! The forms of a token this process holds valid verdicts for, by revocation key: the local
//! cache keys filled under each revocation key (usually one; an ECDSA token and its twin
//! `(r, n − s)` make two), so a revocation drops the cached verdict of every form, not only of
//! the bytes it was given.
//!
//! The positive cache is keyed by the whole token (a forged signature over a valid token's
//! `header.payload` must not hit that token's verdict), and its hit path must stay one lookup:
//! the revocation key is computed on the miss path only, and recorded here **before** a valid
//! verdict enters the positive cache. A revocation records its key in the revoked set first,
//! then drops every form listed here; a fill checks the revoked set after its insert. So one of
//! the two always sees the other, and no valid verdict is ever cached without its entry here:
//!
//! * an entry evicted for room (LRU, the local cache's capacity) drops its forms' verdicts;
//! * an entry lives twice the positive TTL from its last fill ([`listing_ttl`]), longer than
//!   any verdict it lists;
//! * a form past [`MAX_FORMS`] replaces the oldest one, whose verdict is dropped.

use std::time::Duration;

use moka::notification::RemovalCause;
use moka::sync::Cache;

use super::{BuildKeyHasher, RevocationKey, TokenKey, VerdictCache};

/// Most forms remembered per revocation key. Without the issuer's key a holder can make one
/// other form of an ECDSA token (its twin); more forms than this evict the oldest form's
/// verdict (it is verified again on its next request).
pub(crate) const MAX_FORMS: usize = 4;

/// How long a listing of forms (here, and the shared tier's revocation id → revocation key
/// map) lives after its last fill: twice the positive TTL (at least 1 s each). A listing runs
/// on the monotonic clock and is written just before its verdict, whose deadline is on the wall
/// clock (`positive.rs`); a listing of the positive TTL alone would expire a moment before its
/// verdict, and a wall clock stepped back keeps a verdict longer. A verdict lives at most the
/// positive TTL plus the step back, and a step back of more than the TTL drops the verdicts
/// (see `positive.rs`), so at most twice the TTL: the listing outlives every verdict it lists,
/// and a revocation of one form always finds the others.
pub(crate) fn listing_ttl(positive_ttl: Duration) -> Duration {
    positive_ttl.max(Duration::from_secs(1)).saturating_mul(2)
}

/// Revocation key → the local cache keys of its forms.
#[derive(Clone)]
pub(crate) struct Forms {
    map: Cache<RevocationKey, FormKeys, BuildKeyHasher>,
    local: VerdictCache,
}

/// Up to [`MAX_FORMS`] local cache keys, oldest first.
#[derive(Clone, Copy)]
struct FormKeys {
    keys: [Option<TokenKey>; MAX_FORMS],
}

impl FormKeys {
    fn iter(&self) -> impl Iterator<Item = TokenKey> + '_ {
        self.keys.iter().flatten().copied()
    }
}

impl Forms {
    /// At most `capacity` revocation keys (the local cache's capacity), each kept
    /// [`listing_ttl`]`(positive_ttl)` from its last fill; verdicts of forms evicted for room
    /// are dropped from `local`.
    pub(crate) fn new(capacity: u64, positive_ttl: Duration, local: VerdictCache) -> Self {
        let evicted = local.clone();
        let map = Cache::builder()
            .max_capacity(capacity.max(1))
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .time_to_live(listing_ttl(positive_ttl))
            .eviction_listener(move |_, forms: FormKeys, cause| {
                if cause == RemovalCause::Size {
                    forms.iter().for_each(|key| evicted.invalidate_valid(&key));
                }
            })
            .build_with_hasher(BuildKeyHasher);
        Forms { map, local }
    }

    /// Records that a valid verdict for `key` is about to enter the local cache under
    /// `revocation`. Called **before** the insert.
    pub(crate) fn remember(&self, revocation: RevocationKey, key: TokenKey) {
        let mut replaced = None;
        self.map.entry(revocation).and_upsert_with(|current| {
            let mut forms = current.map_or(
                FormKeys {
                    keys: [None; MAX_FORMS],
                },
                |entry| *entry.value(),
            );
            if forms.iter().any(|known| known == key) {
                return forms;
            }
            match forms.keys.iter_mut().find(|slot| slot.is_none()) {
                Some(free) => *free = Some(key),
                None => {
                    replaced = forms.keys[0];
                    forms.keys.rotate_left(1);
                    forms.keys[MAX_FORMS - 1] = Some(key);
                }
            }
            forms
        });
        if let Some(oldest) = replaced {
            self.local.invalidate_valid(&oldest);
        }
    }

    /// Drops the cached valid verdict of every form of `revocation` (a revocation, or a
    /// shared-tier mapping evicted for room).
    pub(crate) fn drop_verdicts(&self, revocation: &RevocationKey) {
        if let Some(forms) = self.map.get(revocation) {
            forms
                .iter()
                .for_each(|key| self.local.invalidate_valid(&key));
        }
    }

    /// The local keys of `revocation`'s forms (for a revocation's deadline: their expiry).
    #[cfg(any(test, feature = "redis"))]
    pub(crate) fn keys(&self, revocation: &RevocationKey) -> Vec<TokenKey> {
        self.map
            .get(revocation)
            .map(|forms| forms.iter().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheSettings;
    use crate::principal::Principal;
    use crate::principal::VerifierKind;

    fn local(capacity: u64) -> VerdictCache {
        VerdictCache::new(CacheSettings {
            capacity,
            negative_capacity: 10,
            positive_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(10),
        })
        .unwrap_or_else(|_| panic!("cache"))
    }

    fn fill(forms: &Forms, local: &VerdictCache, revocation: RevocationKey, token: &[u8]) {
        let key = TokenKey::of(token);
        forms.remember(revocation, key);
        local.insert_valid(key, Principal::builder(VerifierKind::Jwt).build());
    }

    #[test]
    fn dropping_a_revocation_key_drops_every_form_and_nothing_else() {
        let local = local(100);
        let forms = Forms::new(100, Duration::from_secs(300), local.clone());
        let (jwt, other) = (RevocationKey::of(b"h.p"), RevocationKey::of(b"h.q"));
        fill(&forms, &local, jwt, b"h.p.s1");
        fill(&forms, &local, jwt, b"h.p.s2");
        fill(&forms, &local, jwt, b"h.p.s2");
        fill(&forms, &local, other, b"h.q.s");
        assert_eq!(
            forms.keys(&jwt).len(),
            2,
            "a form filled twice is listed once"
        );
        forms.drop_verdicts(&jwt);
        assert!(local.get_valid(&TokenKey::of(b"h.p.s1")).is_none());
        assert!(local.get_valid(&TokenKey::of(b"h.p.s2")).is_none());
        assert!(local.get_valid(&TokenKey::of(b"h.q.s")).is_some());
    }

    #[test]
    fn a_form_past_the_bound_replaces_the_oldest_and_drops_its_verdict() {
        let local = local(100);
        let forms = Forms::new(100, Duration::from_secs(300), local.clone());
        let jwt = RevocationKey::of(b"h.p");
        let tokens: Vec<Vec<u8>> = (0..=MAX_FORMS)
            .map(|i| format!("h.p.s{i}").into_bytes())
            .collect();
        for token in &tokens {
            fill(&forms, &local, jwt, token);
        }
        assert_eq!(forms.keys(&jwt).len(), MAX_FORMS);
        assert!(
            local.get_valid(&TokenKey::of(&tokens[0])).is_none(),
            "the oldest form's verdict went with its listing"
        );
        forms.drop_verdicts(&jwt);
        assert_eq!(
            local.entry_counts().0,
            0,
            "no verdict outlived the revocation"
        );
    }

    #[test]
    fn a_revocation_key_evicted_for_room_drops_its_verdicts() {
        let local = local(1_000);
        let forms = Forms::new(10, Duration::from_secs(300), local.clone());
        for i in 0..200u32 {
            fill(
                &forms,
                &local,
                RevocationKey::of(&i.to_be_bytes()),
                &i.to_le_bytes(),
            );
        }
        forms.map.run_pending_tasks();
        let listed: u64 = (0..200u32)
            .map(|i| forms.keys(&RevocationKey::of(&i.to_be_bytes())).len() as u64)
            .sum();
        assert!(forms.map.entry_count() <= 10, "{}", forms.map.entry_count());
        assert_eq!(
            local.entry_counts().0,
            listed,
            "a cached verdict without its listing could not be revoked"
        );
    }

    /// A listing outlives its verdict: a verdict lives at most the positive TTL (on the wall
    /// clock), its listing — written just before it — twice that (on the monotonic clock), so a
    /// revocation of another form still finds it at the verdict's last moment.
    #[test]
    fn a_listing_outlives_the_positive_ttl_of_its_verdict() {
        let local = local(100);
        let forms = Forms::new(100, Duration::from_secs(1), local.clone());
        let jwt = RevocationKey::of(b"h.p");
        fill(&forms, &local, jwt, b"h.p.s");
        std::thread::sleep(Duration::from_millis(1_400));
        assert_eq!(
            forms.keys(&jwt).len(),
            1,
            "the listing expired with the positive TTL, before a verdict could"
        );
    }
}
