//! `media_bench [MB] [CLIENTS]` — `/proxy/media` throughput and memory: a
//! loopback origin serves an MB-megabyte body (made on the fly, never held in
//! memory), the proxy router streams it to CLIENTS concurrent clients that
//! read and drop every chunk. Prints one JSON line: bytes, seconds, MB/s and the
//! process's peak and sampled RSS (origin, proxy and clients share the process,
//! so the RSS is an upper bound for the proxy). Used by bench/feeds/run.sh.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use futures_util::StreamExt;
use skypod_feeds::http::{ProxyAuth, RateLimitConfig, router};
use skypod_feeds::service::{FeedService, ServiceConfig};

struct AnyToken;

impl ProxyAuth for AnyToken {
    fn authorize(&self, _: &str) -> Result<String, String> {
        Ok("bench".into())
    }
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mb = args.first().copied().unwrap_or(500);
    let clients = args.get(1).copied().unwrap_or(4) as usize;
    let len = mb * 1_000_000;

    // Origin: `len` bytes in 64 KiB chunks, generated as they are sent.
    let origin = axum::Router::new().route(
        "/episode.mp3",
        get(move || async move {
            let chunk = bytes::Bytes::from(vec![0x55u8; 64 * 1024]);
            let full = len / chunk.len() as u64;
            let tail = (len % chunk.len() as u64) as usize;
            let body = futures_util::stream::iter((0..full).map(move |_| chunk.clone()))
                .chain(futures_util::stream::iter(
                    (tail > 0).then(|| bytes::Bytes::from(vec![0x55u8; tail])),
                ))
                .map(Ok::<_, std::io::Error>);
            (
                [
                    (header::CONTENT_TYPE, "audio/mpeg".to_string()),
                    (header::CONTENT_LENGTH, len.to_string()),
                    (header::ACCEPT_RANGES, "bytes".to_string()),
                ],
                Body::from_stream(body),
            )
                .into_response()
        }),
    );
    let ol = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin_url = format!("http://{}/episode.mp3", ol.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(ol, origin).await });

    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = ServiceConfig::new(dir.path());
    cfg.fetch.allow = vec!["127.0.0.1/32".parse().expect("net")];
    let service = FeedService::new(cfg).await.expect("service");
    let app = router(
        service,
        Arc::new(AnyToken),
        RateLimitConfig {
            burst: 1000,
            per_second: 1000.0,
        },
    );
    let pl = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = format!("http://{}/proxy/media", pl.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(pl, app).await });

    let rss_start = rss_kib("VmRSS:");
    let max_sampled = Arc::new(AtomicU64::new(0));
    let sampler = {
        let max = max_sampled.clone();
        tokio::spawn(async move {
            loop {
                max.fetch_max(rss_kib("VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let client = skypod_feeds::fetch::http_client()
        .no_proxy()
        .build()
        .expect("client");
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, proxy, origin_url) = (client.clone(), proxy.clone(), origin_url.clone());
        tasks.push(tokio::spawn(async move {
            let mut r = client
                .get(&proxy)
                .query(&[("url", origin_url)])
                .bearer_auth("x")
                .send()
                .await
                .expect("send");
            assert_eq!(r.status(), 200);
            let mut n = 0u64;
            while let Some(c) = r.chunk().await.expect("chunk") {
                n += c.len() as u64;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client");
    }
    let secs = t.elapsed().as_secs_f64();
    sampler.abort();
    assert_eq!(total, len * clients as u64, "every byte arrived");
    let line = serde_json::json!({
        "clients": clients,
        "body_mb": mb,
        "bytes": total,
        "seconds": secs,
        "mb_per_s": total as f64 / 1e6 / secs,
        "rss_start_kib": rss_start,
        "rss_max_sampled_kib": max_sampled.load(Ordering::Relaxed),
        "rss_peak_kib": rss_kib("VmHWM:"),
    });
    println!("{line}");
}
