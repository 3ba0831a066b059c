//! The gpodder bridge: lets AntennaPod, gPodder and other apps that sync through the
//! gpodder.net API (v2) or the Nextcloud gPodder Sync app sync into a Skypod realm.
//!
//! `skypod node --gpodder-listen ADDR` serves [`router`]; each gpodder device becomes a
//! bridged device of the realm's library (`skypod_library::BridgedDevice`) with its own
//! play records, so the phone's position shows up on the other devices as "continue from
//! AntennaPod (mobile) via node" and nothing any device wrote is overwritten. The conflict
//! rules are in [`bridge`]'s module documentation.
//!
//! - [`BridgeStore`]: accounts (argon2 hashes), devices and the `since` journal (SQLite).
//! - [`Bridge`]: what the endpoints do; [`router`]: the routes.
//! - [`LibraryHandle`]: the handlers' access to the library owned by the node's loop.
//! - [`FeedLookup`] / [`ProxyFeeds`]: parsed feeds for matching enclosure URLs to guids.

mod api;
pub mod bridge;
mod error;
pub mod feeds;
mod loginflow;
mod owner;
mod store;
pub mod throttle;
pub mod time;

pub use api::router;
pub use bridge::{Bridge, BridgeConfig, WireAction};
pub use error::{ApiError, BridgeError};
pub use feeds::{FeedEpisode, FeedLookup, ProxyFeeds, TokenSource};
pub use owner::{LibraryHandle, LibraryJob, apply_job, library_channel, own_library};
pub use store::{BridgeStore, GpodderDevice, StoredAction, check_name};

/// The bridge's directory inside a device directory (`--home`).
pub const DIR: &str = "gpodder";
