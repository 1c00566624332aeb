//! [`TokenSourceBuilder`]: every setting of a [`TokenSource`], its default and its bounds,
//! checked once at build.

use std::fmt;
use std::time::Duration;

use super::grant::TokenEndpoint;
use super::retry::Fetcher;
use super::source::TokenSource;
use super::token::MAX_LIFETIME;
use crate::error::ConfigError;
use crate::outbound;
use crate::secret::Secret;

/// Longest `timeout`, `connect_timeout` or `total_timeout` accepted: 10 minutes.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Most retries accepted: 10.
const MAX_RETRIES: u32 = 10;

/// Builds a [`TokenSource`]; start with [`TokenSource::builder`]. Every setter states its
/// default. Its `Debug` never shows the client secret.
#[must_use = "a builder does nothing until `build` is called"]
pub struct TokenSourceBuilder {
    endpoint: TokenEndpoint,
    client_id: String,
    client_secret: Secret,
    client: Option<reqwest::Client>,
    connect_timeout: Duration,
    timeout: Duration,
    total_timeout: Duration,
    max_retries: u32,
    refresh_before: Duration,
    default_lifetime: Duration,
    allow_plain_http: bool,
}

impl TokenSource {
    /// Settings for a token source fetching from `endpoint` with the client credentials
    /// `client_id` and `client_secret` (a [`Secret`](crate::Secret): wiped when the builder is
    /// dropped; the built source keeps only the request it prepared from it. Never logged, never
    /// in `Debug`).
    pub fn builder(
        endpoint: TokenEndpoint,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> TokenSourceBuilder {
        TokenSourceBuilder::new(endpoint, client_id.into(), client_secret.into())
    }
}

impl TokenSourceBuilder {
    pub(crate) fn new(endpoint: TokenEndpoint, client_id: String, client_secret: Secret) -> Self {
        TokenSourceBuilder {
            endpoint,
            client_id,
            client_secret,
            client: None,
            connect_timeout: outbound::DEFAULT_CONNECT_TIMEOUT,
            timeout: outbound::DEFAULT_REQUEST_TIMEOUT,
            total_timeout: Duration::from_secs(15),
            max_retries: 2,
            refresh_before: Duration::from_secs(30),
            default_lifetime: Duration::from_secs(60),
            allow_plain_http: false,
        }
    }

    /// The HTTP client to share (its own timeouts, proxy and redirect settings apply). Default:
    /// a client of bearer-guard's own with [`connect_timeout`](Self::connect_timeout) and
    /// [`timeout`](Self::timeout), rustls, **no redirects** and no proxy from the environment.
    /// A client of yours should not follow redirects either: a `307`/`308` would re-send the
    /// form or JSON body — with the client secret — to wherever it points.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Time to connect (for the default client). Default: 2 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time for one attempt: sending the request and reading the whole answer. Default: 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time for one whole fetch: every attempt and every pause between them; an attempt or a
    /// pause that would end later is not started. At least [`timeout`](Self::timeout).
    /// Default: 15 s.
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// Attempts after the first, for failures worth retrying: the connection refused or
    /// broken, a timeout, 5xx, 408, 429. Pauses between attempts grow 100 ms, 200 ms,
    /// 400 ms, … up to 2 s, each with jitter (between half and all of it), and at least a
    /// `Retry-After` of the answer. At most 10. Default: 2 (three attempts).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Refresh the token once less than `max(refresh_before, lifetime / 10)` of its lifetime
    /// remains (at most half its lifetime). Callers keep getting the current token while the
    /// refresh runs. At most a day. Default: 30 s (crm-now's 300 s token is refreshed after
    /// 270 s).
    pub fn refresh_before(mut self, before: Duration) -> Self {
        self.refresh_before = before;
        self
    }

    /// The lifetime assumed for a token whose answer has no `expires_in` (RFC 6749 makes it
    /// optional). More than zero, at most a day. Default: 60 s.
    pub fn default_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_lifetime = lifetime;
        self
    }

    /// Allows a plain-`http` token endpoint that is not on loopback. Default: `false` (the
    /// client secret would cross the network in clear).
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// Builds the token source. Nothing is fetched yet: the first caller fetches.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: a refused URL, an empty client id, a scope the
    /// endpoint cannot take, a timeout of zero or over 10 minutes, a `total_timeout` shorter
    /// than `timeout`, more than 10 retries, a `refresh_before` over a day, a
    /// `default_lifetime` of zero or over a day, or an HTTP client that cannot start.
    pub fn build(self) -> Result<TokenSource, ConfigError> {
        let request = self.endpoint.prepare(
            &self.client_id,
            self.client_secret.expose_secret(),
            self.allow_plain_http,
        )?;
        for (name, value) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
            ("total_timeout", self.total_timeout),
        ] {
            if value.is_zero() || value > MAX_TIMEOUT {
                return Err(ConfigError::invalid(
                    name,
                    "must be more than zero and at most 10 minutes",
                ));
            }
        }
        if self.total_timeout < self.timeout {
            return Err(ConfigError::invalid(
                "total_timeout",
                "must be at least `timeout`",
            ));
        }
        if self.max_retries > MAX_RETRIES {
            return Err(ConfigError::invalid("max_retries", "must be at most 10"));
        }
        if self.refresh_before > MAX_LIFETIME {
            return Err(ConfigError::invalid(
                "refresh_before",
                "must be at most a day",
            ));
        }
        if self.default_lifetime.is_zero() || self.default_lifetime > MAX_LIFETIME {
            return Err(ConfigError::invalid(
                "default_lifetime",
                "must be more than zero and at most a day",
            ));
        }
        let client = match self.client {
            Some(client) => client,
            None => outbound::http_client(self.connect_timeout, self.timeout)?,
        };
        let fetcher = Fetcher {
            client,
            request,
            timeout: self.timeout,
            total_timeout: self.total_timeout,
            max_retries: self.max_retries,
            default_lifetime: self.default_lifetime,
            refresh_before: self.refresh_before,
        };
        Ok(TokenSource::from_parts(
            fetcher,
            self.client_id,
            self.endpoint,
        ))
    }
}

impl fmt::Debug for TokenSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSourceBuilder")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("total_timeout", &self.total_timeout)
            .field("max_retries", &self.max_retries)
            .field("refresh_before", &self.refresh_before)
            .field("default_lifetime", &self.default_lifetime)
            .field("allow_plain_http", &self.allow_plain_http)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::TokenSource;

    fn named(builder: TokenSourceBuilder) -> String {
        match builder.build() {
            Err(ConfigError::Invalid { name, .. }) => name.into_owned(),
            other => panic!("{other:?}"),
        }
    }

    fn builder() -> TokenSourceBuilder {
        TokenSource::builder(
            TokenEndpoint::crm_now("http://127.0.0.1:9/t"),
            "id",
            "s3cret-never-shown",
        )
    }

    #[test]
    fn every_bad_setting_is_named() {
        let zero = Duration::ZERO;
        let long = Duration::from_secs(601);
        assert_eq!(named(builder().timeout(zero)), "timeout");
        assert_eq!(named(builder().connect_timeout(long)), "connect_timeout");
        assert_eq!(named(builder().total_timeout(zero)), "total_timeout");
        assert_eq!(
            named(
                builder()
                    .timeout(Duration::from_secs(10))
                    .total_timeout(Duration::from_secs(5))
            ),
            "total_timeout"
        );
        assert_eq!(named(builder().max_retries(11)), "max_retries");
        assert_eq!(
            named(builder().refresh_before(MAX_LIFETIME + Duration::from_secs(1))),
            "refresh_before"
        );
        assert_eq!(named(builder().default_lifetime(zero)), "default_lifetime");
        assert!(builder().build().is_ok());
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", builder());
        assert!(!shown.contains("s3cret-never-shown"), "{shown}");
        let source = builder().build().unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{source:?}").contains("s3cret-never-shown"));
    }
}
