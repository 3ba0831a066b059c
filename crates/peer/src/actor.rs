//! The actor: one task that owns the signaling socket, the WebRTC connections and the state
//! machines. It only feeds them inputs (frames, callbacks, commands, the clock) and carries
//! out the actions they return; every decision is in `crate::sm` — negotiation, health and
//! signaling per connection, and the realm core (presence, direct vs relay, realm keys).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use rand::SeedableRng;
use serde_json::Value;
use skypod_client::{ClientError, RealmClient, Ws, tungstenite::Message};
use skypod_protocol::messages::{
    AuthnResponse, BROADCAST, BroadcastDelivery, BroadcastRequest, KEY_CONNECTION_ID,
    MEMBER_REMOVE, MEMBER_REMOVED, MemberRemoved, PEER_JOINED, PEER_LEFT, PING, PeerJoined,
    PeerLeft, Ping, SIGNAL, SignalDelivery, SignalRequest, TokenRequest,
};
use skypod_protocol::token::{self, Purpose, RevokeClaims, RtcSignal, SignalClaims};
use skypod_protocol::{
    Envelope, ErrorBody, IdentId, IdentityKey, RealmId, TokenRules, Typ, link::MAX_RELAY_MESSAGE,
    unix_now,
};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::oneshot;
use webrtc::data_channel::{DataChannel, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};

use crate::api::{
    Command, JoinMode, Link, Links, PeerConfig, PeerError, PeerEvent, PeerInfo, Signal, Via,
};
use crate::outbox::{LinkTx, Outbox};
use crate::rtc::{self, RtcInput, RtcMsg, RtcOutput, RtcSettings, RtcSink};
use crate::sm::health::{Health, HealthAction, HealthConfig};
use crate::sm::negotiation::{
    Action, Decision, NegotiationConfig, Negotiator, SignalKind, is_polite,
};
use crate::sm::realm::{RealmAction, RealmCore};
use crate::sm::signaling::{SigAction, Signaling, StopReason};

pub(crate) enum Input {
    Cmd(Command),
    Rtc(RtcMsg),
    WsConnected(u64, Box<RealmClient>),
    WsConnectFailed(u64),
    WsAuthed(u64, Box<Result<(AuthnResponse, RealmClient), ClientError>>),
    WsFrame(u64, Envelope<Value>),
    WsClosed(u64, Option<u16>),
}

struct Conn {
    pc: Arc<dyn PeerConnection>,
    dc: Option<Arc<dyn DataChannel>>,
    /// The remote said it reads batch frames (set by the channel's reader).
    batches: Arc<AtomicBool>,
    /// The data channel has reported open once. Only then does the connection state
    /// `Connected` mean "the link is back" (after an ICE restart): on a new connection
    /// the answerer can see `Connected` while its channel is still opening, and sends on
    /// it fail.
    opened: bool,
}

/// The connection side of one member (who it is and how it is reached live in the realm
/// core).
struct Remote {
    neg: Negotiator,
    conns: HashMap<String, Conn>,
    health: Option<Health>,
}

pub(crate) struct Actor {
    identity: IdentityKey,
    me: IdentId,
    realm: RealmId,
    url: String,
    join: JoinMode,
    rules: TokenRules,
    rtc: RtcSettings,
    health_cfg: HealthConfig,
    neg_cfg: NegotiationConfig,
    sig: Signaling,
    core: RealmCore,
    ws: Option<SplitSink<Ws, Message>>,
    ws_gen: u64,
    seq: u64,
    pending: HashMap<u64, oneshot::Sender<Result<Value, PeerError>>>,
    removing: HashMap<u64, IdentId>,
    remotes: HashMap<IdentId, Remote>,
    links: Links,
    /// The relay path, shared with the links' writers.
    outbox: Outbox,
    events: UnboundedSender<PeerEvent>,
    tx: UnboundedSender<Input>,
    rx: UnboundedReceiver<Input>,
    /// Where the WebRTC layer delivers: control to our queue, data to the event stream.
    rtc_sink: RtcSink,
}

impl Actor {
    pub(crate) fn new(
        c: PeerConfig,
        tx: UnboundedSender<Input>,
        rx: UnboundedReceiver<Input>,
        events: UnboundedSender<PeerEvent>,
        links: Links,
        outbox: Outbox,
    ) -> Self {
        let me = c.identity.identid().clone();
        let rtc_sink: RtcSink = {
            let tx = tx.clone();
            let events = events.clone();
            Arc::new(move |o: RtcOutput| match o {
                RtcOutput::Control(m) => {
                    let _ = tx.send(Input::Rtc(m));
                }
                RtcOutput::Data { from, bytes } => {
                    let _ = events.send(PeerEvent::Message {
                        from,
                        bytes,
                        via: Via::P2p,
                    });
                }
            })
        };
        Self {
            sig: Signaling::new(
                Instant::now(),
                c.reconnect.clone(),
                c.keepalive,
                Box::new(rand::rngs::StdRng::from_entropy()),
            ),
            core: RealmCore::new(c.identity.clone(), c.realm.clone(), c.realm_key),
            me,
            identity: c.identity,
            realm: c.realm,
            url: c.server_url,
            join: c.join,
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
            links,
            outbox,
            events,
            tx,
            rx,
            rtc_sink,
        }
    }

    fn emit(&self, e: PeerEvent) {
        let _ = self.events.send(e);
    }

    pub(crate) async fn run(mut self) {
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
        // The core first (presence creates negotiation work), then the connections, then
        // the core again (a link that came up is announced over).
        self.realm_actions(now).await;
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
        self.realm_actions(now).await;
    }

    /// Carry out what the realm core asks (presence, routes, key messages).
    async fn realm_actions(&mut self, now: Instant) {
        while let Some(a) = self.core.poll() {
            match a {
                RealmAction::Joined(peer) => self.emit(PeerEvent::PeerJoined { peer }),
                RealmAction::Left(peer) => {
                    if let Some(r) = self.remotes.get_mut(&peer) {
                        r.neg.peer_left();
                        r.health = None;
                    }
                    self.emit(PeerEvent::PeerLeft { peer });
                }
                RealmAction::Present { peer, initiate } => {
                    self.remote(&peer).neg.peer_present(now, initiate);
                }
                RealmAction::Forget(peer) => self.forget(&peer, now).await,
                RealmAction::Route { peer, link } => {
                    self.emit(PeerEvent::LinkState { peer, link });
                }
                RealmAction::MemberRemoved { peer, by } => {
                    self.emit(PeerEvent::MemberRemoved { peer, by });
                }
                RealmAction::SendKey { to, token, direct } => {
                    self.send_key_token(&to, token, direct).await;
                }
                RealmAction::Adopted(key) => self.emit(PeerEvent::RealmKey {
                    epoch: key.epoch,
                    kid: key.kid(),
                    key,
                }),
                RealmAction::Rejected { from, reason } => self.reject(&from, reason),
            }
        }
    }

    /// Drop every connection to a member that is no longer one.
    async fn forget(&mut self, peer: &IdentId, now: Instant) {
        // Carry out the close actions the negotiator has queued, then drop it.
        if let Some(r) = self.remotes.get_mut(peer) {
            r.neg.peer_left();
        }
        self.drain_neg(peer, now).await;
        self.links
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(peer);
        if let Some(r) = self.remotes.remove(peer) {
            for (_, c) in r.conns {
                tokio::spawn(async move {
                    let _ = c.pc.close().await;
                });
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
                self.core.on_signaling(false);
            }
            SigAction::Stopped(reason) => {
                tracing::warn!(?reason, "signaling stopped");
                self.ws = None;
                self.emit(PeerEvent::Signaling(Signal::Stopped(reason)));
                if reason == StopReason::Refused {
                    // Removed from the realm: drop every link too.
                    self.core.on_refused();
                } else {
                    self.core.on_signaling(false);
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
                tracing::info!(peer = %id, "link missed its pong: dead");
                if let Some(r) = self.remotes.get_mut(id) {
                    r.health = None;
                    if let Some(cid) = r.neg.current_cid().map(str::to_owned) {
                        r.neg.on_failed(now, &cid);
                    }
                }
            }
        }
    }

    fn conn(&self, id: &IdentId, cid: &str) -> Option<&Conn> {
        self.remotes.get(id)?.conns.get(cid)
    }

    /// A connection attempt failed: the negotiator decides what comes next.
    fn attempt_failed(&mut self, id: &IdentId, cid: &str, now: Instant) {
        if let Some(r) = self.remotes.get_mut(id) {
            r.neg.on_failed(now, cid);
        }
    }

    fn link_dc(&self, id: &IdentId) -> Option<Arc<dyn DataChannel>> {
        let links = self.links.read().unwrap_or_else(|e| e.into_inner());
        links.get(id).map(|(_, link)| link.channel().clone())
    }

    async fn neg_action(&mut self, id: &IdentId, a: Action, now: Instant) {
        match a {
            Action::StartOffer { cid } => {
                if let Err(e) = self.start_offer(id, &cid).await {
                    tracing::warn!(peer = %id, error = %e, "could not start an offer");
                    self.attempt_failed(id, &cid, now);
                }
            }
            Action::RestartIce { cid } => {
                let pc = self.conn(id, &cid).map(|c| c.pc.clone());
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
                        self.attempt_failed(id, &cid, now);
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
                let conn = self.conn(id, &cid);
                let Some((dc, batches)) =
                    conn.and_then(|c| Some((c.dc.clone()?, c.batches.clone())))
                else {
                    return;
                };
                let link = LinkTx::spawn(dc, id.clone(), batches, self.outbox.clone());
                self.links
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id.clone(), (cid, link));
                if let Some(r) = self.remotes.get_mut(id) {
                    r.health = Some(Health::new(self.health_cfg.clone(), now));
                }
                // The core routes it P2p and announces our keys over the link.
                self.core.on_direct(id, true, unix_now());
            }
            Action::LinkDown => {
                self.links
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(id);
                if let Some(r) = self.remotes.get_mut(id) {
                    r.health = None;
                }
                self.core.on_direct(id, false, unix_now());
            }
        }
    }

    async fn start_offer(&mut self, id: &IdentId, cid: &str) -> Result<(), webrtc::error::Error> {
        let pc = rtc::new_connection(&self.rtc, id, cid, self.rtc_sink.clone()).await?;
        let dc = pc
            .create_data_channel(
                rtc::LABEL,
                Some(RTCDataChannelInit {
                    ordered: true,
                    ..Default::default()
                }),
            )
            .await?;
        let batches = Arc::new(AtomicBool::new(false));
        rtc::spawn_reader(
            dc.clone(),
            id.clone(),
            cid.to_owned(),
            self.rtc_sink.clone(),
            batches.clone(),
        );
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer.clone()).await?;
        if let Some(r) = self.remotes.get_mut(id) {
            r.conns.insert(
                cid.to_owned(),
                Conn {
                    pc: pc.clone(),
                    dc: Some(dc),
                    batches,
                    opened: false,
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

    /// A token for `purpose` signed now by this device, with the purpose's lifetime.
    fn sign<X: serde::Serialize>(
        &self,
        purpose: Purpose,
        ext: X,
    ) -> Result<String, skypod_protocol::keys::KeyError> {
        token::sign(
            &self.identity,
            purpose,
            &self.realm,
            unix_now(),
            purpose.ttl(),
            ext,
        )
    }

    async fn send_signal(&mut self, id: &IdentId, cid: &str, signal: RtcSignal) {
        let tok = match self.sign(
            Purpose::Signal,
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

    /// The connection side of a member, created on first use.
    fn remote(&mut self, id: &IdentId) -> &mut Remote {
        let polite = is_polite(self.me.as_str(), id.as_str());
        let neg_cfg = self.neg_cfg.clone();
        self.remotes.entry(id.clone()).or_insert_with(|| Remote {
            neg: Negotiator::new(
                neg_cfg,
                polite,
                rand::random(),
                Box::new(rand::rngs::StdRng::from_entropy()),
            ),
            conns: HashMap::new(),
            health: None,
        })
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
        // Presence reconciliation is the core's (sm::presence); its actions run in drive().
        self.core.on_authenticated(&authn.identities, &authn.peers);
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
                    let me = self.me.clone();
                    self.core.on_member_removed(&peer, &me, unix_now());
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
                if let Ok(p) = serde_json::from_value::<PeerJoined>(dat) {
                    self.core.on_peer_joined(&p.identid, p.pubkey, unix_now());
                }
            }
            PEER_LEFT => {
                if let Ok(p) = serde_json::from_value::<PeerLeft>(dat) {
                    self.core.on_peer_left(&p.identid);
                }
            }
            SIGNAL => {
                if let Ok(d) = serde_json::from_value::<SignalDelivery>(dat) {
                    self.signal(d, now).await;
                }
            }
            BROADCAST => {
                if let Ok(b) = serde_json::from_value::<BroadcastDelivery>(dat)
                    && let Some(pt) = self.core.open_relayed(&b.from, &b.payload)
                {
                    self.emit(PeerEvent::Message {
                        from: b.from,
                        bytes: pt.into(),
                        via: Via::Relay,
                    });
                }
            }
            MEMBER_REMOVED => {
                if let Ok(m) = serde_json::from_value::<MemberRemoved>(dat) {
                    self.core.on_member_removed(&m.identid, &m.by, unix_now());
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
        let Some(pubkey) = self.core.member(&d.localid).map(|m| m.pubkey.clone()) else {
            return self.reject(&d.localid, "signal from a non-member");
        };
        if d.connectionid == KEY_CONNECTION_ID {
            self.core.on_key_token(&d.localid, &d.payload, unix_now());
            return;
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
        let r = self.remote(&id);
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
            self.attempt_failed(&id, &cid, now);
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
        let pc = rtc::new_connection(&self.rtc, id, cid, self.rtc_sink.clone()).await?;
        if let Some(r) = self.remotes.get_mut(id) {
            r.conns.insert(
                cid.to_owned(),
                Conn {
                    pc: pc.clone(),
                    dc: None,
                    batches: Arc::default(),
                    opened: false,
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
        let direct = self.core.link(&remote) == Link::P2p;
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
                    if r.conns.get(&cid).is_some_and(|c| c.opened) && !direct =>
                {
                    r.neg.on_link_up(&cid);
                }
                RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                    r.neg.on_failed(now, &cid)
                }
                _ => {}
            },
            RtcInput::Channel(dc) => {
                let batches = match r.conns.get_mut(&cid) {
                    Some(c) => {
                        c.dc = Some(dc.clone());
                        c.batches.clone()
                    }
                    None => Arc::default(),
                };
                rtc::spawn_reader(dc, remote, cid, self.rtc_sink.clone(), batches);
            }
            RtcInput::Open => {
                if let Some(c) = r.conns.get_mut(&cid) {
                    c.opened = true;
                }
                r.neg.on_link_up(&cid);
            }
            RtcInput::Closed => r.neg.on_failed(now, &cid),
            RtcInput::Pong(n) => {
                if let Some(rtt) = r.health.as_mut().and_then(|h| h.on_pong(n, now)) {
                    self.emit(PeerEvent::Rtt { peer: remote, rtt });
                }
            }
            RtcInput::Ctrl(tok) => self.core.on_key_token(&remote, &tok, unix_now()),
        }
    }

    /// Send a key token over the direct link if the core says it is up and the send works,
    /// else through the server.
    async fn send_key_token(&mut self, to: &IdentId, tok: String, direct: bool) {
        if direct
            && let Some(dc) = self.link_dc(to)
            && dc
                .send(rtc::frame(rtc::T_CTRL, tok.as_bytes()))
                .await
                .is_ok()
        {
            return;
        }
        self.send_signal_raw(to, KEY_CONNECTION_ID, tok).await;
    }

    async fn command(&mut self, c: Command) {
        match c {
            Command::Relay { to, bytes, reply } => {
                let r = self.relay(to, &bytes).await;
                let _ = reply.send(r);
            }
            Command::Remove { peer, reply } => {
                let tok = match self.sign(Purpose::Revoke, RevokeClaims { sub: peer.clone() }) {
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
                let v: Vec<_> = self
                    .core
                    .members()
                    .map(|(id, m)| {
                        let r = self.remotes.get(id);
                        PeerInfo {
                            peer: id.clone(),
                            online: m.online,
                            link: m.link,
                            rtt: r.and_then(|r| r.health.as_ref()).and_then(Health::rtt),
                            connection: r.and_then(|r| r.neg.current_cid()).map(str::to_owned),
                        }
                    })
                    .collect();
                // Sorted by id: the core keeps members in order.
                let _ = reply.send(v);
            }
            Command::Shutdown(_) => {} // handled in run()
        }
    }

    async fn relay(&mut self, to: Option<Vec<IdentId>>, bytes: &[u8]) -> Result<usize, PeerError> {
        if bytes.len() > MAX_RELAY_MESSAGE {
            return Err(PeerError::TooLarge(bytes.len()));
        }
        if self.core.key().is_none() {
            return Err(PeerError::NoRealmKey);
        }
        if !self.sig.is_online() {
            return Err(PeerError::Offline);
        }
        let n = match &to {
            Some(v) => v.len(),
            None => self.core.online_count(),
        };
        let payload = self.core.seal_relay(bytes).ok_or(PeerError::NoRealmKey)?;
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
