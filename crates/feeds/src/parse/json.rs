//! JSON Feed 1.0 / 1.1.

use serde::Deserialize;

use super::{Channel, Enclosure, Episode, ParsedFeed, non_empty};
use crate::error::{FeedError, Result};

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonFeed {
    version: Option<String>,
    title: Option<String>,
    home_page_url: Option<String>,
    description: Option<String>,
    icon: Option<String>,
    favicon: Option<String>,
    author: Option<Author>,
    authors: Vec<Author>,
    language: Option<String>,
    items: Option<Vec<Item>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Author {
    name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Item {
    id: Option<serde_json::Value>,
    url: Option<String>,
    title: Option<String>,
    content_html: Option<String>,
    content_text: Option<String>,
    summary: Option<String>,
    image: Option<String>,
    date_published: Option<String>,
    date_modified: Option<String>,
    attachments: Vec<Attachment>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Attachment {
    url: Option<String>,
    mime_type: Option<String>,
    size_in_bytes: Option<f64>,
    duration_in_seconds: Option<f64>,
}

fn resolve(base: Option<&url::Url>, u: Option<String>) -> Option<String> {
    let u = non_empty(&u?)?;
    match base {
        Some(b) if url::Url::parse(&u).is_err() => b.join(&u).ok().map(|x| x.to_string()),
        _ => Some(u),
    }
}

pub(super) fn parse(doc: &str, base: Option<&url::Url>) -> Result<ParsedFeed> {
    let f: JsonFeed =
        serde_json::from_str(doc).map_err(|e| FeedError::Parse(format!("not a feed: {e}")))?;
    let is_feed = f
        .version
        .as_deref()
        .is_some_and(|v| v.contains("jsonfeed.org/version/"));
    let Some(items) = f.items.filter(|_| is_feed) else {
        return Err(FeedError::Parse(
            "not a feed: JSON without a JSON Feed version and items".into(),
        ));
    };
    let channel = Channel {
        feed_type: "json".into(),
        title: f.title.and_then(|t| non_empty(&t)),
        description: f.description.and_then(|t| non_empty(&t)),
        link: resolve(base, f.home_page_url),
        image: resolve(base, f.icon).or_else(|| resolve(base, f.favicon)),
        author: f
            .authors
            .into_iter()
            .chain(f.author)
            .find_map(|a| a.name.and_then(|n| non_empty(&n))),
        language: f.language,
        ..Channel::default()
    };
    let episodes = items
        .into_iter()
        .map(|it| {
            let mut warnings = Vec::new();
            let mut date = |raw: Option<String>| {
                let raw = raw?;
                let d = super::parse_date(&raw);
                if d.is_none() {
                    warnings.push(format!("unreadable date {raw:?}"));
                }
                d
            };
            let published = date(it.date_published).or_else(|| date(it.date_modified));
            let att = it.attachments.into_iter().find(|a| a.url.is_some());
            let duration = att
                .as_ref()
                .and_then(|a| a.duration_in_seconds)
                .filter(|d| d.is_finite() && *d >= 0.0 && *d < 1.0e9)
                .map(|d| d.round() as u64);
            Episode {
                guid: it.id.and_then(|v| match v {
                    serde_json::Value::String(s) => non_empty(&s),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }),
                title: it.title.and_then(|t| non_empty(&t)),
                link: resolve(base, it.url),
                description: it.content_html.or(it.content_text).or(it.summary),
                published,
                enclosure: att.and_then(|a| {
                    Some(Enclosure {
                        url: resolve(base, a.url)?,
                        mime_type: a.mime_type,
                        length: a
                            .size_in_bytes
                            .filter(|s| s.is_finite() && *s > 0.0 && *s < 1.0e18)
                            .map(|s| s as u64),
                    })
                }),
                duration_seconds: duration,
                image: resolve(base, it.image),
                warnings,
                ..Episode::default()
            }
        })
        .collect();
    Ok(ParsedFeed { channel, episodes })
}
