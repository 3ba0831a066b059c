//! Identity and realm state on disk. Both files hold secrets, so they are created with mode
//! 0600 (and the directory 0700) before any byte is written: there is no window in which
//! another user could read them.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skypod_protocol::{IdentityKey, RealmId};

use crate::crypto::RealmKey;

pub const IDENTITY_FILE: &str = "identity.pem";
pub const REALM_FILE: &str = "realm.json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: not a PKCS#8 P-256 or Ed25519 private key")]
    BadKey(PathBuf),
    #[error("{path}: {source}")]
    BadState {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

fn ensure_dir(dir: &Path) -> Result<(), StoreError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io(dir))
}

/// Write `bytes` to `path` atomically (temp file + rename), the file created 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut o = fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io(path))
}

/// The device identity kept in `<dir>/identity.pem`.
pub struct Identity;

impl Identity {
    /// Load the key from `dir`, or create a new P-256 (ES256) key there.
    pub fn load_or_create(dir: &Path) -> Result<IdentityKey, StoreError> {
        ensure_dir(dir)?;
        let path = dir.join(IDENTITY_FILE);
        match fs::read_to_string(&path) {
            Ok(pem) => IdentityKey::from_pkcs8_pem(&pem).map_err(|_| StoreError::BadKey(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = IdentityKey::generate_es256();
                write_private(&path, key.to_pkcs8_pem().as_bytes())?;
                tracing::info!(identid = %key.identid(), path = %path.display(), "created identity");
                Ok(key)
            }
            Err(e) => Err(io(&path)(e)),
        }
    }
}

/// Which realm this device belongs to, where its server is, and the realm key it holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RealmState {
    pub realm: RealmId,
    /// The realm WebSocket URL, e.g. `ws://127.0.0.1:8080/realm`.
    pub server: String,
    #[serde(default)]
    pub key: Option<RealmKey>,
}

impl RealmState {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(REALM_FILE)
    }

    /// `None` when the device has not joined a realm yet.
    pub fn load(dir: &Path) -> Result<Option<Self>, StoreError> {
        let path = Self::path(dir);
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|source| StoreError::BadState { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    pub fn save(&self, dir: &Path) -> Result<(), StoreError> {
        ensure_dir(dir)?;
        let bytes = serde_json::to_vec_pretty(self).expect("realm state serializes");
        write_private(&Self::path(dir), &bytes)
    }

    /// Record a new realm key (from [`crate::PeerEvent::RealmKey`]) in the state in `dir`,
    /// creating the state for `realm` on `server` if there is none yet. The application
    /// calls this; the peer itself does no file I/O.
    pub fn save_key(
        dir: &Path,
        realm: &RealmId,
        server: &str,
        key: &RealmKey,
    ) -> Result<(), StoreError> {
        let mut s = Self::load(dir)?.unwrap_or_else(|| RealmState {
            realm: realm.clone(),
            server: server.to_owned(),
            key: None,
        });
        s.key = Some(key.clone());
        s.save(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn identity_is_created_private_and_reloaded() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("data");
        let a = Identity::load_or_create(&dir).unwrap();
        let b = Identity::load_or_create(&dir).unwrap();
        assert_eq!(a.identid(), b.identid());
        #[cfg(unix)]
        {
            assert_eq!(mode(&dir.join(IDENTITY_FILE)), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
        fs::write(dir.join(IDENTITY_FILE), "garbage").unwrap();
        assert!(matches!(
            Identity::load_or_create(&dir),
            Err(StoreError::BadKey(_))
        ));
    }

    #[test]
    fn realm_state_round_trip_private() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(RealmState::load(d.path()).unwrap(), None);
        let s = RealmState {
            realm: RealmId::random(),
            server: "ws://127.0.0.1:1/realm".into(),
            key: Some(RealmKey::generate(1)),
        };
        s.save(d.path()).unwrap();
        assert_eq!(RealmState::load(d.path()).unwrap(), Some(s));
        #[cfg(unix)]
        assert_eq!(mode(&RealmState::path(d.path())), 0o600);
    }
}
