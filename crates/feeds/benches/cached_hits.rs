//! Cached-hit throughput and latency of the proxy router (`/proxy/raw` and
//! `/proxy/feed` on a fresh cached entry, plus `/proxy/feed` of a generated
//! 3,000-episode feed), over real loopback HTTP.
//! Prints hits/s and p50/p99 latency for three rounds of each line. Run: `cargo bench -p skypod-feeds --bench cached_hits`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header;
use axum::routing::get;
use skypod_feeds::http::{ProxyAuth, RateLimitConfig, router};
use skypod_feeds::service::{FeedService, ServiceConfig};

#[path = "common/feedgen.rs"]
mod feedgen;

struct Auth;
impl ProxyAuth for Auth {
    fn authorize(&self, t: &str) -> Result<String, String> {
        if t == "bench" {
            Ok("bench".into())
        } else {
            Err("no".into())
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn run(
    client: &reqwest::Client,
    url: &str,
    n: usize,
    conc: usize,
) -> (f64, Duration, Duration) {
    let started = Instant::now();
    let per = n / conc;
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let c = client.clone();
        let u = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for _ in 0..per {
                let t = Instant::now();
                let r = c.get(&u).bearer_auth("bench").send().await.expect("send");
                assert_eq!(r.headers()["x-skypod-cache"], "hit");
                let _ = r.bytes().await.expect("body");
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("join"));
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    (all.len() as f64 / secs, pct(&all, 0.5), pct(&all, 0.99))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let feed = include_str!("../testdata/feeds/podcast.xml");
        let big: &'static str = Box::leak(feedgen::generate_feed(3000).into_boxed_str());
        let origin = Router::new()
            .route(
                "/feed.xml",
                get(move || async move { ([(header::CACHE_CONTROL, "max-age=86400"), (header::CONTENT_TYPE, "application/rss+xml")], feed) }),
            )
            .route(
                "/big.xml",
                get(move || async move { ([(header::CACHE_CONTROL, "max-age=86400"), (header::CONTENT_TYPE, "application/rss+xml")], big) }),
            );
        let ol = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let oaddr = ol.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(ol, origin).await });

        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = ServiceConfig::new(dir.path());
        cfg.fetch.allow = vec!["127.0.0.1/32".parse().expect("net")];
        let service = FeedService::new(cfg).await.expect("service");
        let app = router(service, Arc::new(Auth), RateLimitConfig { burst: u32::MAX, per_second: 1e9 });
        let pl = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let paddr = pl.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(pl, app).await });

        let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(64).build().expect("client");
        for (label, endpoint, path, n) in [
            ("raw", "raw", "feed.xml", 4000),
            ("feed", "feed", "feed.xml", 4000),
            ("feed-3000-episodes", "feed", "big.xml", 400),
        ] {
            let target = format!("http://{oaddr}/{path}");
            let url = format!("http://{paddr}/proxy/{endpoint}?url={}", target.replace(':', "%3A").replace('/', "%2F"));
            // prime
            let r = client.get(&url).bearer_auth("bench").send().await.expect("prime");
            assert!(r.status().is_success());
            let _ = run(&client, &url, n / 8, 1).await; // warm-up
            for conc in [1usize, 8] {
                // Three rounds, all printed: on a shared machine one round's tail can be
                // another process's time slice.
                for round in 1..=3 {
                    let (rps, p50, p99) = run(&client, &url, n, conc).await;
                    println!(
                        "cached_hits endpoint={label} concurrency={conc} round={round} hits_per_s={rps:.0} p50_ms={:.3} p99_ms={:.3}",
                        p50.as_secs_f64() * 1e3,
                        p99.as_secs_f64() * 1e3
                    );
                }
            }
        }
    });
}
