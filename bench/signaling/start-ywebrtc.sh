#!/usr/bin/env bash
# Start y-webrtc's reference signaling server (node_modules/y-webrtc/bin/server.js)
# bound to 127.0.0.1:PORT only. Prints the server PID on stdout (last line).
# Log: $LOG (default /tmp/ywebrtc-PORT.log). Stop with: kill PID
set -euo pipefail
PORT="${1:?usage: start-ywebrtc.sh PORT}"
DIR="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=loopback.sh
source "$DIR/loopback.sh"
LOG="${LOG:-/tmp/ywebrtc-$PORT.log}"
prepare_server "$DIR" y-webrtc

cd "$DIR"
PORT="$PORT" nohup node --require "$DIR/bind-loopback.cjs" \
  "$DIR/node_modules/y-webrtc/bin/server.js" >"$LOG" 2>&1 </dev/null &

# Wait for the listening socket, then check it is on 127.0.0.1 only.
await_loopback $! "$PORT" "$LOG"
