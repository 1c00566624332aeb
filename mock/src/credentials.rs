//! Decoding crm-now's `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`.

use axum::http::HeaderValue;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet; padding optional (some clients strip it).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a Basic header was refused (for logs only; the client always gets `invalid_client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialError {
    NotBasic,
    BadBase64,
    NoColon,
    BadUrlEncoding,
}

/// The client id and secret from a crm-now Basic header.
///
/// base64 → split at the first `:` (urlencoded parts contain no raw `:`) → decode each part
/// like PHP's `urldecode` (`+` is a space, `%XX` a byte). A part that contains a raw `&` or
/// `=` cannot come from `urlencode` and is refused.
pub(crate) fn decode_basic(value: &HeaderValue) -> Result<(String, String), CredentialError> {
    let text = value
        .to_str()
        .map_err(|_| CredentialError::NotBasic)?
        .trim();
    let (scheme, encoded) = text.split_once(' ').ok_or(CredentialError::NotBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(CredentialError::NotBasic);
    }
    let raw = LENIENT
        .decode(encoded.trim())
        .map_err(|_| CredentialError::BadBase64)?;
    let joined = String::from_utf8(raw).map_err(|_| CredentialError::BadUrlEncoding)?;
    let (id, secret) = joined.split_once(':').ok_or(CredentialError::NoColon)?;
    Ok((url_decode(id)?, url_decode(secret)?))
}

/// PHP `urldecode` of one part, through `form_urlencoded` (which treats `&` and `=` as
/// separators, hence the refusal of raw ones).
fn url_decode(part: &str) -> Result<String, CredentialError> {
    if part.contains(['&', '=']) {
        return Err(CredentialError::BadUrlEncoding);
    }
    Ok(form_urlencoded::parse(part.as_bytes())
        .next()
        .map(|(name, _)| name.into_owned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// crm-now's client encoding, written out here because this crate depends on nothing from
    /// bearer-guard: `Basic base64(urlencode(id) ":" urlencode(secret))`. The guard's own
    /// `basic_credentials` is checked against this decoder in bearer-guard's tests (a token
    /// fetched with awkward credentials from a running mock).
    fn basic_credentials(id: &str, secret: &str) -> String {
        let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let secret: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    }

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn awkward_credentials_round_trip() {
        for (id, secret) in [
            ("a:b", "c:d:e"),
            ("50%+x y", "%41+&=?/#"),
            ("Müller€", "ü € 漢字"),
            ("plain", ""),
            ("", "only-secret"),
        ] {
            let value = header(&basic_credentials(id, secret));
            assert_eq!(
                decode_basic(&value),
                Ok((id.to_owned(), secret.to_owned())),
                "{id:?} / {secret:?}"
            );
        }
    }

    #[test]
    fn scheme_is_case_insensitive_and_padding_optional() {
        // base64("id:secret") = aWQ6c2VjcmV0 (no padding needed); "i:s" = aTpz
        assert_eq!(
            decode_basic(&header("basic aWQ6c2VjcmV0")),
            Ok(("id".into(), "secret".into()))
        );
        assert_eq!(
            decode_basic(&header("BASIC aTpz")),
            Ok(("i".into(), "s".into()))
        );
        // base64("ab:c") = YWI6Yw== ; without padding too
        assert_eq!(
            decode_basic(&header("Basic YWI6Yw")),
            Ok(("ab".into(), "c".into()))
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(
            decode_basic(&header("Bearer abc")),
            Err(CredentialError::NotBasic)
        );
        assert_eq!(
            decode_basic(&header("Basic")),
            Err(CredentialError::NotBasic)
        );
        assert_eq!(
            decode_basic(&header("Basic !!!")),
            Err(CredentialError::BadBase64)
        );
        // base64("nocolon")
        assert_eq!(
            decode_basic(&header("Basic bm9jb2xvbg==")),
            Err(CredentialError::NoColon)
        );
        // base64("a=b:c")
        assert_eq!(
            decode_basic(&header("Basic YT1iOmM=")),
            Err(CredentialError::BadUrlEncoding)
        );
        // base64 of invalid UTF-8 bytes 0xff 0x3a 0x61
        assert_eq!(
            decode_basic(&header("Basic /zph")),
            Err(CredentialError::BadUrlEncoding)
        );
    }
}
