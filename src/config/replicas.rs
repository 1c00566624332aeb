//! The `GUARD_*` settings for running several replicas: the shared cache, revocation, the admin
//! listener.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::ConfigError;
use crate::guard::DEFAULT_REVOCATION_TTL;

/// Default `GUARD_REDIS_TIMEOUT_MS`: 100.
const DEFAULT_REDIS_TIMEOUT_MS: u64 = 100;
/// Shortest `GUARD_CACHE_SECRET`, in bytes.
const MIN_CACHE_SECRET: usize = 32;

/// The replica settings read from the environment.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct ReplicaSettings {
    pub(super) redis_url: Option<String>,
    pub(super) cache_secret: Option<String>,
    pub(super) redis_timeout: Duration,
    pub(super) revocation_ttl: Duration,
    pub(super) admin_listen: Option<SocketAddr>,
    pub(super) admin_token: Option<String>,
}

impl ReplicaSettings {
    /// Reads them through `get` (trimmed, empty = unset) and `raw` (as is: secrets).
    pub(super) fn read(
        get: &dyn Fn(&str) -> Option<String>,
        raw: &dyn Fn(&str) -> Option<String>,
        listen: SocketAddr,
    ) -> Result<Self, ConfigError> {
        let redis_url = get("GUARD_REDIS_URL");
        let cache_secret = raw("GUARD_CACHE_SECRET").filter(|v| !v.is_empty());
        if let Some(url) = &redis_url {
            if cfg!(not(feature = "redis")) {
                return Err(ConfigError::invalid(
                    "GUARD_REDIS_URL",
                    "this build of bearer-guard has the `redis` feature off: no shared cache",
                ));
            }
            // The URL may hold a password: never echoed.
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError::invalid(
                    "GUARD_REDIS_URL",
                    "is not a redis://host:port[/db] or rediss://host:port[/db] URL",
                ));
            }
            match &cache_secret {
                None => {
                    return Err(ConfigError::invalid(
                        "GUARD_CACHE_SECRET",
                        "required with GUARD_REDIS_URL: the secret every replica derives its \
                         cache keys from (at least 32 bytes)",
                    ));
                }
                Some(secret) if secret.len() < MIN_CACHE_SECRET => {
                    return Err(ConfigError::invalid(
                        "GUARD_CACHE_SECRET",
                        "must be at least 32 bytes (e.g. `openssl rand -base64 48`)",
                    ));
                }
                Some(_) => {}
            }
        } else if cache_secret.is_some() {
            return Err(ConfigError::invalid(
                "GUARD_CACHE_SECRET",
                "is set, but GUARD_REDIS_URL is not: nothing would be shared",
            ));
        }
        let admin_listen = match get("GUARD_ADMIN_LISTEN") {
            None => None,
            Some(value) => {
                let addr: SocketAddr = value.parse().map_err(|_| {
                    ConfigError::invalid(
                        "GUARD_ADMIN_LISTEN",
                        format!("`{value}` is not an address like 127.0.0.1:9090"),
                    )
                })?;
                if addr == listen && addr.port() != 0 {
                    return Err(ConfigError::invalid(
                        "GUARD_ADMIN_LISTEN",
                        "must differ from GUARD_LISTEN: the API listener has no admin routes",
                    ));
                }
                Some(addr)
            }
        };
        let admin_token = raw("GUARD_ADMIN_TOKEN").filter(|v| !v.is_empty());
        if admin_listen.is_some() {
            match &admin_token {
                None => {
                    return Err(ConfigError::invalid(
                        "GUARD_ADMIN_TOKEN",
                        "required with GUARD_ADMIN_LISTEN: the bearer token the admin listener \
                         requires (at least 16 bytes)",
                    ));
                }
                Some(token) if token.len() < crate::admin::MIN_ADMIN_TOKEN_LEN => {
                    return Err(ConfigError::invalid(
                        "GUARD_ADMIN_TOKEN",
                        "must be at least 16 bytes",
                    ));
                }
                Some(_) => {}
            }
        }
        let revocation_ttl = bounded(
            get,
            "GUARD_REVOCATION_TTL_SECS",
            DEFAULT_REVOCATION_TTL.as_secs(),
            1..=604_800,
            "whole seconds from 1 to 604800 (7 days)",
        )
        .map(Duration::from_secs)?;
        let redis_timeout = bounded(
            get,
            "GUARD_REDIS_TIMEOUT_MS",
            DEFAULT_REDIS_TIMEOUT_MS,
            1..=10_000,
            "whole milliseconds from 1 to 10000",
        )
        .map(Duration::from_millis)?;
        Ok(ReplicaSettings {
            redis_url,
            cache_secret,
            redis_timeout,
            revocation_ttl,
            admin_listen,
            admin_token,
        })
    }
}

fn bounded(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
    expected: &str,
) -> Result<u64, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(value) => value
            .parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| ConfigError::invalid(name, format!("`{value}` is not {expected}"))),
    }
}
