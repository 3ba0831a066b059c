//! Test harness: a real server on a loopback port with a real SQLite file.

#![allow(dead_code)]

pub mod pg;

use skypod_client::RealmClient;
use skypod_protocol::{IdentityKey, RealmId, invitation, unix_now};
use skypod_server::{Server, ServerConfig};
use std::net::SocketAddr;
use std::path::Path;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Held by the tests that open a thousand sockets or more (`hostile`, `stalled`). As separate
/// test binaries they never ran at the same time; in one binary two at once would need twice
/// the file descriptors (over 5,000) and would skew each other's timing and memory figures.
pub static SOCKET_FLOOD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: skypod_server::state::AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub fn config(dir: &Path) -> ServerConfig {
    let mut cfg = ServerConfig::with_data_dir(dir.to_path_buf());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg
}

impl TestServer {
    pub async fn start(cfg: ServerConfig) -> Self {
        let server = Server::start(cfg).await.expect("server starts");
        let addr = server.local_addr();
        let state = server.state().clone();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            state,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// A server on the test configuration in a fresh data directory (kept while the
    /// returned `TempDir` lives).
    pub async fn fresh() -> (tempfile::TempDir, Self) {
        Self::fresh_with(|_| {}).await
    }

    /// [`TestServer::fresh`], with `change` made to the configuration first.
    pub async fn fresh_with(change: impl FnOnce(&mut ServerConfig)) -> (tempfile::TempDir, Self) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        change(&mut cfg);
        (dir, Self::start(cfg).await)
    }

    pub fn url(&self) -> String {
        format!("ws://{}/realm", self.addr)
    }

    pub async fn client(&self) -> RealmClient {
        RealmClient::connect(&self.url()).await.expect("connects")
    }

    /// Graceful stop; waits until the store is closed.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }

    pub async fn metrics(&self) -> String {
        http_get(self.addr, "/metrics").await
    }
}

/// A minimal HTTP/1.1 GET over a raw socket (keeps the tests free of an HTTP client).
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    http_get_with(addr, path, "").await
}

/// GET with extra header lines (each ending in `\r\n`).
pub async fn http_get_with(addr: SocketAddr, path: &str, headers: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// A realm with `n` members, all online; returns (realm, keys, clients).
pub async fn realm_with(
    server: &TestServer,
    n: usize,
) -> (RealmId, Vec<IdentityKey>, Vec<RealmClient>) {
    let realm = RealmId::random();
    let mut keys = vec![];
    let mut clients = vec![];
    let first = IdentityKey::generate_es256();
    let mut c = server.client().await;
    c.register(&first, &realm).await.expect("register");
    keys.push(first);
    clients.push(c);
    for _ in 1..n {
        let k = IdentityKey::generate_es256();
        let inv = invitation::create(&keys[0], &realm, unix_now(), 600, Some(k.identid().clone()))
            .unwrap();
        let mut c = server.client().await;
        c.exchange(&k, &realm, &inv).await.expect("exchange");
        keys.push(k);
        clients.push(c);
    }
    (realm, keys, clients)
}

/// A WebSocket opened by hand on a raw TCP socket, for frames no library would send.
pub async fn raw_websocket(addr: SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let req = "GET /realm HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).await.unwrap(), 1, "upgrade answered");
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// A client frame: `first` is the first header byte (FIN, RSV, opcode); masked unless told.
pub fn client_frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![first];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => f.push(mask_bit | n as u8),
        n @ 126..=0xffff => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [0x12, 0x34, 0x56, 0x78];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// One unmasked server frame read off a raw socket: (opcode, payload), or `None` when the
/// socket ends first.
pub async fn read_frame(s: &mut tokio::net::TcpStream) -> Option<(u8, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.ok()?;
    let len = match h[1] & 0x7f {
        126 => u64::from(s.read_u16().await.ok()?),
        127 => s.read_u64().await.ok()?,
        n => u64::from(n),
    };
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    s.read_exact(&mut payload).await.ok()?;
    Some((h[0] & 0x0f, payload))
}

/// Read server frames until a close frame (its code) or the end of the stream (`None`).
pub async fn read_close_code(s: &mut tokio::net::TcpStream) -> Option<u16> {
    loop {
        let (opcode, payload) = read_frame(s).await?;
        if opcode == 8 {
            return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
        }
    }
}
