//! The integration tests of `skypod-model`, one module per concern: a single test binary
//! (one link, not one per file).

// The freshness check of generated files, shared with skypod-protocol's tests.
#[path = "../../../protocol/tests/it/fresh.rs"]
mod fresh;

mod typescript_fresh;
