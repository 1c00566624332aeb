//! The original request a proxy asks about: its method and normalised path, from the
//! forwarded headers of a trusted proxy only.
//!
//! On `/auth` (nginx, Traefik, Caddy) and from a peer inside `GUARD_TRUSTED_PROXIES`:
//!
//! | what | from the first of |
//! |---|---|
//! | method | `X-Forwarded-Method`, `X-Original-Method`, the request's own method |
//! | path | `X-Forwarded-Uri`, `X-Original-URI`, else `/` |
//!
//! From any other peer those headers are ignored: the request's own method and the path `/`.
//! On `/auth/<path>` (Envoy's `path_prefix`) the request line itself is the original request:
//! its own method and the path after `/auth`, whoever the peer is.
//!
//! Each of these headers may appear once (twice is 400). The method is upper-cased before the
//! rules see it (`post` meets the rules of `POST`: a backend that folds case must not get past
//! a `POST` rule); the path is [normalised](crate::normalize) and loses its query.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, Method};
use ipnet::IpNet;

use crate::normalize::{PathError, normalize_path};

/// Default `GUARD_TRUSTED_PROXIES`: loopback.
pub const DEFAULT_TRUSTED_PROXIES: &str = "127.0.0.0/8,::1/128";

const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const X_ORIGINAL_URI: HeaderName = HeaderName::from_static("x-original-uri");

/// The networks whose forwarded headers are believed (`GUARD_TRUSTED_PROXIES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of CIDRs (`10.0.0.0/8`) or single addresses (`10.0.0.7`,
    /// taken as `/32` or `/128`); `none` trusts no peer.
    ///
    /// # Errors
    /// [`TrustedProxiesError`] naming the first entry that is neither.
    pub fn parse(list: &str) -> Result<Self, TrustedProxiesError> {
        if list.trim() == "none" {
            return Ok(TrustedProxies(Vec::new()));
        }
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| TrustedProxiesError {
                        entry: entry.to_owned(),
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether `peer` is inside one of the networks. An IPv4-mapped IPv6 address
    /// (`::ffff:127.0.0.1`, from a dual-stack listener) counts as its IPv4 address.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.iter().any(|net| net.contains(&peer))
    }
}

impl Default for TrustedProxies {
    /// [`DEFAULT_TRUSTED_PROXIES`].
    fn default() -> Self {
        TrustedProxies(vec![
            IpNet::from(ipnet::Ipv4Net::new_assert([127, 0, 0, 0].into(), 8)),
            IpNet::from(ipnet::Ipv6Net::new_assert(
                std::net::Ipv6Addr::LOCALHOST,
                128,
            )),
        ])
    }
}

/// An entry of `GUARD_TRUSTED_PROXIES` that is not a CIDR or an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GUARD_TRUSTED_PROXIES: `{entry}` is not a CIDR like 10.0.0.0/8 or an address")]
pub struct TrustedProxiesError {
    /// The entry.
    pub entry: String,
}

/// The request the proxy asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalRequest {
    /// Its method, upper-cased.
    pub method: Method,
    /// Its path, [normalised](crate::normalize), without the query.
    pub path: String,
}

/// Why the original request could not be read (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardedError {
    /// A forwarded header appears more than once.
    #[error("more than one {0} header")]
    Repeated(HeaderName),
    /// A forwarded method that is not an HTTP method token.
    #[error("{0} is not an HTTP method")]
    BadMethod(HeaderName),
    /// The original path was refused.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// The original request of a `/auth` request from `peer` (`None`: unknown, not trusted).
///
/// # Errors
/// [`ForwardedError`] for a repeated header, a bad method or a refused path.
pub fn from_auth_request(
    peer: Option<IpAddr>,
    trusted: &TrustedProxies,
    method: &Method,
    headers: &HeaderMap,
) -> Result<OriginalRequest, ForwardedError> {
    if !peer.is_some_and(|ip| trusted.trusts(ip)) {
        return Ok(OriginalRequest {
            method: upper_case(method)?,
            path: "/".to_owned(),
        });
    }
    let method = match first_of(headers, &[X_FORWARDED_METHOD, X_ORIGINAL_METHOD])? {
        Some((name, value)) => Method::from_bytes(value)
            .map_err(|_| ForwardedError::BadMethod(name.clone()))
            .and_then(|m| upper_case(&m))?,
        None => upper_case(method)?,
    };
    let path = match first_of(headers, &[X_FORWARDED_URI, X_ORIGINAL_URI])? {
        Some((_, value)) => normalize_path(value)?,
        None => "/".to_owned(),
    };
    Ok(OriginalRequest { method, path })
}

/// The original request of an `/auth/<path>` request (Envoy): its own method, and the path
/// that follows `/auth` in `request_path` (`/auth/records/7` → `/records/7`).
///
/// # Errors
/// [`ForwardedError::Path`] for a refused path.
pub fn from_prefixed_path(
    method: &Method,
    request_path: &str,
) -> Result<OriginalRequest, ForwardedError> {
    let rest = request_path.strip_prefix("/auth").unwrap_or(request_path);
    let rest = if rest.is_empty() { "/" } else { rest };
    Ok(OriginalRequest {
        method: upper_case(method)?,
        path: normalize_path(rest.as_bytes())?,
    })
}

/// The value of the first of `names` present, refusing one that appears twice.
fn first_of<'h>(
    headers: &'h HeaderMap,
    names: &'h [HeaderName],
) -> Result<Option<(&'h HeaderName, &'h [u8])>, ForwardedError> {
    for name in names {
        let mut values = headers.get_all(name).iter();
        if let Some(value) = values.next() {
            if values.next().is_some() {
                return Err(ForwardedError::Repeated(name.clone()));
            }
            return Ok(Some((name, value.as_bytes())));
        }
    }
    Ok(None)
}

fn upper_case(method: &Method) -> Result<Method, ForwardedError> {
    let name = method.as_str();
    if name.bytes().all(|b| !b.is_ascii_lowercase()) {
        return Ok(method.clone());
    }
    Method::from_bytes(name.to_ascii_uppercase().as_bytes())
        .map_err(|_| ForwardedError::BadMethod(X_FORWARDED_METHOD))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_static(name),
                value.parse().unwrap_or_else(|e| panic!("{value}: {e}")),
            );
        }
        map
    }

    #[test]
    fn the_default_trusts_loopback_only() {
        let trusted =
            TrustedProxies::parse(DEFAULT_TRUSTED_PROXIES).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(trusted, TrustedProxies::default());
        for peer in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
            assert!(trusted.trusts(ip(peer)), "{peer}");
        }
        for peer in ["10.0.0.1", "::2", "192.168.1.1", "::ffff:10.0.0.1"] {
            assert!(!trusted.trusts(ip(peer)), "{peer}");
        }
    }

    #[test]
    fn cidrs_addresses_and_none_parse_and_garbage_is_named() {
        let list = TrustedProxies::parse(" 10.0.0.0/8 , 192.168.1.7, fd00::/8,")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(list.trusts(ip("10.200.0.1")));
        assert!(list.trusts(ip("192.168.1.7")));
        assert!(!list.trusts(ip("192.168.1.8")));
        assert!(list.trusts(ip("fd12::1")));
        assert!(!list.trusts(ip("127.0.0.1")));
        let none = TrustedProxies::parse("none").unwrap_or_else(|e| panic!("{e}"));
        assert!(!none.trusts(ip("127.0.0.1")));
        for bad in ["10.0.0.0/33", "localhost", "10.0.0.0/8;rm", "*"] {
            let error = TrustedProxies::parse(bad).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("GUARD_TRUSTED_PROXIES: `")),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn a_trusted_peer_is_believed_in_header_order() {
        let trusted = TrustedProxies::default();
        let peer = Some(ip("127.0.0.1"));
        let both = headers(&[
            ("x-forwarded-method", "POST"),
            ("x-original-method", "DELETE"),
            ("x-forwarded-uri", "/records/7?x=1"),
            ("x-original-uri", "/health"),
        ]);
        let original = from_auth_request(peer, &trusted, &Method::GET, &both);
        assert_eq!(
            original,
            Ok(OriginalRequest {
                method: Method::POST,
                path: "/records/7".into()
            })
        );
        let nginx = headers(&[
            ("x-original-method", "delete"),
            ("x-original-uri", "/health/../records"),
        ]);
        let original = from_auth_request(peer, &trusted, &Method::GET, &nginx);
        assert_eq!(
            original,
            Ok(OriginalRequest {
                method: Method::DELETE,
                path: "/records".into()
            })
        );
        let bare = from_auth_request(peer, &trusted, &Method::HEAD, &HeaderMap::new());
        assert_eq!(
            bare,
            Ok(OriginalRequest {
                method: Method::HEAD,
                path: "/".into()
            })
        );
    }

    #[test]
    fn an_untrusted_or_unknown_peer_gets_its_own_method_and_the_root() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap_or_else(|e| panic!("{e}"));
        let spoofed = headers(&[
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/health"),
            ("x-original-uri", "/health"),
        ]);
        for peer in [Some(ip("127.0.0.1")), None] {
            let original = from_auth_request(peer, &trusted, &Method::POST, &spoofed);
            assert_eq!(
                original,
                Ok(OriginalRequest {
                    method: Method::POST,
                    path: "/".into()
                })
            );
        }
    }

    #[test]
    fn repeated_headers_bad_methods_and_bad_paths_are_refused() {
        let trusted = TrustedProxies::default();
        let peer = Some(ip("::1"));
        for (pairs, want) in [
            (
                vec![("x-forwarded-uri", "/a"), ("x-forwarded-uri", "/b")],
                ForwardedError::Repeated(X_FORWARDED_URI),
            ),
            (
                vec![("x-original-method", "GET"), ("x-original-method", "POST")],
                ForwardedError::Repeated(X_ORIGINAL_METHOD),
            ),
            (
                vec![("x-forwarded-method", "GE T")],
                ForwardedError::BadMethod(X_FORWARDED_METHOD),
            ),
            (
                vec![("x-original-uri", "/a%zz")],
                ForwardedError::Path(PathError::BadPercentEncoding),
            ),
        ] {
            let got = from_auth_request(peer, &trusted, &Method::GET, &headers(&pairs));
            assert_eq!(got, Err(want), "{pairs:?}");
        }
    }

    #[test]
    fn the_prefixed_path_is_the_rest_after_auth() {
        for (path, want) in [
            ("/auth/records/7", "/records/7"),
            ("/auth//records", "/records"),
            ("/auth/", "/"),
            ("/auth", "/"),
            ("/auth/health/../records", "/records"),
        ] {
            let original = from_prefixed_path(&Method::PUT, path);
            assert_eq!(
                original,
                Ok(OriginalRequest {
                    method: Method::PUT,
                    path: want.into()
                }),
                "{path}"
            );
        }
    }
}
