//! Shared helpers for the JWT tests: keys and tokens minted at test time, a real JWKS and
//! discovery server on 127.0.0.1 (fetch counters, failure switch, stop/restart, key rotation),
//! and a guarded axum router.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _,
};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bearer_guard::{BearerGuardLayer, Principal, Verifier};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh random id (for `jti` and random `kid`s).
pub fn random_id() -> String {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Claims valid for 5 minutes (`sub`, `iat`, `exp`, a unique `jti`), with `extra` merged in; a
/// `null` in `extra` removes the claim.
pub fn claims(extra: Value) -> Value {
    let mut base = json!({
        "sub": "alice",
        "iat": now(),
        "exp": now() + 300,
        "jti": random_id()});
    if let (Some(map), Value::Object(extra)) = (base.as_object_mut(), extra) {
        for (name, value) in extra {
            if value.is_null() {
                map.remove(&name);
            } else {
                map.insert(name, value);
            }
        }
    }
    base
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A signing key of any family, with its public half as PEM and as a JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    encoding: Arc<EncodingKey>,
    /// SubjectPublicKeyInfo PEM (empty for HMAC).
    pub public_pem: String,
    /// The public JWK without `kid`/`alg`/`use` (empty object for HMAC).
    jwk_params: Value,
    /// The HMAC secret (empty for public-key families).
    pub secret: Vec<u8>,
}

impl TestKey {
    /// A fresh RSA-2048 key for RS256.
    pub fn rsa(kid: &str) -> Self {
        Self::rsa_for(kid, Algorithm::RS256)
    }

    /// A fresh RSA-2048 key signing with `alg` (RS* or PS*).
    pub fn rsa_for(kid: &str, alg: Algorithm) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8: Pkcs8V1Der<'static> = pair.as_der().unwrap();
        let encoding =
            EncodingKey::from_rsa_pem(pem("PRIVATE KEY", pkcs8.as_ref()).as_bytes()).unwrap();
        let public = pair.public_key();
        let spki: PublicKeyX509Der<'static> = public.as_der().unwrap();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        TestKey {
            kid: Some(kid.to_owned()),
            alg,
            encoding: Arc::new(encoding),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
            jwk_params: json!({"kty": "RSA", "n": n, "e": e}),
            secret: Vec::new(),
        }
    }

    /// A fresh P-256 key for ES256.
    pub fn ec(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().unwrap();
        TestKey {
            kid: Some(kid.to_owned()),
            alg: Algorithm::ES256,
            encoding: Arc::new(EncodingKey::from_ec_der(pkcs8.as_ref())),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
            jwk_params: json!({
                "kty": "EC", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65])}),
            secret: Vec::new(),
        }
    }

    /// A fresh P-384 key for ES384.
    pub fn ec384(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().unwrap();
        TestKey {
            kid: Some(kid.to_owned()),
            alg: Algorithm::ES384,
            encoding: Arc::new(EncodingKey::from_ec_der(pkcs8.as_ref())),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
            jwk_params: json!({
                "kty": "EC", "crv": "P-384",
                "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
                "y": URL_SAFE_NO_PAD.encode(&point[49..97])}),
            secret: Vec::new(),
        }
    }

    /// The same key, signing with another algorithm of its family (RS*/PS*, HS*).
    pub fn signing_with(&self, alg: Algorithm) -> Self {
        let mut key = self.clone();
        key.alg = alg;
        key
    }

    /// A fresh Ed25519 key for EdDSA.
    pub fn ed(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().unwrap();
        let pkcs8 = pair.to_pkcs8v1().unwrap();
        let spki: PublicKeyX509Der<'static> = pair.public_key().as_der().unwrap();
        TestKey {
            kid: Some(kid.to_owned()),
            alg: Algorithm::EdDSA,
            encoding: Arc::new(EncodingKey::from_ed_der(pkcs8.as_ref())),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
            jwk_params: json!({
                "kty": "OKP", "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())}),
            secret: Vec::new(),
        }
    }

    /// A fresh 64-byte HMAC secret for HS256.
    pub fn hmac(kid: &str) -> Self {
        let mut secret = vec![0u8; 64];
        aws_lc_rs::rand::fill(&mut secret).unwrap();
        Self::hmac_from(kid, &secret)
    }

    /// HS256 with the given secret (for key-confusion tokens).
    pub fn hmac_from(kid: &str, secret: &[u8]) -> Self {
        TestKey {
            kid: Some(kid.to_owned()),
            alg: Algorithm::HS256,
            encoding: Arc::new(EncodingKey::from_secret(secret)),
            public_pem: String::new(),
            jwk_params: json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(secret)}),
            secret: secret.to_vec(),
        }
    }

    /// The same key, signing without a `kid` in the header.
    pub fn without_kid(mut self) -> Self {
        self.kid = None;
        self
    }

    /// The same key under another `kid`.
    pub fn with_kid(&self, kid: &str) -> Self {
        let mut key = self.clone();
        key.kid = Some(kid.to_owned());
        key
    }

    /// The public JWK with `kid`, `alg` and `use: sig`.
    pub fn jwk(&self) -> Value {
        let mut jwk = self.jwk_without_alg();
        jwk["alg"] = json!(format!("{:?}", self.alg));
        jwk
    }

    /// The public JWK with `kid` and `use: sig` but no `alg`.
    pub fn jwk_without_alg(&self) -> Value {
        let mut jwk = self.jwk_params.clone();
        if let Some(kid) = &self.kid {
            jwk["kid"] = json!(kid);
        }
        jwk["use"] = json!("sig");
        jwk
    }

    /// Signs `claims` with header `{alg, typ: "JWT", kid?}`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = self.kid.clone();
        self.sign_with_header(header, claims)
    }

    /// A token of this key with the default [`claims`] (valid for 300 s from now).
    pub fn fresh_token(&self) -> String {
        self.sign(&claims(json!({})))
    }

    /// Signs `claims` with the given header (its `alg` must fit this key).
    pub fn sign_with_header(&self, header: Header, claims: &Value) -> String {
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// A compact JWT built by hand: base64url(header).base64url(payload).signature.
pub fn raw_token(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        signature
    )
}

/// Replaces the payload of a signed token, keeping header and signature.
pub fn tamper_payload(token: &str, payload: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    )
}

struct ServerState {
    base: String,
    keys: Mutex<Vec<Value>>,
    jwks_hits: AtomicUsize,
    discovery_hits: AtomicUsize,
    failing: AtomicBool,
    cache_control: Mutex<Option<String>>,
    discovery_issuer: Mutex<Option<String>>,
    discovery_jwks_uri: Mutex<Option<String>>,
    discovery_padding: AtomicUsize,
    last_user_agent: Mutex<Option<String>>,
}

/// A real JWKS + discovery server on 127.0.0.1. Every answer carries `Connection: close`, so
/// a stopped server really refuses the next fetch (no pooled connection survives).
pub struct JwksServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl JwksServer {
    /// Starts serving `keys` at `/jwks.json` and a discovery document at
    /// `/.well-known/openid-configuration` (issuer = the server's base URL).
    pub async fn start(keys: Vec<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ServerState {
            base: format!("http://{addr}"),
            keys: Mutex::new(keys),
            jwks_hits: AtomicUsize::new(0),
            discovery_hits: AtomicUsize::new(0),
            failing: AtomicBool::new(false),
            cache_control: Mutex::new(None),
            discovery_issuer: Mutex::new(None),
            discovery_jwks_uri: Mutex::new(None),
            discovery_padding: AtomicUsize::new(0),
            last_user_agent: Mutex::new(None),
        });
        let server = JwksServer {
            addr,
            state,
            task: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(Arc::clone(&self.state));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.task.lock().unwrap() = Some(task);
    }

    /// `http://127.0.0.1:<port>`: also the issuer named by the discovery document.
    pub fn base_url(&self) -> String {
        self.state.base.clone()
    }

    /// The JWKS URL.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.state.base)
    }

    /// Replaces the served keys (rotation, removal).
    pub fn set_keys(&self, keys: Vec<Value>) {
        *self.state.keys.lock().unwrap() = keys;
    }

    /// How many JWKS requests reached the server.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// How many discovery requests reached the server.
    pub fn discovery_fetches(&self) -> usize {
        self.state.discovery_hits.load(Ordering::SeqCst)
    }

    /// While `true`, the JWKS answers 500.
    pub fn set_failing(&self, failing: bool) {
        self.state.failing.store(failing, Ordering::SeqCst);
    }

    /// A `Cache-Control` header for JWKS answers.
    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.state.cache_control.lock().unwrap() = value.map(str::to_owned);
    }

    /// The `issuer` the discovery document names (default: the base URL).
    pub fn set_discovery_issuer(&self, issuer: &str) {
        *self.state.discovery_issuer.lock().unwrap() = Some(issuer.to_owned());
    }

    /// The `jwks_uri` the discovery document names (default: this server's JWKS URL).
    pub fn set_discovery_jwks_uri(&self, uri: &str) {
        *self.state.discovery_jwks_uri.lock().unwrap() = Some(uri.to_owned());
    }

    /// Pads the discovery document with an extra member of `bytes` characters (0: none).
    pub fn set_discovery_padding(&self, bytes: usize) {
        self.state.discovery_padding.store(bytes, Ordering::SeqCst);
    }

    /// The `User-Agent` of the last JWKS request.
    pub fn last_user_agent(&self) -> Option<String> {
        self.state.last_user_agent.lock().unwrap().clone()
    }

    /// Stops listening: the next fetch is refused.
    pub async fn stop(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port, with the same keys and counters.
    pub async fn restart(&self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

async fn jwks(State(state): State<Arc<ServerState>>, headers: HeaderMap) -> Response {
    state.jwks_hits.fetch_add(1, Ordering::SeqCst);
    *state.last_user_agent.lock().unwrap() = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if state.failing.load(Ordering::SeqCst) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONNECTION, "close")],
            "down",
        )
            .into_response();
    }
    let keys = state.keys.lock().unwrap().clone();
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONNECTION, "close"),
        ],
        json!({ "keys": keys }).to_string(),
    )
        .into_response();
    if let Some(value) = state.cache_control.lock().unwrap().clone() {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

async fn discovery(State(state): State<Arc<ServerState>>) -> Response {
    state.discovery_hits.fetch_add(1, Ordering::SeqCst);
    let issuer = state
        .discovery_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| state.base.clone());
    let jwks_uri = state
        .discovery_jwks_uri
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| format!("{}/jwks.json", state.base));
    let mut document = json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "token_endpoint": format!("{}/token", state.base)});
    let padding = state.discovery_padding.load(Ordering::SeqCst);
    if padding > 0 {
        document["padding"] = Value::String("x".repeat(padding));
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONNECTION, "close"),
        ],
        document.to_string(),
    )
        .into_response()
}

/// A router with one guarded route, `/me`, answering the principal as JSON:
/// `{"sub", "scopes", "owner_kind", "owner_id", "source"}`.
pub fn guarded(verifier: impl Verifier) -> Router {
    guarded_by(BearerGuardLayer::new(verifier))
}

/// As [`guarded`], with a layer built by the caller.
pub fn guarded_by(layer: BearerGuardLayer) -> Router {
    Router::new().route("/me", get(me)).layer(layer)
}

async fn me(principal: Principal) -> String {
    json!({
        "sub": principal.subject(),
        "scopes": principal.scopes().collect::<Vec<_>>(),
        "owner_kind": principal.owner().map(|o| o.kind().as_str()),
        "owner_id": principal.owner().map(|o| o.id()),
        "source": principal.source().as_str()})
    .to_string()
}

/// Sends `GET /me` with `Authorization: Bearer <token>`; returns the status and the JSON body
/// (`null` when the body is not JSON).
pub async fn call(router: &Router, token: &str) -> (StatusCode, Value) {
    let request = Request::get("/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The status of `GET /me` with `token`.
pub async fn status(router: &Router, token: &str) -> StatusCode {
    call(router, token).await.0
}

/// Reads a fixture token (trimmed).
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

// Verdict helpers and the static-key verifier shared by the jwt_* and jwks_* test files.

/// The issuer and audience of [`verifier_for`] and [`good_claims`].
pub const ISS: &str = "https://issuer.test";
pub const AUD: &str = "orders-api";

/// How long the JWKS tests wait for a background fetch.
pub const WAIT: Duration = Duration::from_secs(5);

pub async fn verdict(verifier: &impl Verifier, token: &str) -> bearer_guard::Verdict {
    verifier
        .verify(&bearer_guard::BearerToken::new(token))
        .await
}

pub fn is_valid(v: &bearer_guard::Verdict) -> bool {
    matches!(v, bearer_guard::Verdict::Valid(_))
}

pub fn invalid_reason(v: &bearer_guard::Verdict) -> Option<String> {
    match v {
        bearer_guard::Verdict::Invalid(reason) => Some(reason.as_str().to_owned()),
        _ => None,
    }
}

/// `valid`, `invalid: <reason>` or `unavailable`.
pub fn reason(v: &bearer_guard::Verdict) -> String {
    match v {
        bearer_guard::Verdict::Valid(_) => "valid".into(),
        bearer_guard::Verdict::Invalid(reason) => format!("invalid: {reason}"),
        bearer_guard::Verdict::Unavailable(_) => "unavailable".into(),
        _ => "other".into(),
    }
}

/// A verifier with one static key for `key`'s family, issuer and audience configured.
pub fn verifier_for(key: &TestKey) -> bearer_guard::JwtVerifier {
    use bearer_guard::{JwtAlgorithm, JwtVerifier, StaticKey};
    let mut static_key = if key.secret.is_empty() {
        StaticKey::public_pem(&key.public_pem)
    } else {
        let alg = JwtAlgorithm::from_name(&format!("{:?}", key.alg)).unwrap();
        StaticKey::hmac_secret(&key.secret, alg)
    };
    if let Some(kid) = &key.kid {
        static_key = static_key.kid(kid.clone());
    }
    JwtVerifier::builder()
        .static_key(static_key)
        .issuer(ISS)
        .audience(AUD)
        .build()
        .unwrap()
}

pub fn good_claims() -> Value {
    claims(json!({"iss": ISS, "aud": AUD, "scope": "orders:read"}))
}

/// A JWT verifier builder fetching `server`'s JWKS.
pub fn jwks_verifier(server: &JwksServer) -> bearer_guard::JwtVerifierBuilder {
    bearer_guard::JwtVerifier::builder().jwks_url(server.jwks_url())
}

/// A league/oauth2-server token as 1CRM issues it: RS256, no kid, `jti` in the header,
/// `scopes` array, `sub: "Users:1"`, `aud` = client id, no `iss`.
pub fn league_token(key: &TestKey, sub: &str, scopes: &[&str]) -> String {
    let jti = random_id();
    let mut header = Header::new(Algorithm::RS256);
    header.extras.insert("jti", &jti);
    key.sign_with_header(
        header,
        &json!({
            "aud": "12ecb25c-35fb-d29e-bb66-5a903a048b06",
            "jti": jti,
            "iat": now(),
            "nbf": now(),
            "exp": now() + 3600,
            "sub": sub,
            "scopes": scopes}),
    )
}
