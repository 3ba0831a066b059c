//! Large application messages (a library's first sync is one message of the library's size)
//! sent whole through `PeerHandle::send`, fragmented and reassembled, over the data channel
//! and over the relay, with a real in-process realm server on loopback.
//!
//! Run: `cargo bench -p skypod-peer --bench fragments` (`-- --quick`: one repetition).
//! Figures go to docs/benchmarks-library.md.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use skypod_peer::peer::{MAX_MESSAGE, MAX_RELAY_MESSAGE};
use skypod_peer::{Mode, PeerEvent};
use skypod_protocol::fragment::HEADER_LEN;

/// Bytes the sender hands to its transport for one `n`-byte message: data channel frames
/// (tag + fragment), or relay frames (JSON envelope around base64url(nonce ‖ AES-GCM)).
fn wire_bytes(n: usize, mode: Mode) -> (usize, usize) {
    let max = if mode == Mode::P2p {
        MAX_MESSAGE
    } else {
        MAX_RELAY_MESSAGE
    };
    let count = if n <= max {
        1
    } else {
        n.div_ceil(max - HEADER_LEN)
    };
    let payload = if count == 1 {
        n
    } else {
        n + count * HEADER_LEN
    };
    let bytes = match mode {
        Mode::P2p => payload + count,
        // {"typ":"evt","msg":"realm.broadcast","dat":{"payload":"…","recipients":["<43>"]}}
        Mode::Relay => {
            let per = |len: usize| (len + 28).div_ceil(3) * 4 - (3 - (len + 28) % 3) % 3 + 110;
            let full = count - 1;
            let last = payload - full * max;
            full * per(max) + per(last)
        }
    };
    (count, bytes)
}

async fn once(peers: &mut [TestPeer], n: usize, mode: Mode) -> Duration {
    let to = peers[1].id().clone();
    let msg: Vec<u8> = (0..n).map(|i| (i * 131 + i / 977) as u8).collect();
    let t0 = Instant::now();
    let h = peers[0].handle.clone();
    let send = tokio::spawn(async move { h.send(&to, msg, mode).await });
    loop {
        match tokio::time::timeout(Duration::from_secs(120), peers[1].events.next()).await {
            Ok(Some(PeerEvent::Message { bytes, .. })) => {
                assert_eq!(bytes.len(), n);
                break;
            }
            Ok(Some(PeerEvent::Rejected { reason, .. })) => panic!("rejected: {reason}"),
            Ok(Some(_)) => {}
            _ => panic!("a {n}-byte message did not arrive"),
        }
    }
    let d = t0.elapsed();
    send.await.unwrap().unwrap();
    d
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 1 } else { 5 };
    let sdir = tempfile::tempdir().unwrap();
    let s = TestServer::start(sdir.path()).await;
    let (_realm, mut peers) = realm(&s, 2).await;
    full_mesh(&peers).await;
    peers[1]
        .wait("realm key", |e| matches!(e, PeerEvent::RealmKey { .. }))
        .await;
    println!(
        "| message | path | fragments | bytes handed to the transport | overhead | time (median of {reps}) | MB/s |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|");
    // 0.63 MiB: the first sync of 1,000 subscriptions + 100,000 play records
    // (docs/benchmarks-library.md); then larger libraries.
    for n in [660_000usize, 4 << 20, 16 << 20] {
        for mode in [Mode::P2p, Mode::Relay] {
            let mut times = vec![];
            for _ in 0..reps {
                times.push(once(&mut peers, n, mode).await);
                // let the relay's rate-limit bucket refill between runs
                tokio::time::sleep(Duration::from_millis(if mode == Mode::Relay {
                    3000
                } else {
                    200
                }))
                .await;
            }
            times.sort();
            let t = times[times.len() / 2];
            let (count, bytes) = wire_bytes(n, mode);
            println!(
                "| {:.2} MiB | {} | {count} | {bytes} | {:.1} % | {:.0} ms | {:.1} |",
                n as f64 / (1 << 20) as f64,
                if mode == Mode::P2p {
                    "data channel"
                } else {
                    "relay"
                },
                (bytes as f64 / n as f64 - 1.0) * 100.0,
                t.as_secs_f64() * 1000.0,
                n as f64 / t.as_secs_f64() / 1e6,
            );
        }
    }
    for p in &peers {
        p.handle.shutdown().await;
    }
    s.stop().await;
}
