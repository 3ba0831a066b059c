//! Feed parsing: RSS 2.0 / Atom / JSON Feed via `feed-rs`, plus a streaming
//! `quick-xml` second pass for the iTunes and Podcasting 2.0 tags feed-rs drops
//! (`podcast:guid`, `podcast:funding`, `podcast:locked`, `podcast:chapters`,
//! `podcast:alternateEnclosure`, `itunes:episodeType`, `itunes:new-feed-url`,
//! per-item `itunes:explicit` / `itunes:image` / `itunes:duration`, …).
//!
//! Safety: input is capped ([`MAX_FEED_BYTES`]); documents that declare entities
//! (`<!ENTITY` in the DOCTYPE: billion laughs, external entities) are refused;
//! quick-xml never expands entities other than the predefined ones. Non-UTF-8
//! documents are transcoded according to their XML declaration.

use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use serde::{Deserialize, Serialize};

use crate::error::{FeedError, Result};

/// Largest feed document accepted.
pub const MAX_FEED_BYTES: usize = 32 * 1024 * 1024;

/// A parsed feed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedFeed {
    /// Channel-level data.
    pub channel: Channel,
    /// Episodes/items in document order.
    pub episodes: Vec<Episode>,
}

/// Channel (podcast) metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// `rss2`, `atom`, `json`, `rss1` or `rss0`.
    pub feed_type: String,
    /// Title.
    pub title: Option<String>,
    /// Description / subtitle.
    pub description: Option<String>,
    /// Web site link.
    pub link: Option<String>,
    /// Cover image URL (itunes:image preferred).
    pub image: Option<String>,
    /// Author (itunes:author preferred).
    pub author: Option<String>,
    /// Category terms (iTunes categories included, subcategories flattened).
    pub categories: Vec<String>,
    /// Language code.
    pub language: Option<String>,
    /// `itunes:explicit` at channel level.
    pub explicit: Option<bool>,
    /// `podcast:funding` links.
    pub funding: Vec<Funding>,
    /// `podcast:guid`.
    pub podcast_guid: Option<String>,
    /// `podcast:locked` (`yes` → true).
    pub locked: Option<bool>,
    /// `owner` attribute of `podcast:locked`.
    pub locked_owner: Option<String>,
    /// `itunes:new-feed-url`.
    pub new_feed_url: Option<String>,
    /// `itunes:type` (episodic / serial).
    pub itunes_type: Option<String>,
}

/// A `podcast:funding` link.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Funding {
    /// Where to support the show.
    pub url: String,
    /// Link text.
    pub text: Option<String>,
}

/// One episode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    /// `guid` (RSS), `id` (Atom/JSON) or a generated stable id.
    pub guid: String,
    /// Title.
    pub title: Option<String>,
    /// Link to the episode page.
    pub link: Option<String>,
    /// Description / summary (HTML as published).
    pub description: Option<String>,
    /// Publication date (or update date when absent).
    pub published: Option<DateTime<Utc>>,
    /// Primary enclosure.
    pub enclosure: Option<Enclosure>,
    /// `podcast:alternateEnclosure` entries.
    pub alternate_enclosures: Vec<AlternateEnclosure>,
    /// Duration in seconds (from `itunes:duration` in any common format).
    pub duration_seconds: Option<u64>,
    /// Season number.
    pub season: Option<u32>,
    /// Episode number.
    pub episode: Option<f64>,
    /// `itunes:episodeType` (full / trailer / bonus).
    pub episode_type: Option<String>,
    /// `itunes:explicit` at item level.
    pub explicit: Option<bool>,
    /// `podcast:transcript` entries.
    pub transcripts: Vec<Transcript>,
    /// `podcast:chapters` URL.
    pub chapters_url: Option<String>,
    /// `podcast:chapters` type.
    pub chapters_type: Option<String>,
    /// `podcast:person` entries.
    pub persons: Vec<Person>,
    /// Episode image (itunes:image or media thumbnail).
    pub image: Option<String>,
}

/// An enclosure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Enclosure {
    /// Media URL.
    pub url: String,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Length in bytes as declared.
    pub length: Option<u64>,
}

/// A `podcast:alternateEnclosure`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlternateEnclosure {
    /// MIME type.
    pub mime_type: Option<String>,
    /// Length in bytes.
    pub length: Option<u64>,
    /// Bitrate.
    pub bitrate: Option<f64>,
    /// Title.
    pub title: Option<String>,
    /// `podcast:source` URIs.
    pub sources: Vec<String>,
}

/// A `podcast:transcript`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// URL.
    pub url: String,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Language.
    pub language: Option<String>,
    /// `rel` (e.g. `captions`).
    pub rel: Option<String>,
}

/// A `podcast:person`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// Name.
    pub name: String,
    /// Role (default `host`).
    pub role: Option<String>,
    /// Group (default `cast`).
    pub group: Option<String>,
    /// Picture URL.
    pub img: Option<String>,
    /// Profile URL.
    pub href: Option<String>,
}

/// Parse seconds from `itunes:duration`: `SS`, `SS.sss`, `MM:SS`, `HH:MM:SS(.sss)`.
pub fn parse_duration(raw: &str) -> Option<u64> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() > 3 {
        return None;
    }
    let mut total = 0f64;
    for (i, p) in parts.iter().enumerate() {
        let p = p.trim();
        let v: f64 = if i + 1 == parts.len() {
            p.parse().ok()?
        } else {
            p.parse::<u64>().ok()? as f64
        };
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        total = total * 60.0 + v;
    }
    if total > 1.0e9 {
        return None;
    }
    Some(total.round() as u64)
}

fn parse_explicit(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "explicit" => Some(true),
        "no" | "false" | "clean" => Some(false),
        _ => None,
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Parse a feed document (RSS, Atom or JSON Feed).
pub fn parse_feed(bytes: &[u8], base_url: Option<&str>) -> Result<ParsedFeed> {
    if bytes.len() > MAX_FEED_BYTES {
        return Err(FeedError::TooLarge(MAX_FEED_BYTES as u64));
    }
    let text = to_utf8(bytes);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.is_empty() {
        return Err(FeedError::Parse("empty document".into()));
    }
    let normalized;
    let trimmed = if trimmed.starts_with('{') {
        trimmed
    } else {
        normalized = normalize_decl(trimmed)?;
        normalized.as_str()
    };
    let extras = if trimmed.starts_with('{') {
        Extras::default()
    } else {
        second_pass(trimmed)?
    };
    let feed = match run_feed_rs(trimmed, base_url) {
        Some(r) => r,
        None => {
            // feed-rs panicked (e.g. an `itunes:duration` overflowing u64: found by
            // cargo-fuzz). Durations come from our own pass anyway: drop them and retry.
            tracing::warn!("feed-rs panicked; retrying without itunes:duration elements");
            run_feed_rs(&strip_elements(trimmed, "itunes:duration"), base_url)
                .ok_or_else(|| FeedError::Parse("feed parser failed on malformed input".into()))?
        }
    }
    .map_err(|e| FeedError::Parse(format!("not a feed: {e}")))?;
    Ok(assemble(feed, extras))
}

/// Decode to UTF-8 using the XML declaration's encoding (UTF-8 lossy otherwise),
/// rewriting the declaration so later parsers agree.
fn to_utf8(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Some((enc, _)) = encoding_rs::Encoding::for_bom(bytes)
        && enc != encoding_rs::UTF_8
    {
        let (cow, _, _) = enc.decode(bytes);
        return rewrite_decl(cow.into_owned());
    }
    let head = &bytes[..bytes.len().min(200)];
    let head_str = String::from_utf8_lossy(head);
    if head_str.starts_with("<?xml")
        && let Some(end) = head_str.find("?>")
    {
        let decl = &head_str[..end];
        if let Some(pos) = decl.find("encoding") {
            let rest = &decl[pos + 8..];
            let label: String = rest
                .trim_start_matches([' ', '='])
                .trim_start_matches(['"', '\''])
                .chars()
                .take_while(|c| !matches!(c, '"' | '\''))
                .collect();
            if let Some(enc) = encoding_rs::Encoding::for_label(label.trim().as_bytes())
                && enc != encoding_rs::UTF_8
            {
                let (cow, _) = enc.decode_without_bom_handling(bytes);
                return rewrite_decl(cow.into_owned());
            }
        }
    }
    String::from_utf8_lossy(bytes).into_owned()
}

/// Run feed-rs, turning a panic into `None`.
fn run_feed_rs(
    doc: &str,
    base_url: Option<&str>,
) -> Option<std::result::Result<feed_rs::model::Feed, feed_rs::parser::ParseFeedError>> {
    let parser = feed_rs::parser::Builder::new().base_uri(base_url).build();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parser.parse(doc.as_bytes())
    }))
    .ok()
}

/// Remove every `<tag>…</tag>` element (exact prefixed name) from the text.
fn strip_elements(doc: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc;
    while let Some(i) = rest.find(&open) {
        out.push_str(&rest[..i]);
        match rest[i..].find(&close) {
            Some(j) => rest = &rest[i + j + close.len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The body is UTF-8 by now: replace the XML declaration by a canonical UTF-8
/// one, refusing malformed declarations. (A long or repeated declaration made
/// feed-rs/quick-xml panic when switching encodings: found by cargo-fuzz.)
fn normalize_decl(doc: &str) -> Result<String> {
    const CANONICAL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    if !doc.starts_with("<?xml") {
        return Ok(doc.to_string());
    }
    let end = doc
        .get(..doc.len().min(512))
        .and_then(|head| head.find("?>"))
        .ok_or_else(|| FeedError::Parse("malformed XML declaration".into()))?;
    if doc[5..end].contains(['<', '>']) {
        return Err(FeedError::Parse("malformed XML declaration".into()));
    }
    Ok(format!("{CANONICAL}{}", &doc[end + 2..]))
}

fn rewrite_decl(s: String) -> String {
    if s.starts_with("<?xml")
        && let Some(end) = s.find("?>")
    {
        return format!("<?xml version=\"1.0\" encoding=\"UTF-8\"{}", &s[end..]);
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    None,
    Itunes,
    Podcast,
    Other,
}

fn ns_of(r: &ResolveResult) -> Ns {
    match r {
        ResolveResult::Bound(ns) => {
            let n: &str = ns.as_ref();
            if n.contains("itunes.com/dtds/podcast") {
                Ns::Itunes
            } else if n.contains("podcastindex.org/namespace") || n.contains("podcast-namespace") {
                Ns::Podcast
            } else {
                Ns::Other
            }
        }
        _ => Ns::None,
    }
}

#[derive(Debug, Default)]
struct ItemExtra {
    guid: Option<String>,
    duration: Option<u64>,
    episode_type: Option<String>,
    explicit: Option<bool>,
    season: Option<u32>,
    episode: Option<f64>,
    image: Option<String>,
    chapters_url: Option<String>,
    chapters_type: Option<String>,
    transcripts: Vec<Transcript>,
    persons: Vec<Person>,
    alternates: Vec<AlternateEnclosure>,
}

#[derive(Debug, Default)]
struct Extras {
    podcast_guid: Option<String>,
    locked: Option<bool>,
    locked_owner: Option<String>,
    funding: Vec<Funding>,
    new_feed_url: Option<String>,
    author: Option<String>,
    image: Option<String>,
    explicit: Option<bool>,
    itunes_type: Option<String>,
    items: Vec<ItemExtra>,
}

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
}

/// Pending element whose text content we want.
struct Pending {
    ns: Ns,
    local: String,
    attrs: Vec<(String, String)>,
    text: String,
}

fn second_pass(xml: &str) -> Result<Extras> {
    let mut reader = NsReader::from_str(xml);
    let mut ex = Extras::default();
    let mut depth = 0usize;
    let mut item_depth: Option<usize> = None;
    let mut pending: Option<(usize, Pending)> = None;
    let mut saw_root = false;
    let mut first_event = true;
    loop {
        let (res, event) = reader
            .read_resolved_event()
            .map_err(|e| FeedError::Parse(format!("malformed XML: {e}")))?;
        let ns = ns_of(&res);
        // An XML declaration is only valid as the very first thing in the
        // document (a second one made feed-rs/quick-xml panic: found by fuzzing).
        if matches!(event, Event::Decl(_)) && !first_event {
            return Err(FeedError::Parse("misplaced XML declaration".into()));
        }
        first_event = false;
        match event {
            Event::DocType(d) => {
                let content = d.xml_content(quick_xml::XmlVersion::Implicit1_0);
                if content.contains("<!ENTITY")
                    || content.contains("SYSTEM") && content.contains('[')
                {
                    return Err(FeedError::Parse(
                        "entity declarations are not allowed".into(),
                    ));
                }
            }
            Event::Start(e) => {
                saw_root = true;
                depth += 1;
                start_element(&mut ex, ns, &e, depth, &mut item_depth, &mut pending, false);
            }
            Event::Empty(e) => {
                saw_root = true;
                start_element(
                    &mut ex,
                    ns,
                    &e,
                    depth + 1,
                    &mut item_depth,
                    &mut pending,
                    true,
                );
            }
            Event::End(_) => {
                if let Some((d, _)) = &pending
                    && *d == depth
                    && let Some((_, p)) = pending.take()
                {
                    finish_element(&mut ex, item_depth.is_some(), p);
                }
                if item_depth == Some(depth) {
                    item_depth = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Text(t) => {
                if let Some((_, p)) = &mut pending {
                    p.text
                        .push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0));
                }
            }
            Event::CData(t) => {
                if let Some((_, p)) = &mut pending {
                    p.text
                        .push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0));
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, p)) = &mut pending {
                    let name: &str = &r;
                    if let Ok(s) = quick_xml::escape::unescape(&format!("&{name};")) {
                        p.text.push_str(&s);
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(FeedError::Parse("no root element".into()));
    }
    Ok(ex)
}

fn start_element(
    ex: &mut Extras,
    ns: Ns,
    e: &BytesStart,
    depth: usize,
    item_depth: &mut Option<usize>,
    pending: &mut Option<(usize, Pending)>,
    empty: bool,
) {
    let local = e.local_name().as_ref().to_string();
    if item_depth.is_none()
        && matches!(ns, Ns::None | Ns::Other)
        && (local == "item" || local == "entry")
    {
        if !empty {
            *item_depth = Some(depth);
        }
        ex.items.push(ItemExtra::default());
        return;
    }
    let in_item = item_depth.is_some();
    // Attribute-only elements.
    match (ns, local.as_str()) {
        (Ns::Itunes, "image") => {
            if let Some(href) = attr(e, "href") {
                if in_item {
                    if let Some(it) = ex.items.last_mut() {
                        it.image.get_or_insert(href);
                    }
                } else {
                    ex.image.get_or_insert(href);
                }
            }
            return;
        }
        (Ns::Podcast, "chapters") if in_item => {
            if let Some(it) = ex.items.last_mut() {
                it.chapters_url = attr(e, "url");
                it.chapters_type = attr(e, "type");
            }
            return;
        }
        (Ns::Podcast, "transcript") if in_item => {
            if let (Some(it), Some(url)) = (ex.items.last_mut(), attr(e, "url")) {
                it.transcripts.push(Transcript {
                    url,
                    mime_type: attr(e, "type"),
                    language: attr(e, "language"),
                    rel: attr(e, "rel"),
                });
            }
            return;
        }
        (Ns::Podcast, "alternateEnclosure") if in_item => {
            if let Some(it) = ex.items.last_mut() {
                it.alternates.push(AlternateEnclosure {
                    mime_type: attr(e, "type"),
                    length: attr(e, "length").and_then(|v| v.parse().ok()),
                    bitrate: attr(e, "bitrate").and_then(|v| v.parse().ok()),
                    title: attr(e, "title"),
                    sources: Vec::new(),
                });
            }
            return;
        }
        (Ns::Podcast, "source") if in_item => {
            if let (Some(it), Some(uri)) = (ex.items.last_mut(), attr(e, "uri"))
                && let Some(alt) = it.alternates.last_mut()
            {
                alt.sources.push(uri);
            }
            return;
        }
        _ => {}
    }
    let wanted = match ns {
        Ns::Itunes => matches!(
            local.as_str(),
            "duration"
                | "episodeType"
                | "explicit"
                | "season"
                | "episode"
                | "new-feed-url"
                | "author"
                | "type"
        ),
        Ns::Podcast => matches!(local.as_str(), "guid" | "locked" | "funding" | "person"),
        Ns::None => in_item && local == "guid",
        Ns::Other => in_item && local == "id",
    };
    if !wanted {
        return;
    }
    let keep_attrs = ["owner", "url", "role", "group", "img", "href"];
    let attrs = keep_attrs
        .iter()
        .filter_map(|k| attr(e, k).map(|v| (k.to_string(), v)))
        .collect();
    let p = Pending {
        ns,
        local,
        attrs,
        text: String::new(),
    };
    if empty {
        finish_element(ex, in_item, p);
    } else {
        *pending = Some((depth, p));
    }
}

fn finish_element(ex: &mut Extras, in_item: bool, p: Pending) {
    let text = p.text.trim().to_string();
    let get = |k: &str| p.attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if in_item {
        let Some(it) = ex.items.last_mut() else {
            return;
        };
        match (p.ns, p.local.as_str()) {
            (Ns::Itunes, "duration") => it.duration = parse_duration(&text),
            (Ns::Itunes, "episodeType") => it.episode_type = non_empty(&text),
            (Ns::Itunes, "explicit") => it.explicit = parse_explicit(&text),
            (Ns::Itunes, "season") => it.season = text.parse().ok(),
            (Ns::Itunes, "episode") => it.episode = text.parse().ok(),
            (Ns::Podcast, "person") => {
                if let Some(name) = non_empty(&text) {
                    it.persons.push(Person {
                        name,
                        role: get("role"),
                        group: get("group"),
                        img: get("img"),
                        href: get("href"),
                    });
                }
            }
            (Ns::None, "guid") | (Ns::Other, "id") => it.guid = non_empty(&text),
            _ => {}
        }
    } else {
        match (p.ns, p.local.as_str()) {
            (Ns::Podcast, "guid") => ex.podcast_guid = non_empty(&text),
            (Ns::Podcast, "locked") => {
                ex.locked = parse_explicit(&text);
                ex.locked_owner = get("owner");
            }
            (Ns::Podcast, "funding") => {
                if let Some(url) = get("url") {
                    ex.funding.push(Funding {
                        url,
                        text: non_empty(&text),
                    });
                }
            }
            (Ns::Itunes, "new-feed-url") => ex.new_feed_url = non_empty(&text),
            (Ns::Itunes, "author") => ex.author = non_empty(&text),
            (Ns::Itunes, "explicit") => ex.explicit = parse_explicit(&text),
            (Ns::Itunes, "type") => ex.itunes_type = non_empty(&text),
            _ => {}
        }
    }
}

fn flatten_categories(cats: &[feed_rs::model::Category], out: &mut Vec<String>) {
    for c in cats {
        let term = c.label.clone().unwrap_or_else(|| c.term.clone());
        if !term.trim().is_empty() && !out.contains(&term) {
            out.push(term);
        }
        flatten_categories(&c.subcategories, out);
    }
}

fn assemble(feed: feed_rs::model::Feed, mut ex: Extras) -> ParsedFeed {
    use feed_rs::model::FeedType;
    let feed_type = match feed.feed_type {
        FeedType::Atom => "atom",
        FeedType::JSON => "json",
        FeedType::RSS0 => "rss0",
        FeedType::RSS1 => "rss1",
        FeedType::RSS2 => "rss2",
    };
    let mut categories = Vec::new();
    flatten_categories(&feed.categories, &mut categories);
    let channel = Channel {
        feed_type: feed_type.to_string(),
        title: feed.title.as_ref().and_then(|t| non_empty(&t.content)),
        description: feed
            .description
            .as_ref()
            .and_then(|t| non_empty(&t.content)),
        link: feed
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .map(|l| l.href.clone()),
        image: ex
            .image
            .take()
            .or_else(|| feed.logo.as_ref().map(|i| i.uri.clone()))
            .or_else(|| feed.icon.as_ref().map(|i| i.uri.clone())),
        author: ex.author.take().or_else(|| {
            feed.authors
                .iter()
                .find_map(|a| a.name.clone())
                .and_then(|n| non_empty(&n))
        }),
        categories,
        language: feed.language.clone(),
        explicit: ex.explicit,
        funding: std::mem::take(&mut ex.funding),
        podcast_guid: ex.podcast_guid.take(),
        locked: ex.locked,
        locked_owner: ex.locked_owner.take(),
        new_feed_url: ex.new_feed_url.take(),
        itunes_type: ex.itunes_type.take(),
    };
    let aligned = ex.items.len() == feed.entries.len();
    let mut items: Vec<Option<ItemExtra>> = ex.items.into_iter().map(Some).collect();
    let episodes = feed
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            let extra = if aligned {
                items.get_mut(i).and_then(Option::take)
            } else {
                None
            };
            episode_from(entry, extra.unwrap_or_default())
        })
        .collect();
    ParsedFeed { channel, episodes }
}

fn is_media_link(l: &feed_rs::model::Link) -> bool {
    l.rel.as_deref() == Some("enclosure")
        || l.media_type
            .as_deref()
            .is_some_and(|t| t.starts_with("audio/") || t.starts_with("video/"))
}

fn episode_from(entry: feed_rs::model::Entry, ex: ItemExtra) -> Episode {
    let media = entry.media.first();
    let enclosure = entry
        .media
        .iter()
        .flat_map(|m| m.content.iter())
        .find_map(|c| {
            c.url.as_ref().map(|u| Enclosure {
                url: u.to_string(),
                mime_type: c.content_type.as_ref().map(|t| t.to_string()),
                length: c.size,
            })
        })
        .or_else(|| {
            entry
                .links
                .iter()
                .find(|l| is_media_link(l))
                .map(|l| Enclosure {
                    url: l.href.clone(),
                    mime_type: l.media_type.clone(),
                    length: l.length,
                })
        });
    let transcripts = if ex.transcripts.is_empty() {
        entry
            .media
            .iter()
            .flat_map(|m| m.transcripts.iter())
            .map(|t| Transcript {
                url: t.url.to_string(),
                mime_type: Some(t.content_type.to_string()),
                language: t.language.clone(),
                rel: t.rel.clone(),
            })
            .collect()
    } else {
        ex.transcripts
    };
    Episode {
        guid: ex.guid.unwrap_or_else(|| entry.id.clone()),
        title: entry.title.as_ref().and_then(|t| non_empty(&t.content)),
        link: entry
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate") && !is_media_link(l))
            .map(|l| l.href.clone()),
        description: entry
            .summary
            .as_ref()
            .map(|t| t.content.clone())
            .or_else(|| entry.content.as_ref().and_then(|c| c.body.clone()))
            .or_else(|| media.and_then(|m| m.description.as_ref().map(|d| d.content.clone()))),
        published: entry.published.or(entry.updated),
        enclosure,
        alternate_enclosures: ex.alternates,
        duration_seconds: ex
            .duration
            .or_else(|| media.and_then(|m| m.duration.map(|d| d.as_secs()))),
        season: ex
            .season
            .or_else(|| media.and_then(|m| m.season.as_ref().map(|s| s.number))),
        episode: ex
            .episode
            .or_else(|| media.and_then(|m| m.episode.as_ref().map(|e| f64::from(e.number)))),
        episode_type: ex.episode_type,
        explicit: ex.explicit,
        transcripts,
        chapters_url: ex.chapters_url,
        chapters_type: ex.chapters_type,
        persons: ex.persons,
        image: ex.image.or_else(|| {
            entry
                .media
                .iter()
                .flat_map(|m| m.thumbnails.iter())
                .next()
                .map(|t| t.image.uri.clone())
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/feeds")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3600"), Some(3600));
        assert_eq!(parse_duration("1:02:03"), Some(3723));
        assert_eq!(parse_duration("62:03"), Some(3723));
        assert_eq!(parse_duration("00:45"), Some(45));
        assert_eq!(parse_duration(" 1:00:00.6 "), Some(3601));
        assert_eq!(parse_duration("125.4"), Some(125));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("abc"), None);
        assert_eq!(parse_duration("1:2:3:4"), None);
        assert_eq!(parse_duration("-5"), None);
        assert_eq!(parse_duration("1e300"), None);
    }

    #[test]
    fn rss_podcast_full() {
        let feed = parse_feed(
            &fixture("podcast.xml"),
            Some("https://example.com/feed.xml"),
        )
        .expect("parse");
        let c = &feed.channel;
        assert_eq!(c.feed_type, "rss2");
        assert_eq!(c.title.as_deref(), Some("The Skypod Test Show"));
        assert_eq!(c.author.as_deref(), Some("Ada Host"));
        assert_eq!(c.image.as_deref(), Some("https://example.com/cover.jpg"));
        assert_eq!(
            c.podcast_guid.as_deref(),
            Some("917393e3-1b1e-5cef-ace4-edaa54e1f810")
        );
        assert_eq!(c.locked, Some(true));
        assert_eq!(c.locked_owner.as_deref(), Some("owner@example.com"));
        assert_eq!(c.funding.len(), 1);
        assert_eq!(c.funding[0].url, "https://example.com/support");
        assert_eq!(c.funding[0].text.as_deref(), Some("Support the show"));
        assert_eq!(
            c.new_feed_url.as_deref(),
            Some("https://example.com/new-feed.xml")
        );
        assert!(c.categories.iter().any(|x| x == "Technology"));
        assert_eq!(c.explicit, Some(false));
        assert_eq!(feed.episodes.len(), 3);

        let e = &feed.episodes[0];
        assert_eq!(e.guid, "ep-3");
        assert_eq!(e.title.as_deref(), Some("Episode 3 & friends"));
        let enc = e.enclosure.as_ref().expect("enclosure");
        assert_eq!(enc.url, "https://example.com/ep3.mp3");
        assert_eq!(enc.mime_type.as_deref(), Some("audio/mpeg"));
        assert_eq!(enc.length, Some(12345678));
        assert_eq!(e.duration_seconds, Some(3723));
        assert_eq!(e.season, Some(2));
        assert_eq!(e.episode, Some(3.0));
        assert_eq!(e.episode_type.as_deref(), Some("full"));
        assert_eq!(e.explicit, Some(true));
        assert_eq!(
            e.chapters_url.as_deref(),
            Some("https://example.com/ep3.chapters.json")
        );
        assert_eq!(e.transcripts.len(), 2);
        assert_eq!(e.transcripts[0].mime_type.as_deref(), Some("text/vtt"));
        assert_eq!(e.persons.len(), 2);
        assert_eq!(e.persons[1].role.as_deref(), Some("guest"));
        assert_eq!(e.image.as_deref(), Some("https://example.com/ep3.jpg"));
        assert_eq!(e.alternate_enclosures.len(), 1);
        assert_eq!(
            e.alternate_enclosures[0].sources,
            vec!["https://example.com/ep3.opus".to_string()]
        );
        assert!(e.published.is_some());

        assert_eq!(feed.episodes[1].duration_seconds, Some(1800));
        assert_eq!(feed.episodes[1].episode_type.as_deref(), Some("bonus"));
        assert_eq!(feed.episodes[2].duration_seconds, Some(45));
        assert_eq!(feed.episodes[2].episode_type.as_deref(), Some("trailer"));
    }

    #[test]
    fn atom_feed() {
        let feed = parse_feed(&fixture("atom.xml"), None).expect("parse");
        assert_eq!(feed.channel.feed_type, "atom");
        assert_eq!(feed.channel.title.as_deref(), Some("Atom Cast"));
        assert_eq!(feed.episodes.len(), 2);
        let e = &feed.episodes[0];
        assert_eq!(e.guid, "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a");
        let enc = e.enclosure.as_ref().expect("enclosure");
        assert_eq!(enc.url, "https://example.org/a1.m4a");
        assert_eq!(e.duration_seconds, Some(600));
    }

    #[test]
    fn json_feed() {
        let feed = parse_feed(&fixture("feed.json"), None).expect("parse");
        assert_eq!(feed.channel.feed_type, "json");
        assert_eq!(feed.channel.title.as_deref(), Some("JSON Cast"));
        assert_eq!(feed.episodes.len(), 2);
        let enc = feed.episodes[0].enclosure.as_ref().expect("enclosure");
        assert_eq!(enc.url, "https://example.net/j1.mp3");
        assert_eq!(enc.length, Some(1000));
    }

    #[test]
    fn latin1_feed() {
        let feed = parse_feed(&fixture("latin1.xml"), None).expect("parse");
        assert_eq!(feed.channel.title.as_deref(), Some("Café Crème"));
        assert_eq!(feed.episodes[0].title.as_deref(), Some("Épisode un"));
    }

    #[test]
    fn hostile_inputs_are_errors() {
        for name in [
            "fuzz-double-decl.xml",
            "billion-laughs.xml",
            "external-entity.xml",
            "not-a-feed.html",
            "truncated.xml",
        ] {
            let res = parse_feed(&fixture(name), None);
            assert!(res.is_err(), "{name} should be rejected, got {res:?}");
        }
        assert!(parse_feed(b"", None).is_err());
        assert!(parse_feed(b"{not json", None).is_err());
        assert!(parse_feed(&vec![b' '; MAX_FEED_BYTES + 1], None).is_err());
    }

    #[test]
    fn second_xml_declaration_is_refused() {
        // Regression (cargo-fuzz): a second declaration made feed-rs panic.
        let r = parse_feed(&fixture("fuzz-double-decl.xml"), None);
        assert!(
            matches!(&r, Err(FeedError::Parse(m)) if m.contains("misplaced")),
            "{r:?}"
        );
    }

    #[test]
    fn malformed_long_declaration_is_refused() {
        // Regression (cargo-fuzz): an unterminated declaration running into the
        // document made feed-rs panic while switching encodings.
        let r = parse_feed(&fixture("fuzz-long-decl.xml"), None);
        assert!(
            matches!(&r, Err(FeedError::Parse(m)) if m.contains("declaration")),
            "{r:?}"
        );
        assert!(normalize_decl("<?xml version=\"1.0\"?><rss/>").is_ok());
        assert!(normalize_decl("<?xml version=\"1.0\"").is_err());
    }

    #[test]
    fn overflowing_duration_does_not_lose_the_feed() {
        // Regression (cargo-fuzz): feed-rs unwraps a u64 parse of itunes:duration.
        let doc = r#"<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel><title>T</title>
            <item><title>a</title><guid>a</guid><itunes:duration>99999999999999999999999</itunes:duration></item>
            <item><title>b</title><guid>b</guid><itunes:duration>1:00</itunes:duration></item></channel></rss>"#;
        let feed = parse_feed(doc.as_bytes(), None).expect("parsed despite the bad duration");
        assert_eq!(feed.episodes.len(), 2);
        assert_eq!(feed.episodes[0].duration_seconds, None);
        assert_eq!(feed.episodes[1].duration_seconds, Some(60));
        assert_eq!(strip_elements("a<x:d>1</x:d>b<x:d>2", "x:d"), "ab");
        // the original fuzz input: must return (Ok or Err) without escaping panic
        let _ = parse_feed(&fixture("fuzz-duration-overflow.xml"), None);
    }

    #[test]
    fn huge_text_node_is_bounded() {
        let mut doc = String::from("<rss version=\"2.0\"><channel><title>");
        doc.push_str(&"A".repeat(4 * 1024 * 1024));
        doc.push_str("</title><item><title>x</title><guid>g</guid></item></channel></rss>");
        let feed = parse_feed(doc.as_bytes(), None).expect("large but under cap");
        assert_eq!(feed.episodes.len(), 1);
    }
}
