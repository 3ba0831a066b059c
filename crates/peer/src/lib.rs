//! Skypod's native realm client.
//!
//! - [`sm`]: sans-IO state machines (perfect negotiation, health, backoff, signaling).
//! - [`peer`]: the IO layer — [`Peer::start`] gives a [`PeerHandle`] and a stream of
//!   [`PeerEvent`]s; one reliable ordered data channel per remote member, full mesh, with
//!   the encrypted server relay as fallback.
//! - [`crypto`]: realm key, relay encryption, key delivery.
//! - [`store`]: identity key and realm state on disk (0600).

pub mod crypto;
pub mod peer;
pub(crate) mod rtc;
pub mod sm;
pub mod store;

pub use crypto::RealmKey;
pub use peer::{
    JoinMode, Link, Mode, Peer, PeerConfig, PeerError, PeerEvent, PeerHandle, PeerInfo, Signal, Via,
};
pub use rtc::udp_buffered_runtime;
pub use sm::signaling::StopReason;
pub use store::{Identity, RealmState};
