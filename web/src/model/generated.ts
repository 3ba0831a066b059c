// Generated from crates/model by `SKYPOD_BLESS=1 cargo test -p skypod-model`.
// Do not edit: change the Rust types instead.

export type Feed = { 
/**
 * Channel-level data.
 */
channel: Channel, 
/**
 * Episodes/items in document order.
 */
episodes: Array<Episode>, };

export type Channel = { 
/**
 * `rss2`, `atom`, `json`, `rss1` or `rss0`.
 */
feed_type: string, 
/**
 * Title.
 */
title: string | null, 
/**
 * Description / subtitle.
 */
description: string | null, 
/**
 * Web site link.
 */
link: string | null, 
/**
 * Cover image URL (itunes:image preferred).
 */
image: string | null, 
/**
 * Author (itunes:author preferred).
 */
author: string | null, 
/**
 * Category terms (iTunes categories included, subcategories flattened).
 */
categories: Array<string>, 
/**
 * Language code.
 */
language: string | null, 
/**
 * `itunes:explicit` at channel level.
 */
explicit: boolean | null, 
/**
 * `podcast:funding` links.
 */
funding: Array<Funding>, 
/**
 * `podcast:guid`.
 */
podcast_guid: string | null, 
/**
 * `podcast:locked` (`yes` → true).
 */
locked: boolean | null, 
/**
 * `owner` attribute of `podcast:locked`.
 */
locked_owner: string | null, 
/**
 * `itunes:new-feed-url`.
 */
new_feed_url: string | null, 
/**
 * `itunes:type` (episodic / serial).
 */
itunes_type: string | null, };

export type Funding = { 
/**
 * Where to support the show.
 */
url: string, 
/**
 * Link text.
 */
text: string | null, };

export type Episode = { 
/**
 * `<guid>` (RSS), the entry's own `<id>` (Atom) or `id` (JSON Feed); `None` when
 * the item has none (see [`Episode::library_key`]).
 */
guid: string | null, 
/**
 * Title (plain text: inline markup written unescaped is flattened to its text).
 */
title: string | null, 
/**
 * Link to the episode page.
 */
link: string | null, 
/**
 * Description / summary (HTML as published).
 */
description: string | null, 
/**
 * Publication date (or update date when absent), RFC 3339 in UTC.
 */
published: string | null, 
/**
 * The episode's media: the `<enclosure>` (or Atom `rel="enclosure"` link); an audio
 * or video `media:content` only when there is none.
 */
enclosure: Enclosure | null, 
/**
 * `podcast:alternateEnclosure` entries.
 */
alternate_enclosures: Array<AlternateEnclosure>, 
/**
 * Duration in seconds (from `itunes:duration` in any common format).
 */
duration_seconds: number | null, 
/**
 * Season number.
 */
season: number | null, 
/**
 * Episode number.
 */
episode: number | null, 
/**
 * `itunes:episodeType` (full / trailer / bonus).
 */
episode_type: string | null, 
/**
 * `itunes:explicit` at item level.
 */
explicit: boolean | null, 
/**
 * `podcast:transcript` entries.
 */
transcripts: Array<Transcript>, 
/**
 * `podcast:chapters` URL.
 */
chapters_url: string | null, 
/**
 * `podcast:chapters` type.
 */
chapters_type: string | null, 
/**
 * `podcast:person` entries.
 */
persons: Array<Person>, 
/**
 * Episode image (itunes:image, media:thumbnail or an image media:content).
 */
image: string | null, 
/**
 * What could not be read in this item (an unreadable date, duration, …), so a
 * value is never dropped silently.
 */
warnings: Array<string>, };

export type Enclosure = { 
/**
 * Media URL.
 */
url: string, 
/**
 * MIME type.
 */
mime_type: string | null, 
/**
 * Length in bytes as declared.
 */
length: number | null, };

export type AlternateEnclosure = { 
/**
 * MIME type.
 */
mime_type: string | null, 
/**
 * Length in bytes.
 */
length: number | null, 
/**
 * Bitrate.
 */
bitrate: number | null, 
/**
 * Title.
 */
title: string | null, 
/**
 * `podcast:source` URIs.
 */
sources: Array<string>, };

export type Transcript = { 
/**
 * URL.
 */
url: string, 
/**
 * MIME type.
 */
mime_type: string | null, 
/**
 * Language.
 */
language: string | null, 
/**
 * `rel` (e.g. `captions`).
 */
rel: string | null, };

export type Person = { 
/**
 * Name.
 */
name: string, 
/**
 * Role (default `host`).
 */
role: string | null, 
/**
 * Group (default `cast`).
 */
group: string | null, 
/**
 * Picture URL.
 */
img: string | null, 
/**
 * Profile URL.
 */
href: string | null, };

export type CacheStatus = "miss" | "hit" | "revalidated" | "stale";

export type FeedResponse = { 
/**
 * URL after redirects.
 */
final_url: string, 
/**
 * SHA-256 of the upstream body.
 */
content_hash: string, 
/**
 * How the body was obtained.
 */
cache: CacheStatus, 
/**
 * Served from a stale copy because the origin failed.
 */
stale: boolean, 
/**
 * Channel-level data.
 */
channel: Channel, 
/**
 * Episodes/items in document order.
 */
episodes: Array<Episode>, };

