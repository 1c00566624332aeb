//! The original request a proxy asks about: its method and normalised path, from the
//! forwarded headers of a trusted proxy only.
//!
//! On `/auth` (nginx, Traefik, Caddy) and from a peer inside `GUARD_TRUSTED_PROXIES`, the
//! headers read depend on `GUARD_FORWARDED_HEADERS` ([`ForwardedHeaders`]):
//!
//! | mode | method from | path from |
//! |---|---|---|
//! | `auto` (default) | `X-Forwarded-Method` or `X-Original-Method` | `X-Forwarded-Uri` or `X-Original-URI` |
//! | `original` (nginx) | `X-Original-Method` | `X-Original-URI` |
//! | `forwarded` (Traefik, Caddy) | `X-Forwarded-Method` | `X-Forwarded-Uri` |
//!
//! and without any of them: the request's own method, the path `/`. In `auto`, a request that
//! carries both headers of a pair with different values (the URIs compared as sent, the
//! methods case-insensitively) is refused with [`ForwardedError::Conflict`], whatever its
//! token: nginx's `auth_request` passes the client's own headers on, so the pair nginx did not
//! set may be the client's. `original` and `forwarded` ignore the other family entirely.
//!
//! From any other peer those headers are ignored: the request's own method and the path `/`.
//! On `/auth/<path>` (Envoy's `path_prefix`) the request line itself is the original request:
//! its own method and the path after `/auth`, whoever the peer is.
//!
//! Each header read may appear once (twice is 400). The method is upper-cased before the
//! rules see it (`post` meets the rules of `POST`: a backend that folds case must not get past
//! a `POST` rule); the path is [normalised](crate::normalize) and loses its query (a raw `#`
//! in it is 400).

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

/// `GUARD_FORWARDED_HEADERS`: which forwarded headers `/auth` reads from a trusted peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ForwardedHeaders {
    /// Both families; a pair whose two headers disagree is 400 (the default).
    #[default]
    Auto,
    /// `X-Original-Method` / `X-Original-URI` only (nginx `auth_request`); `X-Forwarded-Uri` /
    /// `X-Forwarded-Method` are ignored.
    Original,
    /// `X-Forwarded-Method` / `X-Forwarded-Uri` only (Traefik, Caddy); `X-Original-*` are
    /// ignored.
    Forwarded,
}

impl ForwardedHeaders {
    /// Parses `auto`, `original` or `forwarded` (surrounding spaces ignored).
    ///
    /// # Errors
    /// [`ForwardedHeadersError`] for anything else.
    pub fn parse(value: &str) -> Result<Self, ForwardedHeadersError> {
        match value.trim() {
            "auto" => Ok(ForwardedHeaders::Auto),
            "original" => Ok(ForwardedHeaders::Original),
            "forwarded" => Ok(ForwardedHeaders::Forwarded),
            _ => Err(ForwardedHeadersError {
                value: value.to_owned(),
            }),
        }
    }

    /// `auto`, `original` or `forwarded`.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardedHeaders::Auto => "auto",
            ForwardedHeaders::Original => "original",
            ForwardedHeaders::Forwarded => "forwarded",
        }
    }
}

/// A `GUARD_FORWARDED_HEADERS` value that is not `auto`, `original` or `forwarded`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("GUARD_FORWARDED_HEADERS: `{value}` is not one of auto, original, forwarded")]
pub struct ForwardedHeadersError {
    /// The value.
    pub value: String,
}

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
    /// `X-Forwarded-*` and `X-Original-*` name different methods or URIs (`auto` only).
    #[error("{forwarded} and {original} disagree")]
    Conflict {
        /// `x-forwarded-method` or `x-forwarded-uri`.
        forwarded: HeaderName,
        /// `x-original-method` or `x-original-uri`.
        original: HeaderName,
    },
    /// A forwarded method that is not an HTTP method token.
    #[error("{0} is not an HTTP method")]
    BadMethod(HeaderName),
    /// The original path was refused.
    #[error(transparent)]
    Path(#[from] PathError),
}

/// The original request of a `/auth` request from `peer` (`None`: unknown, not trusted),
/// reading the forwarded headers `mode` names.
///
/// # Errors
/// [`ForwardedError`] for a repeated header, headers that disagree (`auto`), a bad method or
/// a refused path.
pub fn from_auth_request(
    peer: Option<IpAddr>,
    trusted: &TrustedProxies,
    mode: ForwardedHeaders,
    method: &Method,
    headers: &HeaderMap,
) -> Result<OriginalRequest, ForwardedError> {
    if !peer.is_some_and(|ip| trusted.trusts(ip)) {
        return Ok(OriginalRequest {
            method: upper_case(method)?,
            path: "/".to_owned(),
        });
    }
    let forwarded_method = read_pair(
        headers,
        mode,
        [X_FORWARDED_METHOD, X_ORIGINAL_METHOD],
        <[u8]>::eq_ignore_ascii_case,
    )?;
    let forwarded_uri = read_pair(headers, mode, [X_FORWARDED_URI, X_ORIGINAL_URI], <[u8]>::eq)?;
    let method = match forwarded_method {
        Some((name, value)) => Method::from_bytes(value)
            .map_err(|_| ForwardedError::BadMethod(name))
            .and_then(|m| upper_case(&m))?,
        None => upper_case(method)?,
    };
    let path = match forwarded_uri {
        Some((_, value)) => normalize_path(value)?,
        None => "/".to_owned(),
    };
    Ok(OriginalRequest { method, path })
}

/// The original request of an `/auth/<path>` request (Envoy): its own method, and the path
/// that follows `/auth` in `request_path` (`/auth/records/7` → `/records/7`).
///
/// A `#` cannot reach this form: the HTTP parser in front of the router ends the request
/// target at a `#` (and Envoy refuses a request whose path holds one).
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

/// The value `mode` reads from the pair `[forwarded, original]`, with its header's name:
/// `original` and `forwarded` read their one header; `auto` reads whichever is present and,
/// when both are, refuses them unless `same` holds for their values.
fn read_pair(
    headers: &HeaderMap,
    mode: ForwardedHeaders,
    [forwarded, original]: [HeaderName; 2],
    same: fn(&[u8], &[u8]) -> bool,
) -> Result<Option<(HeaderName, &[u8])>, ForwardedError> {
    let read = |name: HeaderName| Ok(single(headers, &name)?.map(|value| (name, value)));
    match mode {
        ForwardedHeaders::Original => read(original),
        ForwardedHeaders::Forwarded => read(forwarded),
        ForwardedHeaders::Auto => match (read(forwarded.clone())?, read(original.clone())?) {
            (Some((_, f)), Some((_, o))) if !same(f, o) => Err(ForwardedError::Conflict {
                forwarded,
                original,
            }),
            (Some(found), _) | (None, Some(found)) => Ok(Some(found)),
            (None, None) => Ok(None),
        },
    }
}

/// The value of header `name`, refusing one that appears twice.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h [u8]>, ForwardedError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ForwardedError::Repeated(name.clone()));
    }
    Ok(Some(value.as_bytes()))
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

    fn read(
        mode: ForwardedHeaders,
        method: &Method,
        pairs: &[(&'static str, &str)],
    ) -> Result<OriginalRequest, ForwardedError> {
        let trusted = TrustedProxies::default();
        from_auth_request(
            Some(ip("127.0.0.1")),
            &trusted,
            mode,
            method,
            &headers(pairs),
        )
    }

    fn original(method: Method, path: &str) -> Result<OriginalRequest, ForwardedError> {
        Ok(OriginalRequest {
            method,
            path: path.into(),
        })
    }

    #[test]
    fn auto_reads_either_family_and_pairs_that_agree() {
        let auto = ForwardedHeaders::Auto;
        let nginx = [
            ("x-original-method", "delete"),
            ("x-original-uri", "/health/../records"),
        ];
        assert_eq!(
            read(auto, &Method::GET, &nginx),
            original(Method::DELETE, "/records")
        );
        let traefik = [
            ("x-forwarded-method", "POST"),
            ("x-forwarded-uri", "/records/7?x=1"),
        ];
        assert_eq!(
            read(auto, &Method::GET, &traefik),
            original(Method::POST, "/records/7")
        );
        let agreeing = [
            ("x-forwarded-method", "post"),
            ("x-original-method", "POST"),
            ("x-forwarded-uri", "/records/7?x=1"),
            ("x-original-uri", "/records/7?x=1"),
        ];
        assert_eq!(
            read(auto, &Method::GET, &agreeing),
            original(Method::POST, "/records/7")
        );
        assert_eq!(read(auto, &Method::HEAD, &[]), original(Method::HEAD, "/"));
    }

    #[test]
    fn auto_refuses_pairs_that_disagree() {
        let method_conflict = ForwardedError::Conflict {
            forwarded: X_FORWARDED_METHOD,
            original: X_ORIGINAL_METHOD,
        };
        let uri_conflict = ForwardedError::Conflict {
            forwarded: X_FORWARDED_URI,
            original: X_ORIGINAL_URI,
        };
        for (pairs, want) in [
            (
                vec![
                    ("x-forwarded-uri", "/health"),
                    ("x-original-uri", "/records/7"),
                ],
                &uri_conflict,
            ),
            // Compared as sent, not after normalisation.
            (
                vec![
                    ("x-forwarded-uri", "/records/%37"),
                    ("x-original-uri", "/records/7"),
                ],
                &uri_conflict,
            ),
            (
                vec![
                    ("x-forwarded-uri", "/records/7/"),
                    ("x-original-uri", "/records/7"),
                ],
                &uri_conflict,
            ),
            (
                vec![
                    ("x-forwarded-method", "GET"),
                    ("x-original-method", "DELETE"),
                ],
                &method_conflict,
            ),
            (
                vec![
                    ("x-forwarded-method", "GET"),
                    ("x-original-method", "GET"),
                    ("x-forwarded-uri", "/health"),
                    ("x-original-uri", "/records"),
                ],
                &uri_conflict,
            ),
        ] {
            let got = read(ForwardedHeaders::Auto, &Method::GET, &pairs);
            assert_eq!(got.as_ref(), Err(want), "{pairs:?}");
        }
    }

    #[test]
    fn original_and_forwarded_ignore_the_other_family_entirely() {
        let spoofed_at_nginx = [
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/health"),
            ("x-forwarded-uri", "/health/x"),
            ("x-original-method", "DELETE"),
            ("x-original-uri", "/records/7"),
        ];
        assert_eq!(
            read(ForwardedHeaders::Original, &Method::GET, &spoofed_at_nginx),
            original(Method::DELETE, "/records/7")
        );
        let spoofed_at_traefik = [
            ("x-original-method", "GET"),
            ("x-original-uri", "/health"),
            ("x-original-uri", "/health/x"),
            ("x-forwarded-method", "DELETE"),
            ("x-forwarded-uri", "/records/7"),
        ];
        assert_eq!(
            read(
                ForwardedHeaders::Forwarded,
                &Method::GET,
                &spoofed_at_traefik
            ),
            original(Method::DELETE, "/records/7")
        );
        // The other family alone names nothing: the request's own method and the root.
        let only_forwarded = [
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/health"),
        ];
        assert_eq!(
            read(ForwardedHeaders::Original, &Method::POST, &only_forwarded),
            original(Method::POST, "/")
        );
    }

    #[test]
    fn the_mode_parses_from_its_three_names_only() {
        for mode in [
            ForwardedHeaders::Auto,
            ForwardedHeaders::Original,
            ForwardedHeaders::Forwarded,
        ] {
            assert_eq!(ForwardedHeaders::parse(mode.as_str()), Ok(mode));
        }
        assert_eq!(ForwardedHeaders::default(), ForwardedHeaders::Auto);
        for bad in ["", "AUTO", "x-original", "both", "original,forwarded"] {
            let error = ForwardedHeaders::parse(bad).map_err(|e| e.to_string());
            assert!(
                error
                    .as_ref()
                    .is_err_and(|e| e.starts_with("GUARD_FORWARDED_HEADERS: `")),
                "{bad:?}: {error:?}"
            );
        }
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
            let original = from_auth_request(
                peer,
                &trusted,
                ForwardedHeaders::Auto,
                &Method::POST,
                &spoofed,
            );
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
            (
                vec![("x-original-uri", "/health"), ("x-original-uri", "/health")],
                ForwardedError::Repeated(X_ORIGINAL_URI),
            ),
            (
                vec![("x-original-uri", "/health#/../records")],
                ForwardedError::Path(PathError::Fragment),
            ),
        ] {
            for mode in [ForwardedHeaders::Auto, ForwardedHeaders::Original] {
                let got = from_auth_request(peer, &trusted, mode, &Method::GET, &headers(&pairs));
                if mode == ForwardedHeaders::Original && pairs[0].0.starts_with("x-forwarded") {
                    // Ignored entirely.
                    assert!(got.is_ok(), "{pairs:?}");
                } else {
                    assert_eq!(got.as_ref(), Err(&want), "{mode:?} {pairs:?}");
                }
            }
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
