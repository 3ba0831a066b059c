//! [`FeedService`]: the shared fetcher + cache, and the transformations behind
//! each endpoint. Silence analyses are computed once per content hash (stored in
//! an [`AnalysisStore`]: the cache index, or one store several servers share) and
//! concurrent requests for the same hash share one job (across servers, through the
//! store's claim).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use serde::Serialize;
use url::Url;

use crate::analyses::AnalysisStore;
use crate::cache::{Cache, CacheConfig, CacheStatus, CachedBody};
use crate::encoding::{self, Coding, Deflated};
use crate::error::{FeedError, Result};
use crate::fetch::{FetchConfig, Fetcher};
use crate::parse;
use crate::reader;
use crate::silence::{self, SilenceMap, SilenceParams};
use crate::test_hooks::TestCounter;
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
    /// Which podcast directory `/proxy/directory` searches.
    pub directory: crate::directory::DirectoryConfig,
    /// Media proxy: most bytes streamed for one request (a live stream ends there).
    pub max_media_bytes: u64,
    /// Media proxy: total time for one streamed response (idle reads are bounded
    /// by `fetch.read_timeout`).
    pub media_timeout: std::time::Duration,
    /// Artwork proxy: body cap for source images.
    pub max_image_bytes: u64,
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
            directory: crate::directory::DirectoryConfig::default(),
            max_media_bytes: 4 * 1024 * 1024 * 1024,
            media_timeout: std::time::Duration::from_secs(4 * 3600),
            max_image_bytes: 20 * 1024 * 1024,
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

/// The deflated form of a memoised body, computed on first demand by one caller:
/// concurrent callers wait for that one (tokio's `OnceCell`), so a body is
/// compressed once however many requests arrive together. `None`: not worth it.
type GzCell = tokio::sync::OnceCell<Option<Arc<Deflated>>>;

/// The bytes of a raw proxy response.
#[derive(Debug, Clone)]
pub enum RawContent {
    /// The upstream body as it is.
    Identity(Bytes),
    /// The upstream body deflated (memoised per content hash): send it as gzip.
    Gzip(Arc<Deflated>),
}

/// A raw body for the raw proxy.
#[derive(Debug, Clone)]
pub struct RawBody {
    /// Body bytes.
    pub body: RawContent,
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

/// A transformed result's JSON, serialised once (and compressed at most once, on
/// the first request that accepts gzip). Only the JSON is served, so only it is kept.
struct Prepared {
    json: Bytes,
    gzip: GzCell,
}

/// A memoised JSON object, and when gzip was asked for (and the object is large
/// enough), the deflated form of everything after its opening `{` — what the HTTP
/// layer splices the per-request fields in front of.
#[derive(Debug, Clone)]
pub struct JsonBody {
    /// The payload object, serialised once.
    pub json: Bytes,
    /// `json[1..]` deflated, memoised with the payload.
    pub deflated_tail: Option<Arc<Deflated>>,
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

    /// The value under `key`, or a new one from `f` inserted with weight zero
    /// (weighed later with [`Memo::add_weight`]).
    fn get_or_insert_with(&self, key: &str, f: impl FnOnce() -> T) -> Arc<T> {
        let Ok(mut g) = self.inner.lock() else {
            return Arc::new(f());
        };
        if let Some((v, _)) = g.map.get(key) {
            return v.clone();
        }
        let v = Arc::new(f());
        g.map.insert(key.to_owned(), (v.clone(), 0));
        g.order.push_back(key.to_owned());
        self.shrink(&mut g);
        v
    }

    /// Add `extra` bytes to the weight of `value` if it is still the entry under
    /// `key` (evicting the oldest entries if the budget is exceeded).
    fn add_weight(&self, key: &str, value: &Arc<T>, extra: usize) {
        let Ok(mut g) = self.inner.lock() else { return };
        let st = &mut *g;
        match st.map.get_mut(key) {
            Some((v, w)) if Arc::ptr_eq(v, value) => {
                *w += extra;
                st.bytes += extra;
            }
            _ => return,
        }
        self.shrink(st);
    }

    fn shrink(&self, st: &mut MemoState<T>) {
        while st.order.len() > self.cap || st.bytes > self.max_bytes {
            let Some(old) = st.order.pop_front() else {
                break;
            };
            if let Some((_, w)) = st.map.remove(&old) {
                st.bytes -= w;
            }
        }
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
        self.shrink(st);
    }
}

struct Inner {
    cache: Cache,
    config: ServiceConfig,
    /// Where analysis results live (the cache index unless a shared store was given).
    analyses: Arc<dyn AnalysisStore>,
    inflight: Mutex<HashMap<String, SilenceJob>>,
    /// Analyses actually decoded by this process (`/metrics`).
    silence_jobs: AtomicU64,
    feeds: Memo<Prepared>,
    articles: Memo<Prepared>,
    titles: Memo<Prepared>,
    raw: Memo<Bytes>,
    /// Deflated raw bodies by content hash (only compressible media types).
    raw_gzip: Memo<GzCell>,
    compressions: TestCounter,
    /// Resized artwork by source content hash and size (issue 10).
    images: Memo<ImageCell>,
    image_resizes: TestCounter,
    /// Chapter lists by URL, with when they were read (issue 10).
    chapters: Memo<(std::time::Instant, Served<Bytes>)>,
    transcripts: Memo<Prepared>,
}

/// One resized image, computed once however many requests arrive together.
type ImageCell = tokio::sync::OnceCell<Arc<crate::artwork::Resized>>;

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
    /// Open the cache and build the fetcher; analysis results are kept in the cache index.
    pub async fn new(config: ServiceConfig) -> Result<Self> {
        Self::with_analyses(config, None).await
    }

    /// As [`FeedService::new`], with analysis results kept in `analyses` (shared by several
    /// servers) instead of the cache index when given. Bodies stay in this process's cache.
    pub async fn with_analyses(
        config: ServiceConfig,
        analyses: Option<Arc<dyn AnalysisStore>>,
    ) -> Result<Self> {
        let fetcher = Fetcher::new(config.fetch.clone())?;
        let cache = Cache::open(config.cache.clone(), fetcher).await?;
        let analyses = analyses.unwrap_or_else(|| Arc::new(cache.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                cache,
                config,
                analyses,
                inflight: Mutex::new(HashMap::new()),
                silence_jobs: AtomicU64::new(0),
                feeds: Memo::new(32, 256 << 20),
                articles: Memo::new(64, 64 << 20),
                titles: Memo::new(512, 4 << 20),
                raw: Memo::new(RAW_MEMO_ENTRIES, 32 << 20),
                raw_gzip: Memo::new(RAW_MEMO_ENTRIES, 32 << 20),
                compressions: TestCounter::default(),
                images: Memo::new(4096, 64 << 20),
                image_resizes: TestCounter::default(),
                chapters: Memo::new(1024, 32 << 20),
                transcripts: Memo::new(64, 128 << 20),
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

    /// Number of analyses (silence maps, loudness) this process actually decoded; results
    /// found in the analysis store, or computed by another server, do not count.
    pub fn analyses_run(&self) -> u64 {
        self.inner.silence_jobs.load(Ordering::Relaxed)
    }

    /// Number of silence analyses actually started (tests only; see [`Self::analyses_run`]).
    #[cfg(feature = "test-hooks")]
    pub fn silence_jobs_started(&self) -> u64 {
        self.analyses_run()
    }

    /// Number of bodies actually compressed (tests only).
    #[cfg(feature = "test-hooks")]
    pub fn compressions_run(&self) -> u64 {
        self.inner.compressions.get()
    }

    /// Deflate (on a blocking thread) the bytes `input` yields, once per `cell`.
    /// Returns the result and whether this call computed it. A failure is logged
    /// and gives `None` (the caller serves identity; a later request retries).
    async fn deflate_once<F>(&self, cell: &GzCell, input: F) -> (Option<Arc<Deflated>>, bool)
    where
        F: Future<Output = Result<Bytes>>,
    {
        let mut computed = false;
        let result = cell
            .get_or_try_init(|| async {
                let bytes = input.await?;
                let d = tokio::task::spawn_blocking(move || {
                    let d = Deflated::compress(&bytes, encoding::GZIP_LEVEL);
                    d.worth_it().then(|| Arc::new(d))
                })
                .await
                .map_err(|e| FeedError::Storage(format!("compression task failed: {e}")))?;
                self.inner.compressions.bump();
                computed = true;
                Ok::<_, FeedError>(d)
            })
            .await;
        match result {
            Ok(d) => (d.clone(), computed),
            Err(e) => {
                tracing::warn!(error = %e, "compressing a response body failed; sending it uncompressed");
                (None, false)
            }
        }
    }

    /// Raw body through the cache, deflated (once per content hash) when `coding`
    /// is gzip and the body is large enough and of a compressible media type.
    pub async fn raw_encoded(&self, url: &Url, coding: Coding) -> Result<RawBody> {
        let b = self
            .inner
            .cache
            .get(url, self.inner.config.fetch.max_body)
            .await?;
        let wrap_raw = |body| RawBody {
            body,
            content_type: b.content_type.clone(),
            final_url: b.final_url.clone(),
            content_hash: b.hash.clone(),
            cache: b.cache,
            stale: b.stale,
        };
        if coding == Coding::Gzip
            && b.len >= encoding::MIN_COMPRESS_BYTES as u64
            && encoding::compressible(b.content_type.as_deref())
        {
            let cell = self.inner.raw_gzip.get_or_insert_with(&b.hash, GzCell::new);
            let input = async {
                match self.inner.raw.get(&b.hash) {
                    Some(bytes) => Ok((*bytes).clone()),
                    None => b.bytes().await,
                }
            };
            let (d, computed) = self.deflate_once(&cell, input).await;
            if let Some(d) = d {
                if computed {
                    self.inner.raw_gzip.add_weight(&b.hash, &cell, d.data.len());
                }
                return Ok(wrap_raw(RawContent::Gzip(d)));
            }
        }
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
        Ok(wrap_raw(RawContent::Identity(body)))
    }

    /// The JSON of `p`, with its deflated tail when `coding` asks for gzip and
    /// the payload is large enough.
    async fn json_body(
        &self,
        memo: &Memo<Prepared>,
        key: &str,
        p: &Arc<Prepared>,
        coding: Coding,
    ) -> JsonBody {
        let mut deflated_tail = None;
        if coding == Coding::Gzip && p.json.len() >= encoding::MIN_COMPRESS_BYTES {
            let tail = p.json.slice(1..);
            let (d, computed) = self.deflate_once(&p.gzip, async { Ok(tail) }).await;
            if let (Some(d), true) = (&d, computed) {
                memo.add_weight(key, p, d.data.len());
            }
            deflated_tail = d;
        }
        JsonBody {
            json: p.json.clone(),
            deflated_tail,
        }
    }

    /// Memoised transformation of the body behind `url`: `f` runs (off the async
    /// runtime) once per memo key, and its JSON is serialised once with it.
    async fn prepared<T, F>(
        &self,
        memo: &Memo<Prepared>,
        url: &Url,
        key: impl FnOnce(&CachedBody) -> String,
        f: F,
    ) -> Result<(Arc<Prepared>, CachedBody, String)>
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
            return Ok((v, b, key));
        }
        let body = b.bytes().await?;
        let (ct, base) = (b.content_type.clone(), b.final_url.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            let value = f(body, ct, base)?;
            let json = serde_json::to_vec(&value)
                .map_err(|e| FeedError::Parse(format!("serialising the result: {e}")))?;
            Ok::<_, FeedError>(Prepared {
                json: Bytes::from(json),
                gzip: GzCell::new(),
            })
        })
        .await
        .map_err(|e| FeedError::Parse(format!("transform task failed: {e}")))??;
        let prepared = Arc::new(prepared);
        memo.put(key.clone(), prepared.clone(), prepared.json.len());
        Ok((prepared, b, key))
    }

    async fn feed_prepared(&self, url: &Url) -> Result<(Arc<Prepared>, CachedBody, String)> {
        self.prepared(
            &self.inner.feeds,
            url,
            |b| format!("{}|{}", b.hash, b.final_url),
            |body, _ct, base| parse::parse_feed(&body, Some(&base)),
        )
        .await
    }

    async fn reader_prepared(&self, url: &Url) -> Result<(Arc<Prepared>, CachedBody, String)> {
        self.prepared(
            &self.inner.articles,
            url,
            |b| format!("{}|{}", b.hash, b.final_url),
            |body, ct, base| reader::read_article_bytes(&body, ct.as_deref(), Some(&base)),
        )
        .await
    }

    async fn title_prepared(&self, url: &Url) -> Result<(Arc<Prepared>, CachedBody, String)> {
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

    /// Parsed feed as JSON, deflated once per body when `coding` is gzip (what
    /// the HTTP layer serves).
    pub async fn feed_json_encoded(&self, url: &Url, coding: Coding) -> Result<Served<JsonBody>> {
        let (p, b, key) = self.feed_prepared(url).await?;
        let body = self.json_body(&self.inner.feeds, &key, &p, coding).await;
        Ok(wrap(body, &b))
    }

    /// Reader-mode article as JSON, deflated once per body when `coding` is gzip.
    pub async fn reader_json_encoded(&self, url: &Url, coding: Coding) -> Result<Served<JsonBody>> {
        let (p, b, key) = self.reader_prepared(url).await?;
        let body = self.json_body(&self.inner.articles, &key, &p, coding).await;
        Ok(wrap(body, &b))
    }

    /// Page title as JSON, deflated once per body when `coding` is gzip (a title
    /// payload is usually under the size threshold and then sent as it is).
    pub async fn title_json_encoded(&self, url: &Url, coding: Coding) -> Result<Served<JsonBody>> {
        let (p, b, key) = self.title_prepared(url).await?;
        let body = self.json_body(&self.inner.titles, &key, &p, coding).await;
        Ok(wrap(body, &b))
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
        self.analysis(url, params, silence::Measure::default())
            .await
    }

    /// Silence map with explicit thresholds, and what `measure` asks for
    /// (loudness). Each result is stored per content hash and parameter set
    /// ([`load_analysis`] / [`store_analysis`]); a missing one is computed by
    /// one job however many requests ask together, silences and loudness in one
    /// decode pass when both are missing.
    pub async fn analysis(
        &self,
        url: &Url,
        params: SilenceParams,
        measure: silence::Measure,
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
        let kind = silence_kind(&params);
        let store = &self.inner.analyses;
        if let Some(map) = stored_result(store.as_ref(), &b.hash, &kind, measure).await {
            return Ok(wrap(map, &b));
        }
        let key = format!("{}|{kind}|loudness={}", b.hash, measure.loudness);
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
                    let key = key.clone();
                    async move {
                        let store = inner.analyses.clone();
                        // Another server sharing the store may be decoding this very body:
                        // wait for its claim to end first.
                        let claim = match store.claim(&key, ANALYSIS_CLAIM_WAIT).await {
                            Ok(c) => c,
                            Err(e) => {
                                tracing::warn!(error = %e, store = store.kind(), "analysis claim failed; computing here");
                                None
                            }
                        };
                        // A job that finished meanwhile (here, between our lookup and taking
                        // the in-flight lock, or on another server) has stored its result.
                        if let Some(map) =
                            stored_result(store.as_ref(), &body.hash, &kind, measure).await
                        {
                            if let Some(c) = claim {
                                c.release().await;
                            }
                            return Ok(map);
                        }
                        let result = compute(&inner, &body, &kind, params, measure).await;
                        if let Some(c) = claim {
                            c.release().await;
                        }
                        drop(body);
                        result
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

// ---- Media, artwork, chapters, transcripts (issue 10, section 3) ----

impl FeedService {
    /// Open `url` at its origin for the media proxy (never cached: streamed).
    pub async fn media(
        &self,
        url: &Url,
        req: &crate::media::MediaRequest,
    ) -> Result<crate::media::MediaStream> {
        let cfg = &self.inner.config;
        crate::media::open(
            self.inner.cache.fetcher(),
            url,
            req,
            cfg.max_media_bytes,
            cfg.media_timeout,
        )
        .await
    }

    /// Number of artwork resizes actually run (tests only).
    #[cfg(feature = "test-hooks")]
    pub fn image_resizes_run(&self) -> u64 {
        self.inner.image_resizes.get()
    }

    /// The artwork behind `url` fitted into `size`×`size` (see [`crate::artwork`]),
    /// resized once per source content hash and size, off the async workers.
    pub async fn image(
        &self,
        url: &Url,
        size: u32,
    ) -> Result<Served<Arc<crate::artwork::Resized>>> {
        if !crate::artwork::valid_size(size) {
            return Err(FeedError::BadRequest(format!(
                "size must be one of {:?}",
                crate::artwork::SIZES
            )));
        }
        let b = self
            .inner
            .cache
            .get(url, self.inner.config.max_image_bytes)
            .await?;
        let key = format!("{}|{size}", b.hash);
        let cell = self.inner.images.get_or_insert_with(&key, ImageCell::new);
        let mut computed = false;
        let resized = cell
            .get_or_try_init(|| async {
                let data = b.bytes().await?;
                let r = tokio::task::spawn_blocking(move || crate::artwork::resize(&data, size))
                    .await
                    .map_err(|e| FeedError::Parse(format!("resize task failed: {e}")))??;
                self.inner.image_resizes.bump();
                computed = true;
                Ok::<_, FeedError>(Arc::new(r))
            })
            .await?
            .clone();
        if computed {
            self.inner
                .images
                .add_weight(&key, &cell, resized.bytes.len() + 128);
        }
        Ok(wrap(resized, &b))
    }
}

impl FeedService {
    /// The chapter list behind `url` (chapters JSON, or an MP3/MP4 read with byte
    /// ranges: see [`crate::chapters`]), as JSON. Results are kept per URL for
    /// [`CHAPTERS_TTL`]; `content_hash` is the SHA-256 of the first bytes read
    /// (the whole JSON, or the audio file's head).
    pub async fn chapters_json(&self, url: &Url) -> Result<Served<JsonBody>> {
        let key = url.as_str();
        if let Some(hit) = self.inner.chapters.get(key)
            && hit.0.elapsed() < CHAPTERS_TTL
        {
            let s = &hit.1;
            return Ok(Served {
                value: JsonBody {
                    json: s.value.clone(),
                    deflated_tail: None,
                },
                final_url: s.final_url.clone(),
                content_hash: s.content_hash.clone(),
                cache: CacheStatus::Hit,
                stale: false,
            });
        }
        let mut src =
            crate::chapters_http::HttpRanges::new(self.inner.cache.fetcher().clone(), url.clone());
        let list = crate::chapters::extract(&mut src).await?;
        let json =
            Bytes::from(serde_json::to_vec(&list).map_err(|e| FeedError::Parse(e.to_string()))?);
        let served = Served {
            value: json.clone(),
            final_url: src.final_url().to_string(),
            content_hash: src.head_hash().unwrap_or_default(),
            cache: CacheStatus::Miss,
            stale: false,
        };
        self.inner.chapters.put(
            key.to_owned(),
            Arc::new((std::time::Instant::now(), served.clone())),
            json.len() + 256,
        );
        Ok(Served {
            value: JsonBody {
                json,
                deflated_tail: None,
            },
            final_url: served.final_url,
            content_hash: served.content_hash,
            cache: CacheStatus::Miss,
            stale: false,
        })
    }

    /// The transcript behind `url` as one cue list (see [`crate::transcript`]),
    /// parsed once per body, deflated once when `coding` is gzip.
    pub async fn transcript_json_encoded(
        &self,
        url: &Url,
        coding: Coding,
    ) -> Result<Served<JsonBody>> {
        let (p, b, key) = self
            .prepared(
                &self.inner.transcripts,
                url,
                |b| b.hash.clone(),
                |body, _ct, _base| crate::transcript::parse(&body),
            )
            .await?;
        let body = self
            .json_body(&self.inner.transcripts, &key, &p, coding)
            .await;
        Ok(wrap(body, &b))
    }
}

/// How long a chapter list read from an origin is reused without asking again.
pub const CHAPTERS_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

// ---- end of issue 10 section 3 block ----

// ---- Analysis results storage: every read and write of stored analyses goes
// through these two functions (one place to share them between servers). ----

/// Loudness is stored apart from the silence maps: it does not depend on their parameters.
const LOUDNESS_KIND: &str = "loudness:v1";

fn silence_kind(params: &SilenceParams) -> String {
    format!(
        "silence:v1:{}:{}:{}",
        params.threshold_db, params.min_silence, params.window_ms
    )
}

/// How long a server waits for another server's analysis of the same body before it
/// decodes the body itself.
pub const ANALYSIS_CLAIM_WAIT: Duration = Duration::from_secs(60);

/// Decode `body` once (counted in [`FeedService::analyses_run`]) and store the results.
async fn compute(
    inner: &Inner,
    body: &CachedBody,
    kind: &str,
    params: SilenceParams,
    measure: silence::Measure,
) -> Result<SilenceMap> {
    inner.silence_jobs.fetch_add(1, Ordering::Relaxed);
    let path = body.path().to_path_buf();
    let ext = ext_hint(body.content_type.as_deref(), &body.final_url);
    let result = tokio::task::spawn_blocking(move || {
        silence::analyze_path(&path, ext.as_deref(), params, measure)
    })
    .await
    .map_err(|e| FeedError::Audio(format!("analysis task failed: {e}")))?;
    let mut map = result?;
    let store = inner.analyses.as_ref();
    if let Some(l) = map.loudness.take() {
        store_analysis(store, &body.hash, LOUDNESS_KIND, &l).await;
        store_analysis(store, &body.hash, kind, &map).await;
        map.loudness = Some(l);
    } else {
        store_analysis(store, &body.hash, kind, &map).await;
    }
    Ok(map)
}

/// A stored analysis result for this body and kind. An unreadable one, or a store that
/// cannot be reached (logged), counts as none: the analysis is computed again.
pub async fn load_analysis<T: serde::de::DeserializeOwned>(
    store: &dyn AnalysisStore,
    hash: &str,
    kind: &str,
) -> Option<T> {
    match store.get(hash, kind).await {
        Ok(json) => json.and_then(|json| serde_json::from_str(&json).ok()),
        Err(e) => {
            tracing::warn!(error = %e, store = store.kind(), "reading a stored analysis failed");
            None
        }
    }
}

/// Store an analysis result for this body and kind. A failure is logged: the result is
/// still served, and computed again next time.
pub async fn store_analysis<T: Serialize>(
    store: &dyn AnalysisStore,
    hash: &str,
    kind: &str,
    value: &T,
) {
    let stored = match serde_json::to_string(value) {
        Ok(json) => store.put(hash, kind, &json).await,
        Err(e) => Err(FeedError::Storage(format!("serialising an analysis: {e}"))),
    };
    if let Err(e) = stored {
        tracing::warn!(error = %e, store = store.kind(), "storing an analysis failed");
    }
}

/// The silence map (and loudness, when measured) stored for this body, if
/// everything `measure` asks for is there.
async fn stored_result(
    store: &dyn AnalysisStore,
    hash: &str,
    kind: &str,
    measure: silence::Measure,
) -> Option<SilenceMap> {
    let mut map = load_analysis::<SilenceMap>(store, hash, kind).await?;
    if measure.loudness {
        map.loudness = Some(load_analysis(store, hash, LOUDNESS_KIND).await?);
    }
    Some(map)
}

fn ext_hint(content_type: Option<&str>, url: &str) -> Option<String> {
    let from_ct = content_type.and_then(|ct| {
        Some(match crate::encoding::media_type(ct).as_str() {
            "audio/mpeg" | "audio/mp3" => "mp3",
            "audio/mp4" | "audio/x-m4a" | "audio/m4a" | "audio/aac" | "video/mp4" => "m4a",
            "audio/ogg" | "application/ogg" | "audio/vorbis" | "audio/opus" => "ogg",
            "audio/flac" | "audio/x-flac" => "flac",
            "audio/wav" | "audio/x-wav" | "audio/wave" => "wav",
            "audio/webm" | "video/webm" => "webm",
            "audio/x-matroska" | "video/x-matroska" => "mka",
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
    fn memo_weighs_late_additions() {
        let m: Memo<u32> = Memo::new(4, 100);
        let a = m.get_or_insert_with("a", || 1);
        assert!(
            Arc::ptr_eq(&a, &m.get_or_insert_with("a", || 2)),
            "existing entry kept"
        );
        m.add_weight("a", &a, 60);
        m.put("b".into(), Arc::new(2), 30);
        m.add_weight("a", &Arc::new(1), 50); // not the stored value: ignored
        assert_eq!(m.inner.lock().expect("lock").bytes, 90);
        m.add_weight("b", &m.get("b").expect("b"), 20); // 110 > 100: oldest ("a") goes
        assert!(m.get("a").is_none());
        assert_eq!(m.inner.lock().expect("lock").bytes, 50);
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
        assert_eq!(
            ext_hint(Some("audio/webm; codecs=opus"), "http://x/a").as_deref(),
            Some("webm")
        );
    }
}
