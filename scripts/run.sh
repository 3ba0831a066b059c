#!/usr/bin/env bash
# Build and run Skypod: the realm server on an embedded store in ~/.local/share/skypod.
# Extra arguments go to `skypod serve` (see `skypod serve --help`), e.g. --listen 0.0.0.0:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p skypod
exec ./target/release/skypod serve "$@"
