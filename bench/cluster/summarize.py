"""Summarise a bench/cluster/run.sh results file as Markdown tables (docs/benchmarks.md "Cluster")."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ramp import best_per, print_best, print_steps  # noqa: E402  (bench/ramp.py)

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"Results file: `{sys.argv[1].split('bench/cluster/')[-1]}`\n")
for r in rows:
    if r.get("setup") == "note":
        print(f"- {r['part']}: started {r['at']}, load average {r['loadavg']}")

ramp = [r for r in rows if "rate" in r]
if ramp:
    labels = list(dict.fromkeys(r["setup"] for r in ramp))
    best = best_per(ramp, "setup")
    ref = best.get("3 nodes", {}).get("deliveries_per_sec")
    print("\nHighest offered rate with >= 99 % delivered and p99 <= 250 ms:\n")
    print("| setup | broadcasts/s | deliveries/s | p50 ms | p99 ms | RSS MiB (node 1) | this / 3 nodes |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print_best(best, labels, lambda r: f"{r['deliveries_per_sec'] / ref:.2f}x" if ref else "–")
    print_steps(ramp, "setup", "setup", "\nEvery step:\n")

socks = [r for r in rows if r.get("setup") == "sockets"]
if socks:
    print("\n| node | sockets | RSS before KiB | RSS after KiB | KiB per socket | open fds |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in socks:
        print(f"| {r['node']} | {r['sockets']:,} | {r['rss_before_kib']:,} | {r['rss_after_kib']:,} | {r['kib_per_socket']:.2f} | {r['open_fds']:,} |")
for r in rows:
    if r.get("setup") == "sockets total":
        print(f"\nTotal {r['sockets']:,} sockets, set up in {r['setup_secs']:.1f} s (per load generator: {r['loadgen_setup_secs']}), alive after the hold: {r['alive_after_hold']:,}")

fo = [r for r in rows if r.get("setup") == "failover"]
if fo:
    def q(x, k):
        v = x.get(k)
        return "–" if v is None else f"{v:,.0f}"
    print("\n| members on the killed node | ghosts | peer-left of ghosts: first / p50 / p99 / last ms | reconnecting | authenticated elsewhere: p50 / p99 / last ms | peer-joined seen again: p99 / last ms | peer-left (replaced): p99 ms | attempts / failed |")
    print("|---:|---:|---|---:|---|---|---|---|")
    for r in fo:
        g, a, j, l = r["ghost_peer_left"], r["reauthenticated"], r["rejoined_seen"], r["reconnecting_peer_left"]
        print(f"| {r['victim_members']:,} | {r['ghosts']} | {q(g,'first_ms')} / {q(g,'p50_ms')} / {q(g,'p99_ms')} / {q(g,'last_ms')} | {r['reconnecting']:,} | {q(a,'p50_ms')} / {q(a,'p99_ms')} / {q(a,'last_ms')} | {q(j,'p99_ms')} / {q(j,'last_ms')} | {q(l,'p99_ms')} | {r['reconnect_attempts']:,} / {r['reconnect_failures']:,} |")
