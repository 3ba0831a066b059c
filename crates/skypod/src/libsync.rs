//! The library's sync over the realm mesh: one [`SyncHub`] fed by the peer's events.
//!
//! Library sync messages travel as `LIBRARY_SYNC_PREFIX` + Automerge sync bytes, over the
//! direct data channel when open, else the encrypted relay (`Mode::P2p` falls back); the
//! peer fragments the large ones (a first sync is the whole library in one message).
//! `SKYPOD_RELAY_ONLY=1` sends them through the relay only (networks where WebRTC is
//! blocked; tests).
//! Used by `skypod node` (forever) and by the one-shot commands (a short round).

use futures_util::{Stream, StreamExt};
use skypod_library::{Library, Store, SyncHub};
use skypod_peer::{Link, Mode, PeerEvent, PeerHandle, Signal};
use skypod_protocol::IdentId;
use skypod_protocol::messages::LIBRARY_SYNC_PREFIX;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

use crate::device::{Device, until_online};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

// Every sync message the library accepts can cross the mesh.
const _: () = assert!(
    skypod_library::MAX_SYNC_MESSAGE + LIBRARY_SYNC_PREFIX.len()
        <= skypod_protocol::fragment::MAX_MESSAGE
);

/// How library messages travel: `SKYPOD_RELAY_ONLY=1` forces the relay.
fn send_mode() -> Mode {
    match std::env::var("SKYPOD_RELAY_ONLY") {
        Ok(v) if !v.is_empty() && v != "0" => Mode::Relay,
        _ => Mode::P2p,
    }
}

/// How long to wait for the direct link of a member that just came online before syncing
/// through the relay anyway (`SKYPOD_P2P_GRACE_MS`, default 3 s). A first sync is the whole
/// library: it should take the direct path, not the rate-limited relay, when it can.
fn p2p_grace() -> Duration {
    if send_mode() == Mode::Relay {
        return Duration::ZERO;
    }
    std::env::var("SKYPOD_P2P_GRACE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(3), Duration::from_millis)
}

/// The sync side of one running peer.
pub struct Syncer<'a> {
    lib: &'a mut Library,
    store: &'a mut Store,
    hub: SyncHub,
    handle: PeerHandle,
    /// Members currently online.
    online: BTreeSet<String>,
    /// Library messages received (and applied).
    pub received: usize,
    /// Library messages sent.
    pub sent: usize,
    last_activity: Instant,
    /// Members online without a direct link yet, since when (see [`p2p_grace`]).
    waiting: BTreeMap<String, Instant>,
    grace: Duration,
}

impl<'a> Syncer<'a> {
    pub fn new(lib: &'a mut Library, store: &'a mut Store, handle: PeerHandle) -> Self {
        Self {
            lib,
            store,
            hub: SyncHub::new(),
            handle,
            online: BTreeSet::new(),
            received: 0,
            sent: 0,
            last_activity: Instant::now(),
            waiting: BTreeMap::new(),
            grace: p2p_grace(),
        }
    }

    fn ensure_connected(&mut self, peer: &str) {
        if self.hub.state(peer).is_none() {
            let saved = self.store.load_peer_state(peer);
            tracing::debug!(%peer, restored = saved.is_some(), "library sync: connect");
            self.hub.connect(peer, saved);
        }
    }

    /// A member came online (`direct`: over a direct link): start (or continue) syncing,
    /// right away over a direct link, else after the grace period for one to open.
    pub async fn peer_up(&mut self, peer: &IdentId, direct: bool) {
        let id = peer.as_str().to_owned();
        self.online.insert(id.clone());
        if direct || self.grace.is_zero() || self.hub.state(&id).is_some() {
            self.waiting.remove(&id);
            self.ensure_connected(&id);
            self.flush().await;
        } else {
            self.waiting.entry(id).or_insert_with(Instant::now);
        }
    }

    /// Merge edits other commands on this device handed over while we own the library
    /// (`Store::hand_off`), and send them on.
    pub async fn inbox(&mut self) {
        match self.store.take_inbox(self.lib) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(
                    changes = n,
                    "library: merged edits handed over by other commands"
                );
                self.flush().await;
            }
            Err(e) => tracing::warn!(error = %e, "library: could not merge handed-over edits"),
        }
    }

    /// Start syncing with members whose direct link did not open within the grace period.
    pub async fn tick(&mut self) {
        let grace = self.grace;
        let due: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, t)| t.elapsed() >= grace)
            .map(|(p, _)| p.clone())
            .collect();
        if due.is_empty() {
            return;
        }
        for p in due {
            tracing::debug!(peer = %p, "no direct link yet: syncing through the relay");
            self.waiting.remove(&p);
            self.ensure_connected(&p);
        }
        self.flush().await;
    }

    /// A member went offline: keep what we know it has for next time.
    pub fn peer_down(&mut self, peer: &IdentId) {
        self.online.remove(peer.as_str());
        self.waiting.remove(peer.as_str());
        if let Some(s) = self.hub.disconnect(peer.as_str())
            && let Err(e) = self.store.save_peer_state(peer.as_str(), &s)
        {
            tracing::warn!(%peer, error = %e, "could not save the sync state");
        }
    }

    /// The library, for edits the node makes itself (then call [`Syncer::local_change`]).
    pub fn library(&mut self) -> &mut Library {
        self.lib
    }

    /// Save an edit made through [`Syncer::library`] and send it on.
    pub async fn local_change(&mut self) {
        if let Err(e) = self.store.save(self.lib) {
            tracing::error!(error = %e, "library: could not save the node's own change");
        }
        self.flush().await;
    }

    /// Persist every connected peer's sync state.
    pub fn persist(&mut self) {
        let peers: Vec<String> = self.hub.peers().map(str::to_owned).collect();
        for p in peers {
            if let Some(s) = self.hub.state(&p)
                && let Err(e) = self.store.save_peer_state(&p, s)
            {
                tracing::warn!(peer = %p, error = %e, "could not save the sync state");
            }
        }
    }

    /// A data message: if it is a library sync message, apply it, save and answer.
    /// Returns whether it was one.
    pub async fn message(&mut self, from: &IdentId, bytes: &[u8]) -> bool {
        let Some(body) = bytes.strip_prefix(LIBRARY_SYNC_PREFIX) else {
            return false;
        };
        self.last_activity = Instant::now();
        self.online.insert(from.as_str().to_owned());
        // It started: answer on whatever path it chose.
        self.waiting.remove(from.as_str());
        self.ensure_connected(from.as_str());
        let before = self.lib.heads();
        match self.hub.receive(self.lib, from.as_str(), body) {
            Ok(()) => {
                self.received += 1;
                if self.lib.heads() != before {
                    match self.store.save(self.lib) {
                        Ok(n) => {
                            tracing::info!(peer = %from, bytes = body.len(), saved = n, "library: merged changes")
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "library: could not save merged changes")
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(peer = %from, error = %e, "library: refused a sync message");
            }
        }
        self.flush().await;
        true
    }

    /// Run a gpodder bridge job on the library; save and send what it changed.
    pub async fn bridge_job(&mut self, job: skypod_gpodder::LibraryJob) {
        if skypod_gpodder::apply_job(self.lib, self.store, job) {
            self.flush().await;
        }
    }

    /// Send whatever the sync protocol wants to send now.
    pub async fn flush(&mut self) {
        for (peer, msg) in self.hub.outgoing(self.lib) {
            let Ok(id) = IdentId::new(peer.clone()) else {
                continue;
            };
            let mut framed = Vec::with_capacity(LIBRARY_SYNC_PREFIX.len() + msg.len());
            framed.extend_from_slice(LIBRARY_SYNC_PREFIX);
            framed.extend_from_slice(&msg);
            let len = framed.len();
            match self.handle.send(&id, framed, send_mode()).await {
                Ok(via) => {
                    self.sent += 1;
                    self.last_activity = Instant::now();
                    tracing::debug!(%peer, bytes = len, ?via, "library: sent sync message");
                }
                Err(e) => {
                    // The sync state believes the message is in flight; forget that so the
                    // next event (link up, a message) retries from what they acknowledged.
                    tracing::warn!(%peer, bytes = len, error = %e, "library: could not send a sync message");
                    if let Some(mut s) = self.hub.disconnect(&peer) {
                        s.reset_connection();
                        self.hub.connect(&peer, Some(s));
                    }
                }
            }
        }
    }

    /// Every online member has our heads and we have theirs, and things are quiet.
    fn settled(&mut self) -> bool {
        if self.last_activity.elapsed() < Duration::from_millis(400) {
            return false;
        }
        let peers: Vec<String> = self.online.iter().cloned().collect();
        peers.iter().all(|p| match self.hub.state(p) {
            Some(s) => s.in_sync(self.lib),
            None => false,
        })
    }

    /// Handle one peer event. Returns false when the peer stopped for good.
    pub async fn event(&mut self, ev: PeerEvent) -> bool {
        match ev {
            PeerEvent::PeerJoined { peer } => {
                tracing::info!(%peer, "device online");
                self.peer_up(&peer, false).await;
            }
            PeerEvent::LinkState { peer, link } => {
                tracing::debug!(%peer, ?link, "link");
                if link == Link::P2p {
                    self.peer_up(&peer, true).await;
                }
            }
            PeerEvent::PeerLeft { peer } => {
                tracing::info!(%peer, "device offline");
                self.peer_down(&peer);
            }
            PeerEvent::MemberRemoved { peer, .. } => {
                tracing::info!(%peer, "device removed from the realm");
                self.peer_down(&peer);
            }
            PeerEvent::Message { from, bytes, .. } => {
                let library = self.message(&from, &bytes).await;
                if library {
                    // merged and answered by `message`
                } else if skypod_protocol::messages::is_console_text(&bytes) {
                    tracing::info!(peer = %from, "console: {}", String::from_utf8_lossy(&bytes));
                } else {
                    tracing::debug!(peer = %from, tag = ?bytes.get(1), "dropped a message with a tag this node has no handler for");
                }
            }
            PeerEvent::Signaling(Signal::Stopped(reason)) => {
                tracing::error!(?reason, "the server stopped this device");
                return false;
            }
            PeerEvent::Signaling(s) => tracing::info!(?s, "signaling"),
            _ => {}
        }
        true
    }
}

/// Start the peer, sync with every online member until all are in sync (or `timeout`), stop.
/// Returns (online members synced with, messages received).
pub async fn round(
    dev: &Device,
    lib: &mut Library,
    store: &mut Store,
    timeout: Duration,
) -> anyhow::Result<(usize, usize)> {
    let (handle, mut events) = dev.start()?;
    let mut early = vec![];
    let online = until_online(&mut events, CONNECT_TIMEOUT, |e| {
        if let PeerEvent::PeerJoined { peer } = e {
            early.push(peer.clone());
        }
    })
    .await;
    if let Err(e) = online {
        handle.shutdown().await;
        return Err(e);
    }
    let result = {
        let mut s = Syncer::new(lib, store, handle.clone());
        for p in early {
            s.peer_up(&p, false).await;
        }
        // Members already present are announced right after authentication.
        for p in handle.peers().await.unwrap_or_default() {
            if p.online {
                s.peer_up(&p.peer, p.link == Link::P2p).await;
            }
        }
        run_until_settled(&mut s, &mut events, timeout).await;
        s.persist();
        (s.online.len(), s.received)
    };
    // Let queued frames leave before closing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    handle.shutdown().await;
    Ok(result)
}

async fn run_until_settled(
    s: &mut Syncer<'_>,
    events: &mut (impl Stream<Item = PeerEvent> + Unpin),
    timeout: Duration,
) {
    let start = Instant::now();
    let deadline = start + timeout;
    // Give presence a moment to list who is online before deciding nobody is.
    let grace = start + Duration::from_millis(1500);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                None => return,
                Some(ev) => if !s.event(ev).await { return },
            },
            _ = tick.tick() => {
                s.tick().await;
                s.inbox().await;
                let now = Instant::now();
                if now >= deadline {
                    tracing::warn!("library sync round timed out; the rest syncs next time");
                    return;
                }
                if s.online.is_empty() {
                    if now >= grace {
                        return;
                    }
                } else if s.settled() {
                    return;
                }
            }
        }
    }
}

/// `skypod node`: sync with every device that comes online, until Ctrl-C/SIGTERM.
/// `bridge`: library jobs from the gpodder bridge (`--gpodder-listen`), run here so the
/// library keeps one owner; each that changes it is saved and synced like any edit.
pub async fn node(
    dev: &Device,
    lib: &mut Library,
    store: &mut Store,
    refresh_every: Option<Duration>,
    mut bridge: Option<tokio::sync::mpsc::Receiver<skypod_gpodder::LibraryJob>>,
) -> anyhow::Result<()> {
    let (handle, mut events) = dev.start()?;
    let mut s = Syncer::new(lib, store, handle.clone());
    // Scheduled refresh of every subscription (library_cmd::refresh_feeds): fetched on a
    // task so a slow feed never holds up syncing; the results come back here to be applied.
    let (refreshed_tx, mut refreshed) = tokio::sync::mpsc::channel(1);
    // The first refresh one period after start: a node restarted in a loop (or a test) does
    // not fetch every feed each time.
    let mut refresh =
        refresh_every.map(|d| tokio::time::interval_at(tokio::time::Instant::now() + d, d));
    let proxy = crate::library_cmd::ProxyTarget::of(dev)?;
    let shutdown = crate::shutdown_signal();
    tokio::pin!(shutdown);
    let mut persist = tokio::time::interval(Duration::from_secs(30));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tracing::info!(device = %dev.identity.identid(), "library node running (Ctrl-C to stop)");
    loop {
        tokio::select! {
            () = &mut shutdown => {
                tracing::info!("stopping");
                break;
            }
            ev = events.next() => match ev {
                None => break,
                Some(ev) => if !s.event(ev).await { break },
            },
            Some(job) = async {
                match bridge.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => s.bridge_job(job).await,
            _ = persist.tick() => s.persist(),
            () = async {
                match refresh.as_mut() {
                    Some(i) => { i.tick().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {
                let urls: Vec<String> = s.library().feeds().into_iter().map(|f| f.url).collect();
                tokio::spawn(crate::library_cmd::refresh_feeds(proxy.clone(), urls, refreshed_tx.clone()));
            }
            Some(batch) = refreshed.recv() => {
                if crate::library_cmd::apply_refresh(s.library(), &batch) {
                    s.local_change().await;
                }
            }
            _ = tick.tick() => {
                s.tick().await;
                s.inbox().await;
            }
        }
    }
    s.persist();
    drop(s);
    handle.shutdown().await;
    Ok(())
}
