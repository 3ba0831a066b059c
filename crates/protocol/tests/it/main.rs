//! The integration tests of `skypod-protocol`, one module per concern: a single test binary
//! (one link, not one per file).

mod fresh;

mod asyncapi_fresh;
mod batch_vectors;
mod fragment_vectors;
mod golden_vectors;
mod mutations;
mod typescript_fresh;
