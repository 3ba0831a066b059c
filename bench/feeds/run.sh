#!/usr/bin/env bash
# Feed-proxy benchmarks, side by side in one run:
#   1. silence analysis (skypod-feeds, symphonia) vs `ffmpeg -af silencedetect`, one core each
#   2. reader mode (skypod-feeds, dom_smoothie) vs Mozilla Readability + jsdom
#   3. parse time of a 3,000-episode feed (criterion) and cached-hit latency
# Needs: espeak-ng sox ffmpeg python3 node npm (apt-get install espeak-ng sox ffmpeg nodejs npm).
# Usage: bench/feeds/run.sh            (from the repo root)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$here/work"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$work"
for tool in espeak-ng sox soxi ffmpeg python3 node npm taskset; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
cd "$here"
[ -d node_modules/@mozilla/readability ] || npm ci --no-audit --no-fund

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== building"
cargo build -q --release -p skypod-feeds --example silence_cli --example reader_cli --manifest-path "$root/Cargo.toml"
bin="$CARGO_TARGET_DIR/release/examples"

echo "== generating inputs"
[ -f "$work/audio/truth.json" ] || python3 gen_audio.py "$work"
[ -f "$work/pages/page00.html" ] || python3 gen_pages.py "$work" 30

echo "== silence: skypod-feeds (1 core)"
files=$(ls "$work"/audio/*.mp3 "$work"/audio/*.m4a "$work"/audio/*.ogg)
# warm the page cache, then measure
cat $files > /dev/null
# best of 3 for both tools (the machine may be shared)
REPEAT=3 taskset -c 0 "$bin/silence_cli" $files > "$work/silence-ours.jsonl"
echo "== silence: ffmpeg silencedetect (1 core, -threads 1)"
mkdir -p "$work/ffmpeg"
python3 - "$work" $files <<'PY'
import json, os, subprocess, sys, time
work, files = sys.argv[1], sys.argv[2:]
times = {}
for f in files:
    name = os.path.basename(f)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        p = subprocess.run(["taskset", "-c", "0", "ffmpeg", "-hide_banner", "-nostats", "-threads", "1", "-i", f,
                            "-af", "silencedetect=noise=-50dB:d=0.5", "-f", "null", "-"], capture_output=True, text=True)
        best = min(best, time.perf_counter() - t)
    times[name] = best
    open(os.path.join(work, "ffmpeg", name + ".log"), "w").write(p.stderr)
json.dump(times, open(os.path.join(work, "ffmpeg", "times.json"), "w"))
PY
python3 compare.py silence "$work/silence-ours.jsonl" "$work/ffmpeg" "$work/audio/truth.json" | tee "$work/silence.md"

echo "== reader: skypod-feeds vs Readability.js"
pages=$(ls "$work"/pages/*.html)
taskset -c 0 "$bin/reader_cli" 10 $pages > "$work/reader-ours.jsonl"
taskset -c 0 node readability.mjs 10 $pages > "$work/reader-theirs.jsonl"
python3 compare.py reader "$work/reader-ours.jsonl" "$work/reader-theirs.jsonl" | tee "$work/reader.md"

echo "== feed parse (criterion) + cached hits"
cargo bench -q -p skypod-feeds --bench parse --manifest-path "$root/Cargo.toml" -- --noplot 2>&1 | grep -E "time:|thrpt:|feed_3000" | tee "$work/parse.txt"
cargo bench -q -p skypod-feeds --bench cached_hits --manifest-path "$root/Cargo.toml" 2>&1 | grep cached_hits | tee "$work/cached.txt"
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== done; tables in $work/*.md"
