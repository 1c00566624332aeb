//! Real server processes for tests and benches, on `127.0.0.1` only: a free port, and (feature
//! `redis-server`) a real `RedisServer`.
//!
//! Every process started here is killed and reaped when its handle is dropped, also when the
//! test panics (unwinding runs `Drop`); every wait is bounded in tries and in time. A machine
//! without the program fails with an error saying how to install it: nothing is skipped.
//!
//! ```
//! let port = bearer_guard_mock::process::free_port()?;
//! assert_ne!(port, 0);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | real server processes for tests and benches (127.0.0.1 only, bounded waits, killed on drop): docs and re-exports |
//! | `port.rs` | `free_port`: a loopback port nothing listens on (the tests', the sidecar tests' and nginx's) |
//! | `redis.rs` | `RedisServer` (feature `redis-server`): a real `redis-server` on a free port, `PING`-ready (bounded), a temporary `--dir`, kill/pause/resume/restart, the tests' Redis reads and writes; killed and reaped on drop. The one copy the shared-cache tests (`tests/common/redis_server.rs` re-exports it) and the benches use |
//! | `error.rs` | `ProcessError`: not installed (with how to install it), an I/O failure, not ready in time |

mod error;
mod port;
#[cfg(feature = "redis-server")]
mod redis;

pub use error::ProcessError;
pub use port::free_port;
#[cfg(feature = "redis-server")]
pub use redis::RedisServer;
