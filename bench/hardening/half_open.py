# Half-open connections against a realm server (the `stalled` test binary's child server, or
# any `skypod serve` given as host:port): N silent sockets and M that trickle a request head one
# byte every 100 ms; meanwhile a real client registers every 250 ms. Prints how many were cut
# at once (the HTTP-phase cap), how many by the header timeout and when, and the real
# client's register times. See docs/benchmarks.md.
import json, os, select, socket, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from stalled_sockets_lib import register  # noqa: E402

def main():
    binary, silent_n, trickle_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    d = "/tmp/hardening-halfopen-data"; os.makedirs(d, exist_ok=True)
    env = dict(os.environ, SKYPOD_TEST_CHILD_SERVER_DIR=d, RUST_LOG="off")
    # NOFILE=256 runs the server with that descriptor limit (the setting)
    prefix = ["prlimit", f"--nofile={os.environ['NOFILE']}", "--"] if os.environ.get("NOFILE") else []
    p = subprocess.Popen(prefix + [binary, "stalled::child_server", "--exact", "--nocapture", "--test-threads=1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    while "LISTENING " not in (line := p.stdout.readline()):
        pass
    host, port = line.split("LISTENING ")[1].strip().rsplit(":", 1); addr = (host, int(port))
    t0 = time.monotonic()
    socks = []
    for i in range(silent_n + trickle_n):
        s = socket.create_connection(addr); s.setblocking(False); socks.append(s)
    opened = time.monotonic() - t0
    poller = select.poll()
    by_fd = {}
    for k, s in enumerate(socks):
        poller.register(s, select.POLLIN); by_fd[s.fileno()] = k
    head = b"GET /realm HTTP/1.1\r\nHost: x\r\nX-Slow: "
    cut_at = {}
    real = []
    next_real = time.monotonic()
    i = 0
    while time.monotonic() - t0 < float(os.environ.get("HOLD_S", "14")):
        for k in range(silent_n, silent_n + trickle_n):
            if k not in cut_at:
                try: socks[k].send(head[i % len(head):i % len(head) + 1])
                except OSError:
                    cut_at[k] = time.monotonic() - t0; poller.unregister(socks[k])
        i += 1
        for fd, _ in poller.poll(100):
            k = by_fd[fd]
            try:
                if socks[k].recv(4096) == b"": cut_at[k] = time.monotonic() - t0
            except OSError: cut_at[k] = time.monotonic() - t0
            if k in cut_at: poller.unregister(fd)
        if time.monotonic() >= next_real:
            t = time.monotonic(); register(addr).close(); real.append((time.monotonic() - t) * 1e3)
            next_real += 0.25
    silent_cuts = sorted(v for k, v in cut_at.items() if k < silent_n)
    trickle_cuts = sorted(v for k, v in cut_at.items() if k >= silent_n)
    real.sort()
    print(json.dumps({
        "silent": silent_n, "trickling": trickle_n, "opened_in_s": round(opened, 2),
        "silent_cut": len(silent_cuts), "silent_cut_within_0_5s": sum(1 for v in silent_cuts if v < 0.5 + opened),
        "silent_last_cut_s": round(silent_cuts[-1], 2) if silent_cuts else None,
        "trickling_cut": len(trickle_cuts), "trickling_last_cut_s": round(trickle_cuts[-1], 2) if trickle_cuts else None,
        "still_open": silent_n + trickle_n - len(cut_at),
        "real_registers": len(real), "real_p50_ms": round(real[len(real) // 2], 1), "real_max_ms": round(real[-1], 1),
    }))
    p.stdin.close(); p.wait(timeout=20)

main()
