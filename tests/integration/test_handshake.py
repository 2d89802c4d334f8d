"""test_handshake.py: a capsule's TCP handshakes are as patient as Linux's: its SYN-ACK and its SYN are resent after 1, 2, 4, 8 ... s, a connection whose client's ACKs were lost for 21 s is still completed (lwIP alone forgot it at 20 s), and a client connecting across a snapshot is not ended by the resume's nudges; a connection whose peer goes silent ends as on Linux, with ETIMEDOUT."""
# tests/run timeout: 300
# (make soak's HANDSHAKE_LONG=1 adds a case of 127 s; its TEST_TIMEOUT is longer)
#
# The losses are real: an nftables rule in the test's namespace drops the
# client's pure ACKs on their way into the capsule's TUN device, or the
# capsule's SYNs to one port as they come out of it.  A packet socket on the
# device sees what the capsule sends before netfilter does
# (lwip-port/lp_handshake.c).
import errno
import os
import re
import socket
import struct
import threading
import time

from caplib import Host, Tap, check, check_eq, connect, recv_exact, run_tool, snapshot, tempdir

TARGET = "198.19.255.1"        # an address of this namespace, on lo, for the relayer to reach
SYN, ACK = 0x02, 0x10
SO_TIMESTAMPNS = 35            # <asm-generic/socket.h>; also its control message's type


def sh(*argv):
    code, out, err = run_tool(list(argv))
    check(code == 0, "%s: exit %d: %s" % (" ".join(argv), code, err.strip()))


def drop(rule, hook):
    """One nftables rule in a table of the test's own (this namespace only)."""
    sh("nft", "add table inet handshake_test; add chain inet handshake_test c "
       "{ type filter hook %s priority 0; }; add rule inet handshake_test c %s" % (hook, rule))


def undrop():
    sh("nft", "delete", "table", "inet", "handshake_test")


def dropped():
    """Packets the rule (with its counter) has dropped so far."""
    code, out, err = run_tool(["nft", "list", "table", "inet", "handshake_test"])
    check(code == 0, "nft list: exit %d: %s" % (code, err.strip()))
    m = re.search(r"counter packets (\d+)", out)
    check(m, "no counter in the nft rule: %r" % out)
    return int(m.group(1))


class SynWatch(threading.Thread):
    """Times of the SYN segments (SYN-ACKs too) the capsule sends on its TUN device."""

    def __init__(self, ifname, src):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
        self.sock.bind((ifname, 0x0800))
        self.sock.settimeout(0.2)
        # the kernel's time of each packet, not this thread's when it got to read it
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.src = socket.inet_aton(src)
        self.seen = []          # (the kernel's wall-clock time, flags, destination port)
        self.cond = threading.Condition()
        self.stopping = False
        self.start()

    def run(self):
        while not self.stopping:
            try:
                p, anc, _, _ = self.sock.recvmsg(70000, 64)
            except (socket.timeout, OSError):
                continue
            stamp = [struct.unpack("qq", d[:16]) for lvl, typ, d in anc
                     if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS]
            if len(p) < 40 or p[9] != 6 or p[12:16] != self.src:
                continue
            t = p[(p[0] & 15) * 4:]
            if t[13] & SYN:
                with self.cond:
                    when = stamp[0][0] + stamp[0][1] / 1e9 if stamp else time.time()
                    self.seen.append((when, t[13], struct.unpack("!H", t[2:4])[0]))
                    self.cond.notify_all()

    def wait_count(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.seen) < n and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            return len(self.seen) >= n

    def stop(self):
        self.stopping = True
        self.join()
        self.sock.close()


def check_schedule(seen, want, what):
    """seen: times of the tries; want: seconds after the first for each retry."""
    got = [round(t - seen[0], 2) for t in seen[1:len(want) + 1]]
    check(len(got) == len(want) and all(w - 0.2 <= g <= w + 0.6 for g, w in zip(got, want)),
          "%s resent at %s s after the first, want %s (+0.6/-0.2); all SYNs seen: %s" % (
              what, got, want, [round(t - seen[0], 3) for t in seen]))
    return got


def listener(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((TARGET, port))
    s.listen(4)
    s.settimeout(30)
    return s


def relay_works(client, target_listener, what):
    """Bytes both ways through the relayer's pair: client -> capsule -> target and back."""
    conn, _ = target_listener.accept()
    with conn:
        client.sendall(b"ping through the capsule\n")
        check_eq(recv_exact(conn, 25), b"ping through the capsule\n", what + ": client to target")
        conn.sendall(b"pong\n")
        check_eq(recv_exact(client, 5), b"pong\n", what + ": target to client")


def synack_outlives_lost_acks():
    """The client's handshake ACKs are lost for 21 s; the capsule's SYN-ACKs keep coming
    (1, 3, 7, 15, 31 s) and the one at 31 s completes the connection."""
    host = Host()
    tl = listener(7701)
    cap = host.capsule("relayer", name="hs", args=["9100", TARGET, "7701"]).start(
        app_ready=r"relayer: listening")
    dev = "cap-" + cap.name
    watch = SynWatch(dev, cap.addr)
    drop('oifname "%s" tcp flags == ack drop' % dev, "output")   # the client's pure ACKs
    client = connect(cap.addr, 9100)   # Linux is connected at the first SYN-ACK
    # The SYN-ACKs at 0, 1, 3, 7, 15 s: their ACKs lost; past lwIP's own 20 s, let them pass.
    check(watch.wait_count(5, 20), "SYN-ACKs seen in 20 s: %d, want 5" % len(watch.seen))
    while time.time() < watch.seen[0][0] + 21:
        time.sleep(0.1)
    undrop()
    check(cap.wait_for(r"relayer: pair 1 connected", 20),
          "the relayer never accepted the client (SYN-ACKs at %s); output: %s" % (
              [round(t - watch.seen[0][0], 2) for t, _, _ in watch.seen], cap.output_text()[-300:]))
    watch.stop()
    got = check_schedule([t for t, f, _ in watch.seen if f & ACK], [1, 3, 7, 15, 31], "the SYN-ACK")
    relay_works(client, tl, "after the lost ACKs")
    client.close()
    tl.close()
    print("# SYN-ACK resent at %s s; the connection completed at the last" % got)


def syn_backs_off():
    """The capsule's own connect: its SYNs to a port that drops them go at 0, 1, 3, 7 s; a
    listener that appears then answers the one at 15 s and the connection works."""
    host = Host()
    cap = host.capsule("relayer", name="hs", args=["9100", TARGET, "7702"]).start(
        app_ready=r"relayer: listening")
    dev = "cap-" + cap.name
    watch = SynWatch(dev, cap.addr)
    drop('iifname "%s" tcp dport 7702 drop' % dev, "input")      # the capsule's SYNs
    client = connect(cap.addr, 9100)
    client.sendall(b"x")   # the relayer accepts, then connects to the target
    check(watch.wait_count(5, 20), "SYNs seen in 20 s: %d, want 5 (the SYN-ACK and 4 SYNs)"
          % len(watch.seen))
    tl = listener(7702)
    undrop()
    check(cap.wait_for(r"relayer: pair 1 connected", 15),
          "the relayer's connect did not complete after the target appeared; output: %s" %
          cap.output_text()[-300:])
    watch.stop()
    syns = [t for t, f, port in watch.seen if not f & ACK and port == 7702]
    got = check_schedule(syns, [1, 3, 7, 15], "the SYN")
    conn, _ = tl.accept()
    with conn:
        check_eq(recv_exact(conn, 1), b"x", "the byte sent before the relayer connected")
        conn.sendall(b"pong\n")
        check_eq(recv_exact(client, 5), b"pong\n", "target to client")
    client.close()
    tl.close()
    print("# SYN resent at %s s" % got)


def connect_times_out():
    """The capsule's connect to a port that drops every SYN: SYNs at 1, 3, 7, 15, 31, 63 s,
    then it fails after 127 s with ETIMEDOUT, as Linux's (lwIP alone: ECONNABORTED at 18 s)."""
    host = Host()
    cap = host.capsule("relayer", name="hs", args=["9100", TARGET, "7703"]).start(
        app_ready=r"relayer: listening")
    dev = "cap-" + cap.name
    watch = SynWatch(dev, cap.addr)
    drop('iifname "%s" tcp dport 7703 drop' % dev, "input")
    client = connect(cap.addr, 9100)
    client.sendall(b"x")
    m = cap.wait_for(r"relayer: connect to [0-9.]+:7703: (.*)", 160)
    ended = time.time()
    watch.stop()
    undrop()
    syns = [t for t, f, port in watch.seen if not f & ACK and port == 7703]
    check(m, "the relayer's connect did not fail within 160 s (%d SYNs seen); output: %s" % (
        len(syns), cap.output_text()[-300:]))
    check_eq(m.group(1), "Operation timed out", "strerror of the connect's errno (musl's ETIMEDOUT)")
    got = check_schedule(syns, [1, 3, 7, 15, 31, 63], "the SYN")
    check(120 <= ended - syns[0] <= 135, "connect failed %.1f s after the first SYN, want 127" % (
        ended - syns[0]))
    client.settimeout(10)
    try:   # closed by the relayer with our "x" unread: a reset, as Linux would send
        check_eq(client.recv(10), b"", "the client's connection, closed by the relayer")
    except ConnectionResetError:
        pass
    client.close()
    print("# SYN resent at %s s; connect failed after %.1f s" % (got, ended - syns[0]))


def keepalive_times_out():
    """The relayer's connection to the target, keepalive probes after 1 s idle, every 1 s,
    two at most: once everything from the target is dropped, its read fails with ETIMEDOUT
    (lwIP alone: ECONNABORTED), and the client's side is closed."""
    host = Host()
    cap = host.capsule("relayer", name="hs", args=["9100", TARGET, "7704", "1"]).start(
        app_ready=r"relayer: listening")
    target = listener(7704)
    client = connect(cap.addr, 9100)
    client.sendall(b"ping through the capsule\n")
    conn, _ = target.accept()
    target.close()
    check_eq(recv_exact(conn, 25), b"ping through the capsule\n", "client to target")
    conn.sendall(b"pong\n")
    check_eq(recv_exact(client, 5), b"pong\n", "target to client")
    # The target stays connected, but nothing it sends reaches the capsule any more: the
    # answers to the capsule's keepalive probes are dropped.
    drop('ip saddr %s tcp sport 7704 counter drop' % TARGET, "output")
    try:
        m = cap.wait_for(r"relayer: pair 1: reading from the target: (.*)", 20)
        check(m, "the relayer's connection did not end within 20 s; output: %s" %
              cap.output_text()[-300:])
        check_eq(m.group(1), "Operation timed out", "strerror of the read's errno (musl's ETIMEDOUT)")
        check(dropped() >= 2, "packets from the target dropped: %d" % dropped())
    finally:
        undrop()
        conn.close()
    client.settimeout(10)
    try:
        check_eq(client.recv(10), b"", "the client's connection, closed by the relayer")
    except ConnectionResetError:
        pass
    client.close()


def connecting_across_a_snapshot():
    """A client connecting while the capsule goes to disk: its SYN-ACKs lost until after the
    resume's nudges went out.  Nothing tells the client the host is unreachable (an ICMP error
    ends a connect in SYN_SENT on Linux); its next SYN is answered and the connection works."""
    host = Host()
    cap = host.capsule("echo", name="hs").start()
    dev = "cap-" + cap.name
    watch = SynWatch(dev, cap.addr)
    drop('iifname "%s" tcp flags & (syn | ack) == syn | ack counter drop' % dev, "input")
    result = {}

    def client():
        s = socket.socket()
        s.settimeout(30)
        try:
            s.connect((cap.addr, 7))
            s.sendall(b"after the resume\n")
            result["echo"] = recv_exact(s, 17)
        except OSError as e:
            result["error"] = e
        finally:
            s.close()
    t = threading.Thread(target=client)
    t.start()
    check(watch.wait_count(1, 10), "the capsule never answered the client's SYN")
    watch.stop()
    path = os.path.join(tempdir(), "hs.snap")
    snapshot(host, cap, path)
    before = dropped()
    time.sleep(0.3)   # the pause must outlast 150 ms, past which a resume sends ICMP nudges
    cap = host.resume(path, name="hs")
    # The resume's nudges go in one pass of the tcpip thread: the SYN-ACK again first, then
    # any ICMP errors.  Once that SYN-ACK is dropped here, the errors, if any, have gone too.
    deadline = time.monotonic() + 10
    while dropped() == before:
        check(time.monotonic() < deadline, "no SYN-ACK from the resumed capsule in 10 s")
        time.sleep(0.05)
    undrop()
    t.join(40)
    check(not t.is_alive(), "the client is still connecting")
    check("error" not in result, "the client's connect or echo failed: %r (%s)" % (
        result.get("error"), errno.errorcode.get(getattr(result.get("error"), "errno", 0), "")))
    check_eq(result["echo"], b"after the resume\n", "the echo on the connection made across the resume")


def main():
    tap = Tap()
    sh("ip", "addr", "add", TARGET + "/32", "dev", "lo")
    tap.run("handshake: the client's ACKs lost for 21 s: the capsule's SYN-ACK comes again at 1, 3, 7, "
            "15 and 31 s, and the last one completes the connection", synack_outlives_lost_acks)
    tap.run("handshake: the capsule's connect to a port dropping SYNs tries again at 1, 3, 7, 15 s; the "
            "target appearing answers the last, and bytes flow", syn_backs_off)
    name = ("handshake: the capsule's connect to a port dropping every SYN fails after 127 s with "
            "ETIMEDOUT, as Linux's")
    if os.environ.get("HANDSHAKE_LONG"):
        tap.run(name, connect_times_out)
    else:
        tap.skip(name, "127 s: make soak runs it (HANDSHAKE_LONG=1)")
    tap.run("handshake: a connection whose peer goes silent ends after its keepalive probes with "
            "ETIMEDOUT, as Linux's", keepalive_times_out)
    tap.run("handshake: a client connecting while the capsule goes to disk and comes back, its "
            "SYN-ACKs lost meanwhile: no ICMP error ends its connect, the next SYN is answered",
            connecting_across_a_snapshot)
    tap.done()


main()
