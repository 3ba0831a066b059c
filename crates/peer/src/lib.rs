//! Skypod's native realm client.
//!
//! - [`sm`]: sans-IO state machines — per connection (perfect negotiation, health, backoff,
//!   signaling) and the realm core (presence, direct vs relay, realm-key delivery).
//! - [`api`]: [`Peer::start`] gives a [`PeerHandle`] and a stream of [`PeerEvent`]s; one
//!   reliable ordered data channel per remote member, full mesh, with the encrypted server
//!   relay as fallback. `actor` (private) carries out what the machines decide; `rtc`
//!   (private) is the thin layer over `webrtc`; `outbox` sends (the relay path, and a writer
//!   per direct link that batches small messages); `framing` reassembles fragments.
//! - [`crypto`]: realm key, relay encryption, key delivery.
//! - [`store`]: identity key and realm state on disk (0600).

mod actor;
pub mod api;
pub mod crypto;
mod framing;
mod outbox;
pub(crate) mod rtc;
pub mod sm;
pub mod store;

/// The public API under its old path.
pub use api as peer;
pub use api::{
    JoinMode, Link, Mode, Peer, PeerConfig, PeerError, PeerEvent, PeerHandle, PeerInfo, Signal, Via,
};
pub use crypto::RealmKey;
pub use rtc::udp_buffered_runtime;
pub use sm::signaling::StopReason;
pub use store::{Identity, RealmState};
