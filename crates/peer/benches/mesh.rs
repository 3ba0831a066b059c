//! Mesh formation, data-channel throughput/latency and relay throughput on loopback, with a
//! real in-process realm server.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-peer cargo bench -p skypod-peer --bench mesh`
//! (`-- --quick` for fewer repetitions). Figures go to docs/benchmarks-peer.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use skypod_peer::sm::health::HealthConfig;
use skypod_peer::{Mode, PeerEvent};

fn quiet(c: &mut skypod_peer::PeerConfig) {
    // Benchmarks measure the data path; keep health pings at their default.
    c.health = HealthConfig::default();
    if let Some(b) = std::env::var("SEND_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        c.send_buffer_limit = b;
    }
}

async fn mesh(n: usize) -> Duration {
    let sdir = tempfile::tempdir().unwrap();
    let s = TestServer::start(sdir.path()).await;
    // time from the first device alone to every pair linked
    let t0 = Instant::now();
    let (_realm, peers) = realm_with(&s, n, quiet).await;
    full_mesh(&peers).await;
    let d = t0.elapsed();
    for p in &peers {
        p.handle.shutdown().await;
    }
    s.stop().await;
    d
}

struct Pair {
    s: TestServer,
    _sdir: tempfile::TempDir,
    peers: Vec<TestPeer>,
}

async fn pair() -> Pair {
    let sdir = tempfile::tempdir().unwrap();
    let s = TestServer::start(sdir.path()).await;
    let (_realm, mut peers) = realm_with(&s, 2, quiet).await;
    full_mesh(&peers).await;
    peers[1]
        .wait("realm key", |e| matches!(e, PeerEvent::RealmKey { .. }))
        .await;
    Pair {
        s,
        _sdir: sdir,
        peers,
    }
}

/// Push `total` bytes in `chunk`-sized messages from peer 0 to peer 1; MB/s at the receiver.
async fn throughput(p: &mut Pair, total: usize, chunk: usize, mode: Mode) -> f64 {
    let to = p.peers[1].id().clone();
    let h = p.peers[0].handle.clone();
    let buf = vec![0x5au8; chunk];
    let n = total / chunk;
    let t0 = Instant::now();
    let sender = tokio::spawn(async move {
        for _ in 0..n {
            // The relay refuses when the socket is busy; the direct path applies
            // backpressure through its send buffer.
            while h.send(&to, buf.clone(), mode).await.is_err() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let mut got = 0usize;
    let mut msgs = 0usize;
    while msgs < n {
        match tokio::time::timeout(Duration::from_secs(60), p.peers[1].events.next()).await {
            Ok(Some(PeerEvent::Message { bytes, .. })) => {
                got += bytes.len();
                msgs += 1;
            }
            Ok(Some(_)) => {}
            _ => panic!("stalled after {msgs}/{n} messages"),
        }
    }
    sender.await.unwrap();
    got as f64 / t0.elapsed().as_secs_f64() / 1e6
}

/// Round trips of a small message peer 0 → peer 1 → peer 0 over the data channel.
async fn latency(p: &mut Pair, rounds: usize) -> hdrhistogram::Histogram<u64> {
    let a = p.peers[0].id().clone();
    let b = p.peers[1].id().clone();
    let hb = p.peers[1].handle.clone();
    let mut eb = std::mem::replace(
        &mut p.peers[1].events,
        Box::new(futures_util::stream::empty()),
    );
    let echo = tokio::spawn(async move {
        let mut n = 0;
        while let Some(e) = eb.next().await {
            if let PeerEvent::Message { bytes, .. } = e {
                let _ = hb.send(&a, bytes, Mode::P2p).await;
                n += 1;
                if n == rounds {
                    break;
                }
            }
        }
        eb
    });
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let ha = p.peers[0].handle.clone();
    for _ in 0..rounds {
        let t = Instant::now();
        ha.send(&b, vec![1u8; 64], Mode::P2p).await.unwrap();
        loop {
            match p.peers[0].events.next().await {
                Some(PeerEvent::Message { .. }) => break,
                Some(_) => {}
                None => panic!("stream ended"),
            }
        }
        hist.record(t.elapsed().as_micros() as u64).unwrap();
    }
    p.peers[1].events = echo.await.unwrap();
    hist
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 1 } else { 3 };
    let only_p2p = std::env::args().any(|a| a == "--p2p");
    if !only_p2p {
        mesh_all(reps).await;
    }
    let mut p = pair().await;
    println!("## data channel, native ↔ native, one channel");
    for chunk in [1024, 16 * 1024, 60 * 1024] {
        let total = if chunk == 1024 { 32 } else { 256 } * 1024 * 1024;
        let mbps = throughput(&mut p, total, chunk, Mode::P2p).await;
        println!(
            "p2p throughput, {} KiB messages: {mbps:.1} MB/s ({:.0} msg/s)",
            chunk / 1024,
            mbps * 1e6 / chunk as f64
        );
    }
    if only_p2p {
        return;
    }
    let h = latency(&mut p, if quick { 200 } else { 2000 }).await;
    println!(
        "p2p round trip, 64 B: p50 {} µs, p99 {} µs, max {} µs ({} rounds)",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max(),
        h.len()
    );
    relay_all(&mut p).await;
    for q in &p.peers {
        q.handle.shutdown().await;
    }
    p.s.stop().await;
}

async fn mesh_all(reps: usize) {
    println!("## mesh formation (first device online → every pair has an open data channel)");
    for n in [2usize, 4, 8, 16] {
        let mut v = vec![];
        for _ in 0..reps {
            v.push(mesh(n).await);
        }
        v.sort();
        println!(
            "mesh n={n:>2}: median {:>7.0} ms  (runs: {:?})",
            v[v.len() / 2].as_secs_f64() * 1e3,
            v.iter().map(|d| d.as_millis()).collect::<Vec<_>>()
        );
    }
}

async fn relay_all(p: &mut Pair) {
    println!("## relay (encrypted, through the realm server)");
    for chunk in [1024, 16 * 1024] {
        // 4 MiB stays under the test server's rate-limit burst (10,000 frames): the relay
        // drops frames above the limit instead of queueing them.
        let total = 4 * 1024 * 1024;
        let mbps = throughput(p, total, chunk, Mode::Relay).await;
        println!(
            "relay throughput, {} KiB messages: {mbps:.1} MB/s ({:.0} msg/s)",
            chunk / 1024,
            mbps * 1e6 / chunk as f64
        );
    }
}
