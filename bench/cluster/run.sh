#!/usr/bin/env bash
# Cluster benchmark: broadcast throughput and latency with members spread over 3 nodes vs all
# on one node of the same cluster vs one standalone node (SQLite, no bus), same load generator
# (`skypod bench signaling`), one run. Needs PostgreSQL on 127.0.0.1:5432 (trust) and NATS on
# 127.0.0.1:4222 (`source scripts/cluster-services.sh` starts both when they are missing).
# Results: bench/cluster/results/<stamp>.jsonl.
#
#   bench/cluster/run.sh            # 1,000 sockets, 10 realms
#   QUICK=1 bench/cluster/run.sh    # smaller smoke run
set -euo pipefail
DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$DIR/../.." && pwd)"
cd "$ROOT"
source scripts/cluster-services.sh

cargo build --release -p skypod >&2
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/skypod"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$DIR/results"
OUT="$DIR/results/$STAMP.jsonl"
: >"$OUT"
CLIENTS=1000 ROOMS=10 STEP=5 RATES="1000,2000,4000,8000,12000,16000,20000"
if [ -n "${QUICK:-}" ]; then CLIENTS=300 STEP=2 RATES="1000,4000"; fi

DB="skypod_bench_$(date +%s)"
psql -h 127.0.0.1 -U postgres -d test -qc "CREATE DATABASE $DB" >/dev/null
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done
  sleep 1
  psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
}
trap 'cleanup; skypod_stop_services' EXIT

wait_up() { for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return; sleep 0.1; done; echo "node on $1 did not start" >&2; exit 1; }

start_node() { # PORT NODE-ID -> PID
  SKYPOD_LOG=warn "$BIN" serve --listen "127.0.0.1:$1" --data-dir "$(mktemp -d)" --node-id "$2" \
    --store "postgres://postgres@127.0.0.1:5432/$DB" --bus nats://127.0.0.1:4222 \
    --bus-prefix "bench$STAMP" >"/tmp/skypod-cluster-$1.log" 2>&1 &
  echo $!
}

for i in 1 2 3; do PIDS+=("$(start_node $((18300 + i)) "n$i")"); done
for i in 1 2 3; do wait_up $((18300 + i)); done

bench() { # LABEL ARGS...
  local label=$1; shift
  echo "== $label" >&2
  "$BIN" bench signaling --target skypod --clients $CLIENTS --rooms $ROOMS --step-secs $STEP \
    --rates "$RATES" "$@" | sed "s/^{/{\"setup\":\"$label\",/" | tee -a "$OUT"
}

bench "3 nodes" --server 127.0.0.1:18301 --also 127.0.0.1:18302,127.0.0.1:18303 --server-pid "${PIDS[0]}"
bench "1 node of the cluster" --server 127.0.0.1:18301 --server-pid "${PIDS[0]}"
SKYPOD_LOG=warn "$BIN" serve --listen 127.0.0.1:18310 --data-dir "$(mktemp -d)" --durability normal \
  >/tmp/skypod-cluster-standalone.log 2>&1 &
PIDS+=("$!"); wait_up 18310
bench "standalone (SQLite, no bus)" --server 127.0.0.1:18310 --server-pid "${PIDS[3]}"
echo "results: $OUT" >&2
