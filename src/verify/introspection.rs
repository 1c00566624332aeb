//! [`IntrospectionVerifier`]: asks an RFC 7662 token introspection endpoint (Keycloak, Ory
//! Hydra, Okta, Authlete, …) whether an opaque token is active.
//!
//! The request is `POST <endpoint>`, `Content-Type: application/x-www-form-urlencoded`, body
//! `token=<token>&token_type_hint=access_token`, `Accept: application/json`, and the resource
//! server's own client authentication when configured: `Authorization: Basic
//! base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, [`ClientAuth::Basic`]), or
//! `client_id` and `client_secret` in the body ([`ClientAuth::Post`]). The answer decides:
//!
//! | answer | verdict |
//! |---|---|
//! | 2xx, a JSON object whose `active` is the boolean `true`; `exp` (when present) in the future; `token_type` (when present) `access_token` or `Bearer` in any case; `iss` / `aud` among the configured ones (when configured; a missing member does not match) | valid |
//! | 2xx, `active: false`; or `active: true` with `exp` passed, another `token_type`, or `iss` / `aud` not accepted | invalid (401) |
//! | anything else: refused, timeout, not 2xx, not UTF-8, not a JSON object, a member name more than once, `active` missing or not a boolean, `exp` not a number; `sub` or `token_type` present but not a string (`null` included; RFC 7662 §2.2), `username` or `scope` present but neither a string nor `null`; a body over the cap (64 KiB) | unavailable (503, never cached) |
//!
//! The [`Principal`]: subject from `sub` (else, when `sub` is absent, `username`), scopes from `scope`
//! (space-separated), expiry from `exp` (so the guard never reuses the verdict past it),
//! claims = the answer's members without `active`, source [`VerifierKind::Introspection`].
//!
//! Same bounds as [`RemoteVerifier`](super::RemoteVerifier): https except loopback, no
//! redirects, no proxy unless a client with one is injected, an answer cap, a cap on calls at
//! once, timeouts bounded at build, errors ([`UpstreamError`]) without URLs. The client secret
//! is never logged and never in `Debug`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::upstream::{
    CallSettings, Caller, FormEncoding, Members, UpstreamError, call_setters, members,
};
use super::{BoxFuture, Verdict, Verifier};
use crate::credentials::basic_header;
use crate::error::ConfigError;
use crate::principal::{Claims, Principal, VerifierKind, unix_time_from_json};
use crate::secret::Secret;
use crate::token::BearerToken;

/// How the resource server authenticates itself to the introspection endpoint.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// No client authentication (an endpoint that does not ask for it).
    None,
    /// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1,
    /// `client_secret_basic`).
    Basic {
        /// The client id.
        client_id: String,
        /// The client secret (wiped on drop, never shown by `Debug`).
        client_secret: Secret,
    },
    /// `client_id` and `client_secret` as form fields in the body (`client_secret_post`).
    Post {
        /// The client id.
        client_id: String,
        /// The client secret (wiped on drop, never shown by `Debug`).
        client_secret: Secret,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientAuth::None => f.write_str("None"),
            ClientAuth::Basic { client_id, .. } => f
                .debug_struct("Basic")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .finish(),
            ClientAuth::Post { client_id, .. } => f
                .debug_struct("Post")
                .field("client_id", client_id)
                .field("client_secret", &"<redacted>")
                .finish(),
        }
    }
}

/// The claim rules applied to an `active: true` answer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
}

/// Verifies opaque tokens at an RFC 7662 introspection endpoint. See the [module docs](self).
pub struct IntrospectionVerifier {
    caller: Caller,
    url: Url,
    /// `Some` for [`ClientAuth::Basic`]: the header value, built once, marked sensitive (the
    /// secret itself is not kept).
    basic: Option<http::HeaderValue>,
    /// `Some` for [`ClientAuth::Post`]: the form fields, sent on every call.
    post: Option<(String, Secret)>,
    rules: Rules,
}

impl IntrospectionVerifier {
    /// A builder for the endpoint at `url`.
    pub fn builder(url: impl Into<String>) -> IntrospectionVerifierBuilder {
        IntrospectionVerifierBuilder {
            url: url.into(),
            auth: ClientAuth::None,
            calls: CallSettings::default(),
            rules: Rules::default(),
        }
    }

    /// The endpoint this verifier calls.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// How it authenticates itself, for `Debug`.
    fn auth_kind(&self) -> &'static str {
        match (&self.basic, &self.post) {
            (Some(_), _) => "client_secret_basic",
            (None, Some(_)) => "client_secret_post",
            (None, None) => "none",
        }
    }

    async fn call(&self, token: &BearerToken) -> Verdict {
        let mut fields = vec![
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ];
        if let Some((client_id, client_secret)) = &self.post {
            fields.push(("client_id", client_id));
            fields.push(("client_secret", client_secret.expose_secret()));
        }
        let deadline = self.caller.deadline();
        let (status, body) = match self
            .caller
            .post_form(
                deadline,
                &self.url,
                FormEncoding::UrlEncoded,
                &fields,
                self.basic.as_ref(),
            )
            .await
        {
            Ok(answer) => answer,
            Err(error) => return Verdict::unavailable(error),
        };
        match read_answer(status, &body, unix_now(), &self.rules) {
            Reply::Valid(claims) => Verdict::Valid(principal_from(claims)),
            Reply::Invalid(reason) => Verdict::invalid(reason),
            Reply::Unusable(problem) => Verdict::unavailable(UpstreamError::reply(status, problem)),
        }
    }
}

impl Verifier for IntrospectionVerifier {
    fn verify<'a>(&'a self, token: &'a BearerToken) -> BoxFuture<'a, Verdict> {
        Box::pin(self.call(token))
    }

    /// `introspection`.
    fn kind(&self) -> crate::principal::VerifierKind {
        crate::principal::VerifierKind::Introspection
    }
}

impl fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("url", &self.url.as_str())
            .field("auth", &self.auth_kind())
            .field("issuers", &self.rules.issuers)
            .field("audiences", &self.rules.audiences)
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

/// Seconds since the epoch, as a float (0 before 1970).
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What an introspection answer says.
#[derive(Debug)]
pub(crate) enum Reply {
    /// Active, and every rule holds: the answer's members (without `active`).
    Valid(Claims),
    /// Not active, expired, or a rule does not hold.
    Invalid(&'static str),
    /// No verdict.
    Unusable(&'static str),
}

/// Reads an introspection answer at time `now` (seconds since the epoch). See the table in the
/// [module docs](self).
pub(crate) fn read_answer(status: StatusCode, body: &[u8], now: f64, rules: &Rules) -> Reply {
    if !status.is_success() {
        return Reply::Unusable("status is not 2xx");
    }
    let mut claims = match members(body) {
        Some(Members::Unique(claims)) => claims,
        Some(Members::Repeated) => return Reply::Unusable("a member appears more than once"),
        None => return Reply::Unusable("body is not a UTF-8 JSON object"),
    };
    match claims.remove("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Reply::Invalid("introspection answered active: false"),
        Some(_) => return Reply::Unusable("active is not a boolean"),
        None => return Reply::Unusable("no active member"),
    }
    // The members the principal is made of: a malformed one is a malformed answer, never
    // skipped for a fallback (`sub: 12345` or `sub: null` must not make `username` the
    // subject). `username` and `scope` may be `null`, read as absent (no subject from it, no
    // scopes): servers that serialise every optional member send that for client-credentials
    // tokens, and nothing falls back past them.
    if claims.get("sub").is_some_and(|value| !value.is_string()) {
        return Reply::Unusable("sub is not a string");
    }
    for (name, problem) in [
        ("username", "username is not a string"),
        ("scope", "scope is not a string"),
    ] {
        if claims
            .get(name)
            .is_some_and(|value| !value.is_string() && !value.is_null())
        {
            return Reply::Unusable(problem);
        }
    }
    match claims.get("exp") {
        None => {}
        Some(Value::Number(exp)) => match exp.as_f64() {
            Some(exp) if exp > now => {}
            Some(_) => return Reply::Invalid("token expired (exp)"),
            None => return Reply::Unusable("exp is not a usable number"),
        },
        Some(_) => return Reply::Unusable("exp is not a number"),
    }
    match claims.get("token_type") {
        None => {}
        Some(Value::String(kind))
            if kind.eq_ignore_ascii_case("access_token") || kind.eq_ignore_ascii_case("bearer") => {
        }
        Some(Value::String(_)) => return Reply::Invalid("token_type is not an access token"),
        Some(_) => return Reply::Unusable("token_type is not a string"),
    }
    if !rules.issuers.is_empty() {
        let accepted =
            matches!(claims.get("iss"), Some(Value::String(iss)) if rules.issuers.contains(iss));
        if !accepted {
            return Reply::Invalid("iss not accepted");
        }
    }
    if !rules.audiences.is_empty() {
        let accepts = |aud: &Value| matches!(aud, Value::String(a) if rules.audiences.contains(a));
        let accepted = match claims.get("aud") {
            Some(Value::Array(auds)) => auds.iter().any(accepts),
            Some(aud) => accepts(aud),
            None => false,
        };
        if !accepted {
            return Reply::Invalid("aud not accepted");
        }
    }
    Reply::Valid(claims)
}

/// The principal for an active token: `sub` (else `username`), `scope`, `exp`, the members.
/// [`read_answer`] has checked that each of them, when present, is a string (`exp` a number).
pub(crate) fn principal_from(claims: Claims) -> Principal {
    let subject = ["sub", "username"]
        .iter()
        .find_map(|name| claims.get(*name).and_then(Value::as_str))
        .map(str::to_owned);
    let scopes = claims
        .get("scope")
        .and_then(Value::as_str)
        .map(str::split_ascii_whitespace);
    let expires_at = claims.get("exp").and_then(unix_time_from_json);
    let mut builder =
        Principal::builder(VerifierKind::Introspection).scopes(scopes.into_iter().flatten());
    if let Some(subject) = subject {
        builder = builder.subject(subject);
    }
    if let Some(at) = expires_at {
        builder = builder.expires_at(at);
    }
    builder.claims(claims).build()
}

/// Builds an [`IntrospectionVerifier`]. Every setter states its default.
#[must_use]
pub struct IntrospectionVerifierBuilder {
    url: String,
    auth: ClientAuth,
    calls: CallSettings,
    rules: Rules,
}

impl fmt::Debug for IntrospectionVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionVerifierBuilder")
            .field("auth", &self.auth)
            .field("calls", &self.calls)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifierBuilder {
    /// How the resource server authenticates itself. Default: [`ClientAuth::None`].
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = auth;
        self
    }

    /// Shorthand for [`ClientAuth::Basic`] (`client_secret_basic`, what RFC 7662 servers
    /// expect by default).
    pub fn client_basic(self, client_id: impl Into<String>, secret: impl Into<Secret>) -> Self {
        self.client_auth(ClientAuth::Basic {
            client_id: client_id.into(),
            client_secret: secret.into(),
        })
    }

    /// Shorthand for [`ClientAuth::Post`] (`client_secret_post`).
    pub fn client_secret_post(
        self,
        client_id: impl Into<String>,
        secret: impl Into<Secret>,
    ) -> Self {
        self.client_auth(ClientAuth::Post {
            client_id: client_id.into(),
            client_secret: secret.into(),
        })
    }

    call_setters!("endpoint");

    /// Accepts tokens whose `iss` is `issuer` (call again for more). Default: any issuer;
    /// once one is set, an answer without `iss` is invalid.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.rules.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` (a string or an array) holds `audience` (call again for
    /// more). Default: any audience; once one is set, an answer without `aud` is invalid.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.rules.audiences.push(audience.into());
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting: a refused URL, a zero limit, a timeout of zero or
    /// over 10 minutes, an answer cap over 16 MiB, client credentials a header cannot carry,
    /// or an HTTP client that cannot start.
    pub fn build(self) -> Result<IntrospectionVerifier, ConfigError> {
        let url = self.calls.checked_url("introspection url", &self.url)?;
        let basic = match &self.auth {
            ClientAuth::Basic {
                client_id,
                client_secret,
            } => Some(
                basic_header(client_id, client_secret.expose_secret()).ok_or_else(|| {
                    ConfigError::invalid("client_auth", "credentials a header cannot carry")
                })?,
            ),
            ClientAuth::None | ClientAuth::Post { .. } => None,
        };
        let caller = self.calls.caller()?;
        // For Basic only the header is kept; the secret is wiped when `self.auth` drops.
        let post = match self.auth {
            ClientAuth::Post {
                client_id,
                client_secret,
            } => Some((client_id, client_secret)),
            ClientAuth::None | ClientAuth::Basic { .. } => None,
        };
        Ok(IntrospectionVerifier {
            caller,
            url,
            basic,
            post,
            rules: self.rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_700_000_000.0;

    fn verdict_with(status: u16, body: &str, rules: &Rules) -> &'static str {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
        match read_answer(status, body.as_bytes(), NOW, rules) {
            Reply::Valid(_) => "valid",
            Reply::Invalid(_) => "invalid",
            Reply::Unusable(_) => "unavailable",
        }
    }

    fn verdict(status: u16, body: &str) -> &'static str {
        verdict_with(status, body, &Rules::default())
    }

    #[test]
    fn only_a_boolean_true_in_a_2xx_json_object_is_active() {
        assert_eq!(verdict(200, r#"{"active": true}"#), "valid");
        assert_eq!(verdict(200, r#"{"active": false}"#), "invalid");
        for (status, body) in [
            (401, r#"{"active": false}"#),
            (500, r#"{"active": true}"#),
            (302, r#"{"active": true}"#),
            (200, r#"{"active": "true"}"#),
            (200, r#"{"active": 1}"#),
            (200, r#"{"active": null}"#),
            (200, r#"{"sub": "x"}"#),
            (200, r#"[{"active": true}]"#),
            (200, r#"{"active": tr"#),
            (200, "<html>ok</html>"),
            (200, ""),
            (200, r#"{"active": false, "active": true}"#),
            (200, r#"{"active": true, "act\u0069ve": true}"#),
            (200, r#"{"active": true, "exp": "soon"}"#),
            (200, r#"{"active": true, "token_type": 1}"#),
            (
                200,
                r#"{"active": true, "sub": 12345, "username": "Users:1"}"#,
            ),
            (
                200,
                r#"{"active": true, "sub": null, "username": "Users:1"}"#,
            ),
            (200, r#"{"active": true, "username": ["ann"]}"#),
            (200, r#"{"active": true, "sub": "u1", "scope": ["read"]}"#),
        ] {
            assert_eq!(verdict(status, body), "unavailable", "{status} {body}");
        }
        let mut bytes = br#"{"active": false, "x": ""#.to_vec();
        bytes.extend_from_slice(&[0xd5, 0xd5]);
        bytes.extend_from_slice(br#""}"#);
        assert!(matches!(
            read_answer(StatusCode::OK, &bytes, NOW, &Rules::default()),
            Reply::Unusable(_)
        ));
    }

    #[test]
    fn exp_and_token_type_decide_an_active_answer() {
        assert_eq!(
            verdict(200, r#"{"active": true, "exp": 1700000001}"#),
            "valid"
        );
        assert_eq!(
            verdict(200, r#"{"active": true, "exp": 1700000000}"#),
            "invalid"
        );
        assert_eq!(verdict(200, r#"{"active": true, "exp": -5}"#), "invalid");
        for kind in ["access_token", "Bearer", "bearer", "ACCESS_TOKEN"] {
            let body = format!(r#"{{"active": true, "token_type": "{kind}"}}"#);
            assert_eq!(verdict(200, &body), "valid", "{kind}");
        }
        assert_eq!(
            verdict(200, r#"{"active": true, "token_type": "refresh_token"}"#),
            "invalid"
        );
    }

    #[test]
    fn issuer_and_audience_rules_need_the_member() {
        let rules = Rules {
            issuers: vec!["https://idp".into()],
            audiences: vec!["api".into()],
        };
        let v = |body: &str| verdict_with(200, body, &rules);
        assert_eq!(
            v(r#"{"active": true, "iss": "https://idp", "aud": "api"}"#),
            "valid"
        );
        assert_eq!(
            v(r#"{"active": true, "iss": "https://idp", "aud": ["x", "api"]}"#),
            "valid"
        );
        assert_eq!(v(r#"{"active": true, "aud": "api"}"#), "invalid");
        assert_eq!(v(r#"{"active": true, "iss": "https://idp"}"#), "invalid");
        assert_eq!(
            v(r#"{"active": true, "iss": "https://evil", "aud": "api"}"#),
            "invalid"
        );
        assert_eq!(
            v(r#"{"active": true, "iss": "https://idp", "aud": ["x"]}"#),
            "invalid"
        );
    }

    #[test]
    fn principal_takes_sub_else_username_scope_and_exp() {
        let claims =
            |body: &str| match read_answer(StatusCode::OK, body.as_bytes(), NOW, &Rules::default())
            {
                Reply::Valid(claims) => claims,
                other => panic!("{other:?}"),
            };
        let p = principal_from(claims(
            r#"{"active": true, "sub": "u1", "username": "ann", "scope": "read  write", "exp": 1800000000}"#,
        ));
        assert_eq!(p.subject(), Some("u1"));
        assert_eq!(p.scopes().collect::<Vec<_>>(), ["read", "write"]);
        assert_eq!(p.source(), VerifierKind::Introspection);
        assert!(p.expires_at().is_some());
        assert!(!p.claims().contains_key("active"));
        let p = principal_from(claims(r#"{"active": true, "username": "ann"}"#));
        assert_eq!(p.subject(), Some("ann"));
        assert_eq!(p.scopes().next(), None);
        assert!(p.expires_at().is_none());
        // `null` for `username` or `scope` reads as absent: no subject from it, no scopes.
        let p = principal_from(claims(
            r#"{"active": true, "username": null, "scope": null}"#,
        ));
        assert_eq!(p.subject(), None);
        assert_eq!(p.scopes().next(), None);
        let p = principal_from(claims(
            r#"{"active": true, "sub": "u1", "username": null, "scope": "read"}"#,
        ));
        assert_eq!(p.subject(), Some("u1"));
        assert_eq!(p.scopes().collect::<Vec<_>>(), ["read"]);
    }

    #[test]
    fn the_secret_is_never_in_debug() {
        let builder = IntrospectionVerifier::builder("https://idp.example/introspect")
            .client_basic("rs", "t0p-s3cret");
        assert!(!format!("{builder:?}").contains("t0p-s3cret"));
        let verifier = builder.build().unwrap_or_else(|e| panic!("{e}"));
        let shown = format!("{verifier:?}");
        assert!(!shown.contains("t0p-s3cret"), "{shown}");
        assert!(shown.contains("auth: \"client_secret_basic\""), "{shown}");
        let post = IntrospectionVerifier::builder("https://idp.example/introspect")
            .client_secret_post("rs", "t0p-s3cret");
        assert!(!format!("{post:?}").contains("t0p-s3cret"));
        let shown = format!("{:?}", post.build().unwrap_or_else(|e| panic!("{e}")));
        assert!(!shown.contains("t0p-s3cret"), "{shown}");
        assert!(shown.contains("auth: \"client_secret_post\""), "{shown}");
    }

    #[test]
    fn plain_http_is_refused_unless_loopback_or_allowed() {
        assert!(
            IntrospectionVerifier::builder("http://idp.example/i")
                .build()
                .is_err()
        );
        assert!(
            IntrospectionVerifier::builder("http://127.0.0.1:1/i")
                .build()
                .is_ok()
        );
        assert!(
            IntrospectionVerifier::builder("http://idp.example/i")
                .allow_plain_http(true)
                .build()
                .is_ok()
        );
        assert!(
            IntrospectionVerifier::builder("https://idp.example/i")
                .timeout(std::time::Duration::ZERO)
                .build()
                .is_err()
        );
    }
}
