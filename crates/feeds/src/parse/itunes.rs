//! The iTunes podcast namespace (`itunes:`), matched whatever the URI's case and
//! also when the prefix is never declared.

use quick_xml::events::BytesStart;

use super::{At, Frame, State, attr, non_empty, parse_yes_no};

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

pub(super) fn start(s: &mut State, key: &str, e: &BytesStart, at: At) {
    match key {
        "image" if at.direct => {
            let href = s.url(attr(e, "href").or_else(|| attr(e, "url")));
            if at.item {
                s.item().image.offer(0, href);
            } else {
                s.ch.image.offer(0, href);
            }
        }
        // Categories nest (subcategories): all of them, flattened.
        "category" if !at.item => {
            if let Some(c) = attr(e, "text")
                && !s.channel.categories.contains(&c)
            {
                s.channel.categories.push(c);
            }
        }
        _ => {}
    }
}

pub(super) fn end(s: &mut State, f: &Frame, at: At) {
    if !at.direct {
        return;
    }
    let text = f.value();
    if at.item {
        match f.key.as_str() {
            "duration" => {
                if let Some(raw) = text {
                    match parse_duration(&raw) {
                        Some(d) => s.item().duration.offer(0, Some(d)),
                        None => s.warn(format!("unreadable itunes:duration {raw:?}")),
                    }
                }
            }
            "episodetype" => s.item().ep.episode_type = text,
            "explicit" => s.item().ep.explicit = text.as_deref().and_then(parse_yes_no),
            "season" => {
                let v = number(s, "itunes:season", text);
                s.item().season.offer(0, v.map(|v| v as u32));
            }
            "episode" => {
                let v = number(s, "itunes:episode", text);
                s.item().episode.offer(0, v);
            }
            "summary" => s.item().description.offer(2, text),
            _ => {}
        }
        return;
    }
    match f.key.as_str() {
        "new-feed-url" => s.channel.new_feed_url = s.url(text),
        "author" => s.ch.author.offer(0, text),
        "explicit" => s.channel.explicit = text.as_deref().and_then(parse_yes_no),
        "type" => s.channel.itunes_type = text,
        "summary" => s.ch.description.offer(1, text),
        "subtitle" => s.ch.description.offer(2, text),
        _ => {}
    }
}

/// A season or episode number (`3`, `3.5`, ` 12 `); a warning when unreadable.
pub(super) fn number(s: &mut State, what: &str, text: Option<String>) -> Option<f64> {
    let raw = text?;
    match non_empty(&raw).and_then(|t| t.parse::<f64>().ok()) {
        Some(v) if v.is_finite() && (0.0..4.0e9).contains(&v) => Some(v),
        _ => {
            s.warn(format!("unreadable {what} {raw:?}"));
            None
        }
    }
}
