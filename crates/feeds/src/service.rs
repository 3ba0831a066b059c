//! [`FeedService`]: the shared fetcher + cache, and the transformations behind
//! each endpoint. Silence analyses are computed once per content hash (stored in
//! the cache index) and concurrent requests for the same hash share one job.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde::Serialize;
use url::Url;

use crate::cache::{Cache, CacheConfig, CacheStatus, CachedBody};
use crate::error::{FeedError, Result};
use crate::fetch::{FetchConfig, Fetcher};
use crate::parse::{self, ParsedFeed};
use crate::reader::{self, Article};
use crate::silence::{self, SilenceMap, SilenceParams};
use crate::title;

/// Service settings.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Fetcher settings (timeouts, body cap, redirect limit, test allow-list).
    pub fetch: FetchConfig,
    /// Cache directory and size cap.
    pub cache: CacheConfig,
    /// Body cap for audio fetched for silence analysis.
    pub max_audio_bytes: u64,
    /// Total fetch timeout for audio (large files), instead of `fetch.total_timeout`.
    pub audio_timeout: std::time::Duration,
    /// Default silence thresholds.
    pub silence: SilenceParams,
}

impl ServiceConfig {
    /// Defaults with the cache in `dir` (1 GiB cap, 512 MiB audio cap).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            fetch: FetchConfig::default(),
            cache: CacheConfig::new(dir, 1024 * 1024 * 1024),
            max_audio_bytes: 512 * 1024 * 1024,
            audio_timeout: std::time::Duration::from_secs(600),
            silence: SilenceParams::default(),
        }
    }
}

/// A transformed result plus where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Served<T> {
    /// The payload.
    #[serde(flatten)]
    pub value: T,
    /// URL after redirects.
    pub final_url: String,
    /// SHA-256 of the upstream body.
    pub content_hash: String,
    /// How the body was obtained.
    pub cache: CacheStatus,
    /// Served from a stale copy because the origin failed.
    pub stale: bool,
}

/// Raw bodies up to this size are kept in memory (by content hash) for fast hits.
const RAW_MEMO_MAX_BODY: u64 = 512 * 1024;
/// Number of raw bodies kept in memory (at most 32 MiB).
const RAW_MEMO_ENTRIES: usize = 64;

/// A raw body for the raw proxy.
#[derive(Debug, Clone)]
pub struct RawBody {
    /// Body bytes.
    pub body: Bytes,
    /// Upstream content type.
    pub content_type: Option<String>,
    /// URL after redirects.
    pub final_url: String,
    /// SHA-256 of the body.
    pub content_hash: String,
    /// How the body was obtained.
    pub cache: CacheStatus,
    /// Served from a stale copy because the origin failed.
    pub stale: bool,
}

/// Page title payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TitlePayload {
    /// Extracted title, if any.
    pub title: Option<String>,
}

/// A transformed result with its JSON, serialised once.
struct Prepared<T> {
    value: Arc<T>,
    json: Bytes,
}

type SilenceJob = Shared<BoxFuture<'static, Result<SilenceMap>>>;

struct MemoState<T> {
    map: HashMap<String, (Arc<T>, usize)>,
    order: std::collections::VecDeque<String>,
    bytes: usize,
}

/// Small in-memory memo of transformed results keyed by content hash (+ base
/// URL), so cache hits do not re-parse. Bounded by entry count and by an
/// approximate byte weight; oldest-inserted entries go first.
struct Memo<T> {
    cap: usize,
    max_bytes: usize,
    inner: Mutex<MemoState<T>>,
}

impl<T> Memo<T> {
    fn new(cap: usize, max_bytes: usize) -> Self {
        Self {
            cap,
            max_bytes,
            inner: Mutex::new(MemoState {
                map: HashMap::new(),
                order: std::collections::VecDeque::new(),
                bytes: 0,
            }),
        }
    }

    fn get(&self, key: &str) -> Option<Arc<T>> {
        self.inner.lock().ok()?.map.get(key).map(|(v, _)| v.clone())
    }

    /// Insert with an approximate size in bytes; a value heavier than the whole
    /// budget is not kept.
    fn put(&self, key: String, value: Arc<T>, weight: usize) {
        if weight > self.max_bytes {
            return;
        }
        let Ok(mut g) = self.inner.lock() else { return };
        let st = &mut *g;
        match st.map.insert(key.clone(), (value, weight)) {
            Some((_, old)) => st.bytes = st.bytes - old + weight,
            None => {
                st.order.push_back(key);
                st.bytes += weight;
            }
        }
        while st.order.len() > self.cap || st.bytes > self.max_bytes {
            let Some(old) = st.order.pop_front() else {
                break;
            };
            if let Some((_, w)) = st.map.remove(&old) {
                st.bytes -= w;
            }
        }
    }
}

struct Inner {
    cache: Cache,
    config: ServiceConfig,
    inflight: Mutex<HashMap<String, SilenceJob>>,
    silence_jobs: AtomicU64,
    feeds: Memo<Prepared<ParsedFeed>>,
    articles: Memo<Prepared<Article>>,
    titles: Memo<Prepared<TitlePayload>>,
    raw: Memo<Bytes>,
}

/// The feed proxy service. Cheap to clone.
#[derive(Clone)]
pub struct FeedService {
    inner: Arc<Inner>,
}

fn wrap<T>(value: T, b: &CachedBody) -> Served<T> {
    Served {
        value,
        final_url: b.final_url.clone(),
        content_hash: b.hash.clone(),
        cache: b.cache,
        stale: b.stale,
    }
}

impl FeedService {
    /// Open the cache and build the fetcher.
    pub async fn new(config: ServiceConfig) -> Result<Self> {
        let fetcher = Fetcher::new(config.fetch.clone())?;
        let cache = Cache::open(config.cache.clone(), fetcher).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                cache,
                config,
                inflight: Mutex::new(HashMap::new()),
                silence_jobs: AtomicU64::new(0),
                // The parsed value weighs about as much as its JSON: count it twice.
                feeds: Memo::new(32, 256 << 20),
                articles: Memo::new(64, 64 << 20),
                titles: Memo::new(512, 4 << 20),
                raw: Memo::new(RAW_MEMO_ENTRIES, 32 << 20),
            }),
        })
    }

    /// The underlying cache.
    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    /// Settings in use.
    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }

    /// Number of silence analyses actually started (for tests and metrics).
    pub fn silence_jobs_started(&self) -> u64 {
        self.inner.silence_jobs.load(Ordering::Relaxed)
    }

    /// Raw body through the cache.
    pub async fn raw(&self, url: &Url) -> Result<RawBody> {
        let b = self
            .inner
            .cache
            .get(url, self.inner.config.fetch.max_body)
            .await?;
        let body = match self.inner.raw.get(&b.hash) {
            Some(bytes) => (*bytes).clone(),
            None => {
                let bytes = b.bytes().await?;
                if b.len <= RAW_MEMO_MAX_BODY {
                    self.inner
                        .raw
                        .put(b.hash.clone(), Arc::new(bytes.clone()), bytes.len());
                }
                bytes
            }
        };
        Ok(RawBody {
            body,
            content_type: b.content_type.clone(),
            final_url: b.final_url.clone(),
            content_hash: b.hash.clone(),
            cache: b.cache,
            stale: b.stale,
        })
    }

    /// Memoised transformation of the body behind `url`: `f` runs (off the async
    /// runtime) once per memo key, and its JSON is serialised once with it.
    async fn prepared<T, F>(
        &self,
        memo: &Memo<Prepared<T>>,
        url: &Url,
        key: impl FnOnce(&CachedBody) -> String,
        f: F,
    ) -> Result<(Arc<Prepared<T>>, CachedBody)>
    where
        T: Serialize + Send + Sync + 'static,
        F: FnOnce(Bytes, Option<String>, String) -> Result<T> + Send + 'static,
    {
        let b = self
            .inner
            .cache
            .get(url, self.inner.config.fetch.max_body)
            .await?;
        let key = key(&b);
        if let Some(v) = memo.get(&key) {
            return Ok((v, b));
        }
        let body = b.bytes().await?;
        let (ct, base) = (b.content_type.clone(), b.final_url.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            let value = f(body, ct, base)?;
            let json = serde_json::to_vec(&value)
                .map_err(|e| FeedError::Parse(format!("serialising the result: {e}")))?;
            Ok::<_, FeedError>(Prepared {
                value: Arc::new(value),
                json: Bytes::from(json),
            })
        })
        .await
        .map_err(|e| FeedError::Parse(format!("transform task failed: {e}")))??;
        let prepared = Arc::new(prepared);
        memo.put(key, prepared.clone(), prepared.json.len() * 2);
        Ok((prepared, b))
    }

    async fn feed_prepared(&self, url: &Url) -> Result<(Arc<Prepared<ParsedFeed>>, CachedBody)> {
        self.prepared(
            &self.inner.feeds,
            url,
            |b| format!("{}|{}", b.hash, b.final_url),
            |body, _ct, base| parse::parse_feed(&body, Some(&base)),
        )
        .await
    }

    async fn reader_prepared(&self, url: &Url) -> Result<(Arc<Prepared<Article>>, CachedBody)> {
        self.prepared(
            &self.inner.articles,
            url,
            |b| format!("{}|{}", b.hash, b.final_url),
            |body, ct, base| reader::read_article_bytes(&body, ct.as_deref(), Some(&base)),
        )
        .await
    }

    async fn title_prepared(&self, url: &Url) -> Result<(Arc<Prepared<TitlePayload>>, CachedBody)> {
        self.prepared(
            &self.inner.titles,
            url,
            |b| format!("{}|{}", b.hash, b.content_type.as_deref().unwrap_or("")),
            |body, ct, _base| {
                Ok(TitlePayload {
                    title: title::extract_title_bytes(&body, ct.as_deref()),
                })
            },
        )
        .await
    }

    /// Parsed feed.
    pub async fn feed(&self, url: &Url) -> Result<Served<Arc<ParsedFeed>>> {
        let (p, b) = self.feed_prepared(url).await?;
        Ok(wrap(p.value.clone(), &b))
    }

    /// Parsed feed as JSON (serialised once per body; what the HTTP layer serves).
    pub async fn feed_json(&self, url: &Url) -> Result<Served<Bytes>> {
        let (p, b) = self.feed_prepared(url).await?;
        Ok(wrap(p.json.clone(), &b))
    }

    /// Reader-mode article.
    pub async fn reader(&self, url: &Url) -> Result<Served<Arc<Article>>> {
        let (p, b) = self.reader_prepared(url).await?;
        Ok(wrap(p.value.clone(), &b))
    }

    /// Reader-mode article as JSON.
    pub async fn reader_json(&self, url: &Url) -> Result<Served<Bytes>> {
        let (p, b) = self.reader_prepared(url).await?;
        Ok(wrap(p.json.clone(), &b))
    }

    /// Page title.
    pub async fn title(&self, url: &Url) -> Result<Served<Arc<TitlePayload>>> {
        let (p, b) = self.title_prepared(url).await?;
        Ok(wrap(p.value.clone(), &b))
    }

    /// Page title as JSON.
    pub async fn title_json(&self, url: &Url) -> Result<Served<Bytes>> {
        let (p, b) = self.title_prepared(url).await?;
        Ok(wrap(p.json.clone(), &b))
    }

    /// Silence map of an audio URL (default thresholds).
    pub async fn silence(&self, url: &Url) -> Result<Served<SilenceMap>> {
        self.silence_with(url, self.inner.config.silence).await
    }

    /// Silence map with explicit thresholds.
    pub async fn silence_with(
        &self,
        url: &Url,
        params: SilenceParams,
    ) -> Result<Served<SilenceMap>> {
        let b = self
            .inner
            .cache
            .get_with_timeout(
                url,
                self.inner.config.max_audio_bytes,
                Some(self.inner.config.audio_timeout),
            )
            .await?;
        let kind = format!(
            "silence:v1:{}:{}:{}",
            params.threshold_db, params.min_silence, params.window_ms
        );
        if let Some(map) = stored_silence(&self.inner.cache, &b.hash, &kind).await? {
            return Ok(wrap(map, &b));
        }
        let key = format!("{}|{kind}", b.hash);
        let job = {
            let mut map = self
                .inner
                .inflight
                .lock()
                .map_err(|_| FeedError::Storage("inflight lock poisoned".into()))?;
            map.entry(key.clone())
                .or_insert_with(|| {
                    let inner = self.inner.clone();
                    let body = b.clone();
                    let kind = kind.clone();
                    async move {
                        // A job that finished between our cache lookup and taking the
                        // in-flight lock has already stored its result: reuse it.
                        if let Some(map) = stored_silence(&inner.cache, &body.hash, &kind).await? {
                            return Ok(map);
                        }
                        inner.silence_jobs.fetch_add(1, Ordering::Relaxed);
                        let path = body.path().to_path_buf();
                        let ext = ext_hint(body.content_type.as_deref(), &body.final_url);
                        let result = tokio::task::spawn_blocking(move || {
                            let file = std::fs::File::open(&path)
                                .map_err(|e| FeedError::Audio(format!("open: {e}")))?;
                            silence::analyze_reader(
                                std::io::BufReader::with_capacity(256 * 1024, file),
                                ext.as_deref(),
                                params,
                            )
                        })
                        .await
                        .map_err(|e| FeedError::Audio(format!("analysis task failed: {e}")))?;
                        let map = result?;
                        if let Ok(json) = serde_json::to_string(&map) {
                            inner.cache.put_analysis(&body.hash, &kind, &json).await?;
                        }
                        drop(body);
                        Ok(map)
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        let result = job.await;
        if let Ok(mut map) = self.inner.inflight.lock() {
            map.remove(&key);
        }
        Ok(wrap(result?, &b))
    }
}

/// A silence map stored for this body and analysis kind (an unreadable one counts as none).
async fn stored_silence(cache: &Cache, hash: &str, kind: &str) -> Result<Option<SilenceMap>> {
    Ok(cache
        .analysis(hash, kind)
        .await?
        .and_then(|json| serde_json::from_str(&json).ok()))
}

fn ext_hint(content_type: Option<&str>, url: &str) -> Option<String> {
    let from_ct = content_type.and_then(|ct| {
        let ct = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        Some(match ct.as_str() {
            "audio/mpeg" | "audio/mp3" => "mp3",
            "audio/mp4" | "audio/x-m4a" | "audio/m4a" | "audio/aac" | "video/mp4" => "m4a",
            "audio/ogg" | "application/ogg" | "audio/vorbis" => "ogg",
            "audio/flac" | "audio/x-flac" => "flac",
            "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
            _ => return None,
        })
    });
    from_ct.map(str::to_owned).or_else(|| {
        let path = Url::parse(url).ok()?.path().to_string();
        let ext = path.rsplit('.').next()?.to_ascii_lowercase();
        (ext.len() <= 4 && ext.chars().all(|c| c.is_ascii_alphanumeric())).then_some(ext)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_is_bounded_by_count_and_weight() {
        let m: Memo<u32> = Memo::new(3, 100);
        m.put("a".into(), Arc::new(1), 40);
        m.put("b".into(), Arc::new(2), 40);
        m.put("c".into(), Arc::new(3), 40); // 120 > 100: "a" goes
        assert!(m.get("a").is_none());
        assert_eq!(m.get("b").as_deref(), Some(&2));
        m.put("big".into(), Arc::new(9), 101); // heavier than the budget: not kept
        assert!(m.get("big").is_none());
        assert_eq!(m.get("c").as_deref(), Some(&3));
        m.put("d".into(), Arc::new(4), 1);
        m.put("e".into(), Arc::new(5), 1); // 4 entries > 3: "b" goes
        assert!(m.get("b").is_none());
        m.put("c".into(), Arc::new(33), 10); // replacing re-weighs, keeps order
        assert_eq!(m.get("c").as_deref(), Some(&33));
        let st = m.inner.lock().expect("lock");
        assert_eq!(st.bytes, 12);
        assert_eq!(st.map.len(), 3);
    }

    #[test]
    fn ext_hints() {
        assert_eq!(
            ext_hint(Some("audio/mpeg"), "http://x/a").as_deref(),
            Some("mp3")
        );
        assert_eq!(
            ext_hint(Some("audio/x-m4a; foo"), "http://x/a").as_deref(),
            Some("m4a")
        );
        assert_eq!(
            ext_hint(Some("application/octet-stream"), "http://x/a.ogg?x=1").as_deref(),
            Some("ogg")
        );
        assert_eq!(ext_hint(None, "http://x/noext"), None);
    }
}
