//! The sidecar's integration tests: one test binary, one module per area (in-process router,
//! the binary as a process, two of them on a real Redis, a real nginx). Shared support is in
//! `common/`.
// The support modules' items are `pub` for the test modules beside them; a test binary
// exports nothing, so none is reachable from outside.
#![allow(unreachable_pub)]
// Test code, helpers included: a panic (unwrap, expect) is how a test fails. (clippy.toml's
// allow-unwrap-in-tests covers `#[test]` functions and `#[cfg(test)]` modules only.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod auth_direct;
mod auth_header_values;
mod auth_sources;
mod binary;
mod forwarded_headers;
mod nginx;
mod nginx_forwarded;
mod readme_rules;
mod shared_replicas;
