//! The RSS vocabulary (0.9x, 1.0 and 2.0 elements in the document's own namespace).

use quick_xml::events::BytesStart;

use super::{At, Enclosure, Frame, Ns, State, attr, parse_length};

pub(super) fn start(s: &mut State, key: &str, e: &BytesStart, at: At) {
    match key {
        // The episode's media. The first `<enclosure>` wins over every other source.
        "enclosure" if at.item && at.direct => {
            let url = s.url(attr(e, "url"));
            if let Some(url) = url {
                let enc = Enclosure {
                    url,
                    mime_type: attr(e, "type"),
                    length: parse_length(attr(e, "length")),
                };
                s.item().enclosure.offer(0, Some(enc));
            }
        }
        "guid" if at.item && at.direct => s.keep("permalink", attr(e, "isPermaLink")),
        _ => {}
    }
}

pub(super) fn end(s: &mut State, f: &Frame, at: At) {
    if at.item {
        if !at.direct {
            return;
        }
        match f.key.as_str() {
            "title" => {
                let t = f.value();
                s.item().ep.title = t;
            }
            "link" => {
                let l = s.url(f.value());
                s.item().link.offer(0, l);
            }
            "description" => {
                let d = f.html();
                s.item().description.offer(0, d);
            }
            // The guid is `<guid>` only; never another namespace's `*:id`.
            "guid" => {
                let g = f.value();
                let permalink = f
                    .attr("permalink")
                    .is_none_or(|p| !p.eq_ignore_ascii_case("false"));
                if permalink && g.as_deref().is_some_and(|g| g.starts_with("http")) {
                    s.item().link.offer(3, g.clone());
                }
                s.item().guid.offer(0, g);
            }
            "pubdate" => {
                let d = s.date("pubDate", f.value());
                s.item().published.offer(0, d);
            }
            _ => {}
        }
        return;
    }
    if at.direct {
        match f.key.as_str() {
            "title" => s.ch.title.offer(0, f.value()),
            "link" => {
                let l = s.url(f.value());
                s.ch.link.offer(0, l);
            }
            "description" => s.ch.description.offer(0, f.html()),
            "language" => s.ch.language.offer(0, f.value()),
            "managingeditor" => s.ch.author.offer(3, f.value()),
            "category" => {
                if let Some(c) = f.value()
                    && !s.channel.categories.contains(&c)
                {
                    s.channel.categories.push(c);
                }
            }
            _ => {}
        }
        return;
    }
    // `<image><url>` of the channel (RSS 1.0 puts `<image>` beside the channel).
    if f.key == "url" && matches!(s.ancestor(0), Some((Ns::Core, "image"))) {
        let u = s.url(f.value());
        s.ch.image.offer(1, u);
    }
}
