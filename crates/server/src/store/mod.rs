//! Persistent realm registry: realms, members' public keys, spent invitation nonces.
//!
//! The server's only durable state. [`sqlite::SqliteStore`] is the embedded default;
//! [`postgres::PgStore`] is what several server nodes share (`--store postgres://...`). Every write that the
//! server acknowledges to a client is committed before the acknowledgement is sent.

/// `RealmStore` for the store type `$store` (its pool in the field `pool`): the same SQL on
/// SQLite and PostgreSQL, written once in the `$n` parameter form both accept. Only reading the
/// members differs (the store's own `members_of`). A macro rather than generic code because
/// sqlx's executors are generic over the database only behind a wall of higher-ranked bounds.
macro_rules! sql_realm_store {
    ($store:ty, $kind:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::RealmStore for $store {
            async fn members(
                &self,
                realm: &skypod_protocol::RealmId,
            ) -> Result<Option<Vec<$crate::store::StoredMember>>, $crate::store::StoreError> {
                self.members_of(realm).await
            }

            async fn realm_count(&self) -> Result<i64, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query("SELECT COUNT(*) FROM realms")
                    .fetch_one(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::backend)?;
                Ok(row.get(0))
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::backend)?;
                Ok(())
            }

            fn kind(&self) -> &'static str {
                $kind
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn remove_member(
                &self,
                realm: &skypod_protocol::RealmId,
                identid: &skypod_protocol::IdentId,
            ) -> Result<bool, $crate::store::StoreError> {
                let r = sqlx::query("DELETE FROM members WHERE realmid = $1 AND identid = $2")
                    .bind(realm.as_str())
                    .bind(identid.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::StoreError::backend)?;
                Ok(r.rows_affected() > 0)
            }

            async fn create_realm(
                &self,
                realm: &skypod_protocol::RealmId,
                first: &$crate::store::StoredMember,
                now: i64,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::{StoreError, is_unique_violation, jwk_json};
                let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
                let inserted = sqlx::query(
                    "INSERT INTO realms (realmid, created_at, created_by) VALUES ($1, $2, $3)",
                )
                .bind(realm.as_str())
                .bind(now)
                .bind(first.identid.as_str())
                .execute(&mut *tx)
                .await;
                match inserted {
                    Err(e) if is_unique_violation(&e) => return Err(StoreError::RealmExists),
                    other => other.map_err(StoreError::backend)?,
                };
                sqlx::query(
                    "INSERT INTO members (realmid, identid, pubkey, admitted_at, invited_by) \
                     VALUES ($1, $2, $3, $4, NULL)",
                )
                .bind(realm.as_str())
                .bind(first.identid.as_str())
                .bind(jwk_json(&first.pubkey))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::backend)?;
                tx.commit().await.map_err(StoreError::backend)
            }

            async fn admit(
                &self,
                a: $crate::store::Admission<'_>,
            ) -> Result<(), $crate::store::StoreError> {
                use $crate::store::{StoreError, is_unique_violation, jwk_json};
                let mut tx = self.pool.begin().await.map_err(StoreError::backend)?;
                // Spend the nonce first: a concurrent redemption of the same nonce (on any
                // node) waits for this transaction (SQLite's write lock, PostgreSQL's row
                // lock on the key) and then fails on the primary key.
                let spent = sqlx::query(
                    "INSERT INTO invitations_used (realmid, nonce, used_by, used_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
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
                sqlx::query(
                    "INSERT INTO members (realmid, identid, pubkey, admitted_at, invited_by) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (realmid, identid) DO UPDATE SET pubkey = excluded.pubkey",
                )
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
        }
    };
}

pub mod postgres;
pub mod sqlite;

use async_trait::async_trait;
use skypod_protocol::{IdentId, PublicJwk, RealmId};

/// A member as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMember {
    pub identid: IdentId,
    pub pubkey: PublicJwk,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("realm already exists")]
    RealmExists,
    #[error("no such realm")]
    NoSuchRealm,
    #[error("invitation has already been used")]
    NonceUsed,
    #[error("storage failure: {0}")]
    Backend(String),
    /// The database cannot be reached (connection refused or lost, pool exhausted for too
    /// long): nothing was written, and the same request may succeed once it is back.
    #[error("database unreachable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// A failure of the backend itself, told apart from the database being unreachable (a
    /// client should retry the latter shortly; the former is a bug or a corrupt store).
    pub fn backend(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
            other => StoreError::Backend(other.to_string()),
        }
    }

    /// The error frame for a failure of the store (`None` for the outcomes that are answers,
    /// such as "realm exists"): status, machine code and sentence, as `crates/protocol`'s
    /// error catalog lists them.
    pub fn failure(&self) -> Option<(u16, &'static str, &'static str)> {
        match self {
            StoreError::Backend(_) => {
                Some((500, "store", "the server could not record this; try again"))
            }
            StoreError::Unavailable(_) => Some((
                503,
                "store_unavailable",
                "the server's database cannot be reached; nothing was changed, try again shortly",
            )),
            _ => None,
        }
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A public key as stored (JSON text).
fn jwk_json(jwk: &PublicJwk) -> String {
    serde_json::to_string(jwk).expect("JWK serializes")
}

/// A member read back from the store: its id and its key as stored.
fn stored_member(identid: String, pubkey: &str) -> Result<StoredMember, StoreError> {
    let identid =
        IdentId::new(identid).map_err(|e| StoreError::Backend(format!("corrupt identid: {e}")))?;
    let pubkey: PublicJwk = serde_json::from_str(pubkey)
        .map_err(|e| StoreError::Backend(format!("corrupt public key: {e}")))?;
    Ok(StoredMember { identid, pubkey })
}

/// An invitation being redeemed: the nonce is spent and the invitee admitted atomically.
#[derive(Clone, Debug)]
pub struct Admission<'a> {
    pub realm: &'a RealmId,
    pub nonce: &'a str,
    pub nonce_expires_at: i64,
    pub inviter: &'a IdentId,
    pub invitee: &'a StoredMember,
    pub now: i64,
}

#[async_trait]
pub trait RealmStore: Send + Sync + 'static {
    /// Create `realm` with `first` as its only member. Fails with `RealmExists` if the id is
    /// taken (ids are client-chosen, so a collision is refused, never merged).
    async fn create_realm(
        &self,
        realm: &RealmId,
        first: &StoredMember,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Every member of `realm`, or `None` if there is no such realm.
    async fn members(&self, realm: &RealmId) -> Result<Option<Vec<StoredMember>>, StoreError>;

    /// Spend the invitation nonce and admit the invitee, in one transaction. Fails with
    /// `NonceUsed` if the nonce was spent before (also under concurrent calls).
    async fn admit(&self, admission: Admission<'_>) -> Result<(), StoreError>;

    /// Remove a member (revocation). Returns whether it was a member.
    async fn remove_member(&self, realm: &RealmId, identid: &IdentId) -> Result<bool, StoreError>;

    /// How many realms exist (for metrics).
    async fn realm_count(&self) -> Result<i64, StoreError>;

    /// A cheap round trip to the backend (`/healthz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// `sqlite` or `postgres` (`/healthz`).
    fn kind(&self) -> &'static str;

    /// Flush and close (graceful shutdown).
    async fn close(&self);
}

#[cfg(test)]
mod tests {
    use skypod_feeds::migrations::same_as_folder;
    use std::path::Path;

    /// Each embedded schema is what `sqlx::migrate!` would read from its folder: a migration
    /// file added to a folder but not to its list fails here.
    #[test]
    fn the_embedded_schemas_are_their_migration_folders() {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        same_as_folder(&super::sqlite::MIGRATOR, &crate_dir.join("migrations")).unwrap();
        same_as_folder(
            &super::postgres::MIGRATOR,
            &crate_dir.join("migrations-postgres"),
        )
        .unwrap();
    }
}
