"""test_wire_mss.py: TCP between hosts is never fragmented: caphostd lowers the MSS a capsule announces to an ordinary peer to what the host-to-host wire carries whole once wrapped; between two capsules, and toward an ordinary peer whose MSS allows it (raised at the gateway), it cuts each large segment into pieces that fit (joined again on the other host, cut again by capgw), so a bulk stream client <-> X (via the gateway) <-> Y (host to host) moves byte-exact with no IP fragment created on any host.

Topology (topolib.Topology): hosts A B G, G the gateway; Y = echo on B, X = relayer on A:
each client connection to X:9100 makes X open its own to Y:7.  The links are veths of MTU
1500 and caphostd's default --wire-mtu is 1500, so the MSS is 1500 - 20 - 8 - 44 - 20 - 20 =
1388 (hosts/common/tcpmss.h).
"""
import os
import socket
import threading

from topolib import Tap, Topology, check, check_eq, daemon_stats

WIRE_MSS = 1388
TOTAL = 4 << 20


def ip_counters(ns):
    """The namespace's kernel IP counters (/proc/net/snmp "Ip:")."""
    _, text, _ = ns.run(["cat", "/proc/net/snmp"])
    rows = [l.split() for l in text.splitlines() if l.startswith("Ip:")]
    return dict(zip(rows[0][1:], (int(v) for v in rows[1][1:])))


def counter(host, name):
    return sum(v for k, v in daemon_stats(host).items() if k.split(".")[-1] == name)


def mss_clamped(host):
    return counter(host, "mss_clamped")


def bulk_through_relay(wire_mtu=None):
    """wire_mtu None: caphostd's default (1500, the links' MTU).  65535: the MSS is never
    lowered, which shows what the lowering prevents: the same stream is fragmented."""
    args = {h: ["--wire-mtu", str(wire_mtu)] for h in ("A", "B", "G")} if wire_mtu else None
    topo = Topology(hosts=("A", "B", "G"), gateway="G", daemon_args=args).start()
    a, b, g = topo["A"], topo["B"], topo["G"]
    y = b.capsule("echo", name="y").start()
    x = a.capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    hosts = (a, b, g)
    frags0 = {h.name: ip_counters(h)["FragCreates"] for h in hosts}
    clamped0 = {h.name: mss_clamped(h) for h in hosts}
    raised0 = {h.name: counter(h, "mss_raised") for h in hosts}
    cut0 = {h.name: (counter(h, "wire_cut"), counter(h, "join_segments")) for h in hosts}
    sock = topo.client.connect(x.addr, 9100)
    mss = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    if not wire_mtu:
        check(0 < mss <= WIRE_MSS, "the client's MSS toward X is %d, want at most %d" % (
            mss, WIRE_MSS))
    data = os.urandom(TOTAL)
    errors = []

    def send():
        try:
            sock.sendall(data)
        except OSError as e:
            errors.append(e)
    tx = threading.Thread(target=send)
    tx.start()
    got = bytearray()
    sock.settimeout(30)
    while len(got) < TOTAL:
        chunk = sock.recv(1 << 16)
        check(chunk, "the stream ended after %d of %d bytes" % (len(got), TOTAL))
        got += chunk
    tx.join(30)
    check_eq(errors, [], "sending errors")
    check(bytes(got) == data, "the %d bytes echoed through X and Y differ from those sent" % TOTAL)
    sock.close()
    frags = {h.name: ip_counters(h)["FragCreates"] - frags0[h.name] for h in hosts}
    clamped = {h.name: mss_clamped(h) - clamped0[h.name] for h in hosts}
    raised = {h.name: counter(h, "mss_raised") - raised0[h.name] for h in hosts}
    print("# MSS %d; IP fragments created %r; SYNs lowered %r" % (mss, frags, clamped), flush=True)
    if wire_mtu:
        check(all(frags.values()), "with the MSS never lowered every host fragments: %r" % frags)
        check_eq(clamped, {"A": 0, "B": 0, "G": 0}, "SYNs lowered with --wire-mtu %d" % wire_mtu)
        check_eq(raised, {"A": 0, "B": 0, "G": 0}, "SYNs raised with --wire-mtu %d" % wire_mtu)
        return
    check_eq(frags, {"A": 0, "B": 0, "G": 0}, "IP fragments created on each host")
    # A: X's SYN-ACK to the client.  X's SYN to Y and Y's SYN-ACK stay: between capsules the
    # segments are cut on the wire instead.  G raises the client's SYN (its MSS, 1460, takes
    # the wire's 1388): X sends 64 KiB segments, cut for the wire, joined on G, cut by capgw.
    check_eq(clamped, {"A": 1, "B": 0, "G": 0}, "SYNs whose MSS each caphostd lowered")
    check_eq(raised, {"A": 0, "B": 0, "G": 1}, "SYNs whose MSS each caphostd raised")
    cut = {h.name: tuple(counter(h, k) - c for k, c in zip(("wire_cut", "join_segments"),
                                                           cut0[h.name])) for h in hosts}
    print("# segments cut, joined %r" % cut, flush=True)
    check(all(cut[n][0] > 0 and cut[n][1] > 0 for n in ("A", "B")),
          "X <-> Y: A and B each cut segments for the wire and joined the other's: %r" % cut)
    # capgw hands the gateway the client's 64 KiB segments whole (its offloads): cut there;
    # X's pieces toward the client are joined there and go to capgw whole.
    check(cut["G"][0] > 0 and cut["G"][1] > 0,
          "the gateway cut the client's segments for the wire and joined X's: %r" % (cut["G"],))


def small_mss_client():
    """A client whose own MSS (1000) is below the wire's 1388: its SYN is left as it is,
    never raised, so X sends it segments its stack takes; the stream stays byte-exact."""
    topo = Topology(hosts=("A", "G"), gateway="G").start()
    a, g = topo["A"], topo["G"]
    x = a.capsule("echo", name="x").start()
    raised0, clamped0 = counter(g, "mss_raised"), mss_clamped(g)

    def dial():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
        s.settimeout(30)
        s.connect((x.addr, 7))
        return s
    sock = topo.client.call(dial)
    data = os.urandom(1 << 20)
    tx = threading.Thread(target=sock.sendall, args=(data,))
    tx.start()
    got = bytearray()
    while len(got) < len(data):
        chunk = sock.recv(1 << 16)
        check(chunk, "the stream ended after %d of %d bytes" % (len(got), len(data)))
        got += chunk
    tx.join(30)
    check(bytes(got) == data, "the 1 MiB echoed by X differs from what was sent")
    sock.close()
    check_eq((counter(g, "mss_raised") - raised0, mss_clamped(g) - clamped0), (0, 0),
             "the gateway's SYNs (raised, lowered) for a client of MSS 1000: left as they are")


def bad_wire_mtu():
    topo = Topology(hosts=("A",), daemons=False, client=False).start()
    a = topo["A"]
    for v in ("575", "65536", "x"):
        code, out, err = a.run(a.daemon_argv() + ["--wire-mtu", v])
        check_eq(code, 2, "caphostd --wire-mtu %s exit status (stderr %r)" % (v, err))
        check("--wire-mtu %s" % v in err and len(err.strip().splitlines()) == 1,
              "caphostd --wire-mtu %s: one line naming it, got %r" % (v, err))


def main():
    tap = Tap()
    tap.run("wire mss: client <-> X (gateway) <-> Y (host to host), 4 MiB both ways: byte-exact, "
            "no IP fragment on any host, X's SYN-ACK lowered and the client's SYN raised, "
            "64 KiB segments cut and joined both ways", bulk_through_relay)
    tap.run("wire mss: with --wire-mtu 65535 (nothing lowered) the same stream is fragmented on "
            "every host: what the lowering prevents", bulk_through_relay, 65535)
    tap.run("wire mss: a client of MSS 1000 (below the wire's): its SYN left, not raised; "
            "1 MiB echoed byte-exact", small_mss_client)
    tap.run("wire mss: caphostd --wire-mtu out of 576..65535 or not a number: one line, exit 2",
            bad_wire_mtu)
    tap.done()


main()
