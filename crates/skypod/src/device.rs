//! This device's state on disk and the realm peer built from it, shared by the CLI commands.
//!
//! Layout of the device directory (`--home`, `SKYPOD_HOME`):
//! `identity.pem` (0600, the signing key), `realm.json` (0600: realm id, server URL, realm
//! key), `library/` (the synced library).

use anyhow::{Context, bail};
use futures_util::{Stream, StreamExt};
use skypod_peer::{JoinMode, Peer, PeerConfig, PeerEvent, PeerHandle, RealmState, Signal};
use skypod_protocol::{IdentityKey, RealmId};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `--home`: where this device keeps its identity, realm and library.
#[derive(clap::Args, Clone, Debug)]
pub struct Home {
    /// This device's directory (identity key, realm state, library).
    #[arg(long, global = true, env = "SKYPOD_HOME", default_value_os_t = default_home())]
    pub home: PathBuf,
}

pub fn default_home() -> PathBuf {
    skypod_server::config::default_data_dir().join("device")
}

/// `http://host:port` (what users see and share) → `ws://host:port/realm`.
pub fn realm_socket_url(server: &str) -> anyhow::Result<String> {
    let s = server.trim_end_matches('/');
    let (scheme, rest) = s
        .split_once("://")
        .context("the server URL needs a scheme, e.g. http://127.0.0.1:8080")?;
    let ws = match scheme {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => bail!("unsupported server URL scheme {other:?} (use http or https)"),
    };
    let rest = rest.strip_suffix("/realm").unwrap_or(rest);
    Ok(format!("{ws}://{rest}/realm"))
}

/// `ws://host:port/realm` → `http://host:port` (for links).
pub fn http_base(socket_url: &str) -> String {
    let s = socket_url.trim_end_matches("/realm");
    if let Some(rest) = s.strip_prefix("wss://") {
        format!("https://{rest}")
    } else if let Some(rest) = s.strip_prefix("ws://") {
        format!("http://{rest}")
    } else {
        s.to_owned()
    }
}

pub struct Device {
    pub dir: PathBuf,
    pub identity: IdentityKey,
    pub realm: Option<RealmState>,
}

impl Device {
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let identity = skypod_peer::Identity::load_or_create(dir)
            .with_context(|| format!("opening the identity in {}", dir.display()))?;
        let realm = RealmState::load(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            identity,
            realm,
        })
    }

    /// The realm this device belongs to, or a clear error telling how to get one.
    pub fn joined(&self) -> anyhow::Result<&RealmState> {
        self.realm.as_ref().with_context(|| {
            format!(
                "this device ({}) is in no realm yet: run `skypod init` or `skypod join <link>`",
                self.dir.display()
            )
        })
    }

    pub fn config(&self, realm: &RealmId, server: &str, join: JoinMode) -> PeerConfig {
        let mut cfg = PeerConfig::new(
            self.identity.clone(),
            realm.clone(),
            server.to_owned(),
            join,
        );
        cfg.realm_key = self.realm.as_ref().and_then(|r| r.key.clone());
        cfg
    }

    /// Start a peer with `cfg`. Every realm key it adopts (granted, or rotated by us) is
    /// saved to `realm.json` as its event passes by: the peer does no file I/O itself.
    pub fn start_peer(
        &self,
        cfg: PeerConfig,
    ) -> (
        PeerHandle,
        impl Stream<Item = PeerEvent> + Send + Unpin + use<>,
    ) {
        let dir = self.dir.clone();
        let (realm, server) = (cfg.realm.clone(), cfg.server_url.clone());
        let (handle, events) = Peer::start(cfg);
        let events = events.inspect(move |e| {
            if let PeerEvent::RealmKey { key, .. } = e
                && let Err(e) = RealmState::save_key(&dir, &realm, &server, key)
            {
                tracing::error!(error = %e, "cannot save the realm key");
            }
        });
        (handle, events)
    }

    /// Start the peer as an existing member.
    pub fn start(
        &self,
    ) -> anyhow::Result<(
        PeerHandle,
        impl Stream<Item = PeerEvent> + Send + Unpin + use<>,
    )> {
        let state = self.joined()?;
        Ok(self.start_peer(self.config(&state.realm, &state.server, JoinMode::Authn)))
    }
}

/// Wait until the signaling connection is up (or refused), passing other events to `on`.
pub async fn until_online(
    events: &mut (impl Stream<Item = PeerEvent> + Unpin),
    timeout: Duration,
    mut on: impl FnMut(&PeerEvent),
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.next())
            .await
            .map_err(|_| anyhow::anyhow!("could not reach the server within {timeout:?}"))?;
        match ev {
            None => bail!("the peer stopped"),
            Some(PeerEvent::Signaling(Signal::Online)) => return Ok(()),
            Some(PeerEvent::Signaling(Signal::Stopped(reason))) => {
                bail!("the server refused this device: {reason:?}")
            }
            Some(other) => on(&other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(
            realm_socket_url("http://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/realm"
        );
        assert_eq!(
            realm_socket_url("https://pod.example/").unwrap(),
            "wss://pod.example/realm"
        );
        assert_eq!(
            realm_socket_url("ws://h:1/realm").unwrap(),
            "ws://h:1/realm"
        );
        assert!(realm_socket_url("127.0.0.1:8080").is_err());
        assert!(realm_socket_url("ftp://x").is_err());
        assert_eq!(
            http_base("ws://127.0.0.1:8080/realm"),
            "http://127.0.0.1:8080"
        );
    }
}
