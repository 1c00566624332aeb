//! The guard middleware: [`BearerGuardLayer`] → [`BearerGuard`] → [`ResponseFuture`].

mod catch_panic;
mod core;
pub mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::{
    BearerGuardLayer, BearerGuardLayerBuilder, DEFAULT_CACHE_CAPACITY, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_NEGATIVE_CACHE_CAPACITY, DEFAULT_NEGATIVE_TTL, DEFAULT_POSITIVE_TTL,
    DEFAULT_VERIFY_TIMEOUT,
};
pub use service::BearerGuard;
