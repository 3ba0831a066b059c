//! The integration tests of `skypod-peer`, one module per concern: a single test binary
//! (one link, not one per file).

mod common;

mod fragments;
mod mesh;
#[cfg(unix)] // signals
mod process;
mod realm_sim;
