//! The public API: [`Peer::start`] gives a [`PeerHandle`] and a stream of [`PeerEvent`]s.
//! One actor task (`crate::actor`) owns the signaling socket, the state machines and every
//! WebRTC connection; the [`PeerHandle`] talks to it through a queue, except for sending on
//! an open direct link, which goes to that link's writer (`crate::outbox`, the throughput
//! path).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use skypod_protocol::fragment;
use skypod_protocol::{ErrorBody, IdentId, IdentityKey, RealmId};
use tokio::sync::mpsc::unbounded_channel;
use tokio::sync::oneshot;

use crate::actor::Actor;
use crate::crypto::RealmKey;
use crate::framing::Framing;
use crate::outbox::{LinkTx, Outbox};
use crate::sm::backoff::BackoffConfig;
use crate::sm::health::HealthConfig;
use crate::sm::negotiation::NegotiationConfig;
use crate::sm::signaling::StopReason;

/// How a member is reached now (the direct-vs-relay decision, `sm::presence`).
pub use crate::sm::presence::Link;

/// Largest data channel message, bytes (one SCTP message minus the frame tag). Larger
/// application messages travel as fragments ([`skypod_protocol::fragment`]).
pub use skypod_protocol::link::MAX_P2P_MESSAGE as MAX_MESSAGE;
/// Largest message the relay carries in one frame; larger ones are fragmented.
pub use skypod_protocol::link::MAX_RELAY_MESSAGE;
/// `connectionid` of realm-key messages relayed through `realm.rtc.signal`.
pub use skypod_protocol::messages::KEY_CONNECTION_ID;
/// How long `shutdown` waits for the links' writers to hand over what is queued.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest application message `send` accepts (reassembled on the other side).
pub const MAX_APP_MESSAGE: usize = fragment::MAX_MESSAGE;

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
    /// The realm key held (from [`crate::RealmState`]); `None` until a member grants it.
    /// A new or rotated key arrives as [`PeerEvent::RealmKey`]: persisting it is the
    /// application's job ([`crate::RealmState::save_key`]).
    pub realm_key: Option<RealmKey>,
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
    /// A new realm key (granted, or rotated by us). The application persists `key`.
    RealmKey {
        epoch: u64,
        kid: String,
        key: RealmKey,
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

/// The open direct links: connection id and writer per member.
pub(crate) type Links = Arc<RwLock<HashMap<IdentId, (String, LinkTx)>>>;

/// The application's side of a running peer. Cheap to clone.
#[derive(Clone)]
pub struct PeerHandle {
    me: IdentId,
    links: Links,
    outbox: Outbox,
}

impl PeerHandle {
    pub fn identid(&self) -> &IdentId {
        &self.me
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, PeerError> {
        self.outbox.call(make).await
    }

    fn link(&self, peer: &IdentId) -> Option<LinkTx> {
        let links = self.links.read().unwrap_or_else(|e| e.into_inner());
        links.get(peer).map(|(_, link)| link.clone())
    }

    /// Send to one member. With [`Mode::P2p`] the direct link is used when open, else the
    /// relay; returns which was used. Over a link, `Ok` means queued on its writer, in
    /// order: should the link fail first, the writer relays what it still holds.
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
            && let Some(link) = self.link(peer)
        {
            match link.send(bytes.clone()).await {
                Ok(()) => return Ok(Via::P2p),
                Err(e) => tracing::debug!(%peer, error = %e, "link writer stopped; relaying"),
            }
        }
        self.outbox.relay(Some(vec![peer.clone()]), &bytes).await?;
        Ok(Via::Relay)
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
                && let Some(link) = self.link(&p.peer)
                && link.send(bytes.clone()).await.is_ok()
            {
                sent += 1;
                continue;
            }
            relay.push(p.peer);
        }
        if !relay.is_empty() {
            sent += self.outbox.relay(Some(relay), &bytes).await?;
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

    /// Close every connection and stop. What `send` queued on a direct link is handed to
    /// its channel first (waiting at most [`DRAIN_TIMEOUT`]).
    pub async fn shutdown(&self) {
        let links: Vec<LinkTx> = {
            let links = self.links.read().unwrap_or_else(|e| e.into_inner());
            links.values().map(|(_, l)| l.clone()).collect()
        };
        let drained = futures_util::future::join_all(links.iter().map(LinkTx::drained));
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, drained).await;
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
            links: links.clone(),
            outbox: Outbox::new(tx.clone()),
        };
        let actor = Actor::new(config, tx, rx, etx, links, handle.outbox.clone());
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
