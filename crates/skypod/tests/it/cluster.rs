//! Several `skypod serve` processes as one realm server: a real PostgreSQL store (a fresh
//! database per test) and a real NATS bus (the machine's on 127.0.0.1:4222, or one started
//! here when a test stops and restarts it), members on different nodes.

use crate::common::{Kill, free_port, skypod};
use crate::pg::FreshDb;
use skypod_client::{ClientError, RealmClient, dat};
use skypod_protocol::messages::{
    MEMBER_REMOVED, MemberRemoved, PEER_JOINED, PEER_LEFT, PeerJoined, PeerLeft, SIGNAL,
};
use skypod_protocol::token::{self, NoClaims, Purpose};
use skypod_protocol::{IdentityKey, RealmId, close, invitation, unix_now};
use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Condvar, Mutex};
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
        self.node_on(id, &self.db.url)
    }

    /// A node reaching the shared database at `store` (the database's URL, or one through a
    /// forwarder the test controls).
    fn node_on(&self, id: &str, store: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let proc = Kill(
            skypod()
                .args(["serve", "--listen", &addr, "--node-id", id])
                .arg("--data-dir")
                .arg(dir.path())
                .env("SKYPOD_STORE", store)
                .env("SKYPOD_BUS", &self.bus)
                .env("SKYPOD_BUS_PREFIX", &self.prefix)
                // The feed proxy may fetch the tests' loopback fixtures.
                .env("SKYPOD_PROXY_ALLOW_FOR_TESTS", "127.0.0.0/8")
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
/// Waits until every node's `/healthz` says 200 again; 15 s at the most.
async fn recovered(nodes: &[&Node]) {
    let start = Instant::now();
    for n in nodes {
        while !http_get(&n.addr, "/healthz").starts_with("HTTP/1.1 200") {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "node {} did not recover",
                n.id
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

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
    cs[0]
        .remove_member(&keys[0], &realm, keys[1].identid())
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

/// The presence events about `who` that `c` receives within `within`, in order.
async fn presence_of(
    c: &mut RealmClient,
    who: &IdentityKey,
    within: Duration,
) -> Vec<&'static str> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    while let Ok(Ok(f)) = tokio::time::timeout_at(deadline, c.recv()).await {
        if f.msg == PEER_LEFT && &dat::<PeerLeft>(&f).unwrap().identid == who.identid() {
            seen.push("left");
        } else if f.msg == PEER_JOINED && &dat::<PeerJoined>(&f).unwrap().identid == who.identid() {
            seen.push("joined");
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_on_another_node_before_its_dead_node_is_noticed_is_left_then_joined() {
    let cluster = Cluster::new(shared_bus()).await;
    let (a, b, c) = (cluster.node("a"), cluster.node("b"), cluster.node("c"));
    let (realm, keys, mut cs) = realm_across(&[&a, &b, &c], 3).await;
    // keys[2] is on c; c dies, and keys[2] is back on b at once, while the cluster still
    // lists it on c. Members on b (where it joins) and on a (told over the bus) see the old
    // session leave before the new one joins — never two peer-joined in a row — and nothing
    // more once c is noticed dead (it is online on b).
    unsafe { libc::kill(c.pid(), libc::SIGKILL) };
    let mut back = b.client().await;
    back.authn(&keys[2], &realm).await.unwrap();
    let (first, rest) = cs.split_at_mut(1);
    let (on_a, on_b) = tokio::join!(
        presence_of(&mut first[0], &keys[2], Duration::from_secs(12)),
        presence_of(&mut rest[0], &keys[2], Duration::from_secs(12)),
    );
    assert_eq!(
        on_b,
        ["left", "joined"],
        "a member on the node it came back to"
    );
    assert_eq!(on_a, ["left", "joined"], "a member on another node");
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
    recovered(&[&a, &b]).await;
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

/// An episode's audio on loopback. The first `together` requests are answered at the same
/// moment, once all of them have arrived, so the nodes asking for it start analysing it at
/// once; later requests are answered at once. Counts requests.
struct AudioOrigin {
    url: String,
    arrived: Arc<(Mutex<usize>, Condvar)>,
}

impl AudioOrigin {
    fn start(together: usize) -> Self {
        let body = long_episode();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/episode.mp3", l.local_addr().unwrap());
        let arrived = Arc::new((Mutex::new(0usize), Condvar::new()));
        let counter = arrived.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let (body, arrived) = (body.clone(), counter.clone());
                std::thread::spawn(move || {
                    let (mut head, mut buf) = (Vec::new(), [0u8; 2048]);
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match c.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let (n, cv) = &*arrived;
                    let mut n = n.lock().unwrap();
                    *n += 1;
                    cv.notify_all();
                    drop(
                        cv.wait_timeout_while(n, Duration::from_secs(10), |n| *n < together)
                            .unwrap(),
                    );
                    let _ = write!(
                        c,
                        "HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = c.write_all(&body);
                });
            }
        });
        Self { url, arrived }
    }

    fn requests(&self) -> usize {
        *self.arrived.0.lock().unwrap()
    }
}

/// About 2½ minutes of MP3: the 4-second fixture (speech, 1 s and 2 s pauses) 40 times over,
/// its ID3 tag stripped, so that decoding it takes long enough for two nodes' analyses to
/// overlap when nothing makes one wait for the other.
fn long_episode() -> Vec<u8> {
    let one = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../feeds/testdata/audio/pauses.mp3"
    ))
    .unwrap();
    assert_eq!(&one[..3], b"ID3");
    let size = one[6..10]
        .iter()
        .fold(0usize, |n, b| (n << 7) | usize::from(b & 0x7f));
    let footer = if one[5] & 0x10 != 0 { 10 } else { 0 };
    let mut frames = &one[10 + size + footer..];
    // The first frame is LAME's Info frame, whose frame count would end every decode after
    // the first copy: leave it out (MPEG-1 layer III: 144 × bitrate / rate + padding bytes).
    let h = &frames[..4];
    assert!(
        h[0] == 0xff && h[1] & 0xfe == 0xfa,
        "an MPEG-1 layer III frame"
    );
    let kbps = [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ][usize::from(h[2] >> 4)];
    let rate = [44100, 48000, 32000][usize::from((h[2] >> 2) & 3)];
    let len = 144_000 * kbps / rate + usize::from((h[2] >> 1) & 1);
    if frames[..len]
        .windows(4)
        .any(|w| w == b"Info" || w == b"Xing")
    {
        frames = &frames[len..];
    }
    frames.repeat(40)
}

/// `/proxy/silence` of `audio` on `node`, as a member of `realm`: the status and the JSON.
async fn silence(
    node: &Node,
    key: &IdentityKey,
    realm: &RealmId,
    audio: &str,
) -> (u16, serde_json::Value) {
    let bearer = token::sign(key, Purpose::Proxy, realm, unix_now(), 60, NoClaims {}).unwrap();
    let r = skypod_feeds::fetch::http_client()
        .build()
        .unwrap()
        .get(format!("http://{}/proxy/silence?url={audio}", node.addr))
        .bearer_auth(bearer)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The node's `skypod_proxy_analyses_total`: analyses it decoded itself.
fn analyses_run(node: &Node) -> u64 {
    let m = http_get(&node.addr, "/metrics");
    m.lines()
        .find_map(|l| l.strip_prefix("skypod_proxy_analyses_total "))
        .unwrap_or_else(|| panic!("no analyses counter in {m}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_analysis_serves_every_node_and_concurrent_requests_run_it_once() {
    let cluster = Cluster::new(shared_bus()).await;
    let (a, b, c) = (cluster.node("a"), cluster.node("b"), cluster.node("c"));
    let (realm, keys, _cs) = realm_across(&[&a, &b], 1).await;
    let origin = AudioOrigin::start(2);
    // The same episode asked of a and b at once: each fetches the body (bodies are per
    // node), and they get it at the same moment; one of them decodes it.
    let ((sa, va), (sb, vb)) = tokio::join!(
        silence(&a, &keys[0], &realm, &origin.url),
        silence(&b, &keys[0], &realm, &origin.url)
    );
    assert_eq!((sa, sb), (200, 200), "{va} {vb}");
    assert_eq!(origin.requests(), 2, "each node fetched the body once");
    // two pauses per copy (how the copies' joins read is the decoder's business)
    assert!(va["silences"].as_array().unwrap().len() >= 80, "{va}");
    assert_eq!(va["silences"], vb["silences"]);
    assert_eq!(va["content_hash"], vb["content_hash"]);
    let (ra, rb) = (analyses_run(&a), analyses_run(&b));
    assert_eq!(ra + rb, 1, "one analysis in all (a ran {ra}, b ran {rb})");
    // A third node, which has never seen the episode, fetches the body and is served the
    // analysis from PostgreSQL without decoding.
    let (sc, vc) = silence(&c, &keys[0], &realm, &origin.url).await;
    assert_eq!(sc, 200, "{vc}");
    assert_eq!(origin.requests(), 3);
    assert_eq!(vc["silences"], va["silences"]);
    assert_eq!(analyses_run(&c), 0, "c decoded nothing");
    assert_eq!(analyses_run(&a) + analyses_run(&b), 1);
}

/// A loopback TCP forwarder to PostgreSQL that the test can cut (every connection closed,
/// new ones refused) and restore on the same port.
struct Forwarder {
    port: u16,
    to: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Forwarder {
    async fn start(to: String) -> Self {
        let mut f = Self {
            port: free_port(),
            to,
            task: None,
        };
        f.restore().await;
        f
    }

    async fn restore(&mut self) {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let to = self.to.clone();
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: every forwarded connection is aborted, so closed.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = l.accept().await else {
                    continue;
                };
                let to = to.clone();
                conns.spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                while conns.try_join_next().is_some() {}
            }
        }));
    }

    async fn cut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

/// `postgres://user@host:port/db` → (`host:port`, the same URL through 127.0.0.1:`port`).
fn via_port(url: &str, port: u16) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    (
        hostport.to_owned(),
        format!("{scheme}://{user}127.0.0.1:{port}/{path}"),
    )
}

/// A request that needs the store, bounded so that a hang fails the test instead of it.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 15 s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_database_gives_clear_errors_and_the_node_recovers_by_itself() {
    let cluster = Cluster::new(shared_bus()).await;
    let (pg, _) = via_port(&cluster.db.url, 0);
    let mut fwd = Forwarder::start(pg).await;
    let (_, through) = via_port(&cluster.db.url, fwd.port);
    let (a, b) = (
        cluster.node_on("a", &through),
        cluster.node_on("b", &through),
    );
    let (realm, keys, mut cs) = realm_across(&[&a, &b], 2).await;

    fwd.cut().await;
    // Members already online keep talking: routing needs no store.
    cs[1].broadcast("during", None).await.unwrap();
    let f = cs[0].recv_msg("realm.broadcast", T).await.unwrap();
    assert_eq!(f.dat.as_ref().unwrap()["payload"], "during");
    // What needs the store is refused soon, not hung, with the documented
    // `store_unavailable` error (503: nothing was changed; try again shortly).
    let newcomer = IdentityKey::generate_es256();
    let inv = invitation::create(&keys[0], &realm, unix_now(), 600, None).unwrap();
    let asked = Instant::now();
    let e = within("exchange", async {
        a.client().await.exchange(&newcomer, &realm, &inv).await
    })
    .await
    .unwrap_err();
    assert!(
        matches!(e, ClientError::Refused(ref r) if r.status == 503 && r.code == "store_unavailable"),
        "{e:?} after {:?}",
        asked.elapsed()
    );
    let e = within("register", async {
        let other = IdentityKey::generate_es256();
        b.client().await.register(&other, &RealmId::random()).await
    })
    .await
    .unwrap_err();
    assert!(
        matches!(e, ClientError::Refused(ref r) if r.code == "store_unavailable"),
        "{e:?}"
    );
    // A removal is refused as a whole: the member's socket stays open.
    let e = within(
        "removal",
        cs[0].remove_member(&keys[0], &realm, keys[1].identid()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, ClientError::Refused(ref r) if r.code == "store_unavailable"),
        "{e:?}"
    );
    // The feed proxy keeps serving: the analysis is computed on the node, not shared.
    let origin = AudioOrigin::start(1);
    let asked = Instant::now();
    let (status, v) = within("proxy", silence(&a, &keys[0], &realm, &origin.url)).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["silences"].as_array().unwrap().len() >= 80, "{v}");
    assert_eq!(analyses_run(&a), 1);
    assert!(
        asked.elapsed() < Duration::from_secs(12),
        "{:?}",
        asked.elapsed()
    );
    let h = http_get(&a.addr, "/healthz");
    assert!(
        h.starts_with("HTTP/1.1 503") && h.contains(r#""store":{"kind":"postgres","ok":false}"#),
        "{h}"
    );

    // The database comes back: both nodes serve again without a restart.
    fwd.restore().await;
    recovered(&[&a, &b]).await;
    // The refused exchange left nothing behind: the same invitation admits the newcomer now.
    let mut nc = a.client().await;
    nc.exchange(&newcomer, &realm, &inv).await.unwrap();
    for c in cs.iter_mut() {
        peer_joined(c, &newcomer).await;
    }
    // Nothing acknowledged was lost, and the refused removal removed nothing: a node that
    // loads the realm from the database afresh knows all three members.
    let fresh = cluster.node("c");
    let mut z = fresh.client().await;
    let res = z.authn(&keys[1], &realm).await.unwrap();
    assert_eq!(res.identities.len(), 3, "{:?}", res.identities);
}
