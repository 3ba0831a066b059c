//! Skypod's synced library: the user's subscriptions, per-device play records and
//! queues, settings and device names, as one Automerge document shared by every
//! device of a realm (Rust `automerge` 0.12 and the browser's `@automerge/automerge`
//! 3.x share the format and the sync protocol).
//!
//! - [`Library`]: the typed document API (subscribe, positions, queue, continue-from).
//! - [`Store`]: on-disk persistence with incremental saves, compaction, atomic writes
//!   and recovery from damaged files.
//! - [`SyncPeer`] / [`SyncHub`]: the Automerge sync protocol per peer pair, over any
//!   transport that carries byte messages.
//! - OPML import/export ([`Library::import_opml`], [`Library::export_opml`]).

mod bridged;
mod error;
mod library;
#[cfg(feature = "opml")]
mod opml;
mod store;
mod sync;

pub use bridged::{BridgedDevice, bridged_device_id};
pub use error::{LibraryError, StoreError};
pub use library::{
    DeviceId, DeviceInfo, Feed, GENESIS_HASH, Library, NewFeed, PlayRecord, Resume, SCHEMA_VERSION,
    SettingValue, Subscribed, episode_key, genesis_bytes, normalize_feed_url, split_episode_key,
};
// Listening rules (issue 11).
pub use library::{
    CONTINUOUS_PLAYBACK, EffectiveSettings, Patch, PodcastSettings, PodcastSettingsPatch,
    TrimLevel, next_in_queue,
};
#[cfg(feature = "opml")]
pub use opml::{ImportProgress, ImportReport};
pub use store::{COMPACT_MIN_LOG, Opened, Recovery, Store};
pub use sync::{MAX_SYNC_MESSAGE, SyncHub, SyncPeer};

/// Re-export of the pinned Automerge crate, for callers that need change hashes.
pub use automerge;
