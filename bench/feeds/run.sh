#!/usr/bin/env bash
# Feed-proxy benchmarks, side by side in one run:
#   1. silence analysis (skypod-feeds, symphonia) vs `ffmpeg -af silencedetect`, one core each
#   2. reader mode (skypod-feeds, dom_smoothie) vs Mozilla Readability + jsdom
#   3. parse time of a 3,000-episode feed (criterion) and cached-hit latency
# Needs: espeak-ng sox ffmpeg python3 node npm (apt-get install espeak-ng sox ffmpeg nodejs npm).
# Usage: bench/feeds/run.sh [silence|reader|feeds]...   (from the repo root; no argument = all)
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
want() { [ -z "$sections" ] || [[ " $sections " == *" $1 "* ]]; }
sections="$*"
[ -d node_modules/@mozilla/readability ] || npm ci --no-audit --no-fund

echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== building"
# The decoders are built with codegen-units=1 (~5-8 % faster decode; see docs/benchmarks-feeds.md);
# the workspace release profile says the same, this keeps older checkouts comparable.
sym_cfg=()
for p in symphonia-bundle-mp3 symphonia-core symphonia-codec-aac symphonia-codec-vorbis symphonia-format-isomp4 symphonia-format-ogg; do
  sym_cfg+=(--config "profile.release.package.\"$p\".codegen-units=1")
done
cargo build -q --release -p skypod-feeds --example silence_cli --example reader_cli --manifest-path "$root/Cargo.toml" "${sym_cfg[@]}"
bin="$CARGO_TARGET_DIR/release/examples"

echo "== generating inputs"
[ -f "$work/audio/truth.json" ] || python3 gen_audio.py "$work"
[ -f "$work/pages/page00.html" ] || python3 gen_pages.py "$work" 30

if want silence; then
echo "== silence: skypod-feeds vs ffmpeg silencedetect (1 core each, interleaved)"
files=$(ls "$work"/audio/*.mp3 "$work"/audio/*.m4a "$work"/audio/*.ogg)
# warm the page cache, then measure
cat $files > /dev/null
taskset -c 0 "$bin/silence_cli" $files > "$work/silence-ours.jsonl"
mkdir -p "$work/ffmpeg"
# Both tools are timed the same way: one process per file pinned to core 0 (ffmpeg with
# -threads 1), process start included, runs interleaved so load bursts hit both; best of 5
# wall-clock and best of 5 CPU (user+sys, from wait4) per file.
python3 - "$work" "$bin/silence_cli" $files <<'PY'
import json, os, subprocess, sys, time
work, ours, files = sys.argv[1], sys.argv[2], sys.argv[3:]
def run(cmd):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{cmd[2]} failed: {err[-500:]}")
    return time.perf_counter() - t, ru.ru_utime + ru.ru_stime, err
times = {}
for f in files:
    name = os.path.basename(f)
    best = {"ours_wall": 1e9, "ours_cpu": 1e9, "ff_wall": 1e9, "ff_cpu": 1e9, "pcm_cpu": 1e9}
    for _ in range(5):
        w, c, _ = run(["taskset", "-c", "0", ours, f])
        best["ours_wall"] = min(best["ours_wall"], w); best["ours_cpu"] = min(best["ours_cpu"], c)
        # A/B: the same analysis on fully decoded PCM (no power mode), CPU only
        _, c, _ = run(["taskset", "-c", "0", ours, "--pcm", f])
        best["pcm_cpu"] = min(best["pcm_cpu"], c)
        w, c, log = run(["taskset", "-c", "0", "ffmpeg", "-hide_banner", "-nostats", "-threads", "1", "-i", f,
                         "-af", "silencedetect=noise=-50dB:d=0.5", "-f", "null", "-"])
        best["ff_wall"] = min(best["ff_wall"], w); best["ff_cpu"] = min(best["ff_cpu"], c)
    times[name] = best
    open(os.path.join(work, "ffmpeg", name + ".log"), "w").write(log)
json.dump(times, open(os.path.join(work, "ffmpeg", "times.json"), "w"), indent=1)
PY
python3 compare.py silence "$work/silence-ours.jsonl" "$work/ffmpeg" "$work/audio/truth.json" | tee "$work/silence.md"
fi

if want reader; then
echo "== reader: skypod-feeds vs Readability.js"
pages=$(ls "$work"/pages/*.html)
taskset -c 0 "$bin/reader_cli" 10 $pages > "$work/reader-ours.jsonl"
taskset -c 0 node readability.mjs 10 $pages > "$work/reader-theirs.jsonl"
python3 compare.py reader "$work/reader-ours.jsonl" "$work/reader-theirs.jsonl" | tee "$work/reader.md"
fi

if want feeds; then
echo "== feed parse (criterion) + cached hits"
cargo bench -q -p skypod-feeds --bench parse --manifest-path "$root/Cargo.toml" -- --noplot 2>&1 | grep -E "time:|thrpt:|feed_3000" | tee "$work/parse.txt"
cargo bench -q -p skypod-feeds --bench cached_hits --manifest-path "$root/Cargo.toml" 2>&1 | grep cached_hits | tee "$work/cached.txt"
fi
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== done; tables in $work/*.md"
