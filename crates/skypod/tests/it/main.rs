//! The integration tests of `skypod`, one module per concern: a single test binary
//! (one link, not one per file).

mod common;
// Fresh PostgreSQL databases, as the server's store tests make them.
#[path = "../../../server/tests/it/common/pg.rs"]
mod pg;

mod cli;
mod cluster;
mod gpodder_bridge;
mod inbox_cli;
mod library_cli;
mod library_large;
mod library_lock;
mod library_partition;
