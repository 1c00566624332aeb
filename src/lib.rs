//! bearer-guard: RFC 6750 bearer-token guard for tower and axum.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
pub mod error;
pub mod extract;
mod extractor;
mod layer;
pub mod outbound;
pub mod principal;
pub mod scope;
mod token;
pub mod verify;

pub use error::{AuthError, ConfigError};
pub use layer::{
    BearerGuard, BearerGuardLayer, BearerGuardLayerBuilder, DEFAULT_CACHE_CAPACITY,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_NEGATIVE_CACHE_CAPACITY, DEFAULT_NEGATIVE_TTL,
    DEFAULT_POSITIVE_TTL, DEFAULT_VERIFY_TIMEOUT, ResponseFuture,
};
pub use principal::{OwnerKind, Principal, ResourceOwner};
pub use scope::{RequireScopeLayer, ScopeRequirement};
pub use token::BearerToken;
pub use verify::{Verdict, Verifier, VerifierKind};
