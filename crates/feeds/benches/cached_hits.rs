//! Cached-hit throughput and latency of the proxy router (`/proxy/raw` and
//! `/proxy/feed` on a fresh cached entry, plus `/proxy/feed` and `/proxy/raw` of a
//! generated 3,000-episode feed), over real loopback HTTP, each line measured
//! without `Accept-Encoding` (identity) and with `Accept-Encoding: gzip`,
//! alternating round by round. The gzip client reads the compressed bytes and does
//! not inflate them (like `curl` without `--compressed`): the figures are the
//! server's and the wire's, not the client's decompression.
//! Prints hits/s, p50/p99 latency and body size for three rounds of each line, then
//! the one-time cost of compressing the 3,000-episode feed's JSON.
//! Run: `cargo bench -p skypod-feeds --bench cached_hits`.

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

/// `n` requests from `conc` concurrent clients; with `gzip` they send
/// `Accept-Encoding: gzip` and get (and keep) gzip bodies. Returns hits/s, p50,
/// p99 and the body size on the wire.
async fn run(
    client: &reqwest::Client,
    url: &str,
    n: usize,
    conc: usize,
    gzip: bool,
) -> (f64, Duration, Duration, usize) {
    let started = Instant::now();
    let per = n / conc;
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let c = client.clone();
        let u = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per);
            let mut size = 0;
            for _ in 0..per {
                let t = Instant::now();
                let mut req = c.get(&u).bearer_auth("bench");
                if gzip {
                    req = req.header(header::ACCEPT_ENCODING, "gzip");
                }
                let r = req.send().await.expect("send");
                assert_eq!(r.headers()["x-skypod-cache"], "hit");
                assert_eq!(
                    r.headers().get(header::CONTENT_ENCODING).is_some(),
                    gzip,
                    "content coding as asked"
                );
                size = r.bytes().await.expect("body").len();
                lat.push(t.elapsed());
            }
            (lat, size)
        }));
    }
    let mut all = Vec::new();
    let mut size = 0;
    for t in tasks {
        let (lat, s) = t.await.expect("join");
        all.extend(lat);
        size = s;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    (
        all.len() as f64 / secs,
        pct(&all, 0.5),
        pct(&all, 0.99),
        size,
    )
}

/// Median of `reps` timings of `f`.
fn median_time(reps: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[reps / 2]
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
        let real: &'static str = Box::leak(feedgen::generate_realworld_feed(730).into_boxed_str());
        let origin = Router::new()
            .route(
                "/feed.xml",
                get(move || async move { ([(header::CACHE_CONTROL, "max-age=86400"), (header::CONTENT_TYPE, "application/rss+xml")], feed) }),
            )
            .route(
                "/big.xml",
                get(move || async move { ([(header::CACHE_CONTROL, "max-age=86400"), (header::CONTENT_TYPE, "application/rss+xml")], big) }),
            )
            // Any query string: a new URL, so each is a cold miss (fetch, store, parse, serialise).
            .route(
                "/real.xml",
                get(move || async move { ([(header::CACHE_CONTROL, "max-age=86400"), (header::CONTENT_TYPE, "application/rss+xml")], real) }),
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

        // No transparent decompression (and no Accept-Encoding unless `run` sets one).
        let client = skypod_feeds::fetch::http_client()
            .no_proxy()
            .no_gzip()
            .no_brotli()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        // Cold misses of the 730-episode, 1.6 MB feed: each URL new to the cache, so the
        // request pays the origin fetch over loopback, storing, parsing and serialising.
        let mut cold = Vec::new();
        for i in 0..30 {
            let target = format!("http://{oaddr}/real.xml?v={i}");
            let url = format!("http://{paddr}/proxy/feed?url={}", target.replace(':', "%3A").replace('/', "%2F").replace('?', "%3F").replace('=', "%3D"));
            let t = Instant::now();
            let r = client.get(&url).bearer_auth("bench").header(header::ACCEPT_ENCODING, "gzip").send().await.expect("cold");
            assert_eq!(r.headers()["x-skypod-cache"], "miss");
            let body = r.bytes().await.expect("body");
            cold.push(t.elapsed());
            assert!(body.len() > 1000);
        }
        cold.sort();
        println!(
            "cold_miss endpoint=feed-730-episodes feed_bytes={} encoding=gzip n=30 p50_ms={:.1} p90_ms={:.1} max_ms={:.1}",
            real.len(),
            pct(&cold, 0.5).as_secs_f64() * 1e3,
            pct(&cold, 0.9).as_secs_f64() * 1e3,
            cold[cold.len() - 1].as_secs_f64() * 1e3
        );
        let mut big_url = String::new();
        for (label, endpoint, path, n) in [
            ("feed-730-episodes", "feed", "real.xml", 2000),
            ("raw", "raw", "feed.xml", 4000),
            ("feed", "feed", "feed.xml", 4000),
            ("feed-3000-episodes", "feed", "big.xml", 2000),
            ("raw-3000-episodes", "raw", "big.xml", 2000),
        ] {
            let target = format!("http://{oaddr}/{path}");
            let url = format!("http://{paddr}/proxy/{endpoint}?url={}", target.replace(':', "%3A").replace('/', "%2F"));
            if label == "feed-3000-episodes" {
                big_url = url.clone();
            }
            // prime
            let r = client.get(&url).bearer_auth("bench").send().await.expect("prime");
            assert!(r.status().is_success());
            let _ = run(&client, &url, n / 8, 1, false).await; // warm-up
            let _ = run(&client, &url, n / 8, 1, true).await; // warm-up (compresses once)
            for conc in [1usize, 8] {
                // Three rounds per coding, all printed, identity and gzip alternating: on
                // a shared machine one round's tail can be another process's time slice.
                for round in 1..=3 {
                    for gzip in [false, true] {
                        let (rps, p50, p99, size) = run(&client, &url, n, conc, gzip).await;
                        println!(
                            "cached_hits endpoint={label} encoding={} concurrency={conc} round={round} hits_per_s={rps:.0} p50_ms={:.3} p99_ms={:.3} body_bytes={size}",
                            if gzip { "gzip" } else { "identity" },
                            p50.as_secs_f64() * 1e3,
                            p99.as_secs_f64() * 1e3
                        );
                    }
                }
            }
        }

        // One-time cost of compressing the 3,000-episode feed's JSON (what the first
        // gzip hit pays, on a blocking thread), at the level used and two others, and
        // brotli for comparison (not served: see docs/benchmarks-feeds.md).
        let json = client.get(&big_url).bearer_auth("bench").send().await.expect("json").bytes().await.expect("body");
        tokio::task::spawn_blocking(move || {
            for level in [1, skypod_feeds::encoding::GZIP_LEVEL, 9] {
                let mut size = 0;
                let t = median_time(5, || size = skypod_feeds::encoding::Deflated::compress(&json, level).data.len());
                println!(
                    "compress_once body_bytes={} codec=gzip level={level} ms={:.1} compressed_bytes={size}",
                    json.len(),
                    t.as_secs_f64() * 1e3
                );
            }
            for quality in [4u32, 6, 9] {
                let mut size = 0;
                let t = median_time(3, || {
                    let mut out = Vec::new();
                    let params = brotli::enc::BrotliEncoderParams { quality: quality as i32, ..Default::default() };
                    brotli::enc::BrotliCompress(&mut json.as_ref(), &mut out, &params).expect("brotli");
                    size = out.len();
                });
                println!(
                    "compress_once body_bytes={} codec=brotli quality={quality} ms={:.1} compressed_bytes={size}",
                    json.len(),
                    t.as_secs_f64() * 1e3
                );
            }
        })
        .await
        .expect("compress timings");
    });
}
