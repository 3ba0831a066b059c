#!/usr/bin/env bash
# Start the PeerJS server (npm `peer`, node_modules/peer/dist/bin/peerjs.js)
# bound to 127.0.0.1:PORT only. Prints the server PID on stdout (last line).
# WebSocket URL: ws://127.0.0.1:PORT/peerjs?key=peerjs&id=<ID>&token=<TOKEN>
# Env: CONCURRENT_LIMIT (default 60000), ALIVE_TIMEOUT ms (default 60000, the
#      CLI default), EXPIRE_TIMEOUT ms (default 5000), LOG (default /tmp/peerjs-PORT.log)
# Extra args after PORT are passed to peerjs. Stop with: kill PID
set -euo pipefail
PORT="${1:?usage: start-peerjs.sh PORT [extra peerjs args]}"; shift
DIR="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=loopback.sh
source "$DIR/loopback.sh"
LOG="${LOG:-/tmp/peerjs-$PORT.log}"
prepare_server "$DIR" peer

cd "$DIR"
# --host 127.0.0.1 is honoured by peerjs itself; the preload is a second guard.
nohup node --require "$DIR/bind-loopback.cjs" "$DIR/node_modules/peer/dist/bin/peerjs.js" \
  --host 127.0.0.1 --port "$PORT" \
  --concurrent_limit "${CONCURRENT_LIMIT:-60000}" \
  --alive_timeout "${ALIVE_TIMEOUT:-60000}" \
  --expire_timeout "${EXPIRE_TIMEOUT:-5000}" \
  "$@" >"$LOG" 2>&1 </dev/null &

# Wait for the listening socket, then check it is on 127.0.0.1 only.
await_loopback $! "$PORT" "$LOG"
