#!/usr/bin/env bash
# Reproduce the library sync benchmark (docs/benchmarks-library.md).
# Options through the environment: LIB_FEEDS (1000), LIB_PLAYS (100000), LIB_DEVICES (4),
# LIB_RUNS (3), LIB_DETAIL=1 for per-message timings and sync message anatomy.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# --no-default-features: the benchmark does not need OPML, so the feed proxy
# (skypod-feeds) is not compiled in release mode.
exec cargo bench -p skypod-library --no-default-features --bench sync "$@"
