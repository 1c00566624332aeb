//! [`AddBearerLayer`] and [`AddBearer`]: a tower middleware for HTTP *clients* that puts the
//! [`TokenSource`]'s `Authorization: Bearer …` on outgoing requests to one origin.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{Request, Response, Uri};
use tower::{Layer, Service};

use super::future::ResponseFuture;
use super::source::TokenSource;
use crate::error::ConfigError;
use crate::outbound;
use crate::verify::BoxError;

/// Adds `Authorization: Bearer <token>` from a [`TokenSource`] to the requests of a tower HTTP
/// client service.
///
/// - **Which requests.** Built with [`new`](Self::new), only requests whose URI has the given
///   origin (scheme, host, port) get the token; any other request is passed on untouched, so a
///   redirect to another host — followed by a layer around this one — never carries it. Built
///   with [`any_origin`](Self::any_origin), every request gets it (for services that send
///   path-only URIs, such as a connection to one host).
/// - **Replaces** an `Authorization` header the request already has.
/// - **Waits** for a token only when the source has no usable one; otherwise adds the header
///   and calls the inner service at once.
/// - **Fails closed.** When no token can be had, the call fails with the
///   [`TokenSourceError`](super::TokenSourceError) (boxed: downcast the error to read it) and
///   the request is not sent.
/// - **A `401` answer** to a request that carried the token drops that token from the source
///   ([`TokenSource::invalidate`]), so the next request fetches a new one. The request itself
///   is not repeated (its body may be gone).
///
/// ```
/// use bearer_guard::client::{AddBearerLayer, TokenEndpoint, TokenSource};
///
/// # fn run() -> Result<(), bearer_guard::ConfigError> {
/// let source = TokenSource::builder(
///     TokenEndpoint::suitecrm("https://crm.example/Api/access_token"),
///     "partner-id",
///     "partner-secret",
/// )
/// .build()?;
/// let layer = AddBearerLayer::new(source, "https://crm.example")?;
/// // ServiceBuilder::new().layer(layer).service(your_http_client_service)
/// # drop(layer); Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct AddBearerLayer {
    source: TokenSource,
    origin: Option<Arc<Origin>>,
}

impl AddBearerLayer {
    /// Adds the token to requests for `origin` only (`https://api.example`, or
    /// `http://127.0.0.1:8080` on loopback; a path in it is ignored).
    ///
    /// # Errors
    /// [`ConfigError`] naming `origin` when it is not an `https` URL (or `http` to a loopback
    /// address) with a host.
    pub fn new(source: TokenSource, origin: &str) -> Result<Self, ConfigError> {
        let url = outbound::checked_url("origin", origin, false)?;
        let origin =
            Origin::of(&url).ok_or_else(|| ConfigError::invalid("origin", "has no host"))?;
        Ok(AddBearerLayer {
            source,
            origin: Some(Arc::new(origin)),
        })
    }

    /// Adds the token to every request, whatever its URI says.
    pub fn any_origin(source: TokenSource) -> Self {
        AddBearerLayer {
            source,
            origin: None,
        }
    }
}

impl<S> Layer<S> for AddBearerLayer {
    type Service = AddBearer<S>;

    fn layer(&self, inner: S) -> AddBearer<S> {
        AddBearer {
            inner,
            source: self.source.clone(),
            origin: self.origin.clone(),
        }
    }
}

impl fmt::Debug for AddBearerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddBearerLayer")
            .field("source", &self.source)
            .field("origin", &self.origin)
            .finish()
    }
}

/// The service of [`AddBearerLayer`].
#[derive(Clone)]
pub struct AddBearer<S> {
    inner: S,
    source: TokenSource,
    origin: Option<Arc<Origin>>,
}

impl<S> AddBearer<S> {
    /// Whether a request to `uri` gets the token.
    fn applies_to(&self, uri: &Uri) -> bool {
        self.origin
            .as_ref()
            .is_none_or(|origin| origin.matches(uri))
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AddBearer<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    ReqBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if !self.applies_to(request.uri()) {
            return ResponseFuture::untouched(self.inner.call(request));
        }
        if let Some(header) = self.source.ready_header() {
            request.headers_mut().insert(AUTHORIZATION, header.clone());
            return ResponseFuture::sent(self.inner.call(request), header, self.source.clone());
        }
        // No usable token: wait for it with the service that was polled ready (a clone takes
        // its place here), as tower-http's async authorization does.
        let clone = self.inner.clone();
        let ready = mem::replace(&mut self.inner, clone);
        ResponseFuture::waiting(self.source.clone(), request, ready)
    }
}

impl<S> fmt::Debug for AddBearer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddBearer")
            .field("source", &self.source)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Scheme, host and port, compared without regard to letter case; a missing port is the
/// scheme's default.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &url::Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().to_ascii_lowercase(),
            host: url.host_str()?.to_ascii_lowercase(),
            port: url.port_or_known_default()?,
        })
    }

    fn matches(&self, uri: &Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        let port = uri.port_u16().or(match scheme {
            s if s.eq_ignore_ascii_case("https") => Some(443),
            s if s.eq_ignore_ascii_case("http") => Some(80),
            _ => None,
        });
        scheme.eq_ignore_ascii_case(&self.scheme)
            && host.eq_ignore_ascii_case(&self.host)
            && port == Some(self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(text: &str) -> Origin {
        Origin::of(&outbound::checked_url("origin", text, false).unwrap()).unwrap()
    }

    #[test]
    fn origins_match_on_scheme_host_and_port_only() {
        let api = origin("https://API.example/base?x=1");
        for yes in [
            "https://api.example/records",
            "https://api.example:443/",
            "HTTPS://Api.Example/x?y",
        ] {
            assert!(api.matches(&yes.parse().unwrap()), "{yes}");
        }
        for no in [
            "http://api.example/",
            "https://api.example:8443/",
            "https://api.example.evil/",
            "https://evil.example/api.example",
            "/records",
        ] {
            assert!(!api.matches(&no.parse().unwrap()), "{no}");
        }
        let local = origin("http://127.0.0.1:8080");
        assert!(local.matches(&"http://127.0.0.1:8080/x".parse().unwrap()));
        assert!(!local.matches(&"http://127.0.0.1:8081/x".parse().unwrap()));
        let v6 = origin("http://[::1]:9000/");
        assert!(v6.matches(&"http://[::1]:9000/x".parse().unwrap()));
    }

    #[test]
    fn an_origin_must_be_https_or_loopback() {
        let source = crate::client::TokenSource::builder(
            crate::client::TokenEndpoint::crm_now("http://127.0.0.1:9/t"),
            "id",
            "secret",
        )
        .build()
        .unwrap();
        assert!(matches!(
            AddBearerLayer::new(source.clone(), "http://api.example"),
            Err(ConfigError::InsecureUrl { .. })
        ));
        assert!(matches!(
            AddBearerLayer::new(source.clone(), "not a url"),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(AddBearerLayer::new(source, "https://api.example").is_ok());
    }
}
