# Sourced (from the repository root) by the benchmarks that drive release binaries:
# bench/cluster/run.sh and bench/signaling/run.sh.
# release_bench DIR: build skypod and skypod-loadgen (unless NO_BUILD is set); set BIN and
# LOADGEN (either may be given instead), raise the fd limit as far as the hard limit allows,
# and start an empty results file OUT=DIR/results/<UTC stamp>.jsonl.
release_bench() {
  local dir="$1" target stamp
  [ -n "${NO_BUILD:-}" ] || cargo build --release -p skypod -p skypod-loadgen >&2
  target="${CARGO_TARGET_DIR:-$PWD/target}"
  BIN="${BIN:-$target/release/skypod}"
  LOADGEN="${LOADGEN:-$target/release/skypod-loadgen}"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$dir/results"
  OUT="$dir/results/$stamp.jsonl"
  : >"$OUT"
}
