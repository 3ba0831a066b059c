"""The broadcast ramp of `skypod-loadgen signaling` as Markdown tables, shared by the summaries
of bench/signaling and bench/cluster (rows with a "rate", one per offered rate)."""

MIN_DELIVERY, MAX_P99 = 0.99, 250.0


def best_per(ramp, key):
    """The row with the most deliveries per second of each `key` value, among the steps with
    >= 99 % delivered and p99 <= 250 ms."""
    best = {}
    for r in ramp:
        ok = r["delivery_ratio"] >= MIN_DELIVERY and r["p99_ms"] <= MAX_P99
        if ok and r["deliveries_per_sec"] > best.get(r[key], {}).get("deliveries_per_sec", 0):
            best[r[key]] = r
    return best


def print_best(best, names, ratio):
    """One line per name of its best step; `ratio(row)` fills the last column."""
    for name in names:
        r = best.get(name)
        if not r:
            print(f"| {name} | – | – | – | – | – | – |")
            continue
        rss = (r.get("server_rss_kib") or 0) / 1024
        print(f"| {name} | {r['rate']:,} | {r['deliveries_per_sec']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {rss:.0f} | {ratio(r)} |")


def print_steps(ramp, key, title, intro):
    """Every step of the ramp, `key` naming the row in a first column called `title`."""
    print(intro)
    print(f"| {title} | offered/s | deliveries/s | delivered | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in ramp:
        print(f"| {r[key]} | {r['rate']:,} | {r['deliveries_per_sec']:,.0f} | {100 * r['delivery_ratio']:.1f} % | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
