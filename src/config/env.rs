//! Reading the `GUARD_*` variables (the table in the [module docs](super)) into a
//! [`GuardConfig`]: every value checked here, a bad one refused under its variable's name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::GuardConfig;
use super::mode::{Sources, parse_mode};
use super::replicas;
use crate::error::{ConfigError, DEFAULT_REALM};
use crate::guard::{DEFAULT_NEGATIVE_TTL, DEFAULT_POSITIVE_TTL};
use crate::outbound;
use crate::secret::Secret;
use crate::verify::FormEncoding;

impl GuardConfig {
    /// Reads the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable with a bad value.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (for tests, or another source of settings).
    ///
    /// # Errors
    /// [`ConfigError`] naming the first variable with a bad value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let listen = match get("GUARD_LISTEN") {
            Some(value) => value.parse().map_err(|_| {
                ConfigError::invalid(
                    "GUARD_LISTEN",
                    format!("`{value}` is not an address like 127.0.0.1:8080"),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let flag = |name: &'static str| -> Result<bool, ConfigError> {
            match get(name).as_deref() {
                None | Some("false") | Some("0") => Ok(false),
                Some("true") | Some("1") => Ok(true),
                Some(other) => Err(ConfigError::invalid(
                    name,
                    format!("`{other}` is not `true` or `false`"),
                )),
            }
        };
        let allow_plain_http = flag("GUARD_ALLOW_PLAIN_HTTP")?;
        let require_at_jwt = flag("GUARD_REQUIRE_AT_JWT")?;
        // URLs are checked here, so a bad one (not https off loopback, credentials in it) is
        // refused before anything else, under its variable's name.
        let url = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match get(name) {
                None => Ok(None),
                Some(value) => {
                    outbound::checked_url(name, &value, allow_plain_http).map(|_| Some(value))
                }
            }
        };
        let verify_url = url("GUARD_VERIFY_URL")?;
        let https_proxy = get("GUARD_HTTPS_PROXY");
        if let Some(proxy) = &https_proxy {
            // Checked (and its client built once) here, so a bad value stops startup.
            outbound::http_client_via_https_proxy("GUARD_HTTPS_PROXY", proxy)?;
        }
        let jwks_url = url("GUARD_JWKS_URL")?;
        let jwt_public_key = get("GUARD_JWT_PUBLIC_KEY").map(PathBuf::from);
        let introspection_url = url("GUARD_INTROSPECTION_URL")?;
        let introspection_client_id = get("GUARD_INTROSPECTION_CLIENT_ID");
        // Read as is (not trimmed): a secret may end in a space.
        let introspection_client_secret = lookup("GUARD_INTROSPECTION_CLIENT_SECRET")
            .filter(|v| !v.is_empty())
            .map(Secret::new);
        if introspection_client_id.is_some() != introspection_client_secret.is_some() {
            return Err(ConfigError::invalid(
                "GUARD_INTROSPECTION_CLIENT_SECRET",
                "GUARD_INTROSPECTION_CLIENT_ID and GUARD_INTROSPECTION_CLIENT_SECRET go together",
            ));
        }
        let bitrix24_portal = url("GUARD_BITRIX24_PORTAL")?;
        let bitrix24_app_code = get("GUARD_BITRIX24_APP_CODE");
        let sources = Sources {
            remote: verify_url.is_some(),
            keys: jwks_url.is_some() || jwt_public_key.is_some(),
            introspection: introspection_url.is_some(),
            bitrix24: bitrix24_portal.is_some(),
        };
        let mode = match get("GUARD_MODE").as_deref() {
            None => sources.implied_mode()?,
            Some(value) => Some(parse_mode(value, sources)?),
        };
        let verify_encoding = match get("GUARD_VERIFY_ENCODING").as_deref() {
            None | Some("urlencoded") => FormEncoding::UrlEncoded,
            Some("multipart") => FormEncoding::Multipart,
            Some(other) => {
                return Err(ConfigError::invalid(
                    "GUARD_VERIFY_ENCODING",
                    format!("`{other}` is not `urlencoded` or `multipart`"),
                ));
            }
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let seconds = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(value) => value
                    .parse::<u64>()
                    .ok()
                    .filter(|&secs| secs <= 86_400)
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            name,
                            format!("`{value}` is not whole seconds from 0 to 86400"),
                        )
                    }),
            }
        };
        let raw = |name: &str| lookup(name);
        let replicas = replicas::ReplicaSettings::read(&get, &raw, listen)?;
        Ok(GuardConfig {
            listen,
            mode,
            verify_url,
            verify_encoding,
            jwks_url,
            jwt_public_key,
            introspection_url,
            introspection_client_id,
            introspection_client_secret,
            bitrix24_portal,
            bitrix24_app_code,
            issuers: list("GUARD_ISSUER"),
            audiences: list("GUARD_AUDIENCE"),
            require_at_jwt,
            cache_ttl: seconds("GUARD_CACHE_TTL_SECS", DEFAULT_POSITIVE_TTL)?,
            negative_ttl: seconds("GUARD_NEGATIVE_TTL_SECS", DEFAULT_NEGATIVE_TTL)?,
            realm: get("GUARD_REALM").unwrap_or_else(|| DEFAULT_REALM.to_owned()),
            allow_plain_http,
            https_proxy,
            redis_url: replicas.redis_url,
            cache_secret: replicas.cache_secret,
            redis_timeout: replicas.redis_timeout,
            revocation_ttl: replicas.revocation_ttl,
            admin_listen: replicas.admin_listen,
            admin_token: replicas.admin_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_LISTEN, Mode};
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<GuardConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        GuardConfig::from_lookup(|name| vars.get(name).cloned())
    }

    fn error(vars: &[(&str, &str)]) -> String {
        read(vars).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn defaults_with_nothing_set() {
        let config = read(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.mode, None);
        assert_eq!(config.cache_ttl, Duration::from_secs(300));
        assert_eq!(config.negative_ttl, Duration::from_secs(10));
        assert_eq!(config.realm, "api");
    }

    #[test]
    fn mode_follows_the_sources_that_are_set() {
        let mode = |vars: &[(&str, &str)]| read(vars).ok().and_then(|c| c.mode);
        assert_eq!(
            mode(&[("GUARD_VERIFY_URL", "https://x/v")]),
            Some(Mode::Remote)
        );
        assert_eq!(mode(&[("GUARD_JWKS_URL", "https://x/j")]), Some(Mode::Jwt));
        assert_eq!(mode(&[("GUARD_JWT_PUBLIC_KEY", "/k.pem")]), Some(Mode::Jwt));
        assert_eq!(
            mode(&[
                ("GUARD_VERIFY_URL", "https://x/v"),
                ("GUARD_JWKS_URL", "https://x/j")
            ]),
            Some(Mode::Auto)
        );
        assert_eq!(
            mode(&[("GUARD_VERIFY_URL", "")]),
            None,
            "empty counts as unset"
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert!(error(&[("GUARD_LISTEN", "nowhere")]).starts_with("GUARD_LISTEN:"));
        assert!(error(&[("GUARD_MODE", "magic")]).starts_with("GUARD_MODE:"));
        assert!(error(&[("GUARD_MODE", "remote")]).contains("needs GUARD_VERIFY_URL"));
        assert!(error(&[("GUARD_CACHE_TTL_SECS", "5m")]).starts_with("GUARD_CACHE_TTL_SECS:"));
        assert!(
            error(&[("GUARD_NEGATIVE_TTL_SECS", "-1")]).starts_with("GUARD_NEGATIVE_TTL_SECS:")
        );
        assert!(error(&[("GUARD_VERIFY_ENCODING", "xml")]).starts_with("GUARD_VERIFY_ENCODING:"));
        assert!(error(&[("GUARD_ALLOW_PLAIN_HTTP", "yes")]).starts_with("GUARD_ALLOW_PLAIN_HTTP:"));
        assert!(error(&[("GUARD_REQUIRE_AT_JWT", "yes")]).starts_with("GUARD_REQUIRE_AT_JWT:"));
    }

    #[test]
    fn insecure_or_credentialed_urls_are_refused_under_their_variable_name() {
        let message = error(&[("GUARD_VERIFY_URL", "http://crm.example/v")]);
        assert!(message.starts_with("GUARD_VERIFY_URL:"), "{message}");
        let message = error(&[("GUARD_JWKS_URL", "https://u:secret@keys.example/jwks")]);
        assert!(message.starts_with("GUARD_JWKS_URL:"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        let allowed = read(&[
            ("GUARD_VERIFY_URL", "http://crm.example/v"),
            ("GUARD_ALLOW_PLAIN_HTTP", "true"),
        ]);
        assert!(allowed.is_ok());
        let config =
            read(&[("GUARD_VERIFY_URL", "http://127.0.0.1:9/v")]).unwrap_or_else(|e| panic!("{e}"));
        assert!(config.layer().is_ok());
    }

    #[test]
    fn introspection_and_bitrix24_modes_follow_their_sources() {
        let mode = |vars: &[(&str, &str)]| read(vars).ok().and_then(|c| c.mode);
        assert_eq!(
            mode(&[("GUARD_INTROSPECTION_URL", "https://idp/i")]),
            Some(Mode::Introspect)
        );
        assert_eq!(
            mode(&[("GUARD_BITRIX24_PORTAL", "https://x.bitrix24.de")]),
            Some(Mode::Bitrix24)
        );
        let both = [
            ("GUARD_INTROSPECTION_URL", "https://idp/i"),
            ("GUARD_VERIFY_URL", "https://x/v"),
        ];
        assert!(error(&both).starts_with("GUARD_MODE:"));
        let mut chosen = both.to_vec();
        chosen.push(("GUARD_MODE", "introspect"));
        assert_eq!(mode(&chosen), Some(Mode::Introspect));
        assert!(error(&[("GUARD_MODE", "introspect")]).contains("GUARD_INTROSPECTION_URL"));
        assert!(error(&[("GUARD_MODE", "bitrix24")]).contains("GUARD_BITRIX24_PORTAL"));
        assert!(
            error(&[("GUARD_BITRIX24_PORTAL", "http://x.bitrix24.de")])
                .starts_with("GUARD_BITRIX24_PORTAL:")
        );
        assert!(
            error(&[
                ("GUARD_INTROSPECTION_URL", "https://idp/i"),
                ("GUARD_INTROSPECTION_CLIENT_ID", "rs"),
            ])
            .starts_with("GUARD_INTROSPECTION_CLIENT_SECRET:")
        );
        for vars in [
            vec![("GUARD_INTROSPECTION_URL", "http://127.0.0.1:9/i")],
            vec![("GUARD_BITRIX24_PORTAL", "http://127.0.0.1:9")],
        ] {
            let config = read(&vars).unwrap_or_else(|e| panic!("{e}"));
            assert!(config.layer().is_ok(), "{vars:?}");
        }
    }
}
