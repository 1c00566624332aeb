//! The mock issuer's own tests, over real HTTP on 127.0.0.1: one test binary, one module per
//! area. Shared support is in `common.rs`.

mod common;

mod issuer_faults;
mod issuer_tokens;
mod token_endpoints;
