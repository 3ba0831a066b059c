//! `skypod`: the realm server, feed proxy and web app in one binary, and a CLI peer.

mod bridge_cmd;
mod device;
mod library_cmd;
mod libsync;
mod realm_cmd;
mod webapp;

use clap::{Parser, Subcommand};
use skypod_server::{Server, ServerConfig};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "skypod", version, about = "Skypod: a private podcast manager whose library syncs between your own devices.", long_about = None)]
struct Cli {
    #[command(flatten)]
    home: device::Home,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the realm server (signaling, relay, presence) with its embedded store.
    ///
    /// Prints the URL to open. Stop with Ctrl-C: open sockets are closed with "going away"
    /// and the store is flushed.
    Serve(Box<ServerConfig>),
    #[command(flatten)]
    Realm(realm_cmd::RealmCmd),
    #[command(flatten)]
    Library(library_cmd::LibraryCmd),
    /// The gpodder bridge of `skypod node --gpodder-listen`: accounts, unmatched actions.
    #[command(subcommand)]
    Bridge(bridge_cmd::BridgeCmd),
}

fn init_tracing() {
    // webrtc-rs logs routine ICE/DTLS chatter at warn; keep it to errors unless asked for.
    let quiet = "webrtc=error,webrtc_ice=error,webrtc_dtls=error,webrtc_sctp=error,webrtc_srtp=error,webrtc_mdns=error,webrtc_data=error,webrtc_util=error";
    let wanted = std::env::var("SKYPOD_LOG").unwrap_or_else(|_| "info".into());
    let spec = if wanted.contains("webrtc") {
        wanted
    } else {
        format!("{wanted},{quiet}")
    };
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

/// Sockets are file descriptors: raise the soft limit to the hard limit.
fn raise_fd_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(cfg) => serve(*cfg).await,
            Command::Realm(cmd) => realm_cmd::run(&cli.home, cmd).await,
            Command::Library(cmd) => library_cmd::run(&cli.home, cmd).await,
            Command::Bridge(cmd) => bridge_cmd::run(&cli.home, cmd).await,
        }
    })
}

async fn serve(cfg: ServerConfig) -> anyhow::Result<()> {
    let data_dir = cfg.data_dir.clone();
    let server = Server::start(cfg).await?.merge(webapp::router());
    let addr = server.local_addr();
    tracing::info!(data_dir = %data_dir.display(), "store opened");
    if !webapp::available() {
        tracing::warn!(
            "the web app is not built (web/dist is missing): only the server APIs are served"
        );
    }
    println!(
        "Skypod is running at http://{addr}/  (realm socket ws://{addr}/realm, metrics http://{addr}/metrics)"
    );
    server.run_until(shutdown_signal()).await
}
