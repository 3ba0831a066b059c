#!/usr/bin/env python3
"""Generate benchmark audio: espeak-ng speech with known pauses + a -62 dBFS noise
floor, encoded as MP3 128k (10 and 30 min), AAC/M4A 128k and Ogg Vorbis.
Writes WORK/audio/*.{mp3,m4a,ogg} and WORK/audio/truth.json (ground-truth pauses >= 0.5 s)."""
import json, os, random, subprocess, sys

work = sys.argv[1]
out = os.path.join(work, "audio")
seg = os.path.join(work, "segments")
os.makedirs(out, exist_ok=True)
os.makedirs(seg, exist_ok=True)
rnd = random.Random(42)
sentences = [
    "Welcome back to the show, today we talk about feeds and caching.",
    "The proxy keeps one copy of every body, named by its hash.",
    "Silence detection finds the pauses between sentences.",
    "Readers like clean text without advertising or navigation.",
    "Every redirect is checked again before we connect.",
    "Podcasting two point oh adds transcripts, chapters and funding links.",
    "A token bucket limits how fast one member can ask.",
    "Stale copies are served when the origin is down.",
    "Thank you for listening, and see you next week.",
    "Outlines in an opml file can be nested into folders.",
]

def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def dur(path):
    return float(subprocess.check_output(["soxi", "-D", path]).decode().strip())

speech = []
for i, s in enumerate(sentences):
    raw = os.path.join(seg, f"raw{i}.wav")
    p = os.path.join(seg, f"s{i}.wav")
    run("espeak-ng", "-v", "en", "-s", "165", "-w", raw, s)
    run("sox", raw, "-r", "44100", "-c", "2", p, "silence", "1", "0.01", "-45d", "reverse", "silence", "1", "0.01", "-45d", "reverse")
    speech.append((p, dur(p)))
gaps = {}
def gap(seconds):
    key = f"{seconds:.2f}"
    if key not in gaps:
        p = os.path.join(seg, f"g{key}.wav")
        run("sox", "-n", "-r", "44100", "-c", "2", p, "trim", "0", key)
        gaps[key] = (p, float(key))
    return gaps[key]

def build(name, minutes):
    parts, truth, t = [], [], 0.0
    while t < minutes * 60:
        p, d = speech[rnd.randrange(len(speech))]
        parts.append(p); t += d
        g = rnd.choice([0.15, 0.25, 0.3, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0])
        gp, gd = gap(g)
        parts.append(gp)
        if gd >= 0.5:
            truth.append([round(t, 3), round(t + gd, 3)])
        t += gd
    listfile = os.path.join(seg, f"{name}.txt")
    clean = os.path.join(seg, f"{name}-clean.wav")
    # sox with many inputs: concatenate in one go
    run("sox", *parts, clean)
    total = dur(clean)
    noise = os.path.join(seg, f"{name}-noise.wav")
    run("sox", "-n", "-r", "44100", "-c", "2", noise, "synth", f"{total}", "whitenoise", "vol", "0.0008")
    mixed = os.path.join(seg, f"{name}.wav")
    run("sox", "-m", "-v", "1", clean, "-v", "1", noise, mixed)
    return mixed, truth, total

files = {}
w10, t10, d10 = build("talk10", 10)
run("ffmpeg", "-y", "-i", w10, "-c:a", "libmp3lame", "-b:a", "128k", os.path.join(out, "talk-10min-128k.mp3"))
run("ffmpeg", "-y", "-i", w10, "-c:a", "aac", "-b:a", "128k", os.path.join(out, "talk-10min-128k.m4a"))
run("ffmpeg", "-y", "-i", w10, "-c:a", "libvorbis", "-q:a", "4", os.path.join(out, "talk-10min.ogg"))
for ext in ["talk-10min-128k.mp3", "talk-10min-128k.m4a", "talk-10min.ogg"]:
    files[ext] = {"duration": d10, "silences": t10}
w30, t30, d30 = build("talk30", 30)
run("ffmpeg", "-y", "-i", w30, "-c:a", "libmp3lame", "-b:a", "128k", os.path.join(out, "talk-30min-128k.mp3"))
files["talk-30min-128k.mp3"] = {"duration": d30, "silences": t30}
json.dump(files, open(os.path.join(out, "truth.json"), "w"))
print(f"audio ready: {len(files)} files")
