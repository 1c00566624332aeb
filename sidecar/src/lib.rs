//! # bearer-guard-sidecar
//!
//! [bearer-guard](bearer_guard) as a forward-auth service, for services in any language behind
//! nginx (`auth_request`), Traefik (ForwardAuth), Envoy (`ext_authz`) or Caddy
//! (`forward_auth`). The proxy asks `/auth` (or `/auth/<path>`) about each request; the answer
//! is 200 with `X-Auth-*` headers, or the guard's own 400/401/403/503 with its
//! `WWW-Authenticate` challenge. The binary is `bearer-guard` (`src/main.rs`); this library
//! holds its parts, so that the tests can drive the router in-process.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | `GUARD_*` variables: the library's, plus `GUARD_RULES`, `GUARD_TRUSTED_PROXIES`, `GUARD_FORWARDED_HEADERS` |
//! | [`rules`] | the rules file: parsing and checking, errors naming file, line and key |
//! | [`forwarded`] | the original method and path, from trusted proxies' headers only |
//! | [`normalize`] | path normalisation before rules match |
//! | [`decision`] | rule → public / guard / guard + scopes / deny |
//! | [`answer`] | the 200 with `X-Auth-*` headers, the sidecar's own 400 and 403 |
//! | [`log`] | one rate-limited structured log line per decision |
//! | [`server`] | the router, serving, graceful shutdown |
//! | [`error`] | [`StartupError`] |
//! | `main.rs` (the binary) | arguments (`--check-config`, `--help`), the metrics recorder, startup, `listening on`, the admin listener (`GUARD_ADMIN_LISTEN`: the library's `POST /revoke` router, on its own port) |
#![forbid(unsafe_code)]

pub mod answer;
pub mod config;
pub mod decision;
pub mod error;
pub mod forwarded;
pub mod log;
pub mod normalize;
pub mod rules;
pub mod server;

pub use config::SidecarConfig;
pub use error::StartupError;
pub use server::Sidecar;
