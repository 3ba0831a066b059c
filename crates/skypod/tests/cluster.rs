//! Several `skypod serve` processes as one realm server: a real PostgreSQL store (a fresh
//! database per test) and a real NATS bus (the machine's on 127.0.0.1:4222, or one started
//! here when a test stops and restarts it), members on different nodes.

mod common;
#[path = "../../server/tests/common/pg.rs"]
mod pg;

use common::{Kill, free_port, skypod};
use pg::FreshDb;
use skypod_client::{ClientError, RealmClient, dat};
use skypod_protocol::messages::{
    MEMBER_REMOVE, MEMBER_REMOVED, MemberRemoved, PEER_JOINED, PEER_LEFT, PeerJoined, PeerLeft,
    SIGNAL, TokenRequest,
};
use skypod_protocol::token::{self, Purpose, RevokeClaims};
use skypod_protocol::{IdentityKey, RealmId, close, invitation, unix_now};
use std::process::Stdio;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn shared_bus() -> String {
    std::env::var("SKYPOD_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

struct Node {
    proc: Kill,
    addr: String,
    id: String,
    _dir: tempfile::TempDir,
}

impl Node {
    fn url(&self) -> String {
        format!("ws://{}/realm", self.addr)
    }

    async fn client(&self) -> RealmClient {
        RealmClient::connect(&self.url()).await.expect("connects")
    }

    fn pid(&self) -> i32 {
        self.proc.0.id() as i32
    }
}

/// A cluster's shared parts: one database, one bus, a subject prefix of its own.
struct Cluster {
    db: FreshDb,
    bus: String,
    prefix: String,
}

impl Cluster {
    async fn new(bus: String) -> Self {
        Self {
            db: FreshDb::create().await,
            bus,
            prefix: format!("skypodtest{:08x}", rand::random::<u32>()),
        }
    }

    fn node(&self, id: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let proc = Kill(
            skypod()
                .args(["serve", "--listen", &addr, "--node-id", id])
                .arg("--data-dir")
                .arg(dir.path())
                .env("SKYPOD_STORE", &self.db.url)
                .env("SKYPOD_BUS", &self.bus)
                .env("SKYPOD_BUS_PREFIX", &self.prefix)
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let start = Instant::now();
        while !http_get(&addr, "/healthz").starts_with("HTTP/1.1 200") {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "node {id} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Node {
            proc,
            addr,
            id: id.into(),
            _dir: dir,
        }
    }
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Read until the socket closes; the close code.
async fn close_code(c: &mut RealmClient, within: Duration) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, c.recv()).await {
            Err(_) => panic!("socket still open after {within:?}"),
            Ok(Ok(_)) => continue,
            Ok(Err(ClientError::Closed(f))) => return f.map(|f| u16::from(f.code)),
            Ok(Err(_)) => return None,
        }
    }
}

async fn peer_joined(c: &mut RealmClient, who: &IdentityKey) {
    loop {
        let f = c.recv_msg(PEER_JOINED, T).await.expect("peer-joined");
        if &dat::<PeerJoined>(&f).unwrap().identid == who.identid() {
            return;
        }
    }
}

async fn peer_left(c: &mut RealmClient, who: &IdentityKey, within: Duration) {
    loop {
        let f = c.recv_msg(PEER_LEFT, within).await.expect("peer-left");
        if &dat::<PeerLeft>(&f).unwrap().identid == who.identid() {
            return;
        }
    }
}

/// A realm whose founder is on `nodes[0]` and whose i-th invitee joins on `nodes[i % n]`.
async fn realm_across(
    nodes: &[&Node],
    members: usize,
) -> (RealmId, Vec<IdentityKey>, Vec<RealmClient>) {
    let realm = RealmId::random();
    let first = IdentityKey::generate_es256();
    let mut c = nodes[0].client().await;
    c.register(&first, &realm).await.expect("register");
    let (mut keys, mut clients) = (vec![first], vec![c]);
    for i in 1..members {
        let k = IdentityKey::generate_es256();
        let inv = invitation::create(&keys[0], &realm, unix_now(), 600, Some(k.identid().clone()))
            .unwrap();
        let mut c = nodes[i % nodes.len()].client().await;
        c.exchange(&k, &realm, &inv).await.expect("exchange");
        // Everyone already online hears of the newcomer, wherever they are.
        for other in clients.iter_mut() {
            peer_joined(other, &k).await;
        }
        keys.push(k);
        clients.push(c);
    }
    (realm, keys, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_signals_broadcasts_and_removal_across_nodes() {
    let cluster = Cluster::new(shared_bus()).await;
    let (a, b) = (cluster.node("a"), cluster.node("b"));
    let (realm, keys, mut cs) = realm_across(&[&a, &b], 3).await;
    // cs[0], cs[2] on a; cs[1] on b.
    // signal a -> b
    cs[0]
        .evt(
            SIGNAL,
            serde_json::json!({"remoteid": keys[1].identid(), "connectionid": "c1", "payload": "sdp-x"}),
        )
        .await
        .unwrap();
    let f = cs[1].recv_msg(SIGNAL, T).await.unwrap();
    assert_eq!(
        f.dat.as_ref().unwrap()["localid"],
        keys[0].identid().as_str()
    );
    // broadcast from b reaches both members on a, and not the sender
    cs[1].broadcast("ciphertext", None).await.unwrap();
    for i in [0, 2] {
        let c = &mut cs[i];
        let f = c.recv_msg("realm.broadcast", T).await.unwrap();
        assert_eq!(f.dat.as_ref().unwrap()["payload"], "ciphertext");
        assert_eq!(f.dat.as_ref().unwrap()["from"], keys[1].identid().as_str());
    }
    // a broadcast to listed recipients only reaches them
    cs[2]
        .broadcast("only-b", Some(vec![keys[1].identid().clone()]))
        .await
        .unwrap();
    let f = cs[1].recv_msg("realm.broadcast", T).await.unwrap();
    assert_eq!(f.dat.as_ref().unwrap()["payload"], "only-b");
    // removal on a closes the socket on b; everyone is told
    let t = token::sign(
        &keys[0],
        Purpose::Revoke,
        &realm,
        unix_now(),
        60,
        RevokeClaims {
            sub: keys[1].identid().clone(),
        },
    )
    .unwrap();
    cs[0]
        .request(MEMBER_REMOVE, TokenRequest { token: t })
        .await
        .unwrap();
    assert_eq!(close_code(&mut cs[1], T).await, Some(close::FORBIDDEN));
    let removed: MemberRemoved = dat(&cs[2].recv_msg(MEMBER_REMOVED, T).await.unwrap()).unwrap();
    assert_eq!(&removed.identid, keys[1].identid());
    peer_left(&mut cs[2], &keys[1], T).await;
    // and it cannot come back on either node
    for n in [&a, &b] {
        let e = n.client().await.authn(&keys[1], &realm).await.unwrap_err();
        assert!(
            matches!(e, ClientError::Refused(ref b) if b.status == 401),
            "{e:?}"
        );
    }
    // /healthz and /metrics name the node and its store and bus
    let h = http_get(&b.addr, "/healthz");
    assert!(
        h.contains(r#""node":"b""#) && h.contains(r#""kind":"postgres","ok":true"#),
        "{h}"
    );
    assert!(h.contains(r#""bus":{"kind":"nats","ok":true}"#), "{h}");
    let m = http_get(&a.addr, "/metrics");
    assert!(
        m.contains(r#"skypod_node{node="a",store="postgres",bus="nats"} 1"#),
        "{m}"
    );
    assert!(m.contains("skypod_bus_up 1"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_socket_per_identity_and_single_use_invitations_across_nodes() {
    let cluster = Cluster::new(shared_bus()).await;
    let (a, b) = (cluster.node("a"), cluster.node("b"));
    let (realm, keys, mut cs) = realm_across(&[&a, &b], 2).await;
    // keys[1] is on b; it connects again on a: the old socket on b gets 4001, the founder
    // hears peer-joined again and no peer-left.
    let mut again = a.client().await;
    again.authn(&keys[1], &realm).await.unwrap();
    assert_eq!(close_code(&mut cs[1], T).await, Some(close::REPLACED));
    peer_joined(&mut cs[0], &keys[1]).await;
    let quiet = cs[0].recv_msg(PEER_LEFT, Duration::from_millis(500)).await;
    assert!(matches!(quiet, Err(ClientError::Timeout)), "{quiet:?}");
    // still reachable, now on a
    cs[0].broadcast("hi", None).await.unwrap();
    again.recv_msg("realm.broadcast", T).await.unwrap();

    // One open invitation presented to both nodes at once, by different newcomers, several
    // times over: each time exactly one is admitted.
    for round in 0..4 {
        let inv = invitation::create(&keys[0], &realm, unix_now(), 600, None).unwrap();
        let (x, y) = (IdentityKey::generate_es256(), IdentityKey::generate_es256());
        let (mut cx, mut cy) = (a.client().await, b.client().await);
        let (rx, ry) = tokio::join!(cx.exchange(&x, &realm, &inv), cy.exchange(&y, &realm, &inv));
        let wins = [rx.is_ok(), ry.is_ok()];
        assert_eq!(
            wins.iter().filter(|w| **w).count(),
            1,
            "round {round}: {wins:?}"
        );
        let loser = if wins[0] { ry } else { rx };
        assert!(
            matches!(loser, Err(ClientError::Refused(ref b)) if b.status == 409),
            "{loser:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_announced_left_and_its_members_reconnect_elsewhere() {
    let cluster = Cluster::new(shared_bus()).await;
    let (a, b, c) = (cluster.node("a"), cluster.node("b"), cluster.node("c"));
    let (realm, keys, mut cs) = realm_across(&[&a, &b, &c], 3).await;
    // keys[2] is on c: SIGKILL it, no goodbye.
    let killed = Instant::now();
    unsafe { libc::kill(c.pid(), libc::SIGKILL) };
    peer_left(&mut cs[0], &keys[2], Duration::from_secs(15)).await;
    peer_left(&mut cs[1], &keys[2], Duration::from_secs(2)).await;
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(15), "{took:?}");
    // it reconnects to another node at once and is seen there
    let mut back = b.client().await;
    back.authn(&keys[2], &realm).await.unwrap();
    peer_joined(&mut cs[0], &keys[2]).await;
    cs[0].broadcast("after", None).await.unwrap();
    back.recv_msg("realm.broadcast", T).await.unwrap();
    drop(c);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_with_going_away_and_the_others_hear_at_once() {
    let cluster = Cluster::new(shared_bus()).await;
    let (a, b) = (cluster.node("a"), cluster.node("b"));
    let (realm, keys, mut cs) = realm_across(&[&a, &b], 2).await;
    unsafe { libc::kill(b.pid(), libc::SIGTERM) };
    assert_eq!(
        close_code(&mut cs[1], T).await,
        Some(close::GOING_AWAY),
        "drained"
    );
    // well before a heartbeat timeout: the node said goodbye
    peer_left(&mut cs[0], &keys[1], Duration::from_secs(3)).await;
    let mut moved = a.client().await;
    moved.authn(&keys[1], &realm).await.unwrap();
    peer_joined(&mut cs[0], &keys[1]).await;
    let mut b = b;
    let status = b.proc.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// A NATS server of the test's own on a free port, so it can be stopped and restarted
/// without disturbing the machine's shared one.
fn own_nats(port: u16) -> Kill {
    let k = Kill(
        std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is installed (scripts/test.sh installs it)"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_bus_closes_with_going_away_and_the_node_recovers_by_itself() {
    let port = free_port();
    let nats = own_nats(port);
    let cluster = Cluster::new(format!("nats://127.0.0.1:{port}")).await;
    let (a, b) = (cluster.node("a"), cluster.node("b"));
    let (realm, keys, mut cs) = realm_across(&[&a, &b], 2).await;
    drop(nats);
    // both nodes close their sockets with "going away" and refuse new ones, clearly
    for c in cs.iter_mut() {
        assert_eq!(close_code(c, T).await, Some(close::GOING_AWAY));
    }
    let refused = RealmClient::connect(&a.url()).await.err().expect("refused");
    assert!(refused.to_string().contains("503"), "{refused}");
    let h = http_get(&a.addr, "/healthz");
    assert!(
        h.starts_with("HTTP/1.1 503") && h.contains(r#""bus":{"kind":"nats","ok":false}"#),
        "{h}"
    );
    // the bus comes back: the nodes serve again without a restart, and see each other
    let _nats = own_nats(port);
    let start = Instant::now();
    for n in [&a, &b] {
        while !http_get(&n.addr, "/healthz").starts_with("HTTP/1.1 200") {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "node {} did not recover",
                n.id
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let mut x = a.client().await;
    x.authn(&keys[0], &realm).await.unwrap();
    let mut y = b.client().await;
    y.authn(&keys[1], &realm).await.unwrap();
    peer_joined(&mut x, &keys[1]).await;
    x.broadcast("back", None).await.unwrap();
    y.recv_msg("realm.broadcast", T).await.unwrap();
    // nothing acknowledged was lost: the realm and both members are still in the store
    let mut z = b.client().await;
    let res = z.authn(&keys[0], &realm).await.unwrap();
    assert_eq!(res.identities.len(), 2);
}

#[test]
fn a_bus_without_a_shared_store_is_refused_with_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let out = skypod()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--bus",
            "nats://127.0.0.1:4222",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("SKYPOD_STORE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--bus needs a shared --store postgres://"),
        "{err}"
    );
}
