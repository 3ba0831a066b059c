#!/usr/bin/env bash
# Side-by-side signaling benchmark: Skypod's realm server vs y-webrtc's signaling server vs the
# PeerJS server, same load generator (`skypod-loadgen signaling`), same machine, one run.
# Everything binds and connects on 127.0.0.1 only. Results: bench/signaling/results/*.jsonl,
# summarised as a Markdown table on stdout (paste into docs/benchmarks.md).
#
#   bench/signaling/run.sh              # full run (~6 minutes)
#   QUICK=1 bench/signaling/run.sh      # smaller, for a smoke check
#   BIN=... LOADGEN=... NO_BUILD=1 bench/signaling/run.sh   # prebuilt binaries (no cargo, so
#                                       # no wait on another build's target-directory lock)
#   BASELINE_BIN=/path/to/older/skypod bench/signaling/run.sh   # also an older Skypod build, in
#                                       # the same run ("skypod-baseline" in the throughput
#                                       # table): did a change move Skypod's margins?
set -euo pipefail
DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$DIR/../.." && pwd)"
cd "$ROOT"
# shellcheck source=../release.sh
source bench/release.sh
release_bench "$DIR"
[ -d "$DIR/node_modules/y-webrtc" ] || (cd "$DIR" && npm ci --no-audit --no-fund >&2)

# One fd per socket on both ends: stay under the per-process limit.
FDMAX="$(ulimit -n)"
IDLE="${IDLE:-$(( FDMAX > 20000 ? 19000 : FDMAX - 1000 ))}"
CLIENTS=1000 ROOMS=10 STEP=5
SKYPOD_RATES="2000,4000,8000,12000,16000,20000,24000,28000,32000"
YWEBRTC_RATES="250,500,750,1000,1250,1500,2000,3000"
PEERJS_RATES="100,200,300,400,500,600,800,1000"
if [ -n "${QUICK:-}" ]; then
  IDLE=2000 STEP=2 SKYPOD_RATES="2000,8000" YWEBRTC_RATES="250,1000" PEERJS_RATES="100,400"
fi

PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_skypod() { # PORT -> PID
  local data; data="$(mktemp -d)"
  SKYPOD_LOG=warn "${SERVER_BIN:-$BIN}" serve --listen "127.0.0.1:$1" --data-dir "$data" --durability normal \
    >"/tmp/skypod-bench-$1.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "$pid"
}
start_baseline() { SERVER_BIN="$BASELINE_BIN" start_skypod "$1"; }
start_ywebrtc() { "$DIR/start-ywebrtc.sh" "$1" 2>/dev/null | tail -1; }
start_peerjs() { "$DIR/start-peerjs.sh" "$1" 2>/dev/null | tail -1; }

run() { # TARGET START PORT PATH-ARGS...  (LABEL=name: record the rows under another target name)
  local target=$1 start=$2 port=$3; shift 3
  local pid; pid="$($start "$port")"; PIDS+=("$pid")
  "$LOADGEN" signaling --target "$target" --server "127.0.0.1:$port" --server-pid "$pid" "$@" \
    2> >(grep -v '^\s*$' >&2) | sed "s/\"target\":\"$target\"/\"target\":\"${LABEL:-$target}\"/" | tee -a "$OUT"
  kill "$pid" 2>/dev/null || true
  sleep 1
}

echo "== throughput: $CLIENTS clients, $ROOMS rooms, 200-byte payloads" >&2
run skypod start_skypod 18100 --clients $CLIENTS --rooms $ROOMS --step-secs $STEP --rates "$SKYPOD_RATES"
if [ -n "${BASELINE_BIN:-}" ]; then
  LABEL=skypod-baseline run skypod start_baseline 18103 --clients $CLIENTS --rooms $ROOMS --step-secs $STEP --rates "$SKYPOD_RATES"
fi
run ywebrtc start_ywebrtc 18101 --clients $CLIENTS --rooms $ROOMS --step-secs $STEP --rates "$YWEBRTC_RATES"
run peerjs start_peerjs 18102 --clients $CLIENTS --rooms $ROOMS --step-secs $STEP --rates "$PEERJS_RATES"

echo "== idle sockets: $IDLE" >&2
run skypod start_skypod 18110 --mode idle --clients "$IDLE" --rooms $((IDLE / 100)) --hold-secs 5 --sources 4
run skypod start_skypod 18113 --mode idle --clients "$IDLE" --rooms $((IDLE / 5)) --hold-secs 5 --sources 4
run ywebrtc start_ywebrtc 18111 --mode idle --clients "$IDLE" --rooms $((IDLE / 100)) --hold-secs 5 --sources 4
run peerjs start_peerjs 18112 --mode idle --clients "$IDLE" --rooms $((IDLE / 100)) --hold-secs 5 --sources 4

echo "== one non-JSON frame" >&2
run skypod start_skypod 18120 --mode bad-frame --clients 2 --rooms 1
run ywebrtc start_ywebrtc 18121 --mode bad-frame --clients 2 --rooms 1
run peerjs start_peerjs 18122 --mode bad-frame --clients 2 --rooms 1

python3 "$DIR/summarize.py" "$OUT"
