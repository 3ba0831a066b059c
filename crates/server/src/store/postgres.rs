//! The PostgreSQL store: what several server nodes share (see README, "Running more than one
//! node"). Same schema and semantics as [`super::sqlite`]; every acknowledged write is
//! committed (PostgreSQL's default `synchronous_commit`).

use async_trait::async_trait;
use skypod_protocol::RealmId;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::{StoreError, StoredMember, stored_member};
use skypod_feeds::FeedError;
use skypod_feeds::analyses::{AnalysisClaim, AnalysisStore};

pub struct PgStore {
    pool: PgPool,
}

sql_realm_store!(PgStore, "postgres");

/// The schema (skypod_feeds::migrations: why not `sqlx::migrate!`).
pub(crate) static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(|| {
        skypod_feeds::migrations::migrator(&[
            (
                "0001_realms.sql",
                include_str!("../../migrations-postgres/0001_realms.sql"),
            ),
            (
                "0002_proxy_analyses.sql",
                include_str!("../../migrations-postgres/0002_proxy_analyses.sql"),
            ),
        ])
    });

/// A pool of at most `max` connections to `url`, and `url` parsed. A database that went away
/// is noticed by the next query, which then fails fast with a clear error instead of hanging
/// the client; the pool reconnects by itself.
fn pool_on(url: &str, max: u32) -> Result<(PgPoolOptions, PgConnectOptions), StoreError> {
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Backend(format!("bad PostgreSQL URL: {e}")))?;
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(true);
    Ok((pool, opts))
}

impl PgStore {
    async fn members_of(&self, realm: &RealmId) -> Result<Option<Vec<StoredMember>>, StoreError> {
        // One round trip: the realm row LEFT JOINed to its members.
        let rows = sqlx::query(
            "SELECT m.identid, m.pubkey FROM realms r LEFT JOIN members m ON m.realmid = r.realmid \
             WHERE r.realmid = $1 ORDER BY m.admitted_at, m.identid",
        )
        .bind(realm.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::backend)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let identid: Option<String> = row.get(0);
            let pubkey: Option<String> = row.get(1);
            let (Some(identid), Some(pubkey)) = (identid, pubkey) else {
                continue; // a realm whose members were all removed
            };
            out.push(stored_member(identid, &pubkey)?);
        }
        Ok(Some(out))
    }

    /// Connect to `url` (`postgres://user@host:5432/db`) and run migrations. Several nodes may
    /// start at once: the migrator serializes them with an advisory lock.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let (pool, opts) = pool_on(url, 16)?;
        let pool = pool
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        Ok(Self { pool })
    }
}

/// The feed proxy's analysis results in PostgreSQL (`proxy_analyses`), so one node's
/// analysis serves every node; a transaction-scoped advisory lock per analysis makes
/// concurrent requests on different nodes run one decode (see [`skypod_feeds::analyses`]).
///
/// A pool of its own: a claim holds a connection (an open transaction) for as long as an
/// analysis runs, and must never starve the realm store.
///
/// While PostgreSQL cannot be reached, the proxy analyses locally: after a connection failure
/// the store answers at once with an error for [`UNREACHABLE_PAUSE`] instead of making every
/// request wait out the pool's acquire timeout again.
pub struct PgAnalyses {
    pool: PgPool,
    /// Until when calls fail at once (after a connection failure).
    paused_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long the analysis store is left alone after a connection failure.
pub const UNREACHABLE_PAUSE: Duration = Duration::from_secs(10);

/// Analyses older than this are deleted ([`PgAnalyses::prune`], hourly on every node): the
/// table would otherwise keep a row for every episode ever analysed. A pruned analysis is
/// computed again when it is asked for (as after an eviction from a node's own cache).
pub const ANALYSIS_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often each node prunes (the delete is idempotent, so nodes need not coordinate).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// First key of the two-key advisory locks taken for analyses ("skyp"); single-key locks
/// (the migrator's) live in a separate key space.
const ANALYSIS_LOCK_SPACE: i32 = 0x736b_7970;

fn storage(e: sqlx::Error) -> FeedError {
    FeedError::Storage(format!("PostgreSQL: {e}"))
}

impl PgAnalyses {
    /// A lazily connecting pool on `url` (the schema is [`PgStore::connect`]'s migrations).
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let (pool, opts) = pool_on(url, 8)?;
        let pool = pool.connect_lazy_with(opts);
        Ok(Self {
            pool,
            paused_until: std::sync::Mutex::new(None),
        })
    }

    /// Delete the analyses stored before `cutoff` (Unix seconds); how many went.
    pub async fn prune(&self, cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM proxy_analyses WHERE created_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }

    /// Prune every [`PRUNE_EVERY`], keeping [`ANALYSIS_RETENTION`], until the process ends.
    pub fn spawn_pruning(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            // The first prune an interval after start: start-up has better things to do.
            let first = tokio::time::Instant::now() + PRUNE_EVERY;
            let mut tick = tokio::time::interval_at(first, PRUNE_EVERY);
            loop {
                tick.tick().await;
                let cutoff = skypod_protocol::unix_now() - ANALYSIS_RETENTION.as_secs() as i64;
                match me.prune(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "pruned old feed-proxy analyses"),
                    Err(e) => tracing::warn!(error = %e, "pruning feed-proxy analyses failed"),
                }
            }
        });
    }

    /// An error at once while paused after a connection failure.
    fn check(&self) -> skypod_feeds::Result<()> {
        let paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        match *paused {
            Some(t) if t > std::time::Instant::now() => Err(FeedError::Storage(
                "PostgreSQL was unreachable a moment ago; not asked again yet".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Map an error, pausing the store if it says the database cannot be reached.
    fn failed(&self, e: sqlx::Error) -> FeedError {
        if matches!(
            e,
            sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
        ) {
            *self.paused_until.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(std::time::Instant::now() + UNREACHABLE_PAUSE);
        }
        storage(e)
    }
}

/// An analysis being computed on this node: the advisory lock of an open transaction.
struct PgClaim(sqlx::Transaction<'static, sqlx::Postgres>);

#[async_trait]
impl AnalysisClaim for PgClaim {
    async fn release(self: Box<Self>) {
        // Ending the transaction releases the lock; if the connection is gone, so is the lock.
        if let Err(e) = self.0.rollback().await {
            tracing::debug!(error = %e, "releasing an analysis claim");
        }
    }
}

#[async_trait]
impl AnalysisStore for PgAnalyses {
    async fn get(&self, hash: &str, kind: &str) -> skypod_feeds::Result<Option<String>> {
        self.check()?;
        sqlx::query_scalar("SELECT result FROM proxy_analyses WHERE hash = $1 AND kind = $2")
            .bind(hash)
            .bind(kind)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.failed(e))
    }

    async fn put(&self, hash: &str, kind: &str, json: &str) -> skypod_feeds::Result<()> {
        self.check()?;
        sqlx::query(
            "INSERT INTO proxy_analyses (hash, kind, result, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (hash, kind) DO UPDATE SET result = excluded.result",
        )
        .bind(hash)
        .bind(kind)
        .bind(json)
        .bind(skypod_protocol::unix_now())
        .execute(&self.pool)
        .await
        .map_err(|e| self.failed(e))?;
        Ok(())
    }

    async fn claim(
        &self,
        key: &str,
        wait: Duration,
    ) -> skypod_feeds::Result<Option<Box<dyn AnalysisClaim>>> {
        self.check()?;
        let mut tx = self.pool.begin().await.map_err(|e| self.failed(e))?;
        // Wait for another node's claim at most `wait` (PostgreSQL's lock_timeout covers
        // advisory locks), then compute anyway rather than hang.
        let ms = wait.as_millis().clamp(1, i32::MAX as u128);
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(format!("{ms}ms"))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.failed(e))?;
        let locked = sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(ANALYSIS_LOCK_SPACE)
            .bind(key)
            .execute(&mut *tx)
            .await;
        match locked {
            Ok(_) => Ok(Some(Box::new(PgClaim(tx)))),
            // lock_not_available: the wait ran out.
            Err(sqlx::Error::Database(d)) if d.code().as_deref() == Some("55P03") => {
                tracing::warn!(
                    key,
                    "another node's analysis took too long; computing here too"
                );
                Ok(None)
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }
}
