//! Feed parsing: RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed into the
//! [`skypod_model`] feed JSON.
//!
//! XML is read in one pass (quick-xml) over one parse state, as AntennaPod does: the
//! event loop here keeps the stack of open elements and their text, and hands each
//! element to the handler of its namespace — [`rss`] (the document's own RSS
//! vocabulary), [`atom`], [`itunes`], [`podcast`] (Podcasting 2.0), [`media`] (Media
//! RSS) and [`extras`] (`content:`, `dc:`). So every item's extension fields are read
//! with the item itself: nothing has to be matched up afterwards. Dates are
//! [`dates`]; JSON Feed is [`json`].
//!
//! Namespaces are matched as publishers write them: URIs case-insensitively, and the
//! usual prefixes (`itunes:`, `podcast:`, `media:`, …) even when never declared.
//!
//! Safety: input is capped ([`MAX_FEED_BYTES`]); documents that declare entities
//! (`<!ENTITY` in the DOCTYPE: billion laughs, external entities) are refused; only
//! the predefined XML entities, character references and HTML's named entities are
//! expanded (never a declared one). Non-UTF-8 documents are transcoded according to
//! their BOM or XML declaration. Element nesting is capped ([`MAX_DEPTH`]).

mod atom;
mod dates;
mod extras;
mod itunes;
mod json;
mod media;
mod podcast;
mod rss;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

pub use dates::parse_date;
pub use itunes::parse_duration;
pub use skypod_model::feed::{
    AlternateEnclosure, Channel, Enclosure, Episode, Funding, ParsedFeed, Person, Transcript,
};

use crate::error::{FeedError, Result};

/// Largest feed document accepted.
pub const MAX_FEED_BYTES: usize = 32 * 1024 * 1024;

/// Deepest element nesting accepted (a feed needs about 6).
pub const MAX_DEPTH: usize = 256;

/// How far into the document the XML declaration is looked for.
const DECL_SNIFF_BYTES: usize = 512;

/// Parse a feed document (RSS, Atom or JSON Feed). `base_url` (the feed's own URL)
/// resolves relative links.
pub fn parse_feed(bytes: &[u8], base_url: Option<&str>) -> Result<ParsedFeed> {
    if bytes.len() > MAX_FEED_BYTES {
        return Err(FeedError::TooLarge(MAX_FEED_BYTES as u64));
    }
    let text = to_utf8(bytes);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.is_empty() {
        return Err(FeedError::Parse("empty document".into()));
    }
    let base = base_url.and_then(|b| url::Url::parse(b).ok());
    if trimmed.starts_with('{') {
        return json::parse(trimmed, base.as_ref());
    }
    let doc = normalize_decl(trimmed)?;
    // quick-xml is fuzzed here (fuzz/parse_feed) but is not ours: a panic in it on
    // hostile input is an error for this feed, never a crash of the proxy.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse_xml(&doc, base))).unwrap_or_else(
        |_| {
            Err(FeedError::Parse(
                "feed parser failed on malformed input".into(),
            ))
        },
    )
}

/// Decode to UTF-8 using the BOM or the XML declaration's encoding (UTF-8 lossy
/// otherwise), rewriting the declaration so it no longer names another encoding.
fn to_utf8(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes)
        && enc != encoding_rs::UTF_8
    {
        let (cow, _) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        return rewrite_decl(cow.into_owned());
    }
    if let Some(label) = declared_encoding(bytes)
        && let Some(enc) = encoding_rs::Encoding::for_label(label.as_bytes())
        && enc != encoding_rs::UTF_8
        // A UTF-16 label on a document without a BOM that reads as ASCII is a lie.
        && enc != encoding_rs::UTF_16LE
        && enc != encoding_rs::UTF_16BE
    {
        let (cow, _) = enc.decode_without_bom_handling(bytes);
        return rewrite_decl(cow.into_owned());
    }
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `encoding` of an XML declaration at the start of `bytes`, read as bytes so
/// a multi-byte character cut by the sniff window cannot matter.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(DECL_SNIFF_BYTES)];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = find_bytes(head, b"?>")?;
    let decl = &head[..end];
    // A declaration running into markup is malformed: [`normalize_decl`] refuses it.
    if decl[5..].iter().any(|&b| b == b'<' || b == b'>') {
        return None;
    }
    let pos = find_bytes(decl, b"encoding")?;
    let rest = &decl[pos + 8..];
    let rest = rest
        .iter()
        .position(|b| !matches!(b, b' ' | b'=' | b'\t' | b'\r' | b'\n'))
        .map_or(&[][..], |i| &rest[i..]);
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let rest = &rest[1..];
    let len = rest.iter().position(|&b| b == quote)?;
    Some(String::from_utf8_lossy(&rest[..len]).trim().to_string())
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The body is UTF-8 by now: replace the XML declaration by a canonical UTF-8 one,
/// refusing malformed declarations (a long or repeated declaration made quick-xml
/// panic when switching encodings: found by cargo-fuzz). The declaration's end is
/// looked for in the first [`DECL_SNIFF_BYTES`] bytes as bytes: a character that
/// straddles that boundary is not a malformed declaration.
fn normalize_decl(doc: &str) -> Result<std::borrow::Cow<'_, str>> {
    const CANONICAL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>";
    if !doc.starts_with("<?xml") {
        return Ok(doc.into());
    }
    let head = &doc.as_bytes()[..doc.len().min(DECL_SNIFF_BYTES)];
    let end = find_bytes(head, b"?>")
        .ok_or_else(|| FeedError::Parse("malformed XML declaration".into()))?;
    // `?>` is ASCII, so `end` and `end + 2` are character boundaries.
    if doc[5..end].contains(['<', '>']) {
        return Err(FeedError::Parse("malformed XML declaration".into()));
    }
    Ok(format!("{CANONICAL}{}", &doc[end + 2..]).into())
}

fn rewrite_decl(s: String) -> String {
    if s.starts_with("<?xml")
        && let Some(end) = s.find("?>")
    {
        return format!("<?xml version=\"1.0\" encoding=\"UTF-8\"{}", &s[end..]);
    }
    s
}

/// Which vocabulary an element belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    /// The document's own vocabulary: RSS (no namespace, RSS 1.0/0.90's) in an RSS
    /// document, Atom in an Atom document.
    Core,
    /// Atom elements inside an RSS document (`atom:link`).
    Atom,
    Itunes,
    Podcast,
    Media,
    Content,
    Dc,
    Other,
}

/// The feed's format, from its root element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rss2,
    Rss0,
    Rss1,
    Atom,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Rss2 => "rss2",
            Kind::Rss0 => "rss0",
            Kind::Rss1 => "rss1",
            Kind::Atom => "atom",
        }
    }
    pub(crate) fn is_atom(self) -> bool {
        self == Kind::Atom
    }
}

/// A namespace URI as publishers write it (any case, with or without a trailing
/// slash or `#`).
fn ns_of_uri(uri: &str) -> Ns {
    let u = uri.trim().to_ascii_lowercase();
    let u = u
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches(['/', '#']);
    match u {
        "www.w3.org/2005/atom" | "purl.org/atom/ns" => Ns::Atom,
        "purl.org/rss/1.0" | "my.netscape.com/rdf/simple/0.9" | "backend.userland.com/rss2" => {
            Ns::Core
        }
        "purl.org/rss/1.0/modules/content" => Ns::Content,
        "purl.org/dc/elements/1.1" | "purl.org/dc/terms" => Ns::Dc,
        _ if u.contains("itunes.com/dtds/podcast") => Ns::Itunes,
        _ if u.contains("podcastindex.org/namespace") || u.contains("podcast-namespace") => {
            Ns::Podcast
        }
        _ if u.starts_with("search.yahoo.com/mrss") || u == "search.yahoo.com/rss" => Ns::Media,
        _ => Ns::Other,
    }
}

/// An undeclared prefix, by the name every publisher uses for it.
fn ns_of_prefix(prefix: &str) -> Ns {
    match prefix.to_ascii_lowercase().as_str() {
        "itunes" => Ns::Itunes,
        "podcast" => Ns::Podcast,
        "media" => Ns::Media,
        "content" => Ns::Content,
        "dc" | "dcterms" => Ns::Dc,
        "atom" | "atom10" => Ns::Atom,
        _ => Ns::Other,
    }
}

/// One open element.
pub(crate) struct Frame {
    pub ns: Ns,
    /// Local name, lowercased (feeds write `pubDate`, `pubdate`, `PubDate`).
    pub key: String,
    /// Qualified name as written (to close it in [`Frame::markup`]).
    qname: String,
    /// Text content, descendants' text included (inline markup flattened).
    pub text: String,
    /// The content as markup, once a child element appeared (unescaped XHTML in a
    /// description); `None` while the content is text only.
    pub markup: Option<String>,
    /// Attributes a handler keeps for the element's end.
    pub attrs: Vec<(&'static str, String)>,
    /// Whether descendants' text is gathered here (not for the root, the channel
    /// and items: their text is only whitespace and would cost a copy of the feed).
    capture: bool,
    /// `<x/>`: written so in a parent's markup, with no end tag.
    self_closed: bool,
}

impl Frame {
    /// The text, trimmed, if not empty.
    pub fn value(&self) -> Option<String> {
        non_empty(&self.text)
    }
    /// The content as published: markup when it has child elements, else text.
    pub fn html(&self) -> Option<String> {
        match &self.markup {
            Some(m) => non_empty(m),
            None => self.value(),
        }
    }
    /// A kept attribute.
    pub fn attr(&self, name: &str) -> Option<String> {
        self.attrs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

/// A value offered by several elements: the best-ranked (lowest) one wins, the first
/// of equal rank.
#[derive(Debug, Default)]
pub(crate) struct Ranked<T>(Option<(u8, T)>);

impl<T> Ranked<T> {
    pub fn offer(&mut self, rank: u8, value: Option<T>) {
        if let Some(v) = value
            && self.0.as_ref().is_none_or(|(r, _)| rank < *r)
        {
            self.0 = Some((rank, v));
        }
    }
    pub fn take(&mut self) -> Option<T> {
        self.0.take().map(|(_, v)| v)
    }
}

/// The episode being read.
#[derive(Default)]
pub(crate) struct ItemDraft {
    pub ep: Episode,
    pub guid: Ranked<String>,
    pub link: Ranked<String>,
    pub description: Ranked<String>,
    pub published: Ranked<chrono::DateTime<chrono::Utc>>,
    /// `<enclosure>` / Atom `rel="enclosure"`: the episode's media when present.
    pub enclosure: Ranked<Enclosure>,
    pub image: Ranked<String>,
    pub duration: Ranked<u64>,
    pub season: Ranked<u32>,
    pub episode: Ranked<f64>,
}

/// Channel values offered by several elements.
#[derive(Default)]
pub(crate) struct ChannelDraft {
    pub title: Ranked<String>,
    pub link: Ranked<String>,
    pub description: Ranked<String>,
    pub image: Ranked<String>,
    pub author: Ranked<String>,
    pub language: Ranked<String>,
}

/// Where an element is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    /// Inside an item (at any depth).
    pub item: bool,
    /// A direct child of the item, or (outside items) of the channel.
    pub direct: bool,
}

/// The one parse state every namespace handler fills.
pub(crate) struct State {
    pub kind: Kind,
    pub base: Option<url::Url>,
    pub channel: Channel,
    pub ch: ChannelDraft,
    pub episodes: Vec<ParsedEpisode>,
    pub item: Option<ItemDraft>,
    stack: Vec<Frame>,
    channel_depth: Option<usize>,
    item_depth: Option<usize>,
}

/// A finished episode (kept apart from [`Episode`] only to keep the type names short).
pub(crate) type ParsedEpisode = Episode;

impl State {
    /// Resolve a URL against the feed's URL (relative links, `//host/…`).
    pub fn url(&self, raw: Option<String>) -> Option<String> {
        let raw = raw?;
        let raw = raw.trim();
        if raw.is_empty() {
            return None;
        }
        match &self.base {
            Some(b) if url::Url::parse(raw).is_err() => Some(
                b.join(raw)
                    .map_or_else(|_| raw.to_string(), |u| u.to_string()),
            ),
            _ => Some(raw.to_string()),
        }
    }

    /// The item being read (handlers call this only when `At::item`).
    pub fn item(&mut self) -> &mut ItemDraft {
        self.item.get_or_insert_with(ItemDraft::default)
    }

    /// The key of the element `up` levels above the current one (0: the current).
    pub fn ancestor(&self, up: usize) -> Option<(&Ns, &str)> {
        let f = self.stack.get(self.stack.len().checked_sub(up + 1)?)?;
        Some((&f.ns, f.key.as_str()))
    }

    /// Keep an attribute of the current element for its end.
    pub fn keep(&mut self, name: &'static str, value: Option<String>) {
        if let (Some(f), Some(v)) = (self.stack.last_mut(), value) {
            f.attrs.push((name, v));
        }
    }

    /// A warning on the current item.
    pub fn warn(&mut self, msg: String) {
        if self.item.is_some() {
            self.item().ep.warnings.push(msg);
        } else {
            tracing::debug!("feed: {msg}");
        }
    }

    /// A date element's text: parsed, or a warning on the item.
    pub fn date(
        &mut self,
        element: &str,
        raw: Option<String>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let raw = raw?;
        match parse_date(&raw) {
            Some(d) => Some(d),
            None => {
                self.warn(format!("unreadable date in <{element}>: {raw:?}"));
                None
            }
        }
    }

    fn finish_item(&mut self) {
        let Some(mut d) = self.item.take() else {
            return;
        };
        let mut ep = std::mem::take(&mut d.ep);
        ep.guid = d.guid.take();
        ep.link = d.link.take();
        ep.description = d.description.take();
        ep.published = d.published.take();
        ep.enclosure = d.enclosure.take();
        ep.image = d.image.take();
        ep.duration_seconds = d.duration.take();
        ep.season = d.season.take();
        ep.episode = d.episode.take();
        self.episodes.push(ep);
    }
}

/// An attribute by local name (`href`, `xml:lang` → `lang`), trimmed, non-empty.
pub(crate) fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref().eq_ignore_ascii_case(name))
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
}

pub(crate) fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// `yes`/`true`/`explicit` → true, `no`/`false`/`clean` → false.
pub(crate) fn parse_yes_no(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "explicit" => Some(true),
        "no" | "false" | "clean" => Some(false),
        _ => None,
    }
}

/// A byte length as feeds write it (`12345`, ` 12345 `, `12,345`); `0` is unknown.
pub(crate) fn parse_length(raw: Option<String>) -> Option<u64> {
    let digits: String = raw?.chars().filter(|c| !matches!(c, ',' | ' ')).collect();
    digits.parse().ok().filter(|&n| n > 0)
}

/// Root element → feed format.
fn kind_of_root(local: &str, e: &BytesStart) -> Result<Kind> {
    match local.to_ascii_lowercase().as_str() {
        // `version` absent, "2", "2.0", "2.00", "0.91"–"0.94": all RSS.
        "rss" => Ok(match attr(e, "version") {
            Some(v) if v.starts_with("0.9") => Kind::Rss0,
            _ => Kind::Rss2,
        }),
        "rdf" => Ok(Kind::Rss1),
        "feed" => Ok(Kind::Atom),
        other => Err(FeedError::Parse(format!(
            "not a feed: the root element is <{other}>"
        ))),
    }
}

fn parse_xml(xml: &str, base: Option<url::Url>) -> Result<ParsedFeed> {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut st: Option<State> = None;
    let mut base = base;
    let mut first_event = true;
    let mut root_uri: Option<String> = None;
    loop {
        let (res, event) = reader
            .read_resolved_event()
            .map_err(|e| FeedError::Parse(format!("malformed XML: {e}")))?;
        // An XML declaration is only valid as the very first thing in the document
        // (a second one made quick-xml panic: found by fuzzing).
        if matches!(event, Event::Decl(_)) && !first_event {
            return Err(FeedError::Parse("misplaced XML declaration".into()));
        }
        first_event = false;
        let ns = match &res {
            ResolveResult::Bound(n) => {
                let uri: &str = n.as_ref();
                match ns_of_uri(uri) {
                    Ns::Other if root_uri.as_deref() == Some(uri) => Ns::Core,
                    other => other,
                }
            }
            ResolveResult::Unknown(prefix) => ns_of_prefix(prefix),
            ResolveResult::Unbound => Ns::Core,
        };
        // In an Atom document, Atom is the document's own vocabulary.
        let ns = match (ns, &st) {
            (Ns::Atom, Some(s)) if s.kind.is_atom() => Ns::Core,
            _ => ns,
        };
        match event {
            Event::DocType(d) => {
                let content = d.xml_content(quick_xml::XmlVersion::Implicit1_0);
                if content.contains("<!ENTITY") || content.contains('[') {
                    return Err(FeedError::Parse(
                        "entity declarations are not allowed".into(),
                    ));
                }
            }
            Event::Start(e) if st.is_none() => {
                st = Some(start_root(&e, &res, &mut base, &mut root_uri)?);
            }
            Event::Empty(e) if st.is_none() => {
                let mut s = start_root(&e, &res, &mut base, &mut root_uri)?;
                s.stack.clear();
                st = Some(s);
            }
            Event::Start(e) => {
                let s = st.as_mut().expect("root seen");
                if s.stack.len() >= MAX_DEPTH {
                    return Err(FeedError::Parse("elements nested too deeply".into()));
                }
                open(s, ns, &e, false);
            }
            Event::Empty(e) => {
                let s = st.as_mut().expect("root seen");
                open(s, ns, &e, true);
                close(s);
            }
            Event::End(_) => {
                let s = st.as_mut().expect("root seen");
                close(s);
            }
            Event::Text(t) => {
                if let Some(f) = st.as_mut().and_then(|s| s.stack.last_mut()) {
                    push_text(f, &t.xml_content(quick_xml::XmlVersion::Implicit1_0));
                }
            }
            Event::CData(t) => {
                if let Some(f) = st.as_mut().and_then(|s| s.stack.last_mut()) {
                    push_text(f, &t.xml_content(quick_xml::XmlVersion::Implicit1_0));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(f) = st.as_mut().and_then(|s| s.stack.last_mut()) {
                    let name: &str = &r;
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        push_text(f, c.encode_utf8(&mut [0; 4]));
                    } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(name)
                        .or_else(|| quick_xml::escape::resolve_html5_entity(name))
                    {
                        push_text(f, s);
                    } else {
                        // An undefined entity: keep it as written rather than lose text.
                        push_text(f, &format!("&{name};"));
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let Some(mut st) = st else {
        return Err(FeedError::Parse("no root element".into()));
    };
    if !st.stack.is_empty() {
        return Err(FeedError::Parse(
            "truncated document: unclosed elements".into(),
        ));
    }
    let ch = &mut st.ch;
    st.channel.title = ch.title.take();
    st.channel.link = ch.link.take();
    st.channel.description = ch.description.take();
    st.channel.image = ch.image.take();
    st.channel.author = ch.author.take();
    st.channel.language = ch.language.take();
    Ok(ParsedFeed {
        channel: st.channel,
        episodes: st.episodes,
    })
}

/// The root element: the feed's format, and the state to fill.
fn start_root(
    e: &BytesStart,
    res: &ResolveResult,
    base: &mut Option<url::Url>,
    root_uri: &mut Option<String>,
) -> Result<State> {
    let local = e.local_name().as_ref().to_string();
    let kind = kind_of_root(&local, e)?;
    if let ResolveResult::Bound(n) = res {
        *root_uri = Some(n.as_ref().to_string());
    }
    let mut s = State {
        kind,
        base: base.take(),
        channel: Channel::default(),
        ch: ChannelDraft::default(),
        episodes: Vec::new(),
        item: None,
        stack: Vec::new(),
        channel_depth: None,
        item_depth: None,
    };
    s.channel.feed_type = kind.name().to_string();
    if kind.is_atom() {
        s.channel_depth = Some(1);
        s.ch.language.offer(1, attr(e, "lang"));
        if let Some(b) = s
            .url(attr(e, "base"))
            .and_then(|u| url::Url::parse(&u).ok())
        {
            s.base = Some(b);
        }
    }
    s.stack.push(Frame {
        ns: Ns::Core,
        key: local.to_ascii_lowercase(),
        qname: e.name().as_ref().to_string(),
        text: String::new(),
        markup: None,
        attrs: Vec::new(),
        capture: false,
        self_closed: false,
    });
    Ok(s)
}

fn push_text(f: &mut Frame, s: &str) {
    if !f.capture {
        return;
    }
    f.text.push_str(s);
    if let Some(m) = &mut f.markup {
        m.push_str(&quick_xml::escape::partial_escape(s));
    }
}

fn at(s: &State, depth: usize) -> At {
    match s.item_depth {
        Some(d) => At {
            item: true,
            direct: depth == d + 1,
        },
        None => At {
            item: false,
            direct: s.channel_depth.is_some_and(|c| depth == c + 1),
        },
    }
}

/// An element starts: push its frame, mark items and the channel, run its
/// namespace's start handler.
fn open(s: &mut State, ns: Ns, e: &BytesStart, empty: bool) {
    let key = e.local_name().as_ref().to_ascii_lowercase();
    let qname = e.name().as_ref().to_string();
    // Inline markup inside a captured element (unescaped HTML in a title or a
    // description): the parent's content becomes markup.
    if let Some(parent) = s.stack.last_mut()
        && parent.capture
    {
        let m = parent
            .markup
            .get_or_insert_with(|| quick_xml::escape::partial_escape(&parent.text).into_owned());
        m.push('<');
        m.push_str(&qname);
        m.push_str(e.attributes_raw());
        m.push_str(if empty { "/>" } else { ">" });
    }
    let depth = s.stack.len() + 1;
    let core = ns == Ns::Core;
    let is_item = core && s.item_depth.is_none() && (key == "item" || key == "entry");
    let is_channel = core && !s.kind.is_atom() && key == "channel" && depth == 2;
    s.stack.push(Frame {
        ns,
        key,
        qname,
        text: String::new(),
        markup: None,
        attrs: Vec::new(),
        capture: !(is_item || is_channel),
        self_closed: empty,
    });
    if is_item {
        s.finish_item();
        let mut item = ItemDraft::default();
        // RSS 1.0: the item's own URI (`rdf:about`) is its identifier, behind a `<guid>`.
        if s.kind == Kind::Rss1 {
            item.guid.offer(1, attr(e, "about"));
        }
        s.item = Some(item);
        s.item_depth = Some(depth);
        return;
    }
    if is_channel {
        s.channel_depth = Some(depth);
        return;
    }
    let at = at(s, depth);
    let key = s.stack.last().map(|f| f.key.clone()).unwrap_or_default();
    match ns {
        Ns::Core if s.kind.is_atom() => atom::start(s, &key, e, at),
        Ns::Core => rss::start(s, &key, e, at),
        Ns::Atom => atom::start(s, &key, e, at),
        Ns::Itunes => itunes::start(s, &key, e, at),
        Ns::Podcast => podcast::start(s, &key, e, at),
        Ns::Media => media::start(s, &key, e, at),
        Ns::Content | Ns::Dc | Ns::Other => {}
    }
}

/// An element ends: pop its frame, run its namespace's end handler, hand its
/// content to a capturing parent.
fn close(s: &mut State) {
    let depth = s.stack.len();
    let Some(f) = s.stack.pop() else {
        return;
    };
    if s.item_depth == Some(depth) {
        s.finish_item();
        s.item_depth = None;
        return;
    }
    if s.channel_depth == Some(depth) && !s.kind.is_atom() {
        s.channel_depth = None;
        return;
    }
    let at = at(s, depth);
    match f.ns {
        Ns::Core if s.kind.is_atom() => atom::end(s, &f, at),
        Ns::Core => rss::end(s, &f, at),
        Ns::Atom => atom::end(s, &f, at),
        Ns::Itunes => itunes::end(s, &f, at),
        Ns::Podcast => podcast::end(s, &f, at),
        Ns::Media => media::end(s, &f, at),
        Ns::Content | Ns::Dc => extras::end(s, &f, at),
        Ns::Other => {}
    }
    if let Some(parent) = s.stack.last_mut()
        && parent.capture
    {
        parent.text.push_str(&f.text);
        if let Some(m) = &mut parent.markup {
            match &f.markup {
                Some(inner) => m.push_str(inner),
                None => m.push_str(&quick_xml::escape::partial_escape(&f.text)),
            }
            if !f.self_closed {
                m.push_str("</");
                m.push_str(&f.qname);
                m.push('>');
            }
        }
    }
}

#[cfg(test)]
mod tests;
