//! The `GUARD_*` settings for running several replicas: the shared cache, revocation, the admin
//! listener.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::ConfigError;
use crate::guard::DEFAULT_REVOCATION_TTL;
use crate::secret::Secret;

/// Default `GUARD_REDIS_TIMEOUT_MS`: 100.
const DEFAULT_REDIS_TIMEOUT_MS: u64 = 100;
/// Shortest `GUARD_CACHE_SECRET`, in bytes.
const MIN_CACHE_SECRET: usize = 32;

/// The replica settings read from the environment.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct ReplicaSettings {
    pub(super) redis_url: Option<Secret>,
    pub(super) cache_secret: Option<Secret>,
    pub(super) redis_timeout: Duration,
    pub(super) revocation_ttl: Duration,
    pub(super) admin_listen: Option<SocketAddr>,
    pub(super) admin_token: Option<Secret>,
}

impl ReplicaSettings {
    /// Reads them through `get` (trimmed, empty = unset) and `raw` (as is: secrets). The
    /// secrets (the Redis URL may carry a password) go into a [`Secret`] as they are read.
    pub(super) fn read(
        get: &dyn Fn(&str) -> Option<String>,
        raw: &dyn Fn(&str) -> Option<String>,
        listen: SocketAddr,
    ) -> Result<Self, ConfigError> {
        let redis_url = raw("GUARD_REDIS_URL")
            .map(Secret::trimmed)
            .filter(|url| !url.expose_secret().is_empty());
        let cache_secret = raw("GUARD_CACHE_SECRET")
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        if let Some(url) = &redis_url {
            let url = url.expose_secret();
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
                Some(secret) if secret.expose_secret().len() < MIN_CACHE_SECRET => {
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
        let admin_token = raw("GUARD_ADMIN_TOKEN")
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        if admin_listen.is_some() {
            match &admin_token {
                None => {
                    return Err(ConfigError::invalid(
                        "GUARD_ADMIN_TOKEN",
                        "required with GUARD_ADMIN_LISTEN: the bearer token the admin listener \
                         requires (at least 16 bytes)",
                    ));
                }
                Some(token) if token.expose_secret().len() < crate::admin::MIN_ADMIN_TOKEN_LEN => {
                    return Err(ConfigError::invalid(
                        "GUARD_ADMIN_TOKEN",
                        "must be at least 16 bytes",
                    ));
                }
                Some(_) => {}
            }
        } else if admin_token.is_some() {
            // As GUARD_CACHE_SECRET without GUARD_REDIS_URL: an operator who set the token
            // believes an admin listener is running; refuse rather than run without one.
            return Err(ConfigError::invalid(
                "GUARD_ADMIN_TOKEN",
                "is set, but GUARD_ADMIN_LISTEN is not: no admin listener would use it",
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<ReplicaSettings, ConfigError> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let listen = SocketAddr::from(([127, 0, 0, 1], 8080));
        ReplicaSettings::read(&get, &lookup, listen)
    }

    fn error(vars: &[(&str, &str)]) -> String {
        read(vars).err().map(|e| e.to_string()).unwrap_or_default()
    }

    const URL: (&str, &str) = ("GUARD_REDIS_URL", "redis://127.0.0.1:6379");
    const SECRET: (&str, &str) = ("GUARD_CACHE_SECRET", "0123456789abcdef0123456789abcdef");

    #[test]
    fn defaults_and_a_full_shared_setup() {
        let none = read(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(none.redis_url, None);
        assert_eq!(none.revocation_ttl, Duration::from_secs(3600));
        assert_eq!(none.redis_timeout, Duration::from_millis(100));
        let full = read(&[
            URL,
            SECRET,
            ("GUARD_REDIS_TIMEOUT_MS", "250"),
            ("GUARD_REVOCATION_TTL_SECS", "60"),
            ("GUARD_ADMIN_LISTEN", "127.0.0.1:9090"),
            ("GUARD_ADMIN_TOKEN", "admin-token-0123456789"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(full.redis_timeout, Duration::from_millis(250));
        assert_eq!(full.revocation_ttl, Duration::from_secs(60));
        assert_eq!(
            full.admin_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 9090)))
        );
    }

    #[test]
    fn each_bad_or_missing_setting_is_named() {
        assert!(error(&[URL]).starts_with("GUARD_CACHE_SECRET:"));
        let short = error(&[URL, ("GUARD_CACHE_SECRET", "short-secret")]);
        assert!(short.starts_with("GUARD_CACHE_SECRET:"), "{short}");
        assert!(!short.contains("short-secret"), "{short}");
        assert!(error(&[SECRET]).starts_with("GUARD_CACHE_SECRET:"));
        assert!(error(&[("GUARD_REDIS_URL", "http://x"), SECRET]).starts_with("GUARD_REDIS_URL:"));
        assert!(
            error(&[("GUARD_ADMIN_LISTEN", "127.0.0.1:9090")]).starts_with("GUARD_ADMIN_TOKEN:")
        );
        assert!(
            error(&[
                ("GUARD_ADMIN_LISTEN", "127.0.0.1:9090"),
                ("GUARD_ADMIN_TOKEN", "short")
            ])
            .starts_with("GUARD_ADMIN_TOKEN:")
        );
        let orphan = error(&[("GUARD_ADMIN_TOKEN", "admin-token-0123456789")]);
        assert!(orphan.starts_with("GUARD_ADMIN_TOKEN:"), "{orphan}");
        assert!(orphan.contains("GUARD_ADMIN_LISTEN"), "{orphan}");
        assert!(!orphan.contains("admin-token-0123456789"), "{orphan}");
        assert!(error(&[("GUARD_ADMIN_LISTEN", "nowhere")]).starts_with("GUARD_ADMIN_LISTEN:"));
        assert!(
            error(&[("GUARD_ADMIN_LISTEN", "127.0.0.1:8080")]).starts_with("GUARD_ADMIN_LISTEN:")
        );
        for bad in ["0", "604801", "1h"] {
            assert!(
                error(&[("GUARD_REVOCATION_TTL_SECS", bad)])
                    .starts_with("GUARD_REVOCATION_TTL_SECS:")
            );
        }
        for bad in ["0", "10001", "fast"] {
            assert!(
                error(&[("GUARD_REDIS_TIMEOUT_MS", bad)]).starts_with("GUARD_REDIS_TIMEOUT_MS:")
            );
        }
    }
}
