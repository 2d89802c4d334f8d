"""relaybench.py: a TCP connection a forked child serves (its bytes relayed by pid 1's stack through the shared window, docs/PROCESSES.md section 4) beside one pid 1 serves itself, in the same run.

    python3 tests/bench/relaybench.py [--rounds 3] [--mib 64]

The child side is images/forkserve "perconn 1" (a child per connection echoing every
byte); the baseline is images/echo (pid 1 echoes on port 7). Both run as capsules with
the same caprun and TUN path, alternating each round so a burst of load on the shared
machine hits both alike. The client sends MIB MiB while reading the echo back; it prints
each side's median MiB/s and the ratio. Prints numbers, asserts nothing.
"""
import argparse
import os
import socket
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from caplib import Host  # noqa: E402


def echo_rate(addr, port, greeting, total):
    """MiB/s of total bytes echoed on one connection (greeting: skip the child's first line)."""
    s = socket.create_connection((addr, port), timeout=60)
    if greeting:
        line = b""
        while not line.endswith(b"\n"):
            line += s.recv(1)
    block = os.urandom(1 << 20)

    def send():
        for _ in range(total >> 20):
            s.sendall(block)
    t0 = time.monotonic()
    sender = threading.Thread(target=send)
    sender.start()
    got = 0
    while got < total:
        b = s.recv(1 << 20)
        if not b:
            break
        got += len(b)
    sender.join()
    took = time.monotonic() - t0
    s.close()
    return total / took / 2**20 if got == total else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mib", type=int, default=64)
    a = ap.parse_args()
    host = Host()
    rates = {"pid 1": [], "a forked child": []}
    for r in range(a.rounds):
        for who, app, args, port, greeting, ready in (
                ("pid 1", "echo", [], 7, False, None),
                ("a forked child", "forkserve", ["perconn", "1"], 9000, True, r"forkserve: one process")):
            cap = host.capsule(app, name="relay%d" % r, args=args).start(app_ready=ready)
            rate = echo_rate(cap.addr, port, greeting, a.mib << 20)
            cap.stop()
            if rate is None:
                print("  %s: the echo ended early" % who)
            else:
                rates[who].append(rate)
    print("relaybench: echo of %d MiB on one TCP connection, %d rounds (medians)" % (a.mib, a.rounds))
    print_medians(rates, "%7.0f MiB/s")


def print_medians(values, fmt):
    """Each side's median of values ({"pid 1": [...], "a forked child": [...]}) and their ratio."""
    med = {k: statistics.median(v) for k, v in values.items() if v}
    for who, m in med.items():
        print("  served by %-15s " % who + fmt % m)
    if len(med) == 2:
        print("  ratio (child / pid 1): %.2fx" % (med["a forked child"] / med["pid 1"]))


if __name__ == "__main__":
    main()
