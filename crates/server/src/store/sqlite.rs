//! The embedded SQLite store (WAL, migrations, synchronous commits by default).

use skypod_protocol::RealmId;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::{StoreError, StoredMember, stored_member};

/// How hard SQLite works to keep a commit through a power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// fsync on every commit: an acknowledged registration survives power loss.
    Full,
    /// fsync at WAL checkpoints: survives a process crash, may lose the last commits on
    /// power loss. Faster for bulk loads (benchmarks).
    Normal,
}

pub struct SqliteStore {
    pool: SqlitePool,
}

sql_realm_store!(SqliteStore, "sqlite");

/// The schema (skypod_feeds::migrations: why not `sqlx::migrate!`).
pub(crate) static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| {
        skypod_feeds::migrations::migrator(&[(
            "0001_realms.sql",
            include_str!("../../migrations/0001_realms.sql"),
        )])
    });

impl SqliteStore {
    async fn members_of(&self, realm: &RealmId) -> Result<Option<Vec<StoredMember>>, StoreError> {
        let exists = sqlx::query("SELECT 1 FROM realms WHERE realmid = $1")
            .bind(realm.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT identid, pubkey FROM members WHERE realmid = $1 ORDER BY admitted_at",
        )
        .bind(realm.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let identid: String = row.get(0);
            let pubkey: String = row.get(1);
            out.push(stored_member(identid, &pubkey)?);
        }
        Ok(Some(out))
    }

    /// Open (creating if needed) `dir/skypod.sqlite` and run migrations.
    pub async fn open(dir: &Path, durability: Durability) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("skypod.sqlite");
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(StoreError::backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(StoreError::backend)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }
}
