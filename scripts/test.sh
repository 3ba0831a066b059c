#!/usr/bin/env bash
# Every test Skypod has, as CI runs it (.ci/run calls exactly this).
# Installs what the tests need on a fresh machine first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== formatting and lints" >&2
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests" >&2
cargo test --workspace --locked
