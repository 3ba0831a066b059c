#!/usr/bin/env bash
# Every test Skypod has, as CI runs it (.ci/run calls exactly this). On a fresh machine it
# installs what the tests need first: npm packages (web/), and Debian's chromium for the
# browser end-to-end tests (web/scripts/e2e.sh does that when /usr/bin/chromium is missing),
# and PostgreSQL + NATS for the cluster tests (scripts/cluster-services.sh: used when they
# already run on 5432/4222, else installed from Debian and started in a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
# CI builds from a fresh clone once: incremental compilation's bookkeeping only costs time
# there (a developer's repeated runs keep it unless they set CARGO_INCREMENTAL themselves).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi

echo "== web app: install, lint, unit tests, build" >&2
(cd web && npm ci --no-audit --no-fund && npm run lint && npm test && npm run build)

# libopus for Ogg Opus silence/loudness (crates/feeds links it through pkg-config).
if ! pkg-config --exists opus 2>/dev/null; then
  echo "== installing libopus-dev and pkg-config (Debian)" >&2
  apt-get update -qq && apt-get install -y -qq libopus-dev pkg-config
fi

echo "== rust: formatting" >&2
cargo fmt --all --check

echo "== rust: build every target with clippy's lints (warnings are errors), then test" >&2
# One compile of the dependencies serves lints, tests and the browser tests' binary:
# - the workspace's own crates go through clippy-driver (scripts/rustc-with-clippy.sh), and
#   `--all-targets` builds the benches too, so every target `cargo clippy --all-targets` checks
#   is linted;
# - `skypod/test-hooks` (the feed proxy may reach the E2E tests' loopback fixture server) is on
#   for the whole build, so the `target/debug/skypod` it leaves is the one the E2E tests run.
export RUSTC_WORKSPACE_WRAPPER="$root/scripts/rustc-with-clippy.sh"
features=(--features skypod/test-hooks)
cargo test --workspace --all-targets --locked "${features[@]}" --no-run
source scripts/cluster-services.sh
# The feed parser's differential test (crates/feeds/tests/it/differential.rs) runs python feedparser, pinned.
python3 -c 'import feedparser, sys; sys.exit(feedparser.__version__ != "6.0.14")' 2>/dev/null ||
  python3 -m pip install --quiet feedparser==6.0.14
# The gpodder bridge is driven by gPodder's own API client (crates/gpodder/tests/it/mygpoclient.rs).
if ! python3 -c 'import mygpoclient' 2>/dev/null; then
  python3 -m pip install --quiet 'mygpoclient==1.10'
fi
# The Rust tests and the browser tests run side by side: both mostly wait (on sockets, timers,
# a browser), each using about half of CI's two cores, so together they take little longer
# than the browser tests alone (docs/benchmarks.md, "The test command's wall time").
# The browser tests get their own session (setsid) so that stopping this script stops them,
# browser and servers included; their output is shown when both are done.
echo "== rust tests, and browser end-to-end tests beside them (Debian chromium + playwright-core)" >&2
e2e_log="$(mktemp -t skypod-e2e.XXXXXX)"
# The debug binary the test build left (with `test-hooks`) serves web/dist from disk: no
# second build.
E2E_SAME_ORIGIN=1 SKYPOD_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/skypod" \
  setsid bash web/scripts/e2e.sh >"$e2e_log" 2>&1 </dev/null &
e2e_pid=$!
# (skypod_stop_services: the cluster services' own exit trap, which this one extends.)
trap 'kill -TERM -- "-$e2e_pid" 2>/dev/null || true; skypod_stop_services' EXIT
rust_status=0
# The targets the build above left (a plain `cargo test` would also build every example a
# second time, outside test mode), then the doc-tests.
{ cargo test --workspace --locked "${features[@]}" --lib --bins --tests &&
  cargo test --workspace --locked "${features[@]}" --doc; } || rust_status=$?
e2e_status=0
wait "$e2e_pid" || e2e_status=$?
trap skypod_stop_services EXIT
echo "== browser end-to-end output (web/scripts/e2e.sh)" >&2
cat "$e2e_log"
rm -f "$e2e_log"
if [ "$rust_status" != 0 ] || [ "$e2e_status" != 0 ]; then
  echo "FAILED: rust tests exit $rust_status, browser tests exit $e2e_status" >&2
  exit 1
fi
