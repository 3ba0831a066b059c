#!/usr/bin/env bash
# End-to-end tests of the web app, from a fresh clone:
#   npm ci, Debian chromium (installed when /usr/bin/chromium is absent), the release `skypod`
#   binary (built when absent; SKYPOD_REBUILD=1 forces `cargo build`), `npm run build`, then
#   node's test runner over every web/e2e/*.test.mjs (playwright-core driving /usr/bin/chromium,
#   headless).
#   The app is built with VITE_E2E=1 (the `skypodDebug` test hook) and the skypod binary with
#   the `test-hooks` feature (`serve --proxy-allow-for-tests`); on exit web/dist is rebuilt
#   without the hook, so nothing test-only is left for a release build to embed.
# Screenshots go to the ignored web/e2e/screenshots/ (E2E_SCREENSHOTS=0 to skip); the committed
# docs/screenshots/ are refreshed only on request: E2E_UPDATE_SCREENSHOTS=1. Timings go to
# web/e2e/last-metrics.json (ignored; merged from each file's web/e2e/metrics/*.json). A test
# run changes no tracked file.
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
  (cd "$root" && cargo build --release -p skypod --features test-hooks)
fi
export SKYPOD_BIN="$bin"

VITE_E2E=1 npm run build
trap 'npm run build >/dev/null 2>&1 || echo "e2e: rebuilding web/dist without the test hook failed" >&2' EXIT
# Every e2e/*.test.mjs, two files at a time (E2E_CONCURRENCY): each file has its own servers on
# free ports, its own data directories and its own metrics file. Longest first, so that the two
# lanes end together (their durations: docs/benchmarks.md, "The test command's wall time").
# E2E_ONLY=player runs e2e/player.test.mjs alone.
files=()
for name in listening views library player e2e gpodder scan csp; do
  if [ -f "e2e/$name.test.mjs" ]; then files+=("e2e/$name.test.mjs"); fi
done
for f in e2e/*.test.mjs; do
  case " ${files[*]} " in *" $f "*) ;; *) files+=("$f") ;; esac
done
if [ -n "${E2E_ONLY:-}" ]; then files=("e2e/${E2E_ONLY}.test.mjs"); fi
rm -rf e2e/metrics e2e/last-metrics.json
node --test --test-concurrency="${E2E_CONCURRENCY:-2}" "${files[@]}"
