//! [`ConfigError`]: why a guard, a verifier or another part could not be built from its
//! settings. A leaf: it names no other module of the crate, so every builder (the scope
//! requirements among them) can return it without importing the request-time errors.

use std::borrow::Cow;

/// Why a guard or a verifier could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting has a value it cannot take.
    #[error("{name}: {problem}")]
    Invalid {
        /// The setting (builder method or environment variable).
        name: Cow<'static, str>,
        /// What is wrong with its value (never the value itself when it may be secret).
        problem: Cow<'static, str>,
    },
    /// A URL is not allowed: not https, and neither loopback nor explicitly allowed.
    #[error("{name}: {problem}")]
    InsecureUrl {
        /// The setting that holds the URL.
        name: Cow<'static, str>,
        /// What is wrong with it.
        problem: Cow<'static, str>,
    },
    /// A key could not be read or parsed.
    #[error("{name}: {problem}")]
    Key {
        /// The setting or file that holds the key.
        name: Cow<'static, str>,
        /// What is wrong with it.
        problem: Cow<'static, str>,
    },
    /// The HTTP client could not be built (the TLS backend did not start). The cause is the
    /// [`source`](std::error::Error::source).
    #[error("the HTTP client could not be built")]
    HttpClient(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The system's random generator failed, so no secret cache key could be drawn. The guard
    /// is not built: it never falls back to an unkeyed fingerprint.
    #[error("the system random generator failed: no secret cache key")]
    NoRandomKey,
}

impl ConfigError {
    /// A [`ConfigError::Invalid`] for `name`.
    pub fn invalid(
        name: impl Into<Cow<'static, str>>,
        problem: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError::Invalid {
            name: name.into(),
            problem: problem.into(),
        }
    }
}
