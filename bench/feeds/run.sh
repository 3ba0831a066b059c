#!/usr/bin/env bash
# Feed-proxy benchmarks, side by side in one run:
#   1. silence analysis (skypod-feeds, symphonia) vs `ffmpeg -af silencedetect`, one core each
#   2. reader mode (skypod-feeds, dom_smoothie) vs Mozilla Readability + jsdom
#   3. parse time of a 3,000-episode feed (criterion) and cached-hit latency
#   4. loudness: silence + EBU R128 loudness in one pass vs `ffmpeg -af silencedetect` alone,
#      per codec (MP3, AAC, Vorbis, Opus); loudness vs ffmpeg's ebur128 filter
#   5. floor: what decoding the whole file costs (ffmpeg, mpg123, ours) next to silencedetect
#   6. media: /proxy/media throughput and RSS, 4 clients x 500 MB; image: resize time per size
# Needs: espeak-ng sox ffmpeg python3 node npm (apt-get install espeak-ng sox ffmpeg nodejs npm);
# the floor section also times mpg123 where it is installed (apt-get install mpg123).
# Usage: bench/feeds/run.sh [silence|reader|feeds|loudness|floor|media|image]...   (from the repo root; no argument = all)
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
cargo build -q --release -p skypod-feeds --features test-hooks --example silence_cli --example reader_cli \
  --example media_bench --example image_bench --manifest-path "$root/Cargo.toml" "${sym_cfg[@]}"
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

# The loudness and floor sections' inputs: the 10-min talk per codec, the 8 kHz AAC and the long
# podcast-like episode (generated once into $work/audio).
loudness_inputs() {
  [ -f "$work/audio/talk-10min.opus" ] || ffmpeg -loglevel error -y -i "$work/audio/talk-10min-128k.m4a" -c:a libopus -b:a 64k "$work/audio/talk-10min.opus"
  [ -f "$work/audio/talk-10min-8k.m4a" ] || ffmpeg -loglevel error -y -i "$work/audio/talk-10min-128k.m4a" -ar 8000 -c:a aac -b:a 24k "$work/audio/talk-10min-8k.m4a"
  # The long podcast-like episode: the 30-min talk (speech, pauses, -62 dBFS noise floor) with a
  # music bed: 30 s of music alone, then under the first 90 s of speech at -22 dB (no pauses there,
  # as in a real intro), and an outro fading in over the last 15 s of speech.
  if [ ! -f "$work/audio/talk-30min-music-128k.mp3" ]; then
    d30=$(soxi -D "$work/segments/talk30.wav")
    outro_ms=$(python3 -c "print(int((30 + $d30 - 15) * 1000))")
    ffmpeg -loglevel error -y -i "$work/segments/talk30.wav" \
      -f lavfi -i "aevalsrc=exprs='0.12*(sin(2*PI*110*pow(2\\,mod(floor(t/2)\\,4)/4)*t)+0.6*sin(2*PI*165*pow(2\\,mod(floor(t/4)\\,3)/6)*t)+0.4*sin(2*PI*330*t))*(0.7+0.3*sin(2*PI*2*t))':s=44100:c=stereo:d=3600" \
      -filter_complex "[1]asplit[m1][m2];[m1]atrim=0:120,volume='if(lt(t,30),1,0.08)':eval=frame,afade=t=out:st=112:d=8[intro];[m2]atrim=0:45,asetpts=N/SR/TB,afade=t=in:d=10,adelay=$outro_ms|$outro_ms[outro];[0]adelay=30000|30000[talk];[talk][intro][outro]amix=inputs=3:normalize=0:duration=longest[out]" \
      -map "[out]" -c:a libmp3lame -b:a 128k "$work/audio/talk-30min-music-128k.mp3"
  fi
  # The AAC streams remuxed with +faststart (`moov` first, as podcast hosts publish them): before
  # feedbench, silence_cli --loudness read a non-seekable stream and could not open ffmpeg's
  # default layout (`moov` last). Kept so runs with older binaries stay comparable.
  for m in talk-10min-128k talk-10min-8k; do
    [ -f "$work/audio/$m-faststart.m4a" ] || ffmpeg -loglevel error -y -i "$work/audio/$m.m4a" -c copy -movflags +faststart "$work/audio/$m-faststart.m4a"
  done
  files="$work/audio/talk-10min-128k.mp3 $work/audio/talk-10min-128k-faststart.m4a $work/audio/talk-10min.ogg $work/audio/talk-10min.opus $work/audio/talk-10min-8k-faststart.m4a $work/audio/talk-30min-128k.mp3 $work/audio/talk-30min-music-128k.mp3"
}

if want loudness; then
echo "== loudness: silence + loudness (one pass) vs ffmpeg silencedetect alone (1 core each, interleaved)"
loudness_inputs
cat $files > /dev/null
python3 - "$work" "$bin/silence_cli" $files <<'PY' | tee "$work/loudness.md"
import json, os, re, subprocess, sys, threading, time
work, ours, files = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, os.getcwd())
from compare import parse_ffmpeg, matched
def timed(cmd):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # stderr drained on a thread: ebur128 logs ~10 lines a second, enough to fill the pipe
    # and block ffmpeg while stdout is read (communicate() would reap the child before wait4)
    errbuf = []
    th = threading.Thread(target=lambda: errbuf.append(p.stderr.read())); th.start()
    out = p.stdout.read(); th.join(); err = errbuf[0]
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd} failed: {err[-500:]}")
    return ru.ru_utime + ru.ru_stime, out, err
def tp_packets(m):
    # spectral codecs: packets decoded to PCM for the true peak (warm-up included) / all packets
    pcm, total = m.get("true_peak_pcm_packets", [0, 0])
    return f"{pcm}/{total} ({100*pcm/total:.0f} %)" if total else "all (PCM path)"
print("| file | audio | ours: silence only CPU | ours: silence + loudness CPU | ffmpeg silencedetect CPU | ratio (silencedetect / ours with loudness) | ffmpeg silences matched ±100 ms | integrated: ours / ffmpeg ebur128 | true peak: ours / ffmpeg | packets decoded to PCM for the true peak |")
print("|---|---|---|---|---|---|---|---|---|---|")
tot = {"s": 0.0, "sl": 0.0, "ff": 0.0}
all_ref = all_hit = 0
for f in files:
    name = os.path.basename(f)
    best = {"s": 1e9, "sl": 1e9, "ff": 1e9}
    for _ in range(3):
        c, _, _ = timed(["taskset", "-c", "0", ours, f]); best["s"] = min(best["s"], c)
        c, out, _ = timed(["taskset", "-c", "0", ours, "--loudness", f]); best["sl"] = min(best["sl"], c); mine = json.loads(out)
        c, _, log = timed(["taskset", "-c", "0", "ffmpeg", "-hide_banner", "-nostats", "-threads", "1", "-i", f,
                           "-af", "silencedetect=noise=-50dB:d=0.5", "-f", "null", "-"]); best["ff"] = min(best["ff"], c)
    open(os.path.join(work, name + ".silencedetect.log"), "w").write(log)
    ff = parse_ffmpeg(os.path.join(work, name + ".silencedetect.log"))
    _, _, eb = timed(["ffmpeg", "-hide_banner", "-nostats", "-i", f, "-af", "ebur128=peak=true", "-f", "null", "-"])
    summary = eb[eb.rfind("Summary:"):]
    fi = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    ftp = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    if "error" in mine: sys.exit(f"{name}: {mine['error']}")
    hit = matched(ff, mine["silences"]); all_ref += len(ff); all_hit += hit
    for k in tot: tot[k] += best[k]
    l = mine["loudness"]
    print(f"| {name} | {mine['duration']:.0f} s | {best['s']:.3f} s | {best['sl']:.3f} s | {best['ff']:.3f} s | **{best['ff']/best['sl']:.2f}×** | "
          f"{hit}/{len(ff)} ({100*hit/max(1,len(ff)):.1f} %) | {l['integrated_lufs']:.2f} / {fi:.1f} LUFS | {l['true_peak_dbtp']:.2f} / {ftp:.1f} | {tp_packets(mine)} |")
print(f"\nTotal CPU: silence only {tot['s']:.3f} s, silence + loudness {tot['sl']:.3f} s, ffmpeg silencedetect {tot['ff']:.3f} s; "
      f"ratio with loudness {tot['ff']/tot['sl']:.2f}×, without {tot['ff']/tot['s']:.2f}×; agreement {all_hit}/{all_ref} = {100*all_hit/max(1,all_ref):.1f} %")
PY
fi

if want floor; then
echo "== floor: what a full decode costs, next to ffmpeg silencedetect (1 core each, interleaved)"
# An exact true peak needs the PCM of every packet that could hold it. This table shows what
# decoding the whole file costs with the fastest decoders here, against the anchor: the best
# ratio any analysis that decodes (nearly) everything can reach, whatever it does after.
loudness_inputs
cat $files > /dev/null
python3 - "$bin/silence_cli" $files <<'PY' | tee "$work/floor.md"
import os, shutil, subprocess, sys
ours, files = sys.argv[1], sys.argv[2:]
def cpu(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd} failed")
    return ru.ru_utime + ru.ru_stime
ff = ["taskset", "-c", "0", "ffmpeg", "-hide_banner", "-nostats", "-threads", "1"]
mpg123 = shutil.which("mpg123")
print("| file | ffmpeg silencedetect CPU | ffmpeg decode only CPU | mpg123 -t CPU (MP3) | ours: decode to PCM + silence CPU | ours: silence only (spectral) CPU | fastest full decode / silencedetect | packets a 3× budget leaves for PCM at that speed |")
print("|---|---|---|---|---|---|---|---|")
for f in files:
    name = os.path.basename(f)
    b = {}
    for _ in range(3):
        for k, cmd in [("sd", ff + ["-i", f, "-af", "silencedetect=noise=-50dB:d=0.5", "-f", "null", "-"]),
                       ("dec", ff + ["-i", f, "-map", "0:a", "-c:a", "pcm_f32le", "-f", "null", "-"]),
                       ("pcm", ["taskset", "-c", "0", ours, "--pcm", f]),
                       ("s", ["taskset", "-c", "0", ours, f])] + (
                      [("mpg", ["taskset", "-c", "0", mpg123, "-q", "-t", f])] if mpg123 and f.endswith(".mp3") else []):
            b[k] = min(b.get(k, 1e9), cpu(cmd))
    fastest = min(v for k, v in b.items() if k in ("dec", "pcm", "mpg"))
    budget = b["sd"] / 3 - b["s"]
    share = max(0.0, budget) / fastest
    mp = f"{b['mpg']:.3f} s" if "mpg" in b else "–"
    print(f"| {name} | {b['sd']:.3f} s | {b['dec']:.3f} s | {mp} | {b['pcm']:.3f} s | {b['s']:.3f} s | {fastest / b['sd']:.2f} | {100 * share:.0f} % |")
PY
fi

if want media; then
echo "== media: /proxy/media, 4 clients x 500 MB (origin, proxy and clients in one process)"
"$bin/media_bench" 500 4 | tee "$work/media.jsonl"
"$bin/media_bench" 500 1 | tee -a "$work/media.jsonl"
fi

if want image; then
echo "== image: resize time per size (one thread, best of 5)"
taskset -c 0 "$bin/image_bench" 5 | tee "$work/image.jsonl"
fi

if want feeds; then
echo "== feed parse (criterion) + cached hits"
cargo bench -q -p skypod-feeds --bench parse --manifest-path "$root/Cargo.toml" -- --noplot 2>&1 | grep -E "time:|thrpt:|feed_" | tee "$work/parse.txt"
cargo bench -q -p skypod-feeds --bench cached_hits --manifest-path "$root/Cargo.toml" 2>&1 | grep -E "cached_hits|cold_miss|compress_once" | tee "$work/cached.txt"
fi
echo "== machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== done; tables in $work/*.md"
