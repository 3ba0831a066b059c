//! `/proxy/media`: an enclosure streamed from its origin to the client, with one
//! byte range passed through (`Range`, `If-Range`, and the origin's `206`,
//! `Content-Range`, `Accept-Ranges`). Nothing is cached or buffered: each chunk
//! is pulled from the origin only when the client has taken the previous one,
//! so a 500 MB episode costs a few hundred KiB per download (see
//! docs/benchmarks-feeds.md).
//!
//! Only one range per request is served (what `<audio>`, download managers and
//! service workers send); several, reversed or malformed ranges are refused
//! before any origin request, so a hostile `Range` header costs nothing.

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use url::Url;

use crate::error::{FeedError, Result};
use crate::fetch::Fetcher;

/// Longest `Range` header looked at (a single range is under 50 bytes).
const MAX_RANGE_HEADER: usize = 256;

/// One byte range of a `Range: bytes=…` request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-last` (inclusive).
    Bounded(u64, u64),
    /// `first-` (to the end).
    From(u64),
    /// `-n` (the last n bytes).
    Suffix(u64),
}

impl ByteRange {
    fn header_value(self) -> String {
        match self {
            ByteRange::Bounded(a, b) => format!("bytes={a}-{b}"),
            ByteRange::From(a) => format!("bytes={a}-"),
            ByteRange::Suffix(n) => format!("bytes=-{n}"),
        }
    }
}

/// Parse a `Range` request header. Accepts exactly one byte range; everything
/// else is a clear refusal: malformed syntax is 400, several ranges, another
/// unit, a reversed range or an empty suffix is 416.
pub fn parse_range(value: &str) -> Result<ByteRange> {
    if value.len() > MAX_RANGE_HEADER {
        return Err(FeedError::BadRequest(format!(
            "Range header longer than {MAX_RANGE_HEADER} bytes"
        )));
    }
    let value = value.trim();
    let Some((unit, spec)) = value.split_once('=') else {
        return Err(FeedError::BadRequest("Range header without '='".into()));
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Err(FeedError::RangeNotSatisfiable(format!(
            "only byte ranges are served, not '{}'",
            unit.trim()
        )));
    }
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    if parts.len() > 1 {
        return Err(FeedError::RangeNotSatisfiable(format!(
            "only one byte range per request is served ({} given)",
            parts.len()
        )));
    }
    let part = parts[0];
    let num = |s: &str| -> Result<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FeedError::BadRequest(format!(
                "malformed byte range '{part}'"
            )));
        }
        s.parse::<u64>()
            .map_err(|_| FeedError::BadRequest(format!("byte range '{part}' out of bounds")))
    };
    let Some((first, last)) = part.split_once('-') else {
        return Err(FeedError::BadRequest(format!(
            "malformed byte range '{part}'"
        )));
    };
    match (first.trim(), last.trim()) {
        ("", n) => {
            let n = num(n)?;
            if n == 0 {
                return Err(FeedError::RangeNotSatisfiable(
                    "empty suffix range 'bytes=-0'".into(),
                ));
            }
            Ok(ByteRange::Suffix(n))
        }
        (a, "") => Ok(ByteRange::From(num(a)?)),
        (a, b) => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(FeedError::RangeNotSatisfiable(format!(
                    "reversed byte range {a}-{b}"
                )));
            }
            Ok(ByteRange::Bounded(a, b))
        }
    }
}

/// Whether the media proxy passes a body of this `Content-Type` on: audio,
/// video and the generic binary types enclosure hosts use. HTML, scripts, JSON
/// or images are refused, so the proxy is no general-purpose tunnel.
pub fn servable_media_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let mt = crate::encoding::media_type(ct);
    mt.starts_with("audio/")
        || mt.starts_with("video/")
        || matches!(
            mt.as_str(),
            "application/octet-stream"
                | "binary/octet-stream"
                | "application/ogg"
                | "application/mp4"
                | "application/x-mpegurl"
                | "application/vnd.apple.mpegurl"
                | "application/download"
                | "application/force-download"
                | "application/x-download"
                | ""
        )
}

/// Client request headers the media proxy forwards to the origin.
pub struct MediaRequest {
    /// The validated range, if the client asked for one.
    pub range: Option<ByteRange>,
    /// `If-Range`, `If-None-Match`, `If-Modified-Since` as the client sent them.
    pub conditionals: Vec<(HeaderName, HeaderValue)>,
}

impl MediaRequest {
    /// Read (and validate) the forwarded headers of a client request.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self> {
        let range = match headers.get(header::RANGE) {
            None => None,
            Some(v) => {
                let v = v
                    .to_str()
                    .map_err(|_| FeedError::BadRequest("Range header is not ASCII".into()))?;
                Some(parse_range(v)?)
            }
        };
        if headers.get_all(header::RANGE).iter().count() > 1 {
            return Err(FeedError::RangeNotSatisfiable(
                "only one Range header per request".into(),
            ));
        }
        let conditionals = [
            header::IF_RANGE,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
        ]
        .into_iter()
        .filter_map(|name| {
            let v = headers.get(&name)?;
            (v.len() <= 512).then(|| (name, v.clone()))
        })
        .collect();
        Ok(Self {
            range,
            conditionals,
        })
    }
}

/// An origin response being streamed to the client.
pub struct MediaStream {
    /// 200, 206 or 304 (as the origin answered).
    pub status: StatusCode,
    /// The headers to send: type, length, range, validators, caching.
    pub headers: HeaderMap,
    /// URL after redirects.
    pub final_url: String,
    /// The body, pulled from the origin as the client reads it.
    pub body: std::pin::Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>,
}

/// Origin response headers passed on to the client unchanged.
const PASSED_HEADERS: [HeaderName; 6] = [
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    header::ETAG,
    header::LAST_MODIFIED,
    header::CACHE_CONTROL,
    header::EXPIRES,
];

/// Request `url` from its origin (through the SSRF guard, redirects checked on
/// every hop) with the client's range, and hand back the response to stream.
pub async fn open(
    fetcher: &Fetcher,
    url: &Url,
    req: &MediaRequest,
    max_bytes: u64,
    timeout: std::time::Duration,
) -> Result<MediaStream> {
    let mut headers = HeaderMap::new();
    // Byte ranges address the stored representation: never let the origin compress it.
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    if let Some(r) = req.range {
        let v = HeaderValue::from_str(&r.header_value())
            .map_err(|e| FeedError::BadRequest(e.to_string()))?;
        headers.insert(header::RANGE, v);
    }
    for (name, value) in &req.conditionals {
        headers.insert(name.clone(), value.clone());
    }
    let up = fetcher
        .send_with_timeout(url, &headers, Some(timeout))
        .await?;
    let status = up.status;
    let final_url = up.final_url.to_string();
    match status {
        StatusCode::OK | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED => {}
        StatusCode::RANGE_NOT_SATISFIABLE => {
            let len = up
                .headers
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("unknown length")
                .to_owned();
            return Err(FeedError::RangeNotSatisfiable(format!(
                "the origin refused the range ({len})"
            )));
        }
        s => return Err(FeedError::UpstreamStatus(s.as_u16())),
    }
    let content_type = up
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if status != StatusCode::NOT_MODIFIED && !servable_media_type(content_type.as_deref()) {
        return Err(FeedError::UnsupportedMedia(format!(
            "{} is not audio or video",
            content_type.as_deref().unwrap_or("")
        )));
    }
    if up.headers.contains_key(header::CONTENT_ENCODING) {
        // Asked for identity; a compressed answer's ranges would not match the file.
        return Err(FeedError::UnsupportedMedia(
            "the origin sent a content-encoded body to an identity request".into(),
        ));
    }
    let mut out = HeaderMap::new();
    for name in PASSED_HEADERS {
        if let Some(v) = up.headers.get(&name) {
            out.insert(name, v.clone());
        }
    }
    out.insert(
        header::CONTENT_TYPE,
        content_type
            .as_deref()
            .filter(|ct| !crate::encoding::media_type(ct).is_empty())
            .and_then(|ct| HeaderValue::from_str(ct).ok())
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // Whether the origin serves ranges: it said so, or it just did.
    let ranges = status == StatusCode::PARTIAL_CONTENT
        || up
            .headers
            .get(header::ACCEPT_RANGES)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("bytes"));
    out.insert(
        header::ACCEPT_RANGES,
        HeaderValue::from_static(if ranges { "bytes" } else { "none" }),
    );
    if !out.contains_key(header::CACHE_CONTROL) {
        out.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, max-age=86400"),
        );
    }
    never_run(&mut out);
    tracing::debug!(%url, %final_url, status = status.as_u16(), range = ?req.range, "media stream");
    Ok(MediaStream {
        status,
        headers: out,
        final_url,
        body: Box::pin(up.into_stream(max_bytes)?),
    })
}

/// Foreign bytes served from our origin: the headers that keep a browser from running them
/// (no sniffing them into a script or a page, and a sandbox should it show them as one).
const NEVER_RUN: [(HeaderName, &str); 2] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (
        header::CONTENT_SECURITY_POLICY,
        "sandbox; default-src 'none'",
    ),
];

/// Sets [`NEVER_RUN`].
pub(crate) fn never_run(headers: &mut HeaderMap) {
    for (name, value) in NEVER_RUN {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(v: &str) -> u16 {
        parse_range(v).expect_err(v).status()
    }

    #[test]
    fn parses_single_ranges() {
        assert_eq!(parse_range("bytes=0-").ok(), Some(ByteRange::From(0)));
        assert_eq!(
            parse_range("bytes=100-199").ok(),
            Some(ByteRange::Bounded(100, 199))
        );
        assert_eq!(
            parse_range("Bytes= -500").ok(),
            Some(ByteRange::Suffix(500))
        );
        assert_eq!(
            parse_range("bytes=5-5").ok(),
            Some(ByteRange::Bounded(5, 5))
        );
    }

    #[test]
    fn refuses_range_abuse() {
        assert_eq!(status("bytes=500-100"), 416, "reversed");
        assert_eq!(status("bytes=0-99,50-149"), 416, "overlapping");
        assert_eq!(status("bytes=0-1,2-3"), 416, "several");
        assert_eq!(status("bytes=-0"), 416, "empty suffix");
        assert_eq!(status("items=0-1"), 416, "other unit");
        let thousands = format!(
            "bytes={}",
            std::iter::repeat_n("0-1", 3000)
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(status(&thousands), 400, "too long to look at");
        assert_eq!(status("bytes=0-1,2-3,4-5,6-7"), 416);
        for bad in [
            "bytes",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(status(bad), 400, "{bad}");
        }
    }

    #[test]
    fn media_types() {
        for ok in [
            None,
            Some("audio/mpeg"),
            Some("video/mp4; codecs=x"),
            Some("application/octet-stream"),
        ] {
            assert!(servable_media_type(ok), "{ok:?}");
        }
        for bad in [
            "text/html",
            "application/javascript",
            "image/svg+xml",
            "application/json",
        ] {
            assert!(!servable_media_type(Some(bad)), "{bad}");
        }
    }
}
