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

pub struct TestServer {
    pub addr: SocketAddr,
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
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
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
