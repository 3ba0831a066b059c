//! The thin layer over `webrtc` 0.21: build a connection, forward its callbacks into the
//! actor's queue, frame the data channel. Every decision lives in the state machines.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use skypod_protocol::IdentId;
use tokio::sync::mpsc::UnboundedSender;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    SettingEngineBuilder,
};

use crate::{PeerEvent, Via};

/// Data channel frame tags (first byte of every message).
pub const T_DATA: u8 = 0;
pub const T_PING: u8 = 1;
pub const T_PONG: u8 = 2;
/// A realm-key control token (announce or grant JWT).
pub const T_CTRL: u8 = 3;

/// The single data channel's label.
pub const LABEL: &str = "skypod";

/// What the WebRTC callbacks and channel readers tell the actor.
pub enum RtcInput {
    Candidate(RTCIceCandidateInit),
    State(RTCPeerConnectionState),
    Channel(Arc<dyn DataChannel>),
    Open,
    Closed,
    Pong(u64),
    Ctrl(String),
}

pub struct RtcMsg {
    pub remote: IdentId,
    pub cid: String,
    pub input: RtcInput,
}

struct Handler {
    remote: IdentId,
    cid: String,
    tx: UnboundedSender<crate::peer::Input>,
}

impl Handler {
    fn send(&self, input: RtcInput) {
        // The actor may be gone during shutdown; nothing to do then.
        let _ = self.tx.send(crate::peer::Input::Rtc(RtcMsg {
            remote: self.remote.clone(),
            cid: self.cid.clone(),
            input,
        }));
    }
}

// The driver awaits these callbacks, so they only enqueue (never block the driver).
#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        match event.candidate.to_json() {
            Ok(init) => self.send(RtcInput::Candidate(init)),
            Err(e) => tracing::debug!(error = %e, "unusable local candidate"),
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.send(RtcInput::State(state));
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        self.send(RtcInput::Channel(dc));
    }
}

/// Connection settings shared by every attempt.
#[derive(Clone, Debug)]
pub struct RtcSettings {
    pub ice_servers: Vec<String>,
    pub bind_addrs: Vec<String>,
    pub send_buffer_limit: usize,
    pub sctp_receive_buffer: u32,
}

pub async fn new_connection(
    settings: &RtcSettings,
    remote: &IdentId,
    cid: &str,
    tx: UnboundedSender<crate::peer::Input>,
) -> Result<Arc<dyn PeerConnection>, webrtc::error::Error> {
    let mut cfg = RTCConfigurationBuilder::new();
    if !settings.ice_servers.is_empty() {
        cfg = cfg.with_ice_servers(vec![RTCIceServer {
            urls: settings.ice_servers.clone(),
            ..Default::default()
        }]);
    }
    let se = SettingEngineBuilder::new()
        .with_sctp_max_receive_buffer_size(settings.sctp_receive_buffer)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(cfg.build())
        .with_setting_engine(se)
        .with_handler(Arc::new(Handler {
            remote: remote.clone(),
            cid: cid.to_owned(),
            tx,
        }))
        .with_udp_addrs(settings.bind_addrs.clone())
        .with_data_channel_send_buffer_limit(settings.send_buffer_limit)
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// Frame `payload` with `tag`.
pub fn frame(tag: u8, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::with_capacity(payload.len() + 1);
    b.put_u8(tag);
    b.extend_from_slice(payload);
    b
}

/// Read a data channel until it closes. Application data goes straight to the event stream
/// (the hot path never touches the actor); pings are answered here; everything else is
/// forwarded to the actor.
pub fn spawn_reader(
    dc: Arc<dyn DataChannel>,
    remote: IdentId,
    cid: String,
    tx: UnboundedSender<crate::peer::Input>,
    events: UnboundedSender<PeerEvent>,
) {
    tokio::spawn(async move {
        let to_actor = |input| {
            let _ = tx.send(crate::peer::Input::Rtc(RtcMsg {
                remote: remote.clone(),
                cid: cid.clone(),
                input,
            }));
        };
        // The channel may have opened before this task ran (the answerer gets it from
        // `on_data_channel`); the actor treats a second Open as a no-op.
        if matches!(dc.ready_state().await, Ok(RTCDataChannelState::Open)) {
            to_actor(RtcInput::Open);
        }
        while let Some(ev) = dc.poll().await {
            match ev {
                DataChannelEvent::OnOpen => to_actor(RtcInput::Open),
                DataChannelEvent::OnClose => break,
                DataChannelEvent::OnMessage(m) => {
                    let data = m.data.freeze();
                    let Some((&tag, _)) = data.split_first() else {
                        continue;
                    };
                    let body: Bytes = data.slice(1..);
                    match tag {
                        T_DATA => {
                            let _ = events.send(PeerEvent::Message {
                                from: remote.clone(),
                                bytes: body,
                                via: Via::P2p,
                            });
                        }
                        T_PING => {
                            let _ = dc.send(frame(T_PONG, &body)).await;
                        }
                        T_PONG if body.len() == 8 => {
                            let mut n = [0u8; 8];
                            n.copy_from_slice(&body);
                            to_actor(RtcInput::Pong(u64::from_be_bytes(n)));
                        }
                        T_CTRL => match std::str::from_utf8(&body) {
                            Ok(s) => to_actor(RtcInput::Ctrl(s.to_owned())),
                            Err(_) => tracing::debug!(%remote, "non-UTF-8 control frame"),
                        },
                        _ => tracing::debug!(%remote, tag, "unknown data channel frame"),
                    }
                }
                _ => {}
            }
        }
        to_actor(RtcInput::Closed);
    });
}
