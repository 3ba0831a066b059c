//! The embedded SQLite store (WAL, migrations, synchronous commits by default).

use async_trait::async_trait;
use skypod_protocol::{IdentId, PublicJwk, RealmId};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::{Admission, RealmStore, StoreError, StoredMember, is_unique_violation};

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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqliteStore {
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

fn jwk_json(jwk: &PublicJwk) -> String {
    serde_json::to_string(jwk).expect("JWK serializes")
}

#[async_trait]
impl RealmStore for SqliteStore {
    async fn create_realm(
        &self,
        realm: &RealmId,
        first: &StoredMember,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        let inserted =
            sqlx::query("INSERT INTO realms (realmid, created_at, created_by) VALUES (?, ?, ?)")
                .bind(realm.as_str())
                .bind(now)
                .bind(first.identid.as_str())
                .execute(&mut *tx)
                .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::RealmExists),
            other => other.map_err(StoreError::backend)?,
        };
        sqlx::query("INSERT INTO members (realmid, identid, pubkey, admitted_at, invited_by) VALUES (?, ?, ?, ?, NULL)")
            .bind(realm.as_str())
            .bind(first.identid.as_str())
            .bind(jwk_json(&first.pubkey))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        tx.commit().await.map_err(StoreError::backend)
    }

    async fn members(&self, realm: &RealmId) -> Result<Option<Vec<StoredMember>>, StoreError> {
        let exists = sqlx::query("SELECT 1 FROM realms WHERE realmid = ?")
            .bind(realm.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT identid, pubkey FROM members WHERE realmid = ? ORDER BY admitted_at",
        )
        .bind(realm.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let identid: String = row.get(0);
            let pubkey: String = row.get(1);
            let identid = IdentId::new(identid)
                .map_err(|e| StoreError::Backend(format!("corrupt identid: {e}")))?;
            let pubkey: PublicJwk = serde_json::from_str(&pubkey)
                .map_err(|e| StoreError::Backend(format!("corrupt public key: {e}")))?;
            out.push(StoredMember { identid, pubkey });
        }
        Ok(Some(out))
    }

    async fn admit(&self, a: Admission<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
        // Spend the nonce first: the write lock is taken here, so concurrent redemptions
        // serialize and all but one hit the primary key.
        let spent = sqlx::query("INSERT INTO invitations_used (realmid, nonce, used_by, used_at, expires_at) VALUES (?, ?, ?, ?, ?)")
            .bind(a.realm.as_str())
            .bind(a.nonce)
            .bind(a.invitee.identid.as_str())
            .bind(a.now)
            .bind(a.nonce_expires_at)
            .execute(&mut *tx)
            .await;
        match spent {
            Err(e) if is_unique_violation(&e) => return Err(StoreError::NonceUsed),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                return Err(StoreError::NoSuchRealm);
            }
            other => other.map_err(StoreError::backend)?,
        };
        sqlx::query("INSERT INTO members (realmid, identid, pubkey, admitted_at, invited_by) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (realmid, identid) DO UPDATE SET pubkey = excluded.pubkey")
            .bind(a.realm.as_str())
            .bind(a.invitee.identid.as_str())
            .bind(jwk_json(&a.invitee.pubkey))
            .bind(a.now)
            .bind(a.inviter.as_str())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::backend)?;
        tx.commit().await.map_err(StoreError::backend)
    }

    async fn remove_member(&self, realm: &RealmId, identid: &IdentId) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM members WHERE realmid = ? AND identid = ?")
            .bind(realm.as_str())
            .bind(identid.as_str())
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(r.rows_affected() > 0)
    }

    async fn realm_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM realms")
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(row.get(0))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
