//! Atom 1.0 / 0.3 elements: an Atom document's own, and `atom:link` in RSS.

use quick_xml::events::BytesStart;

use super::{At, Enclosure, Frame, Ns, State, attr, parse_length};

fn is_media_type(t: Option<&str>) -> bool {
    t.is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("audio/") || t.starts_with("video/")
    })
}

pub(super) fn start(s: &mut State, key: &str, e: &BytesStart, at: At) {
    match key {
        "link" if at.direct => {
            let rel = attr(e, "rel").map(|r| r.to_ascii_lowercase());
            let href = s.url(attr(e, "href"));
            let Some(href) = href else { return };
            let mime_type = attr(e, "type");
            // Links in an RSS document rank behind its own `<link>`/`<enclosure>`.
            let own = s.kind.is_atom();
            match rel.as_deref() {
                Some("enclosure") if at.item => {
                    let enc = Enclosure {
                        url: href,
                        mime_type,
                        length: parse_length(attr(e, "length")),
                    };
                    s.item().enclosure.offer(1, Some(enc));
                }
                None | Some("alternate") if at.item => {
                    if is_media_type(mime_type.as_deref()) {
                        // Audio linked as "alternate": media only when nothing better.
                        let enc = Enclosure {
                            url: href,
                            mime_type,
                            length: parse_length(attr(e, "length")),
                        };
                        s.item().enclosure.offer(6, Some(enc));
                    } else {
                        s.item().link.offer(if own { 0 } else { 2 }, Some(href));
                    }
                }
                None | Some("alternate") => s.ch.link.offer(if own { 0 } else { 2 }, Some(href)),
                _ => {}
            }
        }
        "category" if s.kind.is_atom() && at.direct && !at.item => {
            if let Some(c) = attr(e, "label").or_else(|| attr(e, "term"))
                && !s.channel.categories.contains(&c)
            {
                s.channel.categories.push(c);
            }
        }
        _ => {}
    }
}

pub(super) fn end(s: &mut State, f: &Frame, at: At) {
    if !s.kind.is_atom() {
        return;
    }
    if at.item {
        if !at.direct {
            return;
        }
        match f.key.as_str() {
            "title" => {
                let t = f.value();
                s.item().ep.title = t;
            }
            // The entry's own `<id>` (not a `<source><id>`: that is not direct).
            "id" => {
                let g = f.value();
                s.item().guid.offer(0, g);
            }
            "published" | "issued" => {
                let d = s.date(&f.key, f.value());
                s.item().published.offer(0, d);
            }
            "updated" | "modified" => {
                let d = s.date(&f.key, f.value());
                s.item().published.offer(2, d);
            }
            "summary" => {
                let d = f.html();
                s.item().description.offer(0, d);
            }
            "content" => {
                let d = f.html();
                s.item().description.offer(1, d);
            }
            _ => {}
        }
        return;
    }
    if at.direct {
        match f.key.as_str() {
            "title" => s.ch.title.offer(0, f.value()),
            "subtitle" | "tagline" => s.ch.description.offer(0, f.html()),
            "logo" => {
                let u = s.url(f.value());
                s.ch.image.offer(2, u);
            }
            "icon" => {
                let u = s.url(f.value());
                s.ch.image.offer(3, u);
            }
            _ => {}
        }
        return;
    }
    // `<feed><author><name>`.
    if f.key == "name"
        && matches!(s.ancestor(0), Some((Ns::Core, "author")))
        && s.channel_depth.is_some_and(|c| s.stack.len() == c + 1)
    {
        s.ch.author.offer(1, f.value());
    }
}
