//! The real `redis-server` the shared-cache tests start on a free 127.0.0.1 port (waited for
//! until it answers `PING`, bounded; killed on drop; SIGSTOP/SIGCONT; restart on the same
//! port). One copy, in the mock crate (feature `redis-server`), serves the tests and the
//! benches. A machine without `redis-server` fails the test with a message saying to install
//! it (CI installs it in `.ci/run`): nothing is skipped.

pub use bearer_guard_mock::process::RedisServer;
