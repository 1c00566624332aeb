//! A real `redis-server` as a child process on a free 127.0.0.1 port, for the shared-cache
//! tests: `--save '' --appendonly no`, waited for until it answers `PING` (bounded), killed on
//! drop. It can be SIGKILLed, stopped (SIGSTOP) and continued (SIGCONT), and restarted on the
//! same port. A machine without `redis-server` fails the test with a message saying to
//! install it (CI installs it in `.ci/run`): nothing is skipped.
#![allow(unreachable_pub, dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's package puts the server; `PATH` is searched too.
const CANDIDATES: [&str; 2] = ["/usr/bin/redis-server", "redis-server"];

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    stopped: bool,
}

fn binary() -> &'static str {
    for candidate in CANDIDATES {
        if Command::new(candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return candidate;
        }
    }
    panic!(
        "redis-server is not installed: the shared-cache tests need a real Redis \
         (`apt-get install redis-server`; .ci/run installs it)"
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local addr: {e}"))
        .port()
}

impl RedisServer {
    /// Starts a server on a free port (a few tries, in case the port is taken in between).
    pub fn start() -> Self {
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                stopped: false,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start on a free port in 5 tries");
    }

    fn spawn(&mut self) -> bool {
        let child = Command::new(binary())
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn redis-server: {e}"));
        self.child = Some(child);
        self.stopped = false;
        if self.wait_ready(Duration::from_secs(10)) {
            true
        } else {
            self.kill();
            false
        }
    }

    /// Whether `PING` is answered within `within` (polled every 20 ms).
    fn wait_ready(&mut self, within: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < within {
            if let Some(child) = &mut self.child
                && let Ok(Some(_)) = child.try_wait()
            {
                return false; // exited (port taken)
            }
            if self.ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// One `PING` with a short timeout.
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

    pub fn port(&self) -> u16 {
        self.port
    }

    fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("redis-server is not running"))
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("kill {signal}: {e}"));
        assert!(status.success(), "kill {signal} failed");
    }

    /// SIGKILL, and reaped.
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
    pub fn pause(&mut self) {
        self.signal("-STOP");
        self.stopped = true;
    }

    /// SIGCONT.
    pub fn resume(&mut self) {
        self.signal("-CONT");
        self.stopped = false;
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)); empty.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}", self.port);
    }

    /// A plain client connection (for the test's own reads and writes).
    pub fn connection(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).unwrap_or_else(|e| panic!("client: {e}"));
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connect to redis: {e}"));
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        conn
    }

    /// Every key matching `pattern`.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut conn = self.connection();
        redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("KEYS: {e}"))
    }

    /// The raw value at `key`.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let mut conn = self.connection();
        redis::cmd("GET")
            .arg(key)
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("GET: {e}"))
    }

    /// `SET key value PX ttl_ms`.
    pub fn set(&self, key: &str, value: &[u8], ttl_ms: u64) {
        let mut conn = self.connection();
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(ttl_ms)
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("SET: {e}"));
    }

    /// `PTTL key`.
    pub fn pttl(&self, key: &str) -> i64 {
        let mut conn = self.connection();
        redis::cmd("PTTL")
            .arg(key)
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("PTTL: {e}"))
    }

    /// `CLIENT KILL TYPE pubsub`: drops every subscriber's connection.
    pub fn kill_subscribers(&self) -> u64 {
        let mut conn = self.connection();
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("CLIENT KILL: {e}"))
    }

    /// `FLUSHALL`.
    pub fn flush(&self) {
        let mut conn = self.connection();
        let _: () = redis::cmd("FLUSHALL")
            .query(&mut conn)
            .unwrap_or_else(|e| panic!("FLUSHALL: {e}"));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
