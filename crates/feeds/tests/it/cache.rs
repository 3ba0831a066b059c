//! HTTP cache semantics against the loopback fixture server.

use crate::common;

use std::sync::atomic::Ordering;

use skypod_feeds::FeedError;
use skypod_feeds::cache::{Cache, CacheConfig, CacheStatus};
use skypod_feeds::fetch::Fetcher;
use url::Url;

async fn cache(dir: &std::path::Path, max_bytes: u64) -> Cache {
    let fetcher = Fetcher::new(common::test_fetch_config()).expect("fetcher");
    let mut cfg = CacheConfig::new(dir, max_bytes);
    cfg.touch_interval = std::time::Duration::ZERO;
    Cache::open(cfg, fetcher).await.expect("cache")
}

/// The fixture server and a 64 MiB cache of it in a fresh directory.
async fn setup() -> (common::Server, tempfile::TempDir, Cache) {
    let srv = common::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let c = cache(dir.path(), 64 << 20).await;
    (srv, dir, c)
}

fn u(s: String) -> Url {
    Url::parse(&s).expect("url")
}

#[tokio::test]
async fn etag_revalidation_serves_304_from_cache() {
    let (srv, _dir, c) = setup().await;
    let url = u(srv.url("/etag.xml"));
    let a = c.get(&url, 1 << 20).await.expect("first");
    assert_eq!(a.cache, CacheStatus::Miss);
    assert!(srv.state.header("/etag.xml", "if-none-match").is_none());
    let b = c.get(&url, 1 << 20).await.expect("second");
    assert_eq!(b.cache, CacheStatus::Revalidated);
    assert_eq!(
        srv.state.header("/etag.xml", "if-none-match").as_deref(),
        Some("\"v0\"")
    );
    assert_eq!(a.hash, b.hash);
    assert_eq!(
        b.bytes().await.expect("body"),
        common::testdata("feeds/podcast.xml")
    );
    // origin changes: new ETag, new body, new hash
    srv.state.version.store(1, Ordering::SeqCst);
    let c3 = c.get(&url, 1 << 20).await.expect("third");
    assert_eq!(c3.cache, CacheStatus::Miss);
    assert_ne!(c3.hash, a.hash);
    assert_eq!(srv.state.hits("/etag.xml"), 3);
}

#[tokio::test]
async fn last_modified_revalidation() {
    let (srv, _dir, c) = setup().await;
    let url = u(srv.url("/lm.xml"));
    assert_eq!(
        c.get(&url, 1 << 20).await.expect("first").cache,
        CacheStatus::Miss
    );
    let b = c.get(&url, 1 << 20).await.expect("second");
    assert_eq!(b.cache, CacheStatus::Revalidated);
    assert_eq!(
        srv.state.header("/lm.xml", "if-modified-since").as_deref(),
        Some("Mon, 02 Nov 2026 10:00:00 GMT")
    );
}

#[tokio::test]
async fn fresh_entries_skip_the_origin() {
    let (srv, dir, c) = setup().await;
    let url = u(srv.url("/fresh.xml"));
    c.get(&url, 1 << 20).await.expect("first");
    for _ in 0..5 {
        assert_eq!(
            c.get(&url, 1 << 20).await.expect("hit").cache,
            CacheStatus::Hit
        );
    }
    assert_eq!(srv.state.hits("/fresh.xml"), 1);
    // reopening the cache keeps the index
    drop(c);
    let c2 = cache(dir.path(), 64 << 20).await;
    assert_eq!(
        c2.get(&url, 1 << 20).await.expect("hit").cache,
        CacheStatus::Hit
    );
}

#[tokio::test]
async fn same_body_stored_once() {
    let (srv, _dir, c) = setup().await;
    let a = c.get(&u(srv.url("/fresh.xml")), 1 << 20).await.expect("a");
    let b = c.get(&u(srv.url("/flaky.xml")), 1 << 20).await.expect("b");
    assert_eq!(a.hash, b.hash);
    assert_eq!(c.total_bytes().await.expect("total"), a.len);
}

#[tokio::test]
async fn stale_if_error() {
    let (srv, _dir, c) = setup().await;
    let url = u(srv.url("/flaky.xml"));
    let a = c.get(&url, 1 << 20).await.expect("first");
    assert!(!a.stale);
    srv.state.fail.store(true, Ordering::SeqCst);
    let b = c.get(&url, 1 << 20).await.expect("stale copy");
    assert!(b.stale);
    assert_eq!(b.cache, CacheStatus::Stale);
    assert_eq!(b.hash, a.hash);
    // nothing cached: the error comes through
    let r = c.get(&u(srv.url("/404")), 1 << 20).await;
    assert!(matches!(r, Err(FeedError::UpstreamStatus(404))), "{r:?}");
    assert!(!c.contains(&u(srv.url("/404"))).await.expect("contains"));
}

#[tokio::test]
async fn no_store_and_failures_are_not_cached() {
    let (srv, dir, c) = setup().await;
    let url = u(srv.url("/nostore.xml"));
    let a = c.get(&url, 1 << 20).await.expect("served");
    assert_eq!(a.bytes().await.expect("body").len() as u64, a.len);
    assert!(!c.contains(&url).await.expect("contains"));
    assert_eq!(c.total_bytes().await.expect("total"), 0);
    for path in ["/big", "/big-chunked", "/slow", "/loop"] {
        let url = u(srv.url(path));
        assert!(c.get(&url, 1 << 20).await.is_err(), "{path}");
        assert!(!c.contains(&url).await.expect("contains"), "{path}");
    }
    drop(a);
    let tmp_left = std::fs::read_dir(dir.path().join("tmp"))
        .expect("tmp dir")
        .count();
    assert_eq!(tmp_left, 0, "partial bodies must be removed");
}

#[tokio::test]
async fn lru_eviction_under_size_cap() {
    let srv = common::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let feed_len = common::testdata("feeds/podcast.xml").len() as u64;
    let atom_len = common::testdata("feeds/atom.xml").len() as u64;
    let json_len = common::testdata("feeds/feed.json").len() as u64;
    // room for the two largest bodies but not all three
    let c = cache(dir.path(), feed_len + atom_len.max(json_len) + 10).await;
    c.get(&u(srv.url("/fresh.xml")), 1 << 20).await.expect("a");
    c.get(&u(srv.url("/lm.xml")), 1 << 20).await.expect("b");
    // touch a so that b becomes least recently used
    c.get(&u(srv.url("/fresh.xml")), 1 << 20)
        .await
        .expect("a again");
    c.get(&u(srv.url("/json.json")), 1 << 20).await.expect("c");
    assert!(c.contains(&u(srv.url("/fresh.xml"))).await.expect("a"));
    assert!(!c.contains(&u(srv.url("/lm.xml"))).await.expect("b evicted"));
    assert!(c.contains(&u(srv.url("/json.json"))).await.expect("c"));
    assert!(c.total_bytes().await.expect("total") <= feed_len + atom_len.max(json_len) + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_origin_request() {
    const N: usize = 8;
    let (srv, _dir, c) = setup().await;
    let url = u(srv.url("/held.xml"));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (c, url) = (c.clone(), url.clone());
            tokio::spawn(async move { c.get(&url, 1 << 20).await })
        })
        .collect();
    // The origin holds its answer until every caller is provably waiting: one
    // request at the origin and the other N-1 joined to it. No timing involved;
    // the deadline only turns a hang into a failure.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !(srv.state.hits("/held.xml") >= 1 && c.joined_flights() == (N - 1) as u64) {
        assert!(
            std::time::Instant::now() < deadline,
            "callers never all waited on one fetch: origin hits {}, joined {}",
            srv.state.hits("/held.xml"),
            c.joined_flights()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    srv.state.release_held();
    let mut hashes = Vec::new();
    for t in tasks {
        let body = t.await.expect("join").expect("served");
        assert_eq!(body.cache, CacheStatus::Miss);
        hashes.push(body.hash);
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]));
    assert_eq!(
        srv.state.hits("/held.xml"),
        1,
        "one origin request for {N} callers"
    );
    // Afterwards the stored copy answers; the flight is gone.
    let again = c.get(&url, 1 << 20).await.expect("hit");
    assert_eq!(again.cache, CacheStatus::Hit);
    assert_eq!(srv.state.hits("/held.xml"), 1);
    assert_eq!(c.joined_flights(), (N - 1) as u64);
}

#[tokio::test]
async fn a_body_removed_under_the_cache_is_fetched_again() {
    let (srv, _dir, c) = setup().await;
    let url = u(srv.url("/fresh.xml"));
    let a = c.get(&url, 1 << 20).await.expect("miss");
    assert_eq!(a.cache, CacheStatus::Miss);
    // served from the in-memory index copy
    assert_eq!(
        c.get(&url, 1 << 20).await.expect("hit").cache,
        CacheStatus::Hit
    );
    std::fs::remove_file(a.path()).expect("remove body");
    let b = c.get(&url, 1 << 20).await.expect("refetch");
    assert_eq!(b.cache, CacheStatus::Miss);
    assert_eq!(
        b.bytes().await.expect("body"),
        common::testdata("feeds/podcast.xml")
    );
    assert_eq!(srv.state.hits("/fresh.xml"), 2);
    assert_eq!(
        c.get(&url, 1 << 20).await.expect("hit again").cache,
        CacheStatus::Hit
    );
}
