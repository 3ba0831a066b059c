#!/usr/bin/env bash
# Every test Skypod has, as CI runs it (.ci/run calls exactly this). On a fresh machine it
# installs what the tests need first: npm packages (web/), and Debian's chromium for the
# browser end-to-end tests (web/scripts/e2e.sh does that when /usr/bin/chromium is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

echo "== web app: install, lint, unit tests, build" >&2
(cd web && npm ci --no-audit --no-fund && npm run lint && npm test && npm run build)

echo "== rust: formatting, lints" >&2
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== rust: tests" >&2
# The gpodder bridge is driven by gPodder's own API client (crates/gpodder/tests/mygpoclient.rs).
if ! python3 -c 'import mygpoclient' 2>/dev/null; then
  python3 -m pip install --quiet 'mygpoclient==1.10'
fi
cargo test --workspace --locked

echo "== browser end-to-end (Debian chromium + playwright-core), app served by skypod" >&2
# The debug binary `cargo test` just built serves web/dist from disk: no second (release) build.
cargo build --locked -p skypod
E2E_SAME_ORIGIN=1 SKYPOD_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/skypod" bash web/scripts/e2e.sh
