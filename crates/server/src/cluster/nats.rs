//! The cluster bus on core NATS publish/subscribe.
//!
//! Subjects (`P` is `--bus-prefix`, so several clusters can share one NATS):
//! - `P.all`: every node's presence events (join, leave, admission, removal), heartbeats and
//!   goodbyes; every node subscribes.
//! - `P.node.<id>`: frames routed to members on node `<id>`, and presence snapshots it asked
//!   for.
//!
//! Liveness: each node publishes a heartbeat every [`HEARTBEAT`]; a node not heard from for
//! [`NODE_TIMEOUT`] is dead and its members are announced as left. Heartbeats rather than a
//! JetStream KV bucket with a TTL: presence is already a stream of events on core NATS, a
//! missing heartbeat is noticed by every node at once with no extra round trip, and core NATS
//! needs no JetStream storage on the server (a KV TTL would also only expire a key, so nodes
//! would still have to watch it). Each (re)connection of a node gets a new random `epoch`;
//! seeing a node with a new epoch (or for the first time) makes the others drop what they
//! knew of it and ask it for a snapshot of its members.
//!
//! Losing the bus: the node closes its sockets with "going away" (clients move to another
//! node), refuses new ones with 503 until the bus is back, then rejoins by itself.

use bytes::Bytes;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use skypod_protocol::{IdentId, PublicJwk, RealmId};

use super::Bus;
use crate::hub::CloseReason;
use crate::state::AppState;
use crate::store::StoredMember;

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Silence after which a node is dead (its members are announced as left). Well inside the
/// 15 s the design allows, yet five missed heartbeats, so a busy node is not declared dead.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages waiting to be published; beyond this they are dropped (and counted), so a stalled
/// bus cannot grow memory without bound.
const OUTBOX: usize = 100_000;
/// Presence entries per snapshot message (well under NATS's 1 MiB payload limit).
const SNAPSHOT_CHUNK: usize = 500;

#[derive(Serialize, Deserialize)]
struct Packet {
    /// Sending node.
    n: String,
    /// Its connection epoch.
    e: u64,
    m: Wire,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Wire {
    Heartbeat,
    Join {
        realm: RealmId,
        id: IdentId,
        key: PublicJwk,
        at: u64,
    },
    Leave {
        realm: RealmId,
        id: IdentId,
        at: u64,
    },
    Admitted {
        realm: RealmId,
        id: IdentId,
        key: PublicJwk,
    },
    Removed {
        realm: RealmId,
        id: IdentId,
    },
    Deliver {
        realm: RealmId,
        /// The sender, excluded when delivering to everyone; `None` for a signal.
        from: Option<IdentId>,
        to: Option<Vec<IdentId>>,
        frame: String,
    },
    SnapshotRequest,
    Snapshot {
        entries: Vec<(RealmId, IdentId, PublicJwk, u64)>,
    },
    Bye,
}

/// A member online on another node.
#[derive(Clone)]
struct Remote {
    node: Arc<str>,
    joined_at: u64,
}

struct NodeSeen {
    epoch: u64,
    last: Instant,
}

#[derive(Default)]
struct Presence {
    realms: HashMap<RealmId, HashMap<IdentId, Remote>>,
    nodes: HashMap<Arc<str>, NodeSeen>,
    count: usize,
}

impl Presence {
    fn remove_if(&mut self, realm: &RealmId, id: &IdentId, f: impl Fn(&Remote) -> bool) -> bool {
        let Some(m) = self.realms.get_mut(realm) else {
            return false;
        };
        if !m.get(id).is_some_and(f) {
            return false;
        }
        m.remove(id);
        if m.is_empty() {
            self.realms.remove(realm);
        }
        self.count -= 1;
        true
    }

    fn insert(&mut self, realm: &RealmId, id: &IdentId, r: Remote) {
        if self
            .realms
            .entry(realm.clone())
            .or_default()
            .insert(id.clone(), r)
            .is_none()
        {
            self.count += 1;
        }
    }

    /// Forget everything `node` had online; returns what was forgotten.
    fn drop_node(&mut self, node: &str) -> Vec<(RealmId, IdentId)> {
        let mut gone = vec![];
        self.realms.retain(|realm, m| {
            m.retain(|id, r| {
                let keep = &*r.node != node;
                if !keep {
                    gone.push((realm.clone(), id.clone()));
                }
                keep
            });
            !m.is_empty()
        });
        self.count -= gone.len();
        gone
    }
}

pub struct NatsBus {
    node: Arc<str>,
    prefix: String,
    client: async_nats::Client,
    up: AtomicBool,
    epoch: AtomicU64,
    out: mpsc::Sender<(String, Bytes)>,
    out_rx: Mutex<Option<mpsc::Receiver<(String, Bytes)>>>,
    events: Mutex<Option<mpsc::Receiver<async_nats::Event>>>,
    presence: Mutex<Presence>,
    /// Set once the node runs: the hub events are fed into.
    state: std::sync::OnceLock<AppState>,
}

/// A node id is one NATS subject token.
pub fn valid_node_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl NatsBus {
    /// Connect to `url` (fails with a clear error when the bus is unreachable).
    pub async fn connect(url: &str, node: &str, prefix: &str) -> anyhow::Result<Arc<Self>> {
        anyhow::ensure!(
            valid_node_id(node),
            "--node-id must be 1-64 letters, digits, '-' or '_' (it is a NATS subject token): {node:?}"
        );
        anyhow::ensure!(
            !prefix.is_empty()
                && prefix.split('.').all(|t| !t.is_empty()
                    && t.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')),
            "--bus-prefix must be dot-separated tokens of letters, digits, '-' or '_': {prefix:?}"
        );
        let (ev_tx, ev_rx) = mpsc::channel(64);
        let client = async_nats::ConnectOptions::new()
            .name(format!("skypod {node}"))
            // A node does not need its own presence events back.
            .no_echo()
            .max_reconnects(None)
            .reconnect_delay_callback(|n| Duration::from_millis((n as u64 * 100).min(1000)))
            .connection_timeout(Duration::from_secs(5))
            .event_callback(move |ev| {
                let tx = ev_tx.clone();
                async move {
                    let _ = tx.send(ev).await;
                }
            })
            .connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to the cluster bus at {url}: {e}"))?;
        let (out, out_rx) = mpsc::channel(OUTBOX);
        Ok(Arc::new(Self {
            node: node.into(),
            prefix: prefix.to_owned(),
            client,
            up: AtomicBool::new(true),
            epoch: AtomicU64::new(rand::random()),
            out,
            out_rx: Mutex::new(Some(out_rx)),
            events: Mutex::new(Some(ev_rx)),
            presence: Mutex::new(Presence::default()),
            state: std::sync::OnceLock::new(),
        }))
    }

    fn presence(&self) -> std::sync::MutexGuard<'_, Presence> {
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn all_subject(&self) -> String {
        format!("{}.all", self.prefix)
    }

    fn node_subject(&self, node: &str) -> String {
        format!("{}.node.{node}", self.prefix)
    }

    fn send(&self, subject: String, m: Wire) {
        let p = Packet {
            n: self.node.to_string(),
            e: self.epoch.load(Ordering::Relaxed),
            m,
        };
        let bytes = Bytes::from(serde_json::to_vec(&p).expect("bus messages serialize"));
        if self.out.try_send((subject, bytes)).is_err() {
            if let Some(s) = self.state.get() {
                s.metrics.bus_dropped.inc();
            }
            tracing::warn!("cluster bus outbox full: message dropped");
        }
    }

    fn broadcast(&self, m: Wire) {
        self.send(self.all_subject(), m);
    }

    /// Start the node's bus tasks, feeding other nodes' events into `state`'s hub.
    pub async fn run(self: &Arc<Self>, state: AppState) -> anyhow::Result<()> {
        let _ = self.state.set(state.clone());
        state.metrics.bus_up.set(1);
        let mut all = self.client.subscribe(self.all_subject()).await?;
        let mut mine = self.client.subscribe(self.node_subject(&self.node)).await?;
        // Publisher: one task, so messages leave in the order the hub produced them.
        let mut out_rx = self
            .out_rx
            .lock()
            .unwrap()
            .take()
            .expect("run is called once");
        let client = self.client.clone();
        let metrics = state.metrics.clone();
        tokio::spawn(async move {
            while let Some((subject, bytes)) = out_rx.recv().await {
                match client.publish(subject, bytes).await {
                    Ok(()) => {
                        metrics.bus_published.inc();
                    }
                    Err(e) => {
                        metrics.bus_dropped.inc();
                        tracing::warn!(error = %e, "cluster bus publish failed");
                    }
                }
            }
        });
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    m = all.next() => m,
                    m = mine.next() => m,
                };
                let Some(msg) = msg else { break };
                me.receive(&msg.payload);
            }
            tracing::info!("cluster bus subscriptions ended");
        });
        let me = self.clone();
        let mut events = self
            .events
            .lock()
            .unwrap()
            .take()
            .expect("run is called once");
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                me.on_connection_event(ev);
            }
        });
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { break };
                if me.is_up() {
                    me.broadcast(Wire::Heartbeat);
                }
                me.expire_nodes();
            }
        });
        self.broadcast(Wire::Heartbeat);
        Ok(())
    }

    fn on_connection_event(&self, ev: async_nats::Event) {
        let Some(state) = self.state.get() else {
            return;
        };
        match ev {
            async_nats::Event::Disconnected => {
                if self.up.swap(false, Ordering::SeqCst) {
                    tracing::warn!(
                        "cluster bus lost: closing sockets, refusing new ones until it is back"
                    );
                    state.metrics.bus_up.set(0);
                    state.hub.close_all(CloseReason::BUS_DOWN);
                    let mut p = self.presence();
                    *p = Presence::default();
                    state.metrics.bus_remote_members.set(0);
                }
            }
            async_nats::Event::Connected => {
                if !self.up.load(Ordering::SeqCst) {
                    // A new epoch: the others drop what they knew of us and ask again.
                    self.epoch.store(rand::random(), Ordering::SeqCst);
                    state.hub.forget_idle_realms();
                    self.up.store(true, Ordering::SeqCst);
                    state.metrics.bus_up.set(1);
                    self.broadcast(Wire::Heartbeat);
                    tracing::info!("cluster bus back: serving again");
                }
            }
            other => tracing::info!(event = %other, "cluster bus event"),
        }
    }

    /// Declare silent nodes dead and announce their members as left.
    fn expire_nodes(&self) {
        let Some(state) = self.state.get() else {
            return;
        };
        let gone = {
            let mut p = self.presence();
            let dead: Vec<Arc<str>> = p
                .nodes
                .iter()
                .filter(|(_, s)| s.last.elapsed() > NODE_TIMEOUT)
                .map(|(n, _)| n.clone())
                .collect();
            let mut gone = vec![];
            for n in dead {
                tracing::warn!(node = %n, "cluster node silent: announcing its members as left");
                p.nodes.remove(&n);
                gone.extend(p.drop_node(&n));
            }
            state.metrics.bus_remote_members.set(p.count as i64);
            gone
        };
        for (realm, id) in gone {
            state.hub.remote_left(&realm, &id);
        }
    }

    fn receive(&self, payload: &[u8]) {
        let Some(state) = self.state.get() else {
            return;
        };
        if !self.is_up() {
            return;
        }
        let p: Packet = match serde_json::from_slice(payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable cluster bus message ignored");
                return;
            }
        };
        if *p.n == *self.node {
            return;
        }
        state.metrics.bus_received.inc();
        let node: Arc<str> = p.n.into();
        // Track the node; a new one (or a new epoch) is asked for its members.
        let (stale, ask) = {
            let mut pr = self.presence();
            match pr.nodes.get_mut(&node) {
                Some(s) if s.epoch == p.e => {
                    s.last = Instant::now();
                    (vec![], false)
                }
                Some(_) => {
                    let stale = pr.drop_node(&node);
                    pr.nodes.insert(
                        node.clone(),
                        NodeSeen {
                            epoch: p.e,
                            last: Instant::now(),
                        },
                    );
                    (stale, true)
                }
                None => {
                    pr.nodes.insert(
                        node.clone(),
                        NodeSeen {
                            epoch: p.e,
                            last: Instant::now(),
                        },
                    );
                    (vec![], true)
                }
            }
        };
        for (realm, id) in stale {
            state.hub.remote_left(&realm, &id);
        }
        if ask && !matches!(p.m, Wire::Bye) {
            self.send(self.node_subject(&node), Wire::SnapshotRequest);
        }
        match p.m {
            Wire::Heartbeat => {}
            Wire::Join { realm, id, key, at } => self.remote_join(state, &node, realm, id, key, at),
            Wire::Snapshot { entries } => {
                for (realm, id, key, at) in entries {
                    self.remote_join(state, &node, realm, id, key, at);
                }
            }
            Wire::Leave { realm, id, at } => {
                let removed = self
                    .presence()
                    .remove_if(&realm, &id, |r| r.node == node && r.joined_at == at);
                if removed {
                    state.hub.remote_left(&realm, &id);
                }
            }
            Wire::Admitted { realm, id, key } => state.hub.remote_admitted(
                &realm,
                &StoredMember {
                    identid: id,
                    pubkey: key,
                },
            ),
            Wire::Removed { realm, id } => state.hub.remote_removed(&realm, &id),
            Wire::Deliver {
                realm,
                from,
                to,
                frame,
            } => {
                let frame = Utf8Bytes::from(frame);
                let n = state
                    .hub
                    .remote_deliver(&realm, from.as_ref(), &frame, to.as_deref());
                state.metrics.routed("remote", n as u64);
            }
            Wire::SnapshotRequest => {
                let mine = state.hub.local_presence();
                for chunk in mine.chunks(SNAPSHOT_CHUNK) {
                    self.send(
                        self.node_subject(&node),
                        Wire::Snapshot {
                            entries: chunk.to_vec(),
                        },
                    );
                }
            }
            Wire::Bye => {
                let gone = {
                    let mut pr = self.presence();
                    pr.nodes.remove(&node);
                    pr.drop_node(&node)
                };
                tracing::info!(node = %node, members = gone.len(), "cluster node said goodbye");
                for (realm, id) in gone {
                    state.hub.remote_left(&realm, &id);
                }
            }
        }
        state
            .metrics
            .bus_remote_members
            .set(self.presence().count as i64);
    }

    fn remote_join(
        &self,
        state: &AppState,
        node: &Arc<str>,
        realm: RealmId,
        id: IdentId,
        key: PublicJwk,
        at: u64,
    ) {
        // An older event than what is known (a snapshot overlapping a join) changes nothing.
        let known = self
            .presence()
            .realms
            .get(&realm)
            .and_then(|m| m.get(&id).cloned());
        if let Some(k) = &known
            && (k.joined_at, &*k.node) >= (at, &**node)
        {
            return;
        }
        // Never hold the presence lock while the hub takes a realm's locks (the hub calls the
        // bus with those held).
        if state
            .hub
            .remote_joined(&realm, &id, &key, at, **node > *self.node, known.is_some())
        {
            self.presence().insert(
                &realm,
                &id,
                Remote {
                    node: node.clone(),
                    joined_at: at,
                },
            );
        }
    }

    /// Graceful shutdown: tell the others at once (they announce our members as left), and
    /// give the publisher a moment to send what is queued.
    pub async fn goodbye(&self) {
        self.broadcast(Wire::Bye);
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.out.capacity() < OUTBOX && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
    }
}

impl Bus for NatsBus {
    fn node_id(&self) -> &str {
        &self.node
    }

    fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    fn joined(&self, realm: &RealmId, identid: &IdentId, pubkey: &PublicJwk, joined_at: u64) {
        // The identity is now live here: any older connection elsewhere is being replaced.
        self.presence().remove_if(realm, identid, |_| true);
        self.broadcast(Wire::Join {
            realm: realm.clone(),
            id: identid.clone(),
            key: pubkey.clone(),
            at: joined_at,
        });
    }

    fn left(&self, realm: &RealmId, identid: &IdentId, joined_at: u64) {
        self.broadcast(Wire::Leave {
            realm: realm.clone(),
            id: identid.clone(),
            at: joined_at,
        });
    }

    fn remote_peers(&self, realm: &RealmId) -> Vec<IdentId> {
        self.presence()
            .realms
            .get(realm)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn route(
        &self,
        realm: &RealmId,
        from: &IdentId,
        frame: &Utf8Bytes,
        recipients: Option<&[IdentId]>,
    ) -> u32 {
        // Group the remote recipients by node: one message per node.
        let mut per_node: HashMap<Arc<str>, (u32, Vec<IdentId>)> = HashMap::new();
        {
            let p = self.presence();
            let Some(m) = p.realms.get(realm) else {
                return 0;
            };
            match recipients {
                None => {
                    for (id, r) in m {
                        if id != from {
                            per_node.entry(r.node.clone()).or_default().0 += 1;
                        }
                    }
                }
                Some(list) => {
                    for id in list {
                        if let Some(r) = m.get(id).filter(|_| id != from) {
                            let e = per_node.entry(r.node.clone()).or_default();
                            e.0 += 1;
                            e.1.push(id.clone());
                        }
                    }
                }
            }
        }
        let mut n = 0;
        for (node, (count, ids)) in per_node {
            n += count;
            self.send(
                self.node_subject(&node),
                Wire::Deliver {
                    realm: realm.clone(),
                    from: Some(from.clone()),
                    to: recipients.map(|_| ids),
                    frame: frame.as_str().to_owned(),
                },
            );
        }
        n
    }

    fn send_to(&self, realm: &RealmId, to: &IdentId, frame: &Utf8Bytes) -> bool {
        let node = self
            .presence()
            .realms
            .get(realm)
            .and_then(|m| m.get(to))
            .map(|r| r.node.clone());
        let Some(node) = node else {
            return false;
        };
        self.send(
            self.node_subject(&node),
            Wire::Deliver {
                realm: realm.clone(),
                from: None,
                to: Some(vec![to.clone()]),
                frame: frame.as_str().to_owned(),
            },
        );
        true
    }

    fn admitted(&self, realm: &RealmId, member: &StoredMember) {
        self.broadcast(Wire::Admitted {
            realm: realm.clone(),
            id: member.identid.clone(),
            key: member.pubkey.clone(),
        });
    }

    fn removed(&self, realm: &RealmId, identid: &IdentId) {
        self.broadcast(Wire::Removed {
            realm: realm.clone(),
            id: identid.clone(),
        });
    }
}
