//! Real server, real peers, loopback only.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use skypod_peer::{Link, Mode, PeerEvent, Signal, Via};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_peers_form_a_full_mesh_and_each_message_arrives_exactly_once() {
    init_tracing();
    let sdir = tempfile::tempdir().unwrap();
    let s = TestServer::start(sdir.path()).await;
    let (_realm, mut peers) = realm(&s, 5).await;
    full_mesh(&peers).await;
    for (i, p) in peers.iter().enumerate() {
        let n = p
            .handle
            .send_all(format!("p2p-from-{i}"), Mode::P2p)
            .await
            .unwrap();
        assert_eq!(n, 4);
    }
    // every joiner got the realm key from a member, so the relay works for everyone too
    for p in peers.iter_mut().skip(1) {
        if p.handle_key_epoch().await.is_none() {
            p.wait("realm key", |e| matches!(e, PeerEvent::RealmKey { .. }))
                .await;
        }
    }
    for (i, p) in peers.iter().enumerate() {
        let n = p
            .handle
            .send_all(format!("relay-from-{i}"), Mode::Relay)
            .await
            .unwrap();
        assert_eq!(n, 4);
    }
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
    for p in &peers {
        p.handle.shutdown().await;
    }
    s.stop().await;
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
