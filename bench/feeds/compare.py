#!/usr/bin/env python3
"""Compare our results with the baselines. Usage:
compare.py silence OURS.jsonl FFMPEG_DIR TRUTH.json
compare.py reader OURS.jsonl THEIRS.jsonl"""
import difflib, json, os, re, sys

def jsonl(path):
    return [json.loads(l) for l in open(path) if l.strip()]

def parse_ffmpeg(path):
    sil, start = [], None
    for line in open(path):
        m = re.search(r"silence_start: (-?[\d.]+)", line)
        if m:
            start = max(0.0, float(m.group(1)))
        m = re.search(r"silence_end: ([\d.]+)", line)
        if m and start is not None:
            sil.append([start, float(m.group(1))]); start = None
    return sil

def matched(ref, got, tol=0.1):
    hits, used = 0, set()
    for s, e in ref:
        for j, (gs, ge) in enumerate(got):
            if j not in used and abs(gs - s) <= tol and abs(ge - e) <= tol:
                hits += 1; used.add(j); break
    return hits

def silence(ours_path, ff_dir, truth_path):
    truth = json.load(open(truth_path))
    times = json.load(open(os.path.join(ff_dir, "times.json")))
    rows = []
    tot = {"ours_wall": 0.0, "ours_cpu": 0.0, "ff_wall": 0.0, "ff_cpu": 0.0, "pcm_cpu": 0.0}
    tot_dur = 0.0
    all_ref = all_hit = 0
    for r in jsonl(ours_path):
        name = os.path.basename(r["file"])
        if "error" in r:
            print(f"| {name} | ERROR {r['error']} |"); continue
        ff = parse_ffmpeg(os.path.join(ff_dir, name + ".log"))
        t = times[name]
        hit = matched(ff, r["silences"])
        t_hit = matched(truth[name]["silences"], r["silences"])
        ff_truth = matched(truth[name]["silences"], ff)
        all_ref += len(ff); all_hit += hit
        for k in tot: tot[k] += t[k]
        d = r["duration"]; tot_dur += d
        rows.append(f"| {name} | {d:.0f} s | {t['ours_cpu']:.3f} s ({d/t['ours_cpu']:.0f}× RT) | "
                    f"{t['ff_cpu']:.3f} s ({d/t['ff_cpu']:.0f}× RT) | **{t['ff_cpu']/t['ours_cpu']:.2f}×** | "
                    f"{t['ours_wall']:.3f} s / {t['ff_wall']:.3f} s = {t['ff_wall']/t['ours_wall']:.2f}× | "
                    f"{hit}/{len(ff)} ({100*hit/max(1,len(ff)):.1f} %) | {t_hit}/{len(truth[name]['silences'])} | {ff_truth}/{len(truth[name]['silences'])} | "
                    f"{t['pcm_cpu']:.3f} s ({t['ff_cpu']/t['pcm_cpu']:.2f}×) |")
    print("| file | audio | skypod-feeds CPU | ffmpeg silencedetect CPU | CPU ratio | wall ours / ffmpeg = ratio | ffmpeg silences matched ±100 ms | ours vs ground truth | ffmpeg vs ground truth | ours decoding to PCM: CPU (ratio) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nTotal CPU: ours {tot['ours_cpu']:.3f} s, ffmpeg {tot['ff_cpu']:.3f} s, ratio {tot['ff_cpu']/tot['ours_cpu']:.2f}×; "
          f"total wall: ours {tot['ours_wall']:.3f} s, ffmpeg {tot['ff_wall']:.3f} s, ratio {tot['ff_wall']/tot['ours_wall']:.2f}×; "
          f"agreement {all_hit}/{all_ref} = {100*all_hit/max(1,all_ref):.1f} %; "
          f"ours decoding to PCM (A/B): CPU {tot['pcm_cpu']:.3f} s, ratio {tot['ff_cpu']/tot['pcm_cpu']:.2f}×")

def norm(t):
    return re.findall(r"\w+", t.lower())

def reader(ours_path, theirs_path):
    theirs = {os.path.basename(r["file"]): r for r in jsonl(theirs_path)}
    sims, ratio_ok, ours_ms, their_ms = [], 0, 0.0, 0.0
    lines = []
    for r in jsonl(ours_path):
        name = os.path.basename(r["file"])
        t = theirs.get(name)
        if not t:
            continue
        a, b = norm(r.get("text", "")), norm(t.get("text", ""))
        sim = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() if (a or b) else 1.0
        sims.append(sim); ratio_ok += sim >= 0.9
        ours_ms += r["ms"]; their_ms += t["ms"]
        lines.append(f"| {name} | {r['ms']:.2f} | {t['ms']:.2f} | {t['ms']/max(r['ms'],1e-9):.1f}× | {sim:.3f} |")
    print("| page | skypod-feeds ms | Readability+jsdom ms | speed ratio | text similarity |")
    print("|---|---|---|---|---|")
    print("\n".join(lines))
    sims.sort()
    print(f"\nPages: {len(sims)}; total ours {ours_ms:.1f} ms, Readability {their_ms:.1f} ms, speed ratio {their_ms/ours_ms:.1f}×; "
          f"similarity ≥ 0.9 on {ratio_ok}/{len(sims)} ({100*ratio_ok/max(1,len(sims)):.0f} %), median {sims[len(sims)//2]:.3f}, min {sims[0]:.3f}")

if __name__ == "__main__":
    {"silence": silence, "reader": reader}[sys.argv[1]](*sys.argv[2:])
