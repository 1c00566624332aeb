//! The admin routes a [`GuardConfig`] asks for (`GUARD_ADMIN_LISTEN`, `GUARD_ADMIN_TOKEN`).

use super::GuardConfig;
use super::rename::rename;
use crate::error::ConfigError;
use crate::guard::BearerGuardLayer;

impl GuardConfig {
    /// The admin routes ([`admin_router`](crate::admin::admin_router)) for `guard` when
    /// `GUARD_ADMIN_LISTEN` is set, to be served on that address; `None` otherwise.
    ///
    /// # Errors
    /// A `GUARD_ADMIN_TOKEN` the admin router refuses (named by the variable).
    pub fn admin_router<R>(
        &self,
        guard: &BearerGuardLayer<R>,
    ) -> Result<Option<axum::Router>, ConfigError>
    where
        R: Clone + Send + Sync + 'static,
    {
        match (&self.admin_listen, &self.admin_token) {
            // The router keeps only an HMAC of the token under a random key, not the token.
            (Some(_), Some(token)) => {
                crate::admin::admin_router(guard.clone(), token.expose_secret())
                    .map(Some)
                    .map_err(|e| rename(e, "GUARD_ADMIN_TOKEN"))
            }
            _ => Ok(None),
        }
    }
}
