//! The library's integration tests: one test binary (one link of the dependency graph), one
//! module per area. Shared support is in `common/`; each module names what it uses from it.
// The support modules' items are `pub` for the test modules beside them; a test binary
// exports nothing, so none is reachable from outside.
#![allow(unreachable_pub)]
// Test code, helpers included: a panic (unwrap, expect) is how a test fails. (clippy.toml's
// allow-unwrap-in-tests covers `#[test]` functions and `#[cfg(test)]` modules only.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod admin_listener;
mod bitrix24;
mod client_faults;
mod client_layer;
mod client_logs;
mod client_refresh;
mod client_requests;
mod config_effects;
mod config_env;
mod demo;
mod demo_jwt_revocation;
mod demo_metrics;
mod demo_replicas;
mod documented_answers;
mod extraction_props;
mod fault_injection;
mod guard_answers;
mod guard_cache;
mod introspection;
mod jwks_discovery;
mod jwks_keys;
mod jwks_lifecycle;
mod jwt_algorithms;
mod jwt_auto_mode;
mod jwt_claims;
mod jwt_logs;
mod jwt_presets;
mod jwt_revocation;
mod log_rate_limit;
mod metrics;
mod outbound_proxy;
mod props_guard;
mod remote_crm_now;
mod resource_bounds;
mod secret_hygiene;
mod shared_cache;
mod shared_deny_markers;
mod shared_durability;
mod shared_failures;
mod shared_jwt_revocation;
mod shared_recovery;
mod shared_revocation;
mod shared_unavailable;
mod token_source_logs;
