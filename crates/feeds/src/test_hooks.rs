//! Counts only the tests read (single-flight and once-per-body checks). With the
//! `test-hooks` feature (on in this crate's own tests) they count; in the product they are
//! zero-sized and do nothing, so no counter exists that no metric reads.

#[cfg(feature = "test-hooks")]
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct TestCounter(#[cfg(feature = "test-hooks")] AtomicU64);

impl TestCounter {
    pub(crate) fn bump(&self) {
        #[cfg(feature = "test-hooks")]
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(feature = "test-hooks")]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
