//! [`ScopeRequirement`]: the scopes a route requires, checked when built. A leaf below the
//! errors: [`AuthError::InsufficientScope`](crate::AuthError::InsufficientScope) carries one,
//! so this file names only [`ConfigError`]'s own module, never `crate::error` itself.

use std::fmt;
use std::sync::Arc;

use crate::error::config::ConfigError;
use crate::principal::Principal;

/// A set of scopes a route requires: any one of them, or all of them.
#[derive(Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    mode: Mode,
    scopes: Arc<[String]>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Any,
    All,
}

impl ScopeRequirement {
    /// Satisfied when the token has at least one of `scopes`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] (setting `scopes`) when `scopes` is empty — a requirement of
    /// nothing would be met by every token — or a scope is not an RFC 6749 §3.3 `scope-token`
    /// (printable ASCII without space, `"` or `\`: it must fit the `scope="…"` challenge).
    pub fn any<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Mode::Any, scopes)
    }

    /// Satisfied when the token has every one of `scopes`.
    ///
    /// # Errors
    /// As [`ScopeRequirement::any`].
    pub fn all<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(Mode::All, scopes)
    }

    fn new<I, S>(mode: Mode, scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let scopes: Arc<[String]> = scopes.into_iter().map(Into::into).collect();
        if scopes.is_empty() {
            return Err(ConfigError::invalid(
                "scopes",
                "name at least one scope: an empty requirement would admit every token",
            ));
        }
        if !scopes.iter().all(|scope| is_scope_token(scope)) {
            return Err(ConfigError::invalid(
                "scopes",
                "a scope must be non-empty printable ASCII without space, `\"` or `\\`",
            ));
        }
        Ok(ScopeRequirement { mode, scopes })
    }

    /// Whether `principal` satisfies the requirement.
    pub fn is_met_by(&self, principal: &Principal) -> bool {
        match self.mode {
            Mode::Any => self.scopes.iter().any(|s| principal.has_scope(s)),
            Mode::All => self.scopes.iter().all(|s| principal.has_scope(s)),
        }
    }

    /// The scopes, space-separated, as they go into `WWW-Authenticate: … scope="…"`.
    pub fn scope_list(&self) -> String {
        self.scopes.join(" ")
    }
}

/// Whether `scope` is an RFC 6749 §3.3 `scope-token`: `1*( %x21 / %x23-5B / %x5D-7E )`
/// (printable ASCII without space, `"` and `\`). Route requirements must be scope-tokens; the
/// sidecar forwards only those in `X-Auth-Scopes`.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl fmt::Debug for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}{:?}", self.mode, self.scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::VerifierKind;
    use crate::scope::RequireScopeLayer;

    fn with(scopes: &[&str]) -> Principal {
        Principal::builder(VerifierKind::Jwt)
            .scopes(scopes.iter().copied())
            .build()
    }

    fn requirement(made: Result<ScopeRequirement, ConfigError>) -> ScopeRequirement {
        made.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn any_needs_one_all_needs_every_one() {
        let any = requirement(ScopeRequirement::any(["read", "write"]));
        let all = requirement(ScopeRequirement::all(["read", "write"]));
        assert!(any.is_met_by(&with(&["write"])));
        assert!(!any.is_met_by(&with(&["profile"])));
        assert!(all.is_met_by(&with(&["write", "read", "profile"])));
        assert!(!all.is_met_by(&with(&["read"])));
        assert_eq!(all.scope_list(), "read write");
    }

    #[test]
    fn an_empty_requirement_is_refused_when_built() {
        let none: [&str; 0] = [];
        for made in [
            ScopeRequirement::any(none),
            ScopeRequirement::all(none),
            RequireScopeLayer::any(none).map(|layer| layer.requirement),
            RequireScopeLayer::all(none).map(|layer| layer.requirement),
        ] {
            assert!(matches!(made, Err(ConfigError::Invalid { ref name, .. }) if name == "scopes"));
        }
    }

    #[test]
    fn a_scope_that_does_not_fit_the_challenge_is_refused() {
        for bad in ["", "two words", "quo\"te", "back\\slash", "tab\t", "é"] {
            assert!(ScopeRequirement::any([bad]).is_err(), "{bad:?}");
        }
        assert!(ScopeRequirement::all(["orders:read", "https://api.example/x!#$"]).is_ok());
    }
}
