//! The integration tests of `skypod-library`, one module per concern: a single test binary
//! (one link, not one per file).

mod common;

mod bridged;
mod interop;
#[cfg(feature = "opml")] // OPML import/export is behind the default `opml` feature
mod library;
mod listening;
mod store;
mod sync;
