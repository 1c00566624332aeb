//! Builders name their own settings (`positive_ttl`, `admin_token`, …); a [`GuardConfig`](super::GuardConfig)
//! puts their errors under the environment variable the operator set.

use crate::error::ConfigError;

/// Puts the environment variable's name on an error raised under a builder's setting name.
/// The builder's own setting name stays in the message, after the variable's.
pub(super) fn rename(error: ConfigError, variable: &'static str) -> ConfigError {
    let within = |name: &str, problem: &str| format!("{name}: {problem}").into();
    match error {
        ConfigError::Invalid { name, problem } => ConfigError::Invalid {
            name: variable.into(),
            problem: within(&name, &problem),
        },
        ConfigError::InsecureUrl { name, problem } => ConfigError::InsecureUrl {
            name: variable.into(),
            problem: within(&name, &problem),
        },
        ConfigError::Key { name, problem } if name != variable => ConfigError::Key {
            name: variable.into(),
            problem: within(&name, &problem),
        },
        other => other,
    }
}
