//! Outbound HTTP shared by every verifier: the one `reqwest::Client`, the URL policy, and a
//! body reader with a size cap. Crate-private: a verifier's builder takes a `reqwest::Client`
//! of the caller's own (`http_client`) when these defaults do not fit.

use std::borrow::Cow;
use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use crate::error::ConfigError;

/// Default time to open a connection to a verification backend: 2 s.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time for one whole backend call (connect, send, read the answer): 5 s.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default cap on a backend answer's body: 64 KiB.
pub(crate) const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Builds the HTTP client bearer-guard uses when none is injected: rustls, connection pooling,
/// connect timeout [`DEFAULT_CONNECT_TIMEOUT`], total timeout [`DEFAULT_REQUEST_TIMEOUT`],
/// **no redirects** (a redirect would carry the token to a host nobody configured) and **no
/// proxy**: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and the system's proxy settings are
/// ignored, so a token, a verify call or a JWKS fetch goes only to the configured host. A proxy
/// is used only when asked for explicitly: [`http_client_via_https_proxy`], or a client of your
/// own injected into a verifier's builder.
///
/// # Errors
/// [`ConfigError::HttpClient`] when the TLS backend cannot start.
pub(crate) fn default_http_client() -> Result<reqwest::Client, ConfigError> {
    http_client(DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)
}

/// As [`default_http_client`], with the given timeouts.
///
/// # Errors
/// [`ConfigError::HttpClient`] when the TLS backend cannot start.
pub(crate) fn http_client(
    connect: Duration,
    total: Duration,
) -> Result<reqwest::Client, ConfigError> {
    client_builder(connect, total)
        .build()
        .map_err(|error| ConfigError::HttpClient(Box::new(error)))
}

/// As [`default_http_client`], but `https://` requests go through the forward proxy at
/// `proxy` (an `http://` or `https://` URL; credentials in it are sent to the proxy as
/// `Proxy-Authorization`). The proxy only ever sees a TLS tunnel (`CONNECT`) to the configured
/// host. Plain-`http` requests (a loopback issuer, or one allowed with `allow_plain_http`) never
/// use the proxy: that would hand the token to it in cleartext.
///
/// # Errors
/// [`ConfigError::Invalid`] naming `name` for a proxy URL that does not parse or is not
/// http(s); [`ConfigError::HttpClient`] when the TLS backend cannot start.
pub(crate) fn http_client_via_https_proxy(
    name: impl Into<Cow<'static, str>>,
    proxy: &str,
) -> Result<reqwest::Client, ConfigError> {
    let name = name.into();
    let invalid = |problem: &'static str| ConfigError::Invalid {
        name: name.clone(),
        problem: problem.into(),
    };
    // The URL is never echoed in the error: it may carry the proxy's credentials.
    let parsed = Url::parse(proxy).map_err(|_| invalid("not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(invalid("must be an http:// or https:// URL with a host"));
    }
    let proxy = reqwest::Proxy::https(parsed).map_err(|_| invalid("not a usable proxy URL"))?;
    client_builder(DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)
        .proxy(proxy)
        .build()
        .map_err(|error| ConfigError::HttpClient(Box::new(error)))
}

/// The settings every client of ours has: timeouts, no redirects, and no proxy from the
/// environment (a later `.proxy(…)` is the only way one is used).
fn client_builder(connect: Duration, total: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(connect)
        .timeout(total)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60))
        .user_agent(concat!("bearer-guard/", env!("CARGO_PKG_VERSION")))
}

/// Parses `url` for the setting `name` and applies the transport policy: `https` always;
/// plain `http` only to a loopback host (`127.0.0.0/8`, `::1`, `localhost`), or anywhere when
/// `allow_plain_http` is set explicitly.
///
/// # Errors
/// [`ConfigError::Invalid`] for an unparsable URL, [`ConfigError::InsecureUrl`] for a refused one.
pub(crate) fn checked_url(
    name: impl Into<Cow<'static, str>>,
    url: &str,
    allow_plain_http: bool,
) -> Result<Url, ConfigError> {
    let name = name.into();
    let parsed = Url::parse(url).map_err(|e| ConfigError::Invalid {
        name: name.clone(),
        problem: format!("not a valid URL: {e}").into(),
    })?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ConfigError::Invalid {
            name,
            problem: "credentials in the URL are not allowed".into(),
        });
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_plain_http || is_loopback(&parsed) => Ok(parsed),
        "http" => Err(ConfigError::InsecureUrl {
            name,
            problem:
                "plain http is allowed only to loopback addresses; use https or opt in explicitly"
                    .into(),
        }),
        other => Err(ConfigError::InsecureUrl {
            name,
            problem: format!("scheme `{other}` is not http(s)").into(),
        }),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Why an answer's body could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    /// The body is larger than the cap (in bytes).
    #[error("answer body larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection failed or timed out while reading.
    #[error("reading the answer failed")]
    Transport(#[source] reqwest::Error),
}

impl BodyError {
    /// The same error, without the URL of a transport error inside it (a query may hold a
    /// secret).
    pub(crate) fn without_url(self) -> Self {
        match self {
            BodyError::Transport(error) => BodyError::Transport(error.without_url()),
            other => other,
        }
    }

    /// Whether reading timed out.
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, BodyError::Transport(error) if error.is_timeout())
    }
}

/// Reads a response body, giving up as soon as it grows past `limit` bytes (a declared
/// `Content-Length` over the limit is refused before reading anything).
///
/// # Errors
/// [`BodyError::TooLarge`] past the cap; [`BodyError::Transport`] when reading fails.
pub(crate) async fn read_body_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        assert!(checked_url("u", "https://api.i1.crm-now.de/v1/getOauthToken.php", false).is_ok());
        assert!(checked_url("u", "http://127.0.0.1:8080/x", false).is_ok());
        assert!(checked_url("u", "http://127.9.9.9/x", false).is_ok());
        assert!(checked_url("u", "http://[::1]:9/x", false).is_ok());
        assert!(checked_url("u", "http://localhost/x", false).is_ok());
        assert!(matches!(
            checked_url("u", "http://example.com/x", false),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert!(checked_url("u", "http://example.com/x", true).is_ok());
        assert!(matches!(
            checked_url("u", "ftp://127.0.0.1/x", true),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert!(matches!(
            checked_url("u", "not a url", false),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            checked_url("u", "https://user:pw@example.com/", false),
            Err(ConfigError::Invalid { .. })
        ));
    }
}
