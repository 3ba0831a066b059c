#!/usr/bin/env bash
# Build and run Skypod: the realm server, feed proxy and web app on an embedded store
# (~/.local/share/skypod by default). Extra arguments go to `skypod serve`
# (see `skypod serve --help`), e.g. --listen 0.0.0.0:8080 or --data-dir /srv/skypod.
set -euo pipefail
cd "$(dirname "$0")/.."
# The release binary embeds web/dist, so the web app is built first.
(cd web && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build) >&2
# The feed proxy decodes Ogg Opus with the system libopus (found through pkg-config).
if ! pkg-config --exists opus 2>/dev/null; then
  echo "== installing libopus-dev and pkg-config (Debian)" >&2
  apt-get update -qq && apt-get install -y -qq libopus-dev pkg-config >&2
fi
cargo build --release --locked -p skypod
exec "${CARGO_TARGET_DIR:-target}/release/skypod" serve "$@"
