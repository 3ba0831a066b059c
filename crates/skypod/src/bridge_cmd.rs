//! `skypod bridge`: accounts and reports of the gpodder bridge that `skypod node
//! --gpodder-listen ADDR` serves (crates/gpodder). The bridge's files live in
//! `<home>/gpodder/` (0700), beside the device's identity and realm key.

use anyhow::{Context, bail};
use skypod_gpodder::{BridgeStore, DIR};
use std::io::{BufRead, IsTerminal, Write};

use crate::device::Home;

#[derive(clap::Subcommand)]
pub enum BridgeCmd {
    /// Accounts that gpodder apps (AntennaPod, gPodder, ...) log in with.
    #[command(subcommand)]
    User(UserCmd),
    /// Episode actions from gpodder apps that matched no episode of their feed (kept,
    /// given back to the apps as uploaded, and matched again on later uploads).
    Unmatched,
}

#[derive(clap::Subcommand)]
pub enum UserCmd {
    /// Add an account, or set a new password for an existing one. The password is read
    /// from standard input (one line; at least 8 characters).
    Add { name: String },
    /// Remove an account (the records its devices made stay in the library).
    Remove { name: String },
    /// List the accounts.
    List,
}

pub async fn run(home: &Home, cmd: BridgeCmd) -> anyhow::Result<()> {
    let store = BridgeStore::open(&home.home.join(DIR)).await?;
    let r = match cmd {
        BridgeCmd::User(UserCmd::Add { name }) => {
            skypod_gpodder::check_name("user name", &name)?;
            let password = read_password(&name)?;
            let new = store.set_user(&name, &password).await?;
            println!(
                "{} gpodder bridge account {name:?} (log in with it at the address given to `skypod node --gpodder-listen`)",
                if new { "Added" } else { "New password for" }
            );
            Ok(())
        }
        BridgeCmd::User(UserCmd::Remove { name }) => {
            if store.remove_user(&name).await? {
                println!("Removed gpodder bridge account {name:?}");
                Ok(())
            } else {
                bail!("no gpodder bridge account {name:?}")
            }
        }
        BridgeCmd::User(UserCmd::List) => {
            for u in store.users().await? {
                println!("{u}");
            }
            Ok(())
        }
        BridgeCmd::Unmatched => {
            let list = store.unmatched().await?;
            if list.is_empty() {
                println!("Every episode action from gpodder apps matched an episode.");
            }
            for a in &list {
                println!(
                    "{}  {} {} on {}/{}: {} (feed {})",
                    skypod_gpodder::time::format_iso(a.ts_ms),
                    a.action,
                    if a.position >= 0 {
                        crate::library_cmd::fmt_time(a.position as f64)
                    } else {
                        String::new()
                    },
                    a.user,
                    a.device,
                    a.episode,
                    a.podcast
                );
            }
            Ok(())
        }
    };
    store.close().await;
    r
}

fn read_password(name: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password for {name} (input is shown; pipe it in to hide it): ");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_owned();
    if pw.is_empty() {
        bail!("no password given on standard input");
    }
    Ok(pw)
}

/// Start the gpodder bridge for `skypod node --gpodder-listen ADDR`: bind, serve in the
/// background, and return the receiving end of its library jobs (the node's loop runs
/// them, saves and syncs).
pub async fn serve(
    dev: &crate::device::Device,
    lib: &skypod_library::Library,
    addr: std::net::SocketAddr,
) -> anyhow::Result<tokio::sync::mpsc::Receiver<skypod_gpodder::LibraryJob>> {
    use skypod_protocol::token::{self, NoClaims};
    use skypod_protocol::{Purpose, unix_now};
    let state = dev.joined()?;
    let store = BridgeStore::open(&dev.dir.join(DIR)).await?;
    if store.users().await?.is_empty() {
        tracing::warn!(
            "the gpodder bridge has no accounts yet: add one with `skypod bridge user add NAME`"
        );
    }
    let (identity, realm) = (dev.identity.clone(), state.realm.clone());
    let token: skypod_gpodder::TokenSource = std::sync::Arc::new(move || {
        token::sign(
            &identity,
            Purpose::Proxy,
            &realm,
            unix_now(),
            60,
            NoClaims {},
        )
        .map_err(|e| format!("signing the proxy token: {e}"))
    });
    let feeds = skypod_gpodder::ProxyFeeds::new(crate::device::http_base(&state.server), token);
    let (handle, jobs) = skypod_gpodder::library_channel();
    let mut cfg = skypod_gpodder::BridgeConfig::new(lib.device());
    if let Some(name) = lib
        .devices()
        .into_iter()
        .find(|d| d.id == lib.device())
        .and_then(|d| d.name)
    {
        cfg.node_label = name;
    }
    let bridge = skypod_gpodder::Bridge::new(store, handle, std::sync::Arc::new(feeds), cfg);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the gpodder bridge to {addr}"))?;
    let local = listener.local_addr()?;
    let app = skypod_gpodder::router(bridge).layer(tower_http::trace::TraceLayer::new_for_http());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the gpodder bridge stopped");
        }
    });
    tracing::info!(address = %local, "gpodder bridge listening (gpodder.net API v2 and Nextcloud gPodder Sync)");
    println!("gpodder bridge at http://{local}/");
    Ok(jobs)
}
