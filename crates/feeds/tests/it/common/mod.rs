//! Loopback fixture HTTP server for the integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use skypod_feeds::fetch::FetchConfig;
use skypod_feeds::service::{FeedService, ServiceConfig};

pub fn testdata(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(rel),
    )
    .expect("fixture")
}

#[derive(Default)]
pub struct Fixture {
    pub hits: Mutex<HashMap<String, usize>>,
    pub last_headers: Mutex<HashMap<String, HeaderMap>>,
    pub total: AtomicUsize,
    pub fail: AtomicBool,
    pub version: AtomicUsize,
    /// `/held.xml` answers only once this is set (see [`Fixture::release_held`]).
    pub held_released: AtomicBool,
    pub held_notify: tokio::sync::Notify,
}

impl Fixture {
    /// Let every pending and future `/held.xml` request answer.
    pub fn release_held(&self) {
        self.held_released.store(true, Ordering::SeqCst);
        self.held_notify.notify_waiters();
    }
    pub fn hits(&self, path: &str) -> usize {
        self.hits
            .lock()
            .expect("lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }
    pub fn header(&self, path: &str, name: &str) -> Option<String> {
        self.last_headers
            .lock()
            .expect("lock")
            .get(path)
            .and_then(|h| h.get(name))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<Fixture>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

async fn record(
    State(st): State<Arc<Fixture>>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_string();
    st.total.fetch_add(1, Ordering::SeqCst);
    *st.hits
        .lock()
        .expect("lock")
        .entry(path.clone())
        .or_default() += 1;
    st.last_headers
        .lock()
        .expect("lock")
        .insert(path, req.headers().clone());
    next.run(req).await
}

const LAST_MODIFIED: &str = "Mon, 02 Nov 2026 10:00:00 GMT";

async fn etag_feed(State(st): State<Arc<Fixture>>, headers: HeaderMap) -> Response {
    let v = st.version.load(Ordering::SeqCst);
    let etag = format!("\"v{v}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        == Some(etag.as_str())
    {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, "max-age=0".into()),
            ],
        )
            .into_response();
    }
    let mut body = testdata("feeds/podcast.xml");
    if v > 0 {
        body = String::from_utf8_lossy(&body)
            .replace(
                "The Skypod Test Show",
                &format!("The Skypod Test Show v{v}"),
            )
            .into_bytes();
    }
    (
        [
            (header::ETAG, etag),
            (header::CACHE_CONTROL, "max-age=0".to_string()),
            (header::CONTENT_TYPE, "application/rss+xml".to_string()),
        ],
        body,
    )
        .into_response()
}

async fn lm_feed(headers: HeaderMap) -> Response {
    if headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|h| h.to_str().ok())
        == Some(LAST_MODIFIED)
    {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::LAST_MODIFIED, LAST_MODIFIED)],
        )
            .into_response();
    }
    (
        [
            (header::LAST_MODIFIED, LAST_MODIFIED),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_TYPE, "application/rss+xml"),
        ],
        testdata("feeds/atom.xml"),
    )
        .into_response()
}

/// A GET route answering the fixture `rel` as `content_type`.
fn fixture_as<S: Clone + Send + Sync + 'static>(
    rel: &'static str,
    content_type: &'static str,
) -> MethodRouter<S> {
    get(move || async move { ([(header::CONTENT_TYPE, content_type)], testdata(rel)) })
}

/// `feeds/podcast.xml` as RSS, with `cache_control`.
fn podcast_feed(cache_control: &'static str) -> Response {
    (
        [
            (header::CACHE_CONTROL, cache_control),
            (header::CONTENT_TYPE, "application/rss+xml"),
        ],
        testdata("feeds/podcast.xml"),
    )
        .into_response()
}

async fn fresh_feed() -> Response {
    podcast_feed("max-age=3600")
}

/// Holds the response until the test releases it, so concurrent callers are
/// provably waiting at the same time (no sleeps).
async fn held(State(st): State<Arc<Fixture>>) -> Response {
    loop {
        let notified = st.held_notify.notified();
        if st.held_released.load(Ordering::SeqCst) {
            break;
        }
        notified.await;
    }
    podcast_feed("max-age=3600")
}

async fn flaky(State(st): State<Arc<Fixture>>) -> Response {
    if st.fail.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    podcast_feed("max-age=0")
}

async fn nostore() -> Response {
    podcast_feed("no-store")
}

async fn slow() -> Response {
    let stream = futures_util::stream::unfold(0u32, |i| async move {
        if i > 600 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(if i == 0 { 0 } else { 400 })).await;
        Some((
            Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"<")),
            i + 1,
        ))
    });
    (
        [(header::CONTENT_TYPE, "application/rss+xml")],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn stall() -> Response {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late".into_response()
}

async fn big() -> Response {
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        vec![b'x'; 3 * 1024 * 1024],
    )
        .into_response()
}

async fn big_chunked() -> Response {
    let stream = futures_util::stream::iter(
        (0..48).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'y'; 64 * 1024]))),
    );
    Body::from_stream(stream).into_response()
}

fn redirect(to: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

pub async fn start() -> Server {
    let state = Arc::new(Fixture::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let self_url = format!("http://{addr}");
    let app = Router::new()
        .route("/etag.xml", get(etag_feed))
        .route("/lm.xml", get(lm_feed))
        .route("/fresh.xml", get(fresh_feed))
        .route("/flaky.xml", get(flaky))
        .route("/held.xml", get(held))
        .route("/nostore.xml", get(nostore))
        .route(
            "/json.json",
            fixture_as("feeds/feed.json", "application/feed+json"),
        )
        .route(
            "/billion.xml",
            get(|| async { testdata("feeds/billion-laughs.xml") }),
        )
        .route(
            "/not-a-feed",
            fixture_as("feeds/not-a-feed.html", "text/html"),
        )
        .route(
            "/article.html",
            fixture_as("pages/article.html", "text/html; charset=utf-8"),
        )
        .route("/og.html", fixture_as("pages/og-title.html", "text/html"))
        .route(
            "/audio.mp3",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "audio/mpeg"),
                        (header::CACHE_CONTROL, "max-age=3600"),
                    ],
                    testdata("audio/pauses.mp3"),
                )
            }),
        )
        .route(
            "/audio-copy.mp3",
            fixture_as("audio/pauses.mp3", "audio/mpeg"),
        )
        .route(
            "/truncated.mp3",
            fixture_as("audio/pauses-truncated.mp3", "audio/mpeg"),
        )
        .route("/slow", get(slow))
        .route("/stall", get(stall))
        .route("/big", get(big))
        .route("/big-chunked", get(big_chunked))
        .route("/404", get(|| async { StatusCode::NOT_FOUND }))
        .route("/loop", get(|| async { redirect("/loop".into()) }))
        .route("/hop1", get(|| async { redirect("/hop2".into()) }))
        .route("/hop2", get(|| async { redirect("/fresh.xml".into()) }))
        .route(
            "/to-private",
            get(|| async { redirect("http://10.0.0.1/feed.xml".into()) }),
        )
        .route(
            "/to-metadata",
            get(|| async { redirect("http://169.254.169.254/latest/meta-data/".into()) }),
        )
        .route(
            "/to-v6-loopback",
            get(|| async { redirect("http://[::1]/".into()) }),
        )
        .route(
            "/to-file",
            get(|| async { redirect("file:///etc/passwd".into()) }),
        )
        .route(
            "/to-localhost",
            get(move || {
                let u = self_url.replace("127.0.0.1", "localhost");
                async move { redirect(format!("{u}/fresh.xml")) }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(state.clone(), record))
        .with_state(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, state }
}

/// Fetch settings for tests: loopback fixture allow-listed, short timeouts, 1 MiB cap.
pub fn test_fetch_config() -> FetchConfig {
    FetchConfig {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(3),
        max_body: 1024 * 1024,
        max_redirects: 3,
        allow: vec!["127.0.0.1/32".parse().expect("net")],
        ..FetchConfig::default()
    }
}

/// Serve `app` on a loopback port; its base URL (`http://127.0.0.1:port`).
/// The text of the response header `name` (which must be there).
pub fn header_text<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()[name].to_str().expect("a text header")
}

/// A CORS preflight (`OPTIONS`, no token) of `url`; it must be answered 204.
pub async fn preflight(client: &reqwest::Client, url: String) -> reqwest::Response {
    let r = client
        .request(reqwest::Method::OPTIONS, url)
        .send()
        .await
        .expect("options");
    assert_eq!(r.status(), 204);
    r
}

pub async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

pub async fn service(dir: &Path) -> FeedService {
    let mut cfg = ServiceConfig::new(dir);
    cfg.fetch = test_fetch_config();
    cfg.max_audio_bytes = 8 * 1024 * 1024;
    FeedService::new(cfg).await.expect("service")
}

/// Bearer tokens the proxy tests use: `good` and `good2` are two identities.
pub struct TestAuth;

impl skypod_feeds::http::ProxyAuth for TestAuth {
    fn authorize(&self, bearer_token: &str) -> Result<String, String> {
        match bearer_token {
            "good" => Ok("ident-1".into()),
            "good2" => Ok("ident-2".into()),
            _ => Err("token rejected".into()),
        }
    }
}

/// The proxy router on a loopback port, over a fresh service and the fixture
/// origin.
pub struct Proxy {
    pub base: String,
    pub client: reqwest::Client,
    pub service: FeedService,
    pub fixture: Server,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// `client` is the HTTP client the test talks to the proxy with.
    pub async fn serve(
        limits: skypod_feeds::http::RateLimitConfig,
        client: reqwest::Client,
    ) -> Self {
        let fixture = start().await;
        let dir = tempfile::tempdir().expect("tmp");
        let service = service(dir.path()).await;
        let app = skypod_feeds::http::router(service.clone(), Arc::new(TestAuth), limits);
        Self {
            base: serve(app).await,
            client,
            service,
            fixture,
            _dir: dir,
        }
    }
}
