"""udprelaybench.py: UDP round trips to a server a forked child runs (its datagrams relayed by pid 1's stack through the shared window, docs/PROCESSES.md section 4, "UDP sockets") beside the same server run by pid 1 itself, in the same run.

    python3 tests/bench/udprelaybench.py [--rounds 3] [--count 2000] [--size 64]

Both sides are images/udpprocs: "server 7500" (a child serves) and "serve-here 7500"
(pid 1 serves), each answering every datagram with a short prefix. Both run as capsules
with the same caprun and TUN path, alternating each round. The client sends COUNT
datagrams of SIZE bytes one at a time, each after the answer to the last; it prints each
side's median round trip (microseconds) and the ratio. Prints numbers, asserts nothing.
"""
import argparse
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from caplib import Host  # noqa: E402
from relaybench import print_medians  # noqa: E402  (the same layout as the TCP figures)


def round_trip_us(addr, port, count, size):
    """The median of count request-answer round trips, in microseconds (None: answers lost)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    payload = os.urandom(size)
    took = []
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            s.sendto(payload, (addr, port))
            s.recvfrom(size + 64)
            took.append(time.perf_counter() - t0)
    except socket.timeout:
        return None
    finally:
        s.close()
    return statistics.median(took) * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    host = Host()
    times = {"pid 1": [], "a forked child": []}
    for r in range(a.rounds):
        for who, mode, ready in (("pid 1", "serve-here", r"child \d+: serving udp 7500"),
                                 ("a forked child", "server", r"child 2: serving udp 7500")):
            cap = host.capsule("udpprocs", name="udprelay%d" % r, args=[mode, "7500"]).start(app_ready=ready)
            t = round_trip_us(cap.addr, 7500, a.count, a.size)
            cap.stop()
            if t is None:
                print("  %s: answers lost" % who)
            else:
                times[who].append(t)
    print("udprelaybench: %d round trips of %d bytes, %d rounds (medians)" % (a.count, a.size, a.rounds))
    print_medians(times, "%7.1f us")


if __name__ == "__main__":
    main()
