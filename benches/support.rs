//! What the benches and the load server share: signing keys of every family generated at
//! start, ~930-byte tokens, the one route shape every variant guards, request helpers, and
//! the adapter that runs jwt-authorizer (axum 0.7) on an axum 0.8 router.
//!
//! Included with `#[path = "support.rs"] mod support;`; each user takes what it needs.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bearer_guard::{JwtAlgorithm, JwtVerifier, StaticKey};
use bearer_guard_mock::{MintOptions, MockIssuer};
use http::{HeaderValue, Request, header::AUTHORIZATION};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};
use tower::{Layer as _, ServiceExt as _};

/// `iss` of the bench tokens (own keys; tokens of the mock issuer carry its own `iss`).
pub(crate) const ISSUER: &str = "https://bench-issuer.example";
/// `aud` of the bench tokens.
pub(crate) const AUDIENCE: &str = "bench-api";
/// Length of the realistic token: a crm-now-style RS256-2048 access token.
pub(crate) const TOKEN_LEN: usize = 930;
/// The claims every JWT carries besides the registered ones (the pad comes on top).
const SUBJECT: &str = "Users:1";
const SCOPE: &str = "read write profile";

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 12 random bytes, base64url: a `jti`, or part of a distinct token.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random generator");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| std::str::from_utf8(chunk).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A signing key generated at start, with what every verifier under test needs to check its
/// tokens: the public key as SubjectPublicKeyInfo PEM (or the HMAC secret).
pub(crate) struct BenchKey {
    /// `RS256-2048`, `ES256`, …: the label used in bench ids.
    pub(crate) name: &'static str,
    pub(crate) alg: Algorithm,
    encoding: EncodingKey,
    /// SubjectPublicKeyInfo PEM; empty for HMAC.
    pub(crate) public_pem: String,
    /// The HMAC secret (ASCII, because jwt-authorizer takes it as `&str`); empty otherwise.
    pub(crate) secret: String,
}

impl BenchKey {
    /// A fresh RSA key signing with `alg` (RS* or PS*). aws-lc-rs exports PKCS#8 DER;
    /// jsonwebtoken's `from_rsa_der` wants PKCS#1, its `from_rsa_pem` unwraps a PKCS#8
    /// "PRIVATE KEY" PEM itself (as src/mock/keys.rs does).
    pub(crate) fn rsa(name: &'static str, size: KeySize, alg: Algorithm) -> Self {
        let pair = RsaKeyPair::generate(size).expect("RSA key generation");
        let pkcs8: Pkcs8V1Der<'static> = pair.as_der().expect("PKCS#8 export");
        let encoding = EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes())
            .expect("jsonwebtoken RSA key");
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().expect("SPKI export");
        BenchKey {
            name,
            alg,
            encoding,
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
            secret: String::new(),
        }
    }

    /// A fresh P-256 key for ES256.
    pub(crate) fn es256() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
        let pkcs8 = pair.to_pkcs8v1().expect("PKCS#8 export");
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().expect("SPKI export");
        BenchKey {
            name: "ES256",
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
            secret: String::new(),
        }
    }

    /// A fresh Ed25519 key for EdDSA.
    pub(crate) fn eddsa() -> Self {
        let pair = Ed25519KeyPair::generate().expect("Ed25519 key");
        let pkcs8 = pair.to_pkcs8v1().expect("PKCS#8 export");
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().expect("SPKI export");
        BenchKey {
            name: "EdDSA",
            alg: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
            secret: String::new(),
        }
    }

    /// A fresh 64-character HMAC secret for HS256.
    pub(crate) fn hs256() -> Self {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("system random generator");
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        BenchKey {
            name: "HS256",
            alg: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            public_pem: String::new(),
            secret,
        }
    }

    /// RS256-2048, RS256-4096, PS256 (RSA-2048), ES256, EdDSA, HS256.
    pub(crate) fn every_family() -> Vec<BenchKey> {
        vec![
            BenchKey::rsa("RS256-2048", KeySize::Rsa2048, Algorithm::RS256),
            BenchKey::rsa("RS256-4096", KeySize::Rsa4096, Algorithm::RS256),
            BenchKey::rsa("PS256-2048", KeySize::Rsa2048, Algorithm::PS256),
            BenchKey::es256(),
            BenchKey::eddsa(),
            BenchKey::hs256(),
        ]
    }

    /// Signs `claims` with header `{"typ": "JWT", "alg": …}` (no `kid`).
    pub(crate) fn sign(&self, claims: &Map<String, Value>) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing")
    }

    /// bearer-guard's local verifier for this key, checking `iss` and `aud`. A PEM key gets
    /// every algorithm of its family (as jwt-authorizer's keys do).
    pub(crate) fn bearer_guard(&self) -> JwtVerifier {
        self.bearer_guard_with(ISSUER, AUDIENCE, None)
    }

    /// As [`BenchKey::bearer_guard`], for other `iss`/`aud` and optionally a `kid`.
    pub(crate) fn bearer_guard_with(
        &self,
        issuer: &str,
        audience: &str,
        kid: Option<&str>,
    ) -> JwtVerifier {
        jwt_verifier(&self.static_key(), issuer, audience, kid)
    }

    fn static_key(&self) -> StaticKey {
        if self.secret.is_empty() {
            StaticKey::public_pem(&self.public_pem)
        } else {
            StaticKey::hmac_secret(self.secret.as_bytes(), JwtAlgorithm::HS256)
        }
    }

    /// The jsonwebtoken 11 key for a raw `jsonwebtoken::decode`.
    pub(crate) fn decoding_key(&self) -> DecodingKey {
        let key = match self.alg {
            Algorithm::RS256 | Algorithm::PS256 => {
                DecodingKey::from_rsa_pem(self.public_pem.as_bytes())
            }
            Algorithm::ES256 => DecodingKey::from_ec_pem(self.public_pem.as_bytes()),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(self.public_pem.as_bytes()),
            _ => Ok(DecodingKey::from_secret(self.secret.as_bytes())),
        };
        key.expect("jsonwebtoken decoding key")
    }

    /// A jsonwebtoken 11 `Validation` with the same rules: this algorithm, `exp`, `iss`, `aud`.
    pub(crate) fn validation(&self) -> Validation {
        let mut validation = Validation::new(self.alg);
        validation.leeway = 30;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation
    }

    /// jwt-authorizer's authorizer for this key, checking `iss` and `aud`, keeping all claims
    /// (`serde_json::Value`, as bearer-guard keeps the claims map).
    pub(crate) async fn jwt_authorizer(&self) -> jwt_authorizer::Authorizer<Value> {
        let builder = match self.alg {
            Algorithm::RS256 | Algorithm::PS256 => {
                jwt_authorizer::JwtAuthorizer::<Value>::from_rsa_pem_text(&self.public_pem)
            }
            Algorithm::ES256 => {
                jwt_authorizer::JwtAuthorizer::<Value>::from_ec_pem_text(&self.public_pem)
            }
            Algorithm::EdDSA => {
                jwt_authorizer::JwtAuthorizer::<Value>::from_ed_pem_text(&self.public_pem)
            }
            _ => jwt_authorizer::JwtAuthorizer::<Value>::from_secret(&self.secret),
        };
        authorizer(builder, ISSUER, AUDIENCE).await
    }
}

/// bearer-guard's `JwtVerifier` with one static key, checking `iss` and `aud`.
pub(crate) fn jwt_verifier(
    key: &StaticKey,
    issuer: &str,
    audience: &str,
    kid: Option<&str>,
) -> JwtVerifier {
    let key = match kid {
        Some(kid) => key.clone().kid(kid),
        None => key.clone(),
    };
    JwtVerifier::builder()
        .static_key(key)
        .issuer(issuer)
        .audience(audience)
        .build()
        .expect("bearer-guard JwtVerifier")
}

/// jwt-authorizer for an RSA public key PEM, checking `iss` and `aud`, keeping all claims.
pub(crate) async fn jwt_authorizer_rsa(
    public_pem: &str,
    issuer: &str,
    audience: &str,
) -> jwt_authorizer::Authorizer<Value> {
    authorizer(
        jwt_authorizer::JwtAuthorizer::<Value>::from_rsa_pem_text(public_pem),
        issuer,
        audience,
    )
    .await
}

async fn authorizer(
    builder: jwt_authorizer::JwtAuthorizer<Value>,
    issuer: &str,
    audience: &str,
) -> jwt_authorizer::Authorizer<Value> {
    builder
        .validation(
            jwt_authorizer::Validation::new()
                .iss(&[issuer])
                .aud(&[audience]),
        )
        .build()
        .await
        .expect("jwt-authorizer")
}

/// The claims of the bench tokens: `iss`, `aud`, `sub`, `scope` (3 scopes), `iat`,
/// `exp = now + 1 h`, `jti`, two custom claims, and a `pad` of `pad` bytes.
pub(crate) fn claims(pad: usize) -> Map<String, Value> {
    let now = unix_now();
    let value = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUBJECT,
        "scope": SCOPE,
        "iat": now,
        "exp": now + 3600,
        "jti": random_id(),
        "tenant": "crm-now-partner-4711",
        "client_id": "partner-integration-vitroconnect",
        "pad": "x".repeat(pad),
    });
    match value {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object"),
    }
}

/// The pad that makes `key`'s token about [`TOKEN_LEN`] bytes long (base64url: 4 characters
/// per 3 bytes of JSON).
pub(crate) fn pad_for(key: &BenchKey) -> usize {
    let bare = key.sign(&claims(0)).len();
    TOKEN_LEN.saturating_sub(bare) * 3 / 4
}

/// A fresh token of about [`TOKEN_LEN`] bytes signed by the embedded crm-now issuer
/// (RS256-2048, `kid`, `exp = now + 1 h`), so that its `verifytoken` accepts it too.
pub(crate) fn mock_token(issuer: &MockIssuer) -> String {
    mock_token_padded(issuer, mock_pad(issuer))
}

/// The pad that makes the issuer's tokens about [`TOKEN_LEN`] bytes long.
pub(crate) fn mock_pad(issuer: &MockIssuer) -> usize {
    let bare = mock_token_padded(issuer, 0).len();
    TOKEN_LEN.saturating_sub(bare) * 3 / 4
}

/// A fresh token of the issuer with a `pad` claim of `pad` bytes (each mint has a new `jti`).
pub(crate) fn mock_token_padded(issuer: &MockIssuer, pad: usize) -> String {
    issuer
        .mint(
            MintOptions::default()
                .subject(SUBJECT)
                .scope(SCOPE)
                .lifetime(std::time::Duration::from_secs(3600))
                .claim("tenant", "crm-now-partner-4711")
                .claim("client_id", "partner-integration-vitroconnect")
                .claim("pad", "x".repeat(pad)),
        )
        .expect("mock issuer mint")
}

/// `Bearer <token>` as a prebuilt header value, shared by every request (as hyper shares the
/// bytes of a received header).
pub(crate) fn bearer(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {token}")).expect("header value")
}

/// The route every variant guards: `GET /records` answering a static body.
pub(crate) fn route() -> Router {
    Router::new().route("/records", get(|| async { "records" }))
}

/// `GET /records` with the shared `Authorization` value.
pub(crate) fn request(authorization: &HeaderValue) -> Request<Body> {
    let mut request = Request::get("/records")
        .body(Body::empty())
        .expect("request");
    request
        .headers_mut()
        .insert(AUTHORIZATION, authorization.clone());
    request
}

/// One request through `app` (`Router::oneshot`); the answer's status.
pub(crate) async fn status(app: &Router, authorization: &HeaderValue) -> u16 {
    match app.clone().oneshot(request(authorization)).await {
        Ok(response) => response.status().as_u16(),
        Err(never) => match never {},
    }
}

/// Panics unless `app` answers 200 to `authorization`: a bench that measures 401s is worthless.
pub(crate) async fn assert_ok(name: &str, app: &Router, authorization: &HeaderValue) {
    let got = status(app, authorization).await;
    assert_eq!(
        got, 200,
        "variant {name} must answer 200 before it is measured"
    );
}

/// jwt-authorizer 0.15 (built on axum 0.7) guarding [`route`] on an axum 0.8 router.
///
/// Its `AuthorizationService` needs an inner service whose response is axum 0.7's
/// `Response` (it turns its own rejections into one with `From<AuthError>`). So the route's
/// axum 0.8 response is wrapped into an axum 0.7 `Body` (`Body::new`, one box) on the way
/// in, and axum 0.8 takes jwt-authorizer's `Response<axum07::Body>` as it is
/// (`impl IntoResponse for Response<B>`, one more box). The adapter costs two small
/// allocations per request, a few tens of nanoseconds — noise next to a signature check.
pub(crate) fn jwt_authorizer_route(authorizer: jwt_authorizer::Authorizer<Value>) -> Router {
    let auth = jwt_authorizer::IntoLayer::into_layer(authorizer);
    route().layer(tower::layer::layer_fn(move |inner| {
        auth.layer(tower::util::MapResponse::new(inner, to_axum07))
    }))
}

fn to_axum07(response: Response) -> http::Response<axum07::body::Body> {
    response.map(axum07::body::Body::new)
}

/// A current-thread runtime with time and I/O.
pub(crate) fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A multi-thread runtime with `workers` worker threads.
pub(crate) fn multi_thread(workers: usize, name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The seven variants of the per-request benches (`per_request`, `interleaved`, `load_server`
/// (the first six)), in order: unguarded, tower-http static bearer, bearer-guard cache hit
/// (remote verdict), bearer-guard JWT RS256 cache on and off, jwt-authorizer RS256, and the
/// cache hit again with a Prometheus recorder bound to the guard's metric handles. All accept
/// `token`, a token of `issuer`; the cached variants use a 1 h positive TTL so a long run
/// never sees a miss.
pub(crate) fn per_request_variants(
    runtime: &tokio::runtime::Runtime,
    issuer: &MockIssuer,
    token: &str,
) -> Vec<(&'static str, Router)> {
    use bearer_guard::{BearerGuardLayer, RemoteVerifier};
    let long_ttl = std::time::Duration::from_secs(3600);
    let remote = RemoteVerifier::builder()
        .url(issuer.verify_url())
        .build()
        .expect("remote verifier");
    let remote_again = RemoteVerifier::builder()
        .url(issuer.verify_url())
        .build()
        .expect("remote verifier");
    let key = StaticKey::public_pem(issuer.public_key_pem());
    let kid = issuer.current_kid();
    let jwt = jwt_verifier(&key, issuer.issuer(), issuer.audience(), Some(&kid));
    let layer = |builder: bearer_guard::BearerGuardLayerBuilder| builder.build().expect("guard");
    #[allow(deprecated)]
    // `bearer` is deprecated in tower-http 0.6 for its timing leak; it is the floor.
    let static_bearer =
        route().layer(tower_http::validate_request::ValidateRequestHeaderLayer::bearer(token));
    let jwt_authorizer = jwt_authorizer_route(runtime.block_on(jwt_authorizer_rsa(
        &issuer.public_key_pem(),
        issuer.issuer(),
        issuer.audience(),
    )));
    vec![
        ("unguarded", route()),
        ("tower_http_static_bearer", static_bearer),
        (
            "bearer_guard_cache_hit",
            route().layer(layer(
                BearerGuardLayer::builder(remote).positive_ttl(long_ttl),
            )),
        ),
        (
            "bearer_guard_jwt_rs256_cache_on",
            route().layer(layer(
                BearerGuardLayer::builder(jwt.clone()).positive_ttl(long_ttl),
            )),
        ),
        (
            "bearer_guard_jwt_rs256_cache_off",
            route().layer(layer(BearerGuardLayer::builder(jwt).cache_capacity(0))),
        ),
        ("jwt_authorizer_rs256", jwt_authorizer),
        (
            "bearer_guard_cache_hit_prometheus",
            route().layer(with_prometheus(|| {
                layer(BearerGuardLayer::builder(remote_again).positive_ttl(long_ttl))
            })),
        ),
    ]
}

/// Runs `build` with a Prometheus recorder as the thread's recorder, so the guard built there
/// binds its metric handles to it (the hit path then does its real atomic adds). The recorder
/// is kept for the life of the process, as an application's would be; it is not installed
/// globally, so the other variants stay without metrics.
fn with_prometheus<T>(build: impl FnOnce() -> T) -> T {
    static RECORDER: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusRecorder> =
        std::sync::OnceLock::new();
    let recorder = RECORDER
        .get_or_init(|| metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder());
    metrics::with_local_recorder(recorder, build)
}

/// One algorithm's token and the three things that check it, each already seen to accept it:
/// bearer-guard's verifier, raw jsonwebtoken (key + `Validation`), jwt-authorizer.
pub(crate) struct VerifyCase {
    pub(crate) token: String,
    pub(crate) bearer_token: bearer_guard::BearerToken,
    pub(crate) verifier: JwtVerifier,
    pub(crate) decoding: DecodingKey,
    pub(crate) validation: Validation,
    pub(crate) authorizer: jwt_authorizer::Authorizer<Value>,
}

impl VerifyCase {
    /// Signs `claims` with `key` and builds the three checkers; panics unless all accept.
    pub(crate) fn new(
        key: &BenchKey,
        claims: &Map<String, Value>,
        runtime: &tokio::runtime::Runtime,
    ) -> Self {
        use bearer_guard::{Verdict, Verifier as _};
        let token = key.sign(claims);
        eprintln!("{}: token length {} bytes", key.name, token.len());
        let case = VerifyCase {
            bearer_token: bearer_guard::BearerToken::new(token.as_str()),
            verifier: key.bearer_guard(),
            decoding: key.decoding_key(),
            validation: key.validation(),
            authorizer: runtime.block_on(key.jwt_authorizer()),
            token,
        };
        runtime.block_on(async {
            let verdict = case.verifier.verify(&case.bearer_token).await;
            assert!(
                matches!(verdict, Verdict::Valid(_)),
                "{}: bearer-guard said {verdict:?}",
                key.name
            );
            let checked = case.authorizer.check_auth(&case.token).await;
            assert!(
                checked.is_ok(),
                "{}: jwt-authorizer said {:?}",
                key.name,
                checked.err()
            );
        });
        let decoded = case.decode();
        assert!(
            decoded.is_ok(),
            "{}: jsonwebtoken said {:?}",
            key.name,
            decoded.err()
        );
        case
    }

    /// Raw jsonwebtoken's check of the token.
    pub(crate) fn decode(
        &self,
    ) -> jsonwebtoken::errors::Result<jsonwebtoken::TokenData<Map<String, Value>>> {
        jsonwebtoken::decode::<Map<String, Value>>(
            std::hint::black_box(&self.token),
            &self.decoding,
            &self.validation,
        )
    }
}
