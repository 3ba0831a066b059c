"""Summarise a bench/signaling/run.sh results file as Markdown tables (ratios vs Skypod)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ramp import best_per, print_best, print_steps  # noqa: E402  (bench/ramp.py)

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ramp = [r for r in rows if "rate" in r]

print(f"Results file: `{sys.argv[1].split('bench/signaling/')[-1]}`\n")
print("### Broadcast throughput (1,000 sockets, 10 rooms, 200-byte payloads)\n")
print("Highest offered rate with >= 99 % delivered and p99 <= 250 ms:\n")
print("| server | broadcasts/s | deliveries/s | p50 ms | p99 ms | server RSS MiB | Skypod / this |")
print("|---|---:|---:|---:|---:|---:|---:|")
best = best_per(ramp, "target")
sk = best.get("skypod", {}).get("deliveries_per_sec")
targets = ["skypod", "skypod-baseline", "ywebrtc", "peerjs"]
print_best(
    best,
    [t for t in targets if t in best or t != "skypod-baseline"],
    lambda r: f"{sk / r['deliveries_per_sec']:.1f}x" if sk else "–",
)

print_steps(ramp, "target", "server", "\nEvery step (offered rate → delivered):\n")

print("\n### Idle sockets held\n")
print("| server | sockets | members per room | setup s | alive after hold | server KiB per socket |")
print("|---|---:|---:|---:|---:|---:|")
idle = [r for r in rows if "sockets" in r]
for r in idle:
    per = r.get("kib_per_socket")
    print(f"| {r['target']} | {r['sockets']:,} | {r.get('per_room', '')} | {r['setup_secs']:.1f} | {r['alive_after_hold']:,} | {per:.1f} |" if per else f"| {r['target']} | {r['sockets']} | | | | – |")

print("\n### One non-JSON frame\n")
print("| server | keeps serving | detail |")
print("|---|---|---|")
for r in rows:
    if "survived" in r:
        print(f"| {r['target']} | {'yes' if r['survived'] else '**no**'} | {r['detail'][:100]} |")
