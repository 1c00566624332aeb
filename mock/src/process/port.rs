//! A free loopback port.

use std::net::{Ipv4Addr, TcpListener};

/// A port on `127.0.0.1` that nothing listens on: bound, read, and released at once.
///
/// Another process may take it before the caller binds it; starters that bind it themselves
/// (such as `RedisServer::start`) retry a few times. As the
/// address of a server that is down, it refuses connections.
///
/// # Errors
///
/// When `127.0.0.1:0` cannot be bound (no loopback interface, no free port).
pub fn free_port() -> std::io::Result<u16> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()
        .map(|addr| addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_refuses_connections_and_can_be_bound() {
        let port = free_port().unwrap_or_else(|e| panic!("{e}"));
        assert!(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }
}
