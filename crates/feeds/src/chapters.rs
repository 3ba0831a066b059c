//! `/proxy/chapters`: one chapter list from whatever a podcast ships —
//! `podcast:chapters` JSON (and Podlove's simple-chapters JSON array), ID3v2
//! `CHAP`/`CTOC` frames at the head of an MP3, or an MP4's Nero `chpl` box or
//! QuickTime chapter text track. The kind is detected from the bytes, not the
//! URL or `Content-Type`.
//!
//! Audio files are read with byte ranges through a [`RangeSource`]: the head
//! (256 KiB), then only what the chapters need — the rest of a large ID3 tag,
//! the `moov` box wherever it sits (walking the top-level box headers, never
//! the media data), and the chapter track's few text samples. Every read is
//! capped, and so is the chapter count, so hostile files cost bounded memory.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::{FeedError, Result};

mod id3_guard;

/// Bytes read first (a chapters JSON is usually all of it; an ID3 tag often).
pub const HEAD_BYTES: u64 = 256 * 1024;
/// Most chapters accepted (real episodes have dozens).
pub const MAX_CHAPTERS: usize = 2000;
/// Largest chapters JSON read.
pub const MAX_JSON_BYTES: u64 = 4 * 1024 * 1024;
/// Largest ID3v2 tag read (tags with per-chapter artwork reach a few MiB).
pub const MAX_ID3_BYTES: u64 = 16 * 1024 * 1024;
/// Largest `moov` box read (a 3-hour AAC episode's is ~2 MiB).
pub const MAX_MOOV_BYTES: u64 = 32 * 1024 * 1024;
/// Widest span of the file read for a chapter track's text samples.
const MAX_SAMPLE_SPAN: u64 = 1024 * 1024;
/// Top-level MP4 boxes walked looking for `moov`.
const MAX_TOP_LEVEL_BOXES: usize = 64;

/// One chapter. Times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chapter {
    /// Start.
    pub start: f64,
    /// End (the next chapter's start when the source gives none; `null` for a
    /// last chapter without one).
    pub end: Option<f64>,
    /// Title.
    pub title: Option<String>,
    /// Artwork URL (`null` for artwork embedded in the audio file).
    pub image: Option<String>,
    /// Link.
    pub url: Option<String>,
    /// `false` for a `podcast:chapters` entry marked `"toc": false` (artwork or
    /// a link that is not a jump target).
    pub toc: bool,
}

/// Where the chapters came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChapterSource {
    /// Podcasting 2.0 `podcast:chapters` JSON.
    PodcastJson,
    /// Podlove simple-chapters JSON array.
    PodloveJson,
    /// ID3v2 `CHAP` frames (those named by a `CTOC`, when there is one).
    Id3,
    /// MP4 Nero `chpl` box.
    Mp4Chpl,
    /// MP4 QuickTime chapter text track.
    Mp4Track,
}

/// The `/proxy/chapters` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChapterList {
    /// Chapters in start order.
    pub chapters: Vec<Chapter>,
    /// Source format.
    pub source: ChapterSource,
    /// Entries left out because they had no usable start time.
    pub skipped: usize,
}

/// Random access to the bytes behind a URL (HTTP ranges in the service, a
/// slice in tests and fuzzing). `read` returns up to `len` bytes from `start`
/// (fewer at the end of the file).
pub trait RangeSource: Send {
    /// Read a byte range.
    fn read(&mut self, start: u64, len: u64) -> BoxFuture<'_, Result<bytes::Bytes>>;
}

/// A [`RangeSource`] over bytes in memory.
pub struct SliceSource(pub bytes::Bytes);

impl RangeSource for SliceSource {
    fn read(&mut self, start: u64, len: u64) -> BoxFuture<'_, Result<bytes::Bytes>> {
        let total = self.0.len() as u64;
        let a = start.min(total) as usize;
        let b = start.saturating_add(len).min(total) as usize;
        let out = self.0.slice(a..b);
        Box::pin(async move { Ok(out) })
    }
}

fn too_many() -> FeedError {
    FeedError::OverLimit(format!("more than {MAX_CHAPTERS} chapters"))
}

/// Detect the format from the first bytes and extract the chapters.
pub async fn extract(src: &mut dyn RangeSource) -> Result<ChapterList> {
    let head = src.read(0, HEAD_BYTES).await?;
    let text_start = head
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(&head)
        .iter()
        .position(|b| !b.is_ascii_whitespace());
    let first = text_start.map(|i| {
        head.strip_prefix(b"\xEF\xBB\xBF".as_slice())
            .unwrap_or(&head)[i]
    });
    if matches!(first, Some(b'{') | Some(b'[')) {
        let json = if (head.len() as u64) < HEAD_BYTES {
            head
        } else {
            let all = src.read(0, MAX_JSON_BYTES + 1).await?;
            if all.len() as u64 > MAX_JSON_BYTES {
                return Err(FeedError::OverLimit(format!(
                    "chapters JSON larger than {MAX_JSON_BYTES} bytes"
                )));
            }
            all
        };
        return parse_json(&json);
    }
    if head.starts_with(b"ID3") {
        let len =
            id3_tag_len(&head).ok_or_else(|| FeedError::Parse("truncated ID3v2 header".into()))?;
        if len > MAX_ID3_BYTES {
            return Err(FeedError::OverLimit(format!(
                "ID3v2 tag of {len} bytes is over the {MAX_ID3_BYTES}-byte cap"
            )));
        }
        let tag = if len <= head.len() as u64 {
            head.slice(..len as usize)
        } else {
            src.read(0, len).await?
        };
        return parse_id3(&tag);
    }
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        return mp4_chapters(src, &head).await;
    }
    Err(FeedError::UnsupportedMedia(
        "not chapters JSON, an ID3-tagged MP3 or an MP4 file".into(),
    ))
}

/// Seconds from a JSON number or an `[[HH:]MM:]SS[.fff]` string.
fn json_time(v: &serde_json::Value) -> Option<f64> {
    let t = match v {
        serde_json::Value::Number(n) => n.as_f64()?,
        serde_json::Value::String(s) => {
            let mut total = 0.0;
            for part in s.trim().split(':') {
                let x: f64 = part.trim().parse().ok()?;
                total = total * 60.0 + x;
            }
            total
        }
        _ => return None,
    };
    (t.is_finite() && t >= 0.0).then_some(t)
}

fn json_str(v: Option<&serde_json::Value>) -> Option<String> {
    v.and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(2000).collect())
}

/// Fill missing ends with the next chapter's start, sort by start.
fn finish(mut chapters: Vec<Chapter>, source: ChapterSource, skipped: usize) -> ChapterList {
    chapters.sort_by(|a, b| a.start.total_cmp(&b.start));
    for i in 0..chapters.len() {
        let next = chapters.get(i + 1).map(|c| c.start);
        let c = &mut chapters[i];
        if c.end.is_none_or(|e| e < c.start) {
            c.end = next;
        }
    }
    ChapterList {
        chapters,
        source,
        skipped,
    }
}

/// `podcast:chapters` JSON (`{"version", "chapters": [{startTime, endTime, title,
/// img, url, toc}]}`) or a Podlove array (`[{start, title, href, image}]`).
pub fn parse_json(data: &[u8]) -> Result<ChapterList> {
    let v: serde_json::Value = serde_json::from_slice(data)
        .map_err(|e| FeedError::Parse(format!("chapters JSON: {e}")))?;
    let (items, source) = match &v {
        serde_json::Value::Array(a) => (a, ChapterSource::PodloveJson),
        serde_json::Value::Object(o) => match o.get("chapters") {
            Some(serde_json::Value::Array(a)) => (a, ChapterSource::PodcastJson),
            _ => {
                return Err(FeedError::Parse(
                    "chapters JSON without a \"chapters\" array".into(),
                ));
            }
        },
        _ => {
            return Err(FeedError::Parse(
                "chapters JSON is not an object or array".into(),
            ));
        }
    };
    if items.len() > MAX_CHAPTERS {
        return Err(too_many());
    }
    let mut skipped = 0;
    let mut chapters = Vec::with_capacity(items.len());
    for item in items {
        let start = item
            .get("startTime")
            .or_else(|| item.get("start"))
            .and_then(json_time);
        let Some(start) = start else {
            skipped += 1;
            continue;
        };
        chapters.push(Chapter {
            start,
            end: item.get("endTime").and_then(json_time),
            title: json_str(item.get("title")),
            image: json_str(item.get("img").or_else(|| item.get("image"))),
            url: json_str(item.get("url").or_else(|| item.get("href"))),
            toc: item.get("toc").and_then(|t| t.as_bool()).unwrap_or(true),
        });
    }
    Ok(finish(chapters, source, skipped))
}

/// Total length of the ID3v2 tag at the start of `head` (header, body, footer).
fn id3_tag_len(head: &[u8]) -> Option<u64> {
    let h = head.get(..10)?;
    let body = id3_guard::syncsafe(&h[6..10])? as u64;
    let footer = if h[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + body + footer)
}

/// ID3v2 `CHAP` frames (title from `TIT2`, link from `WXXX`/`W***`), those a
/// `CTOC` names when there are tables of contents.
pub fn parse_id3(tag: &[u8]) -> Result<ChapterList> {
    // Only the chapter frames, every size checked, reach the `id3` crate (id3_guard.rs).
    let tag = id3_guard::chapter_frames_only(tag)?;
    let tag = std::panic::catch_unwind(|| id3::Tag::read_from2(std::io::Cursor::new(&tag)))
        .map_err(|_| FeedError::Parse("ID3v2 tag: decoder panicked".into()))?
        .map_err(|e| FeedError::Parse(format!("ID3v2 tag: {e}")))?;
    let chaps: Vec<&id3::frame::Chapter> = tag.chapters().collect();
    if chaps.len() > MAX_CHAPTERS {
        return Err(too_many());
    }
    // With tables of contents, a CHAP no CTOC names is an orphan (not part of
    // the table, per the ID3 chapter addendum); the list is in start order.
    let order: Vec<String> = tag
        .tables_of_contents()
        .flat_map(|t| t.elements.iter().cloned())
        .collect();
    let mut chapters = Vec::with_capacity(chaps.len());
    let mut skipped = 0;
    for c in &chaps {
        if !order.is_empty() && !order.contains(&c.element_id) {
            skipped += 1;
            continue;
        }
        let mut title = None;
        let mut url = None;
        for f in &c.frames {
            match (f.id(), f.content()) {
                ("TIT2", content) => {
                    title = content
                        .text()
                        .map(|t| t.trim().to_owned())
                        .filter(|t| !t.is_empty())
                }
                (_, id3::Content::ExtendedLink(l)) if url.is_none() => url = Some(l.link.clone()),
                (_, id3::Content::Link(l)) if url.is_none() => url = Some(l.clone()),
                _ => {}
            }
        }
        let end = (c.end_time != u32::MAX && c.end_time > c.start_time)
            .then(|| f64::from(c.end_time) / 1000.0);
        chapters.push(Chapter {
            start: f64::from(c.start_time) / 1000.0,
            end,
            title,
            image: None,
            url: url.filter(|u| !u.trim().is_empty()),
            toc: true,
        });
    }
    Ok(finish(chapters, ChapterSource::Id3, skipped))
}

// ---- MP4 ----

/// The boxes in `data`: (type, body). Stops at the first malformed header.
pub(crate) fn boxes(data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut rest = data;
    std::iter::from_fn(move || {
        let (size, kind, hdr) = box_header(rest)?;
        let size = if size == 0 { rest.len() as u64 } else { size };
        if size < hdr || size > rest.len() as u64 {
            return None;
        }
        let body = &rest[hdr as usize..size as usize];
        rest = &rest[size as usize..];
        Some((kind, body))
    })
}

/// (size, type, header length) of the box at the start of `data`; size 0 means "to the end".
pub(crate) fn box_header(data: &[u8]) -> Option<(u64, [u8; 4], u64)> {
    let size = u32::from_be_bytes(data.get(0..4)?.try_into().ok()?);
    let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
    if size == 1 {
        let large = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
        Some((large, kind, 16))
    } else {
        Some((u64::from(size), kind, 8))
    }
}

pub(crate) fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, b)| b)
}

pub(crate) fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn be64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

async fn mp4_chapters(src: &mut dyn RangeSource, head: &[u8]) -> Result<ChapterList> {
    // Walk the top-level boxes to `moov`, reading only their headers.
    let mut offset = 0u64;
    let mut moov = None;
    for _ in 0..MAX_TOP_LEVEL_BOXES {
        let hdr = if offset.saturating_add(16) <= head.len() as u64 {
            bytes::Bytes::copy_from_slice(&head[offset as usize..offset as usize + 16])
        } else {
            src.read(offset, 16).await?
        };
        let Some((size, kind, hlen)) = box_header(&hdr) else {
            break;
        };
        if &kind == b"moov" {
            if size == 0 || size > MAX_MOOV_BYTES {
                return Err(FeedError::OverLimit(format!(
                    "moov box of {size} bytes is over the {MAX_MOOV_BYTES}-byte cap"
                )));
            }
            if size < hlen {
                // Shorter than its own header (found by the `chapters` fuzz target).
                return Err(FeedError::Parse(format!("moov box of {size} bytes")));
            }
            let body = if offset.saturating_add(size) <= head.len() as u64 {
                bytes::Bytes::copy_from_slice(
                    &head[(offset + hlen) as usize..(offset + size) as usize],
                )
            } else {
                let b = src.read(offset, size).await?;
                if (b.len() as u64) < size {
                    return Err(FeedError::Parse("truncated moov box".into()));
                }
                b.slice(hlen as usize..)
            };
            moov = Some(body);
            break;
        }
        if size == 0 || size < hlen {
            break;
        }
        // A 64-bit box size can point past any file (found by the `chapters` fuzz target:
        // the sum overflowed).
        let Some(next) = offset.checked_add(size) else {
            break;
        };
        offset = next;
    }
    let moov = moov.ok_or_else(|| FeedError::Parse("MP4 without a moov box".into()))?;
    if let Some(list) = parse_chpl(&moov)? {
        return Ok(list);
    }
    let Some(track) = chapter_track(&moov)? else {
        return Ok(finish(Vec::new(), ChapterSource::Mp4Chpl, 0));
    };
    if track.samples.is_empty() {
        return Ok(finish(Vec::new(), ChapterSource::Mp4Track, 0));
    }
    let lo = track.samples.iter().map(|s| s.offset).min().unwrap_or(0);
    let hi = track
        .samples
        .iter()
        .map(|s| s.offset.saturating_add(u64::from(s.size)))
        .max()
        .unwrap_or(0);
    if hi - lo > MAX_SAMPLE_SPAN {
        return Err(FeedError::OverLimit(format!(
            "chapter text samples spread over {} bytes",
            hi - lo
        )));
    }
    let data = src.read(lo, hi - lo).await?;
    let mut chapters = Vec::with_capacity(track.samples.len());
    let mut skipped = 0;
    for s in &track.samples {
        let a = (s.offset - lo) as usize;
        let Some(sample) = data.get(a..a + s.size as usize) else {
            skipped += 1;
            continue;
        };
        let start = s.start as f64 / f64::from(track.timescale);
        let end = (s.start + s.duration) as f64 / f64::from(track.timescale);
        chapters.push(Chapter {
            start,
            end: (s.duration > 0).then_some(end),
            title: text_sample(sample),
            image: None,
            url: None,
            toc: true,
        });
    }
    Ok(finish(chapters, ChapterSource::Mp4Track, skipped))
}

/// Nero chapters: `moov/udta/chpl` (start in 100 ns units, Pascal-string titles).
fn parse_chpl(moov: &[u8]) -> Result<Option<ChapterList>> {
    let Some(chpl) = child(moov, b"udta").and_then(|u| child(u, b"chpl")) else {
        return Ok(None);
    };
    let version = chpl.first().copied().unwrap_or(0);
    let mut at = 4 + if version > 0 { 4 } else { 0 };
    let count = *chpl
        .get(at)
        .ok_or_else(|| FeedError::Parse("truncated chpl box".into()))? as usize;
    at += 1;
    let mut chapters = Vec::with_capacity(count);
    for _ in 0..count {
        let (Some(start), Some(&len)) = (be64(chpl, at), chpl.get(at + 8)) else {
            break;
        };
        let title = chpl
            .get(at + 9..at + 9 + len as usize)
            .map(|t| String::from_utf8_lossy(t).trim().to_owned())
            .filter(|t| !t.is_empty());
        at += 9 + len as usize;
        chapters.push(Chapter {
            start: start as f64 / 10_000_000.0,
            end: None,
            title,
            image: None,
            url: None,
            toc: true,
        });
    }
    Ok(Some(finish(chapters, ChapterSource::Mp4Chpl, 0)))
}

struct TextSample {
    offset: u64,
    size: u32,
    start: u64,
    duration: u64,
}

struct ChapterTrack {
    timescale: u32,
    samples: Vec<TextSample>,
}

/// The text track another track names in its `tref/chap`, with its samples'
/// file offsets and times (from `stts`, `stsc`, `stsz`, `stco`/`co64`).
fn chapter_track(moov: &[u8]) -> Result<Option<ChapterTrack>> {
    let traks: Vec<&[u8]> = boxes(moov)
        .filter(|(k, _)| k == b"trak")
        .map(|(_, b)| b)
        .collect();
    let track_id = |t: &[u8]| -> Option<u32> {
        let tkhd = child(t, b"tkhd")?;
        be32(tkhd, if tkhd.first() == Some(&1) { 20 } else { 12 })
    };
    let chap_ids: Vec<u32> = traks
        .iter()
        .filter_map(|t| child(t, b"tref").and_then(|r| child(r, b"chap")))
        .flat_map(|c| {
            c.chunks_exact(4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        })
        .collect();
    let Some(trak) = traks.iter().copied().find(|t| {
        track_id(t).is_some_and(|id| chap_ids.contains(&id))
            && child(t, b"mdia")
                .and_then(|m| child(m, b"hdlr"))
                .and_then(|h| h.get(8..12))
                .is_some_and(|h| h == b"text" || h == b"sbtl")
    }) else {
        return Ok(None);
    };
    let bad = || FeedError::Parse("malformed chapter track".into());
    let mdia = child(trak, b"mdia").ok_or_else(bad)?;
    let mdhd = child(mdia, b"mdhd").ok_or_else(bad)?;
    let timescale = be32(mdhd, if mdhd.first() == Some(&1) { 20 } else { 12 })
        .filter(|t| *t > 0)
        .ok_or_else(bad)?;
    let stbl = child(mdia, b"minf")
        .and_then(|m| child(m, b"stbl"))
        .ok_or_else(bad)?;
    // Sample sizes.
    let stsz = child(stbl, b"stsz").ok_or_else(bad)?;
    let fixed = be32(stsz, 4).ok_or_else(bad)?;
    let count = be32(stsz, 8).ok_or_else(bad)? as usize;
    if count > MAX_CHAPTERS {
        return Err(too_many());
    }
    let sizes: Vec<u32> = (0..count)
        .map(|i| {
            if fixed != 0 {
                Some(fixed)
            } else {
                be32(stsz, 12 + 4 * i)
            }
        })
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    // Sample times.
    let stts = child(stbl, b"stts").ok_or_else(bad)?;
    let mut durations = Vec::with_capacity(count);
    for e in 0..be32(stts, 4).ok_or_else(bad)? as usize {
        let n = be32(stts, 8 + 8 * e).ok_or_else(bad)?;
        let d = be32(stts, 12 + 8 * e).ok_or_else(bad)?;
        for _ in 0..n {
            if durations.len() == count {
                break;
            }
            durations.push(u64::from(d));
        }
    }
    durations.resize(count, 0);
    // Chunk offsets, and which samples each chunk holds.
    let chunk_offsets: Vec<u64> = if let Some(stco) = child(stbl, b"stco") {
        let n = (be32(stco, 4).ok_or_else(bad)? as usize).min(count);
        (0..n)
            .map(|i| be32(stco, 8 + 4 * i).map(u64::from))
            .collect::<Option<_>>()
    } else {
        let co64 = child(stbl, b"co64").ok_or_else(bad)?;
        let n = (be32(co64, 4).ok_or_else(bad)? as usize).min(count);
        (0..n).map(|i| be64(co64, 8 + 8 * i)).collect::<Option<_>>()
    }
    .ok_or_else(bad)?;
    let stsc = child(stbl, b"stsc").ok_or_else(bad)?;
    let runs: Vec<(u32, u32)> = (0..(be32(stsc, 4).ok_or_else(bad)? as usize).min(count))
        .map(|e| Some((be32(stsc, 8 + 12 * e)?, be32(stsc, 12 + 12 * e)?)))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let mut samples = Vec::with_capacity(count);
    let mut sample = 0usize;
    let mut time = 0u64;
    for (chunk, &chunk_off) in chunk_offsets.iter().enumerate() {
        let chunk_no = chunk as u32 + 1;
        let per_chunk = runs
            .iter()
            .rev()
            .find(|(first, _)| *first <= chunk_no)
            .map(|(_, n)| *n)
            .unwrap_or(1);
        let mut off = chunk_off;
        for _ in 0..per_chunk {
            if sample == count {
                break;
            }
            samples.push(TextSample {
                offset: off,
                size: sizes[sample],
                start: time,
                duration: durations[sample],
            });
            off = off.saturating_add(u64::from(sizes[sample]));
            time = time.saturating_add(durations[sample]);
            sample += 1;
        }
    }
    Ok(Some(ChapterTrack { timescale, samples }))
}

/// A QuickTime text sample: a 16-bit length and the text (UTF-8, or UTF-16 with a BOM).
fn text_sample(sample: &[u8]) -> Option<String> {
    let len = u16::from_be_bytes([*sample.first()?, *sample.get(1)?]) as usize;
    let text = sample.get(2..2 + len.min(sample.len().saturating_sub(2)))?;
    let s = if let Some(u16s) = text.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = u16s
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(text).into_owned()
    };
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn fixture(name: &str) -> bytes::Bytes {
        bytes::Bytes::from(crate::testdata::read("chapters", name))
    }

    fn run(data: bytes::Bytes) -> Result<ChapterList> {
        extract(&mut SliceSource(data))
            .now_or_never()
            .expect("in-memory reads are ready at once")
    }

    fn titles(l: &ChapterList) -> Vec<(f64, Option<f64>, &str)> {
        l.chapters
            .iter()
            .map(|c| (c.start, c.end, c.title.as_deref().unwrap_or("")))
            .collect()
    }

    const WANT: [(f64, Option<f64>, &str); 3] = [
        (0.0, Some(2.0), "Intro"),
        (2.0, Some(4.5), "Main topic"),
        (4.5, Some(6.0), "Outro é"),
    ];

    #[test]
    fn podcast_json() {
        let l = run(fixture("chapters.json")).expect("json");
        assert_eq!(l.source, ChapterSource::PodcastJson);
        assert_eq!(l.skipped, 1, "the entry without startTime");
        assert_eq!(l.chapters.len(), 4);
        assert_eq!(l.chapters[0].title.as_deref(), Some("Intro"));
        assert_eq!(l.chapters[0].end, Some(62.5), "end from the next start");
        assert_eq!(
            l.chapters[1].image.as_deref(),
            Some("https://example.com/ch2.jpg")
        );
        assert_eq!(
            l.chapters[1].url.as_deref(),
            Some("https://example.com/link")
        );
        assert!(!l.chapters[2].toc);
        assert_eq!(l.chapters[3].end, Some(3600.0), "explicit endTime kept");
    }

    #[test]
    fn podlove_json_with_time_strings() {
        let l = run(bytes::Bytes::from_static(
            br#" [{"start":"00:01:02.500","title":"B"},{"start":"0","title":"A","href":"https://x/"}]"#,
        ))
        .expect("podlove");
        assert_eq!(l.source, ChapterSource::PodloveJson);
        assert_eq!(titles(&l), vec![(0.0, Some(62.5), "A"), (62.5, None, "B")]);
    }

    #[test]
    fn id3_chap_ctoc() {
        let l = run(fixture("ch.mp3")).expect("id3");
        assert_eq!(l.source, ChapterSource::Id3);
        assert_eq!(titles(&l), WANT.to_vec());
    }

    #[test]
    fn mp4_chpl_and_chapter_track() {
        let l = run(fixture("ch.m4a")).expect("mp4");
        assert_eq!(l.source, ChapterSource::Mp4Chpl);
        let got: Vec<_> = titles(&l)
            .into_iter()
            .map(|(s, _, t)| (s, t.to_owned()))
            .collect();
        assert_eq!(
            got,
            WANT.iter()
                .map(|(s, _, t)| (*s, t.to_string()))
                .collect::<Vec<_>>()
        );
        // The same file with its chpl box renamed: the QuickTime text track.
        let mut no_chpl = fixture("ch.m4a").to_vec();
        let at = no_chpl.windows(4).position(|w| w == b"chpl").expect("chpl");
        no_chpl[at..at + 4].copy_from_slice(b"free");
        let l = run(bytes::Bytes::from(no_chpl)).expect("track");
        assert_eq!(l.source, ChapterSource::Mp4Track);
        assert_eq!(titles(&l), WANT.to_vec());
    }

    #[test]
    fn an_id3_frame_size_beyond_the_tag_is_refused_unread() {
        // Found by the `chapters` fuzz target: a 181-byte file whose tag header claims 222
        // bytes and whose frames declare sizes up to 3.3 GB, which the `id3` crate
        // allocated before reading. Now refused by the size checks (id3_guard.rs, whose
        // unit tests cover each check on its own).
        let e = run(fixture("fuzz-id3-frame-size.mp3")).expect_err("hostile");
        assert!(
            e.to_string().contains("shorter than its header says"),
            "{e}"
        );
    }

    #[test]
    fn an_mp4_box_size_past_any_file_ends_the_walk() {
        // Found by the `chapters` fuzz target: a 64-bit box size made the walk's offset
        // overflow (a panic with overflow checks, a wrapped offset without).
        let e = run(fixture("fuzz-mp4-box-size-overflow.m4a")).expect_err("no moov");
        assert!(e.to_string().contains("without a moov box"), "{e}");
    }

    #[test]
    fn a_moov_box_shorter_than_its_header_is_refused() {
        // Found by the `chapters` fuzz target: a slice with its end before its start.
        let e = run(fixture("fuzz-mp4-moov-shorter-than-header.m4a")).expect_err("malformed");
        assert!(e.to_string().contains("moov box of 6 bytes"), "{e}");
    }

    #[test]
    fn bounded_and_refused() {
        let many = format!(
            "{{\"chapters\":[{}]}}",
            std::iter::repeat_n(r#"{"startTime":1}"#, MAX_CHAPTERS + 1)
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(
            run(bytes::Bytes::from(many)).expect_err("endless").status(),
            413
        );
        assert_eq!(
            run(bytes::Bytes::from_static(b"<html>no</html>"))
                .expect_err("html")
                .status(),
            415
        );
        assert_eq!(
            run(bytes::Bytes::from_static(b"{\"chapters\": 3}"))
                .expect_err("shape")
                .status(),
            422
        );
        // An ID3 header claiming a 200 MiB tag.
        let mut big = b"ID3\x04\x00\x00".to_vec();
        big.extend_from_slice(&[0x7f, 0x7f, 0x7f, 0x7f]);
        assert_eq!(
            run(bytes::Bytes::from(big)).expect_err("big tag").status(),
            413
        );
        // A moov claiming 4 GiB.
        let mut mp4 = b"\x00\x00\x00\x10ftypM4A \x00\x00\x00\x00".to_vec();
        mp4.extend_from_slice(b"\xff\xff\xff\xf0moov");
        assert_eq!(
            run(bytes::Bytes::from(mp4)).expect_err("big moov").status(),
            413
        );
    }
}
