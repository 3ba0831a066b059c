#!/usr/bin/env bash
# End-to-end tests of the web app, from a fresh clone:
#   npm ci, Debian chromium (installed when /usr/bin/chromium is absent), the release `skypod`
#   binary (built when absent; SKYPOD_REBUILD=1 forces `cargo build`), `npm run build`, then
#   node's test runner over every web/e2e/*.test.mjs (playwright-core driving /usr/bin/chromium,
#   headless).
# Screenshots go to docs/screenshots/ (E2E_SCREENSHOTS=0 to skip); timings to web/e2e/last-metrics.json.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$here"

if [ ! -x /usr/bin/chromium ]; then
  echo "e2e: installing Debian chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

bin="${SKYPOD_BIN:-$root/target/release/skypod}"
if [ ! -x "$bin" ] || [ "${SKYPOD_REBUILD:-0}" = 1 ]; then
  (cd "$root" && cargo build --release -p skypod)
fi
export SKYPOD_BIN="$bin"

npm run build
# Every e2e/*.test.mjs, one file at a time (they share ports and the metrics file);
# E2E_ONLY=player runs e2e/player.test.mjs alone.
files=(e2e/*.test.mjs)
if [ -n "${E2E_ONLY:-}" ]; then files=("e2e/${E2E_ONLY}.test.mjs"); fi
exec node --test --test-concurrency=1 "${files[@]}"
