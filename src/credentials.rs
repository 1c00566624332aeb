//! OAuth 2.0 client credentials on the wire: `Authorization: Basic` as RFC 6749 §2.3.1 and
//! crm-now spell it.
//!
//! Used wherever this crate authenticates a client of its own: the RFC 7662 introspection
//! verifier (the resource server's credentials) and, with the `client` feature, the partner
//! side's token fetch. [`basic_credentials`] builds the header value on its own (for a curl
//! line, say).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The `Authorization` header value for client credentials:
/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1; crm-now's
/// `getOauthToken.php` expects exactly this).
///
/// Both parts are form-urlencoded (space becomes `+`, and `:`, `%`, `+` and non-ASCII bytes
/// become `%XX`), so a `:` inside the id cannot be confused with the separator. The only
/// difference from PHP's `urlencode` is that `*` stays as is, which decodes the same.
///
/// The result contains the secret (merely encoded): do not log it, and mark a header built
/// from it sensitive.
///
/// ```
/// use bearer_guard::credentials::basic_credentials;
///
/// // base64("demo-client:s3cr%3At") -- the ':' in the secret is urlencoded
/// assert_eq!(
///     basic_credentials("demo-client", "s3cr:t"),
///     "Basic ZGVtby1jbGllbnQ6czNjciUzQXQ="
/// );
/// ```
pub fn basic_credentials(client_id: &str, client_secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(joined_credentials(client_id, client_secret))
    )
}

/// [`basic_credentials`] as a header value marked sensitive (so the HTTP stack never logs
/// it); `None` for credentials a header cannot carry (cannot happen: the value is base64).
pub(crate) fn basic_header(client_id: &str, client_secret: &str) -> Option<http::HeaderValue> {
    let mut value =
        http::HeaderValue::from_str(&basic_credentials(client_id, client_secret)).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// `urlencode(id) ":" urlencode(secret)`, before base64.
fn joined_credentials(client_id: &str, client_secret: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(client_secret.as_bytes()).collect();
    format!("{id}:{secret}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_urlencoded_then_base64() {
        let value = basic_credentials("a:b", "50%+x y");
        let encoded = value.strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "a%3Ab:50%25%2Bx+y");
        let decoded = joined_credentials("Müller€", "ü");
        assert_eq!(decoded, "M%C3%BCller%E2%82%AC:%C3%BC");
    }

    #[test]
    fn the_header_is_sensitive_and_equal_to_the_text() {
        for (id, secret) in [("a:b", "50%+x y"), ("Müller€", "ü € *"), ("plain", "")] {
            let header = basic_header(id, secret).unwrap();
            assert!(header.is_sensitive());
            assert_eq!(header.to_str().unwrap(), basic_credentials(id, secret));
        }
    }
}
