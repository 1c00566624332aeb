//! Configuration from `GUARD_*` environment variables, shared by the demo and any binary.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `GUARD_LISTEN` | address to bind | `127.0.0.1:8080` |
//! | `GUARD_MODE` | `remote`, `jwt`, `auto`, `introspect` or `bitrix24` | `remote` if only `GUARD_VERIFY_URL` is set, `jwt` if only a key source is set, `auto` if both; `introspect` if only `GUARD_INTROSPECTION_URL` is set, `bitrix24` if only `GUARD_BITRIX24_PORTAL` is set (other combinations need `GUARD_MODE`) |
//! | `GUARD_VERIFY_URL` | crm-now `verifytoken` endpoint | none |
//! | `GUARD_VERIFY_ENCODING` | `urlencoded` or `multipart` | `urlencoded` |
//! | `GUARD_JWKS_URL` | JWKS document for local JWT checks | none |
//! | `GUARD_JWT_PUBLIC_KEY` | path to a PEM public key for local JWT checks | none |
//! | `GUARD_INTROSPECTION_URL` | RFC 7662 introspection endpoint ([`IntrospectionVerifier`]) | none |
//! | `GUARD_INTROSPECTION_CLIENT_ID`, `GUARD_INTROSPECTION_CLIENT_SECRET` | the resource server's own client credentials, sent as `Authorization: Basic base64(urlencode(id):urlencode(secret))` (both or neither) | none: no client authentication |
//! | `GUARD_BITRIX24_PORTAL` | base URL of one Bitrix24 portal, e.g. `https://example.bitrix24.de` ([`Bitrix24Verifier`]) | none |
//! | `GUARD_BITRIX24_APP_CODE` | the application code (`CODE` in `app.info`) tokens must belong to | none: any application of the portal |
//! | `GUARD_ISSUER` | accepted `iss` values, comma-separated (JWTs and introspection answers) | any |
//! | `GUARD_AUDIENCE` | accepted `aud` values, comma-separated (JWTs and introspection answers) | any |
//! | `GUARD_REQUIRE_AT_JWT` | `true`: JWTs must carry the header `typ: at+jwt` (RFC 9068); `false`: no `typ`, `JWT` or `at+jwt` | `false` |
//! | `GUARD_CACHE_TTL_SECS` | longest reuse of a valid verdict | 300 |
//! | `GUARD_NEGATIVE_TTL_SECS` | how long a rejected token is remembered | 10 |
//! | `GUARD_REALM` | realm of `WWW-Authenticate` challenges | `api` |
//! | `GUARD_ALLOW_PLAIN_HTTP` | `true` allows `http://` URLs off loopback | `false` |
//! | `GUARD_HTTPS_PROXY` | forward proxy for `https://` verify and JWKS calls (never for `http://` ones) | none: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are ignored |
//! | `GUARD_REDIS_URL` | `redis://host:port[/db]` or `rediss://…`: verdicts shared by every replica using the same Redis and secret (feature `redis`; without it, setting this is an error) | none: in-process cache only |
//! | `GUARD_CACHE_SECRET` | the shared secret (at least 32 bytes) replicas derive cache keys and entry MAC keys from; read as is | required with `GUARD_REDIS_URL` |
//! | `GUARD_REDIS_TIMEOUT_MS` | longest wait for one Redis call (1–10000, and at most a quarter of the verify timeout: 2500 with the default 10 s) | 100 |
//! | `GUARD_REVOCATION_TTL_SECS` | how long a revoked token stays refused (1–604800) | 3600 |
//! | `GUARD_ADMIN_LISTEN` | address of the admin listener (`POST /revoke`, [`admin`](crate::admin)) | none: off |
//! | `GUARD_ADMIN_TOKEN` | the bearer token the admin listener requires (at least 16 bytes); read as is | required with `GUARD_ADMIN_LISTEN` |
//!
//! An empty variable counts as unset. A bad value is a [`ConfigError`] that names the
//! variable.

use crate::redact::redacted_url;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod replicas;
#[cfg(feature = "redis")]
mod shared_scope;

use crate::error::{ConfigError, DEFAULT_REALM};
use crate::guard::{BearerGuardLayer, DEFAULT_NEGATIVE_TTL, DEFAULT_POSITIVE_TTL};
use crate::outbound;
use crate::verify::{
    AutoVerifier, Bitrix24Verifier, FormEncoding, IntrospectionVerifier, JwtVerifier,
    RemoteVerifier, Verifier,
};

/// Default `GUARD_LISTEN`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// How tokens are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Every cache miss asks the remote `verifytoken` endpoint.
    Remote,
    /// JWTs are checked locally against JWKS or PEM keys; nothing goes remote.
    Jwt,
    /// JWTs with a locally known key are checked locally; anything else goes remote, and a
    /// remote yes for a JWT must still pass the local claim rules
    /// ([`AutoVerifier`]).
    Auto,
    /// Every cache miss asks the RFC 7662 introspection endpoint ([`IntrospectionVerifier`]).
    Introspect,
    /// Every cache miss asks the Bitrix24 portal ([`Bitrix24Verifier`]).
    Bitrix24,
}

impl Mode {
    /// `remote`, `jwt`, `auto`, `introspect` or `bitrix24`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Remote => "remote",
            Mode::Jwt => "jwt",
            Mode::Auto => "auto",
            Mode::Introspect => "introspect",
            Mode::Bitrix24 => "bitrix24",
        }
    }
}

/// Settings read from `GUARD_*` variables. See the [module docs](self).
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
    /// `GUARD_INTROSPECTION_CLIENT_SECRET` (never shown by `Debug`).
    pub introspection_client_secret: Option<String>,
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
    /// `GUARD_REDIS_URL` (never shown by `Debug` with its password).
    pub redis_url: Option<String>,
    /// `GUARD_CACHE_SECRET` (never shown by `Debug`).
    pub cache_secret: Option<String>,
    /// `GUARD_REDIS_TIMEOUT_MS`.
    pub redis_timeout: Duration,
    /// `GUARD_REVOCATION_TTL_SECS`.
    pub revocation_ttl: Duration,
    /// `GUARD_ADMIN_LISTEN`.
    pub admin_listen: Option<SocketAddr>,
    /// `GUARD_ADMIN_TOKEN` (never shown by `Debug`).
    pub admin_token: Option<String>,
}

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
        let introspection_client_secret =
            lookup("GUARD_INTROSPECTION_CLIENT_SECRET").filter(|v| !v.is_empty());
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

    /// Builds the verifier the mode calls for.
    ///
    /// # Errors
    /// [`ConfigError`] when no source is configured, or a source's settings are refused.
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
        builder.build().map_err(|e| match &e {
            ConfigError::Key { .. } => rename(e, "GUARD_JWT_PUBLIC_KEY"),
            ConfigError::InsecureUrl { .. } => rename(e, "GUARD_JWKS_URL"),
            _ => rename(e, "GUARD_MODE"),
        })
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
            .map_err(|e| rename(e, "GUARD_INTROSPECTION_URL"))
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
        builder
            .build()
            .map_err(|e| rename(e, "GUARD_BITRIX24_PORTAL"))
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
        builder.build().map_err(|e| rename(e, "GUARD_VERIFY_URL"))
    }

    /// Builds the guard layer: the verifier plus the cache TTLs, realm and revocation TTL,
    /// and the shared cache when `GUARD_REDIS_URL` is set (then inside a tokio runtime). The
    /// shared cache's scope (`SharedCache::scope`, feature `redis`) is a fingerprint of the
    /// settings that decide validity (mode, verify / JWKS / introspection URLs and client id,
    /// public key, issuers, audiences, Bitrix24 portal and app code, `GUARD_REQUIRE_AT_JWT`):
    /// only replicas with equal settings share verdicts.
    ///
    /// # Errors
    /// As [`GuardConfig::verifier`], and for a realm a header cannot carry (`GUARD_REALM`),
    /// or a shared cache that cannot be set up (named by its variable).
    pub fn layer(&self) -> Result<BearerGuardLayer, ConfigError> {
        let builder = BearerGuardLayer::builder_shared(self.verifier()?)
            .positive_ttl(self.cache_ttl)
            .negative_ttl(self.negative_ttl)
            .revocation_ttl(self.revocation_ttl)
            .realm(self.realm.clone());
        #[cfg(feature = "redis")]
        let builder = match (&self.redis_url, &self.cache_secret) {
            (Some(url), Some(secret)) => builder.shared_cache(
                crate::shared::SharedCache::new(url.clone(), secret)
                    .timeout(self.redis_timeout)
                    .scope(shared_scope::verifier_scope(self)),
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
                    "redis_url" | "key_prefix" | "shared_scope" => "GUARD_REDIS_URL",
                    _ => "GUARD_REALM",
                },
                _ => "GUARD_REALM",
            };
            rename(e, variable)
        })
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
            (Some(_), Some(token)) => crate::admin::admin_router(guard.clone(), token)
                .map(Some)
                .map_err(|e| rename(e, "GUARD_ADMIN_TOKEN")),
            _ => Ok(None),
        }
    }
}

/// Which token sources are configured.
#[derive(Clone, Copy)]
struct Sources {
    remote: bool,
    keys: bool,
    introspection: bool,
    bitrix24: bool,
}

impl Sources {
    /// The mode implied when `GUARD_MODE` is unset.
    fn implied_mode(self) -> Result<Option<Mode>, ConfigError> {
        let crm = self.remote || self.keys;
        match (crm, self.introspection, self.bitrix24) {
            (false, true, false) => Ok(Some(Mode::Introspect)),
            (false, false, true) => Ok(Some(Mode::Bitrix24)),
            (_, false, false) => Ok(match (self.remote, self.keys) {
                (true, true) => Some(Mode::Auto),
                (true, false) => Some(Mode::Remote),
                (false, true) => Some(Mode::Jwt),
                (false, false) => None,
            }),
            _ => Err(ConfigError::invalid(
                "GUARD_MODE",
                "several kinds of token source are set; choose one with GUARD_MODE",
            )),
        }
    }
}

fn parse_mode(value: &str, sources: Sources) -> Result<Mode, ConfigError> {
    let mode = match value {
        "remote" => Mode::Remote,
        "jwt" => Mode::Jwt,
        "auto" => Mode::Auto,
        "introspect" => Mode::Introspect,
        "bitrix24" => Mode::Bitrix24,
        other => {
            return Err(ConfigError::invalid(
                "GUARD_MODE",
                format!("`{other}` is not `remote`, `jwt`, `auto`, `introspect` or `bitrix24`"),
            ));
        }
    };
    let missing = match mode {
        Mode::Remote if !sources.remote => Some("remote mode needs GUARD_VERIFY_URL"),
        Mode::Jwt if !sources.keys => Some("jwt mode needs GUARD_JWKS_URL or GUARD_JWT_PUBLIC_KEY"),
        Mode::Auto if !(sources.remote && sources.keys) => {
            Some("auto mode needs GUARD_VERIFY_URL and GUARD_JWKS_URL or GUARD_JWT_PUBLIC_KEY")
        }
        Mode::Introspect if !sources.introspection => {
            Some("introspect mode needs GUARD_INTROSPECTION_URL")
        }
        Mode::Bitrix24 if !sources.bitrix24 => Some("bitrix24 mode needs GUARD_BITRIX24_PORTAL"),
        _ => None,
    };
    match missing {
        Some(problem) => Err(ConfigError::invalid("GUARD_MODE", problem)),
        None => Ok(mode),
    }
}

/// Puts the environment variable's name on an error raised under a builder's setting name.
/// The builder's own setting name stays in the message, after the variable's.
fn rename(error: ConfigError, variable: &'static str) -> ConfigError {
    let within = |name: &str, problem: &str| format!("{name}: {problem}").into();
    match error {
        ConfigError::Invalid { name, problem } => ConfigError::Invalid {
            name: variable.into(),
            problem: within(&name, &problem),
        },
        ConfigError::InsecureUrl { name, problem } => ConfigError::InsecureUrl {
            name: variable.into(),
            problem: within(&name, &problem),
        },
        ConfigError::Key { name, problem } if name != variable => ConfigError::Key {
            name: variable.into(),
            problem: within(&name, &problem),
        },
        other => other,
    }
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
                &self
                    .introspection_client_secret
                    .as_ref()
                    .map(|_| "<redacted>"),
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
            .field("redis_url", &self.redis_url.as_deref().map(redacted_url))
            .field(
                "cache_secret",
                &self.cache_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("redis_timeout", &self.redis_timeout)
            .field("revocation_ttl", &self.revocation_ttl)
            .field("admin_listen", &self.admin_listen)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn debug_hides_the_introspection_secret() {
        let config = read(&[
            ("GUARD_INTROSPECTION_URL", "https://idp/i"),
            ("GUARD_INTROSPECTION_CLIENT_ID", "rs"),
            ("GUARD_INTROSPECTION_CLIENT_SECRET", "s3cr3t-value"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("rs"), "{shown}");
    }

    #[test]
    fn debug_hides_url_queries() {
        let config = read(&[("GUARD_VERIFY_URL", "https://crm.example/v?api_key=k3y")])
            .unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("k3y"), "{shown}");
        assert!(shown.contains("https://crm.example/v"), "{shown}");
    }
}
