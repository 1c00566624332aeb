//! Secret hygiene: no token, client secret or key text in any log line, any answer, or any
//! `Debug` output.
//!
//! Each logging test runs with a tracing subscriber at TRACE (plus the `log` bridge, so the
//! HTTP stack's `log` records are captured too) on every thread of its runtime, writing into
//! that test's buffer (`common::log_capture::run_logged`); it drives
//! valid, invalid, remote, JWT, auto and failure flows through the guard, and then searches
//! everything captured for the secrets those flows handled.

use crate::common;
use common::eventually;

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bearer_guard::client::{TokenEndpoint, TokenSource};
use bearer_guard::credentials::basic_credentials;
use bearer_guard::{
    AutoVerifier, BearerGuardLayer, BearerToken, GuardConfig, JwtAlgorithm, JwtVerifier, Principal,
    RemoteVerifier, StaticKey, Verifier, VerifierKind,
};
use bearer_guard_mock::{Fault, MintOptions, MockIssuer};
use common::log_capture::{Flavor, run_logged};
use common::{app, bearer, body_text, get_with, send};

const CLIENT_ID: &str = "hygiene-partner";
/// A client secret with characters that urlencoding and base64 change.
const CLIENT_SECRET: &str = "Cl1ent-S3cret:%+ü-never-logged";
const HMAC_SECRET: &str = "hmac-secret-never-logged-0123456789";

/// Everything that must never be shown, with a name for the failure message.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, name: &str, value: &str) {
        self.0.push((name.to_owned(), value.to_owned()));
    }

    /// A token, and each of its JWT segments (a logged payload segment leaks the claims).
    fn token(&mut self, name: &str, token: &str) {
        self.add(name, token);
        for (i, segment) in token.split('.').enumerate() {
            if segment.len() >= 16 && segment != token {
                self.add(&format!("{name} segment {i}"), segment);
            }
        }
    }

    /// The base64 body of a PEM block, line by line.
    fn pem(&mut self, name: &str, pem: &str) {
        for line in pem
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        {
            self.add(&format!("{name} PEM line"), line);
        }
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        self.add(&format!("{name} PEM body"), &body);
    }

    fn assert_absent(&self, place: &str, text: &str) {
        for (name, value) in &self.0 {
            assert!(!text.contains(value.as_str()), "{name} appears in {place}");
        }
    }
}

/// A mock issuer that knows the client `CLIENT_ID` with `CLIENT_SECRET`.
async fn issuer_of_the_client() -> MockIssuer {
    MockIssuer::builder()
        .client(CLIENT_ID, CLIENT_SECRET)
        .start()
        .await
        .unwrap_or_else(|e| panic!("issuer: {e}"))
}

/// Sends `token` to `/me` and checks that neither the body nor any header echoes it.
async fn call(app: &Router, token: &str) -> u16 {
    let response = send(app, get_with("/me", &[&bearer(token)])).await;
    let status = response.status().as_u16();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert!(!value.contains(token), "header {name} echoes the token");
    }
    let body = body_text(response).await;
    if status != 200 {
        assert!(!body.contains(token), "a {status} body echoes the token");
    }
    status
}

/// A crm-now token source for `CLIENT_ID` with `secret`, at `issuer`.
fn crm_now_source(issuer: &MockIssuer, secret: &str) -> TokenSource {
    TokenSource::builder(
        TokenEndpoint::crm_now(issuer.token_url()),
        CLIENT_ID,
        secret,
    )
    .build()
    .unwrap_or_else(|e| panic!("token source: {e}"))
}

fn rsa_private_pem() -> String {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap_or_else(|e| panic!("{e:?}"));
    let der: Pkcs8V1Der<'static> = pair.as_der().unwrap_or_else(|e| panic!("{e:?}"));
    let body = STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[test]
fn no_secret_reaches_the_logs_or_the_answers() {
    run_logged(Flavor::TwoWorkers, |logs| async move {
        let mut secrets = Secrets::default();
        secrets.add("client secret", CLIENT_SECRET);
        secrets.add(
            "client secret, urlencoded",
            &form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect::<String>(),
        );
        let basic = basic_credentials(CLIENT_ID, CLIENT_SECRET);
        secrets.add("Basic credentials", basic.trim_start_matches("Basic "));
        secrets.add("HMAC secret", HMAC_SECRET);

        let issuer = issuer_of_the_client().await;
        secrets.pem("issuer public key", &issuer.public_key_pem());

        // A token fetched the crm-now way, with the client secret.
        let fetched = crm_now_source(&issuer, CLIENT_SECRET)
            .access_token()
            .await
            .unwrap_or_else(|e| panic!("token source: {e}"));
        secrets.token("fetched token", fetched.secret());
        // A wrong secret: the error must not carry it either.
        let wrong = crm_now_source(&issuer, "wrong-Secret-never-logged")
            .access_token()
            .await
            .err()
            .unwrap_or_else(|| panic!("a wrong secret got a token"));
        secrets.add("wrong client secret", "wrong-Secret-never-logged");
        tracing::warn!(error = %wrong, debug = ?wrong, "token fetch failed");

        let mint = |subject: &str| {
            issuer
                .mint(MintOptions::default().subject(subject))
                .unwrap_or_else(|e| panic!("mint: {e}"))
        };
        let remote = || {
            RemoteVerifier::builder()
                .url(issuer.verify_url())
                .timeout(Duration::from_millis(500))
                .build()
                .unwrap_or_else(|e| panic!("remote: {e}"))
        };

        // Remote: valid, invalid, then the upstream down and answering garbage.
        let remote_app = app(BearerGuardLayer::new(remote()));
        assert_eq!(call(&remote_app, fetched.secret()).await, 200);
        // Again: a cache hit (logged at TRACE).
        assert_eq!(call(&remote_app, fetched.secret()).await, 200);
        let opaque_invalid = "opaque-Invalid-token-never-logged-7f3a";
        secrets.token("invalid opaque token", opaque_invalid);
        assert_eq!(call(&remote_app, opaque_invalid).await, 401);
        for (i, fault) in [
            Fault::Down,
            Fault::HtmlBody,
            Fault::Truncated,
            Fault::ResultStringTrue,
            Fault::Oversized,
            Fault::ResetConnection,
            Fault::Status500,
        ]
        .into_iter()
        .enumerate()
        {
            issuer
                .set_fault(fault)
                .await
                .unwrap_or_else(|e| panic!("{fault:?}: {e}"));
            let token = mint(&format!("during-fault-{i}"));
            secrets.token(&format!("token during {fault:?}"), &token);
            assert_eq!(call(&remote_app, &token).await, 503, "{fault:?}");
        }
        issuer
            .set_fault(Fault::None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        // Rejected before verification: bad characters, too long.
        let malformed = "malformed,token;never-logged";
        secrets.add("malformed token", malformed);
        assert_eq!(call(&remote_app, malformed).await, 401);
        let long = format!("too-long-never-logged-{}", "A".repeat(9_000));
        secrets.add("too-long token", &long[..64]);
        assert_eq!(call(&remote_app, &long).await, 401);

        // JWT from the JWKS: valid, forged, and a verifier whose JWKS is down.
        let jwt = JwtVerifier::builder()
            .jwks_url(issuer.jwks_url())
            .issuer(issuer.issuer())
            .build()
            .unwrap_or_else(|e| panic!("jwt: {e}"));
        let jwt_app = app(BearerGuardLayer::new(jwt.clone()));
        let jwt_token = mint("jwt-user");
        secrets.token("JWT", &jwt_token);
        assert_eq!(call(&jwt_app, &jwt_token).await, 200);
        let parts: Vec<&str> = jwt_token.split('.').collect();
        let other = mint("other-user");
        secrets.token("other JWT", &other);
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap_or(""),
            parts[2]
        );
        secrets.token("forged JWT", &forged);
        assert_eq!(call(&jwt_app, &forged).await, 401);
        issuer
            .set_jwks_fault(Fault::Down)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let jwks_down = JwtVerifier::builder()
            .jwks_url(issuer.jwks_url())
            .build()
            .unwrap_or_else(|e| panic!("jwt: {e}"));
        let down_token = mint("while-jwks-down");
        secrets.token("JWT while the JWKS is down", &down_token);
        assert_eq!(
            call(&app(BearerGuardLayer::new(jwks_down)), &down_token).await,
            503
        );
        issuer
            .set_jwks_fault(Fault::None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));

        // JWT with static keys: the issuer's PEM and an HMAC secret.
        let static_jwt = JwtVerifier::builder()
            .public_key_pem(issuer.public_key_pem())
            .static_key(StaticKey::hmac_secret(HMAC_SECRET, JwtAlgorithm::HS256).kid("hs"))
            .build()
            .unwrap_or_else(|e| panic!("static jwt: {e}"));
        let static_app = app(BearerGuardLayer::new(static_jwt.clone()));
        let static_token = mint("static-user");
        secrets.token("JWT for static keys", &static_token);
        assert_eq!(call(&static_app, &static_token).await, 200);

        // A private key pasted where the public one belongs: refused, without echoing it.
        let private = rsa_private_pem();
        secrets.pem("private key", &private);
        let refused = JwtVerifier::builder()
            .public_key_pem(&private)
            .build()
            .err()
            .unwrap_or_else(|| panic!("a private key was accepted as a verification key"));
        tracing::error!(error = %refused, debug = ?refused, "configuration refused");

        // Auto: a known JWT locally, an opaque token remote.
        let auto = AutoVerifier::new(jwt.clone(), Arc::new(remote()));
        let auto_app = app(BearerGuardLayer::new(auto));
        let auto_jwt = mint("auto-user");
        secrets.token("auto JWT", &auto_jwt);
        assert_eq!(call(&auto_app, &auto_jwt).await, 200);
        let auto_opaque = "auto-Opaque-token-never-logged-91c2";
        secrets.token("auto opaque token", auto_opaque);
        assert_eq!(call(&auto_app, auto_opaque).await, 401);

        // Debug of everything that held a secret, logged the way an application might.
        tracing::debug!(
            ?fetched,
            ?jwt,
            ?static_jwt,
            "debug of the types that held secrets"
        );

        // The pipeline really captured the guard's own lines, at every level down to TRACE.
        let text = logs.text_containing(&[
            "token valid",
            "token invalid",
            "token verification unavailable",
            "bearer_guard.verify",
            "JWKS",
            "TRACE",
        ]);
        secrets.assert_absent("the logs", &text);
    });
}

#[tokio::test]
async fn debug_output_of_every_config_and_token_type_redacts() {
    let mut secrets = Secrets::default();
    let token = "debug-Token-value-never-shown-5c1d";
    secrets.token("token", token);
    secrets.add("HMAC secret", HMAC_SECRET);

    let issuer = issuer_of_the_client().await;
    secrets.add("client secret", CLIENT_SECRET);
    secrets.pem("issuer public key", &issuer.public_key_pem());
    let source = crm_now_source(&issuer, CLIENT_SECRET);
    let fetched = source
        .access_token()
        .await
        .unwrap_or_else(|e| panic!("token source: {e}"));
    secrets.token("fetched token", fetched.secret());
    let builder = TokenSource::builder(
        TokenEndpoint::suitecrm(issuer.suitecrm_token_url()),
        CLIENT_ID,
        CLIENT_SECRET,
    );

    let key_file = std::env::temp_dir().join(format!("hygiene-{}.pem", std::process::id()));
    std::fs::write(&key_file, issuer.public_key_pem()).unwrap_or_else(|e| panic!("{e}"));
    let vars = [
        ("GUARD_VERIFY_URL", issuer.verify_url().to_owned()),
        ("GUARD_JWT_PUBLIC_KEY", key_file.display().to_string()),
        ("GUARD_ISSUER", issuer.issuer().to_owned()),
    ];
    let config = GuardConfig::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap_or_else(|e| panic!("config: {e}"));
    let layer = config.layer().unwrap_or_else(|e| panic!("layer: {e}"));
    let _ = std::fs::remove_file(&key_file);

    let pem_key = StaticKey::public_pem(issuer.public_key_pem()).kid("pem");
    let hmac_key = StaticKey::hmac_secret(HMAC_SECRET, JwtAlgorithm::HS256);
    let jwt = JwtVerifier::builder()
        .static_key(pem_key.clone())
        .static_key(hmac_key.clone())
        .build()
        .unwrap_or_else(|e| panic!("jwt: {e}"));
    let remote = RemoteVerifier::builder()
        .url(issuer.verify_url())
        .build()
        .unwrap_or_else(|e| panic!("remote: {e}"));

    // A principal from a real verification, with a claim that is personal data.
    let claim_value = "alice.private@example.com";
    secrets.add("claim value", claim_value);
    let minted = issuer
        .mint(
            MintOptions::default()
                .subject("Users:1")
                .claim("email", claim_value),
        )
        .unwrap_or_else(|e| panic!("mint: {e}"));
    secrets.token("minted token", &minted);
    let principal = match remote.verify(&BearerToken::new(minted.as_str())).await {
        bearer_guard::Verdict::Valid(principal) => principal,
        other => panic!("the issuer's own token: {other:?}"),
    };
    assert_eq!(principal.source(), VerifierKind::Remote);
    assert!(principal.claims().contains_key("email"));
    let built = Principal::builder(VerifierKind::Custom("debug"))
        .subject("Users:1")
        .build();

    let guard = BearerGuardLayer::new(jwt.clone());
    let shown = [
        ("BearerToken", format!("{:?}", BearerToken::new(token))),
        ("AccessToken", format!("{fetched:?}")),
        ("GuardConfig", format!("{config:?}")),
        ("RemoteVerifier", format!("{remote:?}")),
        ("JwtVerifier", format!("{jwt:?}")),
        ("StaticKey (PEM)", format!("{pem_key:?}")),
        ("StaticKey (HMAC)", format!("{hmac_key:?}")),
        ("BearerGuardLayer", format!("{guard:?}")),
        ("BearerGuardLayer (from GUARD_*)", format!("{layer:?}")),
        ("Principal", format!("{principal:?}")),
        ("Principal (built)", format!("{built:?}")),
        ("TokenSource", format!("{source:?}")),
        ("TokenSourceBuilder", format!("{builder:?}")),
        (
            "Authorization value",
            format!("{:?}", fetched.bearer_header()),
        ),
    ];
    for (name, text) in &shown {
        assert!(!text.is_empty(), "{name}");
        secrets.assert_absent(&format!("Debug of {name}"), text);
    }
    // Redaction, not omission: the types still say what they hold.
    assert!(shown[0].1.contains("redacted"));
    assert!(shown[1].1.contains("redacted"));
    assert!(shown[5].1.contains("redacted") && shown[6].1.contains("redacted"));
    assert!(shown[9].1.contains("Users:1") && shown[9].1.contains("email"));
    let of = |name: &str| {
        shown
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.as_str())
            .unwrap_or_default()
    };
    assert!(of("TokenSource").contains("redacted"));
    assert!(of("TokenSourceBuilder").contains("redacted"));
    assert_eq!(of("Authorization value"), "Sensitive");
}

/// A `GUARD_VERIFY_URL` with credentials in it must not show up in `GuardConfig`'s `Debug`
/// (an application may log its configuration before building the guard). Found by this file
/// while `from_lookup` still accepted such URLs and `Debug` printed them; fixed in
/// src/config/ (then src/config.rs), which now refuses them when read and hides user info in `Debug`.
#[test]
fn guard_config_debug_does_not_show_a_password_in_a_url() {
    let url = "https://partner:hunter2-never-shown@crm.example/v1/getOauthToken.php";
    let shown =
        match GuardConfig::from_lookup(|name| (name == "GUARD_VERIFY_URL").then(|| url.to_owned()))
        {
            Ok(config) => format!("{config:?}"),
            // Refusing the URL outright is a fix too.
            Err(error) => format!("{error} {error:?}"),
        };
    assert!(!shown.contains("hunter2-never-shown"), "{shown}");
}

/// Every secret setting of a `GuardConfig` (the introspection client secret, the cache secret,
/// the admin token, the password in the Redis URL) is absent from its `Debug`, plain and
/// `{:#?}`, and from the sidecar's `SidecarConfig` that holds it: `[redacted]` stands in their
/// place, and the Redis URL is shown without its password. The values are still there,
/// unchanged, for `expose_secret` (the secrets read as they are, the URL trimmed).
#[test]
fn guard_config_debug_shows_no_secret_setting() {
    let client_secret = "Introspection-Secret-never-shown ";
    let cache_secret = "Cache-Secret-never-shown-0123456789abcdef ";
    let admin_token = "Admin-Token-never-shown-5d2b";
    let password = "Redis-Password-never-shown-91fe";
    let redis_url = format!(" redis://user:{password}@127.0.0.1:6379/0 ");
    let vars = [
        ("GUARD_INTROSPECTION_URL", "https://idp.example/introspect"),
        ("GUARD_INTROSPECTION_CLIENT_ID", "rs-id"),
        ("GUARD_INTROSPECTION_CLIENT_SECRET", client_secret),
        ("GUARD_REDIS_URL", redis_url.as_str()),
        ("GUARD_CACHE_SECRET", cache_secret),
        ("GUARD_ADMIN_LISTEN", "127.0.0.1:9090"),
        ("GUARD_ADMIN_TOKEN", admin_token),
    ];
    let config = GuardConfig::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let mut secrets = Secrets::default();
    secrets.add("introspection client secret", client_secret.trim());
    secrets.add("cache secret", cache_secret.trim());
    secrets.add("admin token", admin_token);
    secrets.add("redis password", password);
    for shown in [format!("{config:?}"), format!("{config:#?}")] {
        secrets.assert_absent("Debug of GuardConfig", &shown);
        assert_eq!(shown.matches("[redacted]").count(), 3, "{shown}");
        assert!(
            shown.contains("redis://127.0.0.1:6379/0 (parts redacted)"),
            "{shown}"
        );
        assert!(shown.contains("rs-id"), "{shown}");
    }
    let exposed = |secret: &Option<bearer_guard::Secret>| {
        secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(exposed(&config.introspection_client_secret), client_secret);
    assert_eq!(exposed(&config.cache_secret), cache_secret);
    assert_eq!(exposed(&config.admin_token), admin_token);
    assert_eq!(exposed(&config.redis_url), redis_url.trim());
}

#[test]
fn no_cache_secret_admin_token_or_token_reaches_the_logs_with_a_shared_cache() {
    run_logged(Flavor::TwoWorkers, |logs| async move {
        use bearer_guard::shared::SharedCache;
        use common::redis_server::RedisServer;
        use common::shared_support::{SECRET, issuer as introspection_issuer, shared_guard, token};

        let mut secrets = Secrets::default();
        secrets.add("cache secret", SECRET);
        let admin_token = "admin-Token-never-logged-77f1";
        secrets.add("admin token", admin_token);
        let redis = RedisServer::start();
        let issuer = introspection_issuer().await;
        let first = shared_guard(&issuer, &redis.url(), SECRET);
        let second = shared_guard(&issuer, &redis.url(), SECRET);
        first.wait_subscribed().await;
        second.wait_subscribed().await;
        let valid = token(&issuer, "Users:hygiene");
        secrets.token("shared valid token", &valid);
        let invalid = "shared-Invalid-token-never-logged-0b3e";
        secrets.token("shared invalid token", invalid);
        assert_eq!(call(&first.app, &valid).await, 200);
        assert_eq!(call(&second.app, &valid).await, 200);
        assert_eq!(call(&first.app, invalid).await, 401);
        // A tampered entry is rejected with a warning.
        for key in redis.keys("bearer-guard:v1:e:*") {
            let mut value = redis.get(&key).unwrap_or_default();
            if let Some(last) = value.last_mut() {
                *last ^= 1;
            }
            redis.set(&key, &value, 60_000);
        }
        let third = shared_guard(&issuer, &redis.url(), SECRET);
        assert_eq!(call(&third.app, invalid).await, 401);
        // Revocation through the admin router (wrong admin token first), heard by the others.
        let router = bearer_guard::admin::admin_router(first.layer.clone(), admin_token)
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = common::serve(router).await;
        for auth in [
            "Bearer wrong-admin-token-value-000",
            &format!("Bearer {admin_token}"),
        ] {
            let _ = common::client()
                .post(format!("http://{addr}/revoke"))
                .header("authorization", auth)
                .form(&[("token", valid.as_str())])
                .send()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let refused = eventually(Duration::from_secs(1), async || {
            call(&second.app, &valid).await == 401
        })
        .await;
        assert!(refused);
        // Debug of the settings that hold the secret, the admin token and a Redis password.
        let password = "redis-Password-never-logged-2c9a";
        secrets.add("redis password", password);
        let shared = SharedCache::new(format!("redis://user:{password}@127.0.0.1:1/0"), SECRET);
        let config = GuardConfig::from_lookup(|name| match name {
            "GUARD_VERIFY_URL" => Some("https://crm.example/verify".into()),
            "GUARD_REDIS_URL" => Some(format!("redis://:{password}@127.0.0.1:1")),
            "GUARD_CACHE_SECRET" => Some(SECRET.into()),
            "GUARD_ADMIN_LISTEN" => Some("127.0.0.1:0".into()),
            "GUARD_ADMIN_TOKEN" => Some(admin_token.into()),
            _ => None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        tracing::debug!(?shared, ?config, layer = ?first.layer, "debug of the shared settings");

        let text = logs.text_containing(&[
            "subscribed to shared revocations",
            "shared cache entry rejected",
            "token revoked",
            "wrong admin token",
            "debug of the shared settings",
        ]);
        secrets.assert_absent("the logs", &text);
    });
}
