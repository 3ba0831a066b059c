//! `/proxy/transcript`: one cue list from the transcript formats podcasts link
//! with `podcast:transcript` — WebVTT, SRT, Podcasting 2.0 JSON and HTML —
//! detected from the content. Bodies over the fetch cap (16 MiB by default)
//! are refused before parsing; the cue count and each cue's text are bounded.

use serde::{Deserialize, Serialize};

use crate::error::{FeedError, Result};

/// Most cues accepted (word-level JSON of a 3-hour episode has ~40k).
pub const MAX_CUES: usize = 200_000;
/// Longest cue text kept (characters).
const MAX_CUE_CHARS: usize = 10_000;

/// One cue. Times in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cue {
    /// Start (`null` only for HTML transcripts without `<time>` marks).
    pub start: Option<f64>,
    /// End (for HTML and JSON without end times: the next cue's start).
    pub end: Option<f64>,
    /// Speaker, when the format names one (`<v Name>`, JSON `speaker`, HTML `<cite>`).
    pub speaker: Option<String>,
    /// Plain text (markup removed).
    pub text: String,
}

/// Transcript format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TranscriptFormat {
    /// WebVTT.
    Vtt,
    /// SubRip.
    Srt,
    /// Podcasting 2.0 JSON (`segments`).
    Json,
    /// Podcasting 2.0 HTML (`<cite>`, `<time>`, `<p>`).
    Html,
}

/// The `/proxy/transcript` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// Cues in document order.
    pub cues: Vec<Cue>,
    /// Source format.
    pub format: TranscriptFormat,
}

fn too_many() -> FeedError {
    FeedError::OverLimit(format!("more than {MAX_CUES} transcript cues"))
}

fn clip(s: &str) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > MAX_CUE_CHARS {
        s.chars().take(MAX_CUE_CHARS).collect()
    } else {
        s
    }
}

/// Detect the format from the content and parse it.
pub fn parse(data: &[u8]) -> Result<Transcript> {
    let text = String::from_utf8_lossy(data);
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with("WEBVTT") {
        return parse_cue_text(text, TranscriptFormat::Vtt);
    }
    if text.starts_with('{') {
        return parse_json(text.as_bytes());
    }
    if text.starts_with('<') {
        return parse_html(text);
    }
    if text.lines().take(4).any(|l| l.contains("-->")) {
        return parse_cue_text(text, TranscriptFormat::Srt);
    }
    Err(FeedError::UnsupportedMedia(
        "not a WebVTT, SRT, JSON or HTML transcript".into(),
    ))
}

/// `HH:MM:SS.mmm`, `MM:SS.mmm` (WebVTT) or `HH:MM:SS,mmm` (SRT).
fn clock(s: &str) -> Option<f64> {
    let s = s.trim().replace(',', ".");
    let mut total = 0.0f64;
    let parts: Vec<&str> = s.split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    for p in parts {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return None;
        }
        total = total * 60.0 + p.parse::<f64>().ok()?;
    }
    total.is_finite().then_some(total)
}

/// A WebVTT cue payload: the `<v Speaker>` voice, and the text without tags.
fn vtt_payload(s: &str) -> (Option<String>, String) {
    let mut speaker = None;
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('>') else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let tag = &rest[i + 1..i + j];
        if speaker.is_none()
            && let Some(v) = tag.strip_prefix("v ").or_else(|| tag.strip_prefix("v."))
        {
            let name = v
                .split_once(' ')
                .map_or(v, |(_, n)| if tag.starts_with("v.") { n } else { v });
            let name = name.trim();
            if !name.is_empty() {
                speaker = Some(clip(name));
            }
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    let text = out
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ");
    (speaker, clip(&text))
}

/// WebVTT and SRT: blocks separated by blank lines, each with a `-->` timing line.
fn parse_cue_text(text: &str, format: TranscriptFormat) -> Result<Transcript> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut cues = Vec::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines().skip_while(|l| l.trim().is_empty());
        let Some(mut first) = lines.next() else {
            continue;
        };
        if !first.contains("-->") {
            // A cue identifier (SRT index, VTT id) — or a header/NOTE/STYLE block.
            match lines.next() {
                Some(l) if l.contains("-->") => first = l,
                _ => continue,
            }
        }
        let Some((a, b)) = first.split_once("-->") else {
            continue;
        };
        let end_str = b.split_whitespace().next().unwrap_or("");
        let (Some(start), Some(end)) = (clock(a), clock(end_str)) else {
            continue;
        };
        let payload: Vec<&str> = lines.collect();
        let (speaker, body) = vtt_payload(&payload.join("\n"));
        if body.is_empty() {
            continue;
        }
        if cues.len() == MAX_CUES {
            return Err(too_many());
        }
        cues.push(Cue {
            start: Some(start),
            end: Some(end.max(start)),
            speaker,
            text: body,
        });
    }
    if cues.is_empty() {
        return Err(FeedError::Parse("transcript has no timed cues".into()));
    }
    Ok(Transcript { cues, format })
}

/// Podcasting 2.0 JSON: `{"version", "segments": [{speaker, startTime, endTime, body}]}`.
fn parse_json(data: &[u8]) -> Result<Transcript> {
    #[derive(Deserialize)]
    struct Doc {
        segments: Vec<Segment>,
    }
    #[derive(Deserialize)]
    struct Segment {
        speaker: Option<String>,
        #[serde(rename = "startTime")]
        start: Option<f64>,
        #[serde(rename = "endTime")]
        end: Option<f64>,
        body: Option<String>,
    }
    let doc: Doc = serde_json::from_slice(data)
        .map_err(|e| FeedError::Parse(format!("transcript JSON: {e}")))?;
    if doc.segments.len() > MAX_CUES {
        return Err(too_many());
    }
    let ok = |t: Option<f64>| t.filter(|t| t.is_finite() && *t >= 0.0);
    let mut cues: Vec<Cue> = doc
        .segments
        .into_iter()
        .filter_map(|s| {
            let text = clip(s.body.as_deref().unwrap_or(""));
            (!text.is_empty()).then(|| Cue {
                start: ok(s.start),
                end: ok(s.end),
                speaker: s.speaker.map(|n| clip(&n)).filter(|n| !n.is_empty()),
                text,
            })
        })
        .collect();
    fill_ends(&mut cues);
    Ok(Transcript {
        cues,
        format: TranscriptFormat::Json,
    })
}

fn fill_ends(cues: &mut [Cue]) {
    for i in 0..cues.len() {
        if cues[i].end.is_none() {
            cues[i].end = cues.get(i + 1).and_then(|c| c.start);
        }
    }
}

/// Podcasting 2.0 HTML: `<cite>Speaker:</cite> <time>0:00</time> <p>text</p>`,
/// each `<p>` one cue at the latest `<time>`, said by the latest `<cite>`.
fn parse_html(text: &str) -> Result<Transcript> {
    let doc = dom_query::Document::from(text);
    let mut speaker: Option<String> = None;
    let mut time: Option<f64> = None;
    let mut cues = Vec::new();
    for node in doc.select("cite, time, p").nodes() {
        let content = node.text();
        match node.node_name().as_deref() {
            Some("cite") => {
                let name = clip(content.trim().trim_end_matches(':'));
                speaker = (!name.is_empty()).then_some(name);
            }
            Some("time") => {
                let t = node
                    .attr("datetime")
                    .and_then(|d| clock(d.trim_start_matches("PT")))
                    .or_else(|| clock(&content));
                if t.is_some() {
                    time = t;
                }
            }
            _ => {
                let body = clip(&content);
                if body.is_empty() {
                    continue;
                }
                if cues.len() == MAX_CUES {
                    return Err(too_many());
                }
                cues.push(Cue {
                    start: time,
                    end: None,
                    speaker: speaker.clone(),
                    text: body,
                });
            }
        }
    }
    if cues.is_empty() {
        return Err(FeedError::Parse("HTML transcript without <p> cues".into()));
    }
    fill_ends(&mut cues);
    Ok(Transcript {
        cues,
        format: TranscriptFormat::Html,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        crate::testdata::read("transcripts", name)
    }

    /// (start, end, speaker, text) of a cue.
    type CueSummary<'a> = (Option<f64>, Option<f64>, Option<&'a str>, &'a str);

    fn summary(t: &Transcript) -> Vec<CueSummary<'_>> {
        t.cues
            .iter()
            .map(|c| (c.start, c.end, c.speaker.as_deref(), c.text.as_str()))
            .collect()
    }

    /// Every fixture is the same two-person exchange in another format.
    const WANT: [CueSummary<'static>; 3] = [
        (
            Some(0.5),
            Some(3.25),
            Some("Alice"),
            "Welcome to the show & hello.",
        ),
        (Some(3.25), Some(61.0), Some("Bob"), "Thanks for having me."),
        (Some(61.0), Some(65.5), Some("Alice"), "Let's begin."),
    ];

    #[test]
    fn every_format_gives_the_same_exchange() {
        // SRT names no speakers.
        let srt: Vec<_> = WANT.iter().map(|(s, e, _, x)| (*s, *e, None, *x)).collect();
        let mut html = WANT.to_vec();
        html[2].1 = None; // the last paragraph has no end in HTML
        for (file, format, want) in [
            ("episode.vtt", TranscriptFormat::Vtt, WANT.to_vec()),
            ("episode.srt", TranscriptFormat::Srt, srt),
            ("episode.json", TranscriptFormat::Json, WANT.to_vec()),
            ("episode.html", TranscriptFormat::Html, html),
        ] {
            let t = parse(&fixture(file)).expect(file);
            assert_eq!(t.format, format, "{file}");
            assert_eq!(summary(&t), want, "{file}");
        }
    }

    #[test]
    fn refused() {
        assert_eq!(parse(b"just some words").expect_err("plain").status(), 415);
        assert_eq!(
            parse(b"WEBVTT\n\nno cues here")
                .expect_err("empty")
                .status(),
            422
        );
        assert_eq!(
            parse(b"{\"segments\": 1}").expect_err("shape").status(),
            422
        );
        let many = format!(
            "{{\"segments\":[{}]}}",
            std::iter::repeat_n(r#"{"startTime":1,"body":"x"}"#, MAX_CUES + 1)
                .collect::<Vec<_>>()
                .join(",")
        );
        assert_eq!(parse(many.as_bytes()).expect_err("many").status(), 413);
    }
}
