//! What a [`GuardConfig`] builds: the verifier its mode calls for, the guard layer (with the
//! shared tier) and the admin routes. Each builder names its own settings in its errors
//! (`positive_ttl`, `admin_token`, …); here every such error is put under the `GUARD_*`
//! variable that holds the setting, from one table per builder ([`Fed`]).

use std::sync::Arc;

#[cfg(feature = "redis")]
use super::shared_partition;
use super::{GuardConfig, Mode};
use crate::error::ConfigError;
use crate::guard::BearerGuardLayer;
use crate::outbound;
use crate::verify::{
    AutoVerifier, Bitrix24Verifier, IntrospectionVerifier, JwtVerifier, RemoteVerifier, Verifier,
};

/// The settings a [`GuardConfig`] gives one builder: each as the builder names it in its
/// errors, with the variable its value is read from. An error under a setting missing from
/// the table keeps the builder's own name: it is never put under another setting's variable.
type Fed = [(&'static str, &'static str)];

/// The guard layer's settings, and (feature `redis`) its shared cache's.
const LAYER: &Fed = &[
    ("realm", "GUARD_REALM"),
    ("positive_ttl", "GUARD_CACHE_TTL_SECS"),
    ("negative_ttl", "GUARD_NEGATIVE_TTL_SECS"),
    ("revocation_ttl", "GUARD_REVOCATION_TTL_SECS"),
    ("redis_timeout", "GUARD_REDIS_TIMEOUT_MS"),
    ("cache_secret", "GUARD_CACHE_SECRET"),
    // Also a client that cannot be set up, or no tokio runtime to start the tier in.
    ("redis_url", "GUARD_REDIS_URL"),
];
/// The local JWT verifier's.
const JWT: &Fed = &[
    ("static key", "GUARD_JWT_PUBLIC_KEY"),
    ("jwks_url", "GUARD_JWKS_URL"),
    // No key source at all: the mode asked for local checks without one.
    ("keys", "GUARD_MODE"),
];
/// The introspection verifier's.
const INTROSPECTION: &Fed = &[
    ("introspection url", "GUARD_INTROSPECTION_URL"),
    ("client_auth", "GUARD_INTROSPECTION_CLIENT_SECRET"),
];
/// The Bitrix24 verifier's.
const BITRIX24: &Fed = &[("bitrix24 portal", "GUARD_BITRIX24_PORTAL")];
/// The crm-now remote verifier's.
const REMOTE: &Fed = &[("verify url", "GUARD_VERIFY_URL")];
/// The admin router's.
const ADMIN: &Fed = &[("admin_token", "GUARD_ADMIN_TOKEN")];

/// Puts `error` under the variable `fed` gives its setting, the builder's own setting name
/// kept in the message after the variable's. Errors without a setting (the HTTP client, the
/// random generator) and settings `fed` does not list are returned as they are.
fn under_variable(error: ConfigError, fed: &Fed) -> ConfigError {
    let variable = |name: &str| {
        fed.iter()
            .find(|(setting, _)| *setting == name)
            .map(|&(_, variable)| variable)
    };
    let within = |name: &str, problem: &str| format!("{name}: {problem}").into();
    match error {
        ConfigError::Invalid { name, problem } => match variable(&name) {
            Some(variable) => ConfigError::Invalid {
                name: variable.into(),
                problem: within(&name, &problem),
            },
            None => ConfigError::Invalid { name, problem },
        },
        ConfigError::InsecureUrl { name, problem } => match variable(&name) {
            Some(variable) => ConfigError::InsecureUrl {
                name: variable.into(),
                problem: within(&name, &problem),
            },
            None => ConfigError::InsecureUrl { name, problem },
        },
        ConfigError::Key { name, problem } => match variable(&name) {
            Some(variable) => ConfigError::Key {
                name: variable.into(),
                problem: within(&name, &problem),
            },
            None => ConfigError::Key { name, problem },
        },
        other => other,
    }
}

impl GuardConfig {
    /// Builds the verifier the mode calls for.
    ///
    /// # Errors
    /// [`ConfigError`] when no source is configured, or a source's settings are refused
    /// (named by the variable that holds the setting).
    pub fn verifier(&self) -> Result<Arc<dyn Verifier>, ConfigError> {
        match self.mode {
            None => Err(ConfigError::invalid(
                "GUARD_MODE",
                "no GUARD_VERIFY_URL, GUARD_JWKS_URL, GUARD_JWT_PUBLIC_KEY, \
                 GUARD_INTROSPECTION_URL or GUARD_BITRIX24_PORTAL is set",
            )),
            Some(Mode::Introspect) => Ok(Arc::new(self.introspection_verifier()?)),
            Some(Mode::Bitrix24) => Ok(Arc::new(self.bitrix24_verifier()?)),
            Some(Mode::Remote) => Ok(Arc::new(self.remote_verifier()?)),
            Some(Mode::Jwt) => Ok(Arc::new(self.jwt_verifier()?)),
            Some(Mode::Auto) => {
                let remote: Arc<dyn Verifier> = Arc::new(self.remote_verifier()?);
                Ok(Arc::new(AutoVerifier::new(self.jwt_verifier()?, remote)))
            }
        }
    }

    /// Builds the guard layer: the verifier plus the cache TTLs, realm and revocation TTL,
    /// and the shared cache when `GUARD_REDIS_URL` is set (then inside a tokio runtime). The
    /// shared cache's partition (`SharedCache::partition`, feature `redis`) is a fingerprint of the
    /// settings that decide validity (mode, verify / JWKS / introspection URLs and client id,
    /// public key, issuers, audiences, Bitrix24 portal and app code, `GUARD_REQUIRE_AT_JWT`):
    /// only replicas with equal settings share verdicts.
    ///
    /// # Errors
    /// As [`GuardConfig::verifier`], and for a realm a header cannot carry (`GUARD_REALM`),
    /// a TTL or Redis timeout the guard refuses, or a shared cache that cannot be set up (each
    /// named by its variable).
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
        builder.build().map_err(|e| under_variable(e, LAYER))
    }

    /// The admin routes ([`admin_router`](crate::admin::admin_router)) for `guard` when
    /// `GUARD_ADMIN_LISTEN` is set, to be served on that address; `None` otherwise.
    ///
    /// # Errors
    /// A `GUARD_ADMIN_TOKEN` the admin router refuses (named by the variable).
    pub fn admin_router<R>(
        &self,
        guard: &BearerGuardLayer<R>,
    ) -> Result<Option<axum::Router>, ConfigError>
    where
        R: Clone + Send + Sync + 'static,
    {
        match (&self.admin_listen, &self.admin_token) {
            // The router keeps only an HMAC of the token under a random key, not the token.
            (Some(_), Some(token)) => {
                crate::admin::admin_router(guard.clone(), token.expose_secret())
                    .map(Some)
                    .map_err(|e| under_variable(e, ADMIN))
            }
            _ => Ok(None),
        }
    }

    /// The client for every outbound call when `GUARD_HTTPS_PROXY` is set; `None` lets each
    /// verifier build its own proxy-less client.
    fn proxied_client(&self) -> Result<Option<reqwest::Client>, ConfigError> {
        self.https_proxy
            .as_deref()
            .map(|proxy| outbound::http_client_via_https_proxy("GUARD_HTTPS_PROXY", proxy))
            .transpose()
    }

    /// The local JWT verifier from `GUARD_JWKS_URL` / `GUARD_JWT_PUBLIC_KEY`, `GUARD_ISSUER`,
    /// `GUARD_AUDIENCE` and `GUARD_REQUIRE_AT_JWT`. With a JWKS URL it must be called inside a
    /// tokio runtime (the key set is fetched and refreshed in the background).
    fn jwt_verifier(&self) -> Result<JwtVerifier, ConfigError> {
        let mut builder = JwtVerifier::builder()
            .allow_plain_http(self.allow_plain_http)
            .require_access_token_typ(self.require_at_jwt);
        if let Some(client) = self.proxied_client()? {
            builder = builder.http_client(client);
        }
        if let Some(url) = &self.jwks_url {
            builder = builder.jwks_url(url.clone());
        }
        if let Some(path) = &self.jwt_public_key {
            // The file's content is never put into an error message: only its path.
            let pem = std::fs::read(path).map_err(|e| ConfigError::Key {
                name: "GUARD_JWT_PUBLIC_KEY".into(),
                problem: format!("cannot read {}: {}", path.display(), e.kind()).into(),
            })?;
            builder = builder.public_key_pem(pem);
        }
        for issuer in &self.issuers {
            builder = builder.issuer(issuer.clone());
        }
        for audience in &self.audiences {
            builder = builder.audience(audience.clone());
        }
        builder.build().map_err(|e| under_variable(e, JWT))
    }

    fn introspection_verifier(&self) -> Result<IntrospectionVerifier, ConfigError> {
        let url = self.introspection_url.as_deref().ok_or_else(|| {
            ConfigError::invalid("GUARD_INTROSPECTION_URL", "required in introspect mode")
        })?;
        let mut builder =
            IntrospectionVerifier::builder(url).allow_plain_http(self.allow_plain_http);
        if let (Some(id), Some(secret)) = (
            &self.introspection_client_id,
            &self.introspection_client_secret,
        ) {
            // The verifier keeps what it needs for every introspection call (the `Basic` header,
            // built once and marked sensitive) for its lifetime; this config keeps the `Secret`.
            builder = builder.client_basic(id.clone(), secret.clone());
        }
        for issuer in &self.issuers {
            builder = builder.issuer(issuer.clone());
        }
        for audience in &self.audiences {
            builder = builder.audience(audience.clone());
        }
        if let Some(client) = self.proxied_client()? {
            builder = builder.http_client(client);
        }
        builder
            .build()
            .map_err(|e| under_variable(e, INTROSPECTION))
    }

    fn bitrix24_verifier(&self) -> Result<Bitrix24Verifier, ConfigError> {
        let portal = self.bitrix24_portal.as_deref().ok_or_else(|| {
            ConfigError::invalid("GUARD_BITRIX24_PORTAL", "required in bitrix24 mode")
        })?;
        let mut builder = Bitrix24Verifier::builder(portal).allow_plain_http(self.allow_plain_http);
        if let Some(code) = &self.bitrix24_app_code {
            builder = builder.app_code(code.clone());
        }
        if let Some(client) = self.proxied_client()? {
            builder = builder.http_client(client);
        }
        builder.build().map_err(|e| under_variable(e, BITRIX24))
    }

    fn remote_verifier(&self) -> Result<RemoteVerifier, ConfigError> {
        let url = self.verify_url.as_deref().ok_or_else(|| {
            ConfigError::invalid("GUARD_VERIFY_URL", "required in remote and auto mode")
        })?;
        let mut builder = RemoteVerifier::builder()
            .url(url)
            .form_encoding(self.verify_encoding)
            .allow_plain_http(self.allow_plain_http);
        if let Some(client) = self.proxied_client()? {
            builder = builder.http_client(client);
        }
        builder.build().map_err(|e| under_variable(e, REMOTE))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::secret::Secret;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    /// The first line of the error `vars` give, read and built as the demo and the sidecar do:
    /// the config, then the guard layer, then the admin routes.
    fn error(vars: &[(&str, &str)], change: impl FnOnce(&mut GuardConfig)) -> String {
        let built = GuardConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .and_then(|mut config| {
            change(&mut config);
            let guard = config.layer()?;
            config.admin_router(&guard).map(|_| ())
        });
        built.err().map(|e| e.to_string()).unwrap_or_default()
    }

    /// Each setting the builders check, given a value they refuse (in the environment, or set
    /// in code after reading it): the error starts with that setting's own variable.
    #[tokio::test]
    async fn each_refused_setting_names_its_own_variable() {
        let remote = ("GUARD_VERIFY_URL", "http://127.0.0.1:9/v");
        let admin = ("GUARD_ADMIN_LISTEN", "127.0.0.1:0");
        let from_env: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("GUARD_LISTEN", vec![("GUARD_LISTEN", "nowhere")]),
            ("GUARD_MODE", vec![("GUARD_MODE", "magic")]),
            (
                "GUARD_VERIFY_URL",
                vec![("GUARD_VERIFY_URL", "http://crm.example/v")],
            ),
            (
                "GUARD_VERIFY_ENCODING",
                vec![remote, ("GUARD_VERIFY_ENCODING", "xml")],
            ),
            (
                "GUARD_JWKS_URL",
                vec![("GUARD_JWKS_URL", "http://keys.example/jwks")],
            ),
            (
                "GUARD_JWT_PUBLIC_KEY",
                vec![("GUARD_JWT_PUBLIC_KEY", "/nonexistent/key.pem")],
            ),
            (
                "GUARD_INTROSPECTION_URL",
                vec![("GUARD_INTROSPECTION_URL", "ftp://idp/i")],
            ),
            (
                "GUARD_INTROSPECTION_CLIENT_SECRET",
                vec![
                    ("GUARD_INTROSPECTION_URL", "http://127.0.0.1:9/i"),
                    ("GUARD_INTROSPECTION_CLIENT_ID", "rs"),
                ],
            ),
            (
                "GUARD_BITRIX24_PORTAL",
                vec![("GUARD_BITRIX24_PORTAL", "https://x.bitrix24.de/?a=1")],
            ),
            (
                "GUARD_ALLOW_PLAIN_HTTP",
                vec![remote, ("GUARD_ALLOW_PLAIN_HTTP", "yes")],
            ),
            (
                "GUARD_REQUIRE_AT_JWT",
                vec![remote, ("GUARD_REQUIRE_AT_JWT", "yes")],
            ),
            (
                "GUARD_HTTPS_PROXY",
                vec![remote, ("GUARD_HTTPS_PROXY", "ftp://proxy")],
            ),
            (
                "GUARD_CACHE_TTL_SECS",
                vec![remote, ("GUARD_CACHE_TTL_SECS", "86401")],
            ),
            (
                "GUARD_NEGATIVE_TTL_SECS",
                vec![remote, ("GUARD_NEGATIVE_TTL_SECS", "-1")],
            ),
            ("GUARD_REALM", vec![remote, ("GUARD_REALM", "réalm")]),
            (
                "GUARD_REVOCATION_TTL_SECS",
                vec![remote, ("GUARD_REVOCATION_TTL_SECS", "0")],
            ),
            (
                "GUARD_ADMIN_LISTEN",
                vec![remote, ("GUARD_ADMIN_LISTEN", "nowhere")],
            ),
            (
                "GUARD_ADMIN_TOKEN",
                vec![remote, admin, ("GUARD_ADMIN_TOKEN", "short")],
            ),
            (
                // Long enough for the reader; not a token a request could carry (the router).
                "GUARD_ADMIN_TOKEN",
                vec![
                    remote,
                    admin,
                    ("GUARD_ADMIN_TOKEN", "admin token with spaces"),
                ],
            ),
            (
                "GUARD_CACHE_SECRET",
                vec![remote, ("GUARD_CACHE_SECRET", SECRET)],
            ),
        ];
        #[cfg(feature = "redis")]
        let from_env = {
            let redis = ("GUARD_REDIS_URL", "redis://127.0.0.1:1");
            let secret = ("GUARD_CACHE_SECRET", SECRET);
            let mut more = from_env;
            more.extend([
                (
                    "GUARD_REDIS_URL",
                    vec![remote, ("GUARD_REDIS_URL", "http://x"), secret],
                ),
                // Past the reader's scheme check; refused by the Redis client.
                (
                    "GUARD_REDIS_URL",
                    vec![remote, ("GUARD_REDIS_URL", "redis://[::1"), secret],
                ),
                (
                    "GUARD_CACHE_SECRET",
                    vec![remote, redis, ("GUARD_CACHE_SECRET", "short")],
                ),
                (
                    "GUARD_REDIS_TIMEOUT_MS",
                    vec![remote, redis, secret, ("GUARD_REDIS_TIMEOUT_MS", "0")],
                ),
                // Within the reader's 1–10000, over a quarter of the verify timeout (the guard).
                (
                    "GUARD_REDIS_TIMEOUT_MS",
                    vec![remote, redis, secret, ("GUARD_REDIS_TIMEOUT_MS", "2501")],
                ),
            ]);
            more
        };
        for (variable, vars) in &from_env {
            let message = error(vars, |_| {});
            assert!(
                message.starts_with(&format!("{variable}:")),
                "{vars:?}: {message}"
            );
        }

        // Values only the builders check, set in code after reading the environment.
        let week = Duration::from_secs(8 * 24 * 3600);
        /// The variable named, the environment read, the change made in code after reading it.
        type Case = (&'static str, Vec<(&'static str, &'static str)>, Change);
        type Change = Box<dyn FnOnce(&mut GuardConfig)>;
        let in_code: Vec<Case> = vec![
            (
                "GUARD_REALM",
                vec![remote],
                Box::new(|c| c.realm = String::new()),
            ),
            (
                "GUARD_CACHE_TTL_SECS",
                vec![remote],
                Box::new(move |c| c.cache_ttl = week),
            ),
            (
                "GUARD_NEGATIVE_TTL_SECS",
                vec![remote],
                Box::new(move |c| c.negative_ttl = week),
            ),
            (
                "GUARD_REVOCATION_TTL_SECS",
                vec![remote],
                Box::new(|c| c.revocation_ttl = Duration::ZERO),
            ),
            (
                "GUARD_JWKS_URL",
                vec![("GUARD_JWKS_URL", "https://keys.example/jwks")],
                Box::new(|c| c.jwks_url = Some("not a url".to_owned())),
            ),
            (
                "GUARD_MODE",
                vec![remote],
                Box::new(|c| c.mode = Some(Mode::Jwt)),
            ),
            (
                "GUARD_INTROSPECTION_URL",
                vec![("GUARD_INTROSPECTION_URL", "https://idp/i")],
                Box::new(|c| c.introspection_url = Some("ftp://idp/i".to_owned())),
            ),
            (
                "GUARD_BITRIX24_PORTAL",
                vec![("GUARD_BITRIX24_PORTAL", "https://x.bitrix24.de")],
                Box::new(|c| c.bitrix24_portal = Some("http://x.bitrix24.de".to_owned())),
            ),
            (
                "GUARD_VERIFY_URL",
                vec![remote],
                Box::new(|c| c.verify_url = Some("http://crm.example/v".to_owned())),
            ),
            (
                "GUARD_ADMIN_TOKEN",
                vec![
                    remote,
                    admin,
                    ("GUARD_ADMIN_TOKEN", "admin-token-0123456789"),
                ],
                Box::new(|c| c.admin_token = Some(Secret::new("short".to_owned()))),
            ),
        ];
        #[cfg(feature = "redis")]
        let in_code = {
            let shared = [
                remote,
                ("GUARD_REDIS_URL", "redis://127.0.0.1:1"),
                ("GUARD_CACHE_SECRET", SECRET),
            ];
            let mut more = in_code;
            more.push((
                "GUARD_REDIS_TIMEOUT_MS",
                shared.to_vec(),
                Box::new(|c| c.redis_timeout = Duration::ZERO),
            ));
            more.push((
                "GUARD_CACHE_SECRET",
                shared.to_vec(),
                Box::new(|c| c.cache_secret = Some(Secret::new("short".to_owned()))),
            ));
            more.push((
                "GUARD_REDIS_URL",
                shared.to_vec(),
                Box::new(|c| c.redis_url = Some(Secret::new("http://x".to_owned()))),
            ));
            more
        };
        for (variable, vars, change) in in_code {
            let message = error(&vars, change);
            assert!(
                message.starts_with(&format!("{variable}:")),
                "{vars:?}: {message}"
            );
        }
    }
}
