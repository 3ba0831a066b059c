//! Compressed responses of the proxy router: gzip bodies decode to exactly the
//! identity bodies, Accept-Encoding is honoured (q-values, absent header), the
//! per-request fields are right in the compressed variant (stale-if-error), and a
//! body is compressed once.

use crate::common;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::common::Proxy;
use reqwest::header::HeaderMap;
use serde_json::Value;
use skypod_feeds::http::RateLimitConfig;

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn encoding(&self) -> Option<&str> {
        self.headers
            .get("content-encoding")
            .and_then(|v| v.to_str().ok())
    }

    /// The body with the content coding undone.
    fn decoded(&self) -> Vec<u8> {
        match self.encoding() {
            None => self.body.clone(),
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(self.body.as_slice())
                    .read_to_end(&mut out)
                    .expect("valid gzip");
                out
            }
            Some(other) => panic!("unexpected content-encoding {other}"),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.decoded()).expect("JSON body")
    }

    fn varies_on_accept_encoding(&self) -> bool {
        self.headers
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
            })
    }
}

impl Proxy {
    /// The client sends no Accept-Encoding of its own and never inflates: the
    /// test sees the bytes on the wire.
    async fn start_seeing_the_wire() -> Self {
        let limits = RateLimitConfig {
            burst: 1000,
            per_second: 1000.0,
        };
        let client = skypod_feeds::fetch::http_client()
            .no_proxy()
            .no_gzip()
            .no_brotli()
            .build()
            .expect("client");
        common::Proxy::serve(limits, client).await
    }

    async fn get_encoded(
        &self,
        endpoint: &str,
        path: &str,
        accept_encoding: Option<&str>,
    ) -> Reply {
        let mut req = self
            .client
            .get(format!("{}/proxy/{endpoint}", self.base))
            .query(&[("url", self.fixture.url(path))])
            .bearer_auth("good");
        if let Some(ae) = accept_encoding {
            req = req.header("accept-encoding", ae);
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("body").to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }
}

const BROWSER: &str = "gzip, deflate, br";

#[tokio::test]
async fn gzip_bodies_decode_to_the_identity_bodies() {
    let p = Proxy::start_seeing_the_wire().await;
    for (endpoint, path) in [
        ("feed", "/fresh.xml"),
        ("reader", "/article.html"),
        ("raw", "/fresh.xml"),
    ] {
        // Prime, so both replies below are hits and must be byte-identical.
        let first = p.get_encoded(endpoint, path, None).await;
        assert_eq!(first.status, 200, "{endpoint}");
        let identity = p.get_encoded(endpoint, path, None).await;
        let gzip = p.get_encoded(endpoint, path, Some(BROWSER)).await;
        assert_eq!(identity.status, 200);
        assert_eq!(gzip.status, 200);
        assert_eq!(identity.encoding(), None, "{endpoint}");
        assert_eq!(gzip.encoding(), Some("gzip"), "{endpoint}");
        assert!(identity.varies_on_accept_encoding(), "{endpoint}");
        assert!(gzip.varies_on_accept_encoding(), "{endpoint}");
        assert!(
            gzip.body.len() < identity.body.len() / 2,
            "{endpoint}: {} compressed vs {} bytes",
            gzip.body.len(),
            identity.body.len()
        );
        assert_eq!(
            gzip.headers["content-length"],
            gzip.body.len().to_string().as_str()
        );
        assert!(
            gzip.decoded() == identity.body,
            "{endpoint}: gzip body does not decode to the identity body"
        );
        for h in ["x-skypod-cache", "x-skypod-content-hash", "content-type"] {
            assert_eq!(gzip.headers[h], identity.headers[h], "{endpoint} {h}");
        }
        if path == "/fresh.xml" {
            // max-age=3600: a hit (the article has no freshness and is re-fetched:
            // same body, same hash, so the comparison above holds for it too).
            assert_eq!(gzip.headers["x-skypod-cache"], "hit");
        }
        if endpoint != "raw" {
            assert_eq!(gzip.json()["cache"], identity.json()["cache"]);
        }
    }
    // The raw body is the upstream file, byte for byte.
    let raw = p.get_encoded("raw", "/fresh.xml", Some(BROWSER)).await;
    assert!(raw.decoded() == common::testdata("feeds/podcast.xml"));
}

#[tokio::test]
async fn accept_encoding_is_honoured() {
    let p = Proxy::start_seeing_the_wire().await;
    let cases: &[(Option<&str>, Option<&str>)] = &[
        (None, None),
        (Some("identity"), None),
        (Some("gzip;q=0"), None),
        (Some("gzip;q=0, br"), None),
        (Some("br"), None),
        (Some("identity;q=1, gzip;q=0.5"), None),
        (Some("gzip"), Some("gzip")),
        (Some("*"), Some("gzip")),
        (Some("GZip;Q=0.3, identity;q=0.1"), Some("gzip")),
        (Some(BROWSER), Some("gzip")),
    ];
    let expected = p.get_encoded("feed", "/fresh.xml", None).await.json()["channel"].clone();
    for (ae, want) in cases {
        for endpoint in ["feed", "raw"] {
            let r = p.get_encoded(endpoint, "/fresh.xml", *ae).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.encoding(), *want, "{endpoint} with {ae:?}");
            assert!(r.varies_on_accept_encoding(), "{endpoint} with {ae:?}");
            if endpoint == "feed" {
                assert_eq!(r.json()["channel"], expected, "{ae:?}");
            }
        }
    }
}

#[tokio::test]
async fn small_and_incompressible_bodies_stay_identity() {
    let p = Proxy::start_seeing_the_wire().await;
    let title = p.get_encoded("title", "/og.html", Some(BROWSER)).await;
    assert_eq!(title.status, 200);
    assert!(title.body.len() < 1024, "the title JSON is small");
    assert_eq!(title.encoding(), None);
    assert!(title.varies_on_accept_encoding());
    assert_eq!(title.json()["title"], "The Open Graph Title");
    // MP3 is compressed already: sent as it is.
    let audio = p.get_encoded("raw", "/audio.mp3", Some(BROWSER)).await;
    assert_eq!(audio.status, 200);
    assert_eq!(audio.encoding(), None);
    assert!(audio.body == common::testdata("audio/pauses.mp3"));
    assert_eq!(p.service.compressions_run(), 0);
}

#[tokio::test]
async fn stale_fields_are_right_in_the_compressed_variant() {
    let p = Proxy::start_seeing_the_wire().await;
    // A fresh reply, compressed: the deflated payload is memoised with it.
    let fresh = p.get_encoded("feed", "/flaky.xml", Some(BROWSER)).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(fresh.encoding(), Some("gzip"));
    assert!(!fresh.headers.contains_key("x-skypod-stale"));
    assert_eq!(fresh.json()["stale"], false);
    assert_eq!(p.service.compressions_run(), 1);

    p.fixture.state.fail.store(true, Ordering::SeqCst);
    let stale_gzip = p.get_encoded("feed", "/flaky.xml", Some(BROWSER)).await;
    let stale_identity = p.get_encoded("feed", "/flaky.xml", None).await;
    for r in [&stale_gzip, &stale_identity] {
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["x-skypod-stale"], "1");
        assert_eq!(r.headers["x-skypod-cache"], "stale");
        assert!(r.headers.contains_key("warning"));
        let v = r.json();
        assert_eq!(v["stale"], true);
        assert_eq!(v["cache"], "stale");
        assert_eq!(v["channel"]["title"], "The Skypod Test Show");
    }
    assert_eq!(stale_gzip.encoding(), Some("gzip"));
    assert!(
        stale_gzip.decoded() == stale_identity.body,
        "the stale gzip body must decode to the stale identity body"
    );
    assert!(
        stale_gzip.decoded() != fresh.decoded(),
        "a stale reply must not carry the fresh reply's bytes"
    );
    // Same body (same content hash): the stored compressed payload was reused.
    assert_eq!(p.service.compressions_run(), 1);

    p.fixture.state.fail.store(false, Ordering::SeqCst);
    let again = p.get_encoded("feed", "/flaky.xml", Some(BROWSER)).await;
    assert!(!again.headers.contains_key("x-skypod-stale"));
    assert_eq!(again.json()["stale"], false);
}

#[tokio::test]
async fn concurrent_gzip_hits_compress_once() {
    let p = Arc::new(Proxy::start_seeing_the_wire().await);
    // Parse and memoise the feed (uncompressed) first.
    assert_eq!(p.get_encoded("feed", "/fresh.xml", None).await.status, 200);
    assert_eq!(p.service.compressions_run(), 0);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move {
            p.get_encoded("feed", "/fresh.xml", Some(BROWSER)).await
        }));
    }
    let mut bodies = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.expect("join");
        assert_eq!(r.encoding(), Some("gzip"));
        bodies.insert(r.body);
    }
    assert_eq!(bodies.len(), 1, "every hit sends the same bytes");
    assert_eq!(p.service.compressions_run(), 1);
    // Later hits, and the raw body of the same URL (a different body), as well.
    p.get_encoded("feed", "/fresh.xml", Some(BROWSER)).await;
    assert_eq!(p.service.compressions_run(), 1);
    p.get_encoded("raw", "/fresh.xml", Some(BROWSER)).await;
    p.get_encoded("raw", "/fresh.xml", Some(BROWSER)).await;
    assert_eq!(p.service.compressions_run(), 2);
}
