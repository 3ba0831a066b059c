//! The feed JSON `/proxy/feed` serves: one owner for the proxy that fills it, the CLI
//! that reads it and the web app (TypeScript generated from these types).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A parsed feed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(rename = "Feed")]
pub struct ParsedFeed {
    /// Channel-level data.
    pub channel: Channel,
    /// Episodes/items in document order.
    pub episodes: Vec<Episode>,
}

/// Channel (podcast) metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Funding {
    /// Where to support the show.
    pub url: String,
    /// Link text.
    pub text: Option<String>,
}

/// One episode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct Episode {
    /// `<guid>` (RSS), the entry's own `<id>` (Atom) or `id` (JSON Feed); `None` when
    /// the item has none (see [`Episode::library_key`]).
    pub guid: Option<String>,
    /// Title (plain text: inline markup written unescaped is flattened to its text).
    pub title: Option<String>,
    /// Link to the episode page.
    pub link: Option<String>,
    /// Description / summary (HTML as published).
    pub description: Option<String>,
    /// Publication date (or update date when absent), RFC 3339 in UTC.
    #[ts(type = "string | null")]
    pub published: Option<DateTime<Utc>>,
    /// The episode's media: the `<enclosure>` (or Atom `rel="enclosure"` link); an audio
    /// or video `media:content` only when there is none.
    pub enclosure: Option<Enclosure>,
    /// `podcast:alternateEnclosure` entries.
    pub alternate_enclosures: Vec<AlternateEnclosure>,
    /// Duration in seconds (from `itunes:duration` in any common format).
    #[ts(type = "number | null")]
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
    /// Episode image (itunes:image, media:thumbnail or an image media:content).
    pub image: Option<String>,
    /// What could not be read in this item (an unreadable date, duration, …), so a
    /// value is never dropped silently.
    pub warnings: Vec<String>,
}

impl Episode {
    /// The key the library files this episode's progress under: its guid, else its
    /// enclosure URL (what the web app does too).
    pub fn library_key(&self) -> Option<&str> {
        self.guid
            .as_deref()
            .filter(|g| !g.is_empty())
            .or_else(|| self.enclosure.as_ref().map(|e| e.url.as_str()))
    }
}

/// An enclosure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Enclosure {
    /// Media URL.
    pub url: String,
    /// MIME type.
    pub mime_type: Option<String>,
    /// Length in bytes as declared.
    #[ts(type = "number | null")]
    pub length: Option<u64>,
}

/// A `podcast:alternateEnclosure`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct AlternateEnclosure {
    /// MIME type.
    pub mime_type: Option<String>,
    /// Length in bytes.
    #[ts(type = "number | null")]
    pub length: Option<u64>,
    /// Bitrate.
    pub bitrate: Option<f64>,
    /// Title.
    pub title: Option<String>,
    /// `podcast:source` URIs.
    pub sources: Vec<String>,
}

/// A `podcast:transcript`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
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

/// How the proxy obtained a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// Fetched from the origin (not in cache or changed).
    Miss,
    /// Served from cache without contacting the origin.
    Hit,
    /// Origin answered 304; served from cache.
    Revalidated,
    /// Origin failed; an old copy was served.
    Stale,
}

/// The whole `/proxy/feed` answer: the feed and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(rename = "FeedResponse")]
pub struct FeedResponse {
    /// The feed.
    #[serde(flatten)]
    pub feed: ParsedFeed,
    /// URL after redirects.
    pub final_url: String,
    /// SHA-256 of the upstream body.
    pub content_hash: String,
    /// How the body was obtained.
    pub cache: CacheStatus,
    /// Served from a stale copy because the origin failed.
    pub stale: bool,
}
