//! A real nginx in front of a backend, asking the sidecar with `auth_request`: the config is
//! generated into a temporary directory (non-daemon, one process, loopback ports, every path
//! inside the directory), nginx is started with it and killed when dropped.
//!
//! [`SERVER_BLOCK`] is the `server { … }` the README prints for nginx, verbatim (a test
//! checks that the README still holds it); only the two `upstream` blocks, the `listen`
//! port and the file paths around it are generated.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The README's nginx `server` block. `listen 8000;` is replaced with the test's port.
pub const SERVER_BLOCK: &str = r#"server {
    listen 8000;

    location / {
        auth_request /_auth;
        # What the sidecar answered, for the backend and for the client.
        auth_request_set $auth_subject $upstream_http_x_auth_subject;
        auth_request_set $auth_scopes $upstream_http_x_auth_scopes;
        auth_request_set $auth_source $upstream_http_x_auth_source;
        auth_request_set $auth_owner_type $upstream_http_x_auth_owner_type;
        auth_request_set $auth_expires $upstream_http_x_auth_expires;
        auth_request_set $auth_www $upstream_http_www_authenticate;
        # The 403 challenge (scope="…") reaches the client; nginx copies a 401's itself.
        add_header WWW-Authenticate $auth_www_403 always;
        # nginx answers 500 when the auth answer is not 2xx/401/403: make that the 503.
        error_page 500 = @auth_unavailable;
        # Set every X-Auth-* header, so none a client sent reaches the backend.
        proxy_set_header X-Auth-Subject $auth_subject;
        proxy_set_header X-Auth-Scopes $auth_scopes;
        proxy_set_header X-Auth-Source $auth_source;
        proxy_set_header X-Auth-Owner-Type $auth_owner_type;
        proxy_set_header X-Auth-Expires $auth_expires;
        proxy_pass http://backend;
    }

    location = /_auth {
        internal;
        proxy_pass http://bearer_guard/auth;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header X-Original-Method $request_method;
        # Drop a client's own X-Forwarded-Uri/-Method too (an empty value is not sent).
        proxy_set_header X-Forwarded-Uri "";
        proxy_set_header X-Forwarded-Method "";
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }

    location @auth_unavailable {
        add_header Retry-After 5 always;
        add_header WWW-Authenticate $auth_www always;
        default_type application/json;
        return 503 '{"error":"temporarily_unavailable","error_description":"token verification is temporarily unavailable"}';
    }
}"#;

/// The README's `http`-level lines around the server block; the two upstream addresses are
/// replaced with the test's.
pub const HTTP_LINES: &str = r#"upstream bearer_guard {
    server 127.0.0.1:8080;  # GUARD_LISTEN
    keepalive 32;
}
upstream backend {
    server 127.0.0.1:3000;  # your service
}
# Only a 403 needs its challenge added: nginx passes a 401's WWW-Authenticate on itself.
map $status $auth_www_403 {
    403     $auth_www;
    default "";
}"#;

/// Finds nginx in `PATH` or `/usr/sbin` (Debian's place), or fails the test saying how to
/// install it.
pub fn binary() -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    in_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nginx is not installed (looked in PATH and /usr/sbin): install it with \
                 `apt-get install -y nginx` (.ci/run does this on CI)"
            )
        })
}

/// How many free ports [`Nginx::start_with`] tries.
const START_TRIES: u32 = 5;

/// How one start ended.
enum Started {
    /// nginx bound its port and accepts.
    Ready(Box<Nginx>),
    /// Another process took the port first.
    PortTaken,
}

/// A running nginx.
pub struct Nginx {
    child: Child,
    /// `127.0.0.1:port` it listens on.
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx on a free loopback port, asking the sidecar at `sidecar` and proxying to
    /// `backend`, and waits (bounded) until the port accepts connections.
    pub async fn start(sidecar: &str, backend: SocketAddr) -> Nginx {
        Self::start_with(SERVER_BLOCK, sidecar, backend).await
    }

    /// As [`start`](Self::start), with `server_block` (written like [`SERVER_BLOCK`]) in place
    /// of the README's. The free port may be taken by another process before nginx binds it:
    /// then nginx exits saying so, and it is started again on a new port (at most
    /// [`START_TRIES`] times).
    pub async fn start_with(server_block: &str, sidecar: &str, backend: SocketAddr) -> Nginx {
        for _ in 0..START_TRIES {
            match Self::try_start(server_block, sidecar, backend).await {
                Started::Ready(nginx) => return *nginx,
                Started::PortTaken => continue,
            }
        }
        panic!("nginx found its port taken {START_TRIES} times in a row");
    }

    /// One start on a new free port, waited for (at most 5 s) until nginx has bound it: its
    /// pid file names our child (nginx writes it after binding) and the port accepts.
    async fn try_start(server_block: &str, sidecar: &str, backend: SocketAddr) -> Started {
        let nginx = binary();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let port =
            bearer_guard_mock::process::free_port().unwrap_or_else(|e| panic!("free port: {e}"));
        let conf = config_with(server_block, dir.path(), port, sidecar, backend);
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap_or_else(|e| panic!("write nginx.conf: {e}"));
        let error_log = dir.path().join("error.log");
        let child = Command::new(&nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(&error_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", nginx.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut nginx = Nginx { child, addr, dir };
        for _ in 0..200 {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                let log = nginx.error_log();
                if log.contains("Address already in use") {
                    return Started::PortTaken;
                }
                panic!("nginx exited ({status}): {log}");
            }
            // Another process on the port would accept too: the pid file says nginx bound it.
            if nginx.pid_file_is_ours() && TcpStream::connect(addr).await.is_ok() {
                return Started::Ready(Box::new(nginx));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "nginx does not accept on {addr} after 5 s: {}",
            nginx.error_log()
        );
    }

    /// Whether nginx's pid file holds our child's pid.
    fn pid_file_is_ours(&self) -> bool {
        let pid = std::fs::read_to_string(self.dir.path().join("nginx.pid")).unwrap_or_default();
        self.child
            .id()
            .is_some_and(|ours| pid.trim() == ours.to_string())
    }

    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Its error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

/// The whole nginx.conf: one process in the foreground, every path in `dir`, the README's
/// `http` lines with the test's ports, and `server_block`.
pub fn config_with(
    server_block: &str,
    dir: &std::path::Path,
    port: u16,
    sidecar: &str,
    backend: SocketAddr,
) -> String {
    let dir = dir.display();
    let http_lines = HTTP_LINES
        .replace("127.0.0.1:8080", sidecar)
        .replace("127.0.0.1:3000", &backend.to_string());
    let server = server_block.replace("listen 8000;", &format!("listen 127.0.0.1:{port};"));
    format!(
        "daemon off;\n\
         master_process off;\n\
         worker_processes 1;\n\
         error_log {dir}/error.log info;\n\
         pid {dir}/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         access_log off;\n\
         client_body_temp_path {dir}/client_body;\n\
         proxy_temp_path {dir}/proxy;\n\
         fastcgi_temp_path {dir}/fastcgi;\n\
         uwsgi_temp_path {dir}/uwsgi;\n\
         scgi_temp_path {dir}/scgi;\n\
         {http_lines}\n\
         {server}\n\
         }}\n"
    )
}

/// [`SERVER_BLOCK`] without its lines about `X-Forwarded-*` (the two that clear a client's
/// `X-Forwarded-Uri` / `X-Forwarded-Method` on the auth subrequest, and their comment): the
/// `/_auth` location most nginx guides write, setting only `X-Original-URI` and
/// `X-Original-Method`, so that a client's own `X-Forwarded-*` reach the sidecar.
pub fn guide_server_block() -> String {
    let kept: Vec<&str> = SERVER_BLOCK
        .lines()
        .filter(|line| !line.contains("X-Forwarded-"))
        .collect();
    assert_eq!(
        kept.len() + 3,
        SERVER_BLOCK.lines().count(),
        "the README's block no longer has a comment and two lines about X-Forwarded-*"
    );
    let block = kept.join("\n");
    assert!(block.contains("proxy_set_header X-Original-URI $request_uri;"));
    assert!(block.contains("proxy_set_header X-Original-Method $request_method;"));
    block
}
