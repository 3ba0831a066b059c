//! Episode matching needs the feed: gpodder names an episode by its enclosure URL (and,
//! from AntennaPod, its guid), the library by (feed URL, guid). The parsed feed links the two.
//!
//! In `skypod node` the feed comes from the realm server's feed proxy ([`ProxyFeeds`]):
//! the node never fetches a URL a bridge user typed by itself (the proxy's SSRF guard
//! applies), and the proxy's cache is shared with the other devices.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// One episode of a parsed feed, as far as matching goes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FeedEpisode {
    /// The feed's guid (the library's episode id).
    pub guid: String,
    /// The enclosure URL, if any.
    #[serde(default, deserialize_with = "enclosure_url")]
    #[serde(rename = "enclosure")]
    pub enclosure: Option<String>,
}

fn enclosure_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Enc {
        url: String,
    }
    Ok(Option::<Enc>::deserialize(d)?.map(|e| e.url))
}

/// Where parsed feeds come from.
#[async_trait::async_trait]
pub trait FeedLookup: Send + Sync + 'static {
    /// The episodes of the feed at `url` (normalized), or why not.
    async fn episodes(&self, url: &str) -> Result<Vec<FeedEpisode>, String>;
}

/// Signs a short-lived proxy token (purpose `skypod:proxy`) for each request.
pub type TokenSource = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;

/// Feeds through the realm server's `/proxy/feed`.
pub struct ProxyFeeds {
    base: String,
    token: TokenSource,
    client: reqwest::Client,
}

impl ProxyFeeds {
    /// `base`: the server's HTTP base (`http://host:port`).
    pub fn new(base: impl Into<String>, token: TokenSource) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            token,
            client: http_client(),
        }
    }
}

/// reqwest is built without a crypto provider of its own (`rustls-no-provider`): this installs
/// rustls' ring provider first, as `skypod_feeds::fetch::http_client` does (feeds is not a
/// dependency of the bridge).
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct ProxyFeed {
    #[serde(default)]
    episodes: Vec<FeedEpisode>,
}

#[async_trait::async_trait]
impl FeedLookup for ProxyFeeds {
    async fn episodes(&self, url: &str) -> Result<Vec<FeedEpisode>, String> {
        let token = (self.token)()?;
        let target =
            reqwest::Url::parse_with_params(&format!("{}/proxy/feed", self.base), &[("url", url)])
                .map_err(|e| e.to_string())?;
        let resp = self
            .client
            .get(target)
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| format!("the feed proxy is unreachable: {e}"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!(
                "the feed proxy answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
        }
        serde_json::from_slice::<ProxyFeed>(&body)
            .map(|f| f.episodes)
            .map_err(|e| format!("unexpected answer from the feed proxy: {e}"))
    }
}

/// A feed's episodes, or why they could not be read.
type FeedLookupResult = Result<Arc<Vec<FeedEpisode>>, String>;

/// A small cache in front of a [`FeedLookup`]: a sync round of 30 actions from one podcast
/// asks for its feed once. Failures are cached briefly so a dead feed is not hammered.
pub struct CachedFeeds {
    inner: Arc<dyn FeedLookup>,
    cache: Mutex<HashMap<String, (Instant, FeedLookupResult)>>,
}

const FRESH: Duration = Duration::from_secs(600);
const FAILED: Duration = Duration::from_secs(60);
const MAX_CACHED: usize = 256;

impl CachedFeeds {
    /// Wrap a lookup.
    pub fn new(inner: Arc<dyn FeedLookup>) -> Self {
        Self {
            inner,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Episodes of `url`, from the cache when fresh.
    pub async fn episodes(&self, url: &str) -> Result<Arc<Vec<FeedEpisode>>, String> {
        if let Some((at, r)) = self.cache.lock().map_err(|e| e.to_string())?.get(url) {
            let ttl = if r.is_ok() { FRESH } else { FAILED };
            if at.elapsed() < ttl {
                return r.clone();
            }
        }
        let r = self.inner.episodes(url).await.map(Arc::new);
        if let Err(e) = &r {
            tracing::warn!(feed = %url, error = %e, "gpodder bridge: feed unavailable for matching");
        }
        let mut c = self.cache.lock().map_err(|e| e.to_string())?;
        if c.len() >= MAX_CACHED {
            // Drop the oldest entry: the cache only saves repeated fetches within a sync.
            if let Some(k) = c
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone())
            {
                c.remove(&k);
            }
        }
        c.insert(url.to_owned(), (Instant::now(), r.clone()));
        r
    }
}

/// Which feed episode a gpodder action means: its guid if the app sent one, else its
/// enclosure URL, else an episode whose guid is the URL (feeds without guids).
pub fn match_episode<'a>(
    episodes: &'a [FeedEpisode],
    episode_url: &str,
    guid: Option<&str>,
) -> Option<&'a FeedEpisode> {
    guid.and_then(|g| episodes.iter().find(|e| e.guid == g))
        .or_else(|| {
            episodes
                .iter()
                .find(|e| e.enclosure.as_deref() == Some(episode_url))
        })
        .or_else(|| episodes.iter().find(|e| e.guid == episode_url))
}
