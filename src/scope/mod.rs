//! Per-route scope requirements: [`RequireScopeLayer`] answers 403 `insufficient_scope` when
//! the [`Principal`](crate::Principal) lacks the scopes a route needs.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | these docs, re-exports |
//! | `requirement.rs` | [`ScopeRequirement`]: any-of / all-of a list of scopes; [`is_scope_token`] |
//! | `layer.rs` | [`RequireScopeLayer`] |
//! | `service.rs` | [`RequireScope`], the service around a route |
//! | `future.rs` | its [`ResponseFuture`](future::ResponseFuture) |

pub mod future;
mod layer;
pub(crate) mod requirement;
mod service;

pub use layer::RequireScopeLayer;
pub use requirement::{ScopeRequirement, is_scope_token};
pub use service::RequireScope;
