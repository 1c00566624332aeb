//! [`Bitrix24Verifier`]: checks a Bitrix24 OAuth access token (opaque, one hour) at its portal.
//!
//! Two calls per verification, both `POST` with the token in the form body (`auth=<token>`,
//! never in a URL), `Accept: application/json`:
//!
//! 1. `{portal}/rest/app.info` decides validity; its `result` becomes the claims.
//! 2. `{portal}/rest/batch` with `cmd[profile]=profile` and `cmd[scope]=scope` (one call for
//!    both, because a portal allows about 2 requests/s per source address): the subject is
//!    `profile.ID` as a string, the scopes are `scope` (an array of strings).
//!
//! | answer | verdict |
//! |---|---|
//! | `app.info`: 2xx, a JSON object holding `result`, an object (with `result.CODE` equal to the configured application code, when one is set); then a usable `batch` answer | valid |
//! | 401 or 2xx with `error` = `expired_token`, `invalid_token` or `NO_AUTH_FOUND` (either call); `result.CODE` not the configured code | invalid (401) |
//! | anything else: refused, timeout, 5xx, `QUERY_LIMIT_EXCEEDED`, `OVERLOAD_LIMIT`, `403 ACCESS_DENIED` (a plan without REST: the portal's trouble, not the token's), any other `error`, not UTF-8, not a JSON object, a member name more than once, `result` not an object, a `batch` answer without `profile.ID` or with `scope` not an array of strings or with a `result_error`, a body over the cap | unavailable (503, never cached) |
//!
//! The answers carry no expiry: the guard keeps a positive verdict for at most its positive
//! TTL (`GUARD_CACHE_TTL_SECS`; Bitrix24 tokens live 3600 s). Same bounds as
//! [`RemoteVerifier`](super::RemoteVerifier): https except loopback, no redirects, no proxy
//! unless a client with one is injected, an answer cap, a cap on calls at once, timeouts
//! bounded at build, errors ([`UpstreamError`]) without URLs.

use std::fmt;

use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::upstream::{
    CallSettings, Caller, FormEncoding, Members, UpstreamError, call_setters, members,
};
use super::{BoxFuture, Verdict, Verifier};
use crate::error::ConfigError;
use crate::principal::{Claims, Principal, VerifierKind};
use crate::token::BearerToken;

/// The `error` codes that mean the token itself is bad.
const TOKEN_ERRORS: [&str; 3] = ["expired_token", "invalid_token", "NO_AUTH_FOUND"];

/// Verifies Bitrix24 tokens at one portal. See the [module docs](self).
pub struct Bitrix24Verifier {
    caller: Caller,
    portal: Url,
    app_info: Url,
    batch: Url,
    app_code: Option<String>,
}

impl Bitrix24Verifier {
    /// A builder for the portal at `portal` (its base URL, e.g.
    /// `https://example.bitrix24.de`).
    pub fn builder(portal: impl Into<String>) -> Bitrix24VerifierBuilder {
        Bitrix24VerifierBuilder {
            portal: portal.into(),
            app_code: None,
            calls: CallSettings::default(),
        }
    }

    /// The portal's base URL.
    pub fn portal(&self) -> &str {
        self.portal.as_str()
    }

    async fn call(&self, token: &BearerToken) -> Verdict {
        let deadline = self.caller.deadline();
        let auth = [("auth", token.as_str())];
        let (status, body) = match self
            .caller
            .post_form(
                deadline,
                &self.app_info,
                FormEncoding::UrlEncoded,
                &auth,
                None,
            )
            .await
        {
            Ok(answer) => answer,
            Err(error) => return Verdict::unavailable(error),
        };
        let claims = match read_app_info(status, &body, self.app_code.as_deref()) {
            Reply::Valid(claims) => claims,
            Reply::Invalid(reason) => return Verdict::invalid(reason),
            Reply::Unusable(problem) => {
                return Verdict::unavailable(UpstreamError::reply(status, problem));
            }
        };
        let fields = [
            ("auth", token.as_str()),
            ("halt", "1"),
            ("cmd[profile]", "profile"),
            ("cmd[scope]", "scope"),
        ];
        let (status, body) = match self
            .caller
            .post_form(
                deadline,
                &self.batch,
                FormEncoding::UrlEncoded,
                &fields,
                None,
            )
            .await
        {
            Ok(answer) => answer,
            Err(error) => return Verdict::unavailable(error),
        };
        match read_batch(status, &body) {
            Reply::Valid((subject, scopes)) => Verdict::Valid(
                Principal::builder(VerifierKind::Bitrix24)
                    .subject(subject)
                    .scopes(scopes)
                    .claims(claims)
                    .build(),
            ),
            Reply::Invalid(reason) => Verdict::invalid(reason),
            Reply::Unusable(problem) => Verdict::unavailable(UpstreamError::reply(status, problem)),
        }
    }
}

impl Verifier for Bitrix24Verifier {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(self.call(token))
    }

    /// `bitrix24`.
    fn kind(&self) -> crate::principal::VerifierKind {
        crate::principal::VerifierKind::Bitrix24
    }
}

impl fmt::Debug for Bitrix24Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bitrix24Verifier")
            .field("portal", &self.portal.as_str())
            .field("app_code", &self.app_code)
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

/// What a portal answer says.
#[derive(Debug)]
pub(crate) enum Reply<T> {
    Valid(T),
    Invalid(&'static str),
    Unusable(&'static str),
}

/// The members of a portal answer, after its `error` (if any) is judged.
fn portal_members(status: StatusCode, body: &[u8]) -> Reply<Claims> {
    let all = match members(body) {
        Some(Members::Unique(all)) => all,
        Some(Members::Repeated) => return Reply::Unusable("a member appears more than once"),
        None => return Reply::Unusable("body is not a UTF-8 JSON object"),
    };
    match all.get("error") {
        None => {}
        Some(Value::String(code))
            if TOKEN_ERRORS.contains(&code.as_str())
                && (status.is_success() || status == StatusCode::UNAUTHORIZED) =>
        {
            return Reply::Invalid("portal refused the token");
        }
        Some(_) => return Reply::Unusable("portal answered an error"),
    }
    if !status.is_success() {
        return Reply::Unusable("status is not 2xx");
    }
    Reply::Valid(all)
}

/// Reads an `app.info` answer: `result` (an object) when the token is valid.
pub(crate) fn read_app_info(
    status: StatusCode,
    body: &[u8],
    app_code: Option<&str>,
) -> Reply<Claims> {
    let mut all = match portal_members(status, body) {
        Reply::Valid(all) => all,
        Reply::Invalid(reason) => return Reply::Invalid(reason),
        Reply::Unusable(problem) => return Reply::Unusable(problem),
    };
    let Some(Value::Object(result)) = all.remove("result") else {
        return Reply::Unusable("result is not an object");
    };
    let code_matches =
        |code: &str| matches!(result.get("CODE"), Some(Value::String(c)) if c == code);
    if app_code.is_some_and(|code| !code_matches(code)) {
        return Reply::Invalid("token belongs to another application");
    }
    Reply::Valid(result)
}

/// Reads the `batch` answer for `profile` and `scope`: the user id (as a string) and scopes.
pub(crate) fn read_batch(status: StatusCode, body: &[u8]) -> Reply<(String, Vec<String>)> {
    let mut all = match portal_members(status, body) {
        Reply::Valid(all) => all,
        Reply::Invalid(reason) => return Reply::Invalid(reason),
        Reply::Unusable(problem) => return Reply::Unusable(problem),
    };
    let Some(Value::Object(mut batch)) = all.remove("result") else {
        return Reply::Unusable("result is not an object");
    };
    match batch.get("result_error") {
        None => {}
        Some(Value::Array(errors)) if errors.is_empty() => {}
        Some(Value::Object(errors)) if errors.is_empty() => {}
        Some(_) => return Reply::Unusable("a batch command failed"),
    }
    let Some(Value::Object(mut results)) = batch.remove("result") else {
        return Reply::Unusable("batch result is not an object");
    };
    let subject = match results.get("profile").and_then(|p| p.get("ID")) {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(id)) if id.is_u64() => id.to_string(),
        _ => return Reply::Unusable("profile has no usable ID"),
    };
    let Some(Value::Array(items)) = results.remove("scope") else {
        return Reply::Unusable("scope is not an array");
    };
    let mut scopes = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(scope) => scopes.push(scope),
            _ => return Reply::Unusable("scope holds a non-string"),
        }
    }
    Reply::Valid((subject, scopes))
}

/// Builds a [`Bitrix24Verifier`]. Every setter states its default.
#[derive(Debug)]
#[must_use]
pub struct Bitrix24VerifierBuilder {
    portal: String,
    app_code: Option<String>,
    calls: CallSettings,
}

impl Bitrix24VerifierBuilder {
    /// The application code (`CODE` in `app.info`) tokens must belong to. Default: none (any
    /// application installed on the portal).
    pub fn app_code(mut self, code: impl Into<String>) -> Self {
        self.app_code = Some(code.into());
        self
    }

    call_setters!("portal");

    /// Builds the verifier.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: a refused portal URL (or one with a query or
    /// fragment), a zero limit, a timeout of zero or over 10 minutes, an answer cap over
    /// 16 MiB, or an HTTP client that cannot start.
    pub fn build(self) -> Result<Bitrix24Verifier, ConfigError> {
        let portal = self.calls.checked_url("bitrix24 portal", &self.portal)?;
        if portal.query().is_some() || portal.fragment().is_some() {
            return Err(ConfigError::invalid(
                "bitrix24 portal",
                "a base URL without query or fragment",
            ));
        }
        let base = portal.as_str().trim_end_matches('/').to_owned();
        let method = |name: &str| {
            self.calls
                .checked_url("bitrix24 portal", &format!("{base}/rest/{name}"))
        };
        let app_info = method("app.info")?;
        let batch = method("batch")?;
        let caller = self.calls.caller()?;
        Ok(Bitrix24Verifier {
            caller,
            portal,
            app_info,
            batch,
            app_code: self.app_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(status: u16, body: &str, code: Option<&str>) -> &'static str {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        match read_app_info(status, body.as_bytes(), code) {
            Reply::Valid(_) => "valid",
            Reply::Invalid(_) => "invalid",
            Reply::Unusable(_) => "unavailable",
        }
    }

    fn batch(status: u16, body: &str) -> Result<(String, Vec<String>), &'static str> {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        match read_batch(status, body.as_bytes()) {
            Reply::Valid(found) => Ok(found),
            Reply::Invalid(_) => Err("invalid"),
            Reply::Unusable(_) => Err("unavailable"),
        }
    }

    #[test]
    fn app_info_table() {
        let ok = r#"{"result": {"ID": 7, "CODE": "acme.app", "SCOPE": ["crm"]}, "time": {}}"#;
        assert_eq!(app(200, ok, None), "valid");
        assert_eq!(app(200, ok, Some("acme.app")), "valid");
        assert_eq!(app(200, ok, Some("other.app")), "invalid");
        assert_eq!(
            app(200, r#"{"result": {"ID": 7}}"#, Some("acme.app")),
            "invalid"
        );
        for code in TOKEN_ERRORS {
            let body = format!(r#"{{"error": "{code}", "error_description": "x"}}"#);
            assert_eq!(app(401, &body, None), "invalid", "{code}");
            assert_eq!(app(200, &body, None), "invalid", "{code}");
            assert_eq!(app(503, &body, None), "unavailable", "{code}");
        }
        for (status, body) in [
            (503, r#"{"error": "QUERY_LIMIT_EXCEEDED"}"#),
            (200, r#"{"error": "QUERY_LIMIT_EXCEEDED"}"#),
            (503, r#"{"error": "OVERLOAD_LIMIT"}"#),
            (403, r#"{"error": "ACCESS_DENIED"}"#),
            (401, r#"{"error": "something_else"}"#),
            (401, r#"{}"#),
            (500, ok),
            (302, ok),
            (200, r#"{"result": true}"#),
            (200, r#"{"result": [1]}"#),
            (200, r#"{"result": "x"}"#),
            (200, r#"{"time": {}}"#),
            (200, r#"{"result": {}, "result": {}}"#),
            (200, r#"{"result": {"ID": 7"#),
            (200, "<html></html>"),
            (200, ""),
        ] {
            assert_eq!(app(status, body, None), "unavailable", "{status} {body}");
        }
    }

    #[test]
    fn batch_gives_user_id_and_scopes() {
        let body = r#"{"result": {"result": {"profile": {"ID": "42", "ADMIN": false}, "scope": ["crm", "user"]},
                      "result_error": [], "result_total": [], "result_next": []}, "time": {}}"#;
        assert_eq!(
            batch(200, body),
            Ok(("42".into(), vec!["crm".into(), "user".into()]))
        );
        let body =
            r#"{"result": {"result": {"profile": {"ID": 42}, "scope": []}, "result_error": {}}}"#;
        assert_eq!(batch(200, body), Ok(("42".into(), vec![])));
        assert_eq!(batch(401, r#"{"error": "expired_token"}"#), Err("invalid"));
        for body in [
            r#"{"result": {"result": {"profile": {"ID": "1"}, "scope": ["a"]}, "result_error": {"scope": {"error": "x"}}}}"#,
            r#"{"result": {"result": {"profile": {}, "scope": ["a"]}}}"#,
            r#"{"result": {"result": {"profile": {"ID": ""}, "scope": ["a"]}}}"#,
            r#"{"result": {"result": {"profile": {"ID": "1"}, "scope": "a"}}}"#,
            r#"{"result": {"result": {"profile": {"ID": "1"}, "scope": [1]}}}"#,
            r#"{"result": {"result": {"profile": {"ID": "1"}}}}"#,
            r#"{"result": []}"#,
        ] {
            assert_eq!(batch(200, body), Err("unavailable"), "{body}");
        }
    }

    #[test]
    fn portal_url_policy() {
        assert!(
            Bitrix24Verifier::builder("http://example.bitrix24.de")
                .build()
                .is_err()
        );
        assert!(
            Bitrix24Verifier::builder("https://example.bitrix24.de/")
                .build()
                .is_ok()
        );
        assert!(
            Bitrix24Verifier::builder("http://127.0.0.1:9")
                .build()
                .is_ok()
        );
        assert!(
            Bitrix24Verifier::builder("https://x.bitrix24.de/?a=1")
                .build()
                .is_err()
        );
        let v = Bitrix24Verifier::builder("https://x.bitrix24.de/").build();
        let v = v.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v.app_info.as_str(), "https://x.bitrix24.de/rest/app.info");
        assert_eq!(v.batch.as_str(), "https://x.bitrix24.de/rest/batch");
    }
}
