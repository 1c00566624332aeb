//! Hand-written HTTP/1.1 servers on 127.0.0.1 for answers no well-behaved server gives:
//! one connection, a verbatim answer, the request head handed back. Every loop is bounded.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How long a one-connection server waits for its client.
const ACCEPT_WAIT: Duration = Duration::from_secs(5);

/// Binds 127.0.0.1 on a random port.
pub async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind 127.0.0.1: {e}"))
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
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        // The client may hang up early on a too-large answer.
        let _ = stream.write_all(&response).await;
        let _ = stream.shutdown().await;
        String::from_utf8_lossy(&head).into_owned()
    });
    (url, task)
}

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
