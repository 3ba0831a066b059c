//! A bridge on a loopback port over a real library store, a real feed fixture served over
//! HTTP and parsed by skypod-feeds' parser (the node uses the realm server's proxy, which
//! runs the same parser; its SSRF guard refuses loopback, hence the direct fetch here).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use skypod_gpodder::{Bridge, BridgeConfig, BridgeStore, FeedEpisode, FeedLookup, LibraryHandle};
use skypod_library::{Library, Store};

pub const USER: &str = "alice";
pub const PASSWORD: &str = "correct horse battery";
pub const MEMBER: &str = "node-member";

/// The fixture feed: two episodes with guids and enclosures.
pub fn feed_xml(base: &str) -> String {
    format!(
        r#"<?xml version="1.0"?>
<rss version="2.0"><channel><title>Loopback Radio</title>
<item><title>One</title><guid>ep-1</guid><enclosure url="{base}/media/ep1.mp3" type="audio/mpeg" length="1"/></item>
<item><title>Two</title><guid>ep-2</guid><enclosure url="{base}/media/ep2.mp3" type="audio/mpeg" length="1"/></item>
</channel></rss>"#
    )
}

/// Fetch + the proxy's parser.
pub struct DirectFeeds;

#[async_trait::async_trait]
impl FeedLookup for DirectFeeds {
    async fn episodes(&self, url: &str) -> Result<Vec<FeedEpisode>, String> {
        let body = client().get(url).send().await.map_err(|e| e.to_string())?;
        if !body.status().is_success() {
            return Err(format!("{}", body.status()));
        }
        let bytes = body.bytes().await.map_err(|e| e.to_string())?;
        let parsed =
            skypod_feeds::parse::parse_feed(&bytes, Some(url)).map_err(|e| e.to_string())?;
        Ok(parsed
            .episodes
            .into_iter()
            .filter_map(|e| {
                Some(FeedEpisode {
                    guid: e.library_key()?.to_owned(),
                    enclosure: e.enclosure.map(|x| x.url),
                })
            })
            .collect())
    }
}

pub struct Harness {
    pub url: String,
    pub feed: String,
    pub media: String,
    pub lib: LibraryHandle,
    pub bridge: Arc<Bridge>,
    pub _dir: tempfile::TempDir,
}

async fn serve(app: axum::Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

pub async fn start() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    // The feed fixture.
    let fixture = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let faddr = fixture.local_addr().unwrap();
    let base = format!("http://{faddr}");
    let xml = feed_xml(&base);
    let app = axum::Router::new().route(
        "/feed.xml",
        axum::routing::get(move || {
            let xml = xml.clone();
            async move { ([("content-type", "application/rss+xml")], xml) }
        }),
    );
    tokio::spawn(async move { axum::serve(fixture, app).await.unwrap() });

    let opened = Store::open(dir.path().join("library"), MEMBER).unwrap();
    let (lib, store) = (opened.library, opened.store);
    let (handle, jobs) = skypod_gpodder::library_channel();
    tokio::spawn(skypod_gpodder::own_library(lib, store, jobs));
    let bstore = BridgeStore::open(&dir.path().join("gpodder"))
        .await
        .unwrap();
    assert!(bstore.set_user(USER, PASSWORD).await.unwrap());
    let bridge = Bridge::new(
        bstore,
        handle.clone(),
        Arc::new(DirectFeeds),
        BridgeConfig::new(MEMBER),
    );
    let addr = serve(skypod_gpodder::router(bridge.clone())).await;
    Harness {
        url: format!("http://{addr}"),
        feed: format!("{base}/feed.xml"),
        media: format!("{base}/media"),
        lib: handle,
        bridge,
        _dir: dir,
    }
}

impl Harness {
    pub fn key(&self, guid: &str) -> String {
        skypod_library::episode_key(&self.feed, guid).unwrap()
    }

    /// A realm member's library (another device), merged into the node's as sync would.
    pub async fn merge_device(&self, other: Library) {
        let mut other = other;
        let bytes = other.save();
        self.lib
            .run(move |l| l.merge_bytes(&bytes).unwrap())
            .await
            .unwrap();
    }

    /// The node library's "continue from" list for the episode `key`.
    pub async fn continue_from(&self, key: &str) -> Vec<skypod_library::Resume> {
        let key = key.to_owned();
        self.lib.run(move |l| l.continue_from(&key)).await.unwrap()
    }

    pub async fn heads(&self) -> Vec<skypod_library::automerge::ChangeHash> {
        self.lib.run(|l| l.heads()).await.unwrap()
    }

    /// Every episode action the bridge gives the test user (`since=0`).
    pub async fn episode_actions(&self) -> serde_json::Value {
        self.get_json(format!("/api/2/episodes/{USER}.json?since=0"))
            .await
    }

    /// The JSON answer to a GET of `path` (with its query) as the test user.
    pub async fn get_json(&self, path: impl AsRef<str>) -> serde_json::Value {
        send_json(
            client()
                .get(format!("{}{}", self.url, path.as_ref()))
                .basic_auth(USER, Some(PASSWORD)),
        )
        .await
    }
}

/// Sends `req`: the response, whatever its status.
pub async fn send(req: reqwest::RequestBuilder) -> reqwest::Response {
    req.send().await.unwrap()
}

/// Sends `req` and reads its JSON answer.
pub async fn send_json(req: reqwest::RequestBuilder) -> serde_json::Value {
    send(req).await.json().await.unwrap()
}

pub fn client() -> reqwest::Client {
    skypod_feeds::fetch::http_client()
        .build()
        .expect("http client")
}
