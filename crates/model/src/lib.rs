//! Skypod's feed model, with no network dependencies: the feed JSON the proxy
//! (`skypod-feeds`) fills and serves, read by the CLI and (as generated TypeScript,
//! [`typescript`]) by the web app; and OPML subscription lists, imported and exported
//! by the library.

pub mod feed;
pub mod opml;
pub mod typescript;

pub use feed::{
    AlternateEnclosure, CacheStatus, Channel, Enclosure, Episode, FeedResponse, Funding,
    ParsedFeed, Person, Transcript,
};
pub use opml::{Opml, OpmlError, Outline, parse_opml, to_opml};
