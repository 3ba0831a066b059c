//! Sync: the Automerge sync protocol, one [`SyncPeer`] per remote device.
//!
//! Transport-agnostic: the mesh (crates/peer) or the encrypted relay only needs to
//! carry opaque byte messages. The bytes are plain Automerge sync messages (first
//! byte 0x42/0x43), so the browser's `@automerge/automerge` `receiveSyncMessage` /
//! `generateSyncMessage` speak the same protocol with no extra framing.
//!
//! Wiring for the mesh, with [`SyncHub`]:
//! ```text
//! on channel open(peer):   hub.connect(peer, store.load_peer_state(peer)?)
//!                          for (p, bytes) in hub.outgoing(&mut lib) { send(p, bytes) }
//! on_message(peer, bytes): hub.receive(&mut lib, peer, &bytes)?;  store.save(&mut lib)?
//!                          for (p, bytes) in hub.outgoing(&mut lib) { send(p, bytes) }
//! after a local edit:      store.save(&mut lib)?; for (p, b) in hub.outgoing(&mut lib) { send(p, b) }
//! on channel close(peer):  if let Some(s) = hub.disconnect(peer) { store.save_peer_state(peer, &s)? }
//! ```
//! Messages can be large on first sync (a 100k-record library is a few MB in one
//! message): a transport with a message size limit must fragment and reassemble.

use std::collections::BTreeMap;

use automerge::sync::{self, SyncDoc};

use crate::error::LibraryError;
use crate::library::Library;

/// Largest sync message accepted from a peer. Well above a full initial sync of a
/// large library (see docs/benchmarks-library.md) but bounds memory for a bad peer.
pub const MAX_SYNC_MESSAGE: usize = 256 * 1024 * 1024;

/// Sync state with one remote peer.
#[derive(Debug, Clone, Default)]
pub struct SyncPeer {
    state: sync::State,
}

impl SyncPeer {
    /// A peer never synced with before: the first exchange sends everything it lacks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Restore from [`SyncPeer::save`]: the first exchange after a reconnect only
    /// sends changes made since the last sync with this peer.
    pub fn restore(bytes: &[u8]) -> Result<Self, LibraryError> {
        sync::State::decode(bytes)
            .map(|state| Self { state })
            .map_err(|e| LibraryError::BadSyncState(e.to_string()))
    }

    /// Encode what is worth keeping across connections (the heads both sides share).
    pub fn save(&self) -> Vec<u8> {
        self.state.encode()
    }

    /// Forget in-flight bookkeeping after a dropped connection (messages sent on the old
    /// connection may never have arrived), keeping the shared heads. Without this the
    /// protocol could wait forever for an acknowledgement that was lost.
    pub fn reset_connection(&mut self) {
        if let Ok(s) = sync::State::decode(&self.state.encode()) {
            self.state = s;
        } else {
            self.state = sync::State::new();
        }
    }

    /// Whether the last exchange showed both sides with the same heads.
    pub fn in_sync(&self, lib: &mut Library) -> bool {
        let ours = lib.heads();
        let mut theirs = match &self.state.their_heads {
            Some(h) => h.clone(),
            None => return false,
        };
        let mut ours_sorted = ours;
        ours_sorted.sort();
        theirs.sort();
        ours_sorted == theirs
    }
}

impl Library {
    /// The next message to send to `peer`, or `None` when there is nothing to say
    /// (the peer is up to date, or we wait for its answer). Commits pending edits.
    pub fn generate_sync_message(&mut self, peer: &mut SyncPeer) -> Option<Vec<u8>> {
        self.commit();
        self.doc
            .sync()
            .generate_sync_message(&mut peer.state)
            .map(|m| m.encode())
    }

    /// Apply a message received from `peer`. Bytes are untrusted: malformed input is an
    /// error, never a panic, and leaves the document unchanged.
    pub fn receive_sync_message(
        &mut self,
        peer: &mut SyncPeer,
        bytes: &[u8],
    ) -> Result<(), LibraryError> {
        if bytes.len() > MAX_SYNC_MESSAGE {
            return Err(LibraryError::BadSyncMessage(format!(
                "{} bytes is above the {MAX_SYNC_MESSAGE}-byte limit",
                bytes.len()
            )));
        }
        let mut msg = sync::Message::decode(bytes)
            .map_err(|e| LibraryError::BadSyncMessage(e.to_string()))?;
        self.commit();
        let mut adopted_from = None;
        if let Some(doc) = self.adopt_full_document(&msg) {
            // The message's payload is now our document; let the protocol update the
            // peer state from its heads without re-applying every change.
            adopted_from = Some(self.doc.get_heads());
            self.doc = doc;
            msg.changes = sync::ChunkList::empty();
        }
        self.doc
            .sync()
            .receive_sync_message(&mut peer.state, msg)
            .map_err(|e| LibraryError::BadSyncMessage(e.to_string()))?;
        if let Some(old) = adopted_from {
            // The protocol saw no change applied, so it would stay silent; the sender
            // must hear our new heads, or it keeps treating everything as unacknowledged
            // and pads every later message with a large bloom filter.
            peer.state.last_sent_heads = old;
        }
        Ok(())
    }

    /// Fast path for the initial sync of a new device. When a peer that has nothing in
    /// common with us beyond genesis gets a sync, Automerge sends its whole document as
    /// one compressed chunk; applying that chunk to our (non-empty) document goes change
    /// by change and took ~3.5x longer than loading it (docs/benchmarks-library.md).
    /// If that document already contains all of our history, loading it *is* the merge:
    /// adopt it instead. Loading verifies the chunk's hashes, so a bad peer cannot slip
    /// in a document that does not match its claimed heads.
    fn adopt_full_document(&mut self, msg: &sync::Message) -> Option<automerge::AutoCommit> {
        let mut chunks = msg.changes.iter();
        let chunk = chunks.next()?;
        // A document chunk starts with the magic bytes and chunk type 0 (document);
        // change chunks (type 1/2) are the normal incremental case.
        const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
        if chunks.next().is_some() || chunk.len() < 9 || chunk[..4] != MAGIC || chunk[8] != 0 {
            return None;
        }
        // Only worth it when the chunk is large; small documents merge fast anyway.
        if chunk.len() < 64 * 1024 {
            return None;
        }
        let ours = self.doc.get_heads();
        let mut doc = automerge::AutoCommit::load(chunk).ok()?;
        if ours.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
            return None;
        }
        doc.set_actor(self.doc.get_actor().clone());
        Some(doc)
    }
}

/// Sync with every connected peer: keeps one [`SyncPeer`] per peer id and tells the
/// transport what to send. Peer ids are opaque strings (the realm `identid`).
#[derive(Debug, Default)]
pub struct SyncHub {
    peers: BTreeMap<String, SyncPeer>,
}

impl SyncHub {
    /// No peers.
    pub fn new() -> Self {
        Self::default()
    }

    /// A peer's channel opened. `saved` is its state from [`SyncHub::disconnect`] /
    /// [`crate::Store::load_peer_state`]; a state that fails to decode falls back to a
    /// full (still correct, just larger) sync rather than refusing the peer.
    pub fn connect(&mut self, peer: &str, saved: Option<SyncPeer>) {
        let mut p = saved.unwrap_or_default();
        p.reset_connection();
        self.peers.insert(peer.to_owned(), p);
    }

    /// A peer's channel closed. Returns the state to persist.
    pub fn disconnect(&mut self, peer: &str) -> Option<SyncPeer> {
        self.peers.remove(peer)
    }

    /// Connected peers.
    pub fn peers(&self) -> impl Iterator<Item = &str> {
        self.peers.keys().map(String::as_str)
    }

    /// Current state for a peer (to persist periodically).
    pub fn state(&self, peer: &str) -> Option<&SyncPeer> {
        self.peers.get(peer)
    }

    /// A message arrived from `peer`. Unknown peers are connected implicitly (the
    /// transport already authenticated them).
    pub fn receive(
        &mut self,
        lib: &mut Library,
        peer: &str,
        bytes: &[u8],
    ) -> Result<(), LibraryError> {
        let p = self.peers.entry(peer.to_owned()).or_default();
        lib.receive_sync_message(p, bytes)
    }

    /// Messages to send now, one at most per peer. Call after connecting, after each
    /// received message and after local edits; an empty result means quiet.
    pub fn outgoing(&mut self, lib: &mut Library) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (id, p) in &mut self.peers {
            if let Some(m) = lib.generate_sync_message(p) {
                out.push((id.clone(), m));
            }
        }
        out
    }
}
