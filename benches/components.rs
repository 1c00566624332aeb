//! The pieces of the cache-hit path, measured alone.
//!
//! Run: `cargo bench -p bearer-guard-benches --bench components`

use std::hint::black_box;

use aws_lc_rs::digest;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, header::AUTHORIZATION};

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
                .seal_in_place_separate_tag(nonce, aws_lc_rs::aead::Aad::from(black_box(token.as_bytes())), &mut [])
                .map(|tag| tag.as_ref()[0])
        })
    });
    group.bench_function("aes_gcm_tag_over_16_bytes", |b| {
        b.iter(|| {
            let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key([0u8; 12]);
            gcm_key
                .seal_in_place_separate_tag(nonce, aws_lc_rs::aead::Aad::from(black_box(&token.as_bytes()[..16])), &mut [])
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
        use polyval::universal_hash::{KeyInit, UniversalHash};
        b.iter(|| {
            let mut p = polyval::Polyval::new(&[5u8; 16].into());
            p.update_padded(black_box(token.as_bytes()));
            p.finalize()
        })
    });
    let cache: moka::sync::Cache<u128, u64> = moka::sync::Cache::new(100_000);
    cache.insert(42, 7);
    group.bench_function("moka_sync_get_hit", |b| b.iter(|| cache.get(black_box(&42u128))));
    struct Forever;
    impl moka::Expiry<u128, u64> for Forever {
        fn expire_after_create(&self, _: &u128, _: &u64, _: std::time::Instant) -> Option<std::time::Duration> {
            Some(std::time::Duration::from_secs(3600))
        }
    }
    let expiring: moka::sync::Cache<u128, u64> =
        moka::sync::Cache::builder().max_capacity(100_000).expire_after(Forever).build();
    expiring.insert(42, 7);
    group.bench_function("moka_sync_get_hit_with_expiry", |b| b.iter(|| expiring.get(black_box(&42u128))));
    group.finish();
}

criterion_group!(benches, components);
criterion_main!(benches);
