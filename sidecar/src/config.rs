//! The sidecar's settings: the library's `GUARD_*` variables ([`GuardConfig`]) plus its own.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `GUARD_LISTEN` | address to bind (read by [`GuardConfig`]) | `127.0.0.1:8080` |
//! | `GUARD_RULES` | path to a TOML [rules file](crate::rules) | none: any valid token is enough for every route |
//! | `GUARD_TRUSTED_PROXIES` | comma-separated CIDRs (or `none`) whose `X-Forwarded-*` / `X-Original-*` headers are believed | `127.0.0.0/8,::1/128` |
//! | `GUARD_FORWARDED_HEADERS` | which of them `/auth` reads: `auto`, `original` or `forwarded` ([`ForwardedHeaders`]) | `auto` |
//!
//! An empty variable counts as unset, as in [`GuardConfig`]. There is no embedded issuer: with
//! no verification source set, [`SidecarConfig::from_lookup`] fails with
//! [`StartupError::NoSource`], naming the variables.

use std::net::SocketAddr;
use std::path::PathBuf;

use bearer_guard::GuardConfig;

use crate::error::StartupError;
use crate::forwarded::{DEFAULT_TRUSTED_PROXIES, ForwardedHeaders, TrustedProxies};
use crate::rules::Rules;

/// Everything the sidecar reads at startup.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SidecarConfig {
    /// The library's settings (verifier, caches, realm, `GUARD_LISTEN`).
    pub guard: GuardConfig,
    /// `GUARD_RULES`, when set.
    pub rules_file: Option<PathBuf>,
    /// The rules read from it ([`Rules::default`] without one).
    pub rules: Rules,
    /// `GUARD_TRUSTED_PROXIES`.
    pub trusted_proxies: TrustedProxies,
    /// `GUARD_FORWARDED_HEADERS`.
    pub forwarded_headers: ForwardedHeaders,
}

impl SidecarConfig {
    /// Reads the process environment (and the rules file).
    ///
    /// # Errors
    /// As [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Self, StartupError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`, and the rules file it names.
    ///
    /// # Errors
    /// [`StartupError`] naming the first variable with a bad value, [`StartupError::NoSource`]
    /// when no verification source is set, [`StartupError::Rules`] for a rules file that
    /// cannot be read or used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StartupError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let guard = GuardConfig::from_lookup(&lookup)?;
        if guard.mode.is_none() {
            return Err(StartupError::NoSource);
        }
        let trusted_proxies = TrustedProxies::parse(
            get("GUARD_TRUSTED_PROXIES")
                .as_deref()
                .unwrap_or(DEFAULT_TRUSTED_PROXIES),
        )?;
        let forwarded_headers = get("GUARD_FORWARDED_HEADERS")
            .map(|value| ForwardedHeaders::parse(&value))
            .transpose()?
            .unwrap_or_default();
        let rules_file = get("GUARD_RULES").map(|path| PathBuf::from(path.trim()));
        let rules = match &rules_file {
            Some(path) => Rules::from_file(path)?,
            None => Rules::default(),
        };
        Ok(SidecarConfig {
            guard,
            rules_file,
            rules,
            trusted_proxies,
            forwarded_headers,
        })
    }

    /// `GUARD_LISTEN`.
    pub fn listen(&self) -> SocketAddr {
        self.guard.listen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<SidecarConfig, StartupError> {
        SidecarConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    const VERIFY: (&str, &str) = ("GUARD_VERIFY_URL", "http://127.0.0.1:9/verify");

    #[test]
    fn defaults_listen_on_loopback_trust_loopback_and_need_any_token() {
        let config = config(&[VERIFY]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen(), SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.trusted_proxies, TrustedProxies::default());
        assert_eq!(config.forwarded_headers, ForwardedHeaders::Auto);
        assert!(config.rules_file.is_none());
        assert!(config.rules.rules().is_empty());
    }

    #[test]
    fn forwarded_headers_reads_its_three_values() {
        for (value, want) in [
            ("auto", ForwardedHeaders::Auto),
            ("original", ForwardedHeaders::Original),
            (" forwarded ", ForwardedHeaders::Forwarded),
            ("", ForwardedHeaders::Auto),
        ] {
            let config = config(&[VERIFY, ("GUARD_FORWARDED_HEADERS", value)])
                .unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(config.forwarded_headers, want, "{value:?}");
            assert_eq!(ForwardedHeaders::parse(want.as_str()), Ok(want));
        }
    }

    #[test]
    fn debug_shows_no_secret_setting() {
        let config = config(&[
            ("GUARD_INTROSPECTION_URL", "http://127.0.0.1:9/introspect"),
            ("GUARD_INTROSPECTION_CLIENT_ID", "rs-id"),
            (
                "GUARD_INTROSPECTION_CLIENT_SECRET",
                "sidecar-Client-Secret-3e7a",
            ),
            ("GUARD_ADMIN_LISTEN", "127.0.0.1:9090"),
            ("GUARD_ADMIN_TOKEN", "sidecar-Admin-Token-0b44"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("sidecar-Client-Secret-3e7a"), "{shown}");
        assert!(!shown.contains("sidecar-Admin-Token-0b44"), "{shown}");
        assert_eq!(shown.matches("[redacted]").count(), 2, "{shown}");
    }

    #[test]
    fn no_source_is_an_error_naming_the_variables() {
        let message = config(&[("GUARD_LISTEN", "127.0.0.1:9000")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        for name in [
            "GUARD_VERIFY_URL",
            "GUARD_JWKS_URL",
            "GUARD_JWT_PUBLIC_KEY",
            "GUARD_INTROSPECTION_URL",
            "GUARD_BITRIX24_PORTAL",
        ] {
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (vars, name) in [
            (
                vec![VERIFY, ("GUARD_TRUSTED_PROXIES", "10.0.0.0/40")],
                "GUARD_TRUSTED_PROXIES",
            ),
            (
                vec![VERIFY, ("GUARD_RULES", "/nonexistent/rules.toml")],
                "GUARD_RULES",
            ),
            (vec![VERIFY, ("GUARD_LISTEN", "everywhere")], "GUARD_LISTEN"),
            (
                vec![VERIFY, ("GUARD_FORWARDED_HEADERS", "x-forwarded")],
                "GUARD_FORWARDED_HEADERS",
            ),
            (
                vec![VERIFY, ("GUARD_FORWARDED_HEADERS", "Original")],
                "GUARD_FORWARDED_HEADERS",
            ),
            (
                vec![("GUARD_VERIFY_URL", "http://example.com/v")],
                "GUARD_VERIFY_URL",
            ),
        ] {
            let message = config(&vars)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.starts_with(name), "{vars:?}: {message}");
        }
    }
}
