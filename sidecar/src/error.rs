//! [`StartupError`]: why the sidecar does not start (or `--check-config` fails). Each message
//! names the variable, or the rules file with its line and key.

use std::net::SocketAddr;

use crate::forwarded::{ForwardedHeadersError, TrustedProxiesError};
use crate::rules::RulesError;

/// The variables that name a verification source; one of them must be set.
pub const SOURCE_VARIABLES: &str = "GUARD_VERIFY_URL, GUARD_JWKS_URL, GUARD_JWT_PUBLIC_KEY, \
                                    GUARD_INTROSPECTION_URL or GUARD_BITRIX24_PORTAL";

/// Why the sidecar cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// A `GUARD_*` variable of the library has a bad value (the message names it).
    #[error(transparent)]
    Guard(#[from] bearer_guard::ConfigError),
    /// No verification source: the sidecar has no embedded issuer.
    #[error("no verification source: set one of {SOURCE_VARIABLES}")]
    NoSource,
    /// `GUARD_RULES` names a file that cannot be used.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// `GUARD_TRUSTED_PROXIES` has an entry that is not a network.
    #[error(transparent)]
    TrustedProxies(#[from] TrustedProxiesError),
    /// `GUARD_FORWARDED_HEADERS` is not `auto`, `original` or `forwarded`.
    #[error(transparent)]
    ForwardedHeaders(#[from] ForwardedHeadersError),
    /// The Prometheus recorder could not be installed.
    #[error("metrics recorder: {0}")]
    Metrics(#[source] metrics_exporter_prometheus::BuildError),
    /// `GUARD_LISTEN` could not be bound.
    #[error("GUARD_LISTEN: cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// `GUARD_ADMIN_LISTEN` could not be bound.
    #[error("GUARD_ADMIN_LISTEN: cannot bind {addr}: {source}")]
    AdminBind {
        /// The address.
        addr: SocketAddr,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while serving.
    #[error("serving: {0}")]
    Serve(#[source] std::io::Error),
    /// In-flight requests did not finish within the grace period after SIGTERM / Ctrl-C.
    #[error("shutdown: requests still in flight after {0:?}")]
    ShutdownTimedOut(std::time::Duration),
}
