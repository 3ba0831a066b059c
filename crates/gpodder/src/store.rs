//! The bridge's own state, next to the device's private files: accounts, registered
//! gpodder devices, and the journal that gives `since` its meaning.
//!
//! The library (Automerge) holds what every device of the realm should see; this SQLite
//! file holds what only the bridge needs: password hashes, the actions exactly as the
//! apps uploaded them (including those that matched no episode), when the bridge first saw
//! each subscription change and play record (what `since` filters on), and the
//! episode-URL ↔ guid pairs learned from parsed feeds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::error::BridgeError;

/// File name of the bridge database inside its directory.
pub const DB_FILE: &str = "bridge.sqlite";

const SCHEMA: &str = r"
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS devices (
    user TEXT NOT NULL, id TEXT NOT NULL, caption TEXT NOT NULL, type TEXT NOT NULL,
    PRIMARY KEY (user, id));
CREATE TABLE IF NOT EXISTS sub_state (url TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS sub_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, added INTEGER NOT NULL,
    at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sub_events_at ON sub_events (at_ms);
CREATE TABLE IF NOT EXISTS actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, device TEXT NOT NULL,
    podcast TEXT NOT NULL, episode TEXT NOT NULL, guid TEXT, action TEXT NOT NULL,
    ts_ms INTEGER NOT NULL, started INTEGER NOT NULL, position INTEGER NOT NULL,
    total INTEGER NOT NULL, received_ms INTEGER NOT NULL, episode_key TEXT,
    UNIQUE (user, device, podcast, episode, action, ts_ms, started, position, total));
CREATE INDEX IF NOT EXISTS actions_received ON actions (received_ms);
CREATE TABLE IF NOT EXISTS record_seen (
    device TEXT NOT NULL, episode_key TEXT NOT NULL, updated INTEGER NOT NULL,
    received_ms INTEGER NOT NULL, PRIMARY KEY (device, episode_key));
CREATE INDEX IF NOT EXISTS record_seen_received ON record_seen (received_ms);
CREATE TABLE IF NOT EXISTS episodes (
    episode_key TEXT PRIMARY KEY, podcast TEXT NOT NULL, enclosure TEXT NOT NULL);
";

/// A registered gpodder device of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpodderDevice {
    /// The app's device id (path segment of the API).
    pub id: String,
    /// Caption the app set.
    pub caption: String,
    /// desktop, laptop, mobile, server or other.
    pub kind: String,
}

/// One action as uploaded (or to be returned), times in Unix ms.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAction {
    /// Account.
    pub user: String,
    /// gpodder device id.
    pub device: String,
    /// Podcast (feed) URL as the app sent it.
    pub podcast: String,
    /// Episode (enclosure) URL as the app sent it.
    pub episode: String,
    /// Episode guid, if the app sent one.
    pub guid: Option<String>,
    /// play, download, delete, new, flattr.
    pub action: String,
    /// When it happened on the device.
    pub ts_ms: i64,
    /// Play: where playback started (s), -1 if absent.
    pub started: i64,
    /// Play: where it stopped (s), -1 if absent.
    pub position: i64,
    /// Play: episode length (s), -1 if absent.
    pub total: i64,
    /// The library episode it matched, if any.
    pub episode_key: Option<String>,
}

/// The bridge database.
#[derive(Clone, Debug)]
pub struct BridgeStore {
    pool: SqlitePool,
    path: PathBuf,
}

fn db_err(e: sqlx::Error) -> BridgeError {
    BridgeError::Store(e.to_string())
}

impl BridgeStore {
    /// Open (creating) `<dir>/bridge.sqlite`; `dir` is made private (0700) on Unix.
    pub async fn open(dir: &Path) -> Result<Self, BridgeError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| BridgeError::Store(format!("{}: {e}", dir.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let path = dir.join(DB_FILE);
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(db_err)?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await.map_err(db_err)?;
        Ok(Self { pool, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close the pool (flushes the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ----- accounts -----

    /// Add an account, or set a new password for an existing one. Returns whether it was new.
    pub async fn set_user(&self, name: &str, password: &str) -> Result<bool, BridgeError> {
        check_name("user name", name)?;
        if password.len() < 8 {
            return Err(BridgeError::Invalid(
                "the password must be at least 8 characters long".into(),
            ));
        }
        let hash = hash_password(password.to_owned()).await?;
        let existed = self.user_hash(name).await?.is_some();
        sqlx::query(
            "INSERT INTO users (name, hash, created_ms) VALUES (?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET hash = excluded.hash",
        )
        .bind(name)
        .bind(hash)
        .bind(crate::time::now_ms())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(!existed)
    }

    /// Remove an account (its devices' records stay in the library). Returns whether it existed.
    pub async fn remove_user(&self, name: &str) -> Result<bool, BridgeError> {
        let r = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    /// Account names.
    pub async fn users(&self) -> Result<Vec<String>, BridgeError> {
        let rows = sqlx::query("SELECT name FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).collect())
    }

    pub(crate) async fn user_hash(&self, name: &str) -> Result<Option<String>, BridgeError> {
        let row = sqlx::query("SELECT hash FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Whether `password` is `name`'s. An unknown name costs the same hash as a known
    /// one, so timing does not tell which names exist.
    pub async fn verify(&self, name: &str, password: &str) -> Result<bool, BridgeError> {
        let hash = self.user_hash(name).await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|h| {
                argon2::Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
        })
        .await
        .map_err(|e| BridgeError::Store(e.to_string()))?;
        Ok(known && ok)
    }

    // ----- devices -----

    /// Create or update a device. `caption`/`kind` `None` keep the stored value (or the
    /// default for a new device). Returns the device as stored.
    pub async fn upsert_device(
        &self,
        user: &str,
        id: &str,
        caption: Option<&str>,
        kind: Option<&str>,
    ) -> Result<GpodderDevice, BridgeError> {
        let old = self.device(user, id).await?;
        let dev = GpodderDevice {
            id: id.to_owned(),
            caption: caption
                .map(str::to_owned)
                .or_else(|| old.as_ref().map(|d| d.caption.clone()))
                .unwrap_or_else(|| id.to_owned()),
            kind: kind
                .map(str::to_owned)
                .or_else(|| old.as_ref().map(|d| d.kind.clone()))
                .unwrap_or_else(|| "other".to_owned()),
        };
        sqlx::query(
            "INSERT INTO devices (user, id, caption, type) VALUES (?, ?, ?, ?)
             ON CONFLICT (user, id) DO UPDATE SET caption = excluded.caption, type = excluded.type",
        )
        .bind(user)
        .bind(id)
        .bind(&dev.caption)
        .bind(&dev.kind)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(dev)
    }

    /// One device of an account.
    pub async fn device(&self, user: &str, id: &str) -> Result<Option<GpodderDevice>, BridgeError> {
        let row = sqlx::query("SELECT id, caption, type FROM devices WHERE user = ? AND id = ?")
            .bind(user)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| GpodderDevice {
            id: r.get(0),
            caption: r.get(1),
            kind: r.get(2),
        }))
    }

    /// An account's devices.
    pub async fn devices(&self, user: &str) -> Result<Vec<GpodderDevice>, BridgeError> {
        let rows = sqlx::query("SELECT id, caption, type FROM devices WHERE user = ? ORDER BY id")
            .bind(user)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| GpodderDevice {
                id: r.get(0),
                caption: r.get(1),
                kind: r.get(2),
            })
            .collect())
    }

    // ----- subscriptions journal -----

    /// Record the difference between the library's subscriptions now and the last known
    /// set as add/remove events stamped `now_ms`, whoever made the change.
    pub async fn note_subscriptions(
        &self,
        current: &[String],
        now_ms: i64,
    ) -> Result<(), BridgeError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let known: std::collections::BTreeSet<String> = sqlx::query("SELECT url FROM sub_state")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let now: std::collections::BTreeSet<String> = current.iter().cloned().collect();
        for (url, added) in now
            .difference(&known)
            .map(|u| (u, true))
            .chain(known.difference(&now).map(|u| (u, false)))
        {
            sqlx::query("INSERT INTO sub_events (url, added, at_ms) VALUES (?, ?, ?)")
                .bind(url)
                .bind(added)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let q = if added {
                "INSERT INTO sub_state (url) VALUES (?)"
            } else {
                "DELETE FROM sub_state WHERE url = ?"
            };
            sqlx::query(q)
                .bind(url)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    /// Subscription changes noted at or after `since_ms`: (added, removed), the last event
    /// per URL deciding which list it is in.
    pub async fn subscription_changes(
        &self,
        since_ms: i64,
    ) -> Result<(Vec<String>, Vec<String>), BridgeError> {
        let rows = sqlx::query("SELECT url, added FROM sub_events WHERE at_ms >= ? ORDER BY seq")
            .bind(since_ms)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut last: std::collections::BTreeMap<String, bool> = Default::default();
        for r in rows {
            last.insert(r.get(0), r.get(1));
        }
        let (mut add, mut remove) = (vec![], vec![]);
        for (url, added) in last {
            if added {
                add.push(url)
            } else {
                remove.push(url)
            }
        }
        Ok((add, remove))
    }

    // ----- episode actions -----

    /// Store uploaded actions; returns, per action, whether it was new (false: the same
    /// action was uploaded before — a replay, ignored).
    pub async fn insert_actions(
        &self,
        actions: &[StoredAction],
        received_ms: i64,
    ) -> Result<Vec<bool>, BridgeError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let mut fresh = Vec::with_capacity(actions.len());
        for a in actions {
            let r = sqlx::query(
                "INSERT INTO actions (user, device, podcast, episode, guid, action, ts_ms, started,
                   position, total, received_ms, episode_key)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&a.user)
            .bind(&a.device)
            .bind(&a.podcast)
            .bind(&a.episode)
            .bind(&a.guid)
            .bind(&a.action)
            .bind(a.ts_ms)
            .bind(a.started)
            .bind(a.position)
            .bind(a.total)
            .bind(received_ms)
            .bind(&a.episode_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            fresh.push(r.rows_affected() == 1);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(fresh)
    }

    /// Actions received at or after `since_ms` that the library cannot give back by itself:
    /// unmatched ones and the kinds the library has no place for (download, delete, ...).
    pub async fn raw_actions_since(&self, since_ms: i64) -> Result<Vec<StoredAction>, BridgeError> {
        let rows = sqlx::query(
            "SELECT user, device, podcast, episode, guid, action, ts_ms, started, position, total,
                    episode_key
             FROM actions WHERE received_ms >= ?
               AND (episode_key IS NULL OR action NOT IN ('play', 'new')) ORDER BY seq",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(row_action).collect())
    }

    /// Uploaded actions that matched no library episode (kept, reported, retried).
    pub async fn unmatched(&self) -> Result<Vec<StoredAction>, BridgeError> {
        let rows = sqlx::query(
            "SELECT user, device, podcast, episode, guid, action, ts_ms, started, position, total,
                    episode_key
             FROM actions WHERE episode_key IS NULL ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(row_action).collect())
    }

    /// Attach a library episode to actions that were unmatched.
    pub async fn set_match(
        &self,
        podcast: &str,
        episode: &str,
        key: &str,
    ) -> Result<u64, BridgeError> {
        let r = sqlx::query(
            "UPDATE actions SET episode_key = ? WHERE episode_key IS NULL AND podcast = ? AND episode = ?",
        )
        .bind(key)
        .bind(podcast)
        .bind(episode)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    // ----- play records as the bridge saw them -----

    /// Note the library's play records (device, episode key, updated); those new or changed
    /// since last time get `received_ms = now_ms`. Returns how many changed.
    pub async fn note_records(
        &self,
        records: &[(String, String, i64)],
        now_ms: i64,
    ) -> Result<usize, BridgeError> {
        let known: HashMap<(String, String), i64> =
            sqlx::query("SELECT device, episode_key, updated FROM record_seen")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?
                .iter()
                .map(|r| ((r.get(0), r.get(1)), r.get(2)))
                .collect();
        let changed: Vec<&(String, String, i64)> = records
            .iter()
            .filter(|(d, k, u)| known.get(&(d.clone(), k.clone())) != Some(u))
            .collect();
        if changed.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for (d, k, u) in &changed {
            sqlx::query(
                "INSERT INTO record_seen (device, episode_key, updated, received_ms) VALUES (?, ?, ?, ?)
                 ON CONFLICT (device, episode_key) DO UPDATE SET updated = excluded.updated,
                   received_ms = excluded.received_ms",
            )
            .bind(d)
            .bind(k)
            .bind(u)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(changed.len())
    }

    /// Episode keys with a record that changed at or after `since_ms`.
    pub async fn records_changed_since(&self, since_ms: i64) -> Result<Vec<String>, BridgeError> {
        let rows = sqlx::query(
            "SELECT DISTINCT episode_key FROM record_seen WHERE received_ms >= ? ORDER BY episode_key",
        )
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    // ----- episode URL ↔ guid -----

    /// Remember a library episode's enclosure URL (from the parsed feed or an upload).
    pub async fn remember_episode(
        &self,
        key: &str,
        podcast: &str,
        enclosure: &str,
    ) -> Result<(), BridgeError> {
        sqlx::query(
            "INSERT INTO episodes (episode_key, podcast, enclosure) VALUES (?, ?, ?)
             ON CONFLICT (episode_key) DO UPDATE SET enclosure = excluded.enclosure",
        )
        .bind(key)
        .bind(podcast)
        .bind(enclosure)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// The enclosure URL known for a library episode.
    pub async fn enclosure(&self, key: &str) -> Result<Option<String>, BridgeError> {
        let row = sqlx::query("SELECT enclosure FROM episodes WHERE episode_key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.map(|r| r.get(0)))
    }
}

fn row_action(r: &sqlx::sqlite::SqliteRow) -> StoredAction {
    StoredAction {
        user: r.get(0),
        device: r.get(1),
        podcast: r.get(2),
        episode: r.get(3),
        guid: r.get(4),
        action: r.get(5),
        ts_ms: r.get(6),
        started: r.get(7),
        position: r.get(8),
        total: r.get(9),
        episode_key: r.get(10),
    }
}

/// Names of accounts and devices: what fits in a URL path segment without escaping.
pub fn check_name(what: &str, s: &str) -> Result<(), BridgeError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(BridgeError::Invalid(format!(
            "{what} {s:?}: use 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

async fn hash_password(password: String) -> Result<String, BridgeError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| BridgeError::Store(e.to_string()))?;
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| BridgeError::Store(e.to_string()))
    })
    .await
    .map_err(|e| BridgeError::Store(e.to_string()))?
}

/// A hash of a random password, verified against for unknown account names.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let mut pw = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut pw);
    let Ok(salt) = SaltString::encode_b64(&salt) else {
        return String::new();
    };
    argon2::Argon2::default()
        .hash_password(&pw, &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});
