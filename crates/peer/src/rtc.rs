//! The thin layer over `webrtc` 0.21: build a connection, forward its callbacks into the
//! actor's queue, frame the data channel. Every decision lives in the state machines.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use skypod_protocol::IdentId;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelState};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCPeerConnectionIceEvent, RTCPeerConnectionState,
    SettingEngineBuilder,
};
use webrtc::runtime::Runtime;

/// Data channel frame tags (first byte of every message) and label: owned by the protocol.
pub use skypod_protocol::link::DATA_CHANNEL_LABEL as LABEL;
pub use skypod_protocol::link::tag::{
    BATCH as T_BATCH, CTRL as T_CTRL, DATA as T_DATA, FEATURES as T_FEATURES, PING as T_PING,
    PONG as T_PONG,
};
use skypod_protocol::{batch, link::feature};

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

/// Everything this layer reports. Owned here, so `rtc` depends on nothing above it.
pub enum RtcOutput {
    /// For the actor: callbacks and control frames.
    Control(RtcMsg),
    /// Application bytes that arrived over a direct link (the hot path: straight to the
    /// event stream, never through the actor).
    Data { from: IdentId, bytes: Bytes },
}

/// Where this layer delivers its output (the actor builds it once). Must not block: it is
/// called from webrtc's driver callbacks and channel readers.
pub type RtcSink = Arc<dyn Fn(RtcOutput) + Send + Sync>;

struct Handler {
    remote: IdentId,
    cid: String,
    sink: RtcSink,
}

impl Handler {
    fn send(&self, input: RtcInput) {
        (self.sink)(RtcOutput::Control(RtcMsg {
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

/// webrtc's tokio runtime, except that UDP sockets get a larger kernel receive buffer.
///
/// Why: the library reads its sockets from one driver task per connection; when that task
/// is not scheduled for a moment (a busy machine), the kernel's default ~208 KiB buffer
/// overflows, datagrams are dropped, and SCTP's congestion control then keeps the channel
/// slow (docs/benchmarks-peer.md). The kernel caps the size at `net.core.rmem_max`.
#[derive(Debug)]
struct BufferedRuntime {
    inner: Arc<dyn Runtime>,
    recv_buffer: usize,
}

impl Runtime for BufferedRuntime {
    fn spawn(
        &self,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn webrtc::runtime::JoinHandle> {
        self.inner.spawn(future)
    }
    fn spawn_reactor(
        &self,
        pool: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn webrtc::runtime::JoinHandle> {
        self.inner.spawn_reactor(pool, future)
    }
    fn wrap_udp_socket(
        &self,
        socket: std::net::UdpSocket,
    ) -> std::io::Result<Arc<dyn webrtc::runtime::AsyncUdpSocket>> {
        if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(self.recv_buffer) {
            tracing::debug!(error = %e, "cannot enlarge the UDP receive buffer");
        }
        self.inner.wrap_udp_socket(socket)
    }
    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> std::io::Result<Arc<dyn webrtc::runtime::AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }
    fn connect_tcp<'a>(
        &'a self,
        remote: std::net::SocketAddr,
    ) -> Pin<
        Box<
            dyn Future<Output = std::io::Result<Arc<dyn webrtc::runtime::AsyncTcpStream>>>
                + Send
                + 'a,
        >,
    > {
        self.inner.connect_tcp(remote)
    }
    fn resolve_host<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<std::net::SocketAddr>>> + Send + 'a>> {
        self.inner.resolve_host(host)
    }
    fn now(&self) -> std::time::Instant {
        self.inner.now()
    }
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.sleep(d)
    }
    fn interval(&self, period: Duration) -> Box<dyn webrtc::runtime::AsyncInterval> {
        self.inner.interval(period)
    }
    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }
    fn yield_now(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        self.inner.yield_now()
    }
    fn name(&self) -> &'static str {
        self.inner.name()
    }
}

/// The runtime our connections use: webrtc's default, with UDP receive buffers of
/// `recv_buffer` bytes (`None` for 0: keep the library's runtime). Public for the
/// benchmark's bare-webrtc reference.
pub fn udp_buffered_runtime(recv_buffer: usize) -> Option<Arc<dyn Runtime>> {
    if recv_buffer == 0 {
        return None;
    }
    let inner = webrtc::runtime::default_runtime()?;
    Some(Arc::new(BufferedRuntime { inner, recv_buffer }))
}

/// Connection settings shared by every attempt.
#[derive(Clone, Debug)]
pub struct RtcSettings {
    pub ice_servers: Vec<String>,
    pub bind_addrs: Vec<String>,
    pub send_buffer_limit: usize,
    pub sctp_receive_buffer: u32,
    /// Kernel receive buffer of each UDP socket, bytes (0: the system default).
    pub udp_recv_buffer: usize,
}

pub async fn new_connection(
    settings: &RtcSettings,
    remote: &IdentId,
    cid: &str,
    sink: RtcSink,
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
    let mut builder = PeerConnectionBuilder::new()
        .with_configuration(cfg.build())
        .with_setting_engine(se);
    if let Some(rt) = udp_buffered_runtime(settings.udp_recv_buffer) {
        builder = builder.with_runtime(rt);
    }
    let pc = builder
        .with_handler(Arc::new(Handler {
            remote: remote.clone(),
            cid: cid.to_owned(),
            sink,
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

/// What this peer accepts, sent once when the channel opens (`tag::FEATURES`).
const FEATURES: u8 = feature::BATCH;

/// Read a data channel until it closes. Application data goes straight to the event stream
/// (the hot path never touches the actor); pings are answered here; the remote's features
/// are recorded in `batches` (it reads batch frames); everything else is forwarded to the
/// actor.
pub fn spawn_reader(
    dc: Arc<dyn DataChannel>,
    remote: IdentId,
    cid: String,
    sink: RtcSink,
    batches: Arc<AtomicBool>,
) {
    tokio::spawn(async move {
        let to_actor = |input| {
            sink(RtcOutput::Control(RtcMsg {
                remote: remote.clone(),
                cid: cid.clone(),
                input,
            }));
        };
        let mut announced = false;
        let opened = async |announced: &mut bool| {
            if !std::mem::replace(announced, true) {
                let _ = dc.send(frame(T_FEATURES, &[FEATURES])).await;
            }
            to_actor(RtcInput::Open);
        };
        // The channel may have opened before this task ran (the answerer gets it from
        // `on_data_channel`); the actor treats a second Open as a no-op.
        if matches!(dc.ready_state().await, Ok(RTCDataChannelState::Open)) {
            opened(&mut announced).await;
        }
        while let Some(ev) = dc.poll().await {
            match ev {
                DataChannelEvent::OnOpen => opened(&mut announced).await,
                DataChannelEvent::OnClose => break,
                DataChannelEvent::OnMessage(m) => {
                    let data = m.data.freeze();
                    let Some((&tag, _)) = data.split_first() else {
                        continue;
                    };
                    let body: Bytes = data.slice(1..);
                    match tag {
                        T_DATA => sink(RtcOutput::Data {
                            from: remote.clone(),
                            bytes: body,
                        }),
                        T_PING => {
                            let _ = dc.send(frame(T_PONG, &body)).await;
                        }
                        T_PONG if body.len() == 8 => {
                            let mut n = [0u8; 8];
                            n.copy_from_slice(&body);
                            to_actor(RtcInput::Pong(u64::from_be_bytes(n)));
                        }
                        T_BATCH => match batch::items(&body) {
                            Ok(items) => {
                                for item in items {
                                    sink(RtcOutput::Data {
                                        from: remote.clone(),
                                        bytes: body.slice_ref(item),
                                    });
                                }
                            }
                            Err(e) => tracing::debug!(%remote, error = %e, "batch refused"),
                        },
                        T_FEATURES => {
                            let f = body.first().copied().unwrap_or(0);
                            batches.store(f & feature::BATCH != 0, Ordering::Relaxed);
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
