"""test_migrate_many.py: one capsule migrates around a ring of hosts (A -> B -> C -> A ...) MIGRATIONS times (default 50) while a capsule peer and ordinary clients stream through it: every line comes back exactly once, in order, the relaying capsule's own byte counts match the client's, and each move is reported correctly; downtime median/max as diagnostics.

Topology: hosts A B C G (ids 1-4, G the gateway) + the ordinary client.
Y = echo on B; X = relayer on A (each client connection makes X open its own
connection to Y:7), so each stream crosses client<->X and X<->Y.  While X
sits on B the X<->Y connection is same-host, elsewhere host-to-host.
MIGRATIONS=N overrides the count (`make soak` runs 1000).
"""
import os
import socket
import statistics
import time

from miglib import (Sniffer, Tap, Topology, check, check_eq, migrate, relay_streams, rsts,
                    wait_listed_only_on)

COUNT = int(os.environ.get("MIGRATIONS", "50"))
RING = ("A", "B", "C")


def diag(text):
    print("# " + text, flush=True)


def ring():
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
    b = topo["B"]
    y = b.capsule("echo", name="y").start()
    x = topo["A"].capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    client_sniff = Sniffer("eth0", topo.client)
    streams = relay_streams(topo, x, y, 3, warm=100)

    downtimes, totals = [], []
    t_start = time.monotonic()
    here = 0
    for i in range(COUNT):
        src, dst = topo[RING[here]], topo[RING[(here + 1) % len(RING)]]
        sent_before = [s.sent for s in streams]
        j = migrate(topo, "x", src, dst)
        check_eq((j["to"], j["epoch"]), (dst.host_id, i + 2), "migration %d: JSON to, epoch" % (i + 1))
        downtimes.append(j["downtime_ms"])
        totals.append(j["total_ms"])
        # Progress with lines sent after the move: the streams run through the new host.
        for s, n in zip(streams, sent_before):
            s.wait_got(n + 20, 30)
        here = (here + 1) % len(RING)
        if (i + 1) % 10 == 0 or i + 1 == COUNT:
            diag("%d migrations in %.0f s; lines back %s" % (
                i + 1, time.monotonic() - t_start, [s.got for s in streams]))
            check_eq(topo.lookup(x.addr), ("x", dst.host_id, i + 2),
                     "directory entry of X after migration %d" % (i + 1))
            wait_listed_only_on(topo, "x", dst)

    for s in streams:
        n = s.finish(30)
        check_eq(s.got, n, "%s: lines back against lines sent" % s.tag)
        check(n >= 20 * COUNT, "%s: only %d lines over %d migrations" % (s.tag, n, COUNT))
    check_eq(rsts(client_sniff.snapshot()), [], "RST segments seen by the client")
    check(y.proc.poll() is None, "Y's caprun exited: %s" % y.output_text()[-300:])
    # The other end's count: closing each client's sending side ends its pair in X, which
    # prints how many bytes it moved each way (on the host it ended on, via that caphostd).
    last = topo[RING[COUNT % len(RING)]]
    where = last.daemon if COUNT else x   # after a move X runs under that host's caphostd
    for i, s in enumerate(streams, 1):
        s.sock.shutdown(socket.SHUT_WR)
        m = where.wait_for(r"relayer: pair %d closed: (\d+) bytes client->target, (\d+) bytes "
                           r"target->client" % i, 30)
        check(m is not None, "X never reported pair %d closed (on host %s)" % (i, last.name))
        want = s.sent * len(s.line(0))
        check_eq((int(m.group(1)), int(m.group(2))), (want, want),
                 "%s: bytes X moved client->Y and Y->client, against %d lines of %d bytes" % (
                     s.tag, s.sent, len(s.line(0))))
    diag("downtime ms over %d migrations: median %.0f, max %d, min %d; total ms median %.0f, "
         "max %d" % (COUNT, statistics.median(downtimes), max(downtimes), min(downtimes),
                     statistics.median(totals), max(totals)))


def main():
    tap = Tap()
    tap.run("migrate: %d migrations A -> B -> C -> A ... with 3 streams through a capsule peer "
            "and the gateway: every line exactly once, no RST" % COUNT, ring)
    tap.done()


main()
