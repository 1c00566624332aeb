//! [`Principal`]: who a valid token belongs to, and what it may do.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The claims of a token as a JSON object.
pub type Claims = Map<String, Value>;

/// The holder of a valid bearer token, as the guard hands it to handlers.
///
/// The guard puts a `Principal` into the request's extensions; handlers take it with the axum
/// extractor (`principal: Principal`). Cloning is cheap (one reference count).
///
/// Scopes come from the first of these claims that is present: `scope` (a space-separated
/// string, RFC 8693 / RFC 9068), `scopes` (an array, as league/oauth2-server issues for
/// SuiteCRM and 1CRM), `scp` (an array or a space-separated string). A token with none of them
/// has no scopes.
#[derive(Clone)]
pub struct Principal(Arc<PrincipalInner>);

struct PrincipalInner {
    subject: Option<String>,
    scopes: Vec<String>,
    owner: Option<ResourceOwner>,
    expires_at: Option<SystemTime>,
    source: VerifierKind,
    claims: Claims,
}

impl Principal {
    /// Starts a principal accepted by a verifier of kind `source`.
    pub fn builder(source: VerifierKind) -> PrincipalBuilder {
        PrincipalBuilder {
            inner: PrincipalInner {
                subject: None,
                scopes: Vec::new(),
                owner: None,
                expires_at: None,
                source,
                claims: Claims::new(),
            },
        }
    }

    /// Builds a principal from a token's claims: `sub` gives the subject and the resource
    /// owner, `scope`/`scopes`/`scp` the scopes, `exp` the expiry. Claims of the wrong JSON
    /// type are ignored (no subject, no scopes, no expiry), never guessed.
    pub fn from_claims(source: VerifierKind, claims: Claims) -> Self {
        let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        let scopes = scopes_from_claims(&claims);
        let expires_at = claims.get("exp").and_then(unix_time_from_json);
        let owner = subject.as_deref().and_then(ResourceOwner::parse);
        Principal(Arc::new(PrincipalInner {
            subject,
            scopes,
            owner,
            expires_at,
            source,
            claims,
        }))
    }

    /// The `sub` claim, when the token carried one.
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// The token's scopes, in the order the token lists them.
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.iter().any(|s| s == scope)
    }

    /// The resource owner parsed from a league/oauth2-server `sub` (`Users:1`, `Contacts:7`).
    pub fn owner(&self) -> Option<&ResourceOwner> {
        self.0.owner.as_ref()
    }

    /// When the token stops being valid, when known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.0.expires_at
    }

    /// Which verifier accepted the token.
    pub fn source(&self) -> VerifierKind {
        self.0.source
    }

    /// All claims the verifier knew (empty for an opaque token checked remotely).
    pub fn claims(&self) -> &Claims {
        &self.0.claims
    }

    /// The claims deserialized into a type of the caller's choosing.
    ///
    /// # Errors
    /// When the claims do not fit `T`.
    pub fn deserialize_claims<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(Value::Object(self.0.claims.clone()))
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.debug("Principal", f)
    }
}

impl PrincipalInner {
    fn debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Claims may hold personal data; show their names only.
        f.debug_struct(name)
            .field("subject", &self.subject)
            .field("scopes", &self.scopes)
            .field("owner", &self.owner)
            .field("expires_at", &self.expires_at)
            .field("source", &self.source)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Builds a [`Principal`] field by field (for verifiers that do not start from JWT claims).
#[must_use]
pub struct PrincipalBuilder {
    inner: PrincipalInner,
}

impl fmt::Debug for PrincipalBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.debug("PrincipalBuilder", f)
    }
}

impl PrincipalBuilder {
    /// Sets the subject; also sets the resource owner when the subject has league's
    /// `Users:<id>` / `Contacts:<id>` form.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        let subject = subject.into();
        self.inner.owner = ResourceOwner::parse(&subject);
        self.inner.subject = Some(subject);
        self
    }

    /// Sets the scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.inner.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the expiry.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.inner.expires_at = Some(at);
        self
    }

    /// Sets the raw claims (subject, scopes and expiry are not derived from them here; use
    /// [`Principal::from_claims`] for that).
    pub fn claims(mut self, claims: Claims) -> Self {
        self.inner.claims = claims;
        self
    }

    /// Finishes the principal.
    pub fn build(self) -> Principal {
        Principal(Arc::new(self.inner))
    }
}

/// The resource owner a league/oauth2-server token was issued for (1CRM, SuiteCRM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceOwner {
    kind: OwnerKind,
    id: String,
}

/// The type of a [`ResourceOwner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OwnerKind {
    /// A CRM user (`sub: "Users:<id>"`).
    User,
    /// A CRM contact (`sub: "Contacts:<id>"`); 1CRM gives contacts only the `profile` scope.
    Contact,
}

impl OwnerKind {
    /// `user` or `contact`.
    pub fn as_str(&self) -> &'static str {
        match self {
            OwnerKind::User => "user",
            OwnerKind::Contact => "contact",
        }
    }
}

impl ResourceOwner {
    /// Parses league's `Users:<id>` and `Contacts:<id>`; anything else is `None`.
    pub fn parse(subject: &str) -> Option<Self> {
        let (prefix, id) = subject.split_once(':')?;
        let kind = match prefix {
            "Users" => OwnerKind::User,
            "Contacts" => OwnerKind::Contact,
            _ => return None,
        };
        if id.is_empty() {
            return None;
        }
        Some(ResourceOwner {
            kind,
            id: id.to_owned(),
        })
    }

    /// The owner's type.
    pub fn kind(&self) -> OwnerKind {
        self.kind
    }

    /// The owner's id within its type (`"1"` for `Users:1`).
    pub fn id(&self) -> &str {
        &self.id
    }
}

fn scopes_from_claims(claims: &Claims) -> Vec<String> {
    let value = ["scope", "scopes", "scp"]
        .iter()
        .find_map(|name| claims.get(*name));
    match value {
        Some(Value::String(list)) => list.split_ascii_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Reads a JSON NumericDate (seconds since the epoch, integer or fraction) as a `SystemTime`.
pub(crate) fn unix_time_from_json(value: &Value) -> Option<SystemTime> {
    let seconds = value.as_f64()?;
    if !(0.0..=253_402_300_799.0).contains(&seconds) {
        return None; // beyond year 9999: not a real expiry
    }
    UNIX_EPOCH.checked_add(Duration::from_secs_f64(seconds))
}

/// Which kind of verifier accepted a token; shown as [`Principal::source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerifierKind {
    /// A remote endpoint said yes (crm-now `verifytoken`).
    Remote,
    /// A local JWT signature check said yes.
    Jwt,
    /// An RFC 7662 introspection endpoint said the token is active.
    Introspection,
    /// A Bitrix24 portal accepted the token (`app.info`).
    Bitrix24,
    /// A verifier of the user's own, under a name of its choosing.
    Custom(&'static str),
}

impl VerifierKind {
    /// The name used in logs and in the demo's `/whoami`: `remote`, `jwt`, `introspection`,
    /// `bitrix24`, or the custom name.
    pub fn as_str(&self) -> &'static str {
        match self {
            VerifierKind::Remote => "remote",
            VerifierKind::Jwt => "jwt",
            VerifierKind::Introspection => "introspection",
            VerifierKind::Bitrix24 => "bitrix24",
            VerifierKind::Custom(name) => name,
        }
    }
}

impl fmt::Display for VerifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Claims {
        match value {
            Value::Object(map) => map,
            _ => Claims::new(),
        }
    }

    #[test]
    fn league_subject_gives_owner_type_and_id() {
        let user = ResourceOwner::parse("Users:1");
        assert_eq!(user.as_ref().map(|o| o.kind()), Some(OwnerKind::User));
        assert_eq!(user.as_ref().map(|o| o.id()), Some("1"));
        let contact = ResourceOwner::parse("Contacts:7");
        assert_eq!(contact.as_ref().map(|o| o.kind()), Some(OwnerKind::Contact));
        assert_eq!(contact.as_ref().map(|o| o.id()), Some("7"));
        assert_eq!(ResourceOwner::parse("1"), None);
        assert_eq!(ResourceOwner::parse("Users:"), None);
        assert_eq!(ResourceOwner::parse("Accounts:3"), None);
    }

    #[test]
    fn scopes_come_from_scope_scopes_or_scp() {
        let p = Principal::from_claims(VerifierKind::Jwt, claims(json!({"scope": "read  write"})));
        assert_eq!(p.scopes(), ["read", "write"]);
        let p = Principal::from_claims(
            VerifierKind::Jwt,
            claims(json!({"scopes": ["read", "write", "profile"]})),
        );
        assert_eq!(p.scopes(), ["read", "write", "profile"]);
        let p = Principal::from_claims(VerifierKind::Jwt, claims(json!({"scp": ["a", "b"]})));
        assert_eq!(p.scopes(), ["a", "b"]);
        let p = Principal::from_claims(VerifierKind::Jwt, claims(json!({"scp": "a b"})));
        assert_eq!(p.scopes(), ["a", "b"]);
        let p = Principal::from_claims(VerifierKind::Jwt, claims(json!({"scope": 5})));
        assert!(p.scopes().is_empty());
        let p = Principal::from_claims(VerifierKind::Jwt, claims(json!({})));
        assert!(p.scopes().is_empty());
    }

    #[test]
    fn from_claims_reads_subject_owner_and_expiry() {
        let p = Principal::from_claims(
            VerifierKind::Jwt,
            claims(json!({"sub": "Contacts:7", "exp": 1_700_000_000})),
        );
        assert_eq!(p.subject(), Some("Contacts:7"));
        assert_eq!(p.owner().map(|o| o.kind()), Some(OwnerKind::Contact));
        assert_eq!(
            p.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        let p = Principal::from_claims(VerifierKind::Jwt, claims(json!({"exp": "soon"})));
        assert_eq!(p.expires_at(), None);
        let p = Principal::from_claims(VerifierKind::Jwt, claims(json!({"exp": -1})));
        assert_eq!(p.expires_at(), None);
    }

    #[test]
    fn claims_deserialize_into_a_user_type() {
        #[derive(serde::Deserialize)]
        struct Mine {
            tenant: String,
        }
        let p = Principal::from_claims(VerifierKind::Jwt, claims(json!({"tenant": "acme"})));
        let mine: Mine = p.deserialize_claims().unwrap_or(Mine {
            tenant: String::new(),
        });
        assert_eq!(mine.tenant, "acme");
    }
}
