//! The CLI peer's realm commands: create a realm, invite and join devices, see the mesh, and
//! the message console (the seed's MessageInterface, in a terminal).

use anyhow::{Context, bail};
use futures_util::StreamExt;
use skypod_peer::{JoinMode, Link, Mode, PeerEvent, RealmKey, RealmState, Via};
use skypod_protocol::invitation::{self, InviteLink};
use skypod_protocol::{IdentId, RealmId, unix_now};
use std::time::Duration;

use crate::device::{Device, Home, http_base, realm_socket_url, until_online};

#[derive(clap::Subcommand)]
pub enum RealmCmd {
    /// Create this device's identity and a new realm on a server, with this device as its
    /// first member.
    Init {
        /// The Skypod server, e.g. http://127.0.0.1:8080
        #[arg(long, env = "SKYPOD_SERVER", default_value = "http://127.0.0.1:8080")]
        server: String,
    },
    /// Print an invitation for another device: a link and a QR code.
    Invite {
        /// Bind the invitation to one device (its id, shown by `skypod whoami` on it).
        #[arg(long = "for")]
        for_device: Option<String>,
        /// How long the invitation stays valid, in hours (at most 168).
        #[arg(long, default_value_t = 24)]
        hours: i64,
        /// Print only the link (no QR code).
        #[arg(long)]
        no_qr: bool,
    },
    /// Join the realm of an invitation link, then wait for a member to hand over the realm key.
    Join {
        /// The invitation link (`http://…/#join=…`).
        link: String,
        /// Seconds to wait for an online member to grant the realm key.
        #[arg(long, default_value_t = 30)]
        key_timeout: u64,
    },
    /// This device's id and realm.
    Whoami,
    /// Members of the realm and the link to each (p2p, relay, offline) with round-trip times.
    Peers {
        /// Keep refreshing the table (Ctrl-C to stop).
        #[arg(long)]
        watch: bool,
        /// Seconds to let links form before printing.
        #[arg(long, default_value_t = 3)]
        settle: u64,
    },
    /// Send messages to every other device (or one) over the mesh or the encrypted relay.
    Send {
        /// One or more messages, sent in this order (over a direct link, several that queue
        /// up together travel as one batch).
        #[arg(required = true)]
        text: Vec<String>,
        /// Only this device.
        #[arg(long)]
        to: Option<String>,
        /// Send through the server relay (encrypted with the realm key) instead of P2P.
        #[arg(long)]
        relay: bool,
        /// Seconds to let direct links form before sending.
        #[arg(long, default_value_t = 3)]
        settle: u64,
    },
    /// Print messages as they arrive, with how they travelled (Ctrl-C to stop).
    Listen,
    /// The realm's devices; `devices remove <id>` removes a lost one (the others rotate the key).
    Devices {
        #[command(subcommand)]
        action: Option<DevicesAction>,
    },
}

#[derive(clap::Subcommand)]
pub enum DevicesAction {
    /// Remove a device from the realm: the server forgets its key and closes its socket; the
    /// remaining devices rotate the realm key.
    Remove { identid: String },
}

pub async fn run(home: &Home, cmd: RealmCmd) -> anyhow::Result<()> {
    match cmd {
        RealmCmd::Init { server } => init(home, &server).await,
        RealmCmd::Invite {
            for_device,
            hours,
            no_qr,
        } => invite(home, for_device, hours, no_qr),
        RealmCmd::Join { link, key_timeout } => join(home, &link, key_timeout).await,
        RealmCmd::Whoami => whoami(home),
        RealmCmd::Peers { watch, settle } => peers(home, watch, settle).await,
        RealmCmd::Send {
            text,
            to,
            relay,
            settle,
        } => send(home, text, to, relay, settle).await,
        RealmCmd::Listen => listen(home).await,
        RealmCmd::Devices { action } => devices(home, action).await,
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

async fn init(home: &Home, server: &str) -> anyhow::Result<()> {
    let dev = Device::open(&home.home)?;
    if let Some(r) = &dev.realm {
        bail!(
            "this device is already in realm {} on {}; use another --home for a second device",
            r.realm,
            http_base(&r.server)
        );
    }
    let socket = realm_socket_url(server)?;
    let realm = RealmId::random();
    let key = RealmKey::generate(0);
    let mut cfg = dev.config(&realm, &socket, JoinMode::Register);
    cfg.realm_key = Some(key.clone());
    let (handle, mut events) = dev.start_peer(cfg);
    until_online(&mut events, CONNECT_TIMEOUT, |_| {}).await?;
    RealmState {
        realm: realm.clone(),
        server: socket,
        key: Some(key),
    }
    .save(&dev.dir)?;
    handle.shutdown().await;
    println!("Created realm {realm}");
    println!("This device: {}", dev.identity.identid());
    println!("Invite another device with: skypod invite");
    Ok(())
}

fn whoami(home: &Home) -> anyhow::Result<()> {
    let dev = Device::open(&home.home)?;
    println!("device  {}", dev.identity.identid());
    match &dev.realm {
        Some(r) => {
            println!("realm   {}", r.realm);
            println!("server  {}", http_base(&r.server));
            println!(
                "key     {}",
                r.key
                    .as_ref()
                    .map(|k| format!("epoch {} ({})", k.epoch, k.kid()))
                    .unwrap_or_else(|| "not granted yet".into())
            );
        }
        None => println!("realm   none (skypod init / skypod join)"),
    }
    Ok(())
}

fn invite(home: &Home, for_device: Option<String>, hours: i64, no_qr: bool) -> anyhow::Result<()> {
    let dev = Device::open(&home.home)?;
    let state = dev.joined()?;
    if !(1..=168).contains(&hours) {
        bail!("--hours must be 1..=168");
    }
    let bound = for_device
        .map(|s| IdentId::new(s).context("--for must be a device id (43 characters)"))
        .transpose()?;
    let token = invitation::create(
        &dev.identity,
        &state.realm,
        unix_now(),
        hours * 3600,
        bound.clone(),
    )?;
    let link = InviteLink {
        server: http_base(&state.server),
        realm: state.realm.clone(),
        token,
    }
    .to_url();
    if !no_qr {
        let qr = qrcode::QrCode::new(link.as_bytes())?;
        println!(
            "{}",
            qr.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        );
    }
    println!("{link}");
    eprintln!(
        "Valid for {hours} h, once{}. On the other device: skypod join '<link>' (or open it in a browser).",
        bound
            .map(|b| format!(", only for device {b}"))
            .unwrap_or_default()
    );
    Ok(())
}

async fn join(home: &Home, link: &str, key_timeout: u64) -> anyhow::Result<()> {
    let dev = Device::open(&home.home)?;
    if let Some(r) = &dev.realm {
        bail!(
            "this device is already in realm {}; use another --home",
            r.realm
        );
    }
    let inv = InviteLink::parse(link.trim())
        .context("not an invitation link (expected http(s)://host/#join=<realm>.<token>)")?;
    let socket = realm_socket_url(&inv.server)?;
    let (handle, mut events) = dev.start_peer(dev.config(
        &inv.realm,
        &socket,
        JoinMode::Exchange {
            invitation: inv.token,
        },
    ));
    until_online(&mut events, CONNECT_TIMEOUT, |_| {}).await?;
    // Membership is recorded by the server now; save it before waiting for the key (keeping
    // a key already granted and saved while we came online).
    RealmState {
        realm: inv.realm.clone(),
        server: socket,
        key: RealmState::load(&dev.dir)?.and_then(|s| s.key),
    }
    .save(&dev.dir)?;
    println!("Joined realm {} as {}", inv.realm, dev.identity.identid());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(key_timeout);
    let got_key = loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(PeerEvent::RealmKey { epoch, kid, .. })) => break Some((epoch, kid)),
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => break None,
        }
    };
    handle.shutdown().await;
    match got_key {
        Some((epoch, kid)) => println!(
            "Realm key received (epoch {epoch}, {kid}): relayed messages are end-to-end encrypted."
        ),
        None => println!(
            "No member granted the realm key yet (none online?). It arrives the next time this device meets one."
        ),
    }
    Ok(())
}

fn link_name(l: Link) -> &'static str {
    match l {
        Link::P2p => "p2p",
        Link::Relay => "relay",
        Link::Down => "offline",
    }
}

async fn peers(home: &Home, watch: bool, settle: u64) -> anyhow::Result<()> {
    let dev = Device::open(&home.home)?;
    let (handle, mut events) = dev.start()?;
    until_online(&mut events, CONNECT_TIMEOUT, |_| {}).await?;
    tokio::spawn(async move { while events.next().await.is_some() {} });
    tokio::time::sleep(Duration::from_secs(settle)).await;
    loop {
        let mut list = handle.peers().await?;
        list.sort_by(|a, b| a.peer.cmp(&b.peer));
        if watch {
            print!("\x1b[2J\x1b[H");
        }
        println!("{:<45} {:<8} {:>9}", "member", "link", "rtt");
        println!(
            "{:<45} {:<8} {:>9}",
            format!("{} (this device)", &dev.identity.identid().as_str()[..12]),
            "-",
            "-"
        );
        for p in &list {
            let link = if p.online {
                link_name(p.link)
            } else {
                "offline"
            };
            let rtt = p
                .rtt
                .map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "-".into());
            println!("{:<45} {:<8} {:>9}", p.peer, link, rtt);
        }
        if !watch {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    handle.shutdown().await;
    Ok(())
}

async fn send(
    home: &Home,
    texts: Vec<String>,
    to: Option<String>,
    relay: bool,
    settle: u64,
) -> anyhow::Result<()> {
    if texts
        .iter()
        .any(|t| !skypod_protocol::messages::is_console_text(t.as_bytes()))
    {
        bail!("a console message cannot start with a NUL byte (reserved for tagged messages)");
    }
    let to = to
        .map(|id| IdentId::new(id).context("--to must be a device id"))
        .transpose()?;
    let dev = Device::open(&home.home)?;
    let (handle, mut events) = dev.start()?;
    until_online(&mut events, CONNECT_TIMEOUT, |_| {}).await?;
    tokio::spawn(async move { while events.next().await.is_some() {} });
    if !relay {
        tokio::time::sleep(Duration::from_secs(settle)).await;
    }
    let mode = if relay { Mode::Relay } else { Mode::P2p };
    let mut n = 0;
    for text in &texts {
        n = match &to {
            Some(id) => {
                handle.send(id, text.clone().into_bytes(), mode).await?;
                1
            }
            None => handle.send_all(text.clone().into_bytes(), mode).await?,
        };
    }
    println!(
        "sent {} message(s) to {n} device(s) via {}",
        texts.len(),
        if relay {
            "relay"
        } else {
            "p2p (relay where no direct link)"
        }
    );
    // Let queued frames leave the channels' buffers before closing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    handle.shutdown().await;
    Ok(())
}

async fn listen(home: &Home) -> anyhow::Result<()> {
    let dev = Device::open(&home.home)?;
    let (handle, mut events) = dev.start()?;
    until_online(&mut events, CONNECT_TIMEOUT, |_| {}).await?;
    eprintln!("listening as {} (Ctrl-C to stop)", dev.identity.identid());
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                None => break,
                Some(PeerEvent::Message { from, bytes, via }) => {
                    if !skypod_protocol::messages::is_console_text(&bytes) {
                        // Library sync is the node's business; other tags are reserved.
                        continue;
                    }
                    let via = if via == Via::P2p { "p2p" } else { "relay" };
                    println!("[{via}] {}: {}", &from.as_str()[..12], String::from_utf8_lossy(&bytes));
                }
                Some(PeerEvent::PeerJoined { peer }) => eprintln!("+ {peer} online"),
                Some(PeerEvent::PeerLeft { peer }) => eprintln!("- {peer} offline"),
                Some(PeerEvent::LinkState { peer, link }) => eprintln!("~ {} {}", &peer.as_str()[..12], link_name(link)),
                Some(PeerEvent::MemberRemoved { peer, by }) => eprintln!("! {peer} was removed by {by}"),
                Some(PeerEvent::Rejected { from, reason }) => eprintln!("! rejected a message from {from}: {reason}"),
                Some(_) => {}
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    handle.shutdown().await;
    Ok(())
}

async fn devices(home: &Home, action: Option<DevicesAction>) -> anyhow::Result<()> {
    let dev = Device::open(&home.home)?;
    let (handle, mut events) = dev.start()?;
    until_online(&mut events, CONNECT_TIMEOUT, |_| {}).await?;
    tokio::spawn(async move { while events.next().await.is_some() {} });
    match action {
        None => {
            println!("{} (this device)", dev.identity.identid());
            for p in handle.peers().await? {
                println!("{} {}", p.peer, if p.online { "online" } else { "offline" });
            }
        }
        Some(DevicesAction::Remove { identid }) => {
            let id = IdentId::new(identid).context("not a device id")?;
            handle.remove_member(&id).await?;
            println!("removed {id}; the remaining devices rotate the realm key");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    handle.shutdown().await;
    Ok(())
}
