#!/usr/bin/env bash
# Build and run Skypod: the realm server, feed proxy and web app on an embedded store
# (~/.local/share/skypod by default). Extra arguments go to `skypod serve`
# (see `skypod serve --help`), e.g. --listen 0.0.0.0:8080 or --data-dir /srv/skypod.
set -euo pipefail
cd "$(dirname "$0")/.."
# The release binary embeds web/dist, so the web app is built first.
(cd web && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build) >&2
cargo build --release --locked -p skypod
exec "${CARGO_TARGET_DIR:-target}/release/skypod" serve "$@"
