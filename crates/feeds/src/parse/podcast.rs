//! The Podcasting 2.0 namespace (`podcast:`).

use quick_xml::events::BytesStart;

use super::{
    AlternateEnclosure, At, Frame, Funding, Ns, Person, State, Transcript, attr, parse_yes_no,
};

pub(super) fn start(s: &mut State, key: &str, e: &BytesStart, at: At) {
    match key {
        "chapters" if at.item && at.direct => {
            let url = s.url(attr(e, "url"));
            let it = s.item();
            it.ep.chapters_url = url;
            it.ep.chapters_type = attr(e, "type");
        }
        "transcript" if at.item && at.direct => {
            if let Some(url) = s.url(attr(e, "url")) {
                s.item().ep.transcripts.push(Transcript {
                    url,
                    mime_type: attr(e, "type"),
                    language: attr(e, "language"),
                    rel: attr(e, "rel"),
                });
            }
        }
        "alternateenclosure" if at.item && at.direct => {
            s.item().ep.alternate_enclosures.push(AlternateEnclosure {
                mime_type: attr(e, "type"),
                length: attr(e, "length").and_then(|v| v.parse().ok()),
                bitrate: attr(e, "bitrate").and_then(|v| v.parse().ok()),
                title: attr(e, "title"),
                sources: Vec::new(),
            });
        }
        "source"
            if at.item && matches!(s.ancestor(1), Some((Ns::Podcast, "alternateenclosure"))) =>
        {
            if let Some(uri) = s.url(attr(e, "uri"))
                && let Some(alt) = s.item().ep.alternate_enclosures.last_mut()
            {
                alt.sources.push(uri);
            }
        }
        "locked" => s.keep("owner", attr(e, "owner")),
        "funding" => {
            let url = s.url(attr(e, "url"));
            s.keep("url", url);
        }
        "person" => {
            for k in ["role", "group", "img", "href"] {
                s.keep(k, attr(e, k));
            }
        }
        _ => {}
    }
}

pub(super) fn end(s: &mut State, f: &Frame, at: At) {
    if !at.direct {
        return;
    }
    if at.item {
        match f.key.as_str() {
            "person" => {
                if let Some(name) = f.value() {
                    s.item().ep.persons.push(Person {
                        name,
                        role: f.attr("role"),
                        group: f.attr("group"),
                        img: f.attr("img"),
                        href: f.attr("href"),
                    });
                }
            }
            "season" => {
                let v = super::itunes::number(s, "podcast:season", f.value());
                s.item().season.offer(1, v.map(|v| v as u32));
            }
            "episode" => {
                let v = super::itunes::number(s, "podcast:episode", f.value());
                s.item().episode.offer(1, v);
            }
            _ => {}
        }
        return;
    }
    match f.key.as_str() {
        "guid" => s.channel.podcast_guid = f.value(),
        "locked" => {
            s.channel.locked = f.value().as_deref().and_then(parse_yes_no);
            s.channel.locked_owner = f.attr("owner");
        }
        "funding" => {
            if let Some(url) = f.attr("url") {
                s.channel.funding.push(Funding {
                    url,
                    text: f.value(),
                });
            }
        }
        _ => {}
    }
}
