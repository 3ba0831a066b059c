#!/usr/bin/env bash
# Cluster benchmark (issue 13), three parts, each on a fresh 3-node cluster (one PostgreSQL
# database and one NATS subject prefix per part). Needs PostgreSQL on 127.0.0.1:5432 (trust,
# user postgres) and NATS on 127.0.0.1:4222 (`source scripts/cluster-services.sh` starts both
# when they are missing). Everything binds and connects on 127.0.0.1.
#
#  throughput  the broadcast ramp of bench/signaling (`skypod-loadgen signaling`, 1,000 sockets,
#              10 realms, 200 B) four ways in one run: members spread over 3 nodes (socket i to
#              node i mod 3, so every realm spans every node), all on one node of the cluster,
#              one standalone node (SQLite, no bus), and y-webrtc's server.
#  sockets     3 x SOCKETS_PER_NODE authenticated idle members (default 18,000 per node): one
#              load-generator process per node keeps each process under the 20,000 open-files
#              limit; each process spreads its sockets over the 3 nodes. Node RSS before/after.
#  failover    `skypod-loadgen failover`: members on node 3, observers on nodes 1 and 2, SIGKILL
#              of node 3; times to `peer-left` and to the members authenticated elsewhere.
#
#   bench/cluster/run.sh                         # all three parts
#   PARTS="failover" bench/cluster/run.sh        # some of them
#   QUICK=1 bench/cluster/run.sh                 # smaller smoke run
#   BIN=... LOADGEN=... NO_BUILD=1 bench/cluster/run.sh   # prebuilt binaries
# Results: bench/cluster/results/<stamp>.jsonl (one JSON object per line, "setup" names the row).
set -euo pipefail
DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$DIR/../.." && pwd)"
SIG="$ROOT/bench/signaling"
cd "$ROOT"
source scripts/cluster-services.sh
# shellcheck source=../release.sh
source bench/release.sh
release_bench "$DIR"
PARTS="${PARTS:-throughput sockets failover}"
CLIENTS=1000 ROOMS=10 STEP=5
RATES="${RATES:-1000,2000,4000,8000,12000,16000,20000}"
YWEBRTC_RATES="${YWEBRTC_RATES:-250,500,750,1000,1250,1500,2000}"
SOCKETS_PER_NODE="${SOCKETS_PER_NODE:-18000}" HOLD="${HOLD:-60}"
FAILOVER_MEMBERS="${FAILOVER_MEMBERS:-1000 5000}"
if [ -n "${QUICK:-}" ]; then
  CLIENTS=300 STEP=2 RATES="1000,4000" YWEBRTC_RATES="250" SOCKETS_PER_NODE=1000 HOLD=5 FAILOVER_MEMBERS=300
fi

note() { # one line of context per part: the machine's load when it started
  echo "{\"setup\":\"note\",\"part\":\"$1\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"at\":\"$(date -u +%FT%TZ)\"}" | tee -a "$OUT"
}

PIDS=() DBS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  sleep 1
  for db in "${DBS[@]:-}"; do
    [ -n "$db" ] && psql -h 127.0.0.1 -U postgres -d test -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap 'cleanup; skypod_stop_services' EXIT

wait_up() { for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return; sleep 0.1; done; echo "node on $1 did not start" >&2; exit 1; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

NODES=() # pids of the current cluster
start_cluster() { # BASE-PORT: nodes on BASE+1..BASE+3, fresh database and bus prefix (env IDLE_TIMEOUT)
  local base=$1 db="skypod_bench_$(date +%s%N | cut -c1-13)"
  psql -h 127.0.0.1 -U postgres -d test -qc "CREATE DATABASE $db" >/dev/null
  DBS+=("$db")
  NODES=()
  for i in 1 2 3; do
    SKYPOD_LOG=warn SKYPOD_IDLE_TIMEOUT="${IDLE_TIMEOUT:-90}" "$BIN" serve \
      --listen "127.0.0.1:$((base + i))" --data-dir "$(mktemp -d)" --node-id "n$i" --store "postgres://postgres@127.0.0.1:5432/$db" \
      --bus nats://127.0.0.1:4222 --bus-prefix "bench$db" \
      >"/tmp/skypod-cluster-$((base + i)).log" 2>&1 &
    NODES+=("$!") PIDS+=("$!")
  done
  for i in 1 2 3; do wait_up $((base + i)); done
  sleep 2 # heartbeats: every node has seen the others
}
stop_cluster() { for p in "${NODES[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 2; }

ramp() { # LABEL RATES ARGS...
  local label=$1 rates=$2; shift 2
  echo "== $label" >&2
  "$LOADGEN" signaling --clients $CLIENTS --rooms $ROOMS --step-secs $STEP --rates "$rates" "$@" \
    | sed -u "s/^{/{\"setup\":\"$label\",/" | tee -a "$OUT"
}

if [[ " $PARTS " == *" throughput "* ]]; then
  note throughput
  start_cluster 18300
  ramp "3 nodes" "$RATES" --target skypod --server 127.0.0.1:18301 \
    --also 127.0.0.1:18302,127.0.0.1:18303 --server-pid "${NODES[0]}"
  ramp "1 node of the cluster" "$RATES" --target skypod --server 127.0.0.1:18301 --server-pid "${NODES[0]}"
  stop_cluster
  SKYPOD_LOG=warn "$BIN" serve --listen 127.0.0.1:18310 --data-dir "$(mktemp -d)" --durability normal \
    >/tmp/skypod-cluster-standalone.log 2>&1 &
  SA=$! && PIDS+=("$SA") && wait_up 18310
  ramp "standalone (SQLite, no bus)" "$RATES" --target skypod --server 127.0.0.1:18310 --server-pid "$SA"
  kill "$SA"
  YW="$("$SIG/start-ywebrtc.sh" 18311 2>/dev/null | tail -1)" && PIDS+=("$YW")
  ramp "y-webrtc" "$YWEBRTC_RATES" --target ywebrtc --server 127.0.0.1:18311 --server-pid "$YW"
  kill "$YW"
  sleep 1
fi

if [[ " $PARTS " == *" sockets "* ]]; then
  note sockets
  # The load generator reads its sockets only once all are set up; a setup longer than the
  # 90 s idle timeout would see the first ones closed (4010), so this part raises it.
  IDLE_TIMEOUT=900 start_cluster 18320
  N=("127.0.0.1:18321" "127.0.0.1:18322" "127.0.0.1:18323")
  before=("$(rss "${NODES[0]}")" "$(rss "${NODES[1]}")" "$(rss "${NODES[2]}")")
  t0=$(date +%s.%N)
  LG=()
  for k in 0 1 2; do
    others="${N[$(((k + 1) % 3))]},${N[$(((k + 2) % 3))]}"
    "$LOADGEN" signaling --target skypod --mode idle --clients "$SOCKETS_PER_NODE" \
      --rooms $((SOCKETS_PER_NODE / 100)) --server "${N[$k]}" --also "$others" \
      --sources 4 --connect-concurrency "${CONNECT:-16}" --hold-secs "$HOLD" >"/tmp/cluster-idle-$k.out" 2>"/tmp/cluster-idle-$k.err" &
    LG+=("$!")
  done
  ready=()
  for k in 0 1 2; do
    until grep -q "sockets ready" "/tmp/cluster-idle-$k.err"; do
      kill -0 "${LG[$k]}" 2>/dev/null || { echo "load generator $k failed:" >&2; tail -5 "/tmp/cluster-idle-$k.err" >&2; exit 1; }
      sleep 0.2
    done
  done
  setup=$(echo "$(date +%s.%N) - $t0" | bc)
  sleep 2
  after=("$(rss "${NODES[0]}")" "$(rss "${NODES[1]}")" "$(rss "${NODES[2]}")")
  fds=()
  for k in 0 1 2; do fds+=("$(ls "/proc/${NODES[$k]}/fd" | wc -l)"); done
  for k in 0 1 2; do wait "${LG[$k]}"; done
  alive=0
  for k in 0 1 2; do
    a=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["alive_after_hold"])' "/tmp/cluster-idle-$k.out")
    alive=$((alive + a))
  done
  for k in 0 1 2; do
    echo "{\"setup\":\"sockets\",\"node\":\"n$((k + 1))\",\"sockets\":$SOCKETS_PER_NODE,\"rss_before_kib\":${before[$k]},\"rss_after_kib\":${after[$k]},\"open_fds\":${fds[$k]},\"kib_per_socket\":$(echo "scale=2; (${after[$k]} - ${before[$k]}) / $SOCKETS_PER_NODE" | bc)}" | tee -a "$OUT"
  done
  echo "{\"setup\":\"sockets total\",\"sockets\":$((3 * SOCKETS_PER_NODE)),\"setup_secs\":$setup,\"alive_after_hold\":$alive,\"loadgen_setup_secs\":[$(grep -ho 'ready in [0-9.]*' /tmp/cluster-idle-*.err | awk '{print $3}' | paste -sd,)]}" | tee -a "$OUT"
  stop_cluster
fi

if [[ " $PARTS " == *" failover "* ]]; then
  base=18340
  for m in $FAILOVER_MEMBERS; do
    note "failover $m"
    start_cluster $base
    "$LOADGEN" failover --survivors "127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))" \
      --victim "127.0.0.1:$((base + 3))" --victim-pid "${NODES[2]}" --members "$m" \
      --rooms $(((m + 99) / 100)) --sources 4 \
      | sed -u "s/^{/{\"setup\":\"failover\",/" | tee -a "$OUT"
    stop_cluster
    base=$((base + 10))
  done
fi
echo "results: $OUT" >&2
