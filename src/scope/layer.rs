//! [`RequireScopeLayer`].

use std::sync::Arc;

use tower::Layer;

use super::ScopeRequirement;
use super::service::RequireScope;
use crate::error::{ConfigError, DEFAULT_REALM};

/// Layer that requires scopes on the routes it wraps. Put it inside (after) the
/// [`BearerGuardLayer`](crate::BearerGuardLayer): it reads the `Principal` the guard stored.
///
/// ```
/// use axum::{Router, routing::get};
/// use bearer_guard::RequireScopeLayer;
///
/// # fn main() -> Result<(), bearer_guard::ConfigError> {
/// let app: Router = Router::new()
///     .route("/records", get(|| async { "records" }))
///     .route_layer(RequireScopeLayer::any(["read"])?);
/// # drop(app);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RequireScopeLayer {
    pub(super) requirement: ScopeRequirement,
    pub(super) realm: Arc<str>,
}

impl RequireScopeLayer {
    /// Requires at least one of `scopes`.
    ///
    /// # Errors
    /// As [`ScopeRequirement::any`]: no scopes, or a scope that is not a `scope-token`.
    pub fn any<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopeRequirement::any(scopes).map(Self::new)
    }

    /// Requires all of `scopes`.
    ///
    /// # Errors
    /// As [`ScopeRequirement::any`].
    pub fn all<I, S>(scopes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopeRequirement::all(scopes).map(Self::new)
    }

    /// Requires `requirement`.
    pub fn new(requirement: ScopeRequirement) -> Self {
        RequireScopeLayer {
            requirement,
            realm: Arc::from(DEFAULT_REALM),
        }
    }

    /// Sets the realm of the 403 challenge. Default: `"api"` (use the guard's realm).
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.realm = realm.into();
        self
    }
}

impl<S> Layer<S> for RequireScopeLayer {
    type Service = RequireScope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            layer: self.clone(),
        }
    }
}
