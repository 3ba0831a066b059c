//! Memory a hostile member can make the server hold: 1,000 authenticated sockets that each
//! start a large frame, send half of it and stall. The server runs as a child process (this
//! test binary run again) so its resident memory is measured alone, from /proc.

use crate::common;

use crate::common::client_frame;
use skypod_client::RealmClient;
use skypod_protocol::{IdentityKey, RealmId};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const CHILD_ENV: &str = "SKYPOD_TEST_CHILD_SERVER_DIR";
const SOCKETS: usize = 1_000;

/// The child: a server on a loopback port until stdin closes.
#[test]
fn child_server() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut cfg = common::config(std::path::Path::new(&dir));
        cfg.durability = skypod_server::store::sqlite::Durability::Normal;
        let server = skypod_server::Server::start(cfg).await.unwrap();
        println!("LISTENING {}", server.local_addr());
        let stdin_closed = async {
            tokio::task::spawn_blocking(|| {
                let mut s = String::new();
                while std::io::stdin()
                    .read_line(&mut s)
                    .map(|n| n > 0)
                    .unwrap_or(false)
                {}
            })
            .await
            .ok();
        };
        server.run_until(stdin_closed).await.unwrap();
    });
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_sockets_stalled_mid_frame_cost_at_most_16_mib() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let _flood = common::SOCKET_FLOOD.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "stalled::child_server",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("child prints its address").unwrap();
        // the harness prints "test stalled::child_server ... " on the same line
        if let Some((_, a)) = line.split_once("LISTENING ") {
            break a.trim().to_owned();
        }
    };
    let url = format!("ws://{addr}/realm");
    // Warm up (lazy statics, the store's pool), then the baseline.
    for _ in 0..20 {
        let mut c = RealmClient::connect(&url).await.unwrap();
        c.register(&IdentityKey::generate_ed25519(), &RealmId::random())
            .await
            .unwrap();
        c.close().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);

    let mut sockets = Vec::with_capacity(SOCKETS);
    let mut pending = futures_util::stream::FuturesUnordered::new();
    for _ in 0..SOCKETS {
        let url = url.clone();
        pending.push(async move {
            let mut c = RealmClient::connect(&url).await.unwrap();
            c.register(&IdentityKey::generate_ed25519(), &RealmId::random())
                .await
                .unwrap();
            c.into_inner()
        });
        if pending.len() >= 32 {
            use futures_util::StreamExt;
            sockets.push(pending.next().await.unwrap());
        }
    }
    while let Some(ws) = futures_util::StreamExt::next(&mut pending).await {
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let authenticated = rss_kib(pid);

    // Each starts a 60,000-byte text frame (within the 64 KiB limit), sends half, stalls.
    let frame = client_frame(0x81, &vec![b'x'; 60_000], true);
    let half = &frame[..8 + 30_000];
    for ws in sockets.iter_mut() {
        let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
            unreachable!("plain ws")
        };
        tcp.write_all(half).await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled = rss_kib(pid);
    let cost = stalled.saturating_sub(before);
    println!(
        "server RSS: {before} KiB before, {authenticated} KiB with {SOCKETS} authenticated \
         sockets (+{} KiB), {stalled} KiB with all stalled mid-frame: {cost} KiB in all, \
         {:.1} KiB per socket",
        authenticated.saturating_sub(before),
        cost as f64 / SOCKETS as f64
    );
    drop(child.stdin.take());
    drop(sockets);
    let _ = child.wait();
    assert!(
        cost <= 16 * 1024,
        "1,000 stalled sockets cost {cost} KiB (> 16 MiB)"
    );
}
