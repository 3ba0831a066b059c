#!/usr/bin/env bash
# Start y-webrtc's reference signaling server (node_modules/y-webrtc/bin/server.js)
# bound to 127.0.0.1:PORT only. Prints the server PID on stdout (last line).
# Log: $LOG (default /tmp/ywebrtc-PORT.log). Stop with: kill PID
set -euo pipefail
PORT="${1:?usage: start-ywebrtc.sh PORT}"
DIR="$(cd "$(dirname "$0")" && pwd)"
LOG="${LOG:-/tmp/ywebrtc-$PORT.log}"
[ -d "$DIR/node_modules/y-webrtc" ] || (cd "$DIR" && npm ci --no-audit --no-fund >&2)
# Raise the fd limit as far as the hard limit allows (one fd per WebSocket).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "fd limit (ulimit -n): $(ulimit -n)" >&2

cd "$DIR"
PORT="$PORT" nohup node --require "$DIR/bind-loopback.cjs" \
  "$DIR/node_modules/y-webrtc/bin/server.js" >"$LOG" 2>&1 </dev/null &
PID=$!

# Wait for the listening socket, then check it is on 127.0.0.1 only.
for _ in $(seq 1 100); do
  if ss -ltnpH "sport = :$PORT" | grep -q "pid=$PID,"; then break; fi
  kill -0 "$PID" 2>/dev/null || { echo "server died, see $LOG" >&2; cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
LISTEN="$(ss -ltnpH | grep "pid=$PID," || true)"
echo "$LISTEN" >&2
if [ -z "$LISTEN" ] || echo "$LISTEN" | awk '{print $4}' | grep -vq "^127\.0\.0\.1:$PORT$"; then
  echo "ERROR: pid $PID is not listening on 127.0.0.1:$PORT only" >&2
  kill "$PID" 2>/dev/null || true
  exit 1
fi
echo "$PID"
