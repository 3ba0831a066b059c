#!/usr/bin/env bash
# Records ffmpeg's EBU R128 measurement (ebur128 filter, true peak) of every audio
# fixture into loudness.expected.json; silence.rs's tests hold our loudness within
# ±0.5 LU (and the true peak within ±0.5 dB) of it. Needs ffmpeg.
set -euo pipefail
cd "$(dirname "$0")"
{
  echo "{"
  first=1
  for f in pauses.mp3 pauses.m4a pauses.ogg pauses-8k.mp3 pauses-8k.m4a pauses-8k.ogg pauses.opus loud-music.mp3; do
    [ -f "$f" ] || continue
    log=$(ffmpeg -hide_banner -nostats -i "$f" -af ebur128=peak=true -f null - 2>&1 | sed -n '/Summary:/,$p')
    i=$(echo "$log" | awk '/^ *I:/ {print $2; exit}')
    tp=$(echo "$log" | awk '/^ *Peak:/ {print $2; exit}')
    [ $first -eq 1 ] || echo ","
    first=0
    printf '  "%s": {"integrated_lufs": %s, "true_peak_dbtp": %s}' "$f" "$i" "$tp"
  done
  echo
  echo "}"
} > loudness.expected.json
cat loudness.expected.json
