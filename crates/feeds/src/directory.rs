//! Podcast directory search for `/proxy/directory?q=`: finds podcasts by name so a listener
//! can subscribe without knowing a feed address. The operator chooses the directory
//! (`skypod serve --directory`): the iTunes Search API (no key, the default), a Podcast Index
//! endpoint (API key and secret, signed as its documentation says), or none. Answers are one
//! shape whatever the directory, kept for 10 minutes per query (bounded), so a listener typing
//! the same name twice does not ask the directory twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};
use url::Url;

use crate::error::{FeedError, Result};
use crate::fetch::{FetchConfig, Fetcher};

/// Default iTunes Search API endpoint.
pub const ITUNES_SEARCH: &str = "https://itunes.apple.com/search";
/// Default Podcast Index search endpoint.
pub const PODCAST_INDEX_SEARCH: &str = "https://api.podcastindex.org/api/1.0/search/byterm";

/// Longest query accepted (bytes).
const MAX_QUERY: usize = 200;
/// Results returned at most.
const MAX_RESULTS: usize = 30;
/// Largest directory answer read (bytes).
const MAX_ANSWER: u64 = 2 << 20;
/// How long an answer is reused, and how many are kept.
const TTL: Duration = Duration::from_secs(600);
const KEPT: usize = 256;

/// Which directory the server asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryConfig {
    /// Directory search is switched off: `/proxy/directory` answers 503.
    None,
    /// The iTunes Search API at `endpoint`.
    Itunes {
        /// Search endpoint (default [`ITUNES_SEARCH`]).
        endpoint: Url,
    },
    /// Podcast Index `search/byterm` at `endpoint`, signed with the operator's key and secret.
    PodcastIndex {
        /// Search endpoint (default [`PODCAST_INDEX_SEARCH`]).
        endpoint: Url,
        /// API key.
        key: String,
        /// API secret (never sent: only its SHA-1 with the key and the time).
        secret: String,
    },
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self::Itunes {
            endpoint: Url::parse(ITUNES_SEARCH).expect("constant URL"),
        }
    }
}

impl DirectoryConfig {
    /// Build from the operator's choice (`itunes`, `podcastindex`, `none`), an optional
    /// endpoint, and for Podcast Index the key and secret. Errors are sentences for the operator.
    pub fn from_options(
        kind: &str,
        endpoint: Option<&str>,
        key: Option<&str>,
        secret: Option<&str>,
    ) -> std::result::Result<Self, String> {
        let url = |default: &str| -> std::result::Result<Url, String> {
            let u = Url::parse(endpoint.unwrap_or(default))
                .map_err(|e| format!("directory URL is not a URL: {e}"))?;
            if !matches!(u.scheme(), "http" | "https") {
                return Err("directory URL must be http or https".into());
            }
            Ok(u)
        };
        match kind.trim().to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(Self::None),
            "itunes" => Ok(Self::Itunes {
                endpoint: url(ITUNES_SEARCH)?,
            }),
            "podcastindex" | "podcast-index" => {
                let key = key.map(str::trim).filter(|k| !k.is_empty());
                let secret = secret.map(str::trim).filter(|s| !s.is_empty());
                match (key, secret) {
                    (Some(k), Some(s)) => Ok(Self::PodcastIndex {
                        endpoint: url(PODCAST_INDEX_SEARCH)?,
                        key: k.to_owned(),
                        secret: s.to_owned(),
                    }),
                    _ => Err("the Podcast Index directory needs an API key and secret \
                         (--podcastindex-key, --podcastindex-secret)"
                        .into()),
                }
            }
            other => Err(format!(
                "unknown directory {other:?}: use itunes, podcastindex or none"
            )),
        }
    }

    /// A short name for answers and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Itunes { .. } => "iTunes",
            Self::PodcastIndex { .. } => "Podcast Index",
        }
    }
}

/// One podcast found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryHit {
    /// Podcast title.
    pub title: String,
    /// Author or publisher.
    pub author: Option<String>,
    /// Feed address to subscribe to.
    pub feed_url: String,
    /// Cover art (to be shown through `/proxy/image`).
    pub image: Option<String>,
    /// Short description, when the directory gives one.
    pub description: Option<String>,
}

/// The answer of `/proxy/directory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectoryAnswer {
    /// Which directory answered.
    pub directory: String,
    /// Podcasts found (at most 30), in the directory's order.
    pub results: Vec<DirectoryHit>,
}

/// Searches the configured directory.
pub struct Directory {
    config: DirectoryConfig,
    fetcher: Option<Fetcher>,
    kept: Mutex<HashMap<String, (Instant, DirectoryAnswer)>>,
}

impl Directory {
    /// A directory client; `fetch` holds the timeouts and (for tests) the loopback allow-list.
    pub fn new(config: DirectoryConfig, fetch: FetchConfig) -> Result<Self> {
        let fetcher = match config {
            DirectoryConfig::None => None,
            _ => Some(Fetcher::new(fetch)?),
        };
        Ok(Self {
            config,
            fetcher,
            kept: Mutex::new(HashMap::new()),
        })
    }

    /// The directory in use.
    pub fn config(&self) -> &DirectoryConfig {
        &self.config
    }

    /// Search podcasts by name.
    pub async fn search(&self, query: &str) -> Result<DirectoryAnswer> {
        let q = query.split_whitespace().collect::<Vec<_>>().join(" ");
        if q.is_empty() {
            return Err(FeedError::BadRequest("the search text is empty".into()));
        }
        if q.len() > MAX_QUERY {
            return Err(FeedError::BadRequest(format!(
                "the search text is longer than {MAX_QUERY} bytes"
            )));
        }
        let Some(fetcher) = &self.fetcher else {
            return Err(FeedError::Unavailable(
                "this server has no podcast directory configured".into(),
            ));
        };
        let key = q.to_lowercase();
        if let Some(hit) = self.kept_answer(&key) {
            return Ok(hit);
        }
        let (url, headers) = self.request(&q)?;
        let up = fetcher.send(&url, &headers).await?;
        if !up.status.is_success() {
            tracing::warn!(status = %up.status, directory = self.config.name(), "directory refused a search");
            return Err(FeedError::UpstreamStatus(up.status.as_u16()));
        }
        let body = up.read_to_bytes(MAX_ANSWER).await?;
        let results = match &self.config {
            DirectoryConfig::Itunes { .. } => parse_itunes(&body)?,
            DirectoryConfig::PodcastIndex { .. } => parse_podcast_index(&body)?,
            DirectoryConfig::None => Vec::new(),
        };
        let answer = DirectoryAnswer {
            directory: self.config.name().to_owned(),
            results,
        };
        self.keep(key, answer.clone());
        Ok(answer)
    }

    fn request(&self, q: &str) -> Result<(Url, HeaderMap)> {
        let mut headers = HeaderMap::new();
        let url = match &self.config {
            DirectoryConfig::None => unreachable!("no fetcher without a directory"),
            DirectoryConfig::Itunes { endpoint } => {
                let mut u = endpoint.clone();
                u.query_pairs_mut()
                    .append_pair("media", "podcast")
                    .append_pair("entity", "podcast")
                    .append_pair("limit", &MAX_RESULTS.to_string())
                    .append_pair("term", q);
                u
            }
            DirectoryConfig::PodcastIndex {
                endpoint,
                key,
                secret,
            } => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let (date, auth) = podcast_index_auth(key, secret, now);
                let bad = |_| {
                    FeedError::BadRequest("the API key has characters a header cannot carry".into())
                };
                headers.insert("x-auth-key", HeaderValue::from_str(key).map_err(bad)?);
                headers.insert("x-auth-date", HeaderValue::from_str(&date).map_err(bad)?);
                headers.insert(
                    http::header::AUTHORIZATION,
                    HeaderValue::from_str(&auth).map_err(bad)?,
                );
                let mut u = endpoint.clone();
                u.query_pairs_mut()
                    .append_pair("q", q)
                    .append_pair("max", &MAX_RESULTS.to_string());
                u
            }
        };
        Ok((url, headers))
    }

    fn kept_answer(&self, key: &str) -> Option<DirectoryAnswer> {
        let map = self.kept.lock().ok()?;
        let (at, a) = map.get(key)?;
        (at.elapsed() < TTL).then(|| a.clone())
    }

    fn keep(&self, key: String, answer: DirectoryAnswer) {
        let Ok(mut map) = self.kept.lock() else {
            return;
        };
        if map.len() >= KEPT {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
            if map.len() >= KEPT {
                map.clear();
            }
        }
        map.insert(key, (Instant::now(), answer));
    }
}

/// Podcast Index request signature: `X-Auth-Date` and `Authorization` =
/// hex(SHA-1(key ‖ secret ‖ date)).
pub fn podcast_index_auth(key: &str, secret: &str, unix_secs: u64) -> (String, String) {
    let date = unix_secs.to_string();
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(secret.as_bytes());
    h.update(date.as_bytes());
    (date, hex::encode(h.finalize()))
}

fn feed_url_ok(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

fn clean(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A listed feed URL worth offering (an http(s) URL; blank is none).
fn listed_feed_url(url: Option<String>) -> Option<String> {
    clean(url).filter(|u| feed_url_ok(u))
}

/// The hits of the first [`MAX_RESULTS`] items that make one (items without a usable feed
/// URL are skipped).
fn first_hits<I>(items: Vec<I>, hit: impl FnMut(I) -> Option<DirectoryHit>) -> Vec<DirectoryHit> {
    items
        .into_iter()
        .filter_map(hit)
        .take(MAX_RESULTS)
        .collect()
}

/// A directory's JSON answer, or a parse error saying it was not what was expected.
fn decode_answer<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        FeedError::Parse(format!(
            "the directory's answer is not what was expected: {e}"
        ))
    })
}

/// The iTunes Search answer: `{"results": [{collectionName, artistName, feedUrl, artworkUrl600}]}`.
pub fn parse_itunes(body: &[u8]) -> Result<Vec<DirectoryHit>> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        results: Vec<Item>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Item {
        collection_name: Option<String>,
        track_name: Option<String>,
        artist_name: Option<String>,
        feed_url: Option<String>,
        artwork_url600: Option<String>,
        artwork_url100: Option<String>,
    }
    let a: Answer = decode_answer(body)?;
    Ok(first_hits(a.results, |i| {
        let feed_url = listed_feed_url(i.feed_url)?;
        Some(DirectoryHit {
            title: clean(i.collection_name)
                .or(clean(i.track_name))
                .unwrap_or_else(|| feed_url.clone()),
            author: clean(i.artist_name),
            image: clean(i.artwork_url600).or(clean(i.artwork_url100)),
            description: None,
            feed_url,
        })
    }))
}

/// The Podcast Index answer: `{"feeds": [{title, url, author, artwork, image, description}]}`.
pub fn parse_podcast_index(body: &[u8]) -> Result<Vec<DirectoryHit>> {
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        feeds: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        title: Option<String>,
        url: Option<String>,
        author: Option<String>,
        artwork: Option<String>,
        image: Option<String>,
        description: Option<String>,
    }
    let a: Answer = decode_answer(body)?;
    Ok(first_hits(a.feeds, |i| {
        let feed_url = listed_feed_url(i.url)?;
        Some(DirectoryHit {
            title: clean(i.title).unwrap_or_else(|| feed_url.clone()),
            author: clean(i.author),
            image: clean(i.artwork).or(clean(i.image)),
            description: clean(i.description).map(|d| d.chars().take(500).collect()),
            feed_url,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podcast_index_signature() {
        // sha1("key" + "secret" + "1700000000")
        let (date, auth) = podcast_index_auth("key", "secret", 1_700_000_000);
        assert_eq!(date, "1700000000");
        let mut h = Sha1::new();
        h.update(b"keysecret1700000000");
        assert_eq!(auth, hex::encode(h.finalize()));
        assert_eq!(auth.len(), 40);
    }

    #[test]
    fn options() {
        assert_eq!(
            DirectoryConfig::from_options("none", None, None, None),
            Ok(DirectoryConfig::None)
        );
        assert_eq!(
            DirectoryConfig::from_options("itunes", None, None, None),
            Ok(DirectoryConfig::default())
        );
        assert!(
            DirectoryConfig::from_options("podcastindex", None, Some("k"), None)
                .unwrap_err()
                .contains("key and secret")
        );
        assert!(
            DirectoryConfig::from_options("itunes", Some("ftp://x/"), None, None)
                .unwrap_err()
                .contains("http")
        );
        assert!(
            DirectoryConfig::from_options("yahoo", None, None, None)
                .unwrap_err()
                .contains("unknown directory")
        );
        let pi = DirectoryConfig::from_options(
            "podcastindex",
            Some("http://127.0.0.1:9/s"),
            Some("k"),
            Some("s"),
        )
        .expect("ok");
        assert_eq!(pi.name(), "Podcast Index");
    }

    #[test]
    fn parses_both_answers_and_drops_unusable_hits() {
        let it = br#"{"resultCount":3,"results":[
            {"collectionName":"Rust Cast","artistName":"Ferris","feedUrl":"https://r.example/feed","artworkUrl600":"https://r.example/a.jpg"},
            {"collectionName":"No feed"},
            {"collectionName":"Bad","feedUrl":"javascript:alert(1)"}]}"#;
        let hits = parse_itunes(it).expect("parse");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].title, "Rust Cast");
        assert_eq!(hits[0].author.as_deref(), Some("Ferris"));
        assert_eq!(hits[0].image.as_deref(), Some("https://r.example/a.jpg"));
        let pi = br#"{"status":"true","feeds":[{"title":" Idx ","url":"http://i.example/rss","author":"","artwork":"","image":"http://i.example/i.png","description":"d"}]}"#;
        let hits = parse_podcast_index(pi).expect("parse");
        assert_eq!(hits[0].title, "Idx");
        assert_eq!(hits[0].author, None);
        assert_eq!(hits[0].image.as_deref(), Some("http://i.example/i.png"));
        assert!(parse_itunes(b"<html>").is_err());
    }
}
