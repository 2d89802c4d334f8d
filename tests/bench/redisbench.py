"""redisbench.py: Redis SET/GET rates in a capsule against the same Redis source built natively, same run (redis-benchmark, medians, ratios)."""
# Both servers are Redis 7.0.15 from Debian's source package, built by its own Makefile
# (mk/build-program.sh): with capcc as a capsule, with gcc as a plain Linux process.
# The native one listens on loopback; the capsule on its TUN.  Rounds alternate between
# the two so that a noisy neighbour on this shared machine hits both alike.
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from caplib import BUILD, Capsule, stop_all  # noqa: E402

PORT = 6379
ROUNDS = int(os.environ.get("REDIS_BENCH_ROUNDS", "3"))
REQUESTS = int(os.environ.get("REDIS_BENCH_REQUESTS", "100000"))
SERVER_ARGS = ["--protected-mode", "no", "--save", "", "--port", str(PORT)]
CASES = [("50 clients", ["-c", "50"]),
         ("50 clients, pipeline 16", ["-c", "50", "-P", "16"]),
         ("1 client", ["-c", "1"])]


def rates(addr, extra):
    p = subprocess.run(["redis-benchmark", "-h", addr, "-p", str(PORT), "-n", str(REQUESTS),
                        "-t", "set,get", "--csv"] + extra,
                       capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    out = p.stdout.decode()
    if p.returncode != 0:
        raise RuntimeError("redis-benchmark %s: exit %d: %s" % (extra, p.returncode, out[-200:]))
    return {m.group(1): float(m.group(2)) for m in re.finditer(r'^"(\w+)","([\d.]+)"', out, re.M)}


def start_native():
    exe = os.path.join(BUILD, "programs", "native", "redis-server")
    proc = subprocess.Popen([exe, "--bind", "127.0.0.1"] + SERVER_ARGS,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    for line in iter(proc.stdout.readline, b""):
        if b"Ready to accept connections" in line:
            # keep draining its log so it never blocks on a full pipe
            import threading
            threading.Thread(target=lambda: proc.stdout.read(), daemon=True).start()
            return proc
    raise RuntimeError("native redis-server exited %s before it was ready" % proc.wait())


def main():
    native = start_native()
    cap = Capsule("redis", image=os.path.join(BUILD, "programs", "cap", "redis-server"),
                  args=SERVER_ARGS, caprun_args=["--max-fds", "1100"])
    try:
        cap.start(app_ready="Ready to accept connections")
        print("\n== Redis 7.0.15: redis-benchmark -t set,get -n %d, requests/s, median of %d "
              "alternating rounds ==" % (REQUESTS, ROUNDS))
        print("%-26s %-4s %12s %12s %7s" % ("case", "op", "capsule", "native", "ratio"))
        for name, extra in CASES:
            got = {"capsule": [], "native": []}
            for _ in range(ROUNDS):
                got["native"].append(rates("127.0.0.1", extra))
                got["capsule"].append(rates(cap.addr, extra))
            for op in ("SET", "GET"):
                c = statistics.median(r[op] for r in got["capsule"])
                n = statistics.median(r[op] for r in got["native"])
                print("%-26s %-4s %12.0f %12.0f %6.2fx" % (name, op, c, n, c / n), flush=True)
    finally:
        cap.stop()
        native.terminate()
        native.wait()
        stop_all()


if __name__ == "__main__":
    main()
