//! OPML 2.0 subscription lists: parse and serialize. Nested outlines without an
//! `xmlUrl` are folders.

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use serde::{Deserialize, Serialize};

/// Why an OPML document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpmlError {
    /// Larger than [`MAX_OPML_BYTES`].
    #[error("OPML larger than the {0} byte cap")]
    TooLarge(u64),
    /// Not well-formed, not OPML, or refused (entities, nesting).
    #[error("cannot parse: {0}")]
    Parse(String),
}

type Result<T> = std::result::Result<T, OpmlError>;

/// Largest OPML document accepted.
pub const MAX_OPML_BYTES: usize = 16 * 1024 * 1024;
/// Deepest folder nesting accepted.
pub const MAX_OPML_DEPTH: usize = 64;

/// An OPML document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Opml {
    /// `<head><title>`.
    pub title: Option<String>,
    /// `<head><dateCreated>` as written.
    pub date_created: Option<String>,
    /// `<head><ownerName>`.
    pub owner_name: Option<String>,
    /// Top-level outlines.
    pub outlines: Vec<Outline>,
}

/// One outline: a feed (has `xml_url`) or a folder (has children).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outline {
    /// `text` attribute (required by OPML 2.0).
    pub text: String,
    /// `title` attribute.
    pub title: Option<String>,
    /// `type` attribute (usually `rss`).
    pub kind: Option<String>,
    /// Feed URL.
    pub xml_url: Option<String>,
    /// Web site URL.
    pub html_url: Option<String>,
    /// Nested outlines.
    pub children: Vec<Outline>,
}

impl Outline {
    /// A feed outline.
    pub fn feed(text: &str, xml_url: &str) -> Self {
        Self {
            text: text.into(),
            kind: Some("rss".into()),
            xml_url: Some(xml_url.into()),
            ..Default::default()
        }
    }

    /// A folder outline.
    pub fn folder(text: &str, children: Vec<Outline>) -> Self {
        Self {
            text: text.into(),
            children,
            ..Default::default()
        }
    }

    /// Whether this outline is a folder.
    pub fn is_folder(&self) -> bool {
        self.xml_url.is_none()
    }
}

/// A feed with the folder path that contains it.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRef<'a> {
    /// Folder names from the top.
    pub folders: Vec<&'a str>,
    /// The feed outline.
    pub outline: &'a Outline,
}

impl Opml {
    /// All feeds, depth first, with their folder path.
    pub fn feeds(&self) -> Vec<FeedRef<'_>> {
        fn walk<'a>(list: &'a [Outline], path: &mut Vec<&'a str>, out: &mut Vec<FeedRef<'a>>) {
            for o in list {
                if o.xml_url.is_some() {
                    out.push(FeedRef {
                        folders: path.clone(),
                        outline: o,
                    });
                }
                if !o.children.is_empty() {
                    path.push(&o.text);
                    walk(&o.children, path, out);
                    path.pop();
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.outlines, &mut Vec::new(), &mut out);
        out
    }
}

fn attr(e: &BytesStart, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref().eq_ignore_ascii_case(name))
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

fn outline_from(e: &BytesStart) -> Outline {
    let text = attr(e, "text")
        .or_else(|| attr(e, "title"))
        .unwrap_or_default();
    Outline {
        text,
        title: attr(e, "title"),
        kind: attr(e, "type"),
        xml_url: attr(e, "xmlUrl").filter(|s| !s.trim().is_empty()),
        html_url: attr(e, "htmlUrl").filter(|s| !s.trim().is_empty()),
        children: Vec::new(),
    }
}

/// Parse an OPML document.
pub fn parse_opml(bytes: &[u8]) -> Result<Opml> {
    if bytes.len() > MAX_OPML_BYTES {
        return Err(OpmlError::TooLarge(MAX_OPML_BYTES as u64));
    }
    let text =
        String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).into_owned();
    let mut reader = Reader::from_str(&text);
    let mut doc = Opml::default();
    let mut stack: Vec<Outline> = Vec::new();
    let mut head_field: Option<String> = None;
    let mut field_text = String::new();
    let mut saw_opml = false;
    let mut in_body = false;
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| OpmlError::Parse(format!("malformed OPML: {e}")))?;
        match ev {
            Event::DocType(d)
                if d.xml_content(quick_xml::XmlVersion::Implicit1_0)
                    .contains("<!ENTITY") =>
            {
                return Err(OpmlError::Parse(
                    "entity declarations are not allowed".into(),
                ));
            }
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                match name.as_str() {
                    "opml" => saw_opml = true,
                    "body" => in_body = true,
                    "outline" if in_body => {
                        if stack.len() >= MAX_OPML_DEPTH {
                            return Err(OpmlError::Parse("OPML nested too deeply".into()));
                        }
                        stack.push(outline_from(&e));
                    }
                    "title" | "dateCreated" | "ownerName" if !in_body => {
                        head_field = Some(name);
                        field_text.clear();
                    }
                    _ => {}
                }
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                if name == "outline" && in_body {
                    let o = outline_from(&e);
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(o),
                        None => doc.outlines.push(o),
                    }
                } else if name == "opml" {
                    saw_opml = true;
                }
            }
            Event::End(e) => {
                let name = e.local_name().as_ref().to_string();
                match name.as_str() {
                    "outline" if in_body => {
                        if let Some(o) = stack.pop() {
                            match stack.last_mut() {
                                Some(parent) => parent.children.push(o),
                                None => doc.outlines.push(o),
                            }
                        }
                    }
                    "body" => in_body = false,
                    _ => {
                        if head_field.as_deref() == Some(name.as_str()) {
                            let v = field_text.trim().to_string();
                            let v = (!v.is_empty()).then_some(v);
                            match name.as_str() {
                                "title" => doc.title = v,
                                "dateCreated" => doc.date_created = v,
                                _ => doc.owner_name = v,
                            }
                            head_field = None;
                        }
                    }
                }
            }
            Event::Text(t) if head_field.is_some() => {
                field_text.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0));
            }
            Event::GeneralRef(r) if head_field.is_some() => {
                let name: &str = &r;
                if let Ok(s) = quick_xml::escape::unescape(&format!("&{name};")) {
                    field_text.push_str(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_opml {
        return Err(OpmlError::Parse("not an OPML document".into()));
    }
    if !stack.is_empty() {
        return Err(OpmlError::Parse("unclosed outline".into()));
    }
    Ok(doc)
}

fn push_attr(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        // escape() covers & < > ' "; also keep newlines/tabs in attributes intact
        let esc = escape(v);
        out.push_str(
            &esc.replace('\n', "&#10;")
                .replace('\r', "&#13;")
                .replace('\t', "&#9;"),
        );
        out.push('"');
    }
}

/// Serialize to OPML 2.0.
pub fn to_opml(doc: &Opml) -> String {
    fn write(out: &mut String, list: &[Outline], indent: usize) {
        for o in list {
            out.push_str(&"  ".repeat(indent));
            out.push_str("<outline");
            push_attr(out, "text", Some(&o.text));
            push_attr(out, "title", o.title.as_deref());
            push_attr(out, "type", o.kind.as_deref());
            push_attr(out, "xmlUrl", o.xml_url.as_deref());
            push_attr(out, "htmlUrl", o.html_url.as_deref());
            if o.children.is_empty() {
                out.push_str("/>\n");
            } else {
                out.push_str(">\n");
                write(out, &o.children, indent + 1);
                out.push_str(&"  ".repeat(indent));
                out.push_str("</outline>\n");
            }
        }
    }
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n",
    );
    for (tag, v) in [
        ("title", &doc.title),
        ("dateCreated", &doc.date_created),
        ("ownerName", &doc.owner_name),
    ] {
        if let Some(v) = v {
            out.push_str(&format!("    <{tag}>{}</{tag}>\n", escape(v.as_str())));
        }
    }
    out.push_str("  </head>\n  <body>\n");
    write(&mut out, &doc.outlines, 2);
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(n_feeds: usize) -> Opml {
        // 5 top folders × 4 subfolders × (n/20) feeds, plus a few loose feeds at top.
        let mut outlines = Vec::new();
        let mut k = 0;
        let per = n_feeds / 20;
        for f in 0..5 {
            let mut subs = Vec::new();
            for s in 0..4 {
                let feeds = (0..per)
                    .map(|_| {
                        k += 1;
                        let mut o = Outline::feed(
                            &format!("Show #{k} — \"Q&A\" <live> 日本語 'x'"),
                            &format!("https://feeds.example/{k}.xml?a=1&b=2"),
                        );
                        if k % 3 == 0 {
                            o.html_url = Some(format!("https://example/{k}"));
                            o.title = Some(format!("Title\twith\nspecials {k}"));
                        }
                        o
                    })
                    .collect();
                subs.push(Outline::folder(&format!("Sub {f}.{s} & more"), feeds));
            }
            outlines.push(Outline::folder(&format!("Folder {f}"), subs));
        }
        Opml {
            title: Some("My <subs> & co".into()),
            date_created: None,
            owner_name: Some("Me".into()),
            outlines,
        }
    }

    #[test]
    fn round_trip_500_nested() {
        let doc = generated(500);
        assert_eq!(doc.feeds().len(), 500);
        let xml = to_opml(&doc);
        let back = parse_opml(xml.as_bytes()).expect("parse back");
        assert_eq!(back, doc);
        let feeds = back.feeds();
        assert_eq!(feeds.len(), 500);
        assert_eq!(feeds[0].folders, vec!["Folder 0", "Sub 0.0 & more"]);
        // serialize(parse(serialize(x))) is stable
        assert_eq!(to_opml(&back), xml);
    }

    #[test]
    fn parses_real_world_export() {
        let bytes = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/opml/export.opml"),
        )
        .expect("fixture");
        let doc = parse_opml(&bytes).expect("parse");
        assert_eq!(doc.title.as_deref(), Some("Podcast subscriptions"));
        let feeds = doc.feeds();
        assert_eq!(feeds.len(), 4);
        assert_eq!(
            feeds[0].outline.xml_url.as_deref(),
            Some("https://feeds.example.com/a.xml")
        );
        assert!(feeds[0].folders.is_empty());
        assert_eq!(feeds[2].folders, vec!["Tech"]);
        assert_eq!(feeds[3].folders, vec!["Tech", "Rust"]);
        assert_eq!(feeds[1].outline.text, "B & C");
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse_opml(b"<html/>").is_err());
        assert!(parse_opml(b"<opml><body><outline text='a'>").is_err());
        assert!(parse_opml(b"<!DOCTYPE x [<!ENTITY a 'b'>]><opml/>").is_err());
        let deep = format!(
            "<opml><body>{}</body></opml>",
            "<outline text='x'>".repeat(100)
        );
        assert!(parse_opml(deep.as_bytes()).is_err());
        assert!(parse_opml(b"").is_err());
    }
}
