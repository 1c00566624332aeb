//! Path normalisation: the original request's path, as the rules see it.
//!
//! [`normalize_path`] takes the original URI a proxy forwarded (`X-Forwarded-Uri`,
//! `X-Original-URI`, or the path after `/auth` for Envoy) and returns one canonical path, so
//! that every spelling of a path meets the rules of that path. In order:
//!
//! 1. At most [`MAX_PATH_LEN`] bytes, else refused.
//! 2. **A raw `#` is refused**, wherever it is (path or query). A fragment is never part of a
//!    request target (RFC 9112 §3.2), so a `#` there was put in on purpose: nginx passes
//!    `/health#/../records` on to the backend as it is, which may resolve it past the `#`,
//!    while cutting it off here had the rules see the public `/health`. (`%23` is a character
//!    of the path like any other.)
//! 3. An absolute URI (`http://host/path`, `https://…`) is cut to its path; the query (`?…`)
//!    is dropped. What is left must start with `/`.
//! 4. Control characters (0x00–0x1F, 0x7F) and spaces are refused; bytes above 0x7F (raw
//!    UTF-8) are percent-encoded.
//! 5. **A `;` is refused**, raw or as `%3B`. Tomcat and Jetty cut a path parameter (`;…`) off
//!    every segment before they resolve dot segments, so `/health/..;/records` is `/records`
//!    to them while it would be under `/health` here, and `/admin;x` is `/admin` to them while
//!    it would match no `/admin` rule here. Refusing every `;` (as Spring Security's
//!    `StrictHttpFirewall` does) covers both, whatever the segment holds before it.
//! 6. Percent-escapes (RFC 3986 §6.2.2): a `%` not followed by two hex digits is refused; an
//!    escape of an unreserved character (`A–Z a–z 0–9 - . _ ~`) is decoded (`/%72ecords` →
//!    `/records`, `%2E` → `.`); an escape of a control character (`%00`–`%1F`, `%7F`) is
//!    refused; every other escape is kept, with upper-case hex (`%2f` → `%2F`).
//! 7. **An encoded slash is not a separator**: `%2F` stays encoded and is part of its
//!    segment, so `/records%2Fx` is the one segment `records%2Fx` and does not match a rule
//!    `/records` (it is not `/records/x`). Since a backend may decode `%2F` before it resolves
//!    dot segments, a segment whose `%2F`-separated pieces include `.` or `..`
//!    (`/records%2F..%2Fadmin`) is refused rather than guessed at.
//! 8. **An empty segment and a dot segment (`.` or `..`, after step 6) in one path are
//!    refused.** Backends disagree on such paths: nginx (`merge_slashes`) and Tomcat merge
//!    `//` first, so `/admin//../health` is `/health` to them, while an RFC 3986 / WHATWG
//!    resolver (Node's `new URL`) keeps the empty segment, which `..` then removes, giving
//!    `/admin/health`. An empty segment is one between two `/` (`//`); the trailing `/` of
//!    `/records/` is not one.
//! 9. A path with no dot segment has its empty segments dropped (`//records` → `/records`,
//!    `/records//` → `/records/`); a trailing `/` is kept (`/records/` stays `/records/`).
//! 10. A path with dot segments (and so, by step 8, no empty segment) has them removed exactly
//!     as RFC 3986 §5.2.4 `remove_dot_segments` does: `.` goes, `..` removes the segment
//!     before it (`/health/../records` → `/records`), `/records/x/..` → `/records/`. A `..` at
//!     the root stays at the root (`/../records` → `/records`), as §5.2.4 says; nginx itself
//!     answers 400 to such a request line before it asks.
//!
//! After steps 5 and 8 a path whose dot segments are resolved holds no `;` and no empty
//! segment, so Tomcat and Jetty, backends that merge `//` and RFC 3986 / WHATWG resolvers
//! all resolve it to the path the rules see; a path whose empty segments are dropped has no
//! dot segment to resolve. A backend that resolves paths some other way (decoding `%2F` or
//! `%5C` to a separator, treating `\` as `/`, cutting other parameters) may serve a resource
//! other than the one the rules matched: the backend must not resolve paths more
//! permissively than this.
//!
//! Anything refused is a [`PathError`]; the sidecar answers it 400.

use std::borrow::Cow;

/// Longest original URI accepted, in bytes (8 KiB, nginx's default
/// `large_client_header_buffers` line).
pub const MAX_PATH_LEN: usize = 8 * 1024;

/// Why an original path was refused (answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// Longer than [`MAX_PATH_LEN`].
    #[error("the original path is longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    /// A raw `#`: a fragment is never part of a request target.
    #[error("the original URI has a raw `#`")]
    Fragment,
    /// Does not start with `/` (after an absolute URI's scheme and host are cut).
    #[error("the original path does not start with `/`")]
    NotAbsolute,
    /// A control character or a space, raw or percent-encoded.
    #[error("the original path has a control character or a space")]
    ControlCharacter,
    /// A `%` not followed by two hex digits.
    #[error("the original path has a `%` not followed by two hex digits")]
    BadPercentEncoding,
    /// A segment holds an encoded slash next to a dot segment (`%2F..%2F`).
    #[error("the original path has an encoded slash next to a dot segment")]
    EncodedSlashDotSegment,
    /// A `;` (a path parameter, `/x;jsessionid=…`), raw or as `%3B`.
    #[error("the original path has a `;` (a path parameter)")]
    PathParameter,
    /// An empty segment (`//`) and a dot segment (`.`, `..`) in the same path.
    #[error("the original path has both an empty segment and a dot segment")]
    EmptyAndDotSegment,
}

/// The canonical form of `raw`. See the [module docs](self) for every step.
///
/// # Errors
/// [`PathError`] for a path that is too long, not absolute, or has a raw `#`, control
/// characters, a `;`, broken or control percent-escapes, `%2F` next to a dot segment, or both an empty and
/// a dot segment.
pub fn normalize_path(raw: &[u8]) -> Result<String, PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if raw.contains(&b'#') {
        return Err(PathError::Fragment);
    }
    let ascii = encode_non_ascii(raw);
    let path = strip_scheme_and_authority(&ascii);
    let path = path.split('?').next().unwrap_or_default();
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(path.as_bytes())?;
    refuse_empty_with_dot_segments(&decoded)?;
    let trailing_slash = decoded.ends_with('/');
    let mut output: Vec<&str> = Vec::new();
    let mut last_was_dir = false;
    for segment in decoded.split('/') {
        last_was_dir = false;
        match segment {
            "" => {}
            "." => last_was_dir = true,
            ".." => {
                output.pop();
                last_was_dir = true;
            }
            _ => {
                if segment.contains("%2F")
                    && segment
                        .split("%2F")
                        .any(|piece| piece == "." || piece == "..")
                {
                    return Err(PathError::EncodedSlashDotSegment);
                }
                output.push(segment);
            }
        }
    }
    let mut normalized = String::with_capacity(decoded.len());
    for segment in &output {
        normalized.push('/');
        normalized.push_str(segment);
    }
    // `/records/`, `/records/.` and `/records/x/..` all name the directory `/records/`.
    if ((trailing_slash || last_was_dir) && !output.is_empty()) || normalized.is_empty() {
        normalized.push('/');
    }
    Ok(normalized)
}

/// Step 8 of the module docs: `path` (decoded, starting with `/`) may not hold both an empty
/// segment between two `/` and a `.` or `..` segment.
fn refuse_empty_with_dot_segments(path: &str) -> Result<(), PathError> {
    let has_empty = path.contains("//");
    let has_dot = path
        .split('/')
        .any(|segment| segment == "." || segment == "..");
    if has_empty && has_dot {
        return Err(PathError::EmptyAndDotSegment);
    }
    Ok(())
}

/// `http://host/path?q` → `/path?q` (any scheme `[a-z][a-z0-9+.-]*` followed by `://`);
/// anything else as it is.
fn strip_scheme_and_authority(raw: &str) -> &str {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw;
    };
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    if !is_scheme {
        return raw;
    }
    match rest.find(['/', '?']) {
        Some(at) if rest[at..].starts_with('/') => &rest[at..],
        // `http://host` or `http://host?q`: the path is empty, i.e. `/`.
        _ => "/",
    }
}

/// Bytes above 0x7F (raw UTF-8, or anything else a proxy passed on) as `%XX`; the rest as is.
fn encode_non_ascii(raw: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(raw) {
        Ok(text) if text.is_ascii() => Cow::Borrowed(text),
        _ => {
            let mut out = String::with_capacity(raw.len() * 3);
            for &byte in raw {
                if byte.is_ascii() {
                    out.push(char::from(byte));
                } else {
                    out.push('%');
                    out.push(char::from(HEX[usize::from(byte >> 4)]));
                    out.push(char::from(HEX[usize::from(byte & 0x0F)]));
                }
            }
            Cow::Owned(out)
        }
    }
}

/// Steps 4 to 6 of the module docs (on ASCII): refuses controls, spaces and `;` (raw or
/// `%3B`), decodes unreserved escapes, upper-cases the others.
fn decode_unreserved(bytes: &[u8]) -> Result<String, PathError> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            0x00..=0x20 | 0x7F => return Err(PathError::ControlCharacter),
            b';' => return Err(PathError::PathParameter),
            b'%' => {
                let (Some(high), Some(low)) = (
                    bytes.get(i + 1).and_then(|b| hex_value(*b)),
                    bytes.get(i + 2).and_then(|b| hex_value(*b)),
                ) else {
                    return Err(PathError::BadPercentEncoding);
                };
                let value = (high << 4) | low;
                if value < 0x20 || value == 0x7F {
                    return Err(PathError::ControlCharacter);
                }
                if value == b';' {
                    return Err(PathError::PathParameter);
                }
                if is_unreserved(value) {
                    out.push(char::from(value));
                } else {
                    out.push('%');
                    out.push(char::from(HEX[usize::from(high)]));
                    out.push(char::from(HEX[usize::from(low)]));
                }
                i += 3;
                continue;
            }
            _ => out.push(char::from(byte)),
        }
        i += 1;
    }
    Ok(out)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 §2.3 `unreserved`.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normal(raw: &str) -> String {
        normalize_path(raw.as_bytes()).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    fn normal_bytes(raw: &[u8]) -> String {
        normalize_path(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"))
    }

    #[test]
    fn every_spelling_of_records_is_records() {
        for raw in [
            "/records",
            "//records",
            "/%72ecords",
            "/%72%65%63%6F%72%64%73",
            "/health/../records",
            "/../records",
            "/../../records",
            "/./records",
            "/x/y/../../records",
            "/%2E%2E/records",
            "/%2e/records",
            "/records?scope=admin",
            "http://example.test/records?x",
            "HTTPS://example.test:8443//records",
        ] {
            assert_eq!(normal(raw), "/records", "{raw:?}");
        }
    }

    #[test]
    fn a_trailing_slash_or_dot_names_the_directory() {
        for raw in [
            "/records/",
            "/records/./",
            "/records/.",
            "/records//",
            "/records/x/..",
        ] {
            assert_eq!(normal(raw), "/records/", "{raw:?}");
        }
        for raw in [
            "/",
            "//",
            "/.",
            "/..",
            "/../..",
            "",
            "http://host",
            "http://host?q",
        ] {
            let got = normalize_path(raw.as_bytes());
            if raw.is_empty() {
                assert_eq!(got, Err(PathError::NotAbsolute));
            } else {
                assert_eq!(got.as_deref(), Ok("/"), "{raw:?}");
            }
        }
    }

    #[test]
    fn an_encoded_slash_stays_encoded_inside_its_segment() {
        assert_eq!(normal("/records%2Fx"), "/records%2Fx");
        assert_eq!(normal("/records%2fx"), "/records%2Fx");
        assert_eq!(normal("/a%2F/b"), "/a%2F/b");
        for raw in [
            "/records%2F..%2Fadmin",
            "/records%2f..",
            "/%2F..",
            "/x/.%2Fy",
            "/x/%2E%2E%2Fadmin",
        ] {
            assert_eq!(
                normalize_path(raw.as_bytes()),
                Err(PathError::EncodedSlashDotSegment),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn a_path_parameter_is_refused_whatever_its_segment_holds() {
        for raw in [
            "/health/..;/records",
            "/health/%2e%2e;/records",
            "/health/%2E%2E;x/records",
            "/health/.;/records",
            "/health/..;jsessionid=x/records",
            "/health/..%3B/records",
            "/health/..%3b/records",
            "/records;jsessionid=x",
            "/admin;x",
            "/admin%3Bx",
            "/health;",
            "http://example.test/health/..;/records?x=;",
        ] {
            assert_eq!(
                normalize_path(raw.as_bytes()),
                Err(PathError::PathParameter),
                "{raw:?}"
            );
        }
        // A `;` in the query is not in the path.
        assert_eq!(normal("/records?a=1;b=2"), "/records");
    }

    #[test]
    fn an_empty_segment_next_to_a_dot_segment_is_refused() {
        for raw in [
            "/admin//../health",
            "/a//..//health",
            "/a//../health",
            "//..",
            "/records//.",
            "/./records//",
            "/x/..//health",
            "/admin//%2e%2e/health",
            "http://example.test/admin//../health",
        ] {
            assert_eq!(
                normalize_path(raw.as_bytes()),
                Err(PathError::EmptyAndDotSegment),
                "{raw:?}"
            );
        }
        // Either alone is read: empty segments merge, dot segments resolve (RFC 3986 §5.2.4).
        assert_eq!(normal("/admin//health"), "/admin/health");
        assert_eq!(normal("/admin/x/../health"), "/admin/health");
        // The trailing `/` is not an empty segment.
        assert_eq!(normal("/records/x/../"), "/records/");
        assert_eq!(normal("/../"), "/");
    }

    #[test]
    fn a_raw_hash_is_refused_wherever_it_is() {
        for raw in [
            "/records#top",
            "/health#/../records",
            "/health#",
            "#",
            "/records?x=1#/health",
            "http://example.test/health#/../records",
            "http://example.test#/records",
        ] {
            assert_eq!(
                normalize_path(raw.as_bytes()),
                Err(PathError::Fragment),
                "{raw:?}"
            );
        }
        assert_eq!(normal("/records%23top"), "/records%23top");
    }

    #[test]
    fn other_escapes_are_kept_with_upper_case_hex() {
        assert_eq!(normal("/a%3fb"), "/a%3Fb");
        assert_eq!(normal("/caf%c3%a9"), "/caf%C3%A9");
        assert_eq!(normal("/café"), "/caf%C3%A9");
        assert_eq!(normal("/%7Euser/%41"), "/~user/A");
        assert_eq!(normal("/a%20b"), "/a%20b");
    }

    #[test]
    fn controls_broken_escapes_and_long_paths_are_refused() {
        for (raw, error) in [
            ("/a b", PathError::ControlCharacter),
            ("/a\tb", PathError::ControlCharacter),
            ("/a\u{7f}", PathError::ControlCharacter),
            ("/a%00b", PathError::ControlCharacter),
            ("/a%0Ab", PathError::ControlCharacter),
            ("/a%7f", PathError::ControlCharacter),
            ("/a%", PathError::BadPercentEncoding),
            ("/a%4", PathError::BadPercentEncoding),
            ("/a%zz", PathError::BadPercentEncoding),
            ("/a%%41", PathError::BadPercentEncoding),
            ("records", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
            ("?/records", PathError::NotAbsolute),
        ] {
            assert_eq!(normalize_path(raw.as_bytes()), Err(error), "{raw:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_PATH_LEN));
        assert_eq!(normalize_path(long.as_bytes()), Err(PathError::TooLong));
        let fits = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        assert_eq!(
            normalize_path(fits.as_bytes()).map(|p| p.len()),
            Ok(MAX_PATH_LEN)
        );
        assert_eq!(normal_bytes(b"/caf\xe9"), "/caf%E9");
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for raw in [
            "/health/../records",
            "/a/./b/c/../d/",
            "/a//b//",
            "/%7e%2f%41",
            "/caf%c3%a9/x",
            "/",
        ] {
            let once = normal(raw);
            assert_eq!(normal(&once), once, "{raw:?}");
        }
    }
}
