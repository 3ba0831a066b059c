//! Media RSS (`media:`). Never the episode's audio when the item has an
//! `<enclosure>`; an image `media:content` is never audio (it is the episode's
//! image), and `media:player` (an HTML page) is never media at all.

use quick_xml::events::BytesStart;

use super::{At, Enclosure, Frame, State, attr, parse_length};

/// Audio or video by `medium`, else by MIME type, else by file extension.
fn kind_of(medium: Option<&str>, mime: Option<&str>, url: &str) -> Option<&'static str> {
    let by_medium = medium.map(str::to_ascii_lowercase);
    match by_medium.as_deref() {
        Some("audio") | Some("video") => return Some("media"),
        Some("image") => return Some("image"),
        Some(_) => return None,
        None => {}
    }
    if let Some(m) = mime.map(str::to_ascii_lowercase) {
        if m.starts_with("audio/") || m.starts_with("video/") {
            return Some("media");
        }
        if m.starts_with("image/") {
            return Some("image");
        }
        return None;
    }
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "mp3" | "m4a" | "mp4" | "aac" | "ogg" | "oga" | "opus" | "flac" | "wav" | "m4v" | "mov"
        | "webm" => Some("media"),
        "jpg" | "jpeg" | "png" | "gif" | "webp" => Some("image"),
        _ => None,
    }
}

pub(super) fn start(s: &mut State, key: &str, e: &BytesStart, at: At) {
    match key {
        "content" => {
            let Some(url) = s.url(attr(e, "url")) else {
                return;
            };
            let mime = attr(e, "type");
            let kind = kind_of(attr(e, "medium").as_deref(), mime.as_deref(), &url);
            match (kind, at.item) {
                (Some("media"), true) => {
                    let duration =
                        attr(e, "duration").and_then(|d| super::itunes::parse_duration(&d));
                    let it = s.item();
                    // Behind `<enclosure>` (0) and Atom's enclosure link (1).
                    it.enclosure.offer(
                        5,
                        Some(Enclosure {
                            url,
                            mime_type: mime,
                            length: parse_length(attr(e, "fileSize")),
                        }),
                    );
                    it.duration.offer(1, duration);
                }
                (Some("image"), true) => s.item().image.offer(2, Some(url)),
                (Some("image"), false) => s.ch.image.offer(5, Some(url)),
                _ => {}
            }
        }
        "thumbnail" => {
            let url = s.url(attr(e, "url"));
            if at.item {
                s.item().image.offer(1, url);
            } else {
                s.ch.image.offer(4, url);
            }
        }
        // `media:player`'s url is a web page: never the episode's media.
        _ => {}
    }
}

pub(super) fn end(s: &mut State, f: &Frame, at: At) {
    if at.item && f.key == "description" {
        let d = f.html();
        s.item().description.offer(3, d);
    }
}
