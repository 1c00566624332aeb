//! [`GuardConfig`]: every `GUARD_*` setting as a field, and a `Debug` that shows no secret.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Mode;
use crate::redact::redacted_url;
use crate::secret::Secret;
use crate::verify::FormEncoding;

/// Settings read from `GUARD_*` variables. See the [module docs](crate::config).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GuardConfig {
    /// `GUARD_LISTEN`.
    pub listen: SocketAddr,
    /// `GUARD_MODE`, or the mode implied by the sources; `None` when no source is set.
    pub mode: Option<Mode>,
    /// `GUARD_VERIFY_URL`.
    pub verify_url: Option<String>,
    /// `GUARD_VERIFY_ENCODING`.
    pub verify_encoding: FormEncoding,
    /// `GUARD_JWKS_URL`.
    pub jwks_url: Option<String>,
    /// `GUARD_JWT_PUBLIC_KEY`.
    pub jwt_public_key: Option<PathBuf>,
    /// `GUARD_INTROSPECTION_URL`.
    pub introspection_url: Option<String>,
    /// `GUARD_INTROSPECTION_CLIENT_ID`.
    pub introspection_client_id: Option<String>,
    /// `GUARD_INTROSPECTION_CLIENT_SECRET`: a [`Secret`] (never shown, wiped on drop).
    pub introspection_client_secret: Option<Secret>,
    /// `GUARD_BITRIX24_PORTAL`.
    pub bitrix24_portal: Option<String>,
    /// `GUARD_BITRIX24_APP_CODE`.
    pub bitrix24_app_code: Option<String>,
    /// `GUARD_ISSUER`.
    pub issuers: Vec<String>,
    /// `GUARD_AUDIENCE`.
    pub audiences: Vec<String>,
    /// `GUARD_REQUIRE_AT_JWT`: JWTs must carry the header `typ: at+jwt`
    /// ([`require_access_token_typ`](crate::JwtVerifierBuilder::require_access_token_typ)).
    pub require_at_jwt: bool,
    /// `GUARD_CACHE_TTL_SECS`.
    pub cache_ttl: Duration,
    /// `GUARD_NEGATIVE_TTL_SECS`.
    pub negative_ttl: Duration,
    /// `GUARD_REALM`.
    pub realm: String,
    /// `GUARD_ALLOW_PLAIN_HTTP`.
    pub allow_plain_http: bool,
    /// `GUARD_HTTPS_PROXY`.
    pub https_proxy: Option<String>,
    /// `GUARD_REDIS_URL`: a [`Secret`], as it may carry a password (`Debug` shows the URL
    /// without user info, query or fragment).
    pub redis_url: Option<Secret>,
    /// `GUARD_CACHE_SECRET`: a [`Secret`] (never shown, wiped on drop).
    pub cache_secret: Option<Secret>,
    /// `GUARD_REDIS_TIMEOUT_MS`.
    pub redis_timeout: Duration,
    /// `GUARD_REVOCATION_TTL_SECS`.
    pub revocation_ttl: Duration,
    /// `GUARD_ADMIN_LISTEN`.
    pub admin_listen: Option<SocketAddr>,
    /// `GUARD_ADMIN_TOKEN`: a [`Secret`] (never shown, wiped on drop).
    pub admin_token: Option<Secret>,
}

impl fmt::Debug for GuardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardConfig")
            .field("listen", &self.listen)
            .field("mode", &self.mode)
            .field("verify_url", &self.verify_url.as_deref().map(redacted_url))
            .field("verify_encoding", &self.verify_encoding)
            .field("jwks_url", &self.jwks_url.as_deref().map(redacted_url))
            .field("jwt_public_key", &self.jwt_public_key)
            .field(
                "introspection_url",
                &self.introspection_url.as_deref().map(redacted_url),
            )
            .field("introspection_client_id", &self.introspection_client_id)
            .field(
                "introspection_client_secret",
                &self.introspection_client_secret,
            )
            .field(
                "bitrix24_portal",
                &self.bitrix24_portal.as_deref().map(redacted_url),
            )
            .field("bitrix24_app_code", &self.bitrix24_app_code)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("require_at_jwt", &self.require_at_jwt)
            .field("cache_ttl", &self.cache_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .field("realm", &self.realm)
            .field("allow_plain_http", &self.allow_plain_http)
            .field(
                "https_proxy",
                &self.https_proxy.as_deref().map(redacted_url),
            )
            .field(
                "redis_url",
                // Exposed only to be shown without its user info (password), query or fragment.
                &self
                    .redis_url
                    .as_ref()
                    .map(|url| redacted_url(url.expose_secret())),
            )
            .field("cache_secret", &self.cache_secret)
            .field("redis_timeout", &self.redis_timeout)
            .field("revocation_ttl", &self.revocation_ttl)
            .field("admin_listen", &self.admin_listen)
            .field("admin_token", &self.admin_token)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(vars: &[(&str, &str)]) -> GuardConfig {
        GuardConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn debug_hides_the_introspection_secret() {
        let config = read(&[
            ("GUARD_INTROSPECTION_URL", "https://idp/i"),
            ("GUARD_INTROSPECTION_CLIENT_ID", "rs"),
            ("GUARD_INTROSPECTION_CLIENT_SECRET", "s3cr3t-value"),
        ]);
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("rs"), "{shown}");
    }

    #[test]
    fn debug_hides_url_queries() {
        let config = read(&[("GUARD_VERIFY_URL", "https://crm.example/v?api_key=k3y")]);
        let shown = format!("{config:?}");
        assert!(!shown.contains("k3y"), "{shown}");
        assert!(shown.contains("https://crm.example/v"), "{shown}");
    }
}
