//! The axum router: `/proxy/{raw,feed,reader,title,silence}?url=…`, and the others below
//! (media, image, chapters, transcript; `/proxy/directory?q=…`, podcast directory search in
//! [`crate::directory`]).
//!
//! Every request needs `Authorization: Bearer <token>`; the token is checked by
//! the embedding server's [`ProxyAuth`] (the realm server verifies a JWT whose
//! purpose is `Purpose::Proxy`). `/proxy/media` alone also takes `?token=` instead: a
//! stream token bound to that one enclosure URL ([`ProxyAuth::authorize_media`]), for media
//! elements, which cannot send headers. Each identity has a token-bucket rate limit.
//! Errors are JSON `{"status": <code>, "message": "…"}`. Responses carry CORS
//! headers (bearer auth, no cookies, so `*` is safe) and `X-Skypod-Cache` /
//! `X-Skypod-Stale` headers. Feed, reader, title and raw bodies are sent with
//! `Content-Encoding: gzip` to clients that accept it, from compressed bytes
//! memoised per body (see [`crate::encoding`]), never compressed per hit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cache::CacheStatus;
use crate::directory::{Directory, DirectoryConfig};
use crate::encoding::{ChunkedBody, negotiate};
use crate::error::FeedError;
use crate::fetch::parse_url;
use crate::service::{FeedService, JsonBody, RawContent, Served};
use crate::silence::SilenceParams;

/// Verifies proxy bearer tokens. Implemented by the embedding server.
pub trait ProxyAuth: Send + Sync {
    /// Returns the identity id for a valid token, or a reason for refusal.
    fn authorize(&self, bearer_token: &str) -> Result<String /* identid */, String /* reason */>;

    /// A stream token from `/proxy/media?url=U&token=T` (media elements cannot send headers):
    /// the identity id when `T` is valid for exactly the enclosure `U`. Servers that issue no
    /// such tokens keep this default, which refuses.
    fn authorize_media(&self, token: &str, url: &str) -> Result<String, String> {
        let _ = (token, url);
        Err("stream tokens are not accepted here: send Authorization: Bearer".into())
    }
}

/// Per-identity token bucket settings.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitConfig {
    /// Bucket size (requests allowed in a burst).
    pub burst: u32,
    /// Refill rate in requests per second.
    pub per_second: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            burst: 60,
            per_second: 2.0,
        }
    }
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token-bucket rate limiter keyed by identity.
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// New limiter.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `id`; on refusal returns seconds until one is available.
    pub fn check(&self, id: &str) -> Result<(), u64> {
        self.check_at(id, Instant::now())
    }

    fn check_at(&self, id: &str, now: Instant) -> Result<(), u64> {
        let cap = f64::from(self.config.burst.max(1));
        let rate = self.config.per_second.max(1e-6);
        let Ok(mut map) = self.buckets.lock() else {
            return Ok(());
        };
        if map.len() > 10_000 {
            map.retain(|_, b| b.tokens + now.duration_since(b.last).as_secs_f64() * rate < cap);
        }
        let b = map.entry(id.to_owned()).or_insert(Bucket {
            tokens: cap,
            last: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(cap);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[derive(Clone)]
struct AppState {
    service: FeedService,
    auth: Arc<dyn ProxyAuth>,
    limiter: Arc<RateLimiter>,
    directory: Arc<Directory>,
}

#[derive(Serialize)]
struct ErrorBody {
    status: u16,
    message: String,
}

impl IntoResponse for FeedError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::warn!(error = %self, "proxy request failed");
        } else {
            tracing::debug!(error = %self, "proxy request refused");
        }
        let mut resp = (
            status,
            axum::Json(ErrorBody {
                status: status.as_u16(),
                message: self.to_string(),
            }),
        )
            .into_response();
        if let FeedError::RateLimited(secs) = self {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, FeedError::Unauthorized(_)) {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

const CORS: [(HeaderName, &str); 5] = [
    (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
    (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, OPTIONS"),
    (
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        "Authorization, Range, If-Range",
    ),
    (
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        "X-Skypod-Cache, X-Skypod-Stale, X-Skypod-Final-Url, X-Skypod-Content-Hash, \
         Content-Range, Content-Length, Accept-Ranges",
    ),
    (header::ACCESS_CONTROL_MAX_AGE, "600"),
];

fn cors(headers: &mut HeaderMap) {
    for (name, value) in CORS {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

async fn guard(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::OPTIONS {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        cors(resp.headers_mut());
        return resp;
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let decision = match token {
        Some(tok) => Some(st.auth.authorize(tok)),
        None if req.uri().path() == "/proxy/media" => {
            media_token(req.uri().query()).map(|(tok, url)| st.auth.authorize_media(&tok, &url))
        }
        None => None,
    };
    let mut resp = match decision {
        None => FeedError::Unauthorized("missing bearer token".into()).into_response(),
        Some(outcome) => match outcome {
            Err(reason) => FeedError::Unauthorized(reason).into_response(),
            Ok(identity) => match st.limiter.check(&identity) {
                Err(secs) => FeedError::RateLimited(secs).into_response(),
                Ok(()) => {
                    tracing::debug!(%identity, path = %req.uri().path(), "proxy request");
                    next.run(req).await
                }
            },
        },
    };
    cors(resp.headers_mut());
    resp
}

/// `(token, url)` of a `/proxy/media` stream URL, when it carries a token.
fn media_token(query: Option<&str>) -> Option<(String, String)> {
    let (mut token, mut url) = (None, None);
    for (k, v) in url::form_urlencoded::parse(query?.as_bytes()) {
        match &*k {
            "token" => token = Some(v.into_owned()),
            "url" => url = Some(v.into_owned()),
            _ => {}
        }
    }
    Some((token.filter(|t| !t.is_empty())?, url?))
}

#[derive(Deserialize)]
struct UrlQuery {
    url: Option<String>,
    threshold_db: Option<f64>,
    min_silence: Option<f64>,
    /// `/proxy/image` output size.
    size: Option<u32>,
    /// `/proxy/silence`: also measure loudness.
    loudness: Option<bool>,
}

fn target(q: &Result<Query<UrlQuery>, QueryRejection>) -> Result<url::Url, FeedError> {
    let q = q
        .as_ref()
        .map_err(|e| FeedError::BadRequest(e.body_text()))?;
    let raw = q
        .url
        .as_deref()
        .ok_or_else(|| FeedError::BadRequest("missing url parameter".into()))?;
    parse_url(raw)
}

fn meta_headers(resp: &mut Response, cache: CacheStatus, stale: bool, final_url: &str, hash: &str) {
    let h = resp.headers_mut();
    let c = match cache {
        CacheStatus::Miss => "miss",
        CacheStatus::Hit => "hit",
        CacheStatus::Revalidated => "revalidated",
        CacheStatus::Stale => "stale",
    };
    h.insert("x-skypod-cache", HeaderValue::from_static(c));
    if stale {
        h.insert("x-skypod-stale", HeaderValue::from_static("1"));
        h.insert(
            header::WARNING,
            HeaderValue::from_static("110 - \"Response is Stale\""),
        );
    }
    if let Ok(v) = HeaderValue::from_str(final_url) {
        h.insert("x-skypod-final-url", v);
    }
    if let Ok(v) = HeaderValue::from_str(hash) {
        h.insert("x-skypod-content-hash", v);
    }
}

/// [`meta_headers`] of a served payload.
fn served_meta_headers<T>(resp: &mut Response, served: &Served<T>) {
    meta_headers(
        resp,
        served.cache,
        served.stale,
        &served.final_url,
        &served.content_hash,
    );
}

/// The head of the response body `{<payload fields>, "final_url", "content_hash",
/// "cache", "stale"}` (what `Json(Served<T>)` gives) for a payload serialised once:
/// the per-request fields, and a `,` if the payload object has fields. The payload
/// from its second byte follows it (as it is, or deflated once), so a hit neither
/// re-serialises nor copies the payload.
fn splice_prefix<T>(served: &Served<T>, payload: &[u8]) -> Result<Vec<u8>, FeedError> {
    #[derive(Serialize)]
    struct Meta<'a> {
        final_url: &'a str,
        content_hash: &'a str,
        cache: CacheStatus,
        stale: bool,
    }
    let meta = serde_json::to_vec(&Meta {
        final_url: &served.final_url,
        content_hash: &served.content_hash,
        cache: served.cache,
        stale: served.stale,
    })
    .map_err(|e| FeedError::Storage(e.to_string()))?;
    let inner = payload
        .strip_prefix(b"{")
        .and_then(|p| p.strip_suffix(b"}"))
        .ok_or_else(|| FeedError::Storage("memoised payload is not a JSON object".into()))?;
    let mut out = meta;
    out.pop(); // the closing brace
    if !inner.is_empty() {
        out.push(b',');
    }
    Ok(out)
}

/// `Vary: Accept-Encoding`: the body depends on it (shared caches must not hand a
/// gzip body to a client that did not ask for one).
fn vary(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
}

fn gzip_encoded(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
}

fn served_json_response(served: Served<JsonBody>) -> Response {
    let json = &served.value.json;
    let prefix = match splice_prefix(&served, json) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (body, gzip) = match &served.value.deflated_tail {
        Some(d) => (ChunkedBody::new(d.gzip_chunks(&prefix)), true),
        None => (
            ChunkedBody::new([Bytes::from(prefix), json.slice(1..)]),
            false,
        ),
    };
    let mut resp = Response::new(Body::new(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    vary(&mut resp);
    if gzip {
        gzip_encoded(&mut resp);
    }
    served_meta_headers(&mut resp, &served);
    resp
}

macro_rules! json_endpoint {
    ($name:ident, $method:ident) => {
        async fn $name(
            State(st): State<AppState>,
            headers: HeaderMap,
            q: Result<Query<UrlQuery>, QueryRejection>,
        ) -> Result<Response, FeedError> {
            let url = target(&q)?;
            let served = st.service.$method(&url, negotiate(&headers)).await?;
            Ok(served_json_response(served))
        }
    };
}

json_endpoint!(feed_handler, feed_json_encoded);
json_endpoint!(reader_handler, reader_json_encoded);
json_endpoint!(title_handler, title_json_encoded);

async fn silence_handler(
    State(st): State<AppState>,
    q: Result<Query<UrlQuery>, QueryRejection>,
) -> Result<Response, FeedError> {
    let url = target(&q)?;
    let mut params: SilenceParams = st.service.config().silence;
    let (threshold_db, min_silence) = match &q {
        Ok(Query(q)) => (q.threshold_db, q.min_silence),
        Err(_) => (None, None),
    };
    if let Some(t) = threshold_db {
        if !(-96.0..=-10.0).contains(&t) {
            return Err(FeedError::BadRequest(
                "threshold_db must be within [-96, -10]".into(),
            ));
        }
        params.threshold_db = t;
    }
    if let Some(m) = min_silence {
        if !(0.05..=60.0).contains(&m) {
            return Err(FeedError::BadRequest(
                "min_silence must be within [0.05, 60]".into(),
            ));
        }
        params.min_silence = m;
    }
    let measure = crate::silence::Measure {
        loudness: q
            .as_ref()
            .ok()
            .and_then(|Query(q)| q.loudness)
            .unwrap_or(false),
    };
    let served = st.service.analysis(&url, params, measure).await?;
    let (cache, stale, fu, hash) = (
        served.cache,
        served.stale,
        served.final_url.clone(),
        served.content_hash.clone(),
    );
    let mut resp = axum::Json(served).into_response();
    meta_headers(&mut resp, cache, stale, &fu, &hash);
    Ok(resp)
}

async fn raw_handler(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<UrlQuery>, QueryRejection>,
) -> Result<Response, FeedError> {
    let url = target(&q)?;
    // No `Range` support (the raw proxy answers whole bodies, without
    // `Accept-Ranges`), so compressing never has to reconcile with byte ranges.
    let raw = st.service.raw_encoded(&url, negotiate(&headers)).await?;
    let mut resp = match &raw.body {
        RawContent::Identity(bytes) => Response::new(Body::from(bytes.clone())),
        RawContent::Gzip(d) => {
            let mut r = Response::new(Body::new(ChunkedBody::new(d.gzip_chunks(b""))));
            gzip_encoded(&mut r);
            r
        }
    };
    vary(&mut resp);
    let h = resp.headers_mut();
    let ct = raw
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, ct);
    crate::media::never_run(h);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    meta_headers(
        &mut resp,
        raw.cache,
        raw.stale,
        &raw.final_url,
        &raw.content_hash,
    );
    Ok(resp)
}

// ---- Media, artwork, chapters, transcripts (issue 10, section 3) ----

/// `/proxy/media`: the origin's body streamed through, one byte range passed on.
async fn media_handler(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<UrlQuery>, QueryRejection>,
) -> Result<Response, FeedError> {
    let url = target(&q)?;
    // Range problems are refused before the origin is asked anything.
    let req = crate::media::MediaRequest::from_headers(&headers)?;
    let m = st.service.media(&url, &req).await?;
    let mut resp = Response::new(Body::from_stream(m.body));
    *resp.status_mut() = m.status;
    resp.headers_mut().extend(m.headers);
    if let Ok(v) = HeaderValue::from_str(&m.final_url) {
        resp.headers_mut().insert("x-skypod-final-url", v);
    }
    Ok(resp)
}

/// `/proxy/image`: artwork fitted into `size`×`size`, JPEG or (with alpha) WebP.
async fn image_handler(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<UrlQuery>, QueryRejection>,
) -> Result<Response, FeedError> {
    let url = target(&q)?;
    let Some(size) = q.as_ref().ok().and_then(|Query(q)| q.size) else {
        return Err(FeedError::BadRequest(format!(
            "missing size parameter (one of {:?})",
            crate::artwork::SIZES
        )));
    };
    let served = st.service.image(&url, size).await?;
    // The bytes depend only on the source bytes and the size.
    let etag = format!(
        "\"{}-{size}\"",
        &served.content_hash[..16.min(served.content_hash.len())]
    );
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(served.value.bytes.clone()))
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(served.value.content_type),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Artwork URLs rarely change their bytes; a month, revalidated by ETag.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=2592000"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    served_meta_headers(&mut resp, &served);
    Ok(resp)
}

/// `/proxy/chapters`: `{chapters: [{start, end, title, image, url, toc}], source, skipped, …meta}`.
async fn chapters_handler(
    State(st): State<AppState>,
    q: Result<Query<UrlQuery>, QueryRejection>,
) -> Result<Response, FeedError> {
    let url = target(&q)?;
    Ok(served_json_response(st.service.chapters_json(&url).await?))
}

json_endpoint!(transcript_handler, transcript_json_encoded);

// ---- end of issue 10 section 3 block ----

#[derive(Deserialize)]
struct DirectoryQuery {
    q: Option<String>,
}

/// `/proxy/directory?q=<name>`: podcasts found by the operator's directory (JSON
/// [`crate::directory::DirectoryAnswer`]); 503 when directory search is switched off.
async fn directory_handler(
    State(st): State<AppState>,
    q: Result<Query<DirectoryQuery>, QueryRejection>,
) -> Result<Response, FeedError> {
    let Query(q) = q.map_err(|e| FeedError::BadRequest(e.body_text()))?;
    let Some(text) = q.q else {
        return Err(FeedError::BadRequest("missing q parameter".into()));
    };
    let answer = st.directory.search(&text).await?;
    let mut resp = axum::Json(answer).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=600"),
    );
    Ok(resp)
}

/// Build the proxy router (routes under `/proxy/`). Mount it with
/// `Router::merge` (or `nest` with your own prefix).
pub fn router(service: FeedService, auth: Arc<dyn ProxyAuth>, limits: RateLimitConfig) -> Router {
    let directory = Directory::new(
        service.config().directory.clone(),
        service.config().fetch.clone(),
    )
    .unwrap_or_else(|e| {
        tracing::warn!(error = %e, "podcast directory switched off");
        Directory::new(DirectoryConfig::None, service.config().fetch.clone())
            .expect("no fetcher is built without a directory")
    });
    let state = AppState {
        service,
        auth,
        limiter: Arc::new(RateLimiter::new(limits)),
        directory: Arc::new(directory),
    };
    Router::new()
        .route("/proxy/raw", get(raw_handler).options(|| async {}))
        .route("/proxy/feed", get(feed_handler).options(|| async {}))
        .route("/proxy/reader", get(reader_handler).options(|| async {}))
        .route("/proxy/title", get(title_handler).options(|| async {}))
        .route("/proxy/silence", get(silence_handler).options(|| async {}))
        .route(
            "/proxy/directory",
            get(directory_handler).options(|| async {}),
        )
        .route("/proxy/media", get(media_handler).options(|| async {}))
        .route("/proxy/image", get(image_handler).options(|| async {}))
        .route(
            "/proxy/chapters",
            get(chapters_handler).options(|| async {}),
        )
        .route(
            "/proxy/transcript",
            get(transcript_handler).options(|| async {}),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn token_bucket() {
        let rl = RateLimiter::new(RateLimitConfig {
            burst: 3,
            per_second: 1.0,
        });
        let t0 = Instant::now();
        assert!(rl.check_at("a", t0).is_ok());
        assert!(rl.check_at("a", t0).is_ok());
        assert!(rl.check_at("a", t0).is_ok());
        assert_eq!(rl.check_at("a", t0), Err(1));
        assert!(rl.check_at("b", t0).is_ok(), "buckets are per identity");
        assert!(rl.check_at("a", t0 + Duration::from_millis(1100)).is_ok());
        assert!(rl.check_at("a", t0 + Duration::from_millis(1200)).is_err());
    }

    #[test]
    fn spliced_body_equals_serialised_served() {
        use crate::service::TitlePayload;
        let cases: Vec<serde_json::Value> = vec![
            serde_json::json!({"title": "A \"quoted\" title", "episodes": [1, 2]}),
            serde_json::json!({}),
            serde_json::to_value(TitlePayload { title: None }).expect("json"),
        ];
        for (i, payload) in cases.into_iter().enumerate() {
            fn served<T>(value: T, i: usize) -> Served<T> {
                Served {
                    value,
                    final_url: format!("http://example.com/{i}?a=\"b\""),
                    content_hash: "ab".repeat(32),
                    cache: if i == 1 {
                        CacheStatus::Stale
                    } else {
                        CacheStatus::Hit
                    },
                    stale: i == 1,
                }
            }
            let expected = serde_json::to_value(served(payload.clone(), i)).expect("served");
            let bytes = Bytes::from(serde_json::to_vec(&payload).expect("payload"));
            let s = served(bytes, i);
            let mut spliced = splice_prefix(&s, &s.value).expect("splice");
            spliced.extend_from_slice(&s.value[1..]);
            let got: serde_json::Value = serde_json::from_slice(&spliced).expect("valid JSON");
            assert_eq!(got, expected);
        }
        let not_object = Served {
            value: Bytes::from_static(b"[1]"),
            final_url: String::new(),
            content_hash: String::new(),
            cache: CacheStatus::Hit,
            stale: false,
        };
        assert!(splice_prefix(&not_object, &not_object.value).is_err());
    }

    #[test]
    fn error_statuses() {
        assert_eq!(FeedError::Unauthorized("x".into()).status(), 401);
        assert_eq!(FeedError::Timeout.status(), 504);
        assert_eq!(FeedError::TooLarge(1).status(), 413);
        assert_eq!(
            FeedError::Forbidden {
                host: "h".into(),
                addr: "10.0.0.1".parse().expect("ip")
            }
            .status(),
            403
        );
    }
}
