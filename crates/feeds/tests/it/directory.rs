//! `/proxy/directory?q=`: podcast directory search through the proxy, against fixture
//! directories on loopback that answer like the iTunes Search API and Podcast Index
//! (whose request signature the fixture checks), and ones that fail or hang.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use skypod_feeds::directory::DirectoryConfig;
use skypod_feeds::http::RateLimitConfig;
use skypod_feeds::service::{FeedService, ServiceConfig};

#[derive(Default)]
struct Dir {
    itunes_hits: AtomicUsize,
    last_query: std::sync::Mutex<Vec<(String, String)>>,
}

async fn itunes(State(st): State<Arc<Dir>>, Query(q): Query<Vec<(String, String)>>) -> Response {
    st.itunes_hits.fetch_add(1, Ordering::SeqCst);
    *st.last_query.lock().expect("lock") = q.clone();
    let term = q
        .iter()
        .find(|(k, _)| k == "term")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let results = if term.to_lowercase().contains("rust") {
        json!([
            {"collectionName": "Rustacean Station", "artistName": "Rust Community", "feedUrl": "https://rust.example/feed.xml", "artworkUrl600": "https://img.example/r600.jpg"},
            {"collectionName": "Without a feed"},
            {"collectionName": "New Rustacean", "feedUrl": "https://newrustacean.example/feed"}
        ])
    } else {
        json!([])
    };
    axum::Json(json!({"resultCount": 3, "results": results})).into_response()
}

async fn podcast_index(headers: HeaderMap, Query(q): Query<Vec<(String, String)>>) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (key, date, auth) = (h("x-auth-key"), h("x-auth-date"), h("authorization"));
    let mut s = Sha1::new();
    s.update(format!("fixture-key{}{date}", "fixture-secret").as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let fresh = date.parse::<u64>().is_ok_and(|d| d.abs_diff(now) < 60);
    if key != "fixture-key" || auth != hex::encode(s.finalize()) || !fresh {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"status": "false", "description": "bad auth"})),
        )
            .into_response();
    }
    let term = q
        .iter()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    axum::Json(json!({"status": "true", "count": 1, "feeds": [
        {"title": format!("Index hit for {term}"), "url": "https://index.example/rss", "author": "Indexer", "artwork": "https://index.example/a.png", "description": "From the index"}
    ]}))
    .into_response()
}

async fn fixture() -> (String, Arc<Dir>) {
    let st = Arc::new(Dir::default());
    let app = Router::new()
        .route("/itunes/search", get(itunes))
        .route("/pi/search", get(podcast_index))
        .route(
            "/down/search",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route("/garbage/search", get(|| async { "<html>not json</html>" }))
        .route(
            "/slow/search",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .with_state(st.clone());
    (common::serve(app).await, st)
}

struct Proxy {
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Proxy {
    async fn start(directory: DirectoryConfig) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let mut cfg = ServiceConfig::new(dir.path());
        cfg.fetch = common::test_fetch_config();
        cfg.directory = directory;
        let service = FeedService::new(cfg).await.expect("service");
        let app = skypod_feeds::http::router(
            service,
            Arc::new(common::TestAuth),
            RateLimitConfig::default(),
        );
        Self {
            base: common::serve(app).await,
            client: skypod_feeds::fetch::http_client()
                .no_proxy()
                .build()
                .expect("client"),
            _dir: dir,
        }
    }

    async fn search(&self, q: Option<&str>, token: Option<&str>) -> (u16, Value) {
        let mut req = self.client.get(format!("{}/proxy/directory", self.base));
        if let Some(q) = q {
            req = req.query(&[("q", q)]);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl Proxy {
    /// A proxy whose directory is an iTunes Search API at `path` of the fixture at `base`.
    async fn itunes(base: &str, path: &str) -> Self {
        Self::start(DirectoryConfig::Itunes {
            endpoint: endpoint(base, path),
        })
        .await
    }

    /// A search for `q` by a member that fails with `status` and a message that says `says`.
    async fn assert_refused(&self, q: Option<&str>, status: u16, says: &str) {
        let (got, body) = self.search(q, Some("good")).await;
        assert_eq!(got, status, "{body}");
        assert!(
            body["message"].as_str().expect("message").contains(says),
            "{body}"
        );
    }
}

/// The fixture's Podcast Index (at `base`), with the fixture's key and `secret`.
fn podcast_index_config(base: &str, secret: &str) -> DirectoryConfig {
    DirectoryConfig::from_options(
        "podcastindex",
        Some(&format!("{base}/pi/search")),
        Some("fixture-key"),
        Some(secret),
    )
    .expect("config")
}

fn endpoint(base: &str, path: &str) -> url::Url {
    url::Url::parse(&format!("{base}{path}")).expect("url")
}

#[tokio::test]
async fn itunes_search_through_the_proxy_members_only_and_remembered() {
    let (base, st) = fixture().await;
    let proxy = Proxy::itunes(&base, "/itunes/search").await;

    let (status, body) = proxy.search(Some("  rust   podcasts "), Some("good")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["directory"], "iTunes");
    let results = body["results"].as_array().expect("results");
    // The hit without a feed address is dropped.
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["title"], "Rustacean Station");
    assert_eq!(results[0]["author"], "Rust Community");
    assert_eq!(results[0]["feed_url"], "https://rust.example/feed.xml");
    assert_eq!(results[0]["image"], "https://img.example/r600.jpg");
    let q = st.last_query.lock().expect("lock").clone();
    assert!(
        q.contains(&("term".into(), "rust podcasts".into())),
        "{q:?}"
    );
    assert!(q.contains(&("media".into(), "podcast".into())), "{q:?}");

    // The same search (any case) within 10 minutes does not ask the directory again.
    let (status, again) = proxy.search(Some("Rust Podcasts"), Some("good")).await;
    assert_eq!(status, 200);
    assert_eq!(again["results"], body["results"]);
    assert_eq!(st.itunes_hits.load(Ordering::SeqCst), 1);

    let (status, none) = proxy.search(Some("knitting"), Some("good")).await;
    assert_eq!(status, 200);
    assert_eq!(none["results"], json!([]));

    // Members only; bad queries are refused before the directory is asked.
    let hits = st.itunes_hits.load(Ordering::SeqCst);
    assert_eq!(proxy.search(Some("rust"), None).await.0, 401);
    assert_eq!(proxy.search(Some("rust"), Some("forged")).await.0, 401);
    proxy.assert_refused(None, 400, "missing q").await;
    assert_eq!(proxy.search(Some("   "), Some("good")).await.0, 400);
    proxy
        .assert_refused(Some(&"x".repeat(201)), 400, "longer than 200")
        .await;
    assert_eq!(st.itunes_hits.load(Ordering::SeqCst), hits);
}

#[tokio::test]
async fn podcast_index_requests_are_signed_with_key_and_secret() {
    let (base, _st) = fixture().await;
    let good = podcast_index_config(&base, "fixture-secret");
    let proxy = Proxy::start(good).await;
    let (status, body) = proxy.search(Some("history"), Some("good")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["directory"], "Podcast Index");
    assert_eq!(body["results"][0]["title"], "Index hit for history");
    assert_eq!(body["results"][0]["image"], "https://index.example/a.png");
    assert_eq!(body["results"][0]["description"], "From the index");

    // A wrong secret: the index refuses, the member gets a clear 502.
    let bad = podcast_index_config(&base, "wrong");
    let proxy = Proxy::start(bad).await;
    proxy.assert_refused(Some("history"), 502, "401").await;
}

#[tokio::test]
async fn no_directory_down_garbage_and_slow_give_clear_errors() {
    let (base, _st) = fixture().await;
    let proxy = Proxy::start(DirectoryConfig::None).await;
    proxy
        .assert_refused(Some("rust"), 503, "no podcast directory")
        .await;

    let proxy = Proxy::itunes(&base, "/down/search").await;
    proxy.assert_refused(Some("rust"), 502, "500").await;

    let proxy = Proxy::itunes(&base, "/garbage/search").await;
    proxy
        .assert_refused(Some("rust"), 422, "directory's answer")
        .await;

    // A directory that hangs: the fetch timeout (3 s in tests) ends it with a 504.
    let proxy = Proxy::itunes(&base, "/slow/search").await;
    let t = std::time::Instant::now();
    let (status, _) = proxy.search(Some("rust"), Some("good")).await;
    assert_eq!(status, 504);
    assert!(t.elapsed() < Duration::from_secs(10));
}
