//! Compressed responses without compressing on every hit.
//!
//! A memoised payload is deflated once (off the async workers) and kept with its
//! CRC-32. A response is then assembled per request as a gzip member (RFC 1952)
//! around that stored deflate stream: the gzip header, the per-request prefix (e.g.
//! the spliced `final_url`/`cache`/`stale` fields) as *stored* (uncompressed)
//! deflate blocks, the memoised deflate stream, and a trailer whose CRC is the
//! prefix's CRC combined with the stored one. Stored blocks end on a byte boundary
//! and the memoised stream's back-references never reach before its own start, so
//! the concatenation is one valid deflate stream. So the per-request fields never
//! enter a memo key (a stale response cannot come from a fresh one's bytes) and
//! one compressed copy per body serves every variant.
//!
//! Not tower-http's `CompressionLayer`: it compresses each response as it streams,
//! which is the per-hit work this module exists to avoid.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use flate2::Crc;
use http::HeaderMap;
use http::header::ACCEPT_ENCODING;
use http_body::{Frame, SizeHint};

/// Bodies smaller than this are sent as they are: gzip saves little and costs a
/// header, a trailer and a CPU pass on the client.
pub const MIN_COMPRESS_BYTES: usize = 1024;

/// zlib level for memoised bodies: compressed once, served many times.
pub const GZIP_LEVEL: u32 = 6;

/// The content coding chosen for a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// No content coding.
    Identity,
    /// `Content-Encoding: gzip`.
    Gzip,
}

/// A qvalue (RFC 9110 §12.4.2) in thousandths: `0`, `0.5`, `1.000`; anything
/// else (`2`, `0.5555`, `abc`, `-1`) is malformed.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Pick the response coding from the request's `Accept-Encoding` (every header
/// line). Absent or empty: identity. `gzip` (or `x-gzip`) is used when its qvalue
/// — its own, else that of `*` — is above zero and not below an explicit
/// `identity` qvalue; ties go to gzip. A malformed element is ignored.
pub fn negotiate(headers: &HeaderMap) -> Coding {
    let (mut gzip, mut star, mut identity) = (None::<u16>, None::<u16>, None::<u16>);
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for element in value.split(',') {
            let mut parts = element.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if coding.is_empty() {
                continue;
            }
            let mut q = Some(1000);
            for param in parts {
                let Some((name, v)) = param.split_once('=') else {
                    continue;
                };
                if name.trim().eq_ignore_ascii_case("q") {
                    q = qvalue(v.trim());
                }
            }
            let Some(q) = q else { continue };
            let slot = match coding.as_str() {
                "gzip" | "x-gzip" => &mut gzip,
                "identity" => &mut identity,
                "*" => &mut star,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
    }
    let gzip = gzip.or(star).unwrap_or(0);
    if gzip > 0 && gzip >= identity.unwrap_or(0) {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// A complete raw deflate stream (last block final) of some bytes, with their CRC-32.
#[derive(Debug)]
pub struct Deflated {
    /// Raw deflate data (RFC 1951).
    pub data: Bytes,
    crc: Crc,
    len: u64,
}

impl Deflated {
    /// Deflate `input`. CPU-heavy for large inputs: call from a blocking thread.
    pub fn compress(input: &[u8], level: u32) -> Self {
        let mut enc = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(input.len() / 4 + 64),
            flate2::Compression::new(level),
        );
        // Writing into a Vec cannot fail.
        let data = enc
            .write_all(input)
            .and_then(|()| enc.finish())
            .unwrap_or_default();
        let mut crc = Crc::new();
        crc.update(input);
        Self {
            data: Bytes::from(data),
            crc,
            len: input.len() as u64,
        }
    }

    /// Length of the uncompressed input.
    pub fn input_len(&self) -> u64 {
        self.len
    }

    /// Whether the compressed form is small enough to be worth serving.
    pub fn worth_it(&self) -> bool {
        (self.data.len() as u64) < self.len - self.len / 10
    }

    /// The gzip member for `prefix` followed by the deflated bytes, as chunks to
    /// send in order (the large one is shared, not copied).
    pub fn gzip_chunks(&self, prefix: &[u8]) -> Vec<Bytes> {
        // Header: magic, CM=deflate, no flags, MTIME=0, XFL=0, OS=255 (unknown).
        let mut head =
            BytesMut::with_capacity(10 + prefix.len() + 5 * prefix.len().div_ceil(0xffff));
        head.put_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        for chunk in prefix.chunks(0xffff) {
            // Stored block, BFINAL=0, BTYPE=00; the rest of the byte is padding.
            let len = chunk.len() as u16;
            head.put_u8(0);
            head.put_u16_le(len);
            head.put_u16_le(!len);
            head.put_slice(chunk);
        }
        let mut crc = Crc::new();
        crc.update(prefix);
        crc.combine(&self.crc);
        let mut tail = BytesMut::with_capacity(8);
        tail.put_u32_le(crc.sum());
        // ISIZE is the input size modulo 2^32.
        tail.put_u32_le((prefix.len() as u64 + self.len) as u32);
        vec![head.freeze(), self.data.clone(), tail.freeze()]
    }
}

/// The media type of a `Content-Type` value without its parameters, lowercased
/// (`Text/HTML; charset=utf-8` → `text/html`).
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether a raw upstream body of this media type is worth compressing (text,
/// XML, JSON, JavaScript, SVG); audio, images, archives are compressed already.
pub fn compressible(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type.map(media_type) else {
        return false;
    };
    let Some((top, sub)) = ct.split_once('/') else {
        return false;
    };
    top == "text"
        || (top == "application"
            && matches!(
                sub,
                "xml" | "json" | "javascript" | "ecmascript" | "xhtml+xml" | "feed+json"
            ))
        || sub.ends_with("+xml")
        || sub.ends_with("+json")
}

/// A response body sent as a few shared chunks with an exact length (so hyper
/// sets `Content-Length` and writes them without joining them first).
#[derive(Debug, Default)]
pub struct ChunkedBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl ChunkedBody {
    /// A body of `chunks` in order (empty chunks are dropped).
    pub fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Self { chunks, remaining }
    }
}

impl http_body::Body for ChunkedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.chunks.pop_front();
        if let Some(c) = &next {
            self.remaining -= c.len() as u64;
        }
        Poll::Ready(next.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn coding(values: &[&str]) -> Coding {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(ACCEPT_ENCODING, v.parse().expect("header value"));
        }
        negotiate(&h)
    }

    #[test]
    fn accept_encoding_negotiation() {
        use Coding::{Gzip, Identity};
        let cases: &[(&[&str], Coding)] = &[
            (&[], Identity),
            (&[""], Identity),
            (&["identity"], Identity),
            (&["gzip, deflate, br"], Gzip),
            (&["GZIP"], Gzip),
            (&["x-gzip"], Gzip),
            (&["br, deflate"], Identity),
            (&["gzip;q=0"], Identity),
            (&["gzip; q=0.000"], Identity),
            (&["gzip;q=0.001"], Gzip),
            (&["*"], Gzip),
            (&["*;q=0"], Identity),
            (&["*, gzip;q=0"], Identity),
            (&["gzip;q=0, *"], Identity),
            (&["identity;q=1, gzip;q=0.5"], Identity),
            (&["identity;q=0.5, gzip;q=0.5"], Gzip),
            (&["identity;q=0, gzip;q=0.2"], Gzip),
            (&["br", "gzip"], Gzip),
            (&["gzip;q=2"], Identity),
            (&["gzip;q=0.5555"], Identity),
            (&["gzip;q=abc"], Identity),
            (&["gzip;q=1.001"], Identity),
            (&["gzip;q=1.000"], Gzip),
            (&["gzip;level=9;q=0.8"], Gzip),
            (&["gzip;q=0, gzip;q=0.7"], Gzip),
            (&[" , ;q=1, gzip"], Gzip),
        ];
        for (values, want) in cases {
            assert_eq!(coding(values), *want, "{values:?}");
        }
    }

    fn gunzip(chunks: &[Bytes]) -> Vec<u8> {
        let all: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(all.as_slice())
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn spliced_gzip_decodes_to_prefix_and_body() {
        let body: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}},").into_bytes())
            .collect();
        let d = Deflated::compress(&body, GZIP_LEVEL);
        assert!(d.worth_it());
        assert_eq!(d.input_len(), body.len() as u64);
        let long_prefix = vec![b'p'; 0xffff * 2 + 17]; // three stored blocks
        for prefix in [&b""[..], &b"{\"cache\":\"stale\","[..], &long_prefix[..]] {
            let got = gunzip(&d.gzip_chunks(prefix));
            let mut want = prefix.to_vec();
            want.extend_from_slice(&body);
            assert!(got == want, "prefix of {} bytes", prefix.len());
        }
        // The same stored deflate stream serves every prefix; a corrupt trailer is
        // caught by the decoder (so the CRC is really checked above).
        let mut chunks = d.gzip_chunks(b"x");
        let mut tail = chunks[2].to_vec();
        tail[0] ^= 1;
        chunks[2] = Bytes::from(tail);
        let all: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let mut out = Vec::new();
        assert!(
            flate2::read::GzDecoder::new(all.as_slice())
                .read_to_end(&mut out)
                .is_err()
        );
    }

    #[test]
    fn incompressible_input_is_not_worth_it() {
        // xorshift noise: deflate cannot shrink it.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..8192)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(!Deflated::compress(&noise, GZIP_LEVEL).worth_it());
    }

    #[test]
    fn compressible_media_types() {
        for ct in [
            "text/html; charset=utf-8",
            "application/rss+xml",
            "application/xml",
            "application/feed+json",
            "application/json",
            "image/svg+xml",
            "TEXT/PLAIN",
        ] {
            assert!(compressible(Some(ct)), "{ct}");
        }
        for ct in [
            "audio/mpeg",
            "image/jpeg",
            "application/octet-stream",
            "application/zip",
            "nonsense",
        ] {
            assert!(!compressible(Some(ct)), "{ct}");
        }
        assert!(!compressible(None));
    }

    #[test]
    fn chunked_body_has_exact_length() {
        use http_body::Body;
        let b = ChunkedBody::new([
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
        ]);
        assert_eq!(b.size_hint().exact(), Some(5));
        assert!(!b.is_end_stream());
        assert!(ChunkedBody::new([Bytes::new()]).is_end_stream());
    }
}
