//! A TCP relay on 127.0.0.1 in front of a server (Redis), which a test can cut and restore: a
//! network partition between one replica and Redis, with Redis itself up.
//!
//! [`cut`](TcpRelay::cut) drops every relayed connection (both sides closed) and blackholes new
//! ones: they are accepted and held open, nothing is forwarded or answered, until
//! [`restore`](TcpRelay::restore), which closes them; connections made after it are relayed
//! again. Every task it spawns lives in one `JoinSet` owned by the accept task, which dropping
//! the relay aborts.
#![allow(unreachable_pub, dead_code)]

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// See the [module docs](self).
#[derive(Debug)]
pub struct TcpRelay {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
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
        let target = SocketAddr::from(([127, 0, 0, 1], target_port));
        let accept = tokio::spawn(accept_loop(listener, target, watching));
        TcpRelay { addr, cut, accept }
    }

    /// `redis://127.0.0.1:<relay port>`.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drops every relayed connection and blackholes new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
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

async fn accept_loop(listener: TcpListener, target: SocketAddr, cut: watch::Receiver<bool>) {
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
            tasks.spawn(relay(client, target, cut));
        }
    }
}

/// Forwards both ways until either side closes or the relay is cut (both sockets dropped).
async fn relay(mut client: TcpStream, target: SocketAddr, mut cut: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
