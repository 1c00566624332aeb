//! The sidecar's integration tests: one test binary, one module per area (in-process router,
//! the binary as a process, a real nginx). Shared support is in `common/`.

mod common;

mod auth_direct;
mod auth_header_values;
mod binary;
mod forwarded_headers;
mod nginx;
mod nginx_forwarded;
mod readme_rules;
