//! The sidecar's integration tests: one test binary, one module per area (in-process router,
//! the binary as a process, two of them on a real Redis, a real nginx). Shared support is in
//! `common/`.

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
