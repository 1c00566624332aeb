//! A real `redis-server` as a child process (feature `redis-server`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{ProcessError, free_port};

/// Where Debian's package puts the server; `PATH` is searched too.
const CANDIDATES: [&str; 2] = ["/usr/bin/redis-server", "redis-server"];

/// How to install it.
const INSTALL: &str = "the shared-cache tests and benches need a real Redis \
                       (`apt-get install redis-server`; .ci/run installs it)";

/// How many free ports [`RedisServer::try_start`] tries (another process may take one first).
const START_TRIES: u32 = 5;

/// How long one start waits for `PING` to be answered.
const READY_WAIT: Duration = Duration::from_secs(10);

/// How often the readiness wait asks.
const READY_POLL: Duration = Duration::from_millis(20);

/// How long [`RedisServer::restart`] tries the same port in all (the old socket may linger; a
/// saved snapshot is loaded meanwhile).
const RESTART_WITHIN: Duration = Duration::from_secs(15);

/// The pause between two restart tries.
const RESTART_PAUSE: Duration = Duration::from_millis(100);

/// A running `redis-server` on a free `127.0.0.1` port, for tests and benches.
///
/// Started with `--bind 127.0.0.1 --protected-mode yes --save '' --appendonly no` and its
/// working directory (`--dir`) in a temporary directory removed on drop, and waited for until
/// it answers `PING` (at most 10 s per try, 5 tries on fresh ports). It is killed (SIGKILL)
/// and reaped on drop. It can be killed, stopped (SIGSTOP), continued (SIGCONT) and restarted
/// empty (or from a [`save`](Self::save)d snapshot) on the same port. The inspection helpers ([`keys`](Self::keys), [`get`](Self::get),
/// …) talk to it over a plain connection with 2 s timeouts and panic on failure, as a test
/// wants.
///
/// ```no_run
/// use bearer_guard_mock::process::RedisServer;
///
/// let redis = RedisServer::try_start()?;
/// assert!(redis.url().starts_with("redis://127.0.0.1:"));
/// assert!(redis.ping());
/// # Ok::<(), bearer_guard_mock::process::ProcessError>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    program: &'static str,
    child: Option<Child>,
    port: u16,
    stopped: bool,
    dir: tempfile::TempDir,
    /// Arguments added after the defaults ([`try_start_with`](Self::try_start_with)).
    extra: Vec<String>,
}

/// The first candidate that runs `--version`.
fn program() -> Result<&'static str, ProcessError> {
    CANDIDATES
        .into_iter()
        .find(|candidate| {
            Command::new(candidate)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .ok_or(ProcessError::NotInstalled {
            program: "redis-server",
            install: INSTALL,
        })
}

impl RedisServer {
    /// Starts a server on a free port, waiting until it answers `PING`.
    ///
    /// # Errors
    ///
    /// [`ProcessError::NotInstalled`] without `redis-server`; [`ProcessError::NotReady`] when
    /// none of 5 starts answered within 10 s; [`ProcessError::Io`] when no port, temporary
    /// directory or child process could be had.
    pub fn try_start() -> Result<Self, ProcessError> {
        Self::try_start_with(&[])
    }

    /// [`try_start`](Self::try_start) with `args` added after the default arguments (a later
    /// `--maxmemory-policy` or `--rename-command` wins), on every start and restart.
    ///
    /// # Errors
    ///
    /// As [`try_start`](Self::try_start); arguments the server refuses make it exit, which is
    /// [`ProcessError::NotReady`].
    pub fn try_start_with(args: &[&str]) -> Result<Self, ProcessError> {
        let program = program()?;
        let dir = tempfile::Builder::new()
            .prefix("bearer-guard-redis-")
            .tempdir()
            .map_err(|source| ProcessError::Io {
                what: "temporary directory for redis-server",
                source,
            })?;
        let mut server = RedisServer {
            program,
            child: None,
            port: 0,
            stopped: false,
            dir,
            extra: args.iter().map(|arg| (*arg).to_owned()).collect(),
        };
        for _ in 0..START_TRIES {
            server.port = free_port().map_err(|source| ProcessError::Io {
                what: "bind 127.0.0.1:0",
                source,
            })?;
            if server.spawn()? {
                return Ok(server);
            }
        }
        Err(ProcessError::NotReady {
            program: "redis-server",
            tries: START_TRIES,
            within: READY_WAIT,
        })
    }

    /// [`try_start`](Self::try_start), for tests.
    ///
    /// # Panics
    ///
    /// When it does not start; the message says why (and how to install `redis-server`).
    pub fn start() -> Self {
        Self::try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`try_start_with`](Self::try_start_with), for tests.
    ///
    /// # Panics
    ///
    /// When it does not start; the message says why.
    pub fn start_with(args: &[&str]) -> Self {
        Self::try_start_with(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts the child on `self.port`; whether it answered within [`READY_WAIT`] (else it is
    /// killed).
    fn spawn(&mut self) -> Result<bool, ProcessError> {
        self.spawn_within(READY_WAIT)
    }

    /// Starts the child on `self.port`; whether it answered within `within` (else it is
    /// killed).
    fn spawn_within(&mut self, within: Duration) -> Result<bool, ProcessError> {
        let child = Command::new(self.program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| ProcessError::Io {
                what: "spawn redis-server",
                source,
            })?;
        self.child = Some(child);
        self.stopped = false;
        if self.wait_ready(within) {
            Ok(true)
        } else {
            self.kill();
            Ok(false)
        }
    }

    /// Whether `PING` is answered within `within`; false at once when the child exited (its
    /// port was taken).
    fn wait_ready(&mut self, within: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(child) = &mut self.child
                && let Ok(Some(_)) = child.try_wait()
            {
                return false;
            }
            // A PING alone could be answered by another test's server that took the port
            // first (our child then exits): the answer must come from our process.
            if self.ping() && self.answers_as_ours() {
                return true;
            }
            std::thread::sleep(READY_POLL);
        }
        false
    }

    /// Whether the server on the port is our child (`INFO server`'s `process_id`).
    fn answers_as_ours(&self) -> bool {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return false;
        };
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
        let Ok(info) = redis::cmd("INFO").arg("server").query::<String>(&mut conn) else {
            return false;
        };
        info.lines()
            .filter_map(|line| line.strip_prefix("process_id:"))
            .any(|id| id.trim() == pid.to_string())
    }

    /// One `PING` with 200 ms timeouts: whether it was answered.
    pub fn ping(&self) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
        redis::cmd("PING").query::<String>(&mut conn).is_ok()
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Sends `signal` (`-STOP`, `-CONT`) with `kill`.
    fn signal(&self, signal: &str) {
        let pid = self
            .child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("redis-server is not running"));
        let status = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill {signal}: {e}"));
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    /// SIGKILL (after SIGCONT when stopped), and reaped. Nothing when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.stopped {
                let _ = Command::new("kill")
                    .args(["-CONT", &child.id().to_string()])
                    .status();
                self.stopped = false;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGSTOP: the process stays, its sockets stay open, nothing is answered.
    ///
    /// # Panics
    ///
    /// When it is not running or `kill` fails.
    pub fn pause(&mut self) {
        self.signal("-STOP");
        self.stopped = true;
    }

    /// SIGCONT.
    ///
    /// # Panics
    ///
    /// When it is not running or `kill` fails.
    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.stopped = false;
    }

    /// Kills it and starts it again on the same port, empty unless [`save`](Self::save) wrote a
    /// snapshot (then it loads it, answering `-LOADING` meanwhile, and this waits until it
    /// answers `PING`): tries 100 ms apart, each waiting for an answer at most as long as is
    /// left of 15 s in all (so it returns or panics within about 15 s).
    ///
    /// # Panics
    ///
    /// When it does not answer on that port again within 15 s.
    pub fn restart(&mut self) {
        self.kill();
        let started = Instant::now();
        let mut tries = 0_u32;
        while let Some(left) = RESTART_WITHIN.checked_sub(started.elapsed()) {
            tries += 1;
            match self.spawn_within(left) {
                Ok(true) => return,
                Ok(false) => std::thread::sleep(RESTART_PAUSE.min(left)),
                Err(e) => panic!("{e}"),
            }
        }
        panic!(
            "redis-server did not restart on port {} within {RESTART_WITHIN:?} ({tries} tries)",
            self.port
        );
    }

    /// A plain client connection with 2 s timeouts (for the test's own reads and writes).
    ///
    /// # Panics
    ///
    /// When it cannot connect.
    pub fn connection(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).unwrap_or_else(|e| panic!("client: {e}"));
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connect to redis: {e}"));
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
        conn
    }

    /// Runs `command` on a fresh [`connection`](Self::connection).
    fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd, what: &str) -> T {
        command
            .query(&mut self.connection())
            .unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Every key matching `pattern` (`KEYS`).
    ///
    /// # Panics
    ///
    /// When Redis does not answer.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.query(redis::cmd("KEYS").arg(pattern), "KEYS")
    }

    /// The raw value at `key` (`GET`).
    ///
    /// # Panics
    ///
    /// When Redis does not answer.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.query(redis::cmd("GET").arg(key), "GET")
    }

    /// `SET key value PX ttl_ms`.
    ///
    /// # Panics
    ///
    /// When Redis does not answer.
    pub fn set(&self, key: &str, value: &[u8], ttl_ms: u64) {
        self.query::<()>(
            redis::cmd("SET").arg(key).arg(value).arg("PX").arg(ttl_ms),
            "SET",
        );
    }

    /// `PTTL key`.
    ///
    /// # Panics
    ///
    /// When Redis does not answer.
    pub fn pttl(&self, key: &str) -> i64 {
        self.query(redis::cmd("PTTL").arg(key), "PTTL")
    }

    /// `CLIENT KILL TYPE pubsub`: drops every subscriber's connection; how many.
    ///
    /// # Panics
    ///
    /// When Redis does not answer.
    pub fn kill_subscribers(&self) -> u64 {
        self.query(
            redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"),
            "CLIENT KILL",
        )
    }

    /// `SAVE`: a snapshot in its directory, loaded by the next [`restart`](Self::restart).
    ///
    /// # Panics
    ///
    /// When Redis does not answer.
    pub fn save(&self) {
        self.query::<()>(&redis::cmd("SAVE"), "SAVE");
    }

    /// `FLUSHALL`.
    ///
    /// # Panics
    ///
    /// When Redis does not answer.
    pub fn flush(&self) {
        self.query::<()>(&redis::cmd("FLUSHALL"), "FLUSHALL");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_answers_on_loopback_restarts_on_its_port_and_is_gone_after_drop() {
        let mut redis = RedisServer::start();
        let port = redis.port();
        assert!(redis.url().starts_with("redis://127.0.0.1:"));
        redis.set("k", b"v", 60_000);
        assert_eq!(redis.get("k"), Some(b"v".to_vec()));
        redis.restart();
        assert_eq!(redis.port(), port);
        assert_eq!(redis.get("k"), None, "a restarted server is empty");
        let dir = redis.dir.path().to_owned();
        assert!(dir.is_dir());
        drop(redis);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "killed on drop"
        );
        assert!(!dir.exists(), "its directory is removed on drop");
    }

    #[test]
    fn a_paused_server_does_not_answer_until_resumed() {
        let mut redis = RedisServer::start();
        redis.pause();
        assert!(!redis.ping());
        redis.resume();
        assert!(redis.ping());
    }
}
