//! A deliberately unreliable crm-now `verifytoken` endpoint on 127.0.0.1, written on a raw
//! TCP listener so that it can misbehave below HTTP too (resets, partial bodies, slow drips).
//!
//! Honest answers are `200 {"result": <token is one of the good ones>}`. While faults are on,
//! each request draws a [`Behaviour`] from a seeded [`XorShift`]. Several faults *say yes* in a
//! broken way (`"result": true` with a 5xx, in a body cut short, in a body past the size cap,
//! as a string): a client that trusts any of them would let forged tokens through.
//!
//! Every loop is bounded: the accept loop by a connection count, each connection by a deadline.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A tiny xorshift64 generator: deterministic for a seed, no dependency.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform-ish in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// How one request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// `200 {"result": <good>}`, JSON.
    Honest,
    /// `500`/`502`/`503` with `{"result": true}`.
    Status5xx,
    /// Nothing for 1.5 s, then the honest answer.
    Hang,
    /// The connection is reset (RST) after the request is read, nothing sent.
    Reset,
    /// Headers promise 64 bytes, `{"result": true` is sent, then the connection closes.
    PartialBody,
    /// The honest JSON, labelled `text/html`.
    WrongContentTypeHonest,
    /// `application/xml` with `<result>true</result>`.
    WrongContentTypeXml,
    /// `{"result": true, "pad": …}` past 100 KiB, with a `Content-Length`.
    OversizedTrue,
    /// The same oversized body, chunked (no `Content-Length`: the cap must stop the read).
    OversizedTrueChunked,
    /// Headers, then one body byte every 100 ms (longer than any sane timeout).
    SlowDrip,
    /// `{"result": "true"}`.
    TrueAsString,
}

const FAULTS: [Behaviour; 10] = [
    Behaviour::Status5xx,
    Behaviour::Hang,
    Behaviour::Reset,
    Behaviour::PartialBody,
    Behaviour::WrongContentTypeHonest,
    Behaviour::WrongContentTypeXml,
    Behaviour::OversizedTrue,
    Behaviour::OversizedTrueChunked,
    Behaviour::SlowDrip,
    Behaviour::TrueAsString,
];

/// Most connections the server accepts before it stops (a bound on its accept loop).
const MAX_CONNECTIONS: u64 = 50_000;
/// Longest any one connection is served.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(5);

struct Shared {
    good: HashSet<String>,
    rng: Mutex<XorShift>,
    /// Percentage of requests answered with a fault (0 = healthy).
    fault_percent: AtomicU64,
    requests: AtomicU64,
    faulted: AtomicU64,
    seen_faults: Mutex<HashSet<Behaviour>>,
    stopped: AtomicBool,
}

/// The running upstream; stops when dropped.
pub struct FlakyUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FlakyUpstream {
    /// Starts on 127.0.0.1 (random port), healthy, accepting exactly the `good` tokens.
    pub async fn start(good: impl IntoIterator<Item = String>, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind 127.0.0.1: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local addr: {e}"));
        let shared = Arc::new(Shared {
            good: good.into_iter().collect(),
            rng: Mutex::new(XorShift::new(seed)),
            fault_percent: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            faulted: AtomicU64::new(0),
            seen_faults: Mutex::new(HashSet::new()),
            stopped: AtomicBool::new(false),
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        FlakyUpstream { addr, shared, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1/getOauthToken.php", self.addr)
    }

    /// Sets the share of requests that get a fault, in percent (0 heals the upstream).
    pub fn set_fault_percent(&self, percent: u64) {
        self.shared
            .fault_percent
            .store(percent.min(100), Ordering::SeqCst);
    }

    /// Requests read so far (faulted ones included).
    #[allow(
        dead_code,
        reason = "the upstream's request counter beside `faulted`; no test reads it yet"
    )]
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests that got a fault.
    pub fn faulted(&self) -> u64 {
        self.shared.faulted.load(Ordering::SeqCst)
    }

    /// How many different fault kinds were used.
    pub fn fault_kinds_seen(&self) -> usize {
        self.shared
            .seen_faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for FlakyUpstream {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for _ in 0..MAX_CONNECTIONS {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, serve(stream, &shared)).await;
        });
    }
}

/// Reads one request (head and a `Content-Length` body, both capped) and answers it.
async fn serve(mut stream: TcpStream, shared: &Shared) {
    let Some(body) = read_request(&mut stream).await else {
        return;
    };
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let token = form_urlencoded::parse(&body)
        .find(|(name, _)| name == "verifytoken")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let good = shared.good.contains(&token);
    let behaviour = {
        let mut rng = shared.rng.lock().unwrap_or_else(PoisonError::into_inner);
        if rng.below(100) < shared.fault_percent.load(Ordering::SeqCst) {
            FAULTS[rng.below(FAULTS.len() as u64) as usize]
        } else {
            Behaviour::Honest
        }
    };
    if behaviour != Behaviour::Honest {
        shared.faulted.fetch_add(1, Ordering::SeqCst);
        shared
            .seen_faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(behaviour);
    }
    let honest = format!(r#"{{"result": {good}, "message": "token checked"}}"#);
    let padded = format!(r#"{{"result": true, "pad": "{}"}}"#, "x".repeat(100 * 1024));
    let _ = match behaviour {
        Behaviour::Honest => answer(&mut stream, "200 OK", "application/json", &honest).await,
        Behaviour::Status5xx => {
            let status = [
                "500 Internal Server Error",
                "502 Bad Gateway",
                "503 Service Unavailable",
            ][token.len() % 3];
            answer(
                &mut stream,
                status,
                "application/json",
                r#"{"result": true}"#,
            )
            .await
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            answer(&mut stream, "200 OK", "application/json", &honest).await
        }
        Behaviour::Reset => {
            let _ = stream.set_zero_linger();
            drop(stream);
            Ok(())
        }
        Behaviour::PartialBody => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                        Content-Length: 64\r\nConnection: close\r\n\r\n{\"result\": true";
            stream.write_all(head.as_bytes()).await
        }
        Behaviour::WrongContentTypeHonest => {
            answer(&mut stream, "200 OK", "text/html; charset=utf-8", &honest).await
        }
        Behaviour::WrongContentTypeXml => {
            answer(
                &mut stream,
                "200 OK",
                "application/xml",
                "<result>true</result>",
            )
            .await
        }
        Behaviour::OversizedTrue => {
            answer(&mut stream, "200 OK", "application/json", &padded).await
        }
        Behaviour::OversizedTrueChunked => chunked(&mut stream, &padded).await,
        Behaviour::SlowDrip => slow_drip(&mut stream, &honest).await,
        Behaviour::TrueAsString => {
            answer(
                &mut stream,
                "200 OK",
                "application/json",
                r#"{"result": "true"}"#,
            )
            .await
        }
    };
}

/// The request body, or `None` if the request could not be read (head over 16 KiB, body over
/// 64 KiB, or the peer went away).
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if data.len() > 16 * 1024 {
            return None;
        }
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if length > 64 * 1024 {
        return None;
    }
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(data[head_end..head_end + length].to_vec())
}

async fn answer(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let message = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(message.as_bytes()).await?;
    stream.shutdown().await
}

async fn chunked(stream: &mut TcpStream, body: &str) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await?;
    stream
        .write_all(&super::raw_http::chunked(body.as_bytes().chunks(8 * 1024)))
        .await?;
    stream.shutdown().await
}

/// At most 40 bytes, one every 100 ms (bounded by the connection deadline too).
async fn slow_drip(stream: &mut TcpStream, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    for byte in body.as_bytes().iter().take(40) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(&[*byte]).await?;
    }
    stream.shutdown().await
}
