//! The guard middleware: [`BearerGuardLayer`] → [`BearerGuard`] → [`future::ResponseFuture`].
//!
//! | file | what |
//! |---|---|
//! | `layer.rs` | [`BearerGuardLayer`] and its builder |
//! | `service.rs` | [`BearerGuard`], the service around a route |
//! | `future.rs` | its [`ResponseFuture`](future::ResponseFuture) |
//! | `core.rs` | the request path: extraction, cache, one verification per token |
//! | `decision.rs` | [`Decision`]: what the verdict hook is told |
//! | `answer_count.rs` | counting a let-through request's outcome once its route has answered |
//! | `catch_panic.rs` | a panicking verifier becomes a 503 |
//! | `revoke.rs` | revocation: the token into this process's revoked set (`src/cache/revoked.rs`) and the shared deny marker |
//! | `shared_miss.rs` | the miss path through the shared tier, talking to `SharedTier` only (feature `redis`) |
//!
//! See the [crate docs](crate) for the request flow and an example.

mod answer_count;
mod catch_panic;
mod core;
mod decision;
pub mod future;
mod layer;
mod revoke;
mod service;
#[cfg(feature = "redis")]
mod shared_miss;

pub use decision::{CacheLookup, Decision, DecisionOutcome};
pub use layer::{
    BearerGuardLayer, BearerGuardLayerBuilder, DEFAULT_CACHE_CAPACITY, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_NEGATIVE_CACHE_CAPACITY, DEFAULT_NEGATIVE_TTL, DEFAULT_POSITIVE_TTL,
    DEFAULT_REVOCATION_TTL, DEFAULT_VERIFY_TIMEOUT,
};
pub use revoke::RevocationReach;
pub use service::BearerGuard;
