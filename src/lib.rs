//! bearer-guard: RFC 6750 bearer-token guard for tower and axum.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod principal;
mod token;
pub mod verify;

pub use principal::{OwnerKind, Principal, ResourceOwner};
pub use token::BearerToken;
pub use verify::{Verdict, Verifier, VerifierKind};
