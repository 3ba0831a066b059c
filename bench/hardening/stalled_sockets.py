# 1,000 sockets stalled mid-frame: each registers a realm, then sends half of a 60,000-byte
# text frame and stops; prints the server's resident memory (from /proc) before, with the
# sockets authenticated, and with all of them stalled. See docs/benchmarks.md.
import json, os, subprocess, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from stalled_sockets_lib import frame, register  # noqa: E402

def rss(pid):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])

binary, n = sys.argv[1], int(sys.argv[2])
d = "/tmp/hardening-stall-data"; os.makedirs(d, exist_ok=True)
env = dict(os.environ, SKYPOD_TEST_CHILD_SERVER_DIR=d, RUST_LOG="off")
p = subprocess.Popen([binary, "stalled::child_server", "--exact", "--nocapture", "--test-threads=1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
while True:
    line = p.stdout.readline()
    if "LISTENING " in line: break
host, port = line.split("LISTENING ")[1].strip().rsplit(":", 1); addr = (host, int(port))
for _ in range(20): register(addr).close()
time.sleep(0.5); before = rss(p.pid)
socks = [register(addr) for _ in range(n)]
time.sleep(0.5); authed = rss(p.pid)
half = frame(b"x" * 60000)[: 8 + 30000]
for s in socks: s.sendall(half)
time.sleep(2); stalled = rss(p.pid)
print(json.dumps({"sockets": n, "rss_before_kib": before, "rss_authenticated_kib": authed, "rss_stalled_kib": stalled,
                  "cost_kib": stalled - before, "per_socket_kib": round((stalled - before) / n, 1)}))
p.stdin.close(); p.wait(timeout=20)
