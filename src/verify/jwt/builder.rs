//! [`JwtVerifierBuilder`]: key sources, claim rules, and the JWKS lifecycle settings.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::algorithm::JwtAlgorithm;
use super::discovery;
use super::jwks::{FetchSettings, KeyStore, Remote, RemoteSource};
use super::keys::{KeyOrigin, VerifyingKey};
use super::static_key::StaticKey;
use super::validate::{ClaimRules, ClaimSettings, ClaimsCheck, TypPolicy};
use super::verifier::{Inner, JwtVerifier};
use crate::error::ConfigError;
use crate::outbound::{checked_url, default_http_client};
use crate::principal::Claims;
use crate::redact::redacted_url;
use crate::scope::ScopeRequirement;

/// Default clock-skew allowance for `exp` and `nbf`: 30 s.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Largest leeway accepted: 60 s. More would keep expired tokens alive noticeably longer.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);
/// Default JWKS refresh interval when the answer sends no `Cache-Control: max-age`: 300 s.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// Default lower bound applied to a JWKS `max-age`: 60 s.
pub const DEFAULT_MIN_MAX_AGE: Duration = Duration::from_secs(60);
/// Default upper bound applied to a JWKS `max-age`: 24 h.
pub const DEFAULT_MAX_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// Default cool-down between JWKS fetches triggered by unknown `kid`s: 30 s.
pub const DEFAULT_UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);
/// Default cap on a JWKS or discovery answer: 256 KiB.
pub const DEFAULT_MAX_JWKS_BYTES: usize = 256 * 1024;
/// Default number of keys a token without `kid` is tried against: 4.
pub const DEFAULT_MAX_KEYS_WITHOUT_KID: usize = 4;

/// Builds a [`JwtVerifier`]. Every setter states its default.
///
/// At least one key source is needed: [`jwks_url`](Self::jwks_url) (or
/// [`jwks_url_for_issuer`](Self::jwks_url_for_issuer)), [`discovery`](Self::discovery) (one or
/// the other), and/or static keys
/// ([`public_key_pem`](Self::public_key_pem), [`hmac_secret`](Self::hmac_secret),
/// [`static_key`](Self::static_key)).
///
/// ```
/// use std::time::Duration;
/// use bearer_guard::{JwtVerifier, ScopeRequirement};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), bearer_guard::ConfigError> {
/// let verifier = JwtVerifier::builder()
///     .discovery("https://login.example.com/realms/partners")
///     .audience("orders-api")
///     .required_scopes(ScopeRequirement::any(["orders:read"])?)
///     .leeway(Duration::from_secs(10))
///     .build()?;
/// # drop(verifier);
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct JwtVerifierBuilder {
    jwks_url: Option<String>,
    jwks_issuer: Option<String>,
    discovery_issuer: Option<String>,
    static_keys: Vec<StaticKey>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: Duration,
    require_exp: bool,
    typ: TypPolicy,
    required_scopes: Option<ScopeRequirement>,
    checks: Vec<Arc<ClaimsCheck>>,
    client: Option<reqwest::Client>,
    allow_plain_http: bool,
    max_jwks_bytes: usize,
    refresh_interval: Duration,
    min_max_age: Duration,
    max_max_age: Duration,
    cooldown: Duration,
    max_keys_without_kid: usize,
}

impl JwtVerifier {
    /// Starts a builder. See [`JwtVerifierBuilder`] for every setting and its default.
    pub fn builder() -> JwtVerifierBuilder {
        JwtVerifierBuilder::new()
    }
}

impl JwtVerifierBuilder {
    fn new() -> Self {
        JwtVerifierBuilder {
            jwks_url: None,
            jwks_issuer: None,
            discovery_issuer: None,
            static_keys: Vec::new(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            require_exp: true,
            typ: TypPolicy::JwtOrAccessToken,
            required_scopes: None,
            checks: Vec::new(),
            client: None,
            allow_plain_http: false,
            max_jwks_bytes: DEFAULT_MAX_JWKS_BYTES,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            min_max_age: DEFAULT_MIN_MAX_AGE,
            max_max_age: DEFAULT_MAX_MAX_AGE,
            cooldown: DEFAULT_UNKNOWN_KID_COOLDOWN,
            max_keys_without_kid: DEFAULT_MAX_KEYS_WITHOUT_KID,
        }
    }

    /// Takes keys from this JWKS URL (https, or http to a loopback host; see
    /// [`allow_plain_http`](Self::allow_plain_http)). Its keys are not bound to an issuer: they
    /// validate tokens of any accepted issuer ([`issuer`](Self::issuer)). With several issuers,
    /// prefer [`jwks_url_for_issuer`](Self::jwks_url_for_issuer). Default: none.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self.jwks_issuer = None;
        self
    }

    /// Takes keys from this JWKS URL, **bound to `issuer`**: a token verified by one of its
    /// keys must carry exactly `iss: issuer`, whatever other issuers are accepted (a key of
    /// issuer A never validates a token claiming issuer B; RFC 8725 §3.8). `issuer` is also
    /// added to the accepted issuers. Replaces an earlier [`jwks_url`](Self::jwks_url).
    /// Default: none.
    pub fn jwks_url_for_issuer(
        mut self,
        url: impl Into<String>,
        issuer: impl Into<String>,
    ) -> Self {
        self.jwks_url = Some(url.into());
        self.jwks_issuer = Some(issuer.into());
        self
    }

    /// Takes keys from OpenID Connect discovery: `<issuer>/.well-known/openid-configuration`
    /// names the `jwks_uri`. The document's `issuer` must equal `issuer` exactly, or no key is
    /// taken (tokens get 503). `issuer` is also added to the accepted issuers
    /// ([`issuer`](Self::issuer)), and the discovered keys are **bound** to it: a token they
    /// verify must carry exactly `iss: issuer`, even when other issuers are accepted.
    ///
    /// Without an [`audience`](Self::audience), every token this issuer signs — for any of its
    /// clients — is accepted; the build logs a warning then. Default: none.
    pub fn discovery(mut self, issuer: impl Into<String>) -> Self {
        self.discovery_issuer = Some(issuer.into());
        self
    }

    /// Adds a key configured in code. Default: none.
    pub fn static_key(mut self, key: StaticKey) -> Self {
        self.static_keys.push(key);
        self
    }

    /// Adds a PEM public key (RSA, EC P-256/P-384, Ed25519; the type is detected) that checks
    /// tokens without `kid`, with every algorithm of its type — and, only when no JWKS or
    /// discovery is configured (and never in `auto`), tokens whose `kid` no key carries.
    /// Shorthand for `static_key(StaticKey::public_pem(pem))`.
    pub fn public_key_pem(self, pem: impl AsRef<[u8]>) -> Self {
        self.static_key(StaticKey::public_pem(pem))
    }

    /// Adds a shared HMAC secret for `algorithm` (HS256/384/512 only), checking tokens without
    /// `kid` (and tokens with an unknown `kid`, as for [`public_key_pem`](Self::public_key_pem)).
    /// HMAC is used only when configured this way. Shorthand for
    /// `static_key(StaticKey::hmac_secret(secret, algorithm))`.
    pub fn hmac_secret(self, secret: impl AsRef<[u8]>, algorithm: JwtAlgorithm) -> Self {
        self.static_key(StaticKey::hmac_secret(secret, algorithm))
    }

    /// Accepts tokens whose `iss` is `issuer` (call again to accept several). Once any issuer
    /// is set, a token without `iss` is rejected. Default: `iss` is not checked.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` (a string, or an array) holds `audience` (call again to
    /// accept several). Once any audience is set, a token without `aud` is rejected.
    /// Default: `aud` is not checked, and a token carrying one is accepted.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock-skew allowance for `exp` and `nbf`, in whole seconds, at most [`MAX_LEEWAY`]
    /// (60 s). Default: 30 s ([`DEFAULT_LEEWAY`]).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Whether a token must carry `exp`. When `false`, `exp` is still checked when present.
    /// Default: `true`.
    pub fn require_exp(mut self, required: bool) -> Self {
        self.require_exp = required;
        self
    }

    /// Whether the header `typ` must be `at+jwt` (RFC 9068 §4). When `false`, no `typ`, `JWT`
    /// and `at+jwt` are accepted; any other `typ` is rejected either way. Default: `false`.
    pub fn require_access_token_typ(mut self, required: bool) -> Self {
        self.typ = if required {
            TypPolicy::AccessTokenOnly
        } else {
            TypPolicy::JwtOrAccessToken
        };
        self
    }

    /// Scopes every token must have; a token lacking them is invalid (401). For per-route
    /// requirements (403) use [`RequireScopeLayer`](crate::RequireScopeLayer) instead.
    /// Default: none.
    pub fn required_scopes(mut self, requirement: ScopeRequirement) -> Self {
        self.required_scopes = Some(requirement);
        self
    }

    /// Adds a check of your own on the claims of a correctly signed, unexpired token; an
    /// `Err(reason)` makes it invalid (the reason is logged, never sent). Checks run in the
    /// order added. Default: none.
    pub fn check<F>(mut self, check: F) -> Self
    where
        F: Fn(&Claims) -> Result<(), Cow<'static, str>> + Send + Sync + 'static,
    {
        self.checks.push(Arc::new(check));
        self
    }

    /// The HTTP client for JWKS and discovery (its own timeouts and proxy settings apply).
    /// Default: a client of bearer-guard's own, built only when a JWKS source is configured:
    /// rustls, 2 s to connect, 5 s per call, no redirects, and no proxy (the `*_PROXY`
    /// environment variables are ignored; inject a client to use one).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Allows plain `http` JWKS and discovery URLs to any host. Default: `false` (https, or
    /// http to loopback only).
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// Largest JWKS or discovery answer read. Default: 256 KiB ([`DEFAULT_MAX_JWKS_BYTES`]).
    pub fn max_jwks_bytes(mut self, bytes: usize) -> Self {
        self.max_jwks_bytes = bytes;
        self
    }

    /// How often the JWKS is refetched when its answer has no `Cache-Control: max-age`.
    /// Default: 300 s ([`DEFAULT_REFRESH_INTERVAL`]).
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Bounds applied to a JWKS answer's `Cache-Control: max-age` (which then replaces the
    /// refresh interval). Default: 60 s to 24 h ([`DEFAULT_MIN_MAX_AGE`],
    /// [`DEFAULT_MAX_MAX_AGE`]).
    pub fn max_age_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.min_max_age = min;
        self.max_max_age = max;
        self
    }

    /// Shortest time between the start of one JWKS fetch and a fetch triggered by an unknown
    /// `kid` (or by missing keys). Within it, an unknown `kid` is simply invalid; concurrent
    /// triggers share one fetch. A failed fetch is retried after `min(refresh interval,
    /// cool-down)`. Default: 30 s ([`DEFAULT_UNKNOWN_KID_COOLDOWN`]).
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    /// How many keys a token without `kid` is tried against (keys without `kid` first, in
    /// configuration order). Default: 4 ([`DEFAULT_MAX_KEYS_WITHOUT_KID`]).
    pub fn max_keys_without_kid(mut self, keys: usize) -> Self {
        self.max_keys_without_kid = keys;
        self
    }

    /// Builds the verifier. With a JWKS or discovery source, the first fetch starts at once in
    /// the background (a failure is logged and retried; it does not fail the build), so this
    /// must run inside a tokio runtime.
    ///
    /// # Errors
    /// * [`ConfigError::Invalid`]: no key source, both a JWKS URL and discovery, a leeway over
    ///   60 s; a refresh interval, cool-down or max-age bound of zero or over 7 days; a size
    ///   cap of zero or over 16 MiB; a key count of zero or over 64; `min > max` max-age
    ///   bounds; or no tokio runtime when one is needed.
    /// * [`ConfigError::InsecureUrl`]: a JWKS or discovery URL that is not https (or loopback).
    /// * [`ConfigError::Key`]: a static key that cannot be read, or an algorithm that does not
    ///   fit it.
    /// * [`ConfigError::HttpClient`]: the default HTTP client could not be built.
    pub fn build(self) -> Result<JwtVerifier, ConfigError> {
        self.check_settings()?;
        let mut issuers = self.issuers;
        for bound in [&self.discovery_issuer, &self.jwks_issuer]
            .into_iter()
            .flatten()
        {
            if !issuers.contains(bound) {
                issuers.push(bound.clone());
            }
        }
        if self.audiences.is_empty()
            && let Some(issuer) = &self.discovery_issuer
        {
            tracing::warn!(
                issuer = %redacted_url(issuer),
                "bearer-guard: discovery without an audience: no audience is configured, so \
                 every token this issuer signs, for any of its clients, is accepted; set one \
                 with JwtVerifierBuilder::audience"
            );
        }
        let rules = ClaimRules::new(ClaimSettings {
            issuers,
            audiences: self.audiences,
            leeway: self.leeway,
            require_exp: self.require_exp,
            typ: self.typ,
            required_scopes: self.required_scopes,
            checks: self.checks,
        });
        let statics = self
            .static_keys
            .iter()
            .map(|key| {
                let (family, algorithms, decoding) = key.load("static key")?;
                VerifyingKey::new(
                    key.kid_str().map(str::to_owned),
                    family,
                    algorithms,
                    KeyOrigin::Static,
                    &decoding,
                )
                .map_err(|problem| ConfigError::Key {
                    name: "static key".into(),
                    problem: problem.into(),
                })
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let allow = self.allow_plain_http;
        let source = match (self.jwks_url, self.discovery_issuer) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "jwks_url",
                    "set either a JWKS URL or discovery, not both",
                ));
            }
            (Some(url), None) => Some(RemoteSource::Jwks {
                url: checked_url("jwks_url", &url, allow)?,
                issuer: self.jwks_issuer,
            }),
            (None, Some(issuer)) => {
                let document = checked_url("discovery", &discovery::document_url(&issuer), allow)?;
                Some(RemoteSource::Discovery { issuer, document })
            }
            (None, None) => None,
        };
        let store = match source {
            None if statics.is_empty() => {
                return Err(ConfigError::invalid(
                    "keys",
                    "configure a JWKS URL, discovery, or at least one static key",
                ));
            }
            None => KeyStore::fixed(statics),
            Some(source) => {
                let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
                    ConfigError::invalid(
                        "runtime",
                        "a JWKS source needs a tokio runtime: build the verifier inside one",
                    )
                })?;
                let client = match self.client {
                    Some(client) => client,
                    None => default_http_client()?,
                };
                KeyStore::fetching(
                    statics,
                    Remote {
                        source,
                        client,
                        settings: FetchSettings {
                            max_bytes: self.max_jwks_bytes,
                            refresh_interval: self.refresh_interval,
                            min_max_age: self.min_max_age,
                            max_max_age: self.max_max_age,
                            cooldown: self.cooldown,
                            allow_plain_http: allow,
                        },
                        runtime,
                    },
                )
            }
        };
        let refresh = store.start();
        Ok(JwtVerifier::from_inner(Inner {
            rules,
            store,
            max_keys_without_kid: self.max_keys_without_kid,
            _refresh: refresh,
        }))
    }

    /// Every duration and size is bounded, so that no setting can overflow a deadline or
    /// make a fetch unbounded (a setting never panics later).
    fn check_settings(&self) -> Result<(), ConfigError> {
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::invalid("leeway", "must be at most 60 s"));
        }
        for (name, value) in [
            ("refresh_interval", self.refresh_interval),
            ("unknown_kid_cooldown", self.cooldown),
        ] {
            if value.is_zero() || value > MAX_INTERVAL {
                return Err(ConfigError::invalid(
                    name,
                    "must be more than zero and at most 7 days",
                ));
            }
        }
        if self.min_max_age > self.max_max_age || self.max_max_age > MAX_INTERVAL {
            return Err(ConfigError::invalid(
                "max_age_bounds",
                "min must not exceed max, and max must be at most 7 days",
            ));
        }
        if self.max_jwks_bytes == 0 || self.max_jwks_bytes > MAX_JWKS_BYTES_LIMIT {
            return Err(ConfigError::invalid(
                "max_jwks_bytes",
                "must be from 1 byte to 16 MiB",
            ));
        }
        if self.max_keys_without_kid == 0 || self.max_keys_without_kid > MAX_KEYS_WITHOUT_KID_LIMIT
        {
            return Err(ConfigError::invalid(
                "max_keys_without_kid",
                "must be from 1 to 64",
            ));
        }
        Ok(())
    }
}

/// Longest refresh interval, cool-down or max-age bound accepted: 7 days.
const MAX_INTERVAL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Largest JWKS or discovery answer cap accepted: 16 MiB.
const MAX_JWKS_BYTES_LIMIT: usize = 16 * 1024 * 1024;
/// Most keys a token without `kid` may be tried against: 64 (each try is a signature check).
const MAX_KEYS_WITHOUT_KID_LIMIT: usize = 64;

impl fmt::Debug for JwtVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifierBuilder")
            .field("jwks_url", &self.jwks_url.as_deref().map(redacted_url))
            .field("jwks_issuer", &self.jwks_issuer)
            .field(
                "discovery",
                &self.discovery_issuer.as_deref().map(redacted_url),
            )
            .field("static_keys", &self.static_keys)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("require_exp", &self.require_exp)
            .field("typ", &self.typ)
            .field("required_scopes", &self.required_scopes)
            .field("checks", &self.checks.len())
            .field("http_client", &self.client.is_some())
            .field("allow_plain_http", &self.allow_plain_http)
            .field("max_jwks_bytes", &self.max_jwks_bytes)
            .field("refresh_interval", &self.refresh_interval)
            .field("max_age_bounds", &(self.min_max_age, self.max_max_age))
            .field("unknown_kid_cooldown", &self.cooldown)
            .field("max_keys_without_kid", &self.max_keys_without_kid)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> [u8; 32] {
        [42u8; 32]
    }

    #[test]
    fn unbounded_durations_and_sizes_are_refused_by_name_not_by_a_panic() {
        let b = || JwtVerifier::builder().hmac_secret(secret(), JwtAlgorithm::HS256);
        let refused = |built: Result<JwtVerifier, ConfigError>| match built {
            Err(ConfigError::Invalid { name, .. }) => name.into_owned(),
            other => panic!("expected a refused setting, got {other:?}"),
        };
        let max = Duration::MAX;
        assert_eq!(
            refused(b().refresh_interval(max).build()),
            "refresh_interval"
        );
        assert_eq!(
            refused(b().unknown_kid_cooldown(max).build()),
            "unknown_kid_cooldown"
        );
        assert_eq!(
            refused(b().max_age_bounds(Duration::ZERO, max).build()),
            "max_age_bounds"
        );
        assert_eq!(
            refused(b().max_jwks_bytes(usize::MAX).build()),
            "max_jwks_bytes"
        );
        assert_eq!(
            refused(b().max_keys_without_kid(usize::MAX).build()),
            "max_keys_without_kid"
        );
    }

    #[test]
    fn no_key_source_is_a_config_error() {
        assert!(matches!(
            JwtVerifier::builder().build(),
            Err(ConfigError::Invalid { .. })
        ));
    }

    #[test]
    fn leeway_over_a_minute_is_refused() {
        let built = JwtVerifier::builder()
            .hmac_secret(secret(), JwtAlgorithm::HS256)
            .leeway(Duration::from_secs(61))
            .build();
        assert!(matches!(built, Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn plain_http_jwks_to_a_remote_host_is_refused() {
        let built = JwtVerifier::builder()
            .jwks_url("http://idp.example.com/jwks")
            .build();
        assert!(matches!(built, Err(ConfigError::InsecureUrl { .. })));
    }

    #[test]
    fn jwks_source_outside_a_runtime_is_a_config_error_not_a_panic() {
        let built = JwtVerifier::builder()
            .jwks_url("https://idp.example.com/jwks")
            .build();
        assert!(matches!(built, Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn both_jwks_url_and_discovery_is_refused() {
        let built = JwtVerifier::builder()
            .jwks_url("https://idp.example.com/jwks")
            .discovery("https://idp.example.com")
            .build();
        assert!(matches!(built, Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn debug_of_builder_and_verifier_redacts_the_secret() {
        let text = "a-very-secret-hmac-key-of-32-bytes!!";
        let builder = JwtVerifier::builder().hmac_secret(text, JwtAlgorithm::HS256);
        assert!(!format!("{builder:?}").contains("a-very-secret"));
        let verifier = builder.build().unwrap();
        let shown = format!("{verifier:?}");
        assert!(!shown.contains("a-very-secret"));
        assert!(!shown.contains(&format!("{:?}", text.as_bytes())));
        assert!(verifier.keys_loaded());
    }
}
