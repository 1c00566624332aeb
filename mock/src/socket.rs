//! The TCP side of the mock: a listener that hands out streams with a kill switch (for
//! [`Fault::ResetConnection`](crate::Fault::ResetConnection)), the [`ConnInfo`] each request
//! gets, the slot of the serving task, and the [`Control`] signals the serving tasks watch.
//! Nothing here knows the routes: starting and stopping are in `listener.rs`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Signals for the serving tasks, sent through `Shared::control`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Control {
    /// The issuer is shutting down: stop serving, end slow answers early.
    pub(crate) closing: bool,
    /// Every listener generation up to and including this one must stop.
    pub(crate) stopped_up_to: u64,
}

/// Everything the issuer handle and the request handlers share.
/// The listener currently serving, if any.
#[derive(Default)]
pub(crate) struct ServerSlot {
    pub(crate) running: Option<Running>,
    pub(crate) last_generation: u64,
}

pub(crate) struct Running {
    pub(crate) generation: u64,
    /// Resolves (with an error) when the listening socket has been dropped.
    pub(crate) listener_closed: oneshot::Receiver<()>,
    pub(crate) task: JoinHandle<()>,
}

/// Information each request gets about its connection: the peer and the kill switch.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    peer: SocketAddr,
    kill: Arc<AtomicBool>,
}

impl ConnInfo {
    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Makes the connection fail on its next read or write: nothing more is sent, and the
    /// socket is closed with a reset.
    pub(crate) fn kill(&self) {
        self.kill.store(true, Ordering::Release);
    }
}

impl Connected<IncomingStream<'_, MockListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, MockListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener that hands out killable streams and reports when it is dropped.
pub(crate) struct MockListener {
    inner: TcpListener,
    /// Dropped with the listener: tells the listener's `stop` the port is closed.
    _closed: oneshot::Sender<()>,
}

impl MockListener {
    /// Serves `inner`; `closed` is dropped with it.
    pub(crate) fn new(inner: TcpListener, closed: oneshot::Sender<()>) -> Self {
        MockListener {
            inner,
            _closed: closed,
        }
    }
}

impl Listener for MockListener {
    type Io = KillableStream;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    let io = KillableStream {
                        inner: stream,
                        kill: Arc::clone(&kill),
                    };
                    return (io, ConnInfo { peer, kill });
                }
                // Per-connection errors: try the next one at once.
                Err(error)
                    if matches!(
                        error.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                // Anything else (e.g. out of file descriptors): back off a little.
                Err(error) => {
                    tracing::debug!(%error, "mock issuer accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnInfo {
            peer: self.inner.local_addr()?,
            kill: Arc::default(),
        })
    }
}

/// A TCP stream that fails every operation once its kill switch is set.
pub(crate) struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableStream {
    /// `Some(error)` once killed; the socket is set to close with a reset (zero linger).
    fn killed(&self) -> Option<io::Error> {
        if !self.kill.load(Ordering::Acquire) {
            return None;
        }
        let _ = self.inner.set_zero_linger();
        Some(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "mock issuer: connection reset",
        ))
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(error) = self.killed() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(error) = self.killed() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(error) = self.killed() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(error) = self.killed() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(error) = self.killed() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
