//! Where analysis results (silence maps, loudness: small JSON keyed by content hash and
//! kind) are kept, and who may compute a missing one.
//!
//! One process uses its own cache index ([`Cache`], the default). Several server nodes share
//! one store (the realm server's PostgreSQL implementation), so one node's analysis serves
//! every node, and a [`AnalysisStore::claim`] makes concurrent requests for one episode on
//! different nodes run one analysis: the first claimant decodes, the others wait for its
//! result (bounded: after the wait they decode anyway rather than hang).

use std::time::Duration;

use async_trait::async_trait;

use crate::cache::Cache;
use crate::error::Result;

/// The right to compute one analysis, held until [`AnalysisClaim::release`] (or until
/// dropped, which releases it as well, later).
#[async_trait]
pub trait AnalysisClaim: Send {
    /// Let the next waiter go (after the result was stored).
    async fn release(self: Box<Self>);
}

/// Storage of analysis results by content hash and kind, plus a single-flight guard.
#[async_trait]
pub trait AnalysisStore: Send + Sync + 'static {
    /// The stored JSON for this body and kind, if any.
    async fn get(&self, hash: &str, kind: &str) -> Result<Option<String>>;

    /// Store (or replace) the JSON for this body and kind.
    async fn put(&self, hash: &str, kind: &str, json: &str) -> Result<()>;

    /// Wait up to `wait` for the exclusive right to compute `key` among every process sharing
    /// this store. `Ok(None)`: there is nothing to share with (one process; its own requests
    /// already share one job) or the wait ran out; the caller computes anyway.
    async fn claim(&self, key: &str, wait: Duration) -> Result<Option<Box<dyn AnalysisClaim>>>;

    /// `local` or the shared backend's name (logs).
    fn kind(&self) -> &'static str;
}

#[async_trait]
impl AnalysisStore for Cache {
    async fn get(&self, hash: &str, kind: &str) -> Result<Option<String>> {
        self.analysis(hash, kind).await
    }

    async fn put(&self, hash: &str, kind: &str, json: &str) -> Result<()> {
        self.put_analysis(hash, kind, json).await
    }

    async fn claim(&self, _key: &str, _wait: Duration) -> Result<Option<Box<dyn AnalysisClaim>>> {
        Ok(None)
    }

    fn kind(&self) -> &'static str {
        "local"
    }
}
