"""test_hold_slots.py: the gateway holds at most 64 of a frozen capsule's TCP connections (HOLDFILE_CONNS); a segment of a 65th one that arrives while the capsule is on disk is queued and delivered when it runs again (counter hold_unslotted), not dropped, which cost its client a retransmission timeout.

Topology: hosts A and G (G the gateway) + the ordinary client, X = echo on A.
The client opens 65 connections to X; X is saved to disk; on the 65th the
client sends one line, which G can neither hold (no slot) nor drop; X
resumes on A and that line's echo comes back, then every connection echoes
one more line.
"""
import os

from topolib import (Tap, Topology, check_eq, daemon_stats, recv_line, snapshot, tempdir,
                     wait_counter)

CONNS = 65
NAME = "gateway hold: a segment of a connection beyond the 64 held ones is queued and delivered " \
       "at the release, not dropped"


def unslotted_queued():
    topo = Topology(hosts=("A", "G"), gateway="G").start()
    a, g = topo["A"], topo["G"]
    d = tempdir()
    x = a.capsule("echo", name="x").start()
    socks = [topo.client.connect(x.addr, 7) for _ in range(CONNS)]
    for i, s in enumerate(socks):
        s.settimeout(30)
        s.sendall(b"hello %d\n" % i)
        check_eq(recv_line(s), b"hello %d\n" % i, "echo on connection %d before the save" % i)
    before = daemon_stats(g)
    path = os.path.join(d, "x.snap")
    snapshot(a, x, path)
    wait_counter(g, "hold_in", before.get("hold_in", 0) + 1, what="G never got X's HOLD")
    last = socks[-1]
    last.sendall(b"while away\n")
    wait_counter(g, "hold_unslotted", before.get("hold_unslotted", 0) + 1,
                 what="the 65th connection's segment was not queued")
    after = daemon_stats(g)
    check_eq(after.get("hold_new_conn", 0), before.get("hold_new_conn", 0),
             "segments taken for a new connection's SYN")
    check_eq(after.get("hold_full", 0) - before.get("hold_full", 0), 1,
             "connections the hold had no slot for")
    x = a.resume(path)
    check_eq(recv_line(last), b"while away\n", "the queued line's echo after the resume")
    for i, s in enumerate(socks):
        s.sendall(b"again %d\n" % i)
        check_eq(recv_line(s), b"again %d\n" % i, "echo on connection %d after the resume" % i)
    for s in socks:
        s.close()


def main():
    tap = Tap()
    tap.run(NAME, unslotted_queued)
    tap.done()


if __name__ == "__main__":
    main()
