//! Skypod feed proxy: SSRF-safe fetching, an HTTP cache with content-addressed
//! bodies, feed parsing (RSS/Atom/JSON Feed + iTunes + Podcasting 2.0), reader
//! mode, reading time, page titles, OPML, and silence maps of audio.
//!
//! [`http::router`] builds the axum router the realm server mounts; it needs a
//! [`service::FeedService`] and an implementation of [`http::ProxyAuth`].

pub mod cache;
pub mod chapters;
pub mod chapters_http;
pub mod directory;
pub mod encoding;
pub mod error;
pub mod fetch;
pub mod parse;

pub use error::{FeedError, Result};
pub mod analyses;
pub mod artwork;
pub mod html;
pub mod http;
mod loudness;
pub mod media;
pub mod migrations;
pub mod reader;
pub mod readingtime;
pub mod service;
pub mod silence;
mod test_hooks;
#[cfg(test)]
mod testdata;
pub mod title;
pub mod transcript;

pub use http::{ProxyAuth, RateLimitConfig, router};
pub use service::{FeedService, ServiceConfig};
/// OPML lives in the feed model crate; re-exported for existing callers.
pub use skypod_model::opml;
