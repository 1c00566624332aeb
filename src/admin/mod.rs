//! The admin listener's routes: `POST /revoke` (see [`admin_router`]).
//!
//! Serve the router on its own listener (the demo and the sidecar bind `GUARD_ADMIN_LISTEN`),
//! never on the API's: the API listener has no admin routes.
//!
//! | request | answer |
//! |---|---|
//! | `POST /revoke`, `Authorization: Bearer <admin token>`, form body `token=<token>` | 204: revoked (in every replica sharing the Redis, when a shared cache is configured) |
//! | a missing or wrong admin token | 401 with `WWW-Authenticate: Bearer realm="admin"` |
//! | a body that is not one `token=` field, or a malformed token | 400 |
//! | a body over 16 KiB | 413 |
//! | not `application/x-www-form-urlencoded` | 415 |
//! | the shared cache unreachable | 503 with `Retry-After`: revoked in this process only |
//!
//! The admin token is compared in constant time (both sides are HMAC-ed under a random key,
//! then the tags compared), so neither its bytes nor its length leak through timing.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the admin listener's docs and answers table |
//! | `revoke.rs` | `admin_router`: `POST /revoke` |
//! | `auth.rs` | the admin token, compared in constant time (HMAC both sides) |

mod auth;
mod revoke;

pub use revoke::{ADMIN_REALM, MAX_ADMIN_BODY, MIN_ADMIN_TOKEN_LEN, admin_router};
