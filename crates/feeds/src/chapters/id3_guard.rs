//! What of an ID3v2 tag reaches the `id3` crate: only the chapter frames (`CHAP`, `CTOC`)
//! and, inside them, only the sub-frames the chapter list uses (titles and links), each
//! checked against the bytes that are really there.
//!
//! Why: `id3` allocates a frame's declared size before reading it (a 181-byte file
//! declared 3.3 GB and made it allocate that, found by the `chapters` fuzz target), and
//! inflates compressed frames up to 256 MiB each. Here every declared size must fit in what
//! is left of its tag or frame, compressed and encrypted frames are refused, and artwork and
//! other frames are never decoded — so parsing costs at most a few times the tag's own
//! (capped) size.

use crate::error::{FeedError, Result};

/// Sub-frames of a chapter kept: its title and subtitle, and its link.
fn keep_sub_frame(id: &[u8]) -> bool {
    matches!(id, b"TIT2" | b"TIT3") || id.first() == Some(&b'W')
}

fn bad(what: impl Into<String>) -> FeedError {
    FeedError::Parse(format!("ID3v2 tag: {}", what.into()))
}

/// A syncsafe integer (7 bits per byte, high bit clear), as ID3v2 writes sizes.
pub(super) fn syncsafe(b: &[u8]) -> Option<usize> {
    b.iter().try_fold(0usize, |acc, &x| {
        (x < 0x80).then_some((acc << 7) | usize::from(x))
    })
}

fn syncsafe_bytes(n: usize) -> [u8; 4] {
    [
        (n >> 21) as u8 & 0x7f,
        (n >> 14) as u8 & 0x7f,
        (n >> 7) as u8 & 0x7f,
        n as u8 & 0x7f,
    ]
}

/// Undo unsynchronisation: `FF 00` → `FF`.
fn resync(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut after_ff = false;
    for &x in b {
        if !(after_ff && x == 0) {
            out.push(x);
        }
        after_ff = x == 0xff;
    }
    out
}

/// One frame of ID3v2.3 or v2.4: its id and its content, resynchronised.
struct Frame<'a> {
    id: &'a [u8],
    content: Vec<u8>,
}

/// The frames in `body`, each size checked against what is left; stops at padding.
fn frames(body: &[u8], version: u8) -> Result<Vec<Frame<'_>>> {
    let mut out = Vec::new();
    let mut at = 0;
    while body.len() - at >= 10 {
        let h = &body[at..at + 10];
        if h[0] == 0 {
            break; // padding
        }
        let id = &h[..4];
        if !id
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(bad("a frame id is not four letters or digits"));
        }
        let size = if version == 4 {
            syncsafe(&h[4..8]).ok_or_else(|| bad("a frame size is not syncsafe"))?
        } else {
            u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize
        };
        let left = body.len() - at - 10;
        if size > left {
            return Err(bad(format!(
                "frame {} declares {size} bytes, {left} are left",
                String::from_utf8_lossy(id)
            )));
        }
        let flags = u16::from_be_bytes([h[8], h[9]]);
        let raw = &body[at + 10..at + 10 + size];
        at += 10 + size;
        let (compressed, encrypted, grouped) = if version == 4 {
            (
                flags & 0x0008 != 0,
                flags & 0x0004 != 0,
                flags & 0x0040 != 0,
            )
        } else {
            (
                flags & 0x0080 != 0,
                flags & 0x0040 != 0,
                flags & 0x0020 != 0,
            )
        };
        if !(id == b"CHAP" || id == b"CTOC" || keep_sub_frame(id)) {
            continue; // never decoded, whatever it holds
        }
        if compressed || encrypted || grouped {
            return Err(bad(format!(
                "frame {} is compressed, encrypted or grouped (not supported)",
                String::from_utf8_lossy(id)
            )));
        }
        let mut content = raw;
        if version == 4 && flags & 0x0001 != 0 {
            // A data length indicator (4 syncsafe bytes) before the content.
            content = content
                .get(4..)
                .ok_or_else(|| bad("a frame is shorter than its data length indicator"))?;
        }
        let content = if version == 4 && flags & 0x0002 != 0 {
            resync(content)
        } else {
            content.to_vec()
        };
        out.push(Frame { id, content });
    }
    Ok(out)
}

fn encode_frame(out: &mut Vec<u8>, id: &[u8], content: &[u8], version: u8) {
    out.extend_from_slice(id);
    if version == 4 {
        out.extend_from_slice(&syncsafe_bytes(content.len()));
    } else {
        out.extend_from_slice(&(content.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(content);
}

/// Where a `CHAP` or `CTOC` frame's own fields end and its sub-frames begin.
fn sub_frames_at(id: &[u8], c: &[u8]) -> Result<usize> {
    let element_end = c
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| bad("a chapter element id is not terminated"))?
        + 1;
    if id == b"CHAP" {
        let at = element_end + 16; // start, end (ms), start, end (byte offsets)
        return (at <= c.len())
            .then_some(at)
            .ok_or_else(|| bad("a CHAP frame is truncated"));
    }
    // CTOC: flags, entry count, then that many terminated element ids.
    let count = *c
        .get(element_end + 1)
        .ok_or_else(|| bad("a CTOC frame is truncated"))?;
    let mut at = element_end + 2;
    for _ in 0..count {
        let len = c
            .get(at..)
            .and_then(|r| r.iter().position(|&b| b == 0))
            .ok_or_else(|| bad("a CTOC entry is not terminated"))?;
        at += len + 1;
    }
    Ok(at)
}

/// A tag with only the chapter frames of `tag` (header, then `CHAP`/`CTOC` frames with
/// their title and link sub-frames), in the same version, with no flags; or an error
/// when a size or flag in it cannot be trusted. Tags other than v2.3 and v2.4 (whose
/// chapter addendum defines `CHAP`) come back without frames.
pub fn chapter_frames_only(tag: &[u8]) -> Result<Vec<u8>> {
    let h = tag.get(..10).ok_or_else(|| bad("truncated header"))?;
    if &h[..3] != b"ID3" {
        return Err(bad("no ID3 header"));
    }
    let (version, flags) = (h[3], h[5]);
    let size = syncsafe(&h[6..10]).ok_or_else(|| bad("the tag size is not syncsafe"))?;
    let mut out = vec![b'I', b'D', b'3', version, 0, 0, 0, 0, 0, 0];
    if version != 3 && version != 4 {
        return Ok(out);
    }
    let body = tag
        .get(10..10 + size)
        .ok_or_else(|| bad("the tag is shorter than its header says"))?;
    let resynced;
    let mut body = if version == 3 && flags & 0x80 != 0 {
        // v2.3 unsynchronises the whole tag after the header.
        resynced = resync(body);
        &resynced[..]
    } else {
        body
    };
    if flags & 0x40 != 0 {
        // Extended header: v2.3 gives its size without the 4 size bytes, v2.4 with them.
        let n = body
            .get(..4)
            .ok_or_else(|| bad("truncated extended header"))?;
        let skip = if version == 4 {
            syncsafe(n).ok_or_else(|| bad("the extended header size is not syncsafe"))?
        } else {
            u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize + 4
        };
        body = body
            .get(skip..)
            .ok_or_else(|| bad("the extended header is longer than the tag"))?;
    }
    let mut frames_out = Vec::new();
    for f in frames(body, version)? {
        if f.id != b"CHAP" && f.id != b"CTOC" {
            continue; // a title or link outside a chapter
        }
        let at = sub_frames_at(f.id, &f.content)?;
        let mut content = f.content[..at].to_vec();
        for s in frames(&f.content[at..], version)? {
            if keep_sub_frame(s.id) {
                encode_frame(&mut content, s.id, &s.content, version);
            }
        }
        encode_frame(&mut frames_out, f.id, &content, version);
    }
    out[6..10].copy_from_slice(&syncsafe_bytes(frames_out.len()));
    out.extend_from_slice(&frames_out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(version: u8, frames: &[u8]) -> Vec<u8> {
        let mut t = vec![b'I', b'D', b'3', version, 0, 0];
        t.extend_from_slice(&syncsafe_bytes(frames.len()));
        t.extend_from_slice(frames);
        t
    }

    fn frame(id: &[u8], content: &[u8], version: u8) -> Vec<u8> {
        let mut f = Vec::new();
        encode_frame(&mut f, id, content, version);
        f
    }

    fn chap(id: &str, start_ms: u32, subs: &[u8]) -> Vec<u8> {
        let mut c = id.as_bytes().to_vec();
        c.push(0);
        c.extend_from_slice(&start_ms.to_be_bytes());
        c.extend_from_slice(&(start_ms + 1000).to_be_bytes());
        c.extend_from_slice(&[0xff; 8]);
        c.extend_from_slice(subs);
        c
    }

    #[test]
    fn a_frame_declaring_more_than_is_left_is_refused_before_anything_is_allocated() {
        // The fuzz finding: a v2.3 frame whose size field says 3.3 GB.
        let mut f = b"PRIV".to_vec();
        f.extend_from_slice(&0xc400_0000u32.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(b"short");
        let err = chapter_frames_only(&tag(3, &f)).unwrap_err().to_string();
        assert!(
            err.contains("declares 3288334336 bytes, 5 are left"),
            "{err}"
        );
    }

    #[test]
    fn the_same_inside_a_chapter() {
        let mut sub = b"TIT2".to_vec();
        sub.extend_from_slice(&1_000_000u32.to_be_bytes());
        sub.extend_from_slice(&[0, 0, 3]);
        let t = tag(3, &frame(b"CHAP", &chap("ch0", 0, &sub), 3));
        assert!(chapter_frames_only(&t).is_err());
    }

    #[test]
    fn compressed_chapter_titles_are_refused_and_other_frames_are_never_decoded() {
        let mut title = frame(b"TIT2", b"\x03zlib bomb", 3);
        title[9] = 0x80; // v2.3 compression flag
        let t = tag(3, &frame(b"CHAP", &chap("ch0", 0, &title), 3));
        assert!(
            chapter_frames_only(&t)
                .unwrap_err()
                .to_string()
                .contains("compressed")
        );
        // Outside chapters, the same frame is dropped unread.
        let mut art = frame(b"APIC", b"\x00image/png\x00\x03\x00not a picture", 3);
        art[9] = 0x80;
        let t = tag(3, &[art, frame(b"CHAP", &chap("ch0", 0, b""), 3)].concat());
        let kept = chapter_frames_only(&t).unwrap();
        assert!(!kept.windows(4).any(|w| w == b"APIC"));
        assert!(kept.windows(4).any(|w| w == b"CHAP"));
    }

    #[test]
    fn chapters_titles_and_links_survive_in_both_versions() {
        for v in [3u8, 4] {
            let subs = [
                frame(b"TIT2", b"\x03Intro", v),
                frame(b"APIC", b"\x00image/png\x00\x03\x00png", v),
                frame(b"WXXX", b"\x03\x00https://example.org/", v),
            ]
            .concat();
            let mut toc = b"toc\0\x03\x02ch0\0ch1\0".to_vec();
            toc.extend_from_slice(&frame(b"TIT2", b"\x03Contents", v));
            let t = tag(
                v,
                &[
                    frame(b"TIT2", b"\x03Episode", v),
                    frame(b"CTOC", &toc, v),
                    frame(b"CHAP", &chap("ch0", 0, &subs), v),
                    frame(
                        b"CHAP",
                        &chap("ch1", 5000, &frame(b"TIT2", b"\x03Next", v)),
                        v,
                    ),
                    vec![0; 32], // padding
                ]
                .concat(),
            );
            let kept = chapter_frames_only(&t).unwrap();
            let parsed = id3::Tag::read_from2(std::io::Cursor::new(&kept)).unwrap();
            let chaps: Vec<_> = parsed.chapters().collect();
            assert_eq!(chaps.len(), 2, "v2.{v}");
            assert_eq!(chaps[1].start_time, 5000);
            let titles: Vec<_> = chaps[0].frames.iter().map(|f| f.id().to_owned()).collect();
            assert_eq!(titles, ["TIT2", "WXXX"], "v2.{v}: artwork is dropped");
            assert_eq!(parsed.tables_of_contents().count(), 1);
        }
    }

    #[test]
    fn unsynchronised_v23_tags_are_resynced_first() {
        // FF 00 in the body stands for FF.
        let c = chap("ch0", 0xff00, b"");
        let body = frame(b"CHAP", &c, 3);
        let mut unsynced = Vec::new();
        for &b in &body {
            unsynced.push(b);
            if b == 0xff {
                unsynced.push(0);
            }
        }
        let mut t = tag(3, &unsynced);
        t[5] = 0x80;
        let kept = chapter_frames_only(&t).unwrap();
        let parsed = id3::Tag::read_from2(std::io::Cursor::new(&kept)).unwrap();
        assert_eq!(parsed.chapters().next().unwrap().start_time, 0xff00);
    }
}
