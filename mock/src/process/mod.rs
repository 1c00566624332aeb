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

mod error;
mod port;
#[cfg(feature = "redis-server")]
mod redis;

pub use error::ProcessError;
pub use port::free_port;
#[cfg(feature = "redis-server")]
pub use redis::RedisServer;
