//! Deterministic mutation smoke test (a stable-toolchain companion of the
//! cargo-fuzz targets in `fuzz/`): mutated feeds, OPML, HTML and audio must give
//! `Ok` or `Err`, never a panic.

use std::io::Cursor;
use std::path::Path;

use skypod_feeds::silence::{Measure, SilenceParams, analyze_reader, analyze_reader_measuring};

use crate::common::testdata as read;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let len = v.len().max(1);
        match rng.below(7) {
            0 => {
                let i = rng.below(len);
                if let Some(b) = v.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => v.truncate(rng.below(len)),
            2 => {
                let tokens: [&[u8]; 8] = [
                    b"<",
                    b">",
                    b"&",
                    b"]]>",
                    b"<![CDATA[",
                    b"&#0;",
                    b"\xff\xfe",
                    b"</item>",
                ];
                let t = tokens[rng.below(tokens.len())];
                let i = rng.below(len).min(v.len());
                v.splice(i..i, t.iter().copied());
            }
            3 => {
                let i = rng.below(len).min(v.len());
                let j = (i + rng.below(64)).min(v.len());
                let chunk = v[i..j].to_vec();
                v.splice(i..i, chunk);
            }
            4 => {
                let i = rng.below(len).min(v.len());
                let j = (i + rng.below(256)).min(v.len());
                v.drain(i..j);
            }
            5 => {
                let i = rng.below(len);
                if let Some(b) = v.get_mut(i) {
                    *b = rng.next() as u8;
                }
            }
            _ => v.reverse(),
        }
    }
    v
}

/// Hands `check` `rounds` mutations of each fixture in `seeds`, in order, with the
/// fixture's extension (a format hint).
fn each_mutant(
    rng: &mut Rng,
    seeds: &[&str],
    rounds: usize,
    mut check: impl FnMut(Vec<u8>, Option<&str>),
) {
    for seed in seeds {
        let base = read(seed);
        let ext = seed.rsplit('.').next();
        for _ in 0..rounds {
            check(mutate(rng, &base), ext);
        }
    }
}

#[test]
fn mutated_feeds_never_panic() {
    let seeds = [
        "feeds/podcast.xml",
        "feeds/atom.xml",
        "feeds/feed.json",
        "feeds/latin1.xml",
    ];
    each_mutant(&mut Rng(0x9E37_79B9_7F4A_7C15), &seeds, 400, |m, _| {
        let _ = skypod_feeds::parse::parse_feed(&m, Some("https://x.example/"));
    });
}

#[test]
fn mutated_opml_and_html_never_panic() {
    let mut rng = Rng(42);
    // OPML's fixtures live with the feed model crate, which owns OPML.
    let opml = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/testdata/opml/export.opml"),
    )
    .expect("fixture");
    let page = read("pages/article.html");
    for _ in 0..300 {
        let _ = skypod_feeds::opml::parse_opml(&mutate(&mut rng, &opml));
        let m = mutate(&mut rng, &page);
        let _ = skypod_feeds::title::extract_title_bytes(&m, None);
        let _ = skypod_feeds::reader::read_article_bytes(&m, None, None);
    }
}

#[test]
fn mutated_audio_never_panics() {
    let seeds = ["audio/pauses.mp3", "audio/pauses.m4a", "audio/pauses.ogg"];
    each_mutant(&mut Rng(7), &seeds, 60, |m, ext| {
        let _ = analyze_reader(Cursor::new(m), ext, SilenceParams::default());
    });
}

// ---- issue 10: chapters, transcripts, artwork, loudness/Opus paths ----

#[test]
fn mutated_chapters_and_transcripts_never_panic() {
    use futures_util::FutureExt;
    let mut rng = Rng(0xC4A9);
    let chapters = [
        "chapters/chapters.json",
        "chapters/ch.mp3",
        "chapters/ch.m4a",
    ];
    each_mutant(&mut rng, &chapters, 300, |m, _| {
        let mut src = skypod_feeds::chapters::SliceSource(bytes::Bytes::from(m));
        let done = skypod_feeds::chapters::extract(&mut src).now_or_never();
        assert!(done.is_some(), "in-memory extraction never waits");
    });
    let transcripts = [
        "transcripts/episode.vtt",
        "transcripts/episode.srt",
        "transcripts/episode.json",
        "transcripts/episode.html",
    ];
    each_mutant(&mut rng, &transcripts, 300, |m, _| {
        let _ = skypod_feeds::transcript::parse(&m);
    });
}

#[test]
fn mutated_images_never_panic() {
    let img = image::RgbaImage::from_fn(64, 48, |x, y| image::Rgba([x as u8, y as u8, 7, 200]));
    let mut rng = Rng(0x1AA6E);
    for format in [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::Gif,
    ] {
        let mut out = std::io::Cursor::new(Vec::new());
        let rgb = image::DynamicImage::ImageRgba8(img.clone());
        let rgb = if format == image::ImageFormat::Jpeg {
            image::DynamicImage::ImageRgb8(rgb.to_rgb8())
        } else {
            rgb
        };
        rgb.write_to(&mut out, format).expect("encode");
        let base = out.into_inner();
        for _ in 0..150 {
            let _ = skypod_feeds::artwork::resize(&mutate(&mut rng, &base), 96);
        }
    }
}

#[test]
fn mutated_audio_with_loudness_and_opus_never_panics() {
    let seeds = ["audio/pauses.mp3", "audio/pauses.opus", "audio/pauses.webm"];
    let loudness = Measure { loudness: true };
    each_mutant(&mut Rng(11), &seeds, 40, |m, ext| {
        let _ = analyze_reader_measuring(Cursor::new(m), ext, SilenceParams::default(), loudness);
    });
}
