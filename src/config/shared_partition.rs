//! The shared-cache partition of a [`GuardConfig`]: a fingerprint of the settings that decide
//! whether a token is valid, so replicas share verdicts only with replicas that would judge
//! tokens the same way (see [`SharedCache::partition`](crate::shared::SharedCache::partition)).

use aws_lc_rs::digest;

use super::GuardConfig;

/// `v1:` and the hex SHA-256 of the mode, verify / JWKS / introspection URLs, the
/// introspection client id, the public key (its file's content, or its path when unreadable),
/// issuers, audiences, Bitrix24 portal and app code, and `GUARD_REQUIRE_AT_JWT`, each
/// length-prefixed. No secret goes in (the introspection client secret is left out).
pub(super) fn verifier_partition(config: &GuardConfig) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    let mut field = |label: &str, value: Option<&[u8]>| {
        context.update(&(label.len() as u64).to_be_bytes());
        context.update(label.as_bytes());
        match value {
            None => context.update(&[0]),
            Some(bytes) => {
                context.update(&[1]);
                context.update(&(bytes.len() as u64).to_be_bytes());
                context.update(bytes);
            }
        }
    };
    let mode = config.mode.map(|m| format!("{m:?}"));
    field("mode", mode.as_deref().map(str::as_bytes));
    field("verify_url", text(&config.verify_url));
    field("jwks_url", text(&config.jwks_url));
    let public_key = config.jwt_public_key.as_ref().map(|path| {
        std::fs::read(path).unwrap_or_else(|_| path.to_string_lossy().as_bytes().to_vec())
    });
    field("public_key", public_key.as_deref());
    field("introspection_url", text(&config.introspection_url));
    field(
        "introspection_client_id",
        text(&config.introspection_client_id),
    );
    for issuer in &config.issuers {
        field("issuer", Some(issuer.as_bytes()));
    }
    for audience in &config.audiences {
        field("audience", Some(audience.as_bytes()));
    }
    field("bitrix24_portal", text(&config.bitrix24_portal));
    field("bitrix24_app_code", text(&config.bitrix24_app_code));
    field(
        "require_at_jwt",
        Some(if config.require_at_jwt { b"1" } else { b"0" }),
    );
    let hash = context.finish();
    let mut out = String::from("v1:");
    for byte in hash.as_ref() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// A text setting's bytes, `None` when unset.
fn text(value: &Option<String>) -> Option<&[u8]> {
    value.as_deref().map(str::as_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> GuardConfig {
        GuardConfig::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const JWKS: (&str, &str) = ("GUARD_JWKS_URL", "https://issuer.example/jwks.json");

    #[test]
    fn equal_settings_equal_partition_and_each_deciding_setting_changes_it() {
        let base = verifier_partition(&config(&[JWKS, ("GUARD_AUDIENCE", "api-a")]));
        assert_eq!(
            base,
            verifier_partition(&config(&[JWKS, ("GUARD_AUDIENCE", "api-a")]))
        );
        assert!(base.starts_with("v1:") && base.len() == 3 + 64, "{base}");
        let others = [
            config(&[JWKS, ("GUARD_AUDIENCE", "api-b")]),
            config(&[JWKS]),
            config(&[
                ("GUARD_JWKS_URL", "https://other.example/jwks.json"),
                ("GUARD_AUDIENCE", "api-a"),
            ]),
            config(&[
                JWKS,
                ("GUARD_AUDIENCE", "api-a"),
                ("GUARD_ISSUER", "https://issuer.example"),
            ]),
            config(&[
                JWKS,
                ("GUARD_AUDIENCE", "api-a"),
                ("GUARD_REQUIRE_AT_JWT", "true"),
            ]),
        ];
        for other in &others {
            assert_ne!(base, verifier_partition(other), "{other:?}");
        }
    }
}
