//! The issue-10 endpoints end to end (`/proxy/media`, `/proxy/image`,
//! `/proxy/chapters`, `/proxy/transcript`, `/proxy/silence?loudness=true`): a
//! loopback origin with real byte-range support, the proxy router on another
//! loopback port, a reqwest client.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use skypod_feeds::http::RateLimitConfig;
use skypod_feeds::service::{FeedService, ServiceConfig};

const EPISODE_LEN: usize = 3 * 1024 * 1024 + 17;

/// Deterministic bytes, different at every offset within a period of 251.
fn episode() -> Vec<u8> {
    (0..EPISODE_LEN).map(|i| (i % 251) as u8).collect()
}

#[derive(Default)]
struct Origin {
    requests: AtomicUsize,
    last_range: std::sync::Mutex<Option<String>>,
    last_accept_encoding: std::sync::Mutex<Option<String>>,
    bytes_sent: AtomicUsize,
    /// Extra bodies served at `/gen/<name>` (made by the tests).
    generated: std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, String)>>,
}

async fn generated(
    State(o): State<Arc<Origin>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = o.generated.lock().expect("lock").get(&name).cloned();
    match found {
        Some((body, ct)) => serve_ranges(&o, &headers, body, &ct),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// An origin that serves single byte ranges the way enclosure CDNs do.
async fn ranged(State(o): State<Arc<Origin>>, headers: HeaderMap) -> Response {
    serve_ranges(&o, &headers, episode(), "audio/mpeg")
}

/// `body` with single-range support, counting requests and bytes sent.
fn serve_ranges(o: &Origin, headers: &HeaderMap, body: Vec<u8>, content_type: &str) -> Response {
    o.requests.fetch_add(1, Ordering::SeqCst);
    let get = |h| {
        headers
            .get(h)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    *o.last_range.lock().expect("lock") = get(header::RANGE);
    *o.last_accept_encoding.lock().expect("lock") = get(header::ACCEPT_ENCODING);
    let len = body.len() as u64;
    let common = [
        (header::CONTENT_TYPE, content_type.to_string()),
        (header::ACCEPT_RANGES, "bytes".to_string()),
        (header::ETAG, "\"ep1\"".to_string()),
        (header::CACHE_CONTROL, "max-age=3600".to_string()),
    ];
    let Some(range) = get(header::RANGE) else {
        o.bytes_sent.fetch_add(body.len(), Ordering::SeqCst);
        return (common, body).into_response();
    };
    let spec = range
        .strip_prefix("bytes=")
        .expect("proxy sends byte ranges");
    let (a, b) = spec.split_once('-').expect("one range");
    let (start, end) = match (a, b) {
        ("", n) => (len - n.parse::<u64>().expect("n").min(len), len - 1),
        (a, "") => (a.parse().expect("a"), len - 1),
        (a, b) => (
            a.parse().expect("a"),
            b.parse::<u64>().expect("b").min(len - 1),
        ),
    };
    if start >= len {
        return (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{len}"))],
        )
            .into_response();
    }
    let part = body[start as usize..=end as usize].to_vec();
    o.bytes_sent.fetch_add(part.len(), Ordering::SeqCst);
    (
        StatusCode::PARTIAL_CONTENT,
        common,
        [(header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}"))],
        part,
    )
        .into_response()
}

/// Test data files (`/t/<dir>/<file>`), with byte ranges and a type from the extension.
async fn testdata_file(
    State(o): State<Arc<Origin>>,
    axum::extract::Path(path): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if path.contains("..") {
        return StatusCode::FORBIDDEN.into_response();
    }
    let ct = match path.rsplit('.').next().unwrap_or("") {
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "ogg" | "opus" => "audio/ogg",
        "json" => "application/json",
        "vtt" => "text/vtt",
        "srt" => "application/x-subrip",
        "html" => "text/html",
        _ => "application/octet-stream",
    };
    serve_ranges(&o, &headers, common::testdata(&path), ct)
}

/// An endless body (a "live stream"): ends only at the proxy's byte cap.
async fn endless() -> Response {
    let chunk = bytes::Bytes::from(vec![7u8; 64 * 1024]);
    let stream = futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
    (
        [(header::CONTENT_TYPE, "audio/mpeg")],
        Body::from_stream(stream),
    )
        .into_response()
}

struct Setup {
    service: FeedService,
    proxy: String,
    origin: String,
    state: Arc<Origin>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let state = Arc::new(Origin::default());
    let app = Router::new()
        .route("/ep.mp3", get(ranged))
        .route(
            "/no-ranges.mp3",
            get(|| async { ([(header::CONTENT_TYPE, "audio/mpeg")], episode()) }),
        )
        .route(
            "/page.html",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/html")],
                    "<script>alert(1)</script>",
                )
            }),
        )
        .route("/live.mp3", get(endless))
        .route("/gone.mp3", get(|| async { StatusCode::NOT_FOUND }))
        .route("/t/{*path}", get(testdata_file))
        .route("/gen/{name}", get(generated))
        .route(
            "/hop.mp3",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ep.mp3")]) }),
        )
        .with_state(state.clone());
    let origin = common::serve(app).await;

    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = ServiceConfig::new(dir.path());
    cfg.fetch = common::test_fetch_config();
    cfg.max_media_bytes = 8 * 1024 * 1024;
    let service = FeedService::new(cfg).await.expect("service");
    let app = skypod_feeds::http::router(
        service.clone(),
        Arc::new(common::TestAuth),
        RateLimitConfig {
            burst: 1000,
            per_second: 1000.0,
        },
    );
    let proxy = common::serve(app).await;
    Setup {
        service,
        proxy,
        origin,
        state,
        client: skypod_feeds::fetch::http_client()
            .no_proxy()
            .build()
            .expect("client"),
        _dir: dir,
    }
}

impl Setup {
    fn media(&self, path: &str) -> reqwest::RequestBuilder {
        self.endpoint("media", path)
    }

    /// `/proxy/media` for one byte range of `path`.
    fn media_range(&self, path: &str, range: &str) -> reqwest::RequestBuilder {
        self.media(path).header("range", range)
    }

    /// `/proxy/image`: `path` fitted into `size`.
    fn image(&self, path: &str, size: &str) -> reqwest::RequestBuilder {
        self.endpoint("image", path).query(&[("size", size)])
    }

    /// `/proxy/silence` for `path`, with loudness measured too.
    fn silence_with_loudness(&self, path: &str) -> reqwest::RequestBuilder {
        self.endpoint("silence", path)
            .query(&[("loudness", "true")])
    }

    fn endpoint(&self, endpoint: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}/proxy/{endpoint}", self.proxy))
            .query(&[("url", format!("{}{path}", self.origin))])
            .bearer_auth("good")
    }

    fn generate(&self, name: &str, body: Vec<u8>, content_type: &str) {
        self.state
            .generated
            .lock()
            .expect("lock")
            .insert(name.into(), (body, content_type.into()));
    }

    async fn json(&self, req: reqwest::RequestBuilder) -> (u16, HeaderMap, Value) {
        let r = req.send().await.expect("send");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.json().await.expect("json"))
    }
}

async fn send(req: reqwest::RequestBuilder) -> reqwest::Response {
    req.send().await.expect("send")
}

#[tokio::test]
async fn streams_whole_body_and_ranges() {
    let s = setup().await;
    let whole = episode();

    let r = send(s.media("/ep.mp3")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/mpeg");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.headers()["content-length"], EPISODE_LEN.to_string());
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let expose = common::header_text(&r, "access-control-expose-headers");
    for h in ["Content-Range", "Content-Length", "Accept-Ranges"] {
        assert!(expose.contains(h), "{h} exposed to scripts: {expose}");
    }
    assert_eq!(
        s.state
            .last_accept_encoding
            .lock()
            .expect("lock")
            .as_deref(),
        Some("identity")
    );
    assert_eq!(r.bytes().await.expect("body").as_ref(), whole.as_slice());

    for (range, start, end) in [
        ("bytes=100-1099", 100usize, 1099usize),
        ("bytes=3145000-", 3_145_000, EPISODE_LEN - 1),
        ("bytes=-500", EPISODE_LEN - 500, EPISODE_LEN - 1),
    ] {
        let r = send(s.media_range("/ep.mp3", range)).await;
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            r.headers()["content-range"],
            format!("bytes {start}-{end}/{EPISODE_LEN}")
        );
        assert_eq!(r.headers()["content-length"], (end - start + 1).to_string());
        assert_eq!(
            s.state.last_range.lock().expect("lock").as_deref(),
            Some(range)
        );
        assert_eq!(r.bytes().await.expect("body").as_ref(), &whole[start..=end]);
    }

    // Redirects are followed (guarded on every hop) and the final URL reported.
    let r = send(s.media_range("/hop.mp3", "bytes=0-9")).await;
    assert_eq!(r.status(), 206);
    assert!(common::header_text(&r, "x-skypod-final-url").ends_with("/ep.mp3"));
    assert_eq!(r.bytes().await.expect("body").as_ref(), &whole[..10]);
}

#[tokio::test]
async fn origin_without_ranges_gets_a_whole_body() {
    let s = setup().await;
    let r = send(s.media_range("/no-ranges.mp3", "bytes=10-19")).await;
    // The origin ignored the range: the client sees that (200, no Content-Range).
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["accept-ranges"], "none");
    assert!(r.headers().get("content-range").is_none());
    assert_eq!(r.bytes().await.expect("body").len(), EPISODE_LEN);
}

async fn error_of(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.expect("json error");
    assert_eq!(v["status"], status);
    (status, v["message"].as_str().expect("message").to_owned())
}

#[tokio::test]
async fn range_abuse_is_refused_before_the_origin() {
    let s = setup().await;
    let thousands = format!(
        "bytes={}",
        (0..3000)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (range, want) in [
        ("bytes=0-99,50-149", 416),
        ("bytes=500-100", 416),
        ("bytes=0-1,2-3,4-5", 416),
        ("lines=0-5", 416),
        ("bytes=x-y", 400),
        (thousands.as_str(), 400),
    ] {
        let r = send(s.media_range("/ep.mp3", range)).await;
        let (status, message) = error_of(r).await;
        assert_eq!(status, want, "{range}: {message}");
        assert!(
            message.contains("range") || message.contains("Range"),
            "{message}"
        );
    }
    assert_eq!(
        s.state.requests.load(Ordering::SeqCst),
        0,
        "origin never asked"
    );

    // Past the end: the origin's 416 comes back as JSON with its length.
    let r = send(s.media_range("/ep.mp3", "bytes=99999999-")).await;
    let (status, message) = error_of(r).await;
    assert_eq!(status, 416);
    assert!(message.contains(&format!("*/{EPISODE_LEN}")), "{message}");
}

#[tokio::test]
async fn refuses_non_media_missing_and_endless_bodies() {
    let s = setup().await;
    let (status, message) = error_of(send(s.media("/page.html")).await).await;
    assert_eq!(status, 415, "{message}");
    assert!(message.contains("text/html"));

    let (status, _) = error_of(send(s.media("/gone.mp3")).await).await;
    assert_eq!(status, 502);

    // Without a token: 401, origin untouched.
    let no_token = s
        .client
        .get(format!("{}/proxy/media", s.proxy))
        .query(&[("url", format!("{}/ep.mp3", s.origin))]);
    assert_eq!(send(no_token).await.status(), 401);

    // SSRF guard: private addresses are refused (nothing is sent there).
    let private = s
        .client
        .get(format!("{}/proxy/media", s.proxy))
        .query(&[("url", "http://10.0.0.1/ep.mp3")])
        .bearer_auth("good");
    assert_eq!(error_of(send(private).await).await.0, 403);

    // An endless body is cut at the byte cap (8 MiB here): the stream ends in
    // an error after at most the cap, it does not run forever.
    let r = send(s.media("/live.mp3")).await;
    assert_eq!(r.status(), 200);
    let mut got = 0usize;
    let mut r = r;
    let mut failed = false;
    loop {
        match r.chunk().await {
            Ok(Some(c)) => got += c.len(),
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a capped stream is not reported complete");
    assert!(got <= 8 * 1024 * 1024, "{got} bytes passed the cap");
    assert!(got >= 7 * 1024 * 1024, "{got} bytes: cut too early");
}

#[tokio::test]
async fn preflight_allows_range_headers() {
    let s = setup().await;
    let r = common::preflight(&s.client, format!("{}/proxy/media", s.proxy)).await;
    let allowed = common::header_text(&r, "access-control-allow-headers");
    assert!(allowed.contains("Range") && allowed.contains("Authorization"));
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 40])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

#[tokio::test]
async fn image_resized_cached_and_refused() {
    let s = setup().await;
    s.generate("art.png", png(1000, 800), "image/png");
    let r = send(s.image("/gen/art.png", "256")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert!(common::header_text(&r, "cache-control").contains("max-age=2592000"));
    let etag = common::header_text(&r, "etag").to_owned();
    let img = image::load_from_memory(&r.bytes().await.expect("body")).expect("a JPEG");
    assert_eq!((img.width(), img.height()), (256, 205));
    assert_eq!(s.service.image_resizes_run(), 1);

    // Same source, same size: served from memory; another size: one more resize.
    let r = send(s.image("/gen/art.png", "256")).await;
    assert_eq!(r.headers()["x-skypod-cache"], "hit");
    assert_eq!(s.service.image_resizes_run(), 1);
    let r = send(
        s.image("/gen/art.png", "256")
            .header("if-none-match", &etag),
    )
    .await;
    assert_eq!(r.status(), 304);
    let r = send(s.image("/gen/art.png", "96")).await;
    let img = image::load_from_memory(&r.bytes().await.expect("body")).expect("decodes");
    assert_eq!((img.width(), img.height()), (96, 77));
    assert_eq!(s.service.image_resizes_run(), 2);

    // Bad sizes, non-images, bombs: clear JSON errors.
    let (st, _, v) = s.json(s.image("/gen/art.png", "100")).await;
    assert_eq!((st, v["status"].as_u64()), (400, Some(400)));
    let (st, _, _) = s.json(s.endpoint("image", "/gen/art.png")).await;
    assert_eq!(st, 400, "size is required");
    let (st, _, v) = s.json(s.image("/t/transcripts/episode.html", "96")).await;
    assert_eq!(st, 415, "{v}");
    // A valid PNG header (CRC fixed) claiming 60000×60000 pixels, no data.
    let mut bomb = png(1, 1);
    bomb[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    s.generate("bomb.png", bomb, "image/png");
    let (st, _, v) = s.json(s.image("/gen/bomb.png", "96")).await;
    assert_eq!(st, 413, "{v}");
    assert!(
        v["message"].as_str().expect("message").contains("pixel"),
        "{v}"
    );
}

#[tokio::test]
async fn chapters_from_json_id3_and_mp4() {
    let s = setup().await;
    let (st, h, v) = s
        .json(s.endpoint("chapters", "/t/chapters/chapters.json"))
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["source"], "podcast-json");
    assert_eq!(v["chapters"][0]["title"], "Intro");
    assert_eq!(v["chapters"][0]["end"], 62.5);
    assert_eq!(v["cache"], "miss");
    assert_eq!(h["x-skypod-cache"], "miss");

    let (st, _, v) = s.json(s.endpoint("chapters", "/t/chapters/ch.mp3")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["source"], "id3");
    let titles: Vec<&str> = v["chapters"]
        .as_array()
        .expect("chapters")
        .iter()
        .map(|c| c["title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, ["Intro", "Main topic", "Outro é"]);
    assert_eq!(v["chapters"][1]["start"], 2.0);
    assert_eq!(v["chapters"][1]["end"], 4.5);
    assert_eq!(
        s.state.last_range.lock().expect("lock").as_deref(),
        Some("bytes=0-262143"),
        "the audio file's head is read with a range"
    );

    let before = s.state.requests.load(Ordering::SeqCst);
    let (_, _, again) = s.json(s.endpoint("chapters", "/t/chapters/ch.mp3")).await;
    assert_eq!(again["cache"], "hit");
    assert_eq!(
        s.state.requests.load(Ordering::SeqCst),
        before,
        "no origin request on a hit"
    );

    // moov after mdat: found by walking box headers with ranges.
    let (st, _, v) = s.json(s.endpoint("chapters", "/t/chapters/ch.m4a")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["source"], "mp4-chpl");
    assert_eq!(v["chapters"].as_array().expect("chapters").len(), 3);

    // A 40 MB MP3 with chapters at its head: only the head crosses the network.
    let mut big = common::testdata("chapters/ch.mp3");
    big.resize(40 * 1024 * 1024, 0);
    s.generate("big.mp3", big, "audio/mpeg");
    let sent = s.state.bytes_sent.load(Ordering::SeqCst);
    let (st, _, v) = s.json(s.endpoint("chapters", "/gen/big.mp3")).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["chapters"].as_array().expect("chapters").len(), 3);
    let read = s.state.bytes_sent.load(Ordering::SeqCst) - sent;
    assert!(read <= 256 * 1024, "{read} bytes read for the chapters");

    let (st, _, v) = s
        .json(s.endpoint("chapters", "/t/transcripts/episode.html"))
        .await;
    assert_eq!(st, 415, "{v}");
    let endless = format!(
        "{{\"chapters\":[{}]}}",
        std::iter::repeat_n(r#"{"startTime":1,"title":"x"}"#, 5000)
            .collect::<Vec<_>>()
            .join(",")
    );
    s.generate("endless.json", endless.into_bytes(), "application/json");
    let (st, _, v) = s.json(s.endpoint("chapters", "/gen/endless.json")).await;
    assert_eq!(st, 413, "{v}");
}

#[tokio::test]
async fn transcripts_in_every_format() {
    let s = setup().await;
    for (file, format) in [
        ("episode.vtt", "vtt"),
        ("episode.srt", "srt"),
        ("episode.json", "json"),
        ("episode.html", "html"),
    ] {
        let (st, _, v) = s
            .json(s.endpoint("transcript", &format!("/t/transcripts/{file}")))
            .await;
        assert_eq!(st, 200, "{file}: {v}");
        assert_eq!(v["format"], format);
        assert_eq!(v["cues"].as_array().expect("cues").len(), 3, "{file}");
        assert_eq!(v["cues"][1]["text"], "Thanks for having me.");
        assert_eq!(v["cues"][1]["start"], 3.25);
        assert!(v["content_hash"].as_str().is_some());
    }
    // Over the body cap (1 MiB in these tests): refused, nothing parsed.
    s.generate("huge.vtt", vec![b'a'; 3 * 1024 * 1024], "text/vtt");
    let (st, _, v) = s.json(s.endpoint("transcript", "/gen/huge.vtt")).await;
    assert_eq!(st, 413, "{v}");
}

#[tokio::test]
async fn silence_with_loudness_and_trim_levels() {
    let s = setup().await;
    let expected: Value =
        serde_json::from_slice(&common::testdata("audio/loudness.expected.json")).expect("json");
    let (st, _, v) = s.json(s.silence_with_loudness("/t/audio/pauses.mp3")).await;
    assert_eq!(st, 200, "{v}");
    let lufs = v["loudness"]["integrated_lufs"].as_f64().expect("lufs");
    let want = expected["pauses.mp3"]["integrated_lufs"]
        .as_f64()
        .expect("want");
    assert!((lufs - want).abs() <= 0.5, "{lufs} vs ffmpeg {want}");
    assert_eq!(v["silences"].as_array().expect("silences").len(), 2);
    assert_eq!(s.service.silence_jobs_started(), 1);

    // Cached per parameter set: the same request again runs nothing; without
    // loudness it is answered from the stored map (no loudness field).
    let (_, _, again) = s.json(s.silence_with_loudness("/t/audio/pauses.mp3")).await;
    assert_eq!(again["loudness"], v["loudness"]);
    let (_, _, plain) = s.json(s.endpoint("silence", "/t/audio/pauses.mp3")).await;
    assert!(plain.get("loudness").is_none());
    assert_eq!(s.service.silence_jobs_started(), 1);

    // Trim levels: −42 dBFS, 80 ms minimum; a new analysis, then cached.
    let trim = [("threshold_db", "-42"), ("min_silence", "0.08")];
    let (st, _, t) = s
        .json(s.endpoint("silence", "/t/audio/pauses.mp3").query(&trim))
        .await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["params"]["min_silence"], 0.08);
    assert_eq!(s.service.silence_jobs_started(), 2);
    let _ = s
        .json(s.endpoint("silence", "/t/audio/pauses.mp3").query(&trim))
        .await;
    assert_eq!(s.service.silence_jobs_started(), 2);

    // Ogg Opus through libopus.
    let (st, _, o) = s
        .json(s.silence_with_loudness("/t/audio/pauses.opus"))
        .await;
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["sample_rate"], 48000);
    assert_eq!(o["silences"].as_array().expect("silences").len(), 2);
    assert!(o["loudness"]["integrated_lufs"].as_f64().is_some());

    // The same Opus in WebM: the same map and loudness.
    let (st, _, w) = s
        .json(s.silence_with_loudness("/t/audio/pauses.webm"))
        .await;
    assert_eq!(st, 200, "{w}");
    assert_eq!(w["silences"], o["silences"]);
    assert_eq!(w["loudness"], o["loudness"]);
}
