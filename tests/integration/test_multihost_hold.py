"""test_multihost_hold.py: an ordinary client's TCP connection survives its capsule spending 60 s on disk and resuming on another host: still ESTABLISHED, no RST, every byte exactly once.

The client namespace runs with net.ipv4.tcp_retries2=3, so an unanswered
connection would die within seconds; only the gateway's holding (zero-window
ACKs while X is away) can keep it open for the full minute.  X = echo on
host A; the client streams numbered lines and checks each echo.  X is
snapshotted, the file sits for HOLD_S seconds (the requirement itself: a real
wait), and is resumed on host B.
"""
import errno
import os
import socket
import time

from topolib import (LineStream, Sniffer, Tap, Topology, check, check_eq, rsts,
                    snapshot, tempdir)

HOLD_S = 60
NAME = "multihost: client connection ESTABLISHED through %d s on disk and a move A -> B, " \
       "no RST, bytes exact" % HOLD_S


def established(topo, dst):
    """Local ports of the client's ESTABLISHED connections to dst (ss in its namespace)."""
    code, out, err = topo.client.run(["ss", "-Htn", "state", "established", "dst", dst])
    check(code == 0, "ss: %s" % err)
    return {int(l.split()[2].rsplit(":", 1)[1]): l for l in out.splitlines() if len(l.split()) >= 4}


def held_for_a_minute():
    topo = Topology(hosts=("A", "B", "G"), gateway="G",
                    client_sysctls=["net.ipv4.tcp_retries2=3"]).start()
    a, b = topo["A"], topo["B"]
    _, r2, _ = topo.client.run(["sysctl", "-n", "net.ipv4.tcp_retries2"])
    check_eq(r2.strip(), "3", "tcp_retries2 in the client namespace")
    d = tempdir()
    x = a.capsule("echo", name="x").start()
    check_eq(a.tun_devices(), [], "caprun's own TUN devices on host A (attached: none)")
    sniff = Sniffer("eth0", topo.client)
    sock = topo.client.connect(x.addr, 7)
    port = sock.getsockname()[1]
    stream = LineStream(sock, "held")
    stream.wait_got(300, 30)

    path = os.path.join(d, "x.snap")
    snapshot(a, x, path)
    check_eq(topo.lookup(x.addr), ("x", 1, 1), "directory: X still belongs to A while on disk")
    t0 = time.monotonic()
    time.sleep(HOLD_S)   # the point of the test: the capsule is on disk for a minute
    ports = established(topo, x.addr)
    check(port in ports, "client connection not ESTABLISHED after %.0f s on disk: %r" % (
        time.monotonic() - t0, ports))
    check(stream.error is None, "client stream during the hold: %s" % stream.error)
    check_eq(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR), 0,
             "client socket error after the hold")
    sent_during = stream.sent
    print("# after %.0f s on disk: %s" % (time.monotonic() - t0, ports[port].strip()), flush=True)

    moved = b.resume(path)
    check_eq((moved.name, moved.addr), ("x", x.addr), "X on host B")
    stream.wait_got(sent_during + 300, 30)
    check_eq(topo.lookup(x.addr), ("x", 2, 2), "directory after the resume on B")
    n = stream.finish()
    check(n >= sent_during + 300, "stream after the resume: %d lines" % n)
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    check(err not in (errno.ECONNRESET, errno.ETIMEDOUT), "client socket error %d" % err)
    check_eq(rsts(sniff.snapshot()), [], "RST segments on the client's link")
    check(port in established(topo, x.addr), "client connection ESTABLISHED at the end")
    sock.close()


def main():
    tap = Tap()
    tap.run(NAME, held_for_a_minute)
    tap.done()


main()
