//! End-to-end tests of the axum router: auth, rate limit, CORS, every endpoint,
//! error mapping, stale header, silence job sharing.

use crate::common;

use std::sync::atomic::Ordering;

use crate::common::Proxy;
use serde_json::Value;
use skypod_feeds::http::RateLimitConfig;

impl Proxy {
    async fn start(limits: RateLimitConfig) -> Self {
        let client = skypod_feeds::fetch::http_client()
            .no_proxy()
            .build()
            .expect("client");
        common::Proxy::serve(limits, client).await
    }

    async fn get(&self, endpoint: &str, target: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .get(format!("{}/proxy/{endpoint}", self.base))
            .query(&[("url", target)]);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("send")
    }

    async fn json(&self, endpoint: &str, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = self
            .get(endpoint, &self.fixture.url(path), Some("good"))
            .await;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let v: Value = r.json().await.expect("json body");
        (status, headers, v)
    }
}

fn generous() -> RateLimitConfig {
    RateLimitConfig {
        burst: 1000,
        per_second: 1000.0,
    }
}

#[tokio::test]
async fn requires_bearer_token() {
    let p = Proxy::start(generous()).await;
    for token in [None, Some("wrong")] {
        let r = p.get("feed", &p.fixture.url("/fresh.xml"), token).await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["status"], 401);
        assert!(
            v["message"]
                .as_str()
                .expect("message")
                .contains("unauthorized")
        );
    }
    assert_eq!(p.fixture.state.total.load(Ordering::SeqCst), 0);
    // CORS preflight needs no token
    let r = common::preflight(&p.client, format!("{}/proxy/raw", p.base)).await;
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "Authorization, Range, If-Range"
    );
}

#[tokio::test]
async fn rate_limit_per_identity() {
    let p = Proxy::start(RateLimitConfig {
        burst: 2,
        per_second: 0.01,
    })
    .await;
    let target = p.fixture.url("/fresh.xml");
    assert_eq!(p.get("title", &target, Some("good")).await.status(), 200);
    assert_eq!(p.get("title", &target, Some("good")).await.status(), 200);
    let r = p.get("title", &target, Some("good")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(p.get("title", &target, Some("good2")).await.status(), 200);
}

#[tokio::test]
async fn feed_endpoint() {
    let p = Proxy::start(generous()).await;
    let (s, h, v) = p.json("feed", "/fresh.xml").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["x-skypod-cache"], "miss");
    assert_eq!(v["channel"]["title"], "The Skypod Test Show");
    assert_eq!(
        v["channel"]["podcast_guid"],
        "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    );
    assert_eq!(v["episodes"].as_array().expect("episodes").len(), 3);
    assert_eq!(v["episodes"][0]["duration_seconds"], 3723);
    assert_eq!(v["stale"], false);
    let (_, h2, _) = p.json("feed", "/fresh.xml").await;
    assert_eq!(h2["x-skypod-cache"], "hit");
    let (s, _, v) = p.json("feed", "/json.json").await;
    assert_eq!(s, 200);
    assert_eq!(v["channel"]["feed_type"], "json");
}

#[tokio::test]
async fn raw_reader_title_endpoints() {
    let p = Proxy::start(generous()).await;
    let r = p
        .get("raw", &p.fixture.url("/fresh.xml"), Some("good"))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/rss+xml");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(common::header_text(&r, "content-security-policy").contains("sandbox"));
    assert_eq!(
        r.bytes().await.expect("body").as_ref(),
        common::testdata("feeds/podcast.xml").as_slice()
    );

    let (s, _, v) = p.json("reader", "/article.html").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["title"], "Why Podcasts Still Matter");
    assert_eq!(v["byline"], "Jane Writer");
    assert!(v["reading_time"]["words"].as_u64().expect("words") > 300);
    assert!(
        !v["content_html"]
            .as_str()
            .expect("html")
            .contains("<script")
    );

    let (s, _, v) = p.json("title", "/og.html").await;
    assert_eq!(s, 200);
    assert_eq!(v["title"], "The Open Graph Title");
}

#[tokio::test]
async fn errors_map_to_statuses() {
    let p = Proxy::start(generous()).await;
    let cases: &[(&str, &str, u16)] = &[
        ("feed", "/billion.xml", 422),
        ("feed", "/not-a-feed", 422),
        ("raw", "/big", 413),
        ("raw", "/slow", 504),
        ("raw", "/loop", 502),
        ("raw", "/404", 502),
        ("raw", "/to-metadata", 403),
        ("silence", "/truncated.mp3", 422),
        ("silence", "/fresh.xml", 422),
    ];
    for (endpoint, path, code) in cases {
        let (s, _, v) = p.json(endpoint, path).await;
        assert_eq!(s, *code, "{endpoint} {path}: {v}");
        assert_eq!(v["status"], *code);
        assert!(!v["message"].as_str().unwrap_or("").is_empty());
    }
    for (target, code) in [
        ("http://10.0.0.1/", 403),
        ("http://169.254.169.254/latest/meta-data/", 403),
        ("http://[fc00::1]/", 403),
        ("file:///etc/passwd", 400),
        ("not a url", 400),
    ] {
        let r = p.get("raw", target, Some("good")).await;
        assert_eq!(r.status().as_u16(), code, "{target}");
    }
    let r = p
        .client
        .get(format!("{}/proxy/feed", p.base))
        .bearer_auth("good")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400, "missing url");
    let r = p
        .client
        .get(format!(
            "{}/proxy/silence?url=http%3A%2F%2Fx%2F&threshold_db=loud",
            p.base
        ))
        .bearer_auth("good")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400, "bad query");
    let v: Value = r.json().await.expect("json error body");
    assert_eq!(v["status"], 400);
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    let r = p
        .get("raw", &format!("http://127.0.0.1:{port}/"), Some("good"))
        .await;
    assert_eq!(r.status(), 502, "unreachable");
}

#[tokio::test]
async fn stale_header_when_origin_fails() {
    let p = Proxy::start(generous()).await;
    let (s, h, _) = p.json("feed", "/flaky.xml").await;
    assert_eq!(s, 200);
    assert!(!h.contains_key("x-skypod-stale"));
    p.fixture.state.fail.store(true, Ordering::SeqCst);
    let (s, h, v) = p.json("feed", "/flaky.xml").await;
    assert_eq!(s, 200);
    assert_eq!(h["x-skypod-stale"], "1");
    assert_eq!(h["x-skypod-cache"], "stale");
    assert_eq!(v["stale"], true);
    assert_eq!(v["channel"]["title"], "The Skypod Test Show");
}

#[tokio::test]
async fn silence_endpoint_and_shared_jobs() {
    let p = Proxy::start(generous()).await;
    let (s, _, v) = p.json("silence", "/audio.mp3").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["silences"].as_array().expect("silences").len(), 2);
    assert_eq!(v["params"]["threshold_db"], -50.0);
    assert_eq!(v["params"]["min_silence"], 0.5);
    assert!(v["duration"].as_f64().expect("duration") > 4.0);
    assert_eq!(p.service.silence_jobs_started(), 1);
    // analysed once per content hash: a second URL with the same bytes reuses it
    let (s, _, _) = p.json("silence", "/audio-copy.mp3").await;
    assert_eq!(s, 200);
    assert_eq!(p.service.silence_jobs_started(), 1);
    // custom thresholds are a different analysis
    let r = p
        .client
        .get(format!("{}/proxy/silence", p.base))
        .query(&[
            ("url", p.fixture.url("/audio.mp3").as_str()),
            ("min_silence", "1.5"),
        ])
        .bearer_auth("good")
        .send()
        .await
        .expect("send");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["silences"].as_array().expect("silences").len(), 1);
    assert_eq!(p.service.silence_jobs_started(), 2);
}

#[tokio::test]
async fn concurrent_silence_requests_share_one_job() {
    let fixture = common::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let service = common::service(dir.path()).await;
    let url = url::Url::parse(&fixture.url("/audio.mp3")).expect("url");
    // warm the body cache so all requests reach the analysis at the same time
    service.cache().get(&url, 8 << 20).await.expect("warm");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = service.clone();
        let u = url.clone();
        tasks.push(tokio::spawn(async move { s.silence(&u).await }));
    }
    let mut hashes = std::collections::HashSet::new();
    for t in tasks {
        let served = t.await.expect("join").expect("silence");
        assert_eq!(served.value.silences.len(), 2);
        hashes.insert(served.content_hash);
    }
    assert_eq!(hashes.len(), 1);
    assert_eq!(service.silence_jobs_started(), 1);
}
