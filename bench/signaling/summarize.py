"""Summarise a bench/signaling/run.sh results file as Markdown tables (ratios vs Skypod)."""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
MIN_DELIVERY, MAX_P99 = 0.99, 250.0

print(f"Results file: `{sys.argv[1].split('bench/signaling/')[-1]}`\n")
print("### Broadcast throughput (1,000 sockets, 10 rooms, 200-byte payloads)\n")
print("Highest offered rate with >= 99 % delivered and p99 <= 250 ms:\n")
print("| server | broadcasts/s | deliveries/s | p50 ms | p99 ms | server RSS MiB | Skypod / this |")
print("|---|---:|---:|---:|---:|---:|---:|")
best = {}
for r in rows:
    if "rate" not in r:
        continue
    ok = r["delivery_ratio"] >= MIN_DELIVERY and r["p99_ms"] <= MAX_P99
    if ok and r["deliveries_per_sec"] > best.get(r["target"], {}).get("deliveries_per_sec", 0):
        best[r["target"]] = r
sk = best.get("skypod", {}).get("deliveries_per_sec")
targets = ["skypod", "skypod-baseline", "ywebrtc", "peerjs"]
for t in [t for t in targets if t in best or t != "skypod-baseline"]:
    r = best.get(t)
    if not r:
        print(f"| {t} | – | – | – | – | – | – |")
        continue
    ratio = f"{sk / r['deliveries_per_sec']:.1f}x" if sk else "–"
    rss = (r.get("server_rss_kib") or 0) / 1024
    print(f"| {t} | {r['rate']:,} | {r['deliveries_per_sec']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {rss:.0f} | {ratio} |")

print("\nEvery step (offered rate → delivered):\n")
print("| server | offered/s | deliveries/s | delivered | p50 ms | p99 ms |")
print("|---|---:|---:|---:|---:|---:|")
for r in rows:
    if "rate" in r:
        print(f"| {r['target']} | {r['rate']:,} | {r['deliveries_per_sec']:,.0f} | {100 * r['delivery_ratio']:.1f} % | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")

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
