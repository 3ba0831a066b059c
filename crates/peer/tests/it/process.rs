//! A peer in its own OS process, killed or frozen by signals: what a crash or a stalled
//! network path looks like to the rest of the mesh. Real server, real peers, loopback only.
//!
//! The child is this test executable run again with `--ignored --exact process::child_peer`
//! and its configuration in `SKYPOD_TEST_CHILD_*` variables (no extra binary to build). It
//! prints one line per event on stdout and answers every direct `ping:X` with a direct
//! `echo:X`, which proves a working data channel in both directions.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use futures_util::StreamExt;
use skypod_peer::{Identity, JoinMode, Link, Mode, PeerEvent, Via};
use skypod_protocol::{IdentId, IdentityKey, RealmId, invitation, unix_now};

const CHILD: &str = "SKYPOD_TEST_CHILD";

/// The child's entry point (ignored unless run by [`spawn_child`]).
#[test]
#[ignore = "entry point of the child process of the tests in this file"]
fn child_peer() {
    let Ok(dir) = std::env::var(format!("{CHILD}_DIR")) else {
        return;
    };
    let var = |k: &str| std::env::var(format!("{CHILD}_{k}")).expect("child variable");
    let url = var("URL");
    let realm = RealmId::new(var("REALM")).expect("realm id");
    let join = match var("JOIN").as_str() {
        "register" => JoinMode::Register,
        "authn" => JoinMode::Authn,
        inv => JoinMode::Exchange {
            invitation: inv.to_owned(),
        },
    };
    let dir = Path::new(&dir);
    let key = Identity::load_or_create(dir).expect("identity");
    let mut cfg = peer_config(key, &realm, &url, join, dir);
    // When this process is frozen (SIGSTOP) it must not give up its side of the link on
    // waking before the other side's ICE restart reaches it: the test is about the side that
    // detects the stall.
    cfg.health.pong_timeout = Duration::from_secs(20);
    init_tracing();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        let (handle, events) = skypod_peer::Peer::start(cfg.clone());
        let mut events = persisting_keys(events, dir, &cfg);
        println!("CHILD id {}", handle.identid());
        while let Some(e) = events.next().await {
            match e {
                PeerEvent::Message {
                    from,
                    bytes,
                    via: Via::P2p,
                } => {
                    if let Some(n) = bytes.strip_prefix(b"ping:") {
                        let echo = [b"echo:".as_slice(), n].concat();
                        let via = handle.send(&from, echo, Mode::P2p).await;
                        println!("CHILD echoed to {from} via {via:?}");
                    }
                }
                PeerEvent::Rtt { .. } => {}
                e => println!("CHILD {e:?}"),
            }
        }
    });
}

/// A child peer process; SIGKILLed on drop if still running.
struct ChildPeer {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl ChildPeer {
    /// Wait for a line of the child's output containing `what`.
    async fn wait_line(&self, what: &str) {
        let deadline = tokio::time::Instant::now() + T;
        loop {
            match self.lines.try_recv() {
                Ok(l) if l.contains(what) => return,
                Ok(_) => continue,
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "child: no {what:?} within {T:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("child output ended waiting for {what:?}: {e}"),
            }
        }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: kill(2) on our own child's pid; it cannot have been reaped (and the pid
        // reused) before `wait`, which only `sigkill` and `Drop` call.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig}) failed");
    }

    /// SIGKILL, and check that this is how it ended (no chance to say goodbye).
    fn sigkill(mut self) {
        self.signal(libc::SIGKILL);
        let status = self.child.wait().expect("wait for the child");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "child ended by {status:?}");
    }
}

impl Drop for ChildPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_child(server: &TestServer, realm: &RealmId, dir: &Path, join: &str) -> ChildPeer {
    let exe = std::env::current_exe().expect("test executable");
    let mut child = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "process::child_peer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(format!("{CHILD}_DIR"), dir)
        .env(format!("{CHILD}_URL"), server.url())
        .env(format!("{CHILD}_REALM"), realm.as_str())
        .env(format!("{CHILD}_JOIN"), join)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child peer");
    // Its lines go to our output (shown when a test fails: the child's view) and to the test.
    let out = child.stdout.take().expect("child stdout");
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if line.starts_with("CHILD") {
                println!("{line}");
                let _ = tx.send(line);
            } else {
                println!("child| {line}");
            }
        }
    });
    ChildPeer { child, lines }
}

/// A fresh identity in `dir` (as the child will load it) and an invitation bound to it.
fn child_identity(dir: &Path, realm: &RealmId, inviter: &IdentityKey) -> (IdentId, String) {
    let key = Identity::load_or_create(dir).unwrap();
    let inv =
        invitation::create(inviter, realm, unix_now(), 600, Some(key.identid().clone())).unwrap();
    (key.identid().clone(), inv)
}

/// Wait until `p` has a direct link to `to` that carries a ping there and its echo back.
async fn round_trip(p: &mut TestPeer, to: &IdentId, tag: &str) {
    let deadline = tokio::time::Instant::now() + T;
    let want = format!("echo:{tag}");
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: no direct round trip with {to} within {T:?}; saw {:#?}",
            p.id(),
            p.log
        );
        if p.handle
            .send(to, format!("ping:{tag}"), Mode::P2p)
            .await
            .ok()
            != Some(Via::P2p)
        {
            // No direct link yet (the relayed copy, if any, is not echoed).
            p.settle(Duration::from_millis(200)).await;
            continue;
        }
        let got = tokio::time::timeout(
            Duration::from_secs(3),
            p.wait("echo", |e| {
                matches!(e, PeerEvent::Message { from, bytes, via: Via::P2p }
                    if from == to && bytes.as_ref() == want.as_bytes())
            }),
        )
        .await;
        if got.is_ok() {
            return;
        }
    }
}

/// Wait until `p` has direct links to exactly `n` members.
async fn wait_p2p(p: &TestPeer, n: usize) {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let got = p.p2p_count().await;
        if got == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{}: {got} direct links, not {n}, after {T:?}",
            p.id()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn link_to(p: &TestPeer, to: &IdentId) -> (Link, Option<String>) {
    let info = p.handle.peers().await.unwrap_or_default();
    info.into_iter()
        .find(|i| &i.peer == to)
        .map(|i| (i.link, i.connection))
        .unwrap_or((Link::Down, None))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_peer_process_is_seen_offline_and_the_mesh_heals_when_it_restarts() {
    let (_sdir, s) = server().await;
    let (realm, mut peers) = meshed_realm(&s, 3).await;

    let cdir = tempfile::tempdir().unwrap();
    let (cid, inv) = child_identity(cdir.path(), &realm, &peers[0].key);
    let child = spawn_child(&s, &realm, cdir.path(), &inv);
    for (i, p) in peers.iter_mut().enumerate() {
        round_trip(p, &cid, &format!("before-{i}")).await;
    }

    child.sigkill();
    for p in peers.iter_mut() {
        p.wait(
            "the killed peer leaves",
            |e| matches!(e, PeerEvent::PeerLeft { peer } if *peer == cid),
        )
        .await;
        let down = |e: &PeerEvent| matches!(e, PeerEvent::LinkState { peer, link: Link::Down } if *peer == cid);
        if !p.log.iter().any(down) {
            p.wait("its link goes down", down).await;
        }
        // the others stay linked to each other
        wait_p2p(p, 2).await;
    }

    // restart it: same identity and data dir, now a member
    let _child = spawn_child(&s, &realm, cdir.path(), "authn");
    for (i, p) in peers.iter_mut().enumerate() {
        p.wait(
            "the restarted peer joins",
            |e| matches!(e, PeerEvent::PeerJoined { peer } if *peer == cid),
        )
        .await;
        round_trip(p, &cid, &format!("after-{i}")).await;
    }
    // everyone linked to everyone again, the restarted process included
    for p in &peers {
        wait_p2p(p, 3).await;
    }
    shutdown(&peers, s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_link_is_repaired_by_an_ice_restart_on_the_same_connection() {
    let (_sdir, s) = server().await;

    // The child is the realm's first device, so the in-process peer (the newcomer) offers the
    // connection and is the side that repairs it.
    let realm = RealmId::random();
    let cdir = tempfile::tempdir().unwrap();
    let founder = Identity::load_or_create(cdir.path()).unwrap();
    let cid = founder.identid().clone();
    save_founder_state(cdir.path(), &realm, &s);
    let child = spawn_child(&s, &realm, cdir.path(), "register");
    // Joining needs the realm registered.
    child.wait_line("Signaling(Online)").await;
    let tweak = |c: &mut skypod_peer::PeerConfig| {
        // Long enough to outlast the stall: only a failed restart may start over.
        c.negotiation.ice_restart_timeout = Duration::from_secs(120);
        // The ping that went unanswered during the stall is still in SCTP's queue, and SCTP
        // retransmits it on its own backed-off timer (1 s minimum, doubling): the first pong
        // after the restart waits behind it, about as long as the stall lasted. The 2 s
        // timeout of the other tests would declare the repaired link dead again.
        c.health.pong_timeout = Duration::from_secs(5);
    };
    let mut p = join(&s, &realm, &founder, &tweak).await;
    round_trip(&mut p, &cid, "before").await;
    let (link, before) = link_to(&p, &cid).await;
    assert_eq!(link, Link::P2p);
    let before = before.expect("a live connection has an id");

    // Freeze the child: its sockets stay open (the server still sees it online) but nothing
    // answers, as on a stalled network path. Health checks declare the link dead.
    child.signal(libc::SIGSTOP);
    p.wait(
        "the link to the frozen peer falls back to the relay",
        |e| matches!(e, PeerEvent::LinkState { peer, link: Link::Relay } if *peer == cid),
    )
    .await;
    child.signal(libc::SIGCONT);
    p.wait(
        "the direct link is back",
        |e| matches!(e, PeerEvent::LinkState { peer, link: Link::P2p } if *peer == cid),
    )
    .await;
    round_trip(&mut p, &cid, "after").await;
    let (link, after) = link_to(&p, &cid).await;
    assert_eq!(link, Link::P2p);
    assert_eq!(
        after.as_deref(),
        Some(before.as_str()),
        "the link was repaired by a new connection, not by an ICE restart of the old one"
    );
    assert!(
        !p.log
            .iter()
            .any(|e| matches!(e, PeerEvent::PeerLeft { peer } if *peer == cid)),
        "the server saw the frozen peer leave: the test did not exercise a stalled link"
    );
    p.handle.shutdown().await;
    drop(child);
    s.stop().await;
}
