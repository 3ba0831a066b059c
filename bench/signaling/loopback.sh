# Sourced by start-peerjs.sh and start-ywebrtc.sh.

# prepare_server DIR PACKAGE: install DIR's npm packages unless PACKAGE is there, and raise the
# fd limit as far as the hard limit allows (one fd per WebSocket).
prepare_server() {
  local dir="$1" package="$2"
  [ -d "$dir/node_modules/$package" ] || (cd "$dir" && npm ci --no-audit --no-fund >&2)
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  echo "fd limit (ulimit -n): $(ulimit -n)" >&2
}

# await_loopback PID PORT LOG: wait until process PID listens on PORT, check that it listens on
# 127.0.0.1 only (otherwise stop it and fail), then print PID on stdout.
await_loopback() {
  local pid="$1" port="$2" log="$3" listen
  for _ in $(seq 1 100); do
    if ss -ltnpH "sport = :$port" | grep -q "pid=$pid,"; then break; fi
    kill -0 "$pid" 2>/dev/null || { echo "server died, see $log" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  listen="$(ss -ltnpH | grep "pid=$pid," || true)"
  echo "$listen" >&2
  if [ -z "$listen" ] || echo "$listen" | awk '{print $4}' | grep -vq "^127\.0\.0\.1:$port$"; then
    echo "ERROR: pid $pid is not listening on 127.0.0.1:$port only" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
  fi
  echo "$pid"
}
