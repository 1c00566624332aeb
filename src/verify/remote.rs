//! [`RemoteVerifier`]: asks crm-now's central OAuth2 endpoint whether a token is valid.
//!
//! The request is `POST <endpoint>` with the form field `verifytoken=<token>`
//! (`application/x-www-form-urlencoded` by default; [`FormEncoding::Multipart`] sends what
//! crm-now's curl example sends — its PHP endpoint reads both). The answer decides:
//!
//! | answer | verdict |
//! |---|---|
//! | 2xx, a JSON object whose `result` is the boolean `true` | valid |
//! | 2xx or 4xx, a JSON object whose `result` is the boolean `false` | invalid (401) |
//! | anything else: refused, DNS failure, timeout, 1xx/3xx/5xx, not JSON, `"result": "true"`, `"result": 1`, truncated JSON, a body over the cap, 4xx with `result: true`, `result` more than once | unavailable (503) |
//!
//! Nothing but a literal `true` is ever read as valid. Redirects are not followed (a redirect
//! would carry the token elsewhere): a 3xx is unavailable.
//!
//! The call is the bounded `POST` the introspection and Bitrix24 verifiers make too: https
//! except loopback, no proxy unless a client with one is injected, an answer cap, a cap on
//! calls at once, one deadline for the wait for a call slot and the call, bounds checked at
//! build; an unavailable verdict's cause is an [`UpstreamError`], without URL, token or body.

use std::fmt;

use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::upstream::{CallSettings, Caller, UpstreamError, call_setters};
use super::{BoxFuture, Verdict, Verifier};
use crate::error::ConfigError;
use crate::principal::{Claims, Principal, VerifierKind};
use crate::token::BearerToken;

pub use super::upstream::{DEFAULT_MAX_CONCURRENT_CALLS, FormEncoding};

/// crm-now's production endpoint, from its partner documentation.
pub const CRM_NOW_VERIFY_URL: &str = "https://api.i1.crm-now.de/v1/getOauthToken.php";

/// Verifies tokens against crm-now's `verifytoken` endpoint. See the [module docs](self).
pub struct RemoteVerifier {
    caller: Caller,
    url: Url,
    encoding: FormEncoding,
}

impl RemoteVerifier {
    /// A builder with crm-now's production endpoint and the defaults below.
    pub fn builder() -> RemoteVerifierBuilder {
        RemoteVerifierBuilder {
            url: CRM_NOW_VERIFY_URL.to_owned(),
            encoding: FormEncoding::UrlEncoded,
            calls: CallSettings::default(),
        }
    }

    /// The endpoint this verifier calls.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    async fn call(&self, token: &BearerToken) -> Verdict {
        let deadline = self.caller.deadline();
        let fields = [("verifytoken", token.as_str())];
        let (status, body) = match self
            .caller
            .post_form(deadline, &self.url, self.encoding, &fields, None)
            .await
        {
            Ok(answer) => answer,
            Err(error) => return Verdict::unavailable(error),
        };
        match read_answer(status, &body) {
            Reply::Valid => Verdict::Valid(principal_for(token)),
            Reply::Invalid => Verdict::invalid("verifytoken answered result: false"),
            Reply::Unusable(problem) => Verdict::unavailable(UpstreamError::reply(status, problem)),
        }
    }
}

impl Verifier for RemoteVerifier {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(self.call(token))
    }

    /// `remote`.
    fn kind(&self) -> crate::principal::VerifierKind {
        crate::principal::VerifierKind::Remote
    }
}

impl fmt::Debug for RemoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteVerifier")
            .field("url", &self.url.as_str())
            .field("encoding", &self.encoding)
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

/// What the endpoint's answer says.
pub(crate) enum Reply {
    Valid,
    Invalid,
    Unusable(&'static str),
}

/// Reads the endpoint's answer. Only a 2xx JSON object with exactly one `result` member, the
/// boolean `true`, is valid.
pub(crate) fn read_answer(status: StatusCode, body: &[u8]) -> Reply {
    if !(status.is_success() || status.is_client_error()) {
        return Reply::Unusable("status is neither 2xx nor 4xx");
    }
    // JSON text is UTF-8 (RFC 8259 §8.1), and serde skips unread members without checking
    // their bytes: check the whole body first, so that invalid JSON is never read as a verdict.
    let Ok(body) = std::str::from_utf8(body) else {
        return Reply::Unusable("body is not UTF-8");
    };
    let result = match serde_json::from_str::<ResultMember>(body) {
        Ok(ResultMember::Once(result)) => Some(result),
        Ok(ResultMember::Absent) => None,
        Ok(ResultMember::Repeated) => return Reply::Unusable("result appears more than once"),
        Err(_) => return Reply::Unusable("body is not a JSON object"),
    };
    match result {
        Some(Value::Bool(true)) if status.is_success() => Reply::Valid,
        Some(Value::Bool(true)) => Reply::Unusable("result true with a 4xx status"),
        Some(Value::Bool(false)) => Reply::Invalid,
        Some(_) => Reply::Unusable("result is not a boolean"),
        None => Reply::Unusable("no result field"),
    }
}

/// The `result` member of a JSON object, read in one pass that notices a second `result`:
/// `{"result": false, "result": true}` is ambiguous (a map keeps the last one, other parsers
/// the first), so it is no answer at all. Other members are skipped unparsed (still checked to
/// be well-formed JSON).
enum ResultMember {
    Absent,
    Once(Value),
    Repeated,
}

impl<'de> serde::Deserialize<'de> for ResultMember {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ResultMember;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ResultMember, A::Error> {
                let mut found = ResultMember::Absent;
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if name != "result" {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        continue;
                    }
                    found = match found {
                        ResultMember::Absent => ResultMember::Once(map.next_value()?),
                        ResultMember::Once(_) | ResultMember::Repeated => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            ResultMember::Repeated
                        }
                    };
                }
                Ok(found)
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// The principal for a token the endpoint said is valid: when the token is a JWT, its
/// payload gives subject, scopes and expiry.
fn principal_for(token: &BearerToken) -> Principal {
    match unverified_claims(token.as_str()) {
        Some(claims) => Principal::from_claims(VerifierKind::Remote, claims),
        None => Principal::builder(VerifierKind::Remote).build(),
    }
}

/// DANGER: reads a JWT's payload **without checking its signature**. Called only after the
/// remote endpoint has said the token is valid, to learn what the endpoint vouched for.
fn unverified_claims(token: &str) -> Option<Claims> {
    let data = jsonwebtoken::dangerous::insecure_decode::<Claims>(token).ok()?;
    Some(data.claims)
}

/// Builds a [`RemoteVerifier`]. Every setter states its default.
#[derive(Debug)]
#[must_use]
pub struct RemoteVerifierBuilder {
    url: String,
    encoding: FormEncoding,
    calls: CallSettings,
}

impl RemoteVerifierBuilder {
    /// The `verifytoken` endpoint. Default: [`CRM_NOW_VERIFY_URL`]. Must be `https`, except
    /// to a loopback address or with [`allow_plain_http`](Self::allow_plain_http).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    /// How the `verifytoken` field is sent. Default: [`FormEncoding::UrlEncoded`].
    pub fn form_encoding(mut self, encoding: FormEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    call_setters!("endpoint");

    /// Builds the verifier.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: a refused URL, a zero limit, a timeout of zero or
    /// over 10 minutes, an answer cap over 16 MiB, or an HTTP client that cannot start.
    pub fn build(self) -> Result<RemoteVerifier, ConfigError> {
        let url = self.calls.checked_url("verify url", &self.url)?;
        Ok(RemoteVerifier {
            caller: self.calls.caller()?,
            url,
            encoding: self.encoding,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(status: u16, body: &str) -> &'static str {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        match read_answer(status, body.as_bytes()) {
            Reply::Valid => "valid",
            Reply::Invalid => "invalid",
            Reply::Unusable(_) => "unavailable",
        }
    }

    #[test]
    fn only_a_boolean_true_in_a_2xx_json_object_is_valid() {
        assert_eq!(
            verdict(200, r#"{"result": true, "message": "token valid"}"#),
            "valid"
        );
        assert_eq!(verdict(200, r#"{"result": false}"#), "invalid");
        assert_eq!(verdict(401, r#"{"result": false}"#), "invalid");
        assert_eq!(verdict(401, r#"{"result": true}"#), "unavailable");
        assert_eq!(verdict(500, r#"{"result": true}"#), "unavailable");
        assert_eq!(verdict(302, r#"{"result": true}"#), "unavailable");
        assert_eq!(verdict(200, r#"{"result": "true"}"#), "unavailable");
        assert_eq!(verdict(200, r#"{"result": 1}"#), "unavailable");
        assert_eq!(verdict(200, r#"{"result": null}"#), "unavailable");
        assert_eq!(verdict(200, r#"{"message": "ok"}"#), "unavailable");
        assert_eq!(verdict(200, r#"[{"result": true}]"#), "unavailable");
        assert_eq!(verdict(200, r#"{"result": tr"#), "unavailable");
        assert_eq!(verdict(200, "<html>ok</html>"), "unavailable");
        assert_eq!(verdict(200, ""), "unavailable");
        assert_eq!(verdict(200, "true"), "unavailable");
    }

    #[test]
    fn a_duplicated_result_member_is_unavailable_whatever_its_values() {
        assert_eq!(
            verdict(200, r#"{"result": false, "result": true}"#),
            "unavailable"
        );
        assert_eq!(
            verdict(200, r#"{"result": true, "x": 1, "result": true}"#),
            "unavailable"
        );
        assert_eq!(
            verdict(401, r#"{"result": false, "result": false}"#),
            "unavailable"
        );
        // An escaped member name is the same name.
        assert_eq!(
            verdict(200, r#"{"result": false, "res\u0075lt": true}"#),
            "unavailable"
        );
        // Invalid UTF-8 in a member nobody reads is still not JSON (fuzz find).
        let mut bytes = br#"{"result": false, "message": "token in"#.to_vec();
        bytes.extend_from_slice(&[0xd5, 0xd5, 0xd5]);
        bytes.extend_from_slice(br#"valid"}"#);
        assert!(matches!(
            read_answer(StatusCode::OK, &bytes),
            Reply::Unusable(_)
        ));
        // Other members may repeat and nest; only `result` decides.
        assert_eq!(
            verdict(200, r#"{"m": 1, "m": [{"result": false}], "result": true}"#),
            "valid"
        );
    }

    #[test]
    fn jwt_payload_fills_the_principal_but_opaque_tokens_get_an_empty_one() {
        use base64::Engine as _;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64(r#"{"sub":"Users:1","scope":"read write","exp":4102444800}"#)
        );
        let p = principal_for(&BearerToken::new(jwt));
        assert_eq!(p.subject(), Some("Users:1"));
        assert_eq!(p.scope(), "read write");
        assert!(p.expires_at().is_some());
        assert_eq!(p.source(), VerifierKind::Remote);
        let p = principal_for(&BearerToken::new("opaque-s6p6eclrvim6da22"));
        assert_eq!(p.subject(), None);
        assert!(p.expires_at().is_none());
    }

    #[test]
    fn plain_http_is_refused_unless_loopback_or_allowed() {
        assert!(
            RemoteVerifier::builder()
                .url("http://crm.example/v")
                .build()
                .is_err()
        );
        assert!(
            RemoteVerifier::builder()
                .url("http://127.0.0.1:1/v")
                .build()
                .is_ok()
        );
        assert!(
            RemoteVerifier::builder()
                .url("http://crm.example/v")
                .allow_plain_http(true)
                .build()
                .is_ok()
        );
        assert!(RemoteVerifier::builder().build().is_ok());
    }
}
