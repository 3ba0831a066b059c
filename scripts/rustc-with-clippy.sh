#!/usr/bin/env bash
# Cargo's RUSTC_WORKSPACE_WRAPPER in scripts/test.sh: every workspace crate is compiled by
# clippy-driver (rustc with clippy's lints) with every warning an error, so the test build is
# also the lint pass. `cargo clippy` would compile every dependency a second time, in check
# mode, for the same lints. Cargo calls it as `wrapper /path/to/rustc ARGS…`; dependencies
# are not workspace members and keep plain rustc.
exec clippy-driver "$@" -D warnings
