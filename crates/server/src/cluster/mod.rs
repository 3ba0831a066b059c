//! Several server nodes as one realm server: presence and routing between nodes over a NATS
//! bus ([`nats::NatsBus`]); the realm store (PostgreSQL) is what they share durably.
//!
//! The hub calls a [`Bus`] on every local join, leave, route, admission and removal; the bus
//! feeds other nodes' events back into the hub (`Hub::remote_*`). Nothing in the client
//! protocol changes. Node liveness is by heartbeats on core NATS (see `nats.rs` for why not
//! JetStream KV).

pub mod nats;

use skypod_protocol::{IdentId, PublicJwk, RealmId};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::store::StoredMember;

/// What the hub tells the other nodes. Every method is synchronous and cheap: messages are
/// queued for one publishing task, in order.
pub trait Bus: Send + Sync + 'static {
    /// This node's id (`--node-id`).
    fn node_id(&self) -> &str;

    /// Whether the bus is connected; while it is not, the node refuses new sockets.
    fn is_up(&self) -> bool;

    /// A local connection became `identid`'s live connection in `realm` at `joined_at`.
    fn joined(&self, realm: &RealmId, identid: &IdentId, pubkey: &PublicJwk, joined_at: u64);

    /// That connection is gone.
    fn left(&self, realm: &RealmId, identid: &IdentId, joined_at: u64);

    /// Identities online in `realm` on other nodes.
    fn remote_peers(&self, realm: &RealmId) -> Vec<IdentId>;

    /// Forward `frame` to the realm's members on other nodes (all but `from`, or those in
    /// `recipients`). Returns how many remote members it was forwarded for.
    fn route(
        &self,
        realm: &RealmId,
        from: &IdentId,
        frame: &Utf8Bytes,
        recipients: Option<&[IdentId]>,
    ) -> u32;

    /// Forward to one member if it is online on another node.
    fn send_to(&self, realm: &RealmId, to: &IdentId, frame: &Utf8Bytes) -> bool;

    /// A member was admitted here (other nodes update their cached member lists).
    fn admitted(&self, realm: &RealmId, member: &StoredMember);

    /// A member was removed here (other nodes close its socket if it is theirs).
    fn removed(&self, realm: &RealmId, identid: &IdentId);
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
