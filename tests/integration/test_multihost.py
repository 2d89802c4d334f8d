"""test_multihost.py: a capsule with live TCP connections to another host's capsule and to an ordinary client moves between hosts (snapshot on A, resume on C); every byte arrives exactly once, the directory follows, host A keeps nothing.

Topology (caplib.Topology): hosts A B C G (ids 1-4, 198.19.0.1-4) on one
bridge, G the gateway for ordinary peers, a client namespace 198.19.0.100,
capdird at 198.19.0.254, one caphostd per host.  Y = echo on B; X = relayer
on A: each client connection to X:9100 makes X open its own connection to
Y:7, so one numbered-line stream from the client crosses client<->X (via the
gateway) and X<->Y (host to host), both ways, and comes back verified line
by line.
"""
import os
import stat
import time

from topolib import (Sniffer, Tap, Topology, check, check_eq, cluster_snapshot_key, daemon_ctl,
                    daemon_stats, relay_streams, rsts, snap_header, snapshot, snapshot_key_id,
                    tempdir, WIRE_DATA)

# caphostd counters (hosts/caphostd/hostd.h) that would move if host A still forwarded anything.
FORWARDING_COUNTERS = ("up_pkts_in", "up_pkts_out", "data_in", "data_out", "gw_in", "gw_out",
                       "hold_out", "flush_out", "reinjected_pkts")
NAME = "multihost: a capsule with a capsule peer and an ordinary peer moves A -> C"


def data_packets(records, host_ip, capsule_ip):
    """Wrapped DATA packets to or from host_ip whose inner packet involves capsule_ip."""
    return [r for r in records if r[3] == 17 and isinstance(r[6], tuple) and r[6][0] == WIRE_DATA
            and host_ip in (r[1], r[2]) and r[6][1] and capsule_ip in r[6][1]]


def move_with_connections():
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
    a, b, c = topo["A"], topo["B"], topo["C"]
    d = tempdir()
    y = b.capsule("echo", name="y").start()
    x = a.capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    check_eq((a.tun_devices(), b.tun_devices()), ([], []),
             "caprun's own TUN devices on hosts A and B (attached to caphostd: none)")
    check(x.addr != y.addr, "X and Y got the same address %s" % x.addr)
    check_eq(topo.lookup(y.addr), ("y", 2, 1), "directory entry of Y")
    check_eq(topo.lookup(x.addr), ("x", 1, 1), "directory entry of X before the move")

    sniff = {h: Sniffer("v-" + h) for h in ("A", "B", "C", "G")}
    client_sniff = Sniffer("eth0", topo.client)
    streams = relay_streams(topo, x, y, 2, warm=300)
    before = sniff["B"].snapshot()
    check(data_packets(before, a.ip, x.addr), "no wrapped DATA between hosts A and B for X "
          "before the move (is X<->Y going host to host?)")

    path = os.path.join(d, "x.snap")
    snapshot(a, x, path)
    # Made with the cluster's snapshot key, which every host's caphostd put in its run
    # directory (derived from the data key, mode 0600): so host C can verify it.
    cluster = cluster_snapshot_key(topo.data_key)
    with open(path, "rb") as f:
        check_eq(snap_header(f.read(4096))["key_id"], snapshot_key_id(cluster),
                 "the snapshot's key: the cluster's")
    for h in (a, b, c):
        key_path = os.path.join(h.run_dir, "snapshot.key")
        with open(key_path, "rb") as f:
            check_eq((f.read(), stat.S_IMODE(os.stat(key_path).st_mode)), (cluster, 0o600),
                     "host %s's snapshot.key (key, mode)" % h.name)
    check_eq(a.ps(), [], "capctl ps --json on host A after the snapshot")
    check_eq(topo.lookup(x.addr), ("x", 1, 1), "directory entry of X while it is on disk")
    moved = c.resume(path)
    check_eq((moved.name, moved.addr), ("x", x.addr), "name and address of X on host C")
    check_eq(c.tun_devices(), [], "caprun's own TUN devices on host C")
    for s in streams:
        s.more(500, 30)
    check_eq(topo.lookup(x.addr), ("x", 3, 2), "directory entry of X after the move")
    check_eq([(r.get("name"), r.get("ip")) for r in c.ps()], [("x", x.addr)], "capctl ps on host C")
    check_eq(a.ps(), [], "capctl ps --json on host A after the move")

    # From here on, host A must not be involved with X at all: no wrapped packet of X
    # to or from A (a stale sender might still get one REDIRECT, which is not DATA).
    t0 = time.monotonic()
    stats0 = daemon_stats(a)
    for s in streams:
        s.more(300, 30)
    stats1 = daemon_stats(a)
    after_a = data_packets(sniff["A"].snapshot(t0), a.ip, x.addr)
    check_eq(after_a[:3], [], "wrapped DATA for X to or from host A after the move")
    moving = {k: stats1[k] - stats0.get(k, 0) for k in stats1
              if k.split(".")[-1] in FORWARDING_COUNTERS and stats1[k] != stats0.get(k, 0)}
    check_eq(moving, {}, "host A's forwarding counters while X's streams ran on C")
    ctl_ps = daemon_ctl(a, "ps")
    check(ctl_ps is None or x.addr not in ctl_ps, "host A's caphostd still lists X: %r" % ctl_ps)

    for s in streams:
        n = s.finish()
        check(n >= 1100, "only %d lines on %s" % (n, s.tag))
    check_eq(rsts(client_sniff.snapshot()), [], "RST segments seen by the client")
    check(y.proc.poll() is None and moved.proc.poll() is None, "a caprun exited")
    rows = [r for r in a.ps(all_hosts=True) if r.get("ip") == x.addr]
    check_eq([(r.get("name"), r.get("host"), r.get("epoch")) for r in rows], [("x", 3, 2)],
             "capctl ps --all --json on host A: X's row")


def main():
    tap = Tap()
    tap.run(NAME, move_with_connections)
    tap.done()


main()
