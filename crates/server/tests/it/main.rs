//! The integration tests of `skypod-server`, one module per concern: a single test binary
//! (one link, not one per file).

mod common;

mod hostile;
mod proxy;
mod realm;
mod stalled;
mod store;
