#!/usr/bin/env bash
# Regenerates the committed audio fixtures (needs espeak-ng, sox, ffmpeg).
# speech "one" + 1.0 s silence + "two" + 2.0 s silence + "three"; expected
# silence intervals are computed from the trimmed segment lengths.
set -euo pipefail
out="${1:-$(dirname "$0")}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
i=0
for w in "one" "two" "three"; do
  espeak-ng -v en -s 150 -w "$tmp/raw$i.wav" "$w"
  # trim leading/trailing quiet, resample to 44.1 kHz mono
  sox "$tmp/raw$i.wav" -r 44100 -c 1 "$tmp/seg$i.wav" silence 1 0.01 -45d reverse silence 1 0.01 -45d reverse
  i=$((i+1))
done
sox -n -r 44100 -c 1 "$tmp/gap1.wav" trim 0 1.0
sox -n -r 44100 -c 1 "$tmp/gap2.wav" trim 0 2.0
sox "$tmp/seg0.wav" "$tmp/gap1.wav" "$tmp/seg1.wav" "$tmp/gap2.wav" "$tmp/seg2.wav" "$tmp/speech.wav"
d0=$(soxi -D "$tmp/seg0.wav"); d1=$(soxi -D "$tmp/seg1.wav"); d2=$(soxi -D "$tmp/seg2.wav")
ffmpeg -loglevel error -y -i "$tmp/speech.wav" -c:a libmp3lame -b:a 64k "$out/pauses.mp3"
ffmpeg -loglevel error -y -i "$tmp/speech.wav" -c:a aac -b:a 64k "$out/pauses.m4a"
ffmpeg -loglevel error -y -i "$tmp/speech.wav" -c:a libvorbis -q:a 2 "$out/pauses.ogg" 2>/dev/null || true
# 8 kHz (MPEG-2.5 layer 3; AAC-LC; Vorbis): long granules/frames in seconds, where the power path's
# lead over the PCM matters most
ffmpeg -loglevel error -y -i "$tmp/speech.wav" -ar 8000 -c:a libmp3lame -b:a 16k "$out/pauses-8k.mp3"
ffmpeg -loglevel error -y -i "$tmp/speech.wav" -ar 8000 -c:a aac -b:a 16k "$out/pauses-8k.m4a"
ffmpeg -loglevel error -y -i "$tmp/speech.wav" -ar 8000 -c:a libvorbis -q:a 2 "$out/pauses-8k.ogg" 2>/dev/null || true
python3 - "$d0" "$d1" "$d2" > "$out/pauses.expected.json" <<'PY'
import json, sys
d0, d1, d2 = map(float, sys.argv[1:])
s1 = [d0, d0 + 1.0]
s2 = [d0 + 1.0 + d1, d0 + 1.0 + d1 + 2.0]
print(json.dumps({"duration": d0 + 1.0 + d1 + 2.0 + d2, "silences": [s1, s2]}))
PY
# truncated copy: first 40 % of the MP3
size=$(stat -c %s "$out/pauses.mp3")
head -c $((size * 4 / 10)) "$out/pauses.mp3" > "$out/pauses-truncated.mp3"
# Ogg Opus of the same speech (48 kHz inside, as every Opus stream).
ffmpeg -loglevel error -y -i "$out/pauses.mp3" -c:a libopus -b:a 32k "$out/pauses.opus"
# The same Opus in WebM (Matroska), as some hosts publish it.
ffmpeg -loglevel error -y -i "$out/pauses.mp3" -c:a libopus -b:a 32k "$out/pauses.webm"
# Stereo tone + pink noise at a higher level: a second loudness point (loudness.sh records ffmpeg's).
ffmpeg -loglevel error -y -f lavfi -i "sine=frequency=220:duration=5" -f lavfi -i "anoisesrc=d=5:c=pink:a=0.3" \
  -filter_complex "[0][1]amix=inputs=2:weights=1 0.6,volume=2.5,aformat=channel_layouts=stereo" \
  -ar 44100 -c:a libmp3lame -b:a 96k "$out/loud-music.mp3"
"$(dirname "$0")/loudness.sh"
