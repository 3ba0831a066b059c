//! Real server, real peers, loopback only.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::*;
use skypod_client::{RealmClient, dat};
use skypod_peer::sm::signaling::StopReason;
use skypod_peer::{Link, Mode, PeerEvent, RealmState, Signal, Via, crypto};
use skypod_protocol::messages::{BROADCAST, BroadcastDelivery, SIGNAL, SignalRequest};
use skypod_protocol::token::{self, Purpose, RtcSignal, SignalClaims};
use skypod_protocol::{IdentityKey, RealmId, invitation, unix_now};

fn messages(p: &TestPeer, via: Via) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for e in &p.log {
        if let PeerEvent::Message { bytes, via: v, .. } = e
            && *v == via
        {
            *m.entry(String::from_utf8_lossy(bytes).into_owned())
                .or_default() += 1;
        }
    }
    m
}

/// Peer `i` sends `<prefix>-from-<i>` to every other peer over `mode`; each send must reach
/// all of them.
async fn each_sends_to_all(peers: &[TestPeer], prefix: &str, mode: Mode) {
    for (i, p) in peers.iter().enumerate() {
        let n = p
            .handle
            .send_all(format!("{prefix}-from-{i}"), mode)
            .await
            .unwrap();
        assert_eq!(n, peers.len() - 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_peers_form_a_full_mesh_and_each_message_arrives_exactly_once() {
    let (_sdir, s) = server().await;
    let (_realm, mut peers) = meshed_realm(&s, 5).await;
    each_sends_to_all(&peers, "p2p", Mode::P2p).await;
    // every joiner got the realm key from a member, so the relay works for everyone too
    for p in peers.iter_mut().skip(1) {
        if p.handle_key_epoch().await.is_none() {
            p.wait("realm key", |e| matches!(e, PeerEvent::RealmKey { .. }))
                .await;
        }
    }
    each_sends_to_all(&peers, "relay", Mode::Relay).await;
    for p in peers.iter_mut() {
        p.settle(Duration::from_millis(1500)).await;
    }
    for (i, p) in peers.iter().enumerate() {
        for (via, prefix) in [(Via::P2p, "p2p"), (Via::Relay, "relay")] {
            let m = messages(p, via);
            for j in 0..5 {
                let want = usize::from(i != j);
                let got = m.get(&format!("{prefix}-from-{j}")).copied().unwrap_or(0);
                assert_eq!(
                    got, want,
                    "peer {i} got {prefix} message of {j} {got} times"
                );
            }
        }
    }
    shutdown(&peers, s).await;
}

trait KeyEpoch {
    async fn handle_key_epoch(&self) -> Option<u64>;
}
impl KeyEpoch for TestPeer {
    async fn handle_key_epoch(&self) -> Option<u64> {
        self.log.iter().rev().find_map(|e| match e {
            PeerEvent::RealmKey { epoch, .. } => Some(*epoch),
            _ => None,
        })
    }
}

/// A member that speaks the protocol directly (no WebRTC, no realm key): sees exactly what
/// the server routes to a member.
async fn raw_member(
    s: &TestServer,
    realm: &RealmId,
    inviter: &IdentityKey,
) -> (IdentityKey, RealmClient) {
    let k = IdentityKey::generate_es256();
    let inv =
        invitation::create(inviter, realm, unix_now(), 600, Some(k.identid().clone())).unwrap();
    let mut c = RealmClient::connect(&s.url()).await.unwrap();
    c.exchange(&k, realm, &inv).await.unwrap();
    (k, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_peer_is_seen_leaving_and_the_mesh_heals_when_it_returns() {
    let (_sdir, s) = server().await;
    let (realm, mut peers) = meshed_realm(&s, 4).await;
    let gone = peers.pop().unwrap();
    let gone_id = gone.id().clone();
    gone.handle.shutdown().await;
    for p in peers.iter_mut() {
        p.wait(
            "peer left",
            |e| matches!(e, PeerEvent::PeerLeft { peer } if *peer == gone_id),
        )
        .await;
    }
    // restart it: same identity, same data dir, now a member
    let back = restart_member(gone, &realm, &s);
    peers.push(back);
    full_mesh(&peers).await;
    for p in peers.iter_mut().take(3) {
        p.wait(
            "peer joined",
            |e| matches!(e, PeerEvent::PeerJoined { peer } if *peer == gone_id),
        )
        .await;
    }
    shutdown(&peers, s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_server_restart_everyone_reconnects() {
    let (sdir, s) = server().await;
    let addr = s.addr;
    let (_realm, mut peers) = meshed_realm(&s, 3).await;
    for p in peers.iter_mut().skip(1) {
        p.wait("realm key", |e| matches!(e, PeerEvent::RealmKey { .. }))
            .await;
    }
    s.stop().await;
    for p in peers.iter_mut() {
        p.wait("offline", |e| {
            matches!(e, PeerEvent::Signaling(Signal::Offline))
        })
        .await;
    }
    let s = TestServer::start_on(sdir.path(), addr).await;
    for p in peers.iter_mut() {
        p.wait("online again", |e| {
            matches!(e, PeerEvent::Signaling(Signal::Online))
        })
        .await;
    }
    full_mesh(&peers).await;
    // the relay works again: it needs the server
    let to = peers[1].id().clone();
    let deadline = tokio::time::Instant::now() + T;
    loop {
        if peers[0]
            .handle
            .send(&to, "via-new-server", Mode::Relay)
            .await
            .is_ok()
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peers[1]
        .wait("relayed message", |e| matches!(e, PeerEvent::Message { via: Via::Relay, bytes, .. } if &bytes[..] == b"via-new-server"))
        .await;
    shutdown(&peers, s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_offers_end_in_one_connection() {
    let (_sdir, s) = server().await;
    // Nobody waits for the newcomer's offer: both sides offer at once (glare).
    let (_realm, mut peers) = realm_with(&s, 2, |c| {
        c.negotiation.wait_for_offer = Duration::ZERO;
    })
    .await;
    full_mesh(&peers).await;
    for p in peers.iter_mut() {
        p.settle(Duration::from_millis(1500)).await;
    }
    let a = peers[0].handle.peers().await.unwrap();
    let b = peers[1].handle.peers().await.unwrap();
    assert_eq!(a[0].link, Link::P2p);
    assert_eq!(b[0].link, Link::P2p);
    assert!(a[0].connection.is_some());
    assert_eq!(
        a[0].connection, b[0].connection,
        "both sides use one connection"
    );
    for p in &peers {
        let ups = p
            .log
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    PeerEvent::LinkState {
                        link: Link::P2p,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(ups, 1, "the link came up once and stayed: {:?}", p.log);
    }
    shutdown(&peers, s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_signals_are_rejected() {
    let (_sdir, s) = server().await;
    let (realm, mut peers) = meshed_realm(&s, 2).await;
    let inviter = peers[0].key.clone();
    let (mkey, mut m) = raw_member(&s, &realm, &inviter).await;
    let a = peers[0].id().clone();
    let b = peers[1].id().clone();
    let mallory = IdentityKey::generate_es256();
    let offer = RtcSignal::Description {
        sdp_type: "offer".into(),
        sdp: "v=0\r\n".into(),
    };
    let sign = |k: &IdentityKey, sub: &skypod_protocol::IdentId, cid: &str| {
        token::sign(
            k,
            Purpose::Signal,
            &realm,
            unix_now(),
            60,
            SignalClaims {
                sub: sub.clone(),
                cid: cid.into(),
                signal: offer.clone(),
            },
        )
        .unwrap()
    };
    let cases = [
        // signed by a non-member, relayed by a member
        ("c1", sign(&mallory, &a, "c1")),
        // signed by the sender but for another receiver (replayed from B's traffic)
        ("c2", sign(&mkey, &b, "c2")),
        // the token's connection id does not match the envelope's
        ("c3", sign(&mkey, &a, "other")),
        // not a JWT at all
        ("c4", "garbage".to_owned()),
        // signed for another purpose
        (
            "c5",
            token::sign(
                &mkey,
                Purpose::Authn,
                &realm,
                unix_now(),
                60,
                token::NoClaims {},
            )
            .unwrap(),
        ),
    ];
    for (cid, payload) in &cases {
        m.evt(
            SIGNAL,
            SignalRequest {
                localid: None,
                remoteid: a.clone(),
                connectionid: (*cid).into(),
                payload: payload.clone(),
            },
        )
        .await
        .unwrap();
    }
    let mid = mkey.identid().clone();
    for _ in &cases {
        peers[0]
            .wait(
                "rejection",
                |e| matches!(e, PeerEvent::Rejected { from, .. } if *from == mid),
            )
            .await;
    }
    // nothing was accepted: the only connection to M would be our own attempt, and the
    // link to B is untouched
    let info = peers[0].handle.peers().await.unwrap();
    let to_m = info.iter().find(|p| p.peer == mid).unwrap();
    assert_ne!(to_m.link, Link::P2p);
    for c in ["c1", "c2", "c3", "c4", "c5"] {
        assert_ne!(to_m.connection.as_deref(), Some(c));
    }
    assert_eq!(info.iter().find(|p| p.peer == b).unwrap().link, Link::P2p);
    shutdown(&peers, s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_server_relays_and_stores_is_ciphertext() {
    let (sdir, s) = server().await;
    let (realm, mut peers) = realm(&s, 2).await;
    peers[1]
        .wait("realm key", |e| matches!(e, PeerEvent::RealmKey { .. }))
        .await;
    let inviter = peers[0].key.clone();
    let (_okey, mut observer) = raw_member(&s, &realm, &inviter).await;
    let marker = "PLAINTEXT-MARKER-5f3a9c";
    // wait until A sees the observer online so send_all includes it
    let oid = _okey.identid().clone();
    peers[0]
        .wait(
            "observer joined",
            |e| matches!(e, PeerEvent::PeerJoined { peer } if *peer == oid),
        )
        .await;
    let n = peers[0]
        .handle
        .send_all(format!("{marker}: hello over the relay"), Mode::Relay)
        .await
        .unwrap();
    assert_eq!(n, 2);
    peers[1]
        .wait("relayed plaintext", |e| matches!(e, PeerEvent::Message { via: Via::Relay, bytes, .. } if bytes.starts_with(marker.as_bytes())))
        .await;
    // the observer sees what the server routed: a ciphertext payload
    let f = observer.recv_msg(BROADCAST, T).await.unwrap();
    let raw = serde_json::to_string(&f).unwrap();
    assert!(!raw.contains(marker), "plaintext reached the server: {raw}");
    let d: BroadcastDelivery = dat(&f).unwrap();
    assert!(d.payload.len() > marker.len());
    for p in &peers {
        p.handle.shutdown().await;
    }
    drop(observer);
    s.stop().await;
    // and nothing on the server's disk contains it either
    let mut all = Vec::new();
    for entry in std::fs::read_dir(sdir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            all.extend(std::fs::read(&p).unwrap());
        }
    }
    assert!(!all.windows(marker.len()).any(|w| w == marker.as_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_locked_out_and_cannot_read_after_rotation() {
    let (_sdir, s) = server().await;
    let (realm, mut peers) = meshed_realm(&s, 3).await;
    for p in peers.iter_mut().skip(1) {
        p.wait("realm key", |e| {
            matches!(e, PeerEvent::RealmKey { epoch: 1, .. })
        })
        .await;
    }
    let inviter = peers[0].key.clone();
    let (_okey, mut observer) = raw_member(&s, &realm, &inviter).await;
    let lost = peers[2].id().clone();
    peers[0].handle.remove_member(&lost).await.unwrap();
    peers[2]
        .wait("locked out", |e| {
            matches!(
                e,
                PeerEvent::Signaling(Signal::Stopped(StopReason::Refused))
            )
        })
        .await;
    peers[1]
        .wait(
            "removal",
            |e| matches!(e, PeerEvent::MemberRemoved { peer, .. } if *peer == lost),
        )
        .await;
    // The grant travels peer to peer and may overtake the server's `member.removed`.
    let rotated = |e: &PeerEvent| matches!(e, PeerEvent::RealmKey { epoch: 2, .. });
    if !peers[1].log.iter().any(rotated) {
        peers[1].wait("rotated key", rotated).await;
    }
    let secret = "after-rotation-secret";
    peers[0].handle.send_all(secret, Mode::Relay).await.unwrap();
    peers[1]
        .wait(
            "message under the new key",
            |e| matches!(e, PeerEvent::Message { bytes, .. } if &bytes[..] == secret.as_bytes()),
        )
        .await;
    let f = observer.recv_msg(BROADCAST, T).await.unwrap();
    let d: BroadcastDelivery = dat(&f).unwrap();
    let lost_key = RealmState::load(peers[2].dir.path())
        .unwrap()
        .unwrap()
        .key
        .unwrap();
    let kept_key = RealmState::load(peers[1].dir.path())
        .unwrap()
        .unwrap()
        .key
        .unwrap();
    assert_eq!(lost_key.epoch, 1);
    assert_eq!(kept_key.epoch, 2);
    assert!(crypto::open_relay([&lost_key], &realm, &d.from, &d.payload).is_err());
    assert_eq!(
        crypto::open_relay([&kept_key], &realm, &d.from, &d.payload).unwrap(),
        secret.as_bytes()
    );
    // the others dropped it from their mesh
    for p in peers.iter().take(2) {
        let info = p.handle.peers().await.unwrap();
        assert!(info.iter().all(|i| i.peer != lost));
    }
    // and it cannot come back
    let gone = peers.pop().unwrap();
    gone.handle.shutdown().await;
    let mut again = restart_member(gone, &realm, &s);
    again
        .wait("refused again", |e| {
            matches!(
                e,
                PeerEvent::Signaling(Signal::Stopped(StopReason::Refused))
            )
        })
        .await;
    shutdown(&peers, s).await;
}
