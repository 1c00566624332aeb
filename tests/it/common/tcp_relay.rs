//! A TCP relay on 127.0.0.1 in front of a server (Redis), which a test can cut and restore: a
//! network partition between one replica and Redis, with Redis itself up.
//!
//! [`cut`](TcpRelay::cut) drops every relayed connection (both sides closed) and blackholes new
//! ones: they are accepted and held open, nothing is forwarded or answered, until
//! [`restore`](TcpRelay::restore), which closes them; connections made after it are relayed
//! again. [`stall`](TcpRelay::stall) leaves new connections alone and silences the ones
//! relayed so far (held open, nothing forwarded either way, until the next `cut`): a client
//! stuck on a dead socket while its fresh connections get through. Every task it spawns lives in one `JoinSet` owned by the accept task, which dropping
//! the relay aborts.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// See the [module docs](self).
#[derive(Debug)]
pub struct TcpRelay {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    /// Connections accepted before the latest [`stall`](TcpRelay::stall) are silenced.
    stall: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl TcpRelay {
    /// Relays `127.0.0.1:<random port>` to `127.0.0.1:<target_port>`.
    pub async fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind relay: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("relay addr: {e}"));
        let (cut, watching) = watch::channel(false);
        let (stall, stalls) = watch::channel(0);
        let target = SocketAddr::from(([127, 0, 0, 1], target_port));
        let accept = tokio::spawn(accept_loop(listener, target, watching, stalls));
        TcpRelay {
            addr,
            cut,
            stall,
            accept,
        }
    }

    /// `redis://127.0.0.1:<relay port>`.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drops every relayed connection and blackholes new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Silences every connection relayed so far (held open, nothing forwarded, until the next
    /// [`cut`](Self::cut)); new ones are relayed as before.
    pub fn stall(&self) {
        self.stall.send_modify(|stalls| *stalls += 1);
    }

    /// Closes the blackholed connections; new ones are relayed again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    cut: watch::Receiver<bool>,
    stall: watch::Receiver<u64>,
) {
    let mut tasks = JoinSet::new();
    loop {
        // Reap finished tasks so the set does not grow with the test's connections.
        while tasks.try_join_next().is_some() {}
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let mut cut = cut.clone();
        if *cut.borrow_and_update() {
            tasks.spawn(async move {
                // Held, silent, until restored (or the relay is dropped).
                let _ = cut.wait_for(|cut| !*cut).await;
                drop(client);
            });
        } else {
            let mut stall = stall.clone();
            let stalls = *stall.borrow_and_update();
            tasks.spawn(relay(client, target, cut, stall, stalls));
        }
    }
}

/// Forwards both ways until either side closes or the relay is cut (both sockets dropped);
/// after a [`stall`](TcpRelay::stall) (a count above `stalls`), holds both sockets silent
/// until the relay is cut.
async fn relay(
    mut client: TcpStream,
    target: SocketAddr,
    mut cut: watch::Receiver<bool>,
    mut stall: watch::Receiver<u64>,
    stalls: u64,
) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    let stalled = tokio::select! {
    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
    _ = cut.wait_for(|cut| *cut) => false,
    _ = stall.wait_for(|now| *now > stalls) => true};
    if stalled {
        let _ = cut.wait_for(|cut| *cut).await;
    }
}
