//! Configuration from `GUARD_*` environment variables, shared by the demo and any binary.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `GUARD_LISTEN` | address to bind | `127.0.0.1:8080` |
//! | `GUARD_MODE` | `remote`, `jwt`, `auto`, `introspect` or `bitrix24` | `remote` if only `GUARD_VERIFY_URL` is set, `jwt` if only a key source is set, `auto` if both; `introspect` if only `GUARD_INTROSPECTION_URL` is set, `bitrix24` if only `GUARD_BITRIX24_PORTAL` is set (other combinations need `GUARD_MODE`) |
//! | `GUARD_VERIFY_URL` | crm-now `verifytoken` endpoint | none |
//! | `GUARD_VERIFY_ENCODING` | `urlencoded` or `multipart` | `urlencoded` |
//! | `GUARD_JWKS_URL` | JWKS document for local JWT checks | none |
//! | `GUARD_JWT_PUBLIC_KEY` | path to a PEM public key for local JWT checks | none |
//! | `GUARD_INTROSPECTION_URL` | RFC 7662 introspection endpoint ([`IntrospectionVerifier`]) | none |
//! | `GUARD_INTROSPECTION_CLIENT_ID`, `GUARD_INTROSPECTION_CLIENT_SECRET` | the resource server's own client credentials, sent as `Authorization: Basic base64(urlencode(id):urlencode(secret))` (both or neither) | none: no client authentication |
//! | `GUARD_BITRIX24_PORTAL` | base URL of one Bitrix24 portal, e.g. `https://example.bitrix24.de` ([`Bitrix24Verifier`]) | none |
//! | `GUARD_BITRIX24_APP_CODE` | the application code (`CODE` in `app.info`) tokens must belong to | none: any application of the portal |
//! | `GUARD_ISSUER` | accepted `iss` values, comma-separated (JWTs and introspection answers) | any |
//! | `GUARD_AUDIENCE` | accepted `aud` values, comma-separated (JWTs and introspection answers) | any |
//! | `GUARD_REQUIRE_AT_JWT` | `true`: JWTs must carry the header `typ: at+jwt` (RFC 9068); `false`: no `typ`, `JWT` or `at+jwt` | `false` |
//! | `GUARD_CACHE_TTL_SECS` | longest reuse of a valid verdict | 300 |
//! | `GUARD_NEGATIVE_TTL_SECS` | how long a rejected token is remembered | 10 |
//! | `GUARD_REALM` | realm of `WWW-Authenticate` challenges | `api` |
//! | `GUARD_ALLOW_PLAIN_HTTP` | `true` allows `http://` URLs off loopback | `false` |
//! | `GUARD_HTTPS_PROXY` | forward proxy for `https://` verify and JWKS calls (never for `http://` ones) | none: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` are ignored |
//! | `GUARD_REDIS_URL` | `redis://host:port[/db]` or `rediss://…`: verdicts shared by every replica using the same Redis and secret (feature `redis`; without it, setting this is an error) | none: in-process cache only |
//! | `GUARD_CACHE_SECRET` | the shared secret (at least 32 bytes) replicas derive cache keys and entry MAC keys from; read as is | required with `GUARD_REDIS_URL` |
//! | `GUARD_REDIS_TIMEOUT_MS` | longest wait for one Redis call (1–10000, and at most a quarter of the verify timeout: 2500 with the default 10 s) | 100 |
//! | `GUARD_REVOCATION_TTL_SECS` | how long a revoked token stays refused (1–604800) | 3600 |
//! | `GUARD_ADMIN_LISTEN` | address of the admin listener (`POST /revoke`, [`admin`](crate::admin)) | none: off |
//! | `GUARD_ADMIN_TOKEN` | the bearer token the admin listener requires (at least 16 bytes); read as is | required with `GUARD_ADMIN_LISTEN` |
//!
//! An empty variable counts as unset. A bad value is a [`ConfigError`] that names the
//! variable.
//!
//! The secret settings (`GUARD_INTROSPECTION_CLIENT_SECRET`, `GUARD_CACHE_SECRET`,
//! `GUARD_ADMIN_TOKEN`, and `GUARD_REDIS_URL`, which may carry a password) are kept as
//! [`Secret`]s: never shown, wiped on drop, read only through
//! [`expose_secret`](Secret::expose_secret) where they are used.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | these docs, [`DEFAULT_LISTEN`], re-exports |
//! | `guard_config.rs` | [`GuardConfig`]: the settings as fields, its redacting `Debug` |
//! | `mode.rs` | [`Mode`], and which mode the configured sources imply or allow |
//! | `env.rs` | reading the variables: [`GuardConfig::from_env`], [`GuardConfig::from_lookup`] |
//! | `replicas.rs` | reading the replica variables: Redis, cache secret, revocation, admin listener |
//! | `parts.rs` | what the settings build, each builder's [`ConfigError`] put under its variable: [`GuardConfig::verifier`], [`GuardConfig::layer`], [`GuardConfig::admin_router`] |
//! | `shared_partition.rs` | the shared tier's partition: a fingerprint of the settings that decide validity |

mod env;
mod guard_config;
mod mode;
mod parts;
mod replicas;
#[cfg(feature = "redis")]
mod shared_partition;

pub use guard_config::GuardConfig;
pub use mode::Mode;

#[cfg(doc)]
use crate::error::ConfigError;
#[cfg(doc)]
use crate::secret::Secret;
#[cfg(doc)]
use crate::verify::{Bitrix24Verifier, IntrospectionVerifier};

/// Default `GUARD_LISTEN`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
