"""test_multihost_outbound.py: a capsule on a non-gateway host connects OUT to an ordinary server before its host ever heard from the gateway (found via the directory's HOST_LOOKUP); `capctl ps --all --json` shows host, epoch and state across hosts.

Topology (topolib.Topology): hosts A B C G (ids 1-4), G the gateway, the
client namespace 198.19.0.100 runs a Python echo server on :9200.
X = relayer on A (listens :9101, connects out to the server); Y = relayer on
B (listens :9100, connects to X:9101).  The client connects to Y (through
G to B), Y to X (B to A, host to host), and X's outbound connection to the
server is the first packet host A ever sends toward the gateway: it knows
G's locator only from the directory, never from G's traffic.
"""
import os
import socket
import threading
import time

from topolib import (CLIENT_IP, Tap, Topology, check, check_eq, daemon_stats,
                    snapshot, tempdir)

NAME_OUT = "multihost: capsule on a non-gateway host connects out first, bytes exact"
NAME_PS = "multihost: capctl ps --all --json shows host, epoch and running/saved state"
SERVER_PORT = 9200
BLOB = 256 * 1024


class EchoServer:
    """A stdlib echo server in the client namespace; keeps every byte it received."""

    def __init__(self, topo):
        def listener():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((CLIENT_IP, SERVER_PORT))
            s.listen(8)
            return s
        self.sock = topo.client.call(listener)   # the socket stays in that namespace
        self.sock.settimeout(60)
        self.received = bytearray()
        self.lock = threading.Lock()
        self.peers = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            conn, peer = self.sock.accept()
        except OSError:
            return
        self.peers.append(peer[0])
        conn.settimeout(60)
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                with self.lock:
                    self.received += data
                conn.sendall(data)
        except OSError:
            pass
        finally:
            conn.close()

    def got(self):
        with self.lock:
            return bytes(self.received)


def recv_exact(sock, n, timeout):
    sock.settimeout(timeout)
    out = bytearray()
    while len(out) < n:
        chunk = sock.recv(min(65536, n - len(out)))
        check(chunk, "connection closed after %d of %d echoed bytes" % (len(out), n))
        out += chunk
    return bytes(out)


def start_chain(topo):
    a, b = topo["A"], topo["B"]
    server = EchoServer(topo)
    x = a.capsule("relayer", name="x", args=["9101", CLIENT_IP, str(SERVER_PORT)]).start()
    y = b.capsule("relayer", name="y", args=["9100", x.addr, "9101"]).start()
    return server, x, y


def outbound_first():
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a = topo["A"]
    stats0 = daemon_stats(a)
    check(stats0.get("gw_lookups", 0) >= 1 and stats0.get("gw_lookup_errors", 0) == 0,
          "host A did not find the gateway in the directory at start: %r" % {
              k: v for k, v in stats0.items() if k.startswith("gw_lookup")})
    check_eq((stats0.get("data_in", 0), stats0.get("redirect_in", 0)), (0, 0),
             "packets host A received before the test (it must not know G from traffic)")
    server, x, y = start_chain(topo)
    sock = topo.client.connect(y.addr, 9100)
    check(y.wait_for("relayer: pair 1 connected to %s:9101" % x.addr, 15),
          "Y did not connect to X; output: %s" % y.output_text()[-400:])
    check(x.wait_for("relayer: pair 1 connected to %s:%d" % (CLIENT_IP, SERVER_PORT), 15),
          "X could not connect out to the client's server; output: %s; host A: %r" % (
              x.output_text()[-400:], {k: v for k, v in daemon_stats(a).items() if "gateway" in k}))
    blob = os.urandom(BLOB)
    sender = threading.Thread(target=sock.sendall, args=(blob,), daemon=True)
    sender.start()
    echoed = recv_exact(sock, len(blob), 60)
    sender.join(10)
    check(echoed == blob, "echo differs from what was sent (%d bytes)" % len(blob))
    check(server.got() == blob, "the server got %d bytes, not exactly the %d sent" % (
        len(server.got()), len(blob)))
    check_eq(server.peers, [x.addr], "the server's peer (X's capsule address, not a host's)")
    stats1 = daemon_stats(a)
    check_eq(stats1.get("drop_no_gateway", 0), 0, "host A's drop_no_gateway")
    sock.close()


def ps_rows(host, names):
    return {r["name"]: (r["host"], r["epoch"], r["state"]) for r in host.ps(all_hosts=True)
            if r.get("name") in names}


def wait_rows(host, want, what, timeout=15.0):
    """Bounded poll: the holder reports its state to the directory right after ATTACHED/DETACH."""
    deadline = time.monotonic() + timeout
    while True:
        got = ps_rows(host, set(want))
        if got == want or time.monotonic() > deadline:
            check_eq(got, want, what)
            return
        time.sleep(0.2)


def ps_all_states():
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
    a, b, c = topo["A"], topo["B"], topo["C"]
    server, x, y = start_chain(topo)
    want = {"x": (1, 1, "running"), "y": (2, 1, "running")}
    for h in (a, b, c):
        wait_rows(h, want, "capctl ps --all --json on host %s while both run" % h.name)
    path = os.path.join(tempdir(), "x.snap")
    snapshot(a, x, path)
    want["x"] = (1, 1, "saved")
    for h in (a, b, c):
        wait_rows(h, want, "capctl ps --all --json on host %s after X's snapshot" % h.name)
    moved = c.resume(path)
    check_eq((moved.name, moved.addr), ("x", x.addr), "X resumed on host C")
    want["x"] = (3, 2, "running")
    for h in (a, b, c):
        wait_rows(h, want, "capctl ps --all --json on host %s after the resume on C" % h.name)
    server.sock.close()


def main():
    tap = Tap()
    tap.run(NAME_OUT, outbound_first)
    tap.run(NAME_PS, ps_all_states)
    tap.done()


main()
