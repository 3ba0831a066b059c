//! Messages above the data channel's and the relay's size limits arrive whole, once, over
//! both paths (real server, real peers, loopback only).

use crate::common::*;
use skypod_peer::peer::{MAX_MESSAGE, MAX_RELAY_MESSAGE};
use skypod_peer::{Mode, PeerEvent, Via};

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(151).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_arrive_whole_and_once_over_the_channel_and_the_relay() {
    let (_sdir, s) = server().await;
    let (_realm, mut peers) = meshed_realm(&s, 2).await;
    if !peers[1]
        .log
        .iter()
        .any(|e| matches!(e, PeerEvent::RealmKey { .. }))
    {
        peers[1]
            .wait("realm key", |e| matches!(e, PeerEvent::RealmKey { .. }))
            .await;
    }
    let to = peers[1].id().clone();
    // Sizes around both limits, a multi-megabyte one, and a small message that starts with
    // the fragment prefix (must be framed to stay unambiguous).
    let sizes = [
        MAX_RELAY_MESSAGE + 1,
        MAX_MESSAGE,
        MAX_MESSAGE + 1,
        3 * 1024 * 1024 + 17,
    ];
    let mut sent = vec![];
    for (i, n) in sizes.iter().enumerate() {
        for mode in [Mode::P2p, Mode::Relay] {
            let m = payload(*n, i as u8 + if mode == Mode::P2p { 0 } else { 100 });
            let via = peers[0].handle.send(&to, m.clone(), mode).await.unwrap();
            assert_eq!(via == Via::P2p, mode == Mode::P2p);
            sent.push((m, via));
        }
    }
    let tricky = b"\0Fnot a fragment".to_vec();
    peers[0]
        .handle
        .send(&to, tricky.clone(), Mode::P2p)
        .await
        .unwrap();
    sent.push((tricky, Via::P2p));

    let want = sent.len();
    let mut got: Vec<(Vec<u8>, Via)> = vec![];
    while got.len() < want {
        let e = peers[1]
            .wait("a message", |e| matches!(e, PeerEvent::Message { .. }))
            .await;
        if let PeerEvent::Message { bytes, via, .. } = e {
            got.push((bytes.to_vec(), via));
        }
    }
    // Nothing more (no second delivery, no refused fragment).
    peers[1].settle(std::time::Duration::from_millis(500)).await;
    let extra: Vec<_> = peers[1]
        .log
        .iter()
        .filter(|e| matches!(e, PeerEvent::Message { .. } | PeerEvent::Rejected { .. }))
        .skip(want)
        .collect();
    assert!(extra.is_empty(), "{extra:?}");
    let key = |v: &(Vec<u8>, Via)| (v.0.len(), v.0.first().copied(), v.1 == Via::P2p);
    let mut a = sent.clone();
    let mut b = got.clone();
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.1, y.1, "path of a {}-byte message", x.0.len());
        assert!(x.0 == y.0, "a {}-byte message arrived changed", x.0.len());
    }
    shutdown(&peers, s).await;
}
