"""test_multihost_redirect.py: a stale sender is redirected and updates; junk on a caphostd's data port is dropped, counted per reason, and never stops it forwarding.

Y = echo on B, X = relayer on A with a connection to Y (and the client's
through the gateway).  B caches X -> A.  X moves to C; B's packets for X must
then go to C (a REDIRECT from A or the directory's NOTIFY told it), with the
stream byte-exact.  Then python, holding the cluster data key, sends host C
(X's holder) and host A crafted datagrams: one per drop reason, a valid one
and its replay, a too-old one, 200 bit-flipped copies; the counters grow by
exactly that, the daemon answers a stale sender with a REDIRECT, and the
stream keeps flowing.  Last, the client sends the gateway a packet with a
capsule's source address: dropped and counted (gw_spoofed).
"""
import os
import random
import socket
import struct
import time

from topolib import (CLIENT_IP, DATA_PORT, DIR_IP, DIR_PORT, LineStream, Sniffer, Tap, Topology,
                    WIRE_DATA, WIRE_REDIR, WIRE_REDIRECT, check, check_eq, counter,
                    daemon_stats, ipv4_udp, snapshot, tempdir, wait_counter, wire_open, wire_seal,
                    wire_seq)
from wirelib import chacha20_block, poly1305

NAME_REDIRECT = "multihost: the sender's host updates when a capsule moved away (redirect/NOTIFY)"
NAME_JUNK = "multihost: malformed, forged, replayed wrapped packets dropped and counted; " \
            "daemon keeps forwarding; the gateway drops a capsule's source from outside"
OBSERVER = 99
REASONS = ("truncated", "bad_version", "bad_length", "bad_tag", "bad_type", "bad_flags",
           "wrong_network", "bad_sender", "bad_inner", "bad_payload", "replay", "too_old")
NOTIFY = 15


def setup():
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    y = b.capsule("echo", name="y").start()
    x = a.capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    sniff_b = Sniffer("v-B")
    sock = topo.client.connect(x.addr, 9100)
    check(x.wait_for("relayer: pair 1 connected to %s:7" % y.addr, 15),
          "X did not connect to Y; output: %s" % x.output_text()[-400:])
    stream = LineStream(sock, "via-x")
    stream.wait_got(300, 30)
    return topo, x, y, sniff_b, stream


def b_sends_x(records, b_ip, x_ip):
    """Destination host addresses of B's wrapped DATA packets whose inner destination is X."""
    return {r[2] for r in records if r[1] == b_ip and r[3] == 17 and isinstance(r[6], tuple)
            and r[6][0] == WIRE_DATA and r[6][1] and r[6][1][1] == x_ip}


def move_x(topo, x):
    path = os.path.join(tempdir(), "x.snap")
    snapshot(topo["A"], x, path)
    moved = topo["C"].resume(path)
    check_eq(moved.addr, x.addr, "X's address on C")
    return moved


def redirect_updates_sender():
    topo, x, y, sniff_b, stream = setup()
    a, b, c = topo["A"], topo["B"], topo["C"]
    check_eq(b_sends_x(sniff_b.snapshot(), b.ip, x.addr), {a.ip}, "where B sent X's packets before")
    stats_before = daemon_stats(b)
    t_move = time.monotonic()
    move_x(topo, x)
    try:
        stream.more(500, 30)
    except Exception:
        for h in topo.hosts.values():     # for whoever debugs the daemon
            s = daemon_stats(h)
            print("# host %s counters: %s" % (h.name, {k: v for k, v in sorted(s.items()) if v}),
                  flush=True)
        raise
    recs = sniff_b.snapshot(t_move)
    t_late = time.monotonic()
    stream.more(300, 30)
    check_eq(b_sends_x(sniff_b.snapshot(t_late), b.ip, x.addr), {c.ip},
             "where B sends X's packets after the move")
    redirects = [r for r in recs if r[2] == b.ip and r[3] == 17 and r[5] == DATA_PORT
                 and isinstance(r[6], tuple) and r[6][0] == WIRE_REDIRECT]
    notifies = [r for r in recs if r[2] == b.ip and r[3] == 17 and r[4] == DIR_PORT
                and r[6] == NOTIFY]
    check(redirects or notifies, "B got neither a REDIRECT nor a NOTIFY after X moved")
    stats = daemon_stats(b)
    grew = {k: stats[k] - stats_before.get(k, 0) for k in stats
            if k.split(".")[-1] in ("redirect_in", "notifies") and stats[k] > stats_before.get(k, 0)}
    check(grew, "neither redirect_in nor notifies of B's caphostd grew (wire: %d REDIRECT, %d NOTIFY); "
          "counters: %r" % (len(redirects), len(notifies), sorted(stats.items())))
    print("# B: %d REDIRECT, %d NOTIFY on the wire; counters grew: %r" % (
        len(redirects), len(notifies), grew), flush=True)
    stream.finish()


def deltas(host, before):
    s = daemon_stats(host)
    return {r: counter(s, r) - counter(before, r) for r in REASONS}


def wait_deltas(host, before, want, timeout=10.0):
    """Counters are updated by another process: wait (bounded) until they match, then compare."""
    deadline = time.monotonic() + timeout
    while True:
        got = deltas(host, before)
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def junk_dropped_and_counted():
    topo, x, y, sniff_b, stream = setup()
    a, c = topo["A"], topo["C"]
    move_x(topo, x)
    stream.more(300, 30)
    key = topo.data_key
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((DIR_IP, 0))
    s.settimeout(3)
    dst = (c.ip, DATA_PORT)
    inner = ipv4_udp(CLIENT_IP, x.addr, 40000, 9, b"junk test")   # port 9: nobody listens

    def data(**kw):
        return wire_seal(key, WIRE_DATA, kw.pop("sender", OBSERVER), kw.pop("epoch", 2),
                         kw.pop("payload", inner), **kw)

    bad_inner = bytearray(inner)
    bad_inner[10] ^= 0xFF                                  # IPv4 header checksum wrong
    want = dict.fromkeys(REASONS, 0)
    before = daemon_stats(c)
    cases = [
        ("truncated", data()[:20]),
        ("bad_version", data(version=1)),
        ("bad_length", data() + b"\0"),
        ("bad_tag", wire_seal(os.urandom(32), WIRE_DATA, OBSERVER, 2, inner)),
        ("bad_type", wire_seal(key, 9, OBSERVER, 2, inner)),
        ("bad_flags", data(flags=1)),
        ("wrong_network", data(network=7)),
        ("bad_sender", data(sender=0)),
        ("bad_inner", data(payload=bytes(bad_inner))),
        ("bad_payload", wire_seal(key, WIRE_REDIRECT, OBSERVER, 2,
                                  WIRE_REDIR.pack(0, 3, 0, 0, 0, 0))),   # capsule ip 0
    ]
    for reason, d in cases:
        s.sendto(d, dst)
        want[reason] += 1
    valid_seq = wire_seq()
    valid = data(seq=valid_seq)
    s.sendto(valid, dst)                                   # accepted (delivered to X, dropped there)
    s.sendto(valid, dst)                                   # the same bytes again
    want["replay"] += 1
    s.sendto(data(seq=valid_seq - 5000), dst)                # left of the 1024 window
    want["too_old"] += 1
    rng = random.Random(7)
    base = data()
    for _ in range(200):                                   # one flipped bit each: never accepted
        m = bytearray(base)
        bit = rng.randrange(len(m) * 8)
        m[bit // 8] ^= 1 << (bit % 8)
        s.sendto(bytes(m), dst)
    got = wait_deltas(c, before, dict(want), timeout=10)
    total = sum(got.values())
    check_eq(total, sum(want.values()) + 200, "host C's drop counters grew by (all reasons) "
             "[got per reason %r]" % got)
    for r in ("wrong_network", "bad_sender", "bad_inner", "bad_payload", "replay", "too_old",
              "bad_type", "bad_flags"):
        check_eq(got[r], want[r], "host C's %s counter delta (all: %r)" % (r, got))
    check(got["bad_tag"] >= 1 and got["truncated"] >= 1 and got["bad_version"] >= 1,
          "host C's bad_tag/truncated/bad_version deltas: %r" % got)
    check(c.daemon.running(), "host C's caphostd died: %s" % c.daemon.output_text()[-400:])
    stream.more(300, 30)                                   # it still forwards X's traffic

    # A stale sender (epoch 1, to A, which X left) gets an authenticated REDIRECT.
    s.sendto(wire_seal(key, WIRE_DATA, OBSERVER, 1, inner), (a.ip, DATA_PORT))
    try:
        reply, src = s.recvfrom(2048)
    except socket.timeout:
        reply, src = None, None
    check(reply is not None, "no REDIRECT from host A for a packet to X, which left it")
    opened = wire_open(key, reply)
    check(opened is not None, "host A's REDIRECT does not verify under the data key")
    f, payload = opened
    check_eq((src, f["type"], f["sender"], len(payload)), ((a.ip, DATA_PORT), WIRE_REDIRECT, 1, 20),
             "host A's answer (source, type, sender, payload size)")
    ip, host, loc, port, _, epoch = WIRE_REDIR.unpack(payload)
    check_eq(socket.inet_ntoa(struct.pack(">I", ip)), x.addr, "REDIRECT's capsule")
    check((host, epoch) == (3, 2) or host == 0, "REDIRECT names host %d epoch %d: want C (3) epoch 2 "
          "or 0 (unknown)" % (host, epoch))
    if host == 3:
        check_eq((socket.inet_ntoa(struct.pack(">I", loc)), port), (c.ip, DATA_PORT), "REDIRECT's locator")
    check(a.daemon.running(), "host A's caphostd died")

    # An ordinary peer speaking as a capsule: the gateway drops it and counts it as such
    # (the kernel's own IPv6 on capgw is counted apart, gw_not_ipv4, never as malformed).
    g = topo["G"]
    before_g = daemon_stats(g)
    forged = ipv4_udp("198.18.0.250", x.addr, 40000, 9, b"a capsule's address, from outside")

    def send_forged():
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        try:
            raw.sendto(forged, (x.addr, 0))
        finally:
            raw.close()
    topo.client.call(send_forged)
    wait_counter(g, "gw_spoofed", before_g["gw_spoofed"] + 1, 10, "the forged packet")
    after_g = daemon_stats(g)
    check_eq((after_g["gw_spoofed"] - before_g["gw_spoofed"], after_g["gw_malformed"]), (1, 0),
             "gateway G: packets from outside with a capsule's source (new), malformed (all)")
    n = stream.finish()
    check(n >= 900, "stream lines: %d" % n)


def tag_vectors():
    """The tests' own wire tag (wirelib.wire_tag, which every forged or opened datagram here
    uses) against RFC 8439: Poly1305 (2.5.2) and its one-time key from ChaCha20 (2.6.2)."""
    otk = chacha20_block(bytes(range(0x80, 0xa0)), 0, bytes.fromhex("000000000001020304050607"))
    check_eq(otk[:32].hex(), "8ad5a08b905f81cc815040274ab29471a833b637e3fd0da508dbb8e2fdd1a646",
             "RFC 8439 2.6.2 one-time key")
    key = bytes.fromhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    check_eq(poly1305(key, b"Cryptographic Forum Research Group").hex(),
             "a8061dc1305136c6c22b8baf0c0127a9", "RFC 8439 2.5.2 tag")


def main():
    tap = Tap()
    for name, fn in (("multihost: the tests' wire tag gives RFC 8439's vectors", tag_vectors),
                     (NAME_REDIRECT, redirect_updates_sender), (NAME_JUNK, junk_dropped_and_counted)):
        tap.run(name, fn)
    tap.done()


main()
