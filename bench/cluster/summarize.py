"""Summarise a bench/cluster/run.sh results file as Markdown tables (docs/benchmarks.md "Cluster")."""
import json
import sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
MIN_DELIVERY, MAX_P99 = 0.99, 250.0
print(f"Results file: `{sys.argv[1].split('bench/cluster/')[-1]}`\n")
for r in rows:
    if r.get("setup") == "note":
        print(f"- {r['part']}: started {r['at']}, load average {r['loadavg']}")

ramp = [r for r in rows if "rate" in r]
if ramp:
    labels = list(dict.fromkeys(r["setup"] for r in ramp))
    best = {}
    for r in ramp:
        ok = r["delivery_ratio"] >= MIN_DELIVERY and r["p99_ms"] <= MAX_P99
        if ok and r["deliveries_per_sec"] > best.get(r["setup"], {}).get("deliveries_per_sec", 0):
            best[r["setup"]] = r
    ref = best.get("3 nodes", {}).get("deliveries_per_sec")
    print("\nHighest offered rate with >= 99 % delivered and p99 <= 250 ms:\n")
    print("| setup | broadcasts/s | deliveries/s | p50 ms | p99 ms | RSS MiB (node 1) | this / 3 nodes |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for l in labels:
        r = best.get(l)
        if not r:
            print(f"| {l} | – | – | – | – | – | – |")
            continue
        ratio = f"{r['deliveries_per_sec'] / ref:.2f}x" if ref else "–"
        rss = (r.get("server_rss_kib") or 0) / 1024
        print(f"| {l} | {r['rate']:,} | {r['deliveries_per_sec']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {rss:.0f} | {ratio} |")
    print("\nEvery step:\n")
    print("| setup | offered/s | deliveries/s | delivered | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in ramp:
        print(f"| {r['setup']} | {r['rate']:,} | {r['deliveries_per_sec']:,.0f} | {100 * r['delivery_ratio']:.1f} % | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")

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
