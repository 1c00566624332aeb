//! Why a test process did not start.

use std::time::Duration;

/// Why a test process (such as `RedisServer`, feature `redis-server`) did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// The program is not installed (or does not run); the message says how to install it.
    #[error("{program} is not installed or does not run: {install}")]
    NotInstalled {
        /// The program, e.g. `redis-server`.
        program: &'static str,
        /// How to install it.
        install: &'static str,
    },
    /// A free port, a temporary directory or the child process could not be had.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The program started but did not become ready (or exited) in every try.
    #[error("{program} was not ready on 127.0.0.1 after {tries} tries of at most {within:?} each")]
    NotReady {
        /// The program.
        program: &'static str,
        /// How many times it was started.
        tries: u32,
        /// How long each start was waited for.
        within: Duration,
    },
}
