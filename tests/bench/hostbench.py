"""hostbench.py: round trip and echo throughput through caphostd (capsule to capsule across two hosts, a client through the gateway) beside loopback and two plain processes over the same veth link."""
import argparse
import os
import re
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import topolib  # noqa: E402
from topolib import CAPRUN, IMAGES, Capsule, Topology, stop_all  # noqa: E402

NATIVE = os.path.join(os.path.dirname(__file__), "..", "..", "build", "bench", "native")
RTT_RE = re.compile(r"pingpong: rtt_us=([\d.]+)")
MIB_RE = re.compile(r"pingpong: echo_mib_s=([\d.]+)")


def pingpong(argv, env=None, timeout=180):
    """Run one pingpong (capsule or native) to the end; (rtt us, MiB/s)."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                       timeout=timeout)
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    r, m = RTT_RE.search(out), MIB_RE.search(out)
    if p.returncode != 0 or not r or not m:
        raise RuntimeError("%s: exit %d: %s" % (os.path.basename(argv[-5]), p.returncode,
                                                " ".join(out.split())[-300:]))
    return float(r.group(1)), float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5000)
    ap.add_argument("--mib", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--caphostd", help="another caphostd binary (a before/after comparison)")
    a = ap.parse_args()
    if a.caphostd:
        topolib.CAPHOSTD = os.path.abspath(a.caphostd)
    nat_echo = os.path.join(NATIVE, "echo")
    nat_pp = os.path.join(NATIVE, "pingpong")
    args = [str(a.rounds), str(a.mib)]
    try:
        topo = Topology(hosts=("A", "B"), gateway="A").start()
        A, B, C = topo["A"], topo["B"], topo.client
        y = B.capsule("echo", name="y").start()                 # the capsule everyone talks to
        # Baselines: a native echo on host B's own address (its kernel, over the veth and the
        # bridge caphostd's wire uses too) and one on the client's loopback.
        nb = Capsule("echo", native=nat_echo, args=["7"], prefix=B.prefix).start()
        nl = Capsule("echo", native=nat_echo, args=["7"], prefix=C.prefix).start()
        paths = [
            ("capsule A -> capsule B (caphostd wire)", lambda i: pingpong(
                A.prefix + [CAPRUN, "--name", "pp%d" % i, os.path.join(IMAGES, "pingpong.cap"),
                            "--", y.addr, "7"] + args, env=A.env)),
            ("client -> gateway A -> capsule B", lambda i: pingpong(
                C.prefix + [nat_pp, y.addr, "7"] + args)),
            ("plain A -> plain B, same veth link", lambda i: pingpong(
                A.prefix + [nat_pp, B.ip, "7"] + args)),
            ("plain, Linux loopback", lambda i: pingpong(
                C.prefix + [nat_pp, "127.0.0.1", "7"] + args)),
        ]
        got = {name: [] for name, _ in paths}
        for i in range(a.repeat):   # alternating: a busy machine hits every path alike
            for name, fn in paths:
                got[name].append(fn(i))
        print("\nthrough caphostd: 64-byte round trip (median of %d, then median of %d runs) and "
              "echo throughput (%d MiB), images/pingpong as client" % (a.rounds, a.repeat, a.mib))
        print("%-40s %9s %8s %8s %10s %8s %8s" % ("path", "rtt us", "/veth", "/lo", "MiB/s",
                                                  "/veth", "/lo"))
        med = {n: (statistics.median(r for r, _ in v), statistics.median(m for _, m in v))
               for n, v in got.items()}
        veth, lo = med[paths[2][0]], med[paths[3][0]]
        for name, _ in paths:
            r, m = med[name]
            print("%-40s %9.1f %7.2fx %7.2fx %10.1f %7.2fx %7.2fx" % (
                name, r, r / veth[0], r / lo[0], m, m / veth[1], m / lo[1]))
        for h in (A, B):
            s = h.stats()
            print("  caphostd %s: up_pkts/wire counters: %s" % (h.name, " ".join(
                "%s=%d" % (k, v) for k, v in sorted(s.items())
                if k in ("up_pkts_in", "up_pkts_out", "data_in", "data_out", "wire_ok") and v)))
        for c in (nb, nl):
            c.stop()
    except Exception as e:   # benchmarks never gate: say what broke
        print("hostbench failed: %s" % " ".join(str(e).split())[:400])
    finally:
        stop_all()


if __name__ == "__main__":
    main()
