//! The pieces of a request, measured alone. Three groups:
//!
//! * `components`: extraction (`extract`), and the candidate cache-key functions over a
//!   ~930-byte token (SHA-256, the GMAC tag the guard uses, HighwayHash, SipHash-1-3,
//!   keyed BLAKE3, POLYVAL) and moka lookups, kept for the record of the key choice.
//! * `guard_hit`: the cache key + lookup through the public API: a guard (RS256-2048
//!   `JwtVerifier`, primed) around a trivial `tower::service_fn` answering an empty response
//!   (`guarded_service_fn_hit`), against the same service without the guard
//!   (`bare_service_fn`). The difference is the guard's hit path, without axum's router.
//! * `jwt_verify/<implementation>/<algorithm>`: one signature + claims check per iteration,
//!   no cache, for RS256-2048, RS256-4096, PS256 (RSA-2048), ES256, EdDSA, HS256, all with the
//!   same claims (the RS256-2048 token is ~930 bytes) and `iss` + `aud` checked:
//!   - `bearer_guard`: `Verifier::verify` of bearer-guard's `JwtVerifier` (PEM key, or the
//!     HMAC secret), to the `Principal`;
//!   - `jsonwebtoken`: raw `jsonwebtoken::decode::<Map<String, Value>>` (v11, aws-lc-rs) with
//!     the same key and a `Validation` built once: the floor for the library's own work;
//!   - `jwt_authorizer`: jwt-authorizer 0.15's `Authorizer::check_auth` (jsonwebtoken 9 on
//!     ring, claims as `serde_json::Value`): what its layer does per request after extraction.
//!
//! Run: `cargo bench -p bearer-guard-benches --bench components`
//! (one group: append `-- jwt_verify`; short: `-- --warm-up-time 1 --measurement-time 2`).
// Measurement code: a setup step that fails ends the run with its message; no request data
// reaches an unwrap or expect here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support.rs"]
mod support;

use std::convert::Infallible;
use std::hint::black_box;

use aws_lc_rs::digest;
use axum::body::Body;
use bearer_guard::{BearerGuardLayer, Verifier};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Request, Response, header::AUTHORIZATION};
use support::BenchKey;
use tower::{Layer as _, ServiceExt as _};

fn token() -> String {
    // The shape of a ~930-byte RS256 JWT.
    let mut token = String::from("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6ImFiYyJ9.");
    token.push_str(&"eyJzdWIiOiJVc2VyczoxIn0".repeat(25));
    token.push('.');
    token.push_str(&"AUKqkoUPBDWfbX69JLoiwZRhxEox_hXbLXSaO65CFec".repeat(8));
    token
}

fn components(c: &mut Criterion) {
    let token = token();
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap_or(HeaderValue::from_static("x")),
    );
    let mut group = c.benchmark_group("components");
    group.bench_function("extract", |b| {
        b.iter(|| bearer_guard::extract::bearer_token(black_box(&headers), 8192).map(str::len))
    });
    group.bench_function("sha256_token", |b| {
        b.iter(|| digest::digest(&digest::SHA256, black_box(token.as_bytes())))
    });
    let gcm_key = aws_lc_rs::aead::LessSafeKey::new(
        aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_128_GCM, &[7u8; 16])
            .unwrap_or_else(|e| panic!("{e}")),
    );
    group.bench_function("aes_gcm_tag_over_token", |b| {
        b.iter(|| {
            let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key([0u8; 12]);
            gcm_key
                .seal_in_place_separate_tag(
                    nonce,
                    aws_lc_rs::aead::Aad::from(black_box(token.as_bytes())),
                    &mut [],
                )
                .map(|tag| tag.as_ref()[0])
        })
    });
    // The token as plaintext instead of associated data: aws-lc's fused AES-CTR + GHASH
    // kernels (VAES / VPCLMULQDQ where the CPU has them) run on the ciphertext.
    group.bench_function("aes_gcm_tag_token_as_plaintext", |b| {
        let mut scratch = vec![0u8; 8192];
        b.iter(|| {
            let bytes = black_box(token.as_bytes());
            let buffer = &mut scratch[..bytes.len()];
            buffer.copy_from_slice(bytes);
            let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key([0u8; 12]);
            gcm_key
                .seal_in_place_separate_tag(nonce, aws_lc_rs::aead::Aad::empty(), buffer)
                .map(|tag| tag.as_ref()[0])
        })
    });
    group.bench_function("aes_gcm_tag_over_16_bytes", |b| {
        b.iter(|| {
            let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key([0u8; 12]);
            gcm_key
                .seal_in_place_separate_tag(
                    nonce,
                    aws_lc_rs::aead::Aad::from(black_box(&token.as_bytes()[..16])),
                    &mut [],
                )
                .map(|tag| tag.as_ref()[0])
        })
    });
    group.bench_function("highway_128", |b| {
        use highway::{HighwayHash, HighwayHasher, Key};
        b.iter(|| HighwayHasher::new(Key([1, 2, 3, 4])).hash128(black_box(token.as_bytes())))
    });
    group.bench_function("siphash13_128", |b| {
        use siphasher::sip128::{Hasher128, SipHasher13};
        use std::hash::Hasher;
        b.iter(|| {
            let mut h = SipHasher13::new_with_keys(1, 2);
            h.write(black_box(token.as_bytes()));
            h.finish128()
        })
    });
    group.bench_function("blake3_keyed", |b| {
        b.iter(|| blake3::keyed_hash(&[9u8; 32], black_box(token.as_bytes())))
    });
    group.bench_function("polyval", |b| {
        use polyval::universal_hash::UniversalHash;
        b.iter(|| {
            let mut p = polyval::Polyval::new(&[5u8; 16].into());
            p.update_padded(black_box(token.as_bytes()));
            p.finalize()
        })
    });
    // Issue 16's fingerprint lever: POLYVAL with its key (and powers of H) expanded once,
    // cloned per call, plus the length block that keeps padded twins apart.
    let polyval_key = {
        use polyval::universal_hash::KeyInit;
        polyval::Polyval::new_from_slice(&[5u8; 16]).unwrap_or_else(|e| panic!("{e}"))
    };
    let polyval_tag = |bytes: &[u8]| {
        use polyval::universal_hash::UniversalHash;
        let mut p = polyval_key.clone();
        p.update_padded(bytes);
        let mut length = [0u8; 16];
        length[..8].copy_from_slice(&((bytes.len() as u64) * 8).to_le_bytes());
        p.update(&[length.into()]);
        p.finalize()
    };
    group.bench_function("polyval_prepared_over_token", |b| {
        b.iter(|| polyval_tag(black_box(token.as_bytes())))
    });
    let opaque = "0123456789abcdef0123456789abcdef01234567"; // a 40-character opaque token
    group.bench_function("polyval_prepared_over_40_bytes", |b| {
        b.iter(|| polyval_tag(black_box(opaque.as_bytes())))
    });
    group.bench_function("aes_gcm_tag_over_40_bytes", |b| {
        b.iter(|| {
            let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key([0u8; 12]);
            gcm_key
                .seal_in_place_separate_tag(
                    nonce,
                    aws_lc_rs::aead::Aad::from(black_box(opaque.as_bytes())),
                    &mut [],
                )
                .map(|tag| tag.as_ref()[0])
        })
    });
    // The clock lever.
    group.bench_function("system_time_now", |b| b.iter(std::time::SystemTime::now));
    group.bench_function("instant_now", |b| b.iter(std::time::Instant::now));
    // The map lever: maps whose read does not record the access in a queue.
    #[derive(Clone, Default)]
    struct Passthrough;
    impl std::hash::BuildHasher for Passthrough {
        type Hasher = PassthroughHasher;
        fn build_hasher(&self) -> PassthroughHasher {
            PassthroughHasher(0)
        }
    }
    #[derive(Default)]
    struct PassthroughHasher(u64);
    impl std::hash::Hasher for PassthroughHasher {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
        fn write_u128(&mut self, value: u128) {
            self.0 ^= (value as u64) ^ ((value >> 64) as u64).rotate_left(32);
        }
    }
    let key: u128 = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210;
    let quick: quick_cache::sync::Cache<
        u128,
        (std::sync::Arc<u64>, u64),
        quick_cache::UnitWeighter,
        Passthrough,
    > = quick_cache::sync::Cache::with(
        100_000,
        100_000,
        quick_cache::UnitWeighter,
        Passthrough,
        quick_cache::sync::DefaultLifecycle::default(),
    );
    quick.insert(key, (std::sync::Arc::new(7), 9));
    group.bench_function("quick_cache_get_hit", |b| {
        b.iter(|| quick.get(black_box(&key)))
    });
    type Shard =
        std::sync::RwLock<std::collections::HashMap<u128, (std::sync::Arc<u64>, u64), Passthrough>>;
    let shards: Vec<Shard> = (0..16)
        .map(|_| std::sync::RwLock::new(std::collections::HashMap::default()))
        .collect();
    if let Ok(mut shard) = shards[(key as usize) & 15].write() {
        shard.insert(key, (std::sync::Arc::new(7), 9));
    }
    group.bench_function("sharded_rwlock_hashmap_get_hit", |b| {
        b.iter(|| {
            let k = black_box(&key);
            shards[(*k as usize) & 15]
                .read()
                .ok()
                .and_then(|shard| shard.get(k).cloned())
        })
    });
    // The Principal lever: placing it into a request's extensions.
    let principal = bearer_guard::Principal::builder(bearer_guard::VerifierKind::Remote).build();
    group.bench_function("extensions_insert_principal_into_empty", |b| {
        b.iter(|| {
            let mut extensions = http::Extensions::new();
            extensions.insert(black_box(&principal).clone());
            extensions
        })
    });
    group.bench_function("extensions_new_empty", |b| b.iter(http::Extensions::new));
    let cache: moka::sync::Cache<u128, u64> = moka::sync::Cache::new(100_000);
    cache.insert(42, 7);
    group.bench_function("moka_sync_get_hit", |b| {
        b.iter(|| cache.get(black_box(&42u128)))
    });
    struct Forever;
    impl moka::Expiry<u128, u64> for Forever {
        fn expire_after_create(
            &self,
            _: &u128,
            _: &u64,
            _: std::time::Instant,
        ) -> Option<std::time::Duration> {
            Some(std::time::Duration::from_secs(3600))
        }
    }
    let expiring: moka::sync::Cache<u128, u64> = moka::sync::Cache::builder()
        .max_capacity(100_000)
        .expire_after(Forever)
        .build();
    expiring.insert(42, 7);
    group.bench_function("moka_sync_get_hit_with_expiry", |b| {
        b.iter(|| expiring.get(black_box(&42u128)))
    });
    // As the guard's positive cache: LRU and time-to-idle.
    let lru_idle: moka::sync::Cache<u128, u64> = moka::sync::Cache::builder()
        .max_capacity(100_000)
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .time_to_idle(std::time::Duration::from_secs(3600))
        .build();
    lru_idle.insert(42, 7);
    group.bench_function("moka_sync_get_hit_lru_time_to_idle", |b| {
        b.iter(|| lru_idle.get(black_box(&42u128)))
    });
    group.finish();
}

/// The guard's hit path through its public API, around a service that does nothing.
fn guard_hit(c: &mut Criterion) {
    let runtime = support::current_thread();
    let key = BenchKey::rsa(
        "RS256-2048",
        aws_lc_rs::rsa::KeySize::Rsa2048,
        jsonwebtoken::Algorithm::RS256,
    );
    let token = key.sign(&support::claims(support::pad_for(&key)));
    let authorization = support::bearer(&token);
    let bare = tower::service_fn(|_request: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::empty()))
    });
    let guarded = BearerGuardLayer::builder(key.bearer_guard())
        .positive_ttl(std::time::Duration::from_secs(3600))
        .build()
        .expect("guard")
        .layer(bare);
    runtime.block_on(async {
        let primed = guarded
            .clone()
            .oneshot(support::request(&authorization))
            .await;
        assert_eq!(
            primed.map(|r| r.status().as_u16()).ok(),
            Some(200),
            "guard must let the token through"
        );
        let again = guarded
            .clone()
            .oneshot(support::request(&authorization))
            .await;
        assert_eq!(
            again.map(|r| r.status().as_u16()).ok(),
            Some(200),
            "guard must let the token through"
        );
    });

    let mut group = c.benchmark_group("guard_hit");
    group.bench_function("bare_service_fn", |b| {
        b.to_async(&runtime)
            .iter(|| bare.oneshot(support::request(&authorization)))
    });
    group.bench_function("guarded_service_fn_hit", |b| {
        b.to_async(&runtime)
            .iter(|| guarded.clone().oneshot(support::request(&authorization)))
    });
    group.finish();
}

/// One JWT check per iteration, per algorithm, per implementation.
fn jwt_verify(c: &mut Criterion) {
    let runtime = support::current_thread();
    let keys = BenchKey::every_family();
    // The same claims (one `jti`, one pad) for every algorithm; ~930 bytes with RS256-2048.
    let claims = support::claims(support::pad_for(&keys[0]));

    let mut group = c.benchmark_group("jwt_verify");
    for key in &keys {
        let case = support::VerifyCase::new(key, &claims, &runtime);

        group.bench_function(BenchmarkId::new("bearer_guard", key.name), |b| {
            b.to_async(&runtime)
                .iter(|| case.verifier.verify(black_box(&case.bearer_token)))
        });
        group.bench_function(BenchmarkId::new("jsonwebtoken", key.name), |b| {
            b.iter(|| case.decode())
        });
        group.bench_function(BenchmarkId::new("jwt_authorizer", key.name), |b| {
            b.to_async(&runtime)
                .iter(|| case.authorizer.check_auth(black_box(&case.token)))
        });
    }
    group.finish();
}

criterion_group!(benches, components, guard_hit, jwt_verify);
criterion_main!(benches);
