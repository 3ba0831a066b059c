//! Mesh formation, data-channel throughput/latency and relay throughput on loopback, with a
//! real in-process realm server.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-peer cargo bench -p skypod-peer --bench mesh`
//! (`-- --quick` for fewer repetitions). Figures go to docs/benchmarks-peer.md.

#[path = "../tests/it/common/mod.rs"]
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
    if let Some(b) = std::env::var("SCTP_RWND").ok().and_then(|v| v.parse().ok()) {
        c.sctp_receive_buffer = b;
    }
    if let Some(b) = std::env::var("UDP_RCVBUF")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        c.udp_recv_buffer = b;
    }
}

/// The settings the benchmarked peers run with (see [`quiet`]), for the bare-`webrtc`
/// references to match.
fn measured_config() -> skypod_peer::PeerConfig {
    let mut cfg = skypod_peer::PeerConfig::new(
        skypod_protocol::IdentityKey::generate_es256(),
        skypod_protocol::RealmId::random(),
        String::new(),
        skypod_peer::JoinMode::Authn,
    );
    quiet(&mut cfg);
    cfg
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

/// The reference: the same transfer over a bare `webrtc` data channel (two connections in
/// this process, no skypod framing, actor, signaling or event stream), with the same
/// send-buffer limit. Ratio ours/raw = what our layer costs.
mod raw {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::BytesMut;
    use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
    use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
    use webrtc::peer_connection::{
        PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
        RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    };

    struct H {
        cand: UnboundedSender<RTCIceCandidateInit>,
        dc: Option<UnboundedSender<Arc<dyn DataChannel>>>,
    }

    #[async_trait::async_trait]
    impl PeerConnectionEventHandler for H {
        async fn on_ice_candidate(&self, e: RTCPeerConnectionIceEvent) {
            if let Ok(i) = e.candidate.to_json() {
                let _ = self.cand.send(i);
            }
        }
        async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
            if let Some(tx) = &self.dc {
                let _ = tx.send(dc);
            }
        }
    }

    pub struct RawPair {
        pcs: Vec<Arc<dyn PeerConnection>>,
        a: Arc<dyn DataChannel>,
        b: Arc<dyn DataChannel>,
    }

    /// Our tuning: SCTP receive window and UDP socket receive buffer.
    #[derive(Clone, Copy)]
    pub struct Tuning {
        pub rwnd: u32,
        pub udp: usize,
    }

    async fn pc(h: H, limit: usize, tuning: Option<Tuning>) -> Arc<dyn PeerConnection> {
        let mut se = webrtc::peer_connection::SettingEngineBuilder::new();
        let mut b = PeerConnectionBuilder::new();
        if let Some(t) = tuning {
            se = se.with_sctp_max_receive_buffer_size(t.rwnd);
            if let Some(rt) = skypod_peer::udp_buffered_runtime(t.udp) {
                b = b.with_runtime(rt);
            }
        }
        Arc::new(
            b.with_setting_engine(se.build())
                .with_configuration(RTCConfigurationBuilder::new().build())
                .with_handler(Arc::new(h))
                .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
                .with_data_channel_send_buffer_limit(limit)
                .build()
                .await
                .unwrap(),
        )
    }

    pub async fn pair(limit: usize, tuning: Option<Tuning>) -> RawPair {
        let (ca, mut ca_rx) = unbounded_channel();
        let (cb, mut cb_rx) = unbounded_channel();
        let (dtx, mut drx) = unbounded_channel();
        let a = pc(H { cand: ca, dc: None }, limit, tuning).await;
        let b = pc(
            H {
                cand: cb,
                dc: Some(dtx),
            },
            limit,
            tuning,
        )
        .await;
        let dca = a
            .create_data_channel(
                "raw",
                Some(RTCDataChannelInit {
                    ordered: true,
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        let offer = a.create_offer(None).await.unwrap();
        a.set_local_description(offer.clone()).await.unwrap();
        b.set_remote_description(offer).await.unwrap();
        let answer = b.create_answer(None).await.unwrap();
        b.set_local_description(answer.clone()).await.unwrap();
        a.set_remote_description(answer).await.unwrap();
        let (a2, b2) = (a.clone(), b.clone());
        tokio::spawn(async move {
            while let Some(c) = ca_rx.recv().await {
                let _ = b2.add_ice_candidate(c).await;
            }
        });
        tokio::spawn(async move {
            while let Some(c) = cb_rx.recv().await {
                let _ = a2.add_ice_candidate(c).await;
            }
        });
        let dcb = tokio::time::timeout(Duration::from_secs(30), drx.recv())
            .await
            .expect("raw data channel")
            .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(30), dca.poll()).await {
                Ok(Some(DataChannelEvent::OnOpen)) => break,
                Ok(Some(_)) => {}
                _ => panic!("raw data channel did not open"),
            }
        }
        RawPair {
            pcs: vec![a, b],
            a: dca,
            b: dcb,
        }
    }

    /// Same transfer as [`super::throughput`]: `total` bytes in `chunk`-sized messages.
    pub async fn throughput(p: &RawPair, total: usize, chunk: usize) -> f64 {
        let n = total / chunk;
        let a = p.a.clone();
        let buf = vec![0x5au8; chunk];
        let t0 = Instant::now();
        let sender = tokio::spawn(async move {
            for _ in 0..n {
                a.send(BytesMut::from(&buf[..])).await.unwrap();
            }
        });
        let mut got = 0usize;
        let mut msgs = 0usize;
        while msgs < n {
            match tokio::time::timeout(Duration::from_secs(60), p.b.poll()).await {
                Ok(Some(DataChannelEvent::OnMessage(m))) => {
                    got += m.data.len();
                    msgs += 1;
                }
                Ok(Some(_)) => {}
                _ => panic!("raw: stalled after {msgs}/{n} messages"),
            }
        }
        sender.await.unwrap();
        got as f64 / t0.elapsed().as_secs_f64() / 1e6
    }

    pub async fn close(p: RawPair) {
        for pc in p.pcs {
            let _ = pc.close().await;
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 1 } else { 3 };
    let only_p2p = std::env::args().any(|a| a == "--p2p");
    if std::env::args().any(|a| a == "--sweep") {
        return sweep().await;
    }
    if !only_p2p {
        mesh_all(reps).await;
    }
    let mut p = pair().await;
    // References: a bare `webrtc` pair with our settings (send-buffer limit, SCTP receive
    // window) — the cost of our layer — and one with the library's defaults but our limit.
    let ours_cfg = measured_config();
    let limit = ours_cfg.send_buffer_limit;
    let rwnd = ours_cfg.sctp_receive_buffer;
    let udp = ours_cfg.udp_recv_buffer;
    let same = raw::pair(limit, Some(raw::Tuning { rwnd, udp })).await;
    let dflt = raw::pair(limit, None).await;
    println!(
        "## data channel, native ↔ native, one channel (send buffer limit {limit} B, SCTP receive window {rwnd} B, UDP receive buffer {udp} B)"
    );
    for chunk in [1024, 4 * 1024, 16 * 1024, 60 * 1024] {
        let total = if chunk < 16 * 1024 { 32 } else { 256 } * 1024 * 1024;
        // interleaved, so all three see the same machine load
        let ours = throughput(&mut p, total, chunk, Mode::P2p).await;
        let bare = raw::throughput(&same, total, chunk).await;
        let lib = raw::throughput(&dflt, total, chunk).await;
        println!(
            "p2p throughput, {} KiB messages: skypod {ours:.1} MB/s ({:.0} msg/s) | bare webrtc, same settings {bare:.1} MB/s (ratio {:.2}) | bare webrtc, library defaults {lib:.1} MB/s (ratio {:.2})",
            chunk / 1024,
            ours * 1e6 / chunk as f64,
            ours / bare,
            ours / lib,
        );
    }
    raw::close(same).await;
    raw::close(dflt).await;
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

/// `--sweep`: our channel against the bare one over message sizes (64 MiB each), to find
/// the sizes the library handles badly.
async fn sweep() {
    let mut p = pair().await;
    let cfg = measured_config();
    let tuning = raw::Tuning {
        rwnd: cfg.sctp_receive_buffer,
        udp: cfg.udp_recv_buffer,
    };
    let bare = raw::pair(cfg.send_buffer_limit, Some(tuning)).await;
    let dflt = raw::pair(cfg.send_buffer_limit, None).await;
    println!(
        "## message size sweep (MB/s): skypod | bare webrtc, same settings | bare webrtc, library defaults"
    );
    for kib in [2usize, 4, 8, 12, 15, 16, 20, 24, 32, 48, 63] {
        let chunk = kib * 1024 - 1;
        let total = 64 * 1024 * 1024;
        let ours = throughput(&mut p, total, chunk, Mode::P2p).await;
        let reference = raw::throughput(&bare, total, chunk + 1).await;
        let lib = raw::throughput(&dflt, total, chunk + 1).await;
        println!("{kib:>2} KiB: {ours:>6.1} | {reference:>6.1} | {lib:>6.1}");
    }
    raw::close(bare).await;
    raw::close(dflt).await;
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
