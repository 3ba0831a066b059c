//! HTTP cache with real caching semantics (via `http-cache-semantics`).
//!
//! * Fresh entries are served without contacting the origin.
//! * Stale entries are revalidated with `If-None-Match` / `If-Modified-Since`;
//!   a `304` refreshes the stored policy and serves the stored body.
//! * Bodies are stored once per SHA-256 content hash as files under
//!   `<dir>/blobs/<h0h1>/<hash>`; the index (URL → policy + hash) is in SQLite.
//! * Total body size is capped; least-recently-used bodies are evicted.
//! * When the origin fails (network error, timeout, 5xx) and a copy exists, the
//!   copy is served with `stale = true` (stale-if-error).
//! * Responses that are not storable (`no-store`, `private`, …) are handed to the
//!   caller from a temporary file and never indexed.
//! * Index rows are memoised in memory (a bounded hot index), so a fresh hit does
//!   not touch SQLite; the memo is updated on every write, which assumes one process
//!   owns the cache directory (the server does).
//! * Concurrent misses for the same URL share one origin request (single flight).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use http::{HeaderMap, StatusCode};
use http_cache_semantics::{AfterResponse, BeforeRequest, CacheOptions, CachePolicy};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use url::Url;

use crate::error::{FeedError, Result};
use crate::fetch::{Fetcher, Upstream};
use crate::test_hooks::TestCounter;

/// The cache's schema (crate::migrations: why not `sqlx::migrate!`).
pub(crate) static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| {
        crate::migrations::migrator(&[(
            "0001_cache.sql",
            include_str!("../migrations/0001_cache.sql"),
        )])
    });

/// Cache settings.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Data directory (index database + body files).
    pub dir: PathBuf,
    /// Maximum total size of stored bodies in bytes.
    pub max_bytes: u64,
    /// Cache hits refresh the LRU stamp at most this often per entry (saves a
    /// SQLite write on most hits). Zero: on every hit.
    pub touch_interval: std::time::Duration,
}

impl CacheConfig {
    /// Settings with a 30 s LRU touch interval.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        Self {
            dir: dir.into(),
            max_bytes,
            touch_interval: std::time::Duration::from_secs(30),
        }
    }
}

/// How a response was obtained (one owner: the feed model crate).
pub use skypod_model::CacheStatus;

#[derive(Debug)]
enum BodyFile {
    Stored(PathBuf),
    Temp(tempfile::TempPath),
}

/// A response body held on disk (never fully in memory unless asked).
#[derive(Debug, Clone)]
pub struct CachedBody {
    /// URL after redirects.
    pub final_url: String,
    /// `Content-Type` of the stored response.
    pub content_type: Option<String>,
    /// SHA-256 of the body, lowercase hex.
    pub hash: String,
    /// Body length in bytes.
    pub len: u64,
    /// How it was served.
    pub cache: CacheStatus,
    /// `true` when served stale because the origin failed.
    pub stale: bool,
    file: Arc<BodyFile>,
}

impl CachedBody {
    /// Path of the body file (valid while this value lives).
    pub fn path(&self) -> &Path {
        match &*self.file {
            BodyFile::Stored(p) => p,
            BodyFile::Temp(t) => t,
        }
    }

    /// Read the whole body (callers only do this for bodies under the fetch cap).
    pub async fn bytes(&self) -> Result<Bytes> {
        Ok(Bytes::from(tokio::fs::read(self.path()).await?))
    }
}

#[derive(Clone)]
struct Entry {
    last_access: i64,
    policy: Arc<CachePolicy>,
    hash: String,
    size: u64,
    content_type: Option<String>,
    final_url: String,
}

/// Index rows kept in memory (a few KiB each: the policy holds the headers).
const HOT_ENTRIES: usize = 4096;

/// An origin request shared by every concurrent caller for the same URL.
type Flight = Shared<BoxFuture<'static, Result<CachedBody>>>;

/// Removes a flight from the in-flight map when its task ends, however it ends.
struct FlightDone {
    flights: Arc<Mutex<HashMap<String, Flight>>>,
    key: String,
}

impl Drop for FlightDone {
    fn drop(&mut self) {
        if let Ok(mut flights) = self.flights.lock() {
            flights.remove(&self.key);
        }
    }
}

/// The cache. Cheap to clone.
#[derive(Clone)]
pub struct Cache {
    pool: SqlitePool,
    dir: PathBuf,
    max_bytes: u64,
    touch_interval_us: i64,
    fetcher: Fetcher,
    hot: Arc<Mutex<HashMap<String, Entry>>>,
    flights: Arc<Mutex<HashMap<String, Flight>>>,
    joined: Arc<TestCounter>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Strictly increasing access stamp (microseconds, bumped on ties) for LRU order.
fn access_stamp() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(prev + 1);
        match LAST.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

fn request_parts(url: &Url) -> Result<http::request::Parts> {
    let req = http::Request::get(url.as_str())
        .body(())
        .map_err(|e| FeedError::InvalidUrl(e.to_string()))?;
    Ok(req.into_parts().0)
}

fn response_parts(status: StatusCode, headers: &HeaderMap) -> http::response::Parts {
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = status;
    parts.headers = headers.clone();
    parts
}

fn policy_options() -> CacheOptions {
    CacheOptions {
        shared: true,
        ..Default::default()
    }
}

impl Cache {
    /// Open (or create) the cache in `config.dir`.
    pub async fn open(config: CacheConfig, fetcher: Fetcher) -> Result<Self> {
        tokio::fs::create_dir_all(config.dir.join("blobs")).await?;
        tokio::fs::create_dir_all(config.dir.join("tmp")).await?;
        let opts = SqliteConnectOptions::new()
            .filename(config.dir.join("feeds-cache.sqlite"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            dir: config.dir,
            max_bytes: config.max_bytes,
            touch_interval_us: config.touch_interval.as_micros().min(i64::MAX as u128) as i64,
            fetcher,
            hot: Arc::new(Mutex::new(HashMap::new())),
            flights: Arc::new(Mutex::new(HashMap::new())),
            joined: Arc::default(),
        })
    }

    /// Number of requests that joined another request's in-flight origin fetch
    /// instead of fetching themselves (tests only).
    #[cfg(feature = "test-hooks")]
    pub fn joined_flights(&self) -> u64 {
        self.joined.get()
    }

    fn hot_get(&self, url: &Url) -> Option<Entry> {
        self.hot.lock().ok()?.get(url.as_str()).cloned()
    }

    fn hot_put(&self, url: &Url, entry: Entry) {
        let Ok(mut hot) = self.hot.lock() else { return };
        if hot.len() >= HOT_ENTRIES && !hot.contains_key(url.as_str()) {
            // Drop the least recently used row; O(n) only when the memo is full.
            if let Some(old) = hot
                .iter()
                .min_by_key(|(_, e)| e.last_access)
                .map(|(k, _)| k.clone())
            {
                hot.remove(&old);
            }
        }
        hot.insert(url.as_str().to_owned(), entry);
    }

    fn hot_update(&self, url: &Url, f: impl FnOnce(&mut Entry)) {
        if let Ok(mut hot) = self.hot.lock()
            && let Some(e) = hot.get_mut(url.as_str())
        {
            f(e);
        }
    }

    fn hot_forget_hash(&self, hash: &str) {
        if let Ok(mut hot) = self.hot.lock() {
            hot.retain(|_, e| e.hash != hash);
        }
    }

    /// The fetcher used for origin requests.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    fn blob_path(&self, hash: &str) -> PathBuf {
        let prefix = hash.get(0..2).unwrap_or("00");
        self.dir.join("blobs").join(prefix).join(hash)
    }

    async fn lookup(&self, url: &Url) -> Result<Option<Entry>> {
        if let Some(entry) = self.hot_get(url) {
            // A local stat is microseconds; it catches a body removed under us.
            if self.blob_path(&entry.hash).is_file() {
                return Ok(Some(entry));
            }
            if let Ok(mut hot) = self.hot.lock() {
                hot.remove(url.as_str());
            }
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT e.hash, e.policy, e.content_type, e.final_url, b.size, e.last_access
             FROM entries e JOIN blobs b ON b.hash = e.hash WHERE e.url = ?",
        )
        .bind(url.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let hash: String = row.try_get(0)?;
        let policy_json: String = row.try_get(1)?;
        let policy: CachePolicy = match serde_json::from_str(&policy_json) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%url, error = %e, "dropping unreadable cache policy");
                return Ok(None);
            }
        };
        let entry = Entry {
            last_access: row.try_get(5)?,
            policy: Arc::new(policy),
            size: row.try_get::<i64, _>(4)? as u64,
            content_type: row.try_get(2)?,
            final_url: row.try_get(3)?,
            hash,
        };
        // A local stat is microseconds: cheaper than a spawn_blocking round trip.
        if !self.blob_path(&entry.hash).is_file() {
            return Ok(None);
        }
        self.hot_put(url, entry.clone());
        Ok(Some(entry))
    }

    async fn touch(&self, url: &Url, hash: &str) -> Result<()> {
        let now = access_stamp();
        sqlx::query("UPDATE entries SET last_access = ? WHERE url = ?")
            .bind(now)
            .bind(url.as_str())
            .execute(&self.pool)
            .await?;
        sqlx::query("UPDATE blobs SET last_access = ? WHERE hash = ?")
            .bind(now)
            .bind(hash)
            .execute(&self.pool)
            .await?;
        self.hot_update(url, |e| e.last_access = now);
        Ok(())
    }

    fn served_entry(&self, e: Entry, cache: CacheStatus) -> CachedBody {
        CachedBody {
            final_url: e.final_url,
            content_type: e.content_type,
            len: e.size,
            cache,
            stale: cache == CacheStatus::Stale,
            file: Arc::new(BodyFile::Stored(self.blob_path(&e.hash))),
            hash: e.hash,
        }
    }

    /// GET `url` through the cache. `max_body` caps the body size.
    pub async fn get(&self, url: &Url, max_body: u64) -> Result<CachedBody> {
        self.get_with_timeout(url, max_body, None).await
    }

    /// [`Cache::get`] with a total fetch timeout other than the fetcher's.
    pub async fn get_with_timeout(
        &self,
        url: &Url,
        max_body: u64,
        timeout: Option<std::time::Duration>,
    ) -> Result<CachedBody> {
        let req = request_parts(url)?;
        let entry = self.lookup(url).await?;
        if let Some(e) = &entry
            && let BeforeRequest::Fresh(_) = e.policy.before_request(&req, SystemTime::now())
        {
            if access_stamp() - e.last_access >= self.touch_interval_us {
                self.touch(url, &e.hash).await?;
            }
            tracing::debug!(%url, "cache hit");
            return self.hit(entry, CacheStatus::Hit);
        }
        // Single flight: the first caller starts the origin request in its own task
        // (so it completes even if that caller goes away); later callers for the same
        // URL and limits await the same result.
        let key = format!(
            "{max_body}|{}|{url}",
            timeout.map(|t| t.as_millis()).unwrap_or(0)
        );
        let flight = {
            let mut flights = self
                .flights
                .lock()
                .map_err(|_| FeedError::Storage("in-flight lock poisoned".into()))?;
            if let Some(f) = flights.get(&key) {
                self.joined.bump();
                tracing::debug!(%url, "joining in-flight fetch");
                f.clone()
            } else {
                let this = self.clone();
                let (url, task_key) = (url.clone(), key.clone());
                let task = tokio::spawn(async move {
                    // Removed after the result is stored (a later caller finds it in the
                    // index), and also if the task panics or is dropped at shutdown, so a
                    // failed flight is never joined again.
                    let _done = FlightDone {
                        flights: this.flights.clone(),
                        key: task_key,
                    };
                    this.revalidate_or_fetch(&url, req, max_body, timeout, entry)
                        .await
                });
                let f = async move {
                    task.await.unwrap_or_else(|e| {
                        Err(FeedError::Storage(format!("fetch task failed: {e}")))
                    })
                }
                .boxed()
                .shared();
                flights.insert(key, f.clone());
                f
            }
        };
        flight.await
    }

    async fn revalidate_or_fetch(
        &self,
        url: &Url,
        req: http::request::Parts,
        max_body: u64,
        timeout: Option<std::time::Duration>,
        entry: Option<Entry>,
    ) -> Result<CachedBody> {
        let mut headers = HeaderMap::new();
        if let Some(e) = &entry
            && let BeforeRequest::Stale { request, .. } =
                e.policy.before_request(&req, SystemTime::now())
        {
            headers = request.headers;
        }
        let upstream = match self.fetcher.send_with_timeout(url, &headers, timeout).await {
            Ok(up) => up,
            Err(err) => return self.stale_or(entry, err, url),
        };
        if upstream.status == StatusCode::NOT_MODIFIED
            && let Some(e) = entry
        {
            let res = response_parts(upstream.status, &upstream.headers);
            match e.policy.after_response(&req, &res, SystemTime::now()) {
                AfterResponse::NotModified(policy, _) => {
                    self.update_policy(url, &policy).await?;
                    self.hot_update(url, |h| h.policy = Arc::new(policy));
                    self.touch(url, &e.hash).await?;
                    tracing::debug!(%url, "revalidated (304)");
                    return Ok(self.served_entry(e, CacheStatus::Revalidated));
                }
                AfterResponse::Modified(..) => {
                    // Validators did not match: refetch unconditionally.
                    let up = self
                        .fetcher
                        .send_with_timeout(url, &HeaderMap::new(), timeout)
                        .await?;
                    return self.store(url, &req, up, max_body, None).await;
                }
            }
        }
        if !upstream.status.is_success() {
            let err = FeedError::UpstreamStatus(upstream.status.as_u16());
            if upstream.status.is_server_error() {
                return self.stale_or(entry, err, url);
            }
            return Err(err);
        }
        self.store(url, &req, upstream, max_body, entry).await
    }

    fn hit(&self, entry: Option<Entry>, status: CacheStatus) -> Result<CachedBody> {
        entry
            .map(|e| self.served_entry(e, status))
            .ok_or_else(|| FeedError::Storage("cache entry vanished".into()))
    }

    fn stale_or(&self, entry: Option<Entry>, err: FeedError, url: &Url) -> Result<CachedBody> {
        match entry {
            Some(e) if err.allows_stale() => {
                tracing::warn!(%url, error = %err, "origin failed, serving stale copy");
                Ok(self.served_entry(e, CacheStatus::Stale))
            }
            _ => Err(err),
        }
    }

    async fn update_policy(&self, url: &Url, policy: &CachePolicy) -> Result<()> {
        let json = serde_json::to_string(policy).map_err(|e| FeedError::Storage(e.to_string()))?;
        sqlx::query("UPDATE entries SET policy = ?, stored_at = ? WHERE url = ?")
            .bind(json)
            .bind(now_ms())
            .bind(url.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn store(
        &self,
        url: &Url,
        req: &http::request::Parts,
        up: Upstream,
        max_body: u64,
        old: Option<Entry>,
    ) -> Result<CachedBody> {
        let res = response_parts(up.status, &up.headers);
        let policy = CachePolicy::new_options(req, &res, SystemTime::now(), policy_options());
        let content_type = up
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let final_url = up.final_url.to_string();
        let tmp = tempfile::NamedTempFile::new_in(self.dir.join("tmp"))?;
        let (std_file, tmp_path) = tmp.into_parts();
        let mut file = tokio::fs::File::from_std(std_file);
        let (hash, len) = match up.stream_to_file(max_body, &mut file).await {
            Ok(v) => v,
            Err(err) => {
                drop(file);
                drop(tmp_path); // deletes the partial body
                return self.stale_or(old, err, url);
            }
        };
        drop(file);
        if !policy.is_storable() {
            tracing::debug!(%url, "response not storable; not cached");
            return Ok(CachedBody {
                final_url,
                content_type,
                hash,
                len,
                cache: CacheStatus::Miss,
                stale: false,
                file: Arc::new(BodyFile::Temp(tmp_path)),
            });
        }
        let dest = self.blob_path(&hash);
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        if tokio::fs::metadata(&dest).await.is_ok() {
            drop(tmp_path); // identical body already stored once
        } else {
            tmp_path
                .persist(&dest)
                .map_err(|e| FeedError::Storage(e.to_string()))?;
        }
        let now = access_stamp();
        let json = serde_json::to_string(&policy).map_err(|e| FeedError::Storage(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO blobs (hash, size, last_access) VALUES (?, ?, ?)
             ON CONFLICT(hash) DO UPDATE SET last_access = excluded.last_access",
        )
        .bind(&hash)
        .bind(len as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO entries (url, hash, policy, content_type, final_url, stored_at, last_access)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(url) DO UPDATE SET hash = excluded.hash, policy = excluded.policy,
               content_type = excluded.content_type, final_url = excluded.final_url,
               stored_at = excluded.stored_at, last_access = excluded.last_access",
        )
        .bind(url.as_str())
        .bind(&hash)
        .bind(json)
        .bind(&content_type)
        .bind(&final_url)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.hot_put(
            url,
            Entry {
                last_access: now,
                policy: Arc::new(policy),
                hash: hash.clone(),
                size: len,
                content_type: content_type.clone(),
                final_url: final_url.clone(),
            },
        );
        if let Some(old) = old
            && old.hash != hash
        {
            self.drop_blob_if_unused(&old.hash).await?;
        }
        self.evict(&hash).await?;
        tracing::debug!(%url, %hash, len, "stored");
        Ok(CachedBody {
            final_url,
            content_type,
            len,
            cache: CacheStatus::Miss,
            stale: false,
            file: Arc::new(BodyFile::Stored(dest)),
            hash,
        })
    }

    async fn drop_blob_if_unused(&self, hash: &str) -> Result<()> {
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entries WHERE hash = ?")
            .bind(hash)
            .fetch_one(&self.pool)
            .await?;
        if used == 0 {
            self.remove_blob(hash).await?;
        }
        Ok(())
    }

    async fn remove_blob(&self, hash: &str) -> Result<()> {
        self.hot_forget_hash(hash);
        sqlx::query("DELETE FROM entries WHERE hash = ?")
            .bind(hash)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM blobs WHERE hash = ?")
            .bind(hash)
            .execute(&self.pool)
            .await?;
        match tokio::fs::remove_file(self.blob_path(hash)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Total bytes of stored bodies.
    pub async fn total_bytes(&self) -> Result<u64> {
        let total: Option<i64> = sqlx::query_scalar("SELECT SUM(size) FROM blobs")
            .fetch_one(&self.pool)
            .await?;
        Ok(total.unwrap_or(0).max(0) as u64)
    }

    /// Evict least-recently-used bodies until under the cap (never `keep`).
    async fn evict(&self, keep: &str) -> Result<()> {
        let mut total = self.total_bytes().await?;
        while total > self.max_bytes {
            let victim: Option<(String, i64)> = sqlx::query_as(
                "SELECT hash, size FROM blobs WHERE hash != ? ORDER BY last_access ASC LIMIT 1",
            )
            .bind(keep)
            .fetch_optional(&self.pool)
            .await?;
            let Some((hash, size)) = victim else { break };
            tracing::debug!(%hash, size, "evicting body");
            self.remove_blob(&hash).await?;
            total = total.saturating_sub(size.max(0) as u64);
        }
        Ok(())
    }

    /// Whether `url` currently has an index entry.
    pub async fn contains(&self, url: &Url) -> Result<bool> {
        Ok(self.lookup(url).await?.is_some())
    }

    /// Stored derived result for a content hash.
    pub async fn analysis(&self, hash: &str, kind: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT result FROM analyses WHERE hash = ? AND kind = ?")
                .bind(hash)
                .bind(kind)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Store a derived result for a content hash.
    pub async fn put_analysis(&self, hash: &str, kind: &str, result: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO analyses (hash, kind, result, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(hash, kind) DO UPDATE SET result = excluded.result",
        )
        .bind(hash)
        .bind(kind)
        .bind(result)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
