//! [`RequireScopeLayer`].

use std::sync::Arc;

use tower::Layer;

use super::ScopeRequirement;
use super::service::RequireScope;
use crate::error::{ConfigError, DEFAULT_REALM};
use crate::rejection::DefaultRejection;

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
///
/// `R` builds the response of a rejection: [`DefaultRejection`] unless set with
/// [`rejection`](Self::rejection).
#[derive(Clone)]
#[must_use]
pub struct RequireScopeLayer<R = DefaultRejection> {
    pub(super) requirement: ScopeRequirement,
    pub(super) realm: Arc<str>,
    pub(super) rejection: R,
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

    /// Requires `requirement`. Its refusals are counted by the guard around it
    /// (`bearer_guard_requests_total{outcome="insufficient_scope"}`, read from the response's
    /// [`AuthError`](crate::AuthError)), once per request.
    pub fn new(requirement: ScopeRequirement) -> Self {
        RequireScopeLayer {
            requirement,
            realm: Arc::from(DEFAULT_REALM),
            rejection: DefaultRejection,
        }
    }
}

impl<R> RequireScopeLayer<R> {
    /// How a rejection (403, or 500 without a guard) is answered: any
    /// [`RejectionResponse`](crate::RejectionResponse), such as a closure
    /// `|error: &AuthError, challenge: &Challenge| -> Response<B>`. The
    /// [`AuthError`](crate::AuthError) is put into the response's extensions whatever builds
    /// it. Default: [`DefaultRejection`].
    pub fn rejection<R2>(self, rejection: R2) -> RequireScopeLayer<R2> {
        RequireScopeLayer {
            requirement: self.requirement,
            realm: self.realm,
            rejection,
        }
    }

    /// Sets the realm of the 403 challenge. Default: `"api"` (use the guard's realm).
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.realm = realm.into();
        self
    }
}

impl<R> std::fmt::Debug for RequireScopeLayer<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScopeLayer")
            .field("requirement", &self.requirement)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl<S, R: Clone> Layer<S> for RequireScopeLayer<R> {
    type Service = RequireScope<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScope {
            inner,
            requirement: self.requirement.clone(),
            realm: Arc::clone(&self.realm),
            rejection: self.rejection.clone(),
        }
    }
}
