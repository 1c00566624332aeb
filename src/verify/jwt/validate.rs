//! Claim rules: what a correctly signed token must also satisfy, and the short reasons given
//! when it does not.
//!
//! jsonwebtoken checks `exp`, `nbf`, `iss` and `aud` with one `Validation` built here once.
//! Its gaps are closed here too:
//! * a configured issuer or audience makes the claim *required* (jsonwebtoken lets a token
//!   without the claim through unless it is also a required spec claim);
//! * with no audience configured, a token that carries `aud` is accepted (`validate_aud = false`;
//!   jsonwebtoken would reject it);
//! * `iss` must be a single string (jsonwebtoken also accepts an array holding the issuer);
//! * `nbf` is always checked when present.
//!
//! Then come the rules jsonwebtoken has no notion of: the header `typ` (RFC 9068), the
//! required scopes, and the user's own checks.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::Validation;
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use serde_json::Value;

use crate::principal::{Claims, Principal};
use crate::scope::ScopeRequirement;
use crate::verify::{Verdict, VerifierKind};

/// A check of the user's own on a token's claims: `Err(reason)` makes the token invalid (the
/// reason goes to logs, never to the client).
pub type ClaimsCheck = dyn Fn(&Claims) -> Result<(), Cow<'static, str>> + Send + Sync;

/// Which header `typ` values are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TypPolicy {
    /// No `typ`, `JWT` or `at+jwt` (any case, with or without `application/`).
    JwtOrAccessToken,
    /// Only `at+jwt` (RFC 9068 §4).
    AccessTokenOnly,
}

/// The settings the rules are made from (filled by the builder).
pub(crate) struct ClaimSettings {
    pub(crate) issuers: Vec<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: Duration,
    pub(crate) require_exp: bool,
    pub(crate) typ: TypPolicy,
    pub(crate) required_scopes: Option<ScopeRequirement>,
    pub(crate) checks: Vec<Arc<ClaimsCheck>>,
}

/// The claim rules, with the `Validation` every key's own copy starts from.
pub(crate) struct ClaimRules {
    issuers: HashSet<String>,
    audiences: HashSet<String>,
    typ: TypPolicy,
    required_scopes: Option<ScopeRequirement>,
    checks: Vec<Arc<ClaimsCheck>>,
    base: Validation,
    leeway: Duration,
}

impl ClaimRules {
    pub(crate) fn new(settings: ClaimSettings) -> Self {
        let mut base = Validation::default();
        let mut required = Vec::with_capacity(3);
        if settings.require_exp {
            required.push("exp");
        }
        base.validate_exp = true;
        base.validate_nbf = true;
        base.leeway = settings.leeway.as_secs();
        if !settings.issuers.is_empty() {
            base.set_issuer(&settings.issuers);
            required.push("iss");
        }
        if settings.audiences.is_empty() {
            base.validate_aud = false;
            base.aud = None;
        } else {
            base.validate_aud = true;
            base.set_audience(&settings.audiences);
            required.push("aud");
        }
        base.required_spec_claims = required.into_iter().map(str::to_owned).collect();
        ClaimRules {
            issuers: settings.issuers.into_iter().collect(),
            audiences: settings.audiences.into_iter().collect(),
            typ: settings.typ,
            required_scopes: settings.required_scopes,
            checks: settings.checks,
            base,
            leeway: settings.leeway,
        }
    }

    /// The `Validation` each key clones and adds its algorithms to.
    pub(crate) fn base_validation(&self) -> &Validation {
        &self.base
    }

    /// Whether issuers are configured (auto mode then also looks at the unverified `iss`).
    pub(crate) fn has_issuers(&self) -> bool {
        !self.issuers.is_empty()
    }

    /// Whether `iss` is one of the configured issuers.
    pub(crate) fn accepts_issuer(&self, iss: &str) -> bool {
        self.issuers.contains(iss)
    }

    /// Checks the header `typ`.
    pub(crate) fn check_typ(&self, typ: Option<&str>) -> Result<(), Cow<'static, str>> {
        let normalized = typ.map(|t| {
            let t = t.trim();
            match t.get(..12) {
                Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
                _ => t,
            }
        });
        let ok = match (self.typ, normalized) {
            (TypPolicy::JwtOrAccessToken, None) => true,
            (TypPolicy::JwtOrAccessToken, Some(t)) => {
                t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("at+jwt")
            }
            (TypPolicy::AccessTokenOnly, Some(t)) => t.eq_ignore_ascii_case("at+jwt"),
            (TypPolicy::AccessTokenOnly, None) => false,
        };
        if ok {
            Ok(())
        } else {
            Err("wrong typ header".into())
        }
    }

    /// The rules jsonwebtoken does not know, on claims whose signature, `exp`, `nbf`, `iss`
    /// and `aud` have been checked: `iss` is a string, user checks, required scopes.
    pub(crate) fn finish(&self, claims: Claims) -> Verdict {
        if !self.issuers.is_empty() && !matches!(claims.get("iss"), Some(Value::String(_))) {
            return Verdict::invalid("wrong issuer");
        }
        for check in &self.checks {
            if let Err(reason) = check(&claims) {
                return Verdict::invalid(reason);
            }
        }
        let principal = Principal::from_claims(VerifierKind::Jwt, claims);
        if let Some(required) = &self.required_scopes
            && !required.is_met_by(&principal)
        {
            return Verdict::invalid("missing required scope");
        }
        Verdict::Valid(principal)
    }
}

impl fmt::Debug for ClaimRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimRules")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field(
                "require_exp",
                &self.base.required_spec_claims.contains("exp"),
            )
            .field("typ", &self.typ)
            .field("required_scopes", &self.required_scopes)
            .field("checks", &self.checks.len())
            .finish()
    }
}

/// Whether a jsonwebtoken error means "this key's signature does not match" (and only that).
pub(crate) fn is_bad_signature(error: &JwtError) -> bool {
    matches!(error.kind(), ErrorKind::InvalidSignature)
}

/// A short reason for logs. Never contains any part of the token.
pub(crate) fn reason_for(error: &JwtError) -> Cow<'static, str> {
    match error.kind() {
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::ExpiredSignature => "token expired".into(),
        ErrorKind::ImmatureSignature => "token not yet valid (nbf)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::InvalidSubject => "wrong subject".into(),
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" => "missing exp claim".into(),
            "iss" => "missing iss claim".into(),
            "aud" => "missing aud claim".into(),
            _ => "missing required claim".into(),
        },
        ErrorKind::InvalidClaimFormat(_) => "malformed claim".into(),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => "algorithm not allowed for this key".into(),
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => "malformed JWT".into(),
        _ => "token rejected".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> ClaimSettings {
        ClaimSettings {
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: Duration::from_secs(30),
            require_exp: true,
            typ: TypPolicy::JwtOrAccessToken,
            required_scopes: None,
            checks: Vec::new(),
        }
    }

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => map,
            _ => Claims::new(),
        }
    }

    #[test]
    fn configured_issuer_and_audience_become_required_claims() {
        let mut s = settings();
        s.issuers = vec!["https://idp".into()];
        s.audiences = vec!["api".into()];
        let rules = ClaimRules::new(s);
        let required = &rules.base_validation().required_spec_claims;
        assert!(required.contains("exp") && required.contains("iss") && required.contains("aud"));
        assert!(rules.base_validation().validate_aud);
        assert!(rules.base_validation().validate_nbf);
        assert_eq!(rules.base_validation().leeway, 30);
    }

    #[test]
    fn no_audience_configured_means_aud_is_not_checked() {
        let mut s = settings();
        s.require_exp = false;
        let rules = ClaimRules::new(s);
        assert!(!rules.base_validation().validate_aud);
        assert!(rules.base_validation().required_spec_claims.is_empty());
    }

    #[test]
    fn typ_jwt_and_at_jwt_pass_by_default_other_types_fail() {
        let rules = ClaimRules::new(settings());
        for typ in [
            None,
            Some("JWT"),
            Some("jwt"),
            Some("at+jwt"),
            Some("application/at+jwt"),
        ] {
            assert!(rules.check_typ(typ).is_ok(), "{typ:?}");
        }
        for typ in [Some("dpop+jwt"), Some("logout+jwt"), Some("")] {
            assert!(rules.check_typ(typ).is_err(), "{typ:?}");
        }
        let mut s = settings();
        s.typ = TypPolicy::AccessTokenOnly;
        let strict = ClaimRules::new(s);
        assert!(strict.check_typ(Some("at+jwt")).is_ok());
        assert!(strict.check_typ(Some("application/AT+JWT")).is_ok());
        assert!(strict.check_typ(Some("JWT")).is_err());
        assert!(strict.check_typ(None).is_err());
    }

    #[test]
    fn missing_scope_and_failing_user_check_are_invalid() {
        let mut s = settings();
        s.required_scopes = Some(ScopeRequirement::all(["read"]));
        s.checks = vec![Arc::new(|c: &Claims| {
            if c.get("tenant").and_then(Value::as_str) == Some("acme") {
                Ok(())
            } else {
                Err("wrong tenant".into())
            }
        })];
        let rules = ClaimRules::new(s);
        let ok = rules.finish(claims(json!({"scopes": ["read"], "tenant": "acme"})));
        assert!(matches!(ok, Verdict::Valid(_)));
        match rules.finish(claims(json!({"scopes": ["write"], "tenant": "acme"}))) {
            Verdict::Invalid(reason) => assert_eq!(reason.as_str(), "missing required scope"),
            other => panic!("{other:?}"),
        }
        match rules.finish(claims(json!({"scope": "read", "tenant": "evil"}))) {
            Verdict::Invalid(reason) => assert_eq!(reason.as_str(), "wrong tenant"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn issuer_as_array_is_rejected_when_issuers_are_configured() {
        let mut s = settings();
        s.issuers = vec!["https://idp".into()];
        let rules = ClaimRules::new(s);
        assert!(matches!(
            rules.finish(claims(json!({"iss": ["https://idp"]}))),
            Verdict::Invalid(_)
        ));
        assert!(matches!(
            rules.finish(claims(json!({"iss": "https://idp"}))),
            Verdict::Valid(_)
        ));
    }
}
