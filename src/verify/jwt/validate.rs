//! Claim rules: what a correctly signed token must also satisfy, and the short reasons given
//! when it does not.
//!
//! The registered claims are checked here, on the one claims map the verifier parsed (see
//! `verifier.rs` for why not with jsonwebtoken's `decode`), with jsonwebtoken's semantics
//! and these differences:
//! * a configured issuer or audience makes the claim *required* (jsonwebtoken lets a token
//!   without the claim through unless it is also a required spec claim);
//! * with no audience configured, `aud` is not checked (jsonwebtoken would reject a token
//!   that carries one);
//! * `iss` must be a single string (jsonwebtoken also accepts an array holding the issuer);
//! * `nbf` is always checked when present.
//!
//! `exp` and `nbf` are NumericDates (RFC 7519 §2): a non-negative integer, or a non-negative
//! finite number, rounded. `null` counts as absent; anything else is malformed.
//!
//! Then come the rules jsonwebtoken has no notion of: the header `typ` (RFC 9068), the
//! required scopes, and the user's own checks.
//!
//! In `auto` mode the same rules also gate a remote verifier's yes for a token that is a JWT
//! ([`ClaimRules::admit_remote`]), so no verifier can let in a JWT the rules refuse.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::header::{Payload, UncheckedJwt};
use crate::principal::VerifierKind;
use crate::principal::{Claims, Principal};
use crate::scope::ScopeRequirement;
use crate::verify::Verdict;

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

/// The claim rules.
pub(crate) struct ClaimRules {
    issuers: HashSet<String>,
    audiences: HashSet<String>,
    require_exp: bool,
    typ: TypPolicy,
    required_scopes: Option<ScopeRequirement>,
    checks: Vec<Arc<ClaimsCheck>>,
    leeway: Duration,
}

/// A registered claim as read: absent (or `null`), of the expected type, or malformed.
enum Read<T> {
    Absent,
    Parsed(T),
    Malformed,
}

impl<T> Read<T> {
    fn is_parsed(&self) -> bool {
        matches!(self, Read::Parsed(_))
    }
}

/// `exp` / `nbf`: NumericDate as whole seconds.
fn numeric_date(claims: &Claims, name: &str) -> Read<u64> {
    match claims.get(name) {
        None | Some(Value::Null) => Read::Absent,
        Some(Value::Number(number)) => match (number.as_u64(), number.as_f64()) {
            (Some(seconds), _) => Read::Parsed(seconds),
            // As jsonwebtoken: a finite, non-negative number below 2^64, rounded.
            (None, Some(seconds)) if (0.0..u64::MAX as f64).contains(&seconds) => {
                Read::Parsed(seconds.round() as u64)
            }
            _ => Read::Malformed,
        },
        Some(_) => Read::Malformed,
    }
}

/// `iss` / `aud`: one string, or an array of strings.
fn string_or_strings<'a>(claims: &'a Claims, name: &str) -> Read<&'a Value> {
    match claims.get(name) {
        None | Some(Value::Null) => Read::Absent,
        Some(value @ Value::String(_)) => Read::Parsed(value),
        Some(value @ Value::Array(items)) if items.iter().all(Value::is_string) => {
            Read::Parsed(value)
        }
        Some(_) => Read::Malformed,
    }
}

impl ClaimRules {
    pub(crate) fn new(settings: ClaimSettings) -> Self {
        ClaimRules {
            issuers: settings.issuers.into_iter().collect(),
            audiences: settings.audiences.into_iter().collect(),
            require_exp: settings.require_exp,
            typ: settings.typ,
            required_scopes: settings.required_scopes,
            checks: settings.checks,
            leeway: settings.leeway,
        }
    }

    /// The registered claims (`exp`, `nbf`, `iss`, `aud`) at `now` (seconds since the epoch).
    pub(crate) fn check_registered(
        &self,
        claims: &Claims,
        now: u64,
    ) -> Result<(), Cow<'static, str>> {
        let exp = numeric_date(claims, "exp");
        let nbf = numeric_date(claims, "nbf");
        let iss = string_or_strings(claims, "iss");
        let aud = string_or_strings(claims, "aud");
        if self.require_exp && !exp.is_parsed() {
            return Err("missing exp claim".into());
        }
        if !self.issuers.is_empty() && !iss.is_parsed() {
            return Err("missing iss claim".into());
        }
        if !self.audiences.is_empty() && !aud.is_parsed() {
            return Err("missing aud claim".into());
        }
        if matches!(exp, Read::Malformed) || matches!(nbf, Read::Malformed) {
            return Err("malformed claim".into());
        }
        let leeway = self.leeway.as_secs();
        if matches!(exp, Read::Parsed(exp) if exp < now.saturating_sub(leeway)) {
            return Err("token expired".into());
        }
        if matches!(nbf, Read::Parsed(nbf) if nbf > now.saturating_add(leeway)) {
            return Err("token not yet valid (nbf)".into());
        }
        // One string, and one of ours (an array is refused even if it holds ours).
        if !self.issuers.is_empty()
            && !matches!(claims.get("iss"), Some(Value::String(iss)) if self.issuers.contains(iss.as_str()))
        {
            return Err("wrong issuer".into());
        }
        let ours = |value: &Value| value.as_str().is_some_and(|a| self.audiences.contains(a));
        let audience_matches = match aud {
            Read::Parsed(Value::Array(items)) => items.iter().any(ours),
            Read::Parsed(one) => ours(one),
            Read::Absent | Read::Malformed => false,
        };
        if !self.audiences.is_empty() && !audience_matches {
            return Err("wrong audience".into());
        }
        Ok(())
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

    /// Everything but the signature and the header, on a payload whose signature has been
    /// checked: the registered claims at `now`, the user's checks, the required scopes.
    pub(crate) fn finish(&self, payload: Payload, now: u64) -> Verdict {
        let Payload { claims, text } = payload;
        if let Err(reason) = self.check_registered(&claims, now) {
            return Verdict::invalid(reason);
        }
        for check in &self.checks {
            if let Err(reason) = check(&claims) {
                return Verdict::invalid(reason);
            }
        }
        let principal = Principal::from_parsed_claims(VerifierKind::Jwt, claims, text);
        if let Some(required) = &self.required_scopes
            && !required.is_met_by(&principal)
        {
            return Verdict::invalid("missing required scope");
        }
        Verdict::Valid(principal)
    }
}

impl ClaimRules {
    /// `auto` mode, before a JWT goes to the remote verifier: the header `typ` and the
    /// registered claims, on the **unverified** payload. A token failing them is refused at once
    /// (the remote's yes could not let it in anyway) and never sent remote.
    pub(crate) fn precheck_unverified(
        &self,
        jwt: &UncheckedJwt,
        now: u64,
    ) -> Result<(), Cow<'static, str>> {
        self.check_typ(jwt.typ.as_deref())?;
        self.check_registered(&jwt.claims, now)
    }

    /// `auto` mode, after the remote verifier said yes to a JWT: the same rules as a local
    /// check — registered claims at `now`, the user's checks, the required scopes (on the
    /// remote's principal, which is what the application sees) — or `Invalid`.
    pub(crate) fn admit_remote(
        &self,
        jwt: &UncheckedJwt,
        principal: Principal,
        now: u64,
    ) -> Verdict {
        if let Err(reason) = self.precheck_unverified(jwt, now) {
            return Verdict::invalid(reason);
        }
        for check in &self.checks {
            if let Err(reason) = check(&jwt.claims) {
                return Verdict::invalid(reason);
            }
        }
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
            .field("require_exp", &self.require_exp)
            .field("typ", &self.typ)
            .field("required_scopes", &self.required_scopes)
            .field("checks", &self.checks.len())
            .finish()
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

    /// A payload of `value`'s claims, without text (the principal serializes the map).
    fn payload(value: Value) -> Payload {
        Payload {
            claims: claims(value),
            text: None,
        }
    }

    const NOW: u64 = 1_800_000_000;

    fn reason(rules: &ClaimRules, value: Value) -> Option<String> {
        rules
            .check_registered(&claims(value), NOW)
            .err()
            .map(Cow::into_owned)
    }

    #[test]
    fn configured_issuer_and_audience_become_required_claims() {
        let mut s = settings();
        s.issuers = vec!["https://idp".into()];
        s.audiences = vec!["api".into()];
        let rules = ClaimRules::new(s);
        let ok = json!({"exp": NOW + 60, "iss": "https://idp", "aud": "api"});
        assert_eq!(reason(&rules, ok), None);
        let without = |name: &str| {
            let mut c = json!({"exp": NOW + 60, "iss": "https://idp", "aud": "api"});
            c.as_object_mut().map(|m| m.remove(name));
            reason(&rules, c)
        };
        assert_eq!(without("exp").as_deref(), Some("missing exp claim"));
        assert_eq!(without("iss").as_deref(), Some("missing iss claim"));
        assert_eq!(without("aud").as_deref(), Some("missing aud claim"));
        // Present with the wrong type counts as missing; null as absent.
        let odd = json!({"exp": NOW + 60, "iss": 7, "aud": "api"});
        assert_eq!(reason(&rules, odd).as_deref(), Some("missing iss claim"));
        let null = json!({"exp": null, "iss": "https://idp", "aud": "api"});
        assert_eq!(reason(&rules, null).as_deref(), Some("missing exp claim"));
        let wrong = json!({"exp": NOW + 60, "iss": "https://idp", "aud": ["x", "y"]});
        assert_eq!(reason(&rules, wrong).as_deref(), Some("wrong audience"));
        let listed = json!({"exp": NOW + 60, "iss": "https://idp", "aud": ["x", "api"]});
        assert_eq!(reason(&rules, listed), None);
        let other = json!({"exp": NOW + 60, "iss": "https://evil", "aud": "api"});
        assert_eq!(reason(&rules, other).as_deref(), Some("wrong issuer"));
    }

    #[test]
    fn exp_and_nbf_are_numeric_dates_checked_with_the_leeway() {
        let rules = ClaimRules::new(settings()); // leeway 30 s, exp required
        assert_eq!(reason(&rules, json!({"exp": NOW})), None);
        assert_eq!(reason(&rules, json!({"exp": NOW - 30})), None);
        assert_eq!(
            reason(&rules, json!({"exp": NOW - 31})).as_deref(),
            Some("token expired")
        );
        assert_eq!(
            reason(&rules, json!({"exp": (NOW + 60) as f64 + 0.4})),
            None
        );
        assert_eq!(
            reason(&rules, json!({"exp": -5})).as_deref(),
            Some("missing exp claim")
        );
        assert_eq!(
            reason(&rules, json!({"exp": "soon"})).as_deref(),
            Some("missing exp claim")
        );
        let fine = json!({"exp": NOW + 60, "nbf": NOW + 30});
        assert_eq!(reason(&rules, fine), None);
        let early = json!({"exp": NOW + 60, "nbf": NOW + 31});
        assert_eq!(
            reason(&rules, early).as_deref(),
            Some("token not yet valid (nbf)")
        );
        let odd = json!({"exp": NOW + 60, "nbf": "now"});
        assert_eq!(reason(&rules, odd).as_deref(), Some("malformed claim"));
        let mut s = settings();
        s.require_exp = false;
        let lax = ClaimRules::new(s);
        assert_eq!(reason(&lax, json!({})), None);
        assert_eq!(
            reason(&lax, json!({"exp": "x"})).as_deref(),
            Some("malformed claim")
        );
    }

    #[test]
    fn no_audience_configured_means_aud_is_not_checked() {
        let mut s = settings();
        s.require_exp = false;
        let rules = ClaimRules::new(s);
        assert_eq!(reason(&rules, json!({"aud": "anyone"})), None);
        assert_eq!(reason(&rules, json!({"aud": 12})), None);
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
        s.require_exp = false;
        s.required_scopes = ScopeRequirement::all(["read"]).ok();
        s.checks = vec![Arc::new(|c: &Claims| {
            if c.get("tenant").and_then(Value::as_str) == Some("acme") {
                Ok(())
            } else {
                Err("wrong tenant".into())
            }
        })];
        let rules = ClaimRules::new(s);
        let ok = rules.finish(payload(json!({"scopes": ["read"], "tenant": "acme"})), NOW);
        assert!(matches!(ok, Verdict::Valid(_)));
        match rules.finish(payload(json!({"scopes": ["write"], "tenant": "acme"})), NOW) {
            Verdict::Invalid(reason) => assert_eq!(reason.as_str(), "missing required scope"),
            other => panic!("{other:?}"),
        }
        match rules.finish(payload(json!({"scope": "read", "tenant": "evil"})), NOW) {
            Verdict::Invalid(reason) => assert_eq!(reason.as_str(), "wrong tenant"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn issuer_as_array_is_rejected_when_issuers_are_configured() {
        let mut s = settings();
        s.require_exp = false;
        s.issuers = vec!["https://idp".into()];
        let rules = ClaimRules::new(s);
        assert!(matches!(
            rules.finish(payload(json!({"iss": ["https://idp"]})), NOW),
            Verdict::Invalid(_)
        ));
        assert!(matches!(
            rules.finish(payload(json!({"iss": "https://idp"})), NOW),
            Verdict::Valid(_)
        ));
    }
}
