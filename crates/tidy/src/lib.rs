//! Repository hygiene, checked by `cargo test` (rust-analyzer's `tidy.rs` is the model):
//! documents name only files that exist, each `vendor/` crate is its upstream release plus
//! its recorded diff, there is one fuzz workspace for all targets, and one integration-test
//! binary per crate (`tests/it/main.rs`). No product code.

#[cfg(test)]
mod tidy;
