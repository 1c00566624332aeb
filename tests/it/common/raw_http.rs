//! Hand-written HTTP/1.1 servers on 127.0.0.1 for answers no well-behaved server gives:
//! one connection, a verbatim answer, the request head handed back. Every loop is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a one-connection server waits for its client.
const ACCEPT_WAIT: Duration = Duration::from_secs(5);

/// Binds 127.0.0.1 on a random port.
pub async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind 127.0.0.1: {e}"))
}

/// Reads one request head (up to the blank line, at most 16 KiB; bounded by the reads).
pub async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    head
}

/// A one-connection HTTP server that sends `response` verbatim after reading the request
/// head, and hands the head back. Every loop in it is bounded.
pub async fn raw_server(response: Vec<u8>) -> (String, tokio::task::JoinHandle<String>) {
    let listener = bind().await;
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local addr: {e}"));
    let url = format!("http://{addr}/v1/getOauthToken.php");
    let task = tokio::spawn(async move {
        let Ok(Ok((mut stream, _))) = tokio::time::timeout(ACCEPT_WAIT, listener.accept()).await
        else {
            return String::new();
        };
        let head = read_head(&mut stream).await;
        // The client may hang up early on a too-large answer.
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
        String::from_utf8_lossy(&head).into_owned()
    });
    (url, task)
}

/// As [`raw_server`], for up to `max` connections one after another (each accepted within
/// 5 s), answering each the same; counts the connections it got.
pub async fn counting_raw_server(response: Vec<u8>, max: usize) -> (String, Arc<AtomicUsize>) {
    let listener = bind().await;
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local addr: {e}"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        for _ in 0..max {
            let Ok(Ok((mut stream, _))) =
                tokio::time::timeout(ACCEPT_WAIT, listener.accept()).await
            else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = read_head(&mut stream).await;
            let _ = stream.write_all(&response).await;
            let _ = stream.shutdown().await;
        }
    });
    (format!("http://{addr}/v1/getOauthToken.php"), hits)
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    bearer_guard_mock::process::free_port().unwrap_or_else(|e| panic!("free port: {e}"))
}

/// `200 OK`, `Connection: close`, the `extra_headers` (each ending in `\r\n`), then `body`.
pub fn http_answer(extra_headers: &str, body: &[u8]) -> Vec<u8> {
    let mut answer =
        format!("HTTP/1.1 200 OK\r\nConnection: close\r\n{extra_headers}\r\n").into_bytes();
    answer.extend_from_slice(body);
    answer
}

/// `body` in the chunked transfer coding, one chunk per piece (no `Content-Length`).
pub fn chunked<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut chunked = Vec::new();
    for piece in pieces {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    chunked
}
