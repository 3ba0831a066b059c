//! The integration tests of `skypod-model`, one module per concern: a single test binary
//! (one link, not one per file).

mod typescript_fresh;
