//! [`Mode`]: how tokens are verified, and which mode the configured token sources imply
//! (`GUARD_MODE` unset) or allow (`GUARD_MODE` set).

use crate::error::ConfigError;
#[cfg(doc)]
use crate::verify::{AutoVerifier, Bitrix24Verifier, IntrospectionVerifier};

/// How tokens are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Every cache miss asks the remote `verifytoken` endpoint.
    Remote,
    /// JWTs are checked locally against JWKS or PEM keys; nothing goes remote.
    Jwt,
    /// JWTs with a locally known key are checked locally; anything else goes remote, and a
    /// remote yes for a JWT must still pass the local claim rules
    /// ([`AutoVerifier`]).
    Auto,
    /// Every cache miss asks the RFC 7662 introspection endpoint ([`IntrospectionVerifier`]).
    Introspect,
    /// Every cache miss asks the Bitrix24 portal ([`Bitrix24Verifier`]).
    Bitrix24,
}

impl Mode {
    /// `remote`, `jwt`, `auto`, `introspect` or `bitrix24`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Remote => "remote",
            Mode::Jwt => "jwt",
            Mode::Auto => "auto",
            Mode::Introspect => "introspect",
            Mode::Bitrix24 => "bitrix24",
        }
    }
}

/// Which token sources are configured.
#[derive(Clone, Copy)]
pub(super) struct Sources {
    pub(super) remote: bool,
    pub(super) keys: bool,
    pub(super) introspection: bool,
    pub(super) bitrix24: bool,
}

impl Sources {
    /// The mode implied when `GUARD_MODE` is unset.
    pub(super) fn implied_mode(self) -> Result<Option<Mode>, ConfigError> {
        let crm = self.remote || self.keys;
        match (crm, self.introspection, self.bitrix24) {
            (false, true, false) => Ok(Some(Mode::Introspect)),
            (false, false, true) => Ok(Some(Mode::Bitrix24)),
            (_, false, false) => Ok(match (self.remote, self.keys) {
                (true, true) => Some(Mode::Auto),
                (true, false) => Some(Mode::Remote),
                (false, true) => Some(Mode::Jwt),
                (false, false) => None,
            }),
            _ => Err(ConfigError::invalid(
                "GUARD_MODE",
                "several kinds of token source are set; choose one with GUARD_MODE",
            )),
        }
    }
}

/// The mode `GUARD_MODE` names, if the sources it needs are set.
pub(super) fn parse_mode(value: &str, sources: Sources) -> Result<Mode, ConfigError> {
    let mode = match value {
        "remote" => Mode::Remote,
        "jwt" => Mode::Jwt,
        "auto" => Mode::Auto,
        "introspect" => Mode::Introspect,
        "bitrix24" => Mode::Bitrix24,
        other => {
            return Err(ConfigError::invalid(
                "GUARD_MODE",
                format!("`{other}` is not `remote`, `jwt`, `auto`, `introspect` or `bitrix24`"),
            ));
        }
    };
    let missing = match mode {
        Mode::Remote if !sources.remote => Some("remote mode needs GUARD_VERIFY_URL"),
        Mode::Jwt if !sources.keys => Some("jwt mode needs GUARD_JWKS_URL or GUARD_JWT_PUBLIC_KEY"),
        Mode::Auto if !(sources.remote && sources.keys) => {
            Some("auto mode needs GUARD_VERIFY_URL and GUARD_JWKS_URL or GUARD_JWT_PUBLIC_KEY")
        }
        Mode::Introspect if !sources.introspection => {
            Some("introspect mode needs GUARD_INTROSPECTION_URL")
        }
        Mode::Bitrix24 if !sources.bitrix24 => Some("bitrix24 mode needs GUARD_BITRIX24_PORTAL"),
        _ => None,
    };
    match missing {
        Some(problem) => Err(ConfigError::invalid("GUARD_MODE", problem)),
        None => Ok(mode),
    }
}
