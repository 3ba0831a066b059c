//! `skypod-loadgen signaling`: drives the realm server, y-webrtc's signaling server or the
//! PeerJS server with the same workload so their figures can be compared side by side (see
//! `bench/signaling/run.sh` and docs/benchmarks.md).

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use skypod_client::RealmClient;
use skypod_protocol::{IdentityKey, RealmId, invitation, unix_now};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Skypod's realm server (`/realm`): authenticated members, `realm.broadcast`.
    Skypod,
    /// y-webrtc's `bin/server.js`: rooms are topics, a broadcast is one `publish`.
    Ywebrtc,
    /// The PeerJS server: a broadcast is N-1 directed messages.
    Peerjs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Broadcast throughput and latency at each rate in --rates.
    Throughput,
    /// Open --clients sockets, hold them, report server memory per socket.
    Idle,
    /// Send one non-JSON frame, then check the server still accepts and answers sockets.
    BadFrame,
}

#[derive(clap::Args, Clone)]
pub struct SignalingArgs {
    #[arg(long, value_enum)]
    target: Target,
    #[arg(long, value_enum, default_value = "throughput")]
    mode: Mode,
    /// Server address (host:port on loopback).
    #[arg(long, default_value = "127.0.0.1:8080")]
    server: SocketAddr,
    /// Further nodes of the same Skypod cluster: socket i goes to node i mod n (--server
    /// first), so every realm has members on every node.
    #[arg(long, value_delimiter = ',')]
    also: Vec<SocketAddr>,
    /// Sockets to open.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Rooms (realms) they are spread over.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Broadcast payload size, bytes.
    #[arg(long, default_value_t = 200)]
    payload: usize,
    /// Offered broadcast rates to try, broadcasts per second across all clients.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "500,1000,2000,4000,8000,16000"
    )]
    rates: Vec<u64>,
    /// Seconds per rate step.
    #[arg(long, default_value_t = 5.0)]
    step_secs: f64,
    /// Stop the ramp when fewer than this share of deliveries arrive.
    #[arg(long, default_value_t = 0.99)]
    min_delivery: f64,
    /// Stop the ramp when p99 latency exceeds this, milliseconds.
    #[arg(long, default_value_t = 250.0)]
    max_p99_ms: f64,
    /// Server process id, to read its memory (RSS) from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Local source addresses 127.0.0.1..=127.0.0.N, to go past one address's port range.
    #[arg(long, default_value_t = 1)]
    sources: u8,
    /// Sockets opened concurrently during setup.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Seconds to hold idle sockets (idle mode).
    #[arg(long, default_value_t = 5)]
    hold_secs: u64,
}

/// Nanoseconds since the process-wide origin, embedded in payloads for latency.
fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Counters shared by every reader.
struct Stats {
    delivered: AtomicU64,
    echoes: AtomicU64,
    errors: AtomicU64,
    hist: Mutex<Histogram<u64>>,
}

impl Stats {
    fn new() -> Self {
        Self {
            delivered: AtomicU64::new(0),
            echoes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            hist: Mutex::new(
                Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            ),
        }
    }
}

/// One connected client: its writer queue and the ids of its room-mates.
struct Client {
    tx: mpsc::UnboundedSender<Outgoing>,
}

enum Outgoing {
    Publish,
}

#[derive(Serialize)]
struct StepResult {
    target: Target,
    rate: u64,
    secs: f64,
    broadcasts: u64,
    expected: u64,
    delivered: u64,
    deliveries_per_sec: f64,
    delivery_ratio: f64,
    p50_ms: f64,
    p99_ms: f64,
    server_rss_kib: Option<u64>,
}

#[derive(Serialize)]
struct IdleResult {
    target: Target,
    sockets: usize,
    per_room: usize,
    setup_secs: f64,
    rss_before_kib: Option<u64>,
    rss_after_kib: Option<u64>,
    kib_per_socket: Option<f64>,
    alive_after_hold: usize,
}

fn progress(n: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(n as u64);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_owned());
    pb
}

fn source_addr(i: usize, sources: u8) -> SocketAddr {
    let last = 1 + (i % sources.max(1) as usize) as u8;
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), 0)
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn raw_connect(url: &str, server: SocketAddr, local: SocketAddr) -> anyhow::Result<WsStream> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.bind(local)?;
    let stream = sock.connect(server).await?;
    stream.set_nodelay(true)?;
    let (ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await?;
    Ok(ws)
}

/// Open every socket and bring it to the "in a room" state. Returns per-client streams and the
/// per-client room index.
async fn setup(a: &SignalingArgs) -> anyhow::Result<Vec<(WsStream, usize, String)>> {
    let per_room = a.clients.div_ceil(a.rooms);
    let pb = progress(a.clients, "connecting");
    let sem = Arc::new(Semaphore::new(a.connect_concurrency));
    let mut out = Vec::with_capacity(a.clients);
    match a.target {
        Target::Skypod => {
            // Per room: the first member registers the realm, then invites everyone else.
            let nodes: Vec<SocketAddr> = std::iter::once(a.server).chain(a.also.clone()).collect();
            let node = |i: usize| nodes[i % nodes.len()];
            let url_of = |s: SocketAddr| format!("ws://{s}/realm");
            let mut founders = vec![];
            for room in 0..a.rooms {
                let key = IdentityKey::generate_es256();
                let realm = RealmId::random();
                let mut c = RealmClient::connect_from(
                    &url_of(node(room)),
                    node(room),
                    source_addr(room, a.sources),
                )
                .await?;
                c.register(&key, &realm).await.context("register")?;
                pb.inc(1);
                founders.push((key, realm, c));
            }
            let mut tasks = vec![];
            for i in a.rooms..a.clients {
                let room = i % a.rooms;
                let (founder, realm) = (&founders[room].0, founders[room].1.clone());
                let key = IdentityKey::generate_es256();
                let inv = invitation::create(
                    founder,
                    &realm,
                    unix_now(),
                    3600,
                    Some(key.identid().clone()),
                )?;
                let (url, server, local, sem, pb) = (
                    url_of(node(i)),
                    node(i),
                    source_addr(i, a.sources),
                    sem.clone(),
                    pb.clone(),
                );
                tasks.push(tokio::spawn(async move {
                    let _permit = sem.acquire().await?;
                    let mut c = RealmClient::connect_from(&url, server, local).await?;
                    c.exchange(&key, &realm, &inv).await.context("exchange")?;
                    pb.inc(1);
                    anyhow::Ok((c.into_inner(), room, key.identid().to_string()))
                }));
            }
            for (key, _realm, c) in founders {
                out.push((c.into_inner(), out.len(), key.identid().to_string()));
            }
            for t in tasks {
                out.push(t.await??);
            }
        }
        Target::Ywebrtc => {
            let url = format!("ws://{}/", a.server);
            let mut tasks = vec![];
            for i in 0..a.clients {
                let (url, server, local, sem, pb) = (
                    url.clone(),
                    a.server,
                    source_addr(i, a.sources),
                    sem.clone(),
                    pb.clone(),
                );
                let room = i % a.rooms;
                tasks.push(tokio::spawn(async move {
                    let _permit = sem.acquire().await?;
                    let mut ws = raw_connect(&url, server, local).await?;
                    ws.send(Message::text(format!(
                        r#"{{"type":"subscribe","topics":["room-{room}"]}}"#
                    )))
                    .await?;
                    // y-webrtc does not acknowledge; a ping/pong round trip proves the
                    // subscribe was processed before the next step.
                    ws.send(Message::text(r#"{"type":"ping"}"#)).await?;
                    loop {
                        match ws.next().await {
                            Some(Ok(Message::Text(t))) if t.contains("pong") => break,
                            Some(Ok(_)) => continue,
                            _ => bail!("y-webrtc closed during setup"),
                        }
                    }
                    pb.inc(1);
                    anyhow::Ok((ws, room, format!("c{i}")))
                }));
            }
            for t in tasks {
                out.push(t.await??);
            }
        }
        Target::Peerjs => {
            let mut tasks = vec![];
            for i in 0..a.clients {
                let url = format!("ws://{}/peerjs?key=peerjs&id=c{i}&token=t{i}", a.server);
                let (server, local, sem, pb) =
                    (a.server, source_addr(i, a.sources), sem.clone(), pb.clone());
                let room = i % a.rooms;
                tasks.push(tokio::spawn(async move {
                    let _permit = sem.acquire().await?;
                    let mut ws = raw_connect(&url, server, local).await?;
                    match ws.next().await {
                        Some(Ok(Message::Text(t))) if t.contains("OPEN") => {}
                        other => bail!("PeerJS did not open: {other:?}"),
                    }
                    pb.inc(1);
                    anyhow::Ok((ws, room, format!("c{i}")))
                }));
            }
            for t in tasks {
                out.push(t.await??);
            }
        }
    }
    pb.finish_and_clear();
    let _ = per_room;
    Ok(out)
}

/// Extract the `t<ns>` stamp that starts every payload.
fn stamp(text: &str) -> Option<u64> {
    text.match_indices("\"t").find_map(|(i, _)| {
        let rest = &text[i + 2..];
        let end = rest.find(|c: char| !c.is_ascii_digit())?;
        if end == 0 || !rest[end..].starts_with('s') {
            return None;
        }
        rest[..end].parse().ok()
    })
}

/// `t<ns>s<sender>x` then padding: the stamp gives latency, the sender tag spots echoes.
fn payload_text(size: usize, tag: &str) -> String {
    let mut s = format!("t{}{tag}", now_ns());
    while s.len() < size {
        s.push('A');
    }
    s
}

fn spawn_client(
    a: &SignalingArgs,
    index: usize,
    ws: WsStream,
    room_peers: Vec<String>,
    stats: Arc<Stats>,
) -> Client {
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let (target, size) = (a.target, a.payload);
    let topic = room_peers.first().cloned().unwrap_or_default();
    let tag = format!("s{index}x");
    let peers: Vec<String> = room_peers.into_iter().skip(1).collect();
    let tag_w = tag.clone();
    tokio::spawn(async move {
        while let Some(Outgoing::Publish) = rx.recv().await {
            let p = payload_text(size, &tag_w);
            let r = match target {
                Target::Skypod => {
                    sink.send(Message::text(format!(
                        r#"{{"typ":"evt","msg":"realm.broadcast","dat":{{"payload":"{p}"}}}}"#
                    )))
                    .await
                }
                Target::Ywebrtc => {
                    sink.send(Message::text(format!(
                        r#"{{"type":"publish","topic":"{topic}","data":"{p}"}}"#
                    )))
                    .await
                }
                Target::Peerjs => {
                    let mut r = Ok(());
                    for dst in &peers {
                        r = sink
                            .feed(Message::text(format!(
                                r#"{{"type":"OFFER","dst":"{dst}","payload":"{p}"}}"#
                            )))
                            .await;
                        if r.is_err() {
                            break;
                        }
                    }
                    match r {
                        Ok(()) => sink.flush().await,
                        e => e,
                    }
                }
            };
            if r.is_err() {
                break;
            }
        }
    });
    let own = matches!(target, Target::Ywebrtc);
    tokio::spawn(async move {
        let mut n: u64 = 0;
        while let Some(m) = stream.next().await {
            let Ok(Message::Text(t)) = m else {
                if m.is_err() {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                continue;
            };
            let is_delivery = match target {
                Target::Skypod => t.contains("\"realm.broadcast\""),
                Target::Ywebrtc => t.contains("\"publish\""),
                Target::Peerjs => t.contains("\"OFFER\""),
            };
            if !is_delivery {
                continue;
            }
            // y-webrtc echoes a publish to its sender: not a delivery to another member.
            if own && t.contains(tag.as_str()) {
                stats.echoes.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            stats.delivered.fetch_add(1, Ordering::Relaxed);
            n += 1;
            if n.is_multiple_of(16)
                && let Some(sent) = stamp(t.as_str())
            {
                let lat = now_ns().saturating_sub(sent).max(1);
                if let Ok(mut h) = stats.hist.lock() {
                    let _ = h.record(lat);
                }
            }
        }
    });
    Client { tx }
}

#[derive(Serialize)]
struct BadFrameResult {
    target: Target,
    survived: bool,
    detail: String,
}

/// One garbage frame, then a fresh client must still get through setup.
async fn bad_frame(a: &SignalingArgs) -> anyhow::Result<()> {
    let url = match a.target {
        Target::Skypod => format!("ws://{}/realm", a.server),
        Target::Ywebrtc => format!("ws://{}/", a.server),
        Target::Peerjs => format!("ws://{}/peerjs?key=peerjs&id=bad&token=bad", a.server),
    };
    let mut ws = raw_connect(&url, a.server, source_addr(0, 1)).await?;
    ws.send(Message::text("this is not JSON {")).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut probe = a.clone();
    probe.clients = 2;
    probe.rooms = 1;
    let (survived, detail) = match tokio::time::timeout(Duration::from_secs(5), setup(&probe)).await
    {
        Ok(Ok(c)) => (
            true,
            format!("{} fresh sockets set up after the bad frame", c.len()),
        ),
        Ok(Err(e)) => (false, format!("{e:#}")),
        Err(_) => (false, "timed out".into()),
    };
    println!(
        "{}",
        serde_json::to_string(&BadFrameResult {
            target: a.target,
            survived,
            detail
        })?
    );
    Ok(())
}

pub async fn run(a: SignalingArgs) -> anyhow::Result<()> {
    if a.rooms == 0 || a.clients < a.rooms {
        bail!("need at least one client per room");
    }
    if a.mode == Mode::BadFrame {
        return bad_frame(&a).await;
    }
    let _ = now_ns();
    let rss_before = a.server_pid.and_then(rss_kib);
    let t0 = Instant::now();
    let conns = setup(&a).await?;
    let setup_secs = t0.elapsed().as_secs_f64();
    eprintln!("{} sockets ready in {setup_secs:.1}s", conns.len());

    if a.mode == Mode::Idle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss_after = a.server_pid.and_then(rss_kib);
        let stats = Arc::new(Stats::new());
        let n = conns.len();
        let mut streams = vec![];
        for (ws, _, _) in conns {
            streams.push(ws);
        }
        // Keep every socket read (answers server pings) while holding them.
        let alive = Arc::new(AtomicU64::new(n as u64));
        for ws in streams {
            let (alive, _stats) = (alive.clone(), stats.clone());
            tokio::spawn(async move {
                let (_sink, mut stream) = ws.split();
                while let Some(m) = stream.next().await {
                    if matches!(m, Err(_) | Ok(Message::Close(_))) {
                        break;
                    }
                }
                alive.fetch_sub(1, Ordering::Relaxed);
                drop(_sink);
            });
        }
        tokio::time::sleep(Duration::from_secs(a.hold_secs)).await;
        let r = IdleResult {
            target: a.target,
            sockets: n,
            per_room: n.div_ceil(a.rooms),
            setup_secs,
            rss_before_kib: rss_before,
            rss_after_kib: rss_after,
            kib_per_socket: match (rss_before, rss_after) {
                (Some(b), Some(x)) => Some((x.saturating_sub(b)) as f64 / n as f64),
                _ => None,
            },
            alive_after_hold: alive.load(Ordering::Relaxed) as usize,
        };
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }

    // Throughput: room membership lists for PeerJS fan-out and y-webrtc topics.
    let mut rooms: Vec<Vec<String>> = vec![vec![]; a.rooms];
    for (_, room, id) in &conns {
        rooms[*room].push(id.clone());
    }
    let stats = Arc::new(Stats::new());
    let mut clients = vec![];
    let mut room_of = vec![];
    for (ws, room, id) in conns {
        let list: Vec<String> = match a.target {
            Target::Ywebrtc => vec![format!("room-{room}")],
            _ => std::iter::once(String::new())
                .chain(rooms[room].iter().filter(|p| **p != id).cloned())
                .collect(),
        };
        room_of.push(room);
        clients.push(spawn_client(&a, clients.len(), ws, list, stats.clone()));
    }
    let room_sizes: Vec<u64> = rooms.iter().map(|r| r.len() as u64).collect();
    for &rate in &a.rates {
        stats.delivered.store(0, Ordering::Relaxed);
        if let Ok(mut h) = stats.hist.lock() {
            h.reset();
        }
        let step = Duration::from_secs_f64(a.step_secs);
        let started = Instant::now();
        let mut sent: u64 = 0;
        let mut expected: u64 = 0;
        let mut next = 0usize;
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        while started.elapsed() < step {
            tick.tick().await;
            let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due {
                let i = next % clients.len();
                next += 1;
                if clients[i].tx.send(Outgoing::Publish).is_ok() {
                    sent += 1;
                    expected += room_sizes[room_of[i]] - 1;
                }
            }
        }
        let secs = started.elapsed().as_secs_f64();
        // Let in-flight deliveries land (counted; their latency shows in p99).
        let drain_until = Instant::now() + Duration::from_secs(3);
        while stats.delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delivered = stats.delivered.load(Ordering::Relaxed);
        let (p50, p99) = stats
            .hist
            .lock()
            .map(|h| {
                (
                    h.value_at_quantile(0.5) as f64 / 1e6,
                    h.value_at_quantile(0.99) as f64 / 1e6,
                )
            })
            .unwrap_or_default();
        let ratio = if expected == 0 {
            0.0
        } else {
            delivered as f64 / expected as f64
        };
        let r = StepResult {
            target: a.target,
            rate,
            secs,
            broadcasts: sent,
            expected,
            delivered,
            deliveries_per_sec: delivered.min(expected) as f64 / secs,
            delivery_ratio: ratio,
            p50_ms: p50,
            p99_ms: p99,
            server_rss_kib: a.server_pid.and_then(rss_kib),
        };
        println!("{}", serde_json::to_string(&r)?);
        if ratio < a.min_delivery || p99 > a.max_p99_ms {
            eprintln!("stopping the ramp at {rate}/s: delivery {ratio:.3}, p99 {p99:.1} ms");
            break;
        }
        if stats.errors.load(Ordering::Relaxed) > 0 {
            eprintln!("sockets failed: {}", stats.errors.load(Ordering::Relaxed));
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_through_each_wire_format() {
        let p = payload_text(200, "s7x");
        assert_eq!(p.len(), 200);
        let t = stamp(&format!(
            r#"{{"typ":"evt","msg":"realm.broadcast","dat":{{"from":"tx","payload":"{p}"}}}}"#
        ))
        .unwrap();
        assert!(p.starts_with(&format!("t{t}s7x")));
        assert_eq!(
            stamp(&format!(
                r#"{{"type":"publish","topic":"t1","data":"{p}","clients":3}}"#
            )),
            Some(t)
        );
        assert_eq!(stamp(r#"{"type":"OFFER","payload":"nothing"}"#), None);
    }
}
