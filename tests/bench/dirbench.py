"""dirbench.py: the directory's lookups and moves per second and their latency, capdird over SQLite against capdird over a 3-member etcd cluster, same run."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import etcdlib  # noqa: E402
from test_directory import CAPDIRD, T, PyHost, ip2int  # noqa: E402

ADDR = ("127.0.0.1", 7470)
HOSTS = 8
LOOKUPS = 2000
MOVES = 300
THREADS = 4


class BenchHost(PyHost):
    """PyHost without its clock ticks: it waits for the next millisecond around every
    request, only so as not to share one with the capdir CLI, which this bench never runs;
    a counter from the start time keeps seq increasing."""
    _seq = int(time.time() * 1000) << 20

    @classmethod
    def next_seq(cls):
        cls._seq += 1
        return cls._seq

    def send(self, datagram):
        self.sock.send(datagram)


def start_capdird(store_args, keys):
    p = subprocess.Popen([CAPDIRD, "--listen", "%s:%d" % ADDR, "--keys", keys] + store_args,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    line = p.stdout.readline().decode()
    if "listening" not in line:
        raise SystemExit("dirbench: capdird did not start: %r" % line)
    return p


def timed(h, mtype, body, rid, want):
    t0 = time.perf_counter()
    _, t, reply = h.request(mtype, body, rid)
    dt = time.perf_counter() - t0
    if t != want:
        raise SystemExit("dirbench: request %d answered type %d, want %d" % (mtype, t, want))
    return dt, reply


def run(key):
    """lookups (one client, then THREADS clients) and moves; returns the figures."""
    hs = [BenchHost(i, key[i], addr=ADDR) for i in range(1, HOSTS + 1)]
    rid = [1000]

    def nrid():
        rid[0] += 1
        return rid[0]

    _, reply = timed(hs[0], T["CREATE"], struct.pack(">I64s", 0, b"bench"), nrid(), T["CREATED"])
    ip, epoch = struct.unpack(">II", reply)
    lat = [timed(hs[1], T["LOOKUP"], struct.pack(">II", ip, 0), nrid(), T["ENTRY"])[0]
           for _ in range(LOOKUPS)]
    # THREADS hosts looking up at once: throughput
    per = LOOKUPS // THREADS
    errors = []

    def worker(h, base):
        try:
            for k in range(per):
                timed(h, T["LOOKUP"], struct.pack(">II", ip, 0), base + k, T["ENTRY"])
        except BaseException as e:     # reported below
            errors.append(e)
    ts = [threading.Thread(target=worker, args=(hs[2 + i], 50000 + i * 10000))
          for i in range(THREADS)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    par = time.perf_counter() - t0
    if errors:
        raise SystemExit("dirbench: %r" % errors[0])
    # moves: the holder pushes to the other host, back and forth (each a commit)
    mlat, holder = [], 0
    for _ in range(MOVES):
        to = 1 - holder
        dt, reply = timed(hs[holder], T["MOVE"], struct.pack(">III", ip, to + 1, epoch), nrid(),
                          T["MOVED"])
        epoch = struct.unpack(">II", reply)[1]
        mlat.append(dt)
        holder = to
    for h in hs:
        h.close()
    q = lambda v, f: sorted(v)[int(len(v) * f)] * 1e6   # noqa: E731
    return {"lookup_rate": len(lat) / sum(lat), "lookup_p50": q(lat, 0.5), "lookup_p99": q(lat, 0.99),
            "lookup_par_rate": per * THREADS / par,
            "move_rate": len(mlat) / sum(mlat), "move_p50": q(mlat, 0.5), "move_p99": q(mlat, 0.99)}


def main():
    tmp = tempfile.mkdtemp(prefix="dirbench.")
    keys = os.path.join(tmp, "keys")
    key = {i: os.urandom(32) for i in range(1, HOSTS + 1)}
    with open(keys, "w") as f:
        for i, k in key.items():
            f.write("%d %s\n" % (i, k.hex()))
    res = {}
    cluster = None
    try:
        p = start_capdird(["--db", os.path.join(tmp, "dir.db")], keys)
        try:
            res["sqlite"] = run(key)
        finally:
            p.kill()
            p.wait()
        if etcdlib.available():
            cluster = etcdlib.Cluster(["127.0.0.1"] * 3)
            cluster.start()
            p = start_capdird(["--etcd", cluster.endpoints()], keys)
            try:
                res["etcd"] = run(key)
            finally:
                p.kill()
                p.wait()
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\ndirectory (capdird), python client on loopback, one request at a time unless said;"
          " etcd: 3 members on this machine")
    print("%-36s %12s %12s" % ("", "sqlite", "etcd"))
    rows = [("lookups/s, 1 client", "lookup_rate", "%12.0f"),
            ("lookups/s, %d clients" % THREADS, "lookup_par_rate", "%12.0f"),
            ("lookup latency p50 (us)", "lookup_p50", "%12.0f"),
            ("lookup latency p99 (us)", "lookup_p99", "%12.0f"),
            ("moves/s, 1 client", "move_rate", "%12.0f"),
            ("move latency p50 (us)", "move_p50", "%12.0f"),
            ("move latency p99 (us)", "move_p99", "%12.0f")]
    for name, k, fmt in rows:
        print("%-36s %s %s" % (name, fmt % res["sqlite"][k],
                               fmt % res["etcd"][k] if "etcd" in res else "%12s" % "-"))
    if "etcd" not in res:
        print("(no etcd binary: mk/deps.sh installs etcd-server)")


main()
