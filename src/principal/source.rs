//! [`VerifierKind`]: which kind of verifier accepted a token.

use std::fmt;

/// Which kind of verifier accepted a token; shown as [`Principal::source`](crate::Principal::source).
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
    /// The [`AutoVerifier`](crate::verify::AutoVerifier)'s kind (JWTs checked locally, other
    /// tokens remotely): a verifier's name in metrics only, since each principal it accepts
    /// carries [`Jwt`](Self::Jwt) or [`Remote`](Self::Remote).
    Auto,
    /// A verifier of the user's own, under a name of its choosing.
    Custom(&'static str),
}

impl VerifierKind {
    /// The name used in logs, metrics labels and the demo's `/whoami`: `remote`, `jwt`,
    /// `introspection`, `bitrix24`, `auto`, or the custom name.
    pub fn as_str(&self) -> &'static str {
        match self {
            VerifierKind::Remote => "remote",
            VerifierKind::Jwt => "jwt",
            VerifierKind::Introspection => "introspection",
            VerifierKind::Bitrix24 => "bitrix24",
            VerifierKind::Auto => "auto",
            VerifierKind::Custom(name) => name,
        }
    }
}

impl fmt::Display for VerifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
