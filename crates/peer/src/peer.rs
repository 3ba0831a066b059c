//! The IO layer: one actor task owns the signaling socket, the state machines and every
//! WebRTC connection; the [`PeerHandle`] talks to it through a queue, except for sending on
//! an open data channel, which goes straight to the channel (the throughput path).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, Stream, StreamExt};
use rand::SeedableRng;
use serde_json::Value;
use skypod_client::{ClientError, RealmClient, Ws, tungstenite::Message};
use skypod_protocol::fragment::{self, Reassembler, ReassemblyLimits};
use skypod_protocol::messages::{
    AuthnResponse, BROADCAST, BroadcastDelivery, BroadcastRequest, MEMBER_REMOVE, MEMBER_REMOVED,
    MemberRemoved, PEER_JOINED, PEER_LEFT, PING, PeerJoined, PeerLeft, Ping, SIGNAL,
    SignalDelivery, SignalRequest, TokenRequest,
};
use skypod_protocol::token::{self, NoClaims, Purpose, RevokeClaims, RtcSignal, SignalClaims};
use skypod_protocol::{
    Envelope, ErrorBody, IdentId, IdentityKey, PublicJwk, RealmId, TokenRules, Typ, unix_now,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::oneshot;
use webrtc::data_channel::{DataChannel, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};

use crate::crypto::{self, AgreementKey, AnnounceClaims, GrantClaims, RealmKey};
use crate::rtc::{self, RtcInput, RtcMsg, RtcSettings};
use crate::sm::backoff::BackoffConfig;
use crate::sm::health::{Health, HealthAction, HealthConfig};
use crate::sm::negotiation::{
    Action, Decision, NegotiationConfig, Negotiator, SignalKind, is_polite,
};
use crate::sm::signaling::{SigAction, Signaling, StopReason};
use crate::store::RealmState;

/// `connectionid` of realm-key messages relayed through `realm.rtc.signal`.
pub use skypod_protocol::messages::KEY_CONNECTION_ID;
/// Largest data channel message, bytes (one SCTP message minus the frame tag). Larger
/// application messages travel as fragments ([`skypod_protocol::fragment`]).
pub const MAX_MESSAGE: usize = 64 * 1024 - 1;
/// Largest message the relay carries in one frame (the server's default frame limit is
/// 64 KiB, and base64 plus the envelope add a third); larger ones are fragmented.
pub const MAX_RELAY_MESSAGE: usize = 44 * 1024;
/// Largest application message `send` accepts (reassembled on the other side).
pub const MAX_APP_MESSAGE: usize = fragment::MAX_MESSAGE;
/// Relayed fragments of one message sent before pacing starts: the server allows a burst of
/// 200 messages per connection and 100/s sustained (`SKYPOD_RATE*`), shared with signals.
const RELAY_BURST: usize = 100;
/// Pause between relayed fragments after the burst (~80 per second).
const RELAY_PACE: Duration = Duration::from_millis(12);
/// Lifetime of the signal tokens we sign.
const SIGNAL_TTL: i64 = 60;

/// How the device authenticates on its first connection. After one success it always
/// reconnects with `Authn`.
#[derive(Clone, Debug)]
pub enum JoinMode {
    /// Create the realm (its first device).
    Register,
    /// Join with an invitation token.
    Exchange { invitation: String },
    /// Already a member.
    Authn,
}

#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub identity: IdentityKey,
    pub realm: RealmId,
    /// Realm WebSocket URL, e.g. `ws://127.0.0.1:8080/realm`.
    pub server_url: String,
    pub join: JoinMode,
    /// The realm key held (from [`RealmState`]); `None` until a member grants it.
    pub realm_key: Option<RealmKey>,
    /// When set, a new or rotated realm key is saved to the [`RealmState`] in this directory.
    pub state_dir: Option<PathBuf>,
    /// STUN/TURN URLs; empty means host candidates only.
    pub ice_servers: Vec<String>,
    /// Local UDP addresses to gather host candidates on.
    pub bind_addrs: Vec<String>,
    pub health: HealthConfig,
    pub negotiation: NegotiationConfig,
    pub reconnect: BackoffConfig,
    /// Ping the server this often (it closes silent sockets after 90 s by default).
    pub keepalive: Duration,
    /// Data channel send buffer, bytes: `send` waits when this much is unacknowledged.
    pub send_buffer_limit: usize,
    /// SCTP receive window (a_rwnd), bytes. The library's 1 MiB default caps one channel at
    /// ~50 MB/s even on loopback (docs/benchmarks-peer.md). Memory is only used while the
    /// application reads slower than the peer sends.
    pub sctp_receive_buffer: u32,
    /// Kernel receive buffer asked for each UDP socket, bytes (capped by the OS, e.g.
    /// Linux `net.core.rmem_max`; 0 keeps the system default). A small one overflows when
    /// the reading task is scheduled late, and the loss keeps SCTP slow.
    pub udp_recv_buffer: usize,
}

impl PeerConfig {
    pub fn new(identity: IdentityKey, realm: RealmId, server_url: String, join: JoinMode) -> Self {
        Self {
            identity,
            realm,
            server_url,
            join,
            realm_key: None,
            state_dir: None,
            ice_servers: vec![],
            bind_addrs: vec!["0.0.0.0:0".into()],
            health: HealthConfig::default(),
            negotiation: NegotiationConfig::default(),
            reconnect: BackoffConfig::default(),
            keepalive: Duration::from_secs(30),
            send_buffer_limit: 4 * 1024 * 1024,
            sctp_receive_buffer: 8 * 1024 * 1024,
            udp_recv_buffer: 4 * 1024 * 1024,
        }
    }
}

/// How a message travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    P2p,
    Relay,
}

/// How a message should travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The direct data channel; falls back to the relay when the link is down.
    P2p,
    /// Always through the server (encrypted with the realm key).
    Relay,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    P2p,
    Relay,
    Down,
}

/// The signaling connection's state, as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Online,
    Offline,
    Stopped(StopReason),
}

#[derive(Clone, Debug, PartialEq)]
pub enum PeerEvent {
    /// The server connection changed state.
    Signaling(Signal),
    PeerJoined {
        peer: IdentId,
    },
    PeerLeft {
        peer: IdentId,
    },
    LinkState {
        peer: IdentId,
        link: Link,
    },
    Rtt {
        peer: IdentId,
        rtt: Duration,
    },
    Message {
        from: IdentId,
        bytes: Bytes,
        via: Via,
    },
    /// A new realm key (granted, or rotated by us).
    RealmKey {
        epoch: u64,
        kid: String,
    },
    /// A device was removed from the realm.
    MemberRemoved {
        peer: IdentId,
        by: IdentId,
    },
    /// A signal or key message failed verification and was dropped.
    Rejected {
        from: IdentId,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct PeerInfo {
    pub peer: IdentId,
    pub online: bool,
    pub link: Link,
    pub rtt: Option<Duration>,
    /// The connection id of the current attempt, if any (diagnostics).
    pub connection: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("the peer has stopped")]
    Stopped,
    #[error("not connected to the server and no direct link")]
    Offline,
    #[error("no realm key yet (no member has granted it)")]
    NoRealmKey,
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
    #[error("server refused: {} {}", .0.status, .0.message)]
    Refused(ErrorBody),
    #[error("{0}")]
    Other(String),
}

pub(crate) enum Command {
    Relay {
        to: Option<Vec<IdentId>>,
        bytes: Bytes,
        reply: oneshot::Sender<Result<usize, PeerError>>,
    },
    Remove {
        peer: IdentId,
        reply: oneshot::Sender<Result<(), PeerError>>,
    },
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Shutdown(oneshot::Sender<()>),
}

pub(crate) enum Input {
    Cmd(Command),
    Rtc(RtcMsg),
    WsConnected(u64, Box<RealmClient>),
    WsConnectFailed(u64),
    WsAuthed(u64, Box<Result<(AuthnResponse, RealmClient), ClientError>>),
    WsFrame(u64, Envelope<Value>),
    WsClosed(u64, Option<u16>),
}

type Links = Arc<RwLock<HashMap<IdentId, (String, Arc<dyn DataChannel>)>>>;

/// The application's side of a running peer. Cheap to clone.
#[derive(Clone)]
pub struct PeerHandle {
    me: IdentId,
    tx: UnboundedSender<Input>,
    links: Links,
    /// Next fragmented message id (random start: peers remember delivered ids).
    frag_id: Arc<AtomicU32>,
}

impl PeerHandle {
    pub fn identid(&self) -> &IdentId {
        &self.me
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, PeerError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Input::Cmd(make(tx)))
            .map_err(|_| PeerError::Stopped)?;
        rx.await.map_err(|_| PeerError::Stopped)
    }

    fn link(&self, peer: &IdentId) -> Option<Arc<dyn DataChannel>> {
        let links = self.links.read().unwrap_or_else(|e| e.into_inner());
        links.get(peer).map(|(_, dc)| dc.clone())
    }

    /// Send to one member. With [`Mode::P2p`] the direct channel is used when open, else the
    /// relay; returns which was used.
    pub async fn send(
        &self,
        peer: &IdentId,
        bytes: impl Into<Bytes>,
        mode: Mode,
    ) -> Result<Via, PeerError> {
        let bytes = bytes.into();
        if bytes.len() > MAX_APP_MESSAGE {
            return Err(PeerError::TooLarge(bytes.len()));
        }
        if mode == Mode::P2p
            && let Some(dc) = self.link(peer)
        {
            match self.send_direct(&dc, &bytes).await {
                Ok(()) => return Ok(Via::P2p),
                Err(e) => tracing::debug!(%peer, error = %e, "direct send failed; relaying"),
            }
        }
        self.send_relayed(Some(vec![peer.clone()]), &bytes).await?;
        Ok(Via::Relay)
    }

    /// The transport messages for `bytes` on a path carrying at most `max` bytes: itself
    /// when it fits, else fragments under a fresh message id.
    fn frames(&self, bytes: &Bytes, max: usize) -> Result<Vec<Bytes>, PeerError> {
        if fragment::fits_unframed(bytes, max) {
            return Ok(vec![bytes.clone()]);
        }
        let id = self.frag_id.fetch_add(1, Ordering::Relaxed);
        fragment::split(bytes, max, id)
            .map(|v| v.into_iter().map(Bytes::from).collect())
            .map_err(|e| PeerError::Other(e.to_string()))
    }

    /// Every frame of `bytes` over one data channel. If one fails midway the caller sends
    /// the whole message again by the relay (under a new id; the receiver drops the partial
    /// one when it expires).
    async fn send_direct(&self, dc: &Arc<dyn DataChannel>, bytes: &Bytes) -> Result<(), PeerError> {
        for f in self.frames(bytes, MAX_MESSAGE)? {
            dc.send(rtc::frame(rtc::T_DATA, &f))
                .await
                .map_err(|e| PeerError::Other(e.to_string()))?;
        }
        Ok(())
    }

    /// Every frame of `bytes` through the server (`to`: recipients, `None` = everyone
    /// online). Returns how many members the last frame was handed to.
    async fn send_relayed(
        &self,
        to: Option<Vec<IdentId>>,
        bytes: &Bytes,
    ) -> Result<usize, PeerError> {
        let mut n = 0;
        for (i, f) in self
            .frames(bytes, MAX_RELAY_MESSAGE)?
            .into_iter()
            .enumerate()
        {
            if i >= RELAY_BURST {
                tokio::time::sleep(RELAY_PACE).await;
            }
            let to = to.clone();
            n = self
                .call(|reply| Command::Relay {
                    to,
                    bytes: f,
                    reply,
                })
                .await??;
        }
        Ok(n)
    }

    /// Send to every other member that is reachable, each exactly once: over its direct link
    /// when open (in [`Mode::P2p`]), the rest in one relayed broadcast. Returns how many
    /// members it was handed to.
    pub async fn send_all(&self, bytes: impl Into<Bytes>, mode: Mode) -> Result<usize, PeerError> {
        let bytes = bytes.into();
        if bytes.len() > MAX_APP_MESSAGE {
            return Err(PeerError::TooLarge(bytes.len()));
        }
        let peers = self.peers().await?;
        let mut sent = 0;
        let mut relay = vec![];
        for p in peers
            .into_iter()
            .filter(|p| p.online || p.link == Link::P2p)
        {
            if mode == Mode::P2p
                && let Some(dc) = self.link(&p.peer)
                && self.send_direct(&dc, &bytes).await.is_ok()
            {
                sent += 1;
                continue;
            }
            relay.push(p.peer);
        }
        if !relay.is_empty() {
            sent += self.send_relayed(Some(relay), &bytes).await?;
        }
        Ok(sent)
    }

    /// Remove (revoke) a device from the realm; the realm key is rotated afterwards.
    pub async fn remove_member(&self, peer: &IdentId) -> Result<(), PeerError> {
        let peer = peer.clone();
        self.call(|reply| Command::Remove { peer, reply }).await?
    }

    /// Every known member and how it is reachable.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, PeerError> {
        self.call(Command::Peers).await
    }

    /// Close every connection and stop.
    pub async fn shutdown(&self) {
        let _ = self.call(Command::Shutdown).await;
    }
}

pub struct Peer;

impl Peer {
    /// Start the peer on the current tokio runtime.
    pub fn start(config: PeerConfig) -> (PeerHandle, impl Stream<Item = PeerEvent> + Send + Unpin) {
        let (tx, rx) = unbounded_channel();
        let (etx, mut erx) = unbounded_channel();
        let links: Links = Arc::default();
        let me = config.identity.identid().clone();
        let handle = PeerHandle {
            me: me.clone(),
            tx: tx.clone(),
            links: links.clone(),
            frag_id: Arc::new(AtomicU32::new(rand::random())),
        };
        let actor = Actor::new(config, tx, rx, etx, links);
        tokio::spawn(actor.run());
        // Reassembly sits on the event stream: every message from both paths passes here,
        // in order, so one reassembler per sender sees all of its fragments.
        let mut framing = Framing::default();
        let stream = futures_util::stream::poll_fn(move |cx| {
            loop {
                let Some(ev) = std::task::ready!(erx.poll_recv(cx)) else {
                    return std::task::Poll::Ready(None);
                };
                if let Some(ev) = framing.event(ev, Instant::now()) {
                    return std::task::Poll::Ready(Some(ev));
                }
            }
        });
        (handle, stream)
    }
}

/// Fragment reassembly for received messages, one [`Reassembler`] per sender.
#[derive(Default)]
struct Framing {
    senders: HashMap<IdentId, Reassembler>,
}

impl Framing {
    /// Pass an event through: whole messages and other events as they are, fragments
    /// buffered until their message is complete; a bad fragment becomes `Rejected`.
    fn event(&mut self, ev: PeerEvent, now: Instant) -> Option<PeerEvent> {
        let (from, bytes, via) = match ev {
            PeerEvent::Message { from, bytes, via } if fragment::is_fragment(&bytes) => {
                (from, bytes, via)
            }
            PeerEvent::MemberRemoved { ref peer, .. } => {
                self.senders.remove(peer);
                return Some(ev);
            }
            ev => return Some(ev),
        };
        let r = self
            .senders
            .entry(from.clone())
            .or_insert_with(|| Reassembler::new(ReassemblyLimits::default()));
        let out = r.push(now, &bytes);
        if r.is_idle() {
            self.senders.remove(&from);
        }
        match out {
            Ok(Some(m)) => Some(PeerEvent::Message {
                from,
                bytes: Bytes::from(m),
                via,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(%from, error = %e, "fragment refused");
                Some(PeerEvent::Rejected {
                    from,
                    reason: format!("fragment: {e}"),
                })
            }
        }
    }
}

struct Conn {
    pc: Arc<dyn PeerConnection>,
    dc: Option<Arc<dyn DataChannel>>,
}

struct Remote {
    pubkey: PublicJwk,
    online: bool,
    neg: Negotiator,
    conns: HashMap<String, Conn>,
    health: Option<Health>,
    /// The agreement key it announced (verified), for realm-key grants.
    apk: Option<String>,
    link: Link,
}

struct Actor {
    identity: IdentityKey,
    me: IdentId,
    realm: RealmId,
    url: String,
    join: JoinMode,
    state_dir: Option<PathBuf>,
    rules: TokenRules,
    rtc: RtcSettings,
    health_cfg: HealthConfig,
    neg_cfg: NegotiationConfig,
    sig: Signaling,
    ws: Option<SplitSink<Ws, Message>>,
    ws_gen: u64,
    seq: u64,
    pending: HashMap<u64, oneshot::Sender<Result<Value, PeerError>>>,
    removing: HashMap<u64, IdentId>,
    remotes: HashMap<IdentId, Remote>,
    key: Option<RealmKey>,
    old_keys: Vec<RealmKey>,
    agreement: AgreementKey,
    links: Links,
    events: UnboundedSender<PeerEvent>,
    tx: UnboundedSender<Input>,
    rx: UnboundedReceiver<Input>,
}

impl Actor {
    fn new(
        c: PeerConfig,
        tx: UnboundedSender<Input>,
        rx: UnboundedReceiver<Input>,
        events: UnboundedSender<PeerEvent>,
        links: Links,
    ) -> Self {
        let me = c.identity.identid().clone();
        Self {
            sig: Signaling::new(
                Instant::now(),
                c.reconnect.clone(),
                c.keepalive,
                Box::new(rand::rngs::StdRng::from_entropy()),
            ),
            me,
            identity: c.identity,
            realm: c.realm,
            url: c.server_url,
            join: c.join,
            state_dir: c.state_dir,
            rules: TokenRules::default(),
            rtc: RtcSettings {
                ice_servers: c.ice_servers,
                bind_addrs: c.bind_addrs,
                send_buffer_limit: c.send_buffer_limit,
                sctp_receive_buffer: c.sctp_receive_buffer,
                udp_recv_buffer: c.udp_recv_buffer,
            },
            health_cfg: c.health,
            neg_cfg: c.negotiation,
            ws: None,
            ws_gen: 0,
            seq: 0,
            pending: HashMap::new(),
            removing: HashMap::new(),
            remotes: HashMap::new(),
            key: c.realm_key,
            old_keys: vec![],
            agreement: AgreementKey::generate(),
            links,
            events,
            tx,
            rx,
        }
    }

    fn emit(&self, e: PeerEvent) {
        let _ = self.events.send(e);
    }

    async fn run(mut self) {
        loop {
            let now = Instant::now();
            self.drive(now).await;
            let deadline = self.next_deadline();
            let input = match deadline {
                Some(d) => {
                    tokio::select! {
                        i = self.rx.recv() => i,
                        () = tokio::time::sleep_until(d.into()) => continue,
                    }
                }
                None => self.rx.recv().await,
            };
            let Some(input) = input else { break };
            if let Input::Cmd(Command::Shutdown(reply)) = input {
                self.shutdown().await;
                let _ = reply.send(());
                break;
            }
            self.handle(input).await;
        }
    }

    async fn shutdown(&mut self) {
        self.sig.shutdown();
        if let Some(mut ws) = self.ws.take() {
            let _ = ws.close().await;
        }
        self.links
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for r in self.remotes.values_mut() {
            for (_, c) in r.conns.drain() {
                let _ = c.pc.close().await;
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.sig.poll_timeout();
        for r in self.remotes.values() {
            for t in [
                r.neg.poll_timeout(),
                r.health.as_ref().and_then(Health::poll_timeout),
            ]
            .into_iter()
            .flatten()
            {
                d = Some(d.map_or(t, |x| x.min(t)));
            }
        }
        d
    }

    /// Run every state machine up to `now` and carry out what they ask.
    async fn drive(&mut self, now: Instant) {
        while let Some(a) = self.sig.poll(now) {
            self.sig_action(a).await;
        }
        let ids: Vec<IdentId> = self.remotes.keys().cloned().collect();
        for id in ids {
            while let Some(r) = self.remotes.get_mut(&id) {
                let health = r.health.as_mut().and_then(|h| h.poll(now));
                if let Some(h) = health {
                    self.health_action(&id, h, now).await;
                    continue;
                }
                let Some(a) = r.neg.poll(now) else { break };
                self.neg_action(&id, a, now).await;
            }
        }
    }

    async fn sig_action(&mut self, a: SigAction) {
        match a {
            SigAction::Connect => {
                self.ws_gen += 1;
                let generation = self.ws_gen;
                let url = self.url.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let r =
                        tokio::time::timeout(Duration::from_secs(5), RealmClient::connect(&url))
                            .await;
                    let _ = tx.send(match r {
                        Ok(Ok(c)) => Input::WsConnected(generation, Box::new(c)),
                        _ => Input::WsConnectFailed(generation),
                    });
                });
            }
            SigAction::Authenticate => {} // done when the client arrives (see WsConnected)
            SigAction::Keepalive => {
                self.seq += 1;
                let env = Envelope::req(PING, self.seq, Ping { t: None });
                self.ws_send(env.to_json()).await;
            }
            SigAction::Online => {
                self.emit(PeerEvent::Signaling(Signal::Online));
            }
            SigAction::Offline { retry_in } => {
                tracing::info!(?retry_in, "signaling offline; reconnecting");
                self.ws = None;
                self.emit(PeerEvent::Signaling(Signal::Offline));
                self.refresh_links();
            }
            SigAction::Stopped(reason) => {
                tracing::warn!(?reason, "signaling stopped");
                self.ws = None;
                self.emit(PeerEvent::Signaling(Signal::Stopped(reason)));
                if reason == StopReason::Refused {
                    // Removed from the realm: drop every link too.
                    let ids: Vec<_> = self.remotes.keys().cloned().collect();
                    for id in ids {
                        self.peer_gone(&id);
                    }
                }
            }
        }
    }

    async fn health_action(&mut self, id: &IdentId, h: HealthAction, now: Instant) {
        match h {
            HealthAction::SendPing(n) => {
                if let Some(dc) = self.link_dc(id) {
                    let _ = dc.send(rtc::frame(rtc::T_PING, &n.to_be_bytes())).await;
                }
            }
            HealthAction::Dead => {
                tracing::info!(peer = %id, "link missed its pongs: dead");
                if let Some(r) = self.remotes.get_mut(id) {
                    r.health = None;
                    if let Some(cid) = r.neg.current_cid().map(str::to_owned) {
                        r.neg.on_failed(now, &cid);
                    }
                }
            }
        }
    }

    fn link_dc(&self, id: &IdentId) -> Option<Arc<dyn DataChannel>> {
        let links = self.links.read().unwrap_or_else(|e| e.into_inner());
        links.get(id).map(|(_, dc)| dc.clone())
    }

    async fn neg_action(&mut self, id: &IdentId, a: Action, now: Instant) {
        match a {
            Action::StartOffer { cid } => {
                if let Err(e) = self.start_offer(id, &cid).await {
                    tracing::warn!(peer = %id, error = %e, "could not start an offer");
                    if let Some(r) = self.remotes.get_mut(id) {
                        r.neg.on_failed(now, &cid);
                    }
                }
            }
            Action::RestartIce { cid } => {
                let pc = self
                    .remotes
                    .get(id)
                    .and_then(|r| r.conns.get(&cid))
                    .map(|c| c.pc.clone());
                let ok = match pc {
                    Some(pc) => async {
                        pc.restart_ice().await?;
                        let offer = pc.create_offer(None).await?;
                        pc.set_local_description(offer.clone()).await?;
                        Ok::<_, webrtc::error::Error>(offer)
                    }
                    .await
                    .ok(),
                    None => None,
                };
                match ok {
                    Some(offer) => {
                        self.send_signal(id, &cid, description(&offer)).await;
                    }
                    None => {
                        if let Some(r) = self.remotes.get_mut(id) {
                            r.neg.on_failed(now, &cid);
                        }
                    }
                }
            }
            Action::Close { cid } => {
                if let Some(c) = self.remotes.get_mut(id).and_then(|r| r.conns.remove(&cid)) {
                    tokio::spawn(async move {
                        let _ = c.pc.close().await;
                    });
                }
                let mut links = self.links.write().unwrap_or_else(|e| e.into_inner());
                if links.get(id).is_some_and(|(c, _)| *c == cid) {
                    links.remove(id);
                }
            }
            Action::LinkUp { cid } => {
                let dc = self
                    .remotes
                    .get(id)
                    .and_then(|r| r.conns.get(&cid))
                    .and_then(|c| c.dc.clone());
                let Some(dc) = dc else { return };
                self.links
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone(), (cid, dc.clone()));
                if let Some(r) = self.remotes.get_mut(id) {
                    r.health = Some(Health::new(self.health_cfg.clone(), now));
                }
                self.set_link(id, Link::P2p);
                // Tell it our agreement key and realm key generation (key delivery).
                if let Some(tok) = self.announce_token() {
                    let _ = dc.send(rtc::frame(rtc::T_CTRL, tok.as_bytes())).await;
                }
            }
            Action::LinkDown => {
                self.links
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(id);
                if let Some(r) = self.remotes.get_mut(id) {
                    r.health = None;
                }
                let l = self.fallback_link(id);
                self.set_link(id, l);
            }
        }
    }

    fn fallback_link(&self, id: &IdentId) -> Link {
        let online = self.remotes.get(id).is_some_and(|r| r.online);
        if online && self.sig.is_online() {
            Link::Relay
        } else {
            Link::Down
        }
    }

    fn set_link(&mut self, id: &IdentId, link: Link) {
        if let Some(r) = self.remotes.get_mut(id)
            && r.link != link
        {
            r.link = link;
            self.emit(PeerEvent::LinkState {
                peer: id.clone(),
                link,
            });
        }
    }

    /// Re-derive relay/down for peers without a direct link (after a signaling change).
    fn refresh_links(&mut self) {
        let ids: Vec<_> = self
            .remotes
            .iter()
            .filter(|(_, r)| r.link != Link::P2p)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let l = self.fallback_link(&id);
            self.set_link(&id, l);
        }
    }

    async fn start_offer(&mut self, id: &IdentId, cid: &str) -> Result<(), webrtc::error::Error> {
        let pc = rtc::new_connection(&self.rtc, id, cid, self.tx.clone()).await?;
        let dc = pc
            .create_data_channel(
                rtc::LABEL,
                Some(RTCDataChannelInit {
                    ordered: true,
                    ..Default::default()
                }),
            )
            .await?;
        rtc::spawn_reader(
            dc.clone(),
            id.clone(),
            cid.to_owned(),
            self.tx.clone(),
            self.events.clone(),
        );
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer.clone()).await?;
        if let Some(r) = self.remotes.get_mut(id) {
            r.conns.insert(
                cid.to_owned(),
                Conn {
                    pc: pc.clone(),
                    dc: Some(dc),
                },
            );
        } else {
            let _ = pc.close().await;
            return Ok(());
        }
        self.send_signal(id, cid, description(&offer)).await;
        Ok(())
    }

    async fn ws_send(&mut self, text: String) -> bool {
        match self.ws.as_mut() {
            Some(ws) => ws.send(Message::text(text)).await.is_ok(),
            None => false,
        }
    }

    async fn send_signal(&mut self, id: &IdentId, cid: &str, signal: RtcSignal) {
        let tok = match token::sign(
            &self.identity,
            Purpose::Signal,
            &self.realm,
            unix_now(),
            SIGNAL_TTL,
            SignalClaims {
                sub: id.clone(),
                cid: cid.to_owned(),
                signal,
            },
        ) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign a signal");
                return;
            }
        };
        self.send_signal_raw(id, cid, tok).await;
    }

    async fn send_signal_raw(&mut self, id: &IdentId, cid: &str, payload: String) {
        let env = Envelope::evt(
            SIGNAL,
            SignalRequest {
                localid: None,
                remoteid: id.clone(),
                connectionid: cid.to_owned(),
                payload,
            },
        );
        if !self.ws_send(env.to_json()).await {
            tracing::debug!(peer = %id, "signal not sent: offline");
        }
    }

    fn remote_entry(&mut self, id: &IdentId, pubkey: PublicJwk) -> &mut Remote {
        let polite = is_polite(self.me.as_str(), id.as_str());
        let neg_cfg = self.neg_cfg.clone();
        let r = self.remotes.entry(id.clone()).or_insert_with(|| Remote {
            pubkey: pubkey.clone(),
            online: false,
            neg: Negotiator::new(
                neg_cfg,
                polite,
                rand::random(),
                Box::new(rand::rngs::StdRng::from_entropy()),
            ),
            conns: HashMap::new(),
            health: None,
            apk: None,
            link: Link::Down,
        });
        r.pubkey = pubkey;
        r
    }

    /// A member is online (from the authn response or `peer-joined`).
    fn peer_present(&mut self, id: &IdentId, pubkey: PublicJwk, initiate: bool, now: Instant) {
        let r = self.remote_entry(id, pubkey);
        let was = r.online;
        r.online = true;
        r.neg.peer_present(now, initiate);
        if !was {
            self.emit(PeerEvent::PeerJoined { peer: id.clone() });
        }
        if self.remotes.get(id).is_some_and(|r| r.link != Link::P2p) {
            let l = self.fallback_link(id);
            self.set_link(id, l);
        }
    }

    fn peer_gone(&mut self, id: &IdentId) {
        let Some(r) = self.remotes.get_mut(id) else {
            return;
        };
        let was = r.online;
        r.online = false;
        r.neg.peer_left();
        r.health = None;
        r.apk = None;
        if was {
            self.emit(PeerEvent::PeerLeft { peer: id.clone() });
        }
    }

    async fn handle(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Cmd(c) => self.command(c).await,
            Input::Rtc(m) => self.rtc_input(m, now).await,
            Input::WsConnected(g, client) if g == self.ws_gen => {
                self.sig.on_connected();
                let join = self.join.clone();
                let key = self.identity.clone();
                let realm = self.realm.clone();
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let mut client = *client;
                    let r = tokio::time::timeout(Duration::from_secs(5), async {
                        match join {
                            JoinMode::Register => client.register(&key, &realm).await,
                            JoinMode::Exchange { invitation } => {
                                client.exchange(&key, &realm, &invitation).await
                            }
                            JoinMode::Authn => client.authn(&key, &realm).await,
                        }
                    })
                    .await
                    .unwrap_or(Err(ClientError::Timeout));
                    let _ = tx.send(Input::WsAuthed(g, Box::new(r.map(|a| (a, client)))));
                });
            }
            Input::WsConnectFailed(g) if g == self.ws_gen => self.sig.on_connect_failed(now),
            Input::WsAuthed(g, r) if g == self.ws_gen => match *r {
                Ok((authn, client)) => self.online(g, authn, client, now),
                Err(ClientError::Refused(e)) => {
                    if e.status == 409 && !matches!(self.join, JoinMode::Authn) {
                        // Our earlier registration/exchange may have succeeded before the
                        // connection dropped; from now on authenticate as a member.
                        self.join = JoinMode::Authn;
                    }
                    tracing::warn!(status = e.status, message = %e.message, "authentication refused");
                    self.sig.on_auth_refused(now, e.status);
                }
                Err(e) => {
                    tracing::info!(error = %e, "authentication failed");
                    self.sig.on_auth_refused(now, 503);
                }
            },
            Input::WsFrame(g, f) if g == self.ws_gen => self.frame(f, now).await,
            Input::WsClosed(g, code) if g == self.ws_gen => {
                self.ws = None;
                self.sig.on_closed(now, code);
            }
            _ => {} // from an old socket
        }
    }

    fn online(&mut self, g: u64, authn: AuthnResponse, client: RealmClient, now: Instant) {
        self.join = JoinMode::Authn;
        let (sink, mut stream) = client.into_inner().split();
        self.ws = Some(sink);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut code = None;
            while let Some(m) = stream.next().await {
                match m {
                    Ok(Message::Text(t)) => match serde_json::from_str(t.as_str()) {
                        Ok(f) => {
                            if tx.send(Input::WsFrame(g, f)).is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "unparseable frame"),
                    },
                    Ok(Message::Close(c)) => {
                        code = c.map(|c| u16::from(c.code));
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(Input::WsClosed(g, code));
        });
        self.sig.on_auth_ok(now);
        // Members the server no longer knows were removed while we were away.
        let gone: Vec<_> = self
            .remotes
            .keys()
            .filter(|id| !authn.identities.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            self.peer_gone(&id);
            self.links
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            if let Some(r) = self.remotes.remove(&id) {
                for (_, c) in r.conns {
                    tokio::spawn(async move {
                        let _ = c.pc.close().await;
                    });
                }
            }
        }
        for (id, jwk) in &authn.identities {
            if *id != self.me {
                self.remote_entry(id, jwk.clone());
            }
        }
        // Peers not listed are offline, unless a direct link to them is still alive (the
        // server restarted; the mesh does not depend on it).
        let listed: Vec<_> = authn.peers.clone();
        let offline: Vec<_> = self
            .remotes
            .iter()
            .filter(|(id, r)| r.online && !listed.contains(id) && r.link != Link::P2p)
            .map(|(id, _)| id.clone())
            .collect();
        for id in offline {
            self.peer_gone(&id);
        }
        for id in listed {
            if let Some(jwk) = authn.identities.get(&id).cloned() {
                // They were here first: we offer.
                self.peer_present(&id, jwk, true, now);
            }
        }
        self.refresh_links();
    }

    async fn frame(&mut self, f: Envelope<Value>, now: Instant) {
        if matches!(f.typ, Typ::Res | Typ::Err) {
            if let Some(seq) = f.seq
                && let Some(reply) = self.pending.remove(&seq)
            {
                let r = if f.typ == Typ::Res {
                    Ok(f.dat.unwrap_or(Value::Null))
                } else {
                    Err(err_body(f.dat))
                };
                if let (Ok(_), Some(peer)) = (&r, self.removing.remove(&seq)) {
                    self.member_removed(&peer, &self.me.clone()).await;
                }
                let _ = reply.send(r);
            } else if f.typ == Typ::Err {
                tracing::debug!(msg = %f.msg, dat = ?f.dat, "server error");
            }
            return;
        }
        let dat = f.dat.unwrap_or(Value::Null);
        match f.msg.as_str() {
            PEER_JOINED => {
                let Ok(p) = serde_json::from_value::<PeerJoined>(dat) else {
                    return;
                };
                if p.identid == self.me || p.pubkey.thumbprint() != p.identid {
                    return;
                }
                // The newcomer offers to us; we only wait (and offer if it does not).
                self.peer_present(&p.identid, p.pubkey, false, now);
                if self.key.is_none()
                    && let Some(tok) = self.announce_token()
                {
                    self.send_signal_raw(&p.identid, KEY_CONNECTION_ID, tok)
                        .await;
                }
            }
            PEER_LEFT => {
                if let Ok(p) = serde_json::from_value::<PeerLeft>(dat) {
                    self.peer_gone(&p.identid);
                }
            }
            SIGNAL => {
                if let Ok(d) = serde_json::from_value::<SignalDelivery>(dat) {
                    self.signal(d, now).await;
                }
            }
            BROADCAST => {
                if let Ok(b) = serde_json::from_value::<BroadcastDelivery>(dat) {
                    self.relayed(b);
                }
            }
            MEMBER_REMOVED => {
                if let Ok(m) = serde_json::from_value::<MemberRemoved>(dat) {
                    self.member_removed(&m.identid, &m.by).await;
                }
            }
            _ => {}
        }
    }

    fn reject(&self, from: &IdentId, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::warn!(%from, %reason, "rejected");
        self.emit(PeerEvent::Rejected {
            from: from.clone(),
            reason,
        });
    }

    async fn signal(&mut self, d: SignalDelivery, now: Instant) {
        if d.remoteid != self.me {
            return self.reject(&d.localid, "signal addressed to someone else");
        }
        let Some(pubkey) = self.remotes.get(&d.localid).map(|r| r.pubkey.clone()) else {
            return self.reject(&d.localid, "signal from a non-member");
        };
        if d.connectionid == KEY_CONNECTION_ID {
            return self.key_token(&d.localid, &d.payload).await;
        }
        let claims = match token::verify::<SignalClaims>(
            &d.payload,
            &pubkey,
            Purpose::Signal,
            &self.realm,
            unix_now(),
            &self.rules,
        ) {
            Ok(c) => c,
            Err(e) => return self.reject(&d.localid, format!("signal: {e}")),
        };
        if claims.ext.sub != self.me {
            return self.reject(&d.localid, "signal signed for another receiver");
        }
        if claims.ext.cid != d.connectionid {
            return self.reject(&d.localid, "signal connection id mismatch");
        }
        let cid = claims.ext.cid.clone();
        let id = d.localid;
        let (kind, desc, cand) = match claims.ext.signal {
            RtcSignal::Description { sdp_type, sdp } => {
                let (k, desc) = match sdp_type.as_str() {
                    "offer" => (SignalKind::Offer, RTCSessionDescription::offer(sdp)),
                    "answer" => (SignalKind::Answer, RTCSessionDescription::answer(sdp)),
                    _ => return self.reject(&id, "unknown description type"),
                };
                match desc {
                    Ok(desc) => (k, Some(desc), None),
                    Err(e) => return self.reject(&id, format!("bad SDP: {e}")),
                }
            }
            RtcSignal::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => (
                SignalKind::Candidate,
                None,
                Some(RTCIceCandidateInit {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                    ..Default::default()
                }),
            ),
        };
        let Some(r) = self.remotes.get_mut(&id) else {
            return;
        };
        let decision = r.neg.on_signal(now, &cid, kind);
        tracing::debug!(peer = %id, %cid, ?kind, ?decision, "signal");
        let result: Result<(), webrtc::error::Error> = match decision {
            Decision::Ignore(_) => Ok(()),
            Decision::AcceptOffer => {
                // Close what the negotiator retired before building the new connection.
                self.drain_neg(&id, now).await;
                match desc {
                    Some(offer) => self.accept_offer(&id, &cid, offer).await,
                    None => Ok(()),
                }
            }
            Decision::AnswerRenegotiation => {
                let pc = r.conns.get(&cid).map(|c| c.pc.clone());
                match (pc, desc) {
                    (Some(pc), Some(offer)) => {
                        let r = async {
                            pc.set_remote_description(offer).await?;
                            let answer = pc.create_answer(None).await?;
                            pc.set_local_description(answer.clone()).await?;
                            Ok::<_, webrtc::error::Error>(answer)
                        }
                        .await;
                        match r {
                            Ok(a) => {
                                self.send_signal(&id, &cid, description(&a)).await;
                                Ok(())
                            }
                            Err(e) => Err(e),
                        }
                    }
                    _ => Ok(()),
                }
            }
            Decision::ApplyAnswer => match (r.conns.get(&cid).map(|c| c.pc.clone()), desc) {
                (Some(pc), Some(a)) => pc.set_remote_description(a).await,
                _ => Ok(()),
            },
            Decision::ApplyCandidate => match (r.conns.get(&cid).map(|c| c.pc.clone()), cand) {
                (Some(pc), Some(c)) => pc.add_ice_candidate(c).await,
                _ => Ok(()),
            },
        };
        if let Err(e) = result {
            tracing::warn!(peer = %id, %cid, error = %e, "applying a signal failed");
            if let Some(r) = self.remotes.get_mut(&id) {
                r.neg.on_failed(now, &cid);
            }
        }
    }

    async fn drain_neg(&mut self, id: &IdentId, now: Instant) {
        while let Some(a) = self.remotes.get_mut(id).and_then(|r| r.neg.poll(now)) {
            self.neg_action(id, a, now).await;
        }
    }

    async fn accept_offer(
        &mut self,
        id: &IdentId,
        cid: &str,
        offer: RTCSessionDescription,
    ) -> Result<(), webrtc::error::Error> {
        let pc = rtc::new_connection(&self.rtc, id, cid, self.tx.clone()).await?;
        if let Some(r) = self.remotes.get_mut(id) {
            r.conns.insert(
                cid.to_owned(),
                Conn {
                    pc: pc.clone(),
                    dc: None,
                },
            );
        }
        pc.set_remote_description(offer).await?;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer.clone()).await?;
        self.send_signal(id, cid, description(&answer)).await;
        Ok(())
    }

    async fn rtc_input(&mut self, m: RtcMsg, now: Instant) {
        let RtcMsg { remote, cid, input } = m;
        let Some(r) = self.remotes.get_mut(&remote) else {
            return;
        };
        if !r.conns.contains_key(&cid) {
            return; // a closed attempt
        }
        match input {
            RtcInput::Candidate(c) => {
                if r.neg.current_cid() == Some(cid.as_str()) {
                    let s = RtcSignal::Candidate {
                        candidate: c.candidate,
                        sdp_mid: c.sdp_mid,
                        sdp_mline_index: c.sdp_mline_index,
                    };
                    self.send_signal(&remote, &cid, s).await;
                }
            }
            RtcInput::State(s) => match s {
                // After an ICE restart the channel is already open: connected again means
                // the link is back.
                RTCPeerConnectionState::Connected
                    if r.conns.get(&cid).is_some_and(|c| c.dc.is_some()) && r.link != Link::P2p =>
                {
                    r.neg.on_link_up(&cid);
                }
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                    r.neg.on_failed(now, &cid)
                }
                _ => {}
            },
            RtcInput::Channel(dc) => {
                if let Some(c) = r.conns.get_mut(&cid) {
                    c.dc = Some(dc.clone());
                }
                rtc::spawn_reader(dc, remote, cid, self.tx.clone(), self.events.clone());
            }
            RtcInput::Open => r.neg.on_link_up(&cid),
            RtcInput::Closed => r.neg.on_failed(now, &cid),
            RtcInput::Pong(n) => {
                if let Some(rtt) = r.health.as_mut().and_then(|h| h.on_pong(n, now)) {
                    self.emit(PeerEvent::Rtt { peer: remote, rtt });
                }
            }
            RtcInput::Ctrl(tok) => self.key_token(&remote, &tok).await,
        }
    }

    // ---- realm key ----

    fn announce_token(&self) -> Option<String> {
        crypto::announce(
            &self.identity,
            &self.agreement,
            self.key.as_ref(),
            &self.realm,
            unix_now(),
        )
        .map_err(|e| tracing::error!(error = %e, "cannot sign announcement"))
        .ok()
    }

    /// Send a key token over the direct link if open, else through the server.
    async fn send_key_token(&mut self, to: &IdentId, tok: String) {
        if let Some(dc) = self.link_dc(to)
            && dc
                .send(rtc::frame(rtc::T_CTRL, tok.as_bytes()))
                .await
                .is_ok()
        {
            return;
        }
        self.send_signal_raw(to, KEY_CONNECTION_ID, tok).await;
    }

    async fn key_token(&mut self, from: &IdentId, tok: &str) {
        let Some(pubkey) = self.remotes.get(from).map(|r| r.pubkey.clone()) else {
            return self.reject(from, "key message from a non-member");
        };
        let aud = match token::peek::<NoClaims>(tok, &self.rules) {
            Ok(c) => c.base.aud,
            Err(e) => return self.reject(from, format!("key message: {e}")),
        };
        let now = unix_now();
        match aud.as_str() {
            a if a == Purpose::KeyAnnounce.audience() => {
                let c = match token::verify::<AnnounceClaims>(
                    tok,
                    &pubkey,
                    Purpose::KeyAnnounce,
                    &self.realm,
                    now,
                    &self.rules,
                ) {
                    Ok(c) => c,
                    Err(e) => return self.reject(from, format!("announcement: {e}")),
                };
                if let Some(r) = self.remotes.get_mut(from) {
                    r.apk = Some(c.ext.apk.clone());
                }
                let mine = self.key.as_ref().map(RealmKey::rank);
                if mine > c.ext.have {
                    self.grant_to(from).await;
                } else if c.ext.have > mine
                    && let Some(tok) = self.announce_token()
                {
                    // It holds a newer key: tell it what we have so it grants us.
                    self.send_key_token(from, tok).await;
                }
            }
            a if a == Purpose::KeyGrant.audience() => {
                let c = match token::verify::<GrantClaims>(
                    tok,
                    &pubkey,
                    Purpose::KeyGrant,
                    &self.realm,
                    now,
                    &self.rules,
                ) {
                    Ok(c) => c,
                    Err(e) => return self.reject(from, format!("grant: {e}")),
                };
                match crypto::open_grant(&c, &self.me, &self.agreement, &self.realm) {
                    Ok(k) => {
                        if Some(k.rank()) > self.key.as_ref().map(RealmKey::rank) {
                            tracing::info!(epoch = k.epoch, %from, "realm key granted");
                            self.adopt_key(k).await;
                        }
                    }
                    Err(e) => self.reject(from, format!("grant: {e}")),
                }
            }
            _ => self.reject(from, "unknown key message"),
        }
    }

    async fn grant_to(&mut self, to: &IdentId) {
        let Some(key) = self.key.clone() else { return };
        let Some(apk) = self.remotes.get(to).and_then(|r| r.apk.clone()) else {
            return;
        };
        match crypto::grant(&self.identity, &key, to, &apk, &self.realm, unix_now()) {
            Ok(tok) => self.send_key_token(to, tok).await,
            Err(e) => tracing::warn!(peer = %to, error = %e, "cannot grant the realm key"),
        }
    }

    async fn adopt_key(&mut self, k: RealmKey) {
        if let Some(old) = self.key.replace(k.clone()) {
            self.old_keys.insert(0, old);
            self.old_keys.truncate(3);
        }
        if let Some(dir) = &self.state_dir {
            match RealmState::load(dir) {
                Ok(Some(mut s)) => {
                    s.key = Some(k.clone());
                    if let Err(e) = s.save(dir) {
                        tracing::error!(error = %e, "cannot save the realm key");
                    }
                }
                Ok(None) => {
                    let s = RealmState {
                        realm: self.realm.clone(),
                        server: self.url.clone(),
                        key: Some(k.clone()),
                    };
                    if let Err(e) = s.save(dir) {
                        tracing::error!(error = %e, "cannot save the realm key");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot read the realm state"),
            }
        }
        self.emit(PeerEvent::RealmKey {
            epoch: k.epoch,
            kid: k.kid(),
        });
        // Everyone behind gets a grant, everyone ahead grants us.
        let online: Vec<_> = self
            .remotes
            .iter()
            .filter(|(_, r)| r.online || r.link == Link::P2p)
            .map(|(id, _)| id.clone())
            .collect();
        for id in online {
            if let Some(tok) = self.announce_token() {
                self.send_key_token(&id, tok).await;
            }
        }
    }

    async fn member_removed(&mut self, peer: &IdentId, by: &IdentId) {
        if *peer == self.me {
            return;
        }
        self.peer_gone(peer);
        // Drain the close actions, then forget it: no signal or key message from it is
        // accepted any more, and it never gets a grant.
        let now = Instant::now();
        self.drain_neg(peer, now).await;
        self.remotes.remove(peer);
        self.links
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(peer);
        self.emit(PeerEvent::MemberRemoved {
            peer: peer.clone(),
            by: by.clone(),
        });
        // The remover rotates; the others receive the new key as a grant.
        if *by == self.me {
            let epoch = self.key.as_ref().map_or(1, |k| k.epoch + 1);
            let k = RealmKey::generate(epoch);
            tracing::info!(epoch, "rotating the realm key");
            self.adopt_key(k).await;
            let ids: Vec<_> = self.remotes.keys().cloned().collect();
            for id in ids {
                self.grant_to(&id).await;
            }
        }
    }

    fn relayed(&mut self, b: BroadcastDelivery) {
        if !self.remotes.contains_key(&b.from) {
            return self.reject(&b.from, "relayed message from a non-member");
        }
        let keys = self.key.iter().chain(self.old_keys.iter());
        match crypto::open_relay(keys, &self.realm, &b.from, &b.payload) {
            Ok(pt) => self.emit(PeerEvent::Message {
                from: b.from,
                bytes: Bytes::from(pt),
                via: Via::Relay,
            }),
            Err(e) => self.reject(&b.from, format!("relayed message: {e}")),
        }
    }

    async fn command(&mut self, c: Command) {
        match c {
            Command::Relay { to, bytes, reply } => {
                let r = self.relay(to, &bytes).await;
                let _ = reply.send(r);
            }
            Command::Remove { peer, reply } => {
                let tok = match token::sign(
                    &self.identity,
                    Purpose::Revoke,
                    &self.realm,
                    unix_now(),
                    60,
                    RevokeClaims { sub: peer.clone() },
                ) {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = reply.send(Err(PeerError::Other(e.to_string())));
                        return;
                    }
                };
                self.seq += 1;
                let seq = self.seq;
                let env = Envelope::req(MEMBER_REMOVE, seq, TokenRequest { token: tok });
                if !self.ws_send(env.to_json()).await {
                    let _ = reply.send(Err(PeerError::Offline));
                    return;
                }
                let (tx, rx) = oneshot::channel();
                self.pending.insert(seq, tx);
                self.removing.insert(seq, peer);
                tokio::spawn(async move {
                    let r = match tokio::time::timeout(Duration::from_secs(10), rx).await {
                        Ok(Ok(r)) => r.map(|_| ()),
                        _ => Err(PeerError::Offline),
                    };
                    let _ = reply.send(r);
                });
            }
            Command::Peers(reply) => {
                let mut v: Vec<_> = self
                    .remotes
                    .iter()
                    .map(|(id, r)| PeerInfo {
                        peer: id.clone(),
                        online: r.online,
                        link: r.link,
                        rtt: r.health.as_ref().and_then(Health::rtt),
                        connection: r.neg.current_cid().map(str::to_owned),
                    })
                    .collect();
                v.sort_by(|a, b| a.peer.cmp(&b.peer));
                let _ = reply.send(v);
            }
            Command::Shutdown(_) => {} // handled in run()
        }
    }

    async fn relay(&mut self, to: Option<Vec<IdentId>>, bytes: &[u8]) -> Result<usize, PeerError> {
        if bytes.len() > MAX_RELAY_MESSAGE {
            return Err(PeerError::TooLarge(bytes.len()));
        }
        let key = self.key.as_ref().ok_or(PeerError::NoRealmKey)?;
        if !self.sig.is_online() {
            return Err(PeerError::Offline);
        }
        let n = match &to {
            Some(v) => v.len(),
            None => self.remotes.values().filter(|r| r.online).count(),
        };
        let payload = crypto::seal_relay(key, &self.realm, &self.me, bytes);
        let env = Envelope::evt(
            BROADCAST,
            BroadcastRequest {
                payload,
                recipients: to,
            },
        );
        if self.ws_send(env.to_json()).await {
            Ok(n)
        } else {
            Err(PeerError::Offline)
        }
    }
}

fn description(d: &RTCSessionDescription) -> RtcSignal {
    RtcSignal::Description {
        sdp_type: d.sdp_type.to_string(),
        sdp: d.sdp.clone(),
    }
}

fn err_body(dat: Option<Value>) -> PeerError {
    match dat.and_then(|d| serde_json::from_value::<ErrorBody>(d).ok()) {
        Some(b) => PeerError::Refused(b),
        None => PeerError::Other("error without a body".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skypod_protocol::fragment::Fragment;

    fn id(n: u8) -> IdentId {
        IdentityKey::ed25519_from_secret(&[n; 32]).identid().clone()
    }

    fn msg(from: &IdentId, bytes: Vec<u8>) -> PeerEvent {
        PeerEvent::Message {
            from: from.clone(),
            bytes: Bytes::from(bytes),
            via: Via::Relay,
        }
    }

    #[test]
    fn framing_reassembles_per_sender_and_rejects_bad_fragments() {
        let (a, b) = (id(1), id(2));
        let now = Instant::now();
        let mut f = Framing::default();
        let whole = msg(&a, b"plain".to_vec());
        assert_eq!(f.event(whole.clone(), now), Some(whole));

        let big: Vec<u8> = (0..100u8).collect();
        let parts = fragment::split(&big, 50, 3).unwrap();
        let other = fragment::split(&[7; 100], 50, 3).unwrap();
        assert_eq!(f.event(msg(&a, parts[0].clone()), now), None);
        assert_eq!(f.event(msg(&b, other[0].clone()), now), None);
        for p in &parts[1..parts.len() - 1] {
            assert_eq!(f.event(msg(&a, p.clone()), now), None);
        }
        assert_eq!(
            f.event(msg(&a, parts.last().unwrap().clone()), now),
            Some(msg(&a, big))
        );

        let bad = Fragment {
            id: 9,
            index: 0,
            count: 1000,
            total: 100,
            payload: &[0; 50],
        }
        .encode();
        match f.event(msg(&a, bad), now) {
            Some(PeerEvent::Rejected { from, reason }) => {
                assert_eq!(from, a);
                assert!(reason.contains("fragment"), "{reason}");
            }
            e => panic!("{e:?}"),
        }
        // A removed member's partial messages are dropped.
        assert!(f.senders.contains_key(&b));
        let removed = PeerEvent::MemberRemoved {
            peer: b.clone(),
            by: a.clone(),
        };
        assert_eq!(f.event(removed.clone(), now), Some(removed));
        assert!(!f.senders.contains_key(&b));
    }
}
