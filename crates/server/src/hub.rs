//! The in-memory realm registry: members' keys (a cache of the store) and who is online.
//!
//! Invariants:
//! - A realm's member map is loaded from the store before any write to that realm, and every
//!   write goes to the store first, so memory never holds a member the store lacks.
//! - At most one live connection per identity per realm; a newer one replaces the older,
//!   and the others see `peer-left` for the old session before `peer-joined` for the new.
//! - Routing only ever looks inside the sender's own realm: realms cannot reach each other.
//! - With a cluster bus ([`crate::cluster::Bus`]), every local join/leave/route/admission/
//!   removal is also told to the bus, and the bus feeds other nodes' events back through the
//!   `remote_*` methods; "online" then means online on any node.

use futures_util::task::AtomicWaker;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use skypod_protocol::messages::{PEER_JOINED, PEER_LEFT, PeerJoined, PeerLeft};
use skypod_protocol::{Envelope, IdentId, PublicJwk, RealmId, close};

use crate::cluster::Bus;
use crate::metrics::Metrics;
use crate::store::{Admission, RealmStore, StoreError, StoredMember};

/// Why the server closes a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

impl CloseReason {
    pub const REPLACED: Self = Self {
        code: close::REPLACED,
        reason: "replaced by a newer connection of this identity",
    };
    pub const SLOW: Self = Self {
        code: close::SLOW_CONSUMER,
        reason: "too slow: outbound queue full",
    };
    pub const SHUTDOWN: Self = Self {
        code: close::GOING_AWAY,
        reason: "server shutting down",
    };
    /// The node lost the cluster bus: it can no longer reach members on other nodes.
    pub const BUS_DOWN: Self = Self {
        code: close::GOING_AWAY,
        reason: "server lost its cluster bus; connect again (another node)",
    };
    pub const REVOKED: Self = Self {
        code: close::FORBIDDEN,
        reason: "this device was removed from the realm",
    };

    /// Label for metrics.
    pub fn label(&self) -> &'static str {
        match self.code {
            close::REPLACED => "replaced",
            close::SLOW_CONSUMER => "slow_consumer",
            close::GOING_AWAY => "shutdown",
            close::FORBIDDEN => "revoked",
            _ => "other",
        }
    }
}

/// The hub's side of one authenticated connection: an outbox other connections queue frames
/// in, and a close request. Both are read by the connection's task.
///
/// This is a plain locked queue rather than a channel because an idle socket then costs a few
/// dozen bytes instead of a channel's preallocated blocks (see docs/benchmarks.md).
pub struct ConnHandle {
    pub id: u64,
    pub identid: IdentId,
    /// When it joined, microseconds since the epoch: across nodes the newest connection of an
    /// identity wins.
    pub joined_at: u64,
    outbox: Mutex<Outbox>,
    waker: AtomicWaker,
}

struct Outbox {
    queue: VecDeque<Utf8Bytes>,
    limit: usize,
    close: Option<CloseReason>,
}

/// Queues that grew beyond this many slots are released once drained.
const KEEP_CAPACITY: usize = 32;

impl ConnHandle {
    pub fn new(id: u64, identid: IdentId, queue_limit: usize) -> Arc<Self> {
        Arc::new(Self {
            id,
            identid,
            joined_at: crate::cluster::now_micros(),
            outbox: Mutex::new(Outbox {
                queue: VecDeque::new(),
                limit: queue_limit.max(1),
                close: None,
            }),
            waker: AtomicWaker::new(),
        })
    }

    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ask the connection to close; the first reason wins.
    pub fn kick(&self, reason: CloseReason) {
        self.mark_closing(reason);
        self.waker.wake();
    }

    /// The first half of [`ConnHandle::kick`]: from now on nothing is queued for it
    /// ([`ConnHandle::deliver`] refuses), but its task is not woken yet.
    fn mark_closing(&self, reason: CloseReason) {
        let mut o = self.outbox();
        if o.close.is_none() {
            o.close = Some(reason);
        }
    }

    /// Queue a frame; a reader that cannot keep up is disconnected rather than silently
    /// missing frames.
    fn deliver(&self, frame: &Utf8Bytes) -> bool {
        let was_empty = {
            let mut o = self.outbox();
            if o.close.is_some() {
                return false;
            }
            if o.queue.len() >= o.limit {
                o.close = Some(CloseReason::SLOW);
                drop(o);
                self.waker.wake();
                return false;
            }
            o.queue.push_back(frame.clone());
            o.queue.len() == 1
        };
        // A non-empty queue means the task was already woken and will drain everything.
        if was_empty {
            self.waker.wake();
        }
        true
    }

    /// For the connection task: `Ready(Some(reason))` to close, `Ready(None)` when frames were
    /// moved into `batch` (which must be empty), `Pending` otherwise.
    pub fn poll_outgoing(
        &self,
        cx: &mut Context<'_>,
        batch: &mut VecDeque<Utf8Bytes>,
    ) -> Poll<Option<CloseReason>> {
        self.waker.register(cx.waker());
        let mut o = self.outbox();
        if let Some(r) = o.close {
            return Poll::Ready(Some(r));
        }
        if o.queue.is_empty() {
            return Poll::Pending;
        }
        std::mem::swap(&mut o.queue, batch);
        if o.queue.capacity() > KEEP_CAPACITY {
            o.queue = VecDeque::new();
        }
        Poll::Ready(None)
    }
}

pub struct Realm {
    pub id: RealmId,
    members: RwLock<HashMap<IdentId, PublicJwk>>,
    online: RwLock<HashMap<IdentId, Arc<ConnHandle>>>,
    bus: Option<Arc<dyn Bus>>,
}

/// What a newly joined connection learns.
pub struct Joined {
    pub peers: Vec<IdentId>,
    pub identities: std::collections::BTreeMap<IdentId, PublicJwk>,
    pub members: u32,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Realm {
    fn new(id: RealmId, members: Vec<StoredMember>, bus: Option<Arc<dyn Bus>>) -> Self {
        Self {
            id,
            members: RwLock::new(members.into_iter().map(|m| (m.identid, m.pubkey)).collect()),
            online: RwLock::new(HashMap::new()),
            bus,
        }
    }

    pub fn member_key(&self, id: &IdentId) -> Option<PublicJwk> {
        read(&self.members).get(id).cloned()
    }

    pub fn is_member(&self, id: &IdentId) -> bool {
        read(&self.members).contains_key(id)
    }

    pub fn is_online(&self, id: &IdentId) -> bool {
        read(&self.online).contains_key(id)
    }

    /// Put `conn` online (replacing an older connection of the same identity) and announce it
    /// to every online member, the newcomer included.
    pub fn join(&self, conn: Arc<ConnHandle>, metrics: &Metrics) -> Joined {
        let pubkey = self.member_key(&conn.identid);
        let identities: std::collections::BTreeMap<_, _> = read(&self.members)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let members = identities.len() as u32;
        let remote_peers = self
            .bus
            .as_ref()
            .map(|bus| bus.remote_peers(&self.id))
            .unwrap_or_default();
        // Listed on another node (e.g. one that died and whose members have not yet been
        // announced as left): that session ends here too.
        let online_remotely = remote_peers.contains(&conn.identid);
        let mut online = write(&self.online);
        let replaced = online.insert(conn.identid.clone(), conn.clone());
        if let Some(old) = &replaced {
            old.kick(CloseReason::REPLACED);
        }
        if replaced.is_some() || online_remotely {
            // One session per identity: the others see the replaced session leave before
            // the new one joins, never two peer-joined in a row.
            let left: Utf8Bytes = Envelope::evt(
                PEER_LEFT,
                PeerLeft {
                    identid: conn.identid.clone(),
                },
            )
            .to_json()
            .into();
            let n = online
                .values()
                .filter(|c| c.id != conn.id && c.deliver(&left))
                .count();
            metrics.routed("presence", n as u64);
        }
        let mut peers: Vec<IdentId> = online
            .keys()
            .filter(|k| **k != conn.identid)
            .cloned()
            .collect();
        if let Some(bus) = &self.bus {
            for p in remote_peers {
                if p != conn.identid && !online.contains_key(&p) {
                    peers.push(p);
                }
            }
            if let Some(pubkey) = &pubkey {
                bus.joined(&self.id, &conn.identid, pubkey, conn.joined_at);
            }
        }
        if let Some(pubkey) = pubkey {
            let frame: Utf8Bytes = Envelope::evt(
                PEER_JOINED,
                PeerJoined {
                    identid: conn.identid.clone(),
                    pubkey,
                },
            )
            .to_json()
            .into();
            let n = online.values().filter(|c| c.deliver(&frame)).count();
            metrics.routed("presence", n as u64);
        }
        Joined {
            peers,
            identities,
            members,
        }
    }

    /// Take `conn` offline if it is still the identity's live connection, and tell the others.
    pub fn leave(&self, conn: &ConnHandle, metrics: &Metrics) {
        let mut online = write(&self.online);
        if online.get(&conn.identid).is_some_and(|c| c.id == conn.id) {
            online.remove(&conn.identid);
            if let Some(bus) = &self.bus {
                bus.left(&self.id, &conn.identid, conn.joined_at);
            }
            let frame: Utf8Bytes = Envelope::evt(
                PEER_LEFT,
                PeerLeft {
                    identid: conn.identid.clone(),
                },
            )
            .to_json()
            .into();
            let n = online.values().filter(|c| c.deliver(&frame)).count();
            metrics.routed("presence", n as u64);
        }
    }

    /// Deliver `frame` to `recipients` (or every other online member). Returns how many
    /// connections it was queued for. Never leaves the realm.
    pub fn route(&self, from: &IdentId, frame: &Utf8Bytes, recipients: Option<&[IdentId]>) -> u32 {
        let remote = match &self.bus {
            Some(bus) => bus.route(&self.id, from, frame, recipients),
            None => 0,
        };
        remote + self.route_local(from, frame, recipients)
    }

    /// [`Realm::route`] to this node's connections only.
    fn route_local(
        &self,
        from: &IdentId,
        frame: &Utf8Bytes,
        recipients: Option<&[IdentId]>,
    ) -> u32 {
        let online = read(&self.online);
        let mut n = 0;
        match recipients {
            Some(list) => {
                for id in list {
                    if id != from && online.get(id).is_some_and(|c| c.deliver(frame)) {
                        n += 1;
                    }
                }
            }
            None => {
                for (id, c) in online.iter() {
                    if id != from && c.deliver(frame) {
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Deliver to one member; false if it is not online.
    pub fn send_to(&self, to: &IdentId, frame: &Utf8Bytes) -> bool {
        if let Some(c) = read(&self.online).get(to) {
            return c.deliver(frame);
        }
        self.bus
            .as_ref()
            .is_some_and(|bus| bus.send_to(&self.id, to, frame))
    }

    fn all_online(&self) -> Vec<Arc<ConnHandle>> {
        read(&self.online).values().cloned().collect()
    }

    /// The member's key, re-read from the store when it is not cached and the realm is shared
    /// with other nodes (it may have been admitted on another node a moment ago).
    pub async fn fresh_member_key(
        &self,
        store: &dyn RealmStore,
        id: &IdentId,
    ) -> Result<Option<PublicJwk>, StoreError> {
        if let Some(k) = self.member_key(id) {
            return Ok(Some(k));
        }
        if self.bus.is_none() {
            return Ok(None);
        }
        let Some(members) = store.members(&self.id).await? else {
            return Ok(None);
        };
        let key = members
            .iter()
            .find(|m| &m.identid == id)
            .map(|m| m.pubkey.clone());
        if let Some(k) = &key {
            write(&self.members).insert(id.clone(), k.clone());
        }
        Ok(key)
    }

    /// Forget a member (revocation) and close its connection.
    pub fn forget(&self, id: &IdentId) {
        write(&self.members).remove(id);
        if let Some(c) = read(&self.online).get(id) {
            c.kick(CloseReason::REVOKED);
        }
    }
}

pub struct Hub {
    store: Arc<dyn RealmStore>,
    realms: Mutex<HashMap<RealmId, Arc<Realm>>>,
    next_conn: AtomicU64,
    pub metrics: Arc<Metrics>,
    bus: Option<Arc<dyn Bus>>,
}

impl Hub {
    pub fn new(store: Arc<dyn RealmStore>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            realms: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            metrics,
            bus: None,
        }
    }

    /// Share presence and routing with other nodes through `bus`.
    pub fn with_bus(mut self, bus: Arc<dyn Bus>) -> Self {
        self.bus = Some(bus);
        self
    }

    pub fn bus(&self) -> Option<&Arc<dyn Bus>> {
        self.bus.as_ref()
    }

    pub fn store(&self) -> &Arc<dyn RealmStore> {
        &self.store
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The realm if it is in memory (no store access).
    pub fn cached(&self, id: &RealmId) -> Option<Arc<Realm>> {
        self.realms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// The realm, loading it from the store on first use. `None` if it does not exist.
    pub async fn realm(&self, id: &RealmId) -> Result<Option<Arc<Realm>>, StoreError> {
        if let Some(r) = self.cached(id) {
            return Ok(Some(r));
        }
        let Some(members) = self.store.members(id).await? else {
            return Ok(None);
        };
        let mut realms = self.realms.lock().unwrap_or_else(|p| p.into_inner());
        let r = realms
            .entry(id.clone())
            .or_insert_with(|| Arc::new(Realm::new(id.clone(), members, self.bus.clone())))
            .clone();
        self.metrics.realms_loaded.set(realms.len() as i64);
        Ok(Some(r))
    }

    /// Create a realm with its first member (store first, then memory).
    pub async fn register(
        &self,
        id: &RealmId,
        first: &StoredMember,
        now: i64,
    ) -> Result<Arc<Realm>, StoreError> {
        self.store.create_realm(id, first, now).await?;
        let mut realms = self.realms.lock().unwrap_or_else(|p| p.into_inner());
        let r = realms
            .entry(id.clone())
            .or_insert_with(|| {
                Arc::new(Realm::new(
                    id.clone(),
                    vec![first.clone()],
                    self.bus.clone(),
                ))
            })
            .clone();
        self.metrics.realms_loaded.set(realms.len() as i64);
        Ok(r)
    }

    /// Spend the invitation and admit the newcomer (store first, then memory). `realm` must
    /// come from [`Hub::realm`], so it is already cached.
    pub async fn admit(&self, realm: &Realm, admission: Admission<'_>) -> Result<(), StoreError> {
        self.store.admit(admission.clone()).await?;
        write(&realm.members).insert(
            admission.invitee.identid.clone(),
            admission.invitee.pubkey.clone(),
        );
        if let Some(bus) = &self.bus {
            bus.admitted(&realm.id, admission.invitee);
        }
        Ok(())
    }

    /// Remove a member everywhere (revocation).
    pub async fn revoke(&self, realm: &Realm, id: &IdentId) -> Result<bool, StoreError> {
        let removed = self.store.remove_member(&realm.id, id).await?;
        realm.forget(id);
        if let Some(bus) = &self.bus {
            bus.removed(&realm.id, id);
        }
        Ok(removed)
    }

    fn loaded(&self) -> Vec<Arc<Realm>> {
        self.realms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Every authenticated connection (graceful shutdown, lost bus). All are marked closing
    /// before any is woken: a connection that closes announces `peer-left` to the others, and
    /// none of them may still take it — members are not told of departures the server's own
    /// going away caused (they would drop working P2P links to members that did not leave).
    pub fn close_all(&self, reason: CloseReason) {
        let conns: Vec<_> = self.loaded().iter().flat_map(|r| r.all_online()).collect();
        for c in &conns {
            c.mark_closing(reason);
        }
        for c in &conns {
            c.waker.wake();
        }
    }

    /// Drop every cached realm without online members: after the bus was lost, another node
    /// may have admitted or removed members meanwhile, so they are read again from the store.
    pub fn forget_idle_realms(&self) {
        let mut realms = self.realms.lock().unwrap_or_else(|p| p.into_inner());
        realms.retain(|_, r| !read(&r.online).is_empty());
        self.metrics.realms_loaded.set(realms.len() as i64);
    }

    // --- Events from other nodes (fed in by the cluster bus) ---

    /// `identid` became live on another node at `joined_at` (from node `node`). Returns false
    /// when a newer local connection of that identity wins (the other node closes its own
    /// when it hears of ours). Otherwise a local connection of it is replaced (4001), and the
    /// local members are told `peer-joined` — preceded by `peer-left` when the identity was
    /// online before (here or on another node: `online_elsewhere`), the rule of one node.
    pub fn remote_joined(
        &self,
        realm: &RealmId,
        identid: &IdentId,
        pubkey: &PublicJwk,
        joined_at: u64,
        remote_wins_tie: bool,
        online_elsewhere: bool,
    ) -> bool {
        let Some(r) = self.cached(realm) else {
            return true;
        };
        // Members before online, never both at once (`local_presence` reads them in turn).
        write(&r.members)
            .entry(identid.clone())
            .or_insert_with(|| pubkey.clone());
        let mut online = write(&r.online);
        let mut replaced_session = online_elsewhere;
        if let Some(local) = online.get(identid) {
            let remote_newer =
                joined_at > local.joined_at || (joined_at == local.joined_at && remote_wins_tie);
            if !remote_newer {
                return false;
            }
            local.kick(CloseReason::REPLACED);
            online.remove(identid);
            replaced_session = true;
        }
        if replaced_session {
            let left: Utf8Bytes = Envelope::evt(
                PEER_LEFT,
                PeerLeft {
                    identid: identid.clone(),
                },
            )
            .to_json()
            .into();
            let n = online.values().filter(|c| c.deliver(&left)).count();
            self.metrics.routed("presence", n as u64);
        }
        let frame: Utf8Bytes = Envelope::evt(
            PEER_JOINED,
            PeerJoined {
                identid: identid.clone(),
                pubkey: pubkey.clone(),
            },
        )
        .to_json()
        .into();
        let n = online.values().filter(|c| c.deliver(&frame)).count();
        self.metrics.routed("presence", n as u64);
        true
    }

    /// `identid` is no longer online on another node: tell local members, unless it is
    /// online here now.
    pub fn remote_left(&self, realm: &RealmId, identid: &IdentId) {
        let Some(r) = self.cached(realm) else {
            return;
        };
        let online = read(&r.online);
        if online.contains_key(identid) {
            return;
        }
        let frame: Utf8Bytes = Envelope::evt(
            PEER_LEFT,
            PeerLeft {
                identid: identid.clone(),
            },
        )
        .to_json()
        .into();
        let n = online.values().filter(|c| c.deliver(&frame)).count();
        self.metrics.routed("presence", n as u64);
    }

    /// A frame routed on another node to members here (all but `from`, or `recipients`).
    pub fn remote_deliver(
        &self,
        realm: &RealmId,
        from: Option<&IdentId>,
        frame: &Utf8Bytes,
        recipients: Option<&[IdentId]>,
    ) -> u32 {
        let Some(r) = self.cached(realm) else {
            return 0;
        };
        match (from, recipients) {
            (Some(from), recipients) => r.route_local(from, frame, recipients),
            (None, Some(list)) => {
                let online = read(&r.online);
                list.iter()
                    .filter(|id| online.get(*id).is_some_and(|c| c.deliver(frame)))
                    .count() as u32
            }
            (None, None) => 0,
        }
    }

    /// A member admitted on another node.
    pub fn remote_admitted(&self, realm: &RealmId, member: &StoredMember) {
        if let Some(r) = self.cached(realm) {
            write(&r.members).insert(member.identid.clone(), member.pubkey.clone());
        }
    }

    /// A member removed on another node: forget its key and close its socket here.
    pub fn remote_removed(&self, realm: &RealmId, identid: &IdentId) {
        if let Some(r) = self.cached(realm) {
            r.forget(identid);
        }
    }

    /// Every live local connection: (realm, identity, key, joined_at), for a node that asks.
    pub fn local_presence(&self) -> Vec<(RealmId, IdentId, PublicJwk, u64)> {
        let mut out = vec![];
        for r in self.loaded() {
            let online: Vec<(IdentId, u64)> = read(&r.online)
                .iter()
                .map(|(id, c)| (id.clone(), c.joined_at))
                .collect();
            let members = read(&r.members);
            for (id, at) in online {
                if let Some(k) = members.get(&id) {
                    out.push((r.id.clone(), id, k.clone(), at));
                }
            }
        }
        out
    }
}
