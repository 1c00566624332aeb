//! The GUARD_* configuration parser: arbitrary variable values through
//! `GuardConfig::from_lookup`.
//!
//! Input: values separated by NUL bytes, given in order to the variables below (missing ones
//! are unset; invalid UTF-8 is replaced, as `std::env::var` would refuse it). Never a panic;
//! an error names a GUARD_* variable; an accepted config keeps its documented bounds.
#![no_main]

use std::time::Duration;

use bearer_guard::GuardConfig;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 14] = [
    "GUARD_LISTEN",
    "GUARD_MODE",
    "GUARD_VERIFY_URL",
    "GUARD_VERIFY_ENCODING",
    "GUARD_JWKS_URL",
    "GUARD_JWT_PUBLIC_KEY",
    "GUARD_ISSUER",
    "GUARD_AUDIENCE",
    "GUARD_CACHE_TTL_SECS",
    "GUARD_NEGATIVE_TTL_SECS",
    "GUARD_REALM",
    "GUARD_ALLOW_PLAIN_HTTP",
    "GUARD_HTTPS_PROXY",
    "GUARD_REQUIRE_AT_JWT",
];

fuzz_target!(|data: &[u8]| {
    let values: Vec<String> = data
        .split(|&b| b == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    let lookup = |name: &str| {
        let index = NAMES.iter().position(|n| *n == name)?;
        values.get(index).cloned()
    };
    let set = |name: &str| lookup(name).is_some_and(|v| !v.trim().is_empty());
    match GuardConfig::from_lookup(lookup) {
        Ok(config) => {
            let day = Duration::from_secs(86_400);
            assert!(config.cache_ttl <= day && config.negative_ttl <= day);
            assert!(!config.realm.is_empty());
            assert!(
                config
                    .issuers
                    .iter()
                    .all(|s| !s.is_empty() && s.trim() == s)
            );
            assert!(
                config
                    .audiences
                    .iter()
                    .all(|s| !s.is_empty() && s.trim() == s)
            );
            let has_source =
                set("GUARD_VERIFY_URL") || set("GUARD_JWKS_URL") || set("GUARD_JWT_PUBLIC_KEY");
            assert_eq!(config.mode.is_some(), has_source, "{config:?}");
            let _ = format!("{config:?}");
        }
        Err(error) => {
            let message = error.to_string();
            assert!(message.starts_with("GUARD_"), "{message}");
        }
    }
});
