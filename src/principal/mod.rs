//! [`Principal`]: who a valid token belongs to, and what it may do.
//!
//! A principal keeps the token's claims as one JSON object text, next to the few
//! fields read on every request, extracted once when it is built: the subject, the scopes
//! (one space-separated string) and the expiry. Everything else (the resource owner, a single
//! claim, all claims, your own claims type) is read from those on demand. A cached verdict thus
//! costs little more than the claims' JSON itself (see DESIGN.md, "A principal is its claims'
//! JSON text").
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | `Principal`: the claims' JSON text plus subject, scopes, expiry and source extracted once; the accessors (claims parsed on demand) |
//! | `builder.rs` | `PrincipalBuilder`: a principal field by field (verifiers without JWT claims, the shared entry) |
//! | `scopes.rs` | scopes kept as one space-separated string, the `Scopes` iterator; an empty scope or one with a space is ignored |
//! | `owner.rs` | `ResourceOwner` (type and id borrowed from a league `Users:1` / `Contacts:7` subject), `OwnerKind` |
//! | `expiry.rs` | the expiry in 8 bytes (nanoseconds since the epoch); JSON NumericDate → `SystemTime` |
//! | `claims_text.rs` | a claims JSON object text read without a map: named members' raw values, member names, the object check |
//! | `source.rs` | `VerifierKind`: which verifier accepted the token (`Auto`: the auto verifier's own kind, in metrics) |
//! | `tests.rs` | the principal's unit tests (every accessor, the scope rule, `Debug` without claim values) |

mod builder;
mod claims_text;
mod expiry;
mod owner;
mod scopes;
mod source;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Deserialize;
use serde_json::{Map, Value};

pub use builder::PrincipalBuilder;
pub(crate) use expiry::unix_time_from_json;
pub use owner::{OwnerKind, ResourceOwner};
pub use scopes::Scopes;
pub use source::VerifierKind;

use expiry::Expiry;

/// The claims of a token as a JSON object.
pub type Claims = Map<String, Value>;

/// The claims [`Principal::from_claims`] and [`Principal::from_claims_json`] derive fields
/// from, in the order [`derived_fields`] takes them.
const DERIVED_FROM: [&str; 5] = ["sub", "scope", "scopes", "scp", "exp"];

/// The holder of a valid bearer token, as the guard hands it to handlers.
///
/// The guard puts a `Principal` into the request's extensions; handlers take it with the axum
/// extractor (`principal: Principal`). Cloning is cheap (one reference count).
///
/// Scopes come from the first of these claims that is present: `scope` (a space-separated
/// string, RFC 8693 / RFC 9068), `scopes` (an array, as league/oauth2-server issues for
/// SuiteCRM and 1CRM), `scp` (an array or a space-separated string). A token with none of them
/// has no scopes. An array item that is empty or contains a space is **ignored**: an RFC 6749
/// §3.3 `scope-token` cannot contain a space, and such an item is never split into two grants.
/// Items that are not strings are ignored too.
///
/// The claims are kept as their JSON text ([`claims_json`](Self::claims_json)); the other
/// claim accessors parse that text when called. Where the text names a claim twice (only
/// [`from_claims_json`](Self::from_claims_json) keeps such a text), the subject, scopes,
/// expiry, [`claim`](Self::claim) and [`claims`](Self::claims) take the last value, as parsing
/// it into a map does (a `#[derive(Deserialize)]` type refuses it).
#[derive(Clone)]
pub struct Principal(Arc<PrincipalInner>);

struct PrincipalInner {
    /// The claims: one JSON object text.
    claims_json: Box<str>,
    subject: Option<Box<str>>,
    /// The scopes joined with single spaces; none is empty or contains a space.
    scopes: Box<str>,
    expires_at: Expiry,
    source: VerifierKind,
}

impl Principal {
    /// Starts a principal accepted by a verifier of kind `source`.
    pub fn builder(source: VerifierKind) -> PrincipalBuilder {
        PrincipalBuilder::new(source)
    }

    /// Builds a principal from a token's claims: `sub` gives the subject (and with it the
    /// resource owner), `scope`/`scopes`/`scp` the scopes, `exp` the expiry. Claims of the
    /// wrong JSON type are ignored (no subject, no scopes, no expiry), never guessed. The
    /// claims are kept as their compact JSON text.
    pub fn from_claims(source: VerifierKind, claims: Claims) -> Self {
        Principal::from_parsed_claims(source, claims, None)
    }

    /// As [`from_claims`](Self::from_claims), keeping `claims_json` as the claims' text when
    /// given: it must be the JSON object text `claims` was parsed from, naming each claim once
    /// (so that the text and the map say the same). `None`: the map's compact serialization.
    pub(crate) fn from_parsed_claims(
        source: VerifierKind,
        claims: Claims,
        claims_json: Option<String>,
    ) -> Self {
        let fields = derived_fields(DERIVED_FROM.map(|name| claims.get(name)));
        let claims_json = match claims_json {
            Some(text) => text.into_boxed_str(),
            None => claims_text::to_json(&claims),
        };
        Principal::with_fields(source, claims_json, fields)
    }

    /// As [`from_claims`](Self::from_claims), from the claims as a JSON object text, which is
    /// kept as given (no map is built: the text is read once for `sub`, the scopes and
    /// `exp`). For a verifier that receives its claims as JSON.
    ///
    /// # Errors
    /// When `claims_json` is not one JSON object (with nothing but whitespace around it).
    pub fn from_claims_json(
        source: VerifierKind,
        claims_json: String,
    ) -> Result<Self, serde_json::Error> {
        let found = claims_text::members(&claims_json, DERIVED_FROM)?;
        let values = found.map(|raw| raw.and_then(|raw| serde_json::from_str(raw.get()).ok()));
        let fields = derived_fields(values.each_ref().map(Option::as_ref));
        Ok(Principal::with_fields(
            source,
            claims_json.into_boxed_str(),
            fields,
        ))
    }

    fn with_fields(source: VerifierKind, claims_json: Box<str>, fields: DerivedFields) -> Self {
        Principal(Arc::new(PrincipalInner {
            claims_json,
            subject: fields.subject,
            scopes: fields.scopes,
            expires_at: fields.expires_at,
            source,
        }))
    }

    /// The subject (`sub`, or what the verifier set), when the token has one.
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// The token's scopes, in the order the token lists them (see the type's docs for which
    /// items are ignored).
    pub fn scopes(&self) -> Scopes<'_> {
        Scopes::new(&self.0.scopes)
    }

    /// The token's scopes as one string, separated by single spaces (`""` when it has none),
    /// as the `scope` claim and an RFC 6749 token response carry them.
    pub fn scope(&self) -> &str {
        &self.0.scopes
    }

    /// Whether the token carries `scope` (one whole scope; nothing is allocated).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// The resource owner in a league/oauth2-server subject (`Users:1`, `Contacts:7`), read
    /// from the subject on each call; its id borrows from the subject.
    pub fn owner(&self) -> Option<ResourceOwner<'_>> {
        self.subject().and_then(ResourceOwner::parse)
    }

    /// When the token stops being valid, when known. Kept to the nanosecond from 1677 to
    /// 2262; a later expiry reads as the end of 2262 (earlier, never later than given).
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.0.expires_at.get()
    }

    /// Which verifier accepted the token.
    pub fn source(&self) -> VerifierKind {
        self.0.source
    }

    /// All claims the verifier knew, as one JSON object text (`{}` for an opaque token checked
    /// remotely). From [`JwtVerifier`](crate::JwtVerifier): the token's payload as signed
    /// (unless it names a claim twice: then as below). From a [`Claims`] map (the other
    /// verifiers of this crate, [`from_claims`](Self::from_claims),
    /// [`PrincipalBuilder::claims`]): the map's compact serialization, each name once. From
    /// [`from_claims_json`](Self::from_claims_json): the text given.
    pub fn claims_json(&self) -> &str {
        &self.0.claims_json
    }

    /// All claims the verifier knew, as a map (empty for an opaque token checked remotely).
    ///
    /// The map is **parsed from [`claims_json`](Self::claims_json) on each call**: to read one
    /// claim, [`claim`](Self::claim) is cheaper; to read several, parse once with
    /// [`deserialize_claims`](Self::deserialize_claims) into a type of yours.
    pub fn claims(&self) -> Claims {
        // The text is a JSON object by construction; an empty map is the fail-safe answer.
        serde_json::from_str(&self.0.claims_json).unwrap_or_default()
    }

    /// One claim's value, parsed from the claims' JSON text on each call (only that member's
    /// value is parsed; the others are skipped). `None` when the token has no such claim.
    pub fn claim(&self, name: &str) -> Option<Value> {
        let [raw] = claims_text::members(&self.0.claims_json, [name]).ok()?;
        serde_json::from_str(raw?.get()).ok()
    }

    /// The claims deserialized into a type of the caller's choosing, straight from their JSON
    /// text (no map is built). The type may borrow from the principal (`&'a str` fields) when
    /// the claim has no JSON escapes.
    ///
    /// # Errors
    /// When the claims do not fit `T`.
    pub fn deserialize_claims<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0.claims_json)
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
            .field("scopes", &Scopes::new(&self.scopes))
            .field(
                "owner",
                &self.subject.as_deref().and_then(ResourceOwner::parse),
            )
            .field("expires_at", &self.expires_at.get())
            .field("source", &self.source)
            .field("claims", &claims_text::names(&self.claims_json))
            .finish()
    }
}

/// The fields derived from a token's claims.
struct DerivedFields {
    subject: Option<Box<str>>,
    scopes: Box<str>,
    expires_at: Expiry,
}

/// Derives subject, scopes and expiry from the values of [`DERIVED_FROM`] (`None`: absent).
/// Scopes come from the first of `scope`, `scopes`, `scp` that is present, whatever its type.
fn derived_fields([sub, scope, scopes, scp, exp]: [Option<&Value>; 5]) -> DerivedFields {
    DerivedFields {
        subject: sub.and_then(Value::as_str).map(Box::from),
        scopes: scopes::from_claim(scope.or(scopes).or(scp)),
        expires_at: exp
            .and_then(unix_time_from_json)
            .map_or(Expiry::NONE, Expiry::at),
    }
}

#[cfg(test)]
mod tests;
