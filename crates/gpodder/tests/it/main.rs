//! The integration tests of `skypod-gpodder`, one module per concern: a single test binary
//! (one link, not one per file).

mod common;

mod antennapod;
mod bad_input;
mod mygpoclient;
mod rules;
