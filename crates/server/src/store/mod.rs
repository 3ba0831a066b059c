//! Persistent realm registry: realms, members' public keys, spent invitation nonces.
//!
//! The server's only durable state. [`sqlite::SqliteStore`] is the embedded default;
//! [`postgres::PgStore`] is what several server nodes share (`--store postgres://...`). Every write that the
//! server acknowledges to a client is committed before the acknowledgement is sent.

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
