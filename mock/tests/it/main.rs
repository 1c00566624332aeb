//! The mock issuer's own tests, over real HTTP on 127.0.0.1: one test binary, one module per
//! area. Shared support is in `common.rs`.
// The support modules' items are `pub` for the test modules beside them; a test binary
// exports nothing, so none is reachable from outside.
#![allow(unreachable_pub)]
// Test code, helpers included: a panic (unwrap, expect) is how a test fails. (clippy.toml's
// allow-unwrap-in-tests covers `#[test]` functions and `#[cfg(test)]` modules only.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod issuer_faults;
mod issuer_tokens;
mod token_endpoints;
