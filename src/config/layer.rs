//! Building the guard layer from a [`GuardConfig`]: its verifier, cache settings, realm and,
//! with `GUARD_REDIS_URL`, the shared tier.

use super::GuardConfig;
use super::rename::rename;
#[cfg(feature = "redis")]
use super::shared_partition;
use crate::error::ConfigError;
use crate::guard::BearerGuardLayer;

impl GuardConfig {
    /// Builds the guard layer: the verifier plus the cache TTLs, realm and revocation TTL,
    /// and the shared cache when `GUARD_REDIS_URL` is set (then inside a tokio runtime). The
    /// shared cache's partition (`SharedCache::partition`, feature `redis`) is a fingerprint of the
    /// settings that decide validity (mode, verify / JWKS / introspection URLs and client id,
    /// public key, issuers, audiences, Bitrix24 portal and app code, `GUARD_REQUIRE_AT_JWT`):
    /// only replicas with equal settings share verdicts.
    ///
    /// # Errors
    /// As [`GuardConfig::verifier`], and for a realm a header cannot carry (`GUARD_REALM`),
    /// or a shared cache that cannot be set up (named by its variable).
    pub fn layer(&self) -> Result<BearerGuardLayer, ConfigError> {
        let builder = BearerGuardLayer::builder(self.verifier()?)
            .positive_ttl(self.cache_ttl)
            .negative_ttl(self.negative_ttl)
            .revocation_ttl(self.revocation_ttl)
            .realm(self.realm.clone());
        #[cfg(feature = "redis")]
        let builder = match (&self.redis_url, &self.cache_secret) {
            (Some(url), Some(secret)) => builder.shared_cache(
                // Both are copied into `SharedCache`'s own wiped-on-drop boxes, which live until
                // `build` has derived the shared keys and opened the Redis client (redis-rs keeps
                // the password for reconnecting); the secret itself is not kept after that.
                crate::shared::SharedCache::new(url.expose_secret(), secret.expose_secret())
                    .timeout(self.redis_timeout)
                    .partition(shared_partition::verifier_partition(self)),
            ),
            _ => builder,
        };
        builder.build().map_err(|e| {
            let variable = match &e {
                ConfigError::Invalid { name, .. } => match name.as_ref() {
                    "positive_ttl" => "GUARD_CACHE_TTL_SECS",
                    "negative_ttl" => "GUARD_NEGATIVE_TTL_SECS",
                    "revocation_ttl" => "GUARD_REVOCATION_TTL_SECS",
                    "cache_secret" => "GUARD_CACHE_SECRET",
                    "redis_timeout" => "GUARD_REDIS_TIMEOUT_MS",
                    "redis_url" | "key_prefix" | "shared_partition" => "GUARD_REDIS_URL",
                    _ => "GUARD_REALM",
                },
                _ => "GUARD_REALM",
            };
            rename(e, variable)
        })
    }
}
