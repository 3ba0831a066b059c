//! Signal round trip through the realm server: member A sends a `realm.rtc.signal` to B, B
//! answers with one to A as soon as it has it; A times send → answer. With a small payload
//! each delivery is one WebSocket frame; with a large one (an SDP-sized 6 KiB) each delivery
//! is several 1 KiB frames (the server's write buffer), which is where Nagle's algorithm
//! stalls an answer without TCP_NODELAY.
//!
//! `cargo run --release -p skypod-server --example signal_rtt -- [rounds]`
//! prints p50/p99 for {1 frame, several frames} × {TCP_NODELAY on, off}.

use skypod_client::RealmClient;
use skypod_protocol::messages::SIGNAL;
use skypod_protocol::{IdentityKey, RealmId, invitation, unix_now};
use skypod_server::{Server, ServerConfig};
use std::time::{Duration, Instant};

async fn measure(nodelay: bool, payload_len: usize, rounds: usize) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ServerConfig::with_data_dir(dir.path().to_path_buf());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.tcp_nodelay = nodelay;
    cfg.rate_per_sec = 1e6;
    cfg.rate_burst = 1e6;
    let server = Server::start(cfg).await.unwrap();
    let url = format!("ws://{}/realm", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    let realm = RealmId::random();
    let (ka, kb) = (IdentityKey::generate_es256(), IdentityKey::generate_es256());
    let mut a = RealmClient::connect(&url).await.unwrap();
    a.register(&ka, &realm).await.unwrap();
    let inv = invitation::create(&ka, &realm, unix_now(), 600, None).unwrap();
    let mut b = RealmClient::connect(&url).await.unwrap();
    b.exchange(&kb, &realm, &inv).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let payload = "s".repeat(payload_len);
    let to_b =
        serde_json::json!({"remoteid": kb.identid(), "connectionid": "c", "payload": payload});
    let to_a =
        serde_json::json!({"remoteid": ka.identid(), "connectionid": "c", "payload": payload});
    let echo = tokio::spawn(async move {
        for _ in 0..rounds {
            b.recv_msg(SIGNAL, Duration::from_secs(10)).await.unwrap();
            b.evt(SIGNAL, &to_a).await.unwrap();
        }
        b
    });
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        a.evt(SIGNAL, &to_b).await.unwrap();
        a.recv_msg(SIGNAL, Duration::from_secs(10)).await.unwrap();
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    echo.await.unwrap().close().await;
    a.close().await;
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    samples.sort_by(f64::total_cmp);
    let q = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    (
        q(0.5),
        q(0.99),
        samples.iter().sum::<f64>() / samples.len() as f64,
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000);
    println!("| TCP_NODELAY | answer | rounds | p50 ms | p99 ms | mean ms |");
    println!("|---|---|---:|---:|---:|---:|");
    for nodelay in [true, false] {
        for (label, len) in [("1 frame (300 B)", 300), ("6 frames (6 KiB)", 6 * 1024)] {
            let (p50, p99, mean) = measure(nodelay, len, rounds).await;
            println!(
                "| {} | {label} | {rounds} | {p50:.2} | {p99:.2} | {mean:.2} |",
                if nodelay { "on" } else { "off" }
            );
        }
    }
}
