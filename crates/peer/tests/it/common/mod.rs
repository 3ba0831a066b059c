//! Harness: a real realm server on 127.0.0.1 with a temp data dir, and real peers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use skypod_peer::sm::backoff::BackoffConfig;
use skypod_peer::sm::health::HealthConfig;
use skypod_peer::{JoinMode, Link, Peer, PeerConfig, PeerEvent, PeerHandle, RealmKey, RealmState};
use skypod_protocol::{IdentId, IdentityKey, RealmId, invitation, unix_now};
use skypod_server::{Server, ServerConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const T: Duration = Duration::from_secs(15);

pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

pub fn config(dir: &Path, listen: SocketAddr) -> ServerConfig {
    let mut cfg = ServerConfig::with_data_dir(dir.to_path_buf());
    cfg.listen = listen;
    // A 16-peer mesh trickles many candidates at once; the default 100/s per socket is for
    // the internet, not for a benchmark on loopback.
    cfg.rate_per_sec = 5000.0;
    cfg.rate_burst = 10000.0;
    cfg
}

impl TestServer {
    pub async fn start(dir: &Path) -> Self {
        Self::start_on(dir, "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(dir: &Path, listen: SocketAddr) -> Self {
        let server = Server::start(config(dir, listen))
            .await
            .expect("server starts");
        let addr = server.local_addr();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            dir: dir.to_owned(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/realm", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
    }
}

/// Shut every peer down, then the server.
pub async fn shutdown(peers: &[TestPeer], server: TestServer) {
    for p in peers {
        p.handle.shutdown().await;
    }
    server.stop().await;
}

pub struct TestPeer {
    pub handle: PeerHandle,
    pub events: Box<dyn Stream<Item = PeerEvent> + Send + Unpin>,
    pub log: Vec<PeerEvent>,
    pub key: IdentityKey,
    pub dir: tempfile::TempDir,
}

impl TestPeer {
    pub fn id(&self) -> &IdentId {
        self.key.identid()
    }

    /// Wait for an event matching `pred` (every event seen is kept in `log`).
    pub async fn wait(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&PeerEvent) -> bool,
    ) -> PeerEvent {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            match tokio::time::timeout_at(deadline, self.events.next()).await {
                Ok(Some(e)) => {
                    self.log.push(e.clone());
                    if pred(&e) {
                        return e;
                    }
                }
                Ok(None) => panic!("{}: event stream ended waiting for {what}", self.id()),
                Err(_) => panic!(
                    "{}: timed out waiting for {what}; saw {:#?}",
                    self.id(),
                    self.log
                ),
            }
        }
    }

    /// Collect events for `d`.
    pub async fn settle(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.events.next()).await {
            self.log.push(e);
        }
    }

    pub async fn p2p_count(&self) -> usize {
        self.handle
            .peers()
            .await
            .map(|v| v.iter().filter(|p| p.link == Link::P2p).count())
            .unwrap_or(0)
    }
}

pub fn peer_config(
    key: IdentityKey,
    realm: &RealmId,
    url: &str,
    join: JoinMode,
    dir: &Path,
) -> PeerConfig {
    let mut c = PeerConfig::new(key, realm.clone(), url.to_owned(), join);
    c.bind_addrs = vec!["127.0.0.1:0".into()];
    c.realm_key = RealmState::load(dir).ok().flatten().and_then(|s| s.key);
    c.health = HealthConfig {
        interval: Duration::from_millis(500),
        pong_timeout: Duration::from_secs(2),
    };
    c.reconnect = BackoffConfig {
        initial: Duration::from_millis(100),
        factor: 2.0,
        max: Duration::from_secs(1),
        jitter: 0.5,
    };
    c
}

pub fn start_peer(cfg: PeerConfig, dir: tempfile::TempDir) -> TestPeer {
    let key = cfg.identity.clone();
    let (handle, events) = Peer::start(cfg.clone());
    TestPeer {
        handle,
        events: Box::new(persisting_keys(events, dir.path(), &cfg)),
        log: vec![],
        key,
        dir,
    }
}

/// The application's part of key delivery, as `skypod` does it: every realm key the peer
/// adopts is saved to the realm state in `dir` as its event passes by.
pub fn persisting_keys<S: Stream<Item = PeerEvent> + Send + Unpin>(
    events: S,
    dir: &Path,
    cfg: &PeerConfig,
) -> impl Stream<Item = PeerEvent> + Send + Unpin + use<S> {
    let dir = dir.to_owned();
    let (realm, server) = (cfg.realm.clone(), cfg.server_url.clone());
    events.inspect(move |e| {
        if let PeerEvent::RealmKey { key, .. } = e {
            RealmState::save_key(&dir, &realm, &server, key).expect("realm key saved");
        }
    })
}

/// A fresh server in a directory of its own (kept while the `TempDir` lives), with tracing
/// set up: how the tests here start.
pub async fn server() -> (tempfile::TempDir, TestServer) {
    init_tracing();
    let sdir = tempfile::tempdir().unwrap();
    let s = TestServer::start(sdir.path()).await;
    (sdir, s)
}

/// The realm state of the device that registers `realm` on `server`: it holds the realm key.
pub fn save_founder_state(dir: &Path, realm: &RealmId, server: &TestServer) {
    RealmState {
        realm: realm.clone(),
        server: server.url(),
        key: Some(RealmKey::generate(1)),
    }
    .save(dir)
    .unwrap();
}

/// [`realm`] once every peer has a direct link to every other.
pub async fn meshed_realm(server: &TestServer, n: usize) -> (RealmId, Vec<TestPeer>) {
    let (realm, peers) = realm(server, n).await;
    full_mesh(&peers).await;
    (realm, peers)
}

/// A peer that was shut down, started again as a member of `realm`: the same identity, the
/// same data directory.
pub fn restart_member(peer: TestPeer, realm: &RealmId, server: &TestServer) -> TestPeer {
    let cfg = peer_config(
        peer.key.clone(),
        realm,
        &server.url(),
        JoinMode::Authn,
        peer.dir.path(),
    );
    start_peer(cfg, peer.dir)
}

/// A realm: the first peer registers it (and holds the realm key), the others join with
/// invitations bound to them.
pub async fn realm(server: &TestServer, n: usize) -> (RealmId, Vec<TestPeer>) {
    realm_with(server, n, |_| {}).await
}

pub async fn realm_with(
    server: &TestServer,
    n: usize,
    tweak: impl Fn(&mut PeerConfig),
) -> (RealmId, Vec<TestPeer>) {
    let realm = RealmId::random();
    let first = IdentityKey::generate_es256();
    let dir = tempfile::tempdir().unwrap();
    save_founder_state(dir.path(), &realm, server);
    let mut cfg = peer_config(
        first.clone(),
        &realm,
        &server.url(),
        JoinMode::Register,
        dir.path(),
    );
    tweak(&mut cfg);
    let mut p0 = start_peer(cfg, dir);
    p0.wait("online", |e| {
        matches!(e, PeerEvent::Signaling(skypod_peer::Signal::Online))
    })
    .await;
    let mut peers = vec![p0];
    for _ in 1..n {
        peers.push(join(server, &realm, &first, &tweak).await);
    }
    (realm, peers)
}

pub async fn join(
    server: &TestServer,
    realm: &RealmId,
    inviter: &IdentityKey,
    tweak: &impl Fn(&mut PeerConfig),
) -> TestPeer {
    let k = IdentityKey::generate_es256();
    let inv =
        invitation::create(inviter, realm, unix_now(), 600, Some(k.identid().clone())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = peer_config(
        k,
        realm,
        &server.url(),
        JoinMode::Exchange { invitation: inv },
        dir.path(),
    );
    tweak(&mut cfg);
    start_peer(cfg, dir)
}

/// Wait until every peer has a direct link to every other.
pub async fn full_mesh(peers: &[TestPeer]) {
    let n = peers.len();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let mut ok = true;
        for p in peers {
            if p.p2p_count().await != n - 1 {
                ok = false;
                break;
            }
        }
        if ok {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            let mut counts = vec![];
            for p in peers {
                counts.push(p.p2p_count().await);
            }
            panic!("no full mesh of {n} within {T:?}: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}
