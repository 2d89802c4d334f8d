"""test_migrate.py: live migration's happy path: a capsule with a capsule peer on another host and an ordinary client moves A -> C while both streams run (byte-exact, no RST, the directory and capctl ps follow, A forwards nothing afterwards; libcrypto mapped only in the caprun that took part in the migration); the human timeline; a UDP stream through the move with every datagram answered or counted lost; usage errors leave the capsule running.

Topology (topolib.Topology): hosts A B C G (ids 1-4), G the gateway for the
ordinary client 198.19.0.100.  Y = echo on B; X = relayer on A: each client
connection to X:9100 makes X open its own connection to Y:7, so one
numbered-line stream crosses client<->X (via the gateway) and X<->Y (host to
host), both directions, continuously, and comes back verified line by line.
`capctl migrate x --to 3 --json` runs on A (BRIEF-D.md).
"""
import json
import re
import socket
import struct
import threading
import time

from caplib import CAPRUN, descendants
from miglib import (MIG_PHASES, CountClient, Sniffer, Tap, Topology, check, check_eq, daemon_ctl,
                    daemon_stats, migrate, migrate_run, relay_streams, rsts, wait_listed_only_on,
                    wait_one_copy)

# caphostd counters (hosts/caphostd/hostd.h) that would move if host A still forwarded anything.
FORWARDING_COUNTERS = ("up_pkts_in", "up_pkts_out", "data_in", "data_out", "gw_in", "gw_out",
                       "hold_out", "flush_out", "reinjected_pkts")
# caphostd counters that count a dropped packet (hosts/caphostd/hostd.h, BRIEF-D.md): in the UDP
# test, where the capsule has no other traffic, their growth is exactly the datagrams
# (requests or replies) the hosts dropped.  sync_dropped is left out: it includes
# sync_dropped_udp.
DROP_COUNTERS = ("deliver_full", "drop_held", "drop_no_route", "drop_bad_dst", "drop_epoch",
                 "drop_no_gateway", "drop_not_gateway", "send_errors", "held_udp_dropped",
                 "hold_full", "gw_write_errors", "sync_dropped_udp", "mig_frozen_drops")


def diag(text):
    print("# " + text, flush=True)


def timeline(j):
    p = j["phases"]
    return "%s -> host %d epoch %d: %s; downtime %d ms, total %d ms, %d bytes, peers %d/%d" % (
        j["name"], j["to"], j["epoch"],
        " ".join("%s %d" % (k, p[k + "_ms"]) for k in MIG_PHASES), j["downtime_ms"],
        j["total_ms"], j["bytes"], j["peers"]["acked"], j["peers"]["asked"])


def forwarding(stats0, stats1):
    return {k: stats1[k] - stats0.get(k, 0) for k in stats1
            if k.split(".")[-1] in FORWARDING_COUNTERS and stats1[k] != stats0.get(k, 0)}


def caprun_of(pid):
    """The caprun process that is pid or under it (a prefix such as nsenter may come first)."""
    for p in [pid] + descendants(pid):
        try:
            with open("/proc/%d/comm" % p) as f:
                if f.read().strip() == "caprun":
                    return p
        except OSError:
            pass
    return None


def shared_objects(pid):
    """The shared libraries a process has mapped (none for the static caprun: docs/STARTUP.md 12)."""
    with open("/proc/%d/maps" % pid) as f:
        return sorted({line.split()[-1] for line in f if ".so" in line.split()[-1]})


def has_interpreter(path):
    """Whether an ELF64 file asks for a dynamic linker (a PT_INTERP program header)."""
    with open(path, "rb") as f:
        elf = f.read(64)
        phoff, = struct.unpack_from("<Q", elf, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum))


# The caprun under test: linked statically, unless this is the sanitizer pass (CAPTEST_BIN).
STATIC_CAPRUN = not has_interpreter(CAPRUN)


def happy_path():
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
    a, b, c = topo["A"], topo["B"], topo["C"]
    y = b.capsule("echo", name="y").start()
    x = a.capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    check_eq(topo.lookup(x.addr), ("x", 1, 1), "directory entry of X before the move")
    if STATIC_CAPRUN:   # the stream's cipher (libgcrypt) is linked in, like everything else
        for cap in (x, y):
            check_eq(shared_objects(caprun_of(cap.proc.pid)), [],
                     "shared libraries mapped in %s's caprun" % cap.name)

    client_sniff = Sniffer("eth0", topo.client)
    streams = relay_streams(topo, x, y, 2, warm=300)

    mark_c = c.daemon.mark()
    sent_before = [s.sent for s in streams]
    j = migrate(topo, "x", a, c)
    diag(timeline(j))
    check_eq((j["to"], j["epoch"]), (3, 2), "JSON to, epoch")
    check(c.daemon.wait_for(r"capsule x running at %s\b" % re.escape(x.addr), 10, mark_c),
          "host C's caphostd output has no 'capsule x running at %s': %s" % (
              x.addr, c.daemon.output_text()[-600:]))
    code = x.wait_exit(10)
    check_eq(code, 0, "exit status of the source caprun on A")
    check(x.wait_for(r"capsule x migrated to host 3\b", 1),
          "source caprun did not print 'capsule x migrated to host 3': %s" % x.output_text()[-400:])
    # Both streams continue byte-exact, with lines sent after the move coming back.
    for s, n in zip(streams, sent_before):
        s.wait_got(n + 500, 30)
    check_eq(topo.lookup(x.addr), ("x", 3, 2), "directory entry of X after the move")
    wait_listed_only_on(topo, "x", c)
    check_eq([(r.get("name"), r.get("ip")) for r in c.ps()], [("x", x.addr)],
             "capctl ps on host C")
    wait_one_copy(topo, [x])
    target = [p for p in descendants(c.daemon.proc.pid) if caprun_of(p) == p]
    check_eq(len(target), 1, "caprun processes under host C's caphostd")
    if STATIC_CAPRUN:
        check_eq(shared_objects(target[0]), [], "shared libraries mapped in the target caprun on C")

    # From here on host A must not forward anything for X.
    stats0 = daemon_stats(a)
    for s in streams:
        s.more(300, 30)
    moving = forwarding(stats0, daemon_stats(a))
    check_eq(moving, {}, "host A's forwarding counters while X's streams ran on C")
    ctl_ps = daemon_ctl(a, "ps")
    check(ctl_ps is None or x.addr not in ctl_ps, "host A's caphostd still lists X: %r" % ctl_ps)

    for s in streams:
        n = s.finish()
        check(n >= 1100, "only %d lines on %s" % (n, s.tag))
    check_eq(rsts(client_sniff.snapshot()), [], "RST segments seen by the client")
    check(y.proc.poll() is None, "Y's caprun exited: %s" % y.output_text()[-300:])


def human_timeline():
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("counter", name="x").start()
    client = CountClient(topo.client.connect(x.addr, 9000))
    client.more(50, 20)
    m = migrate(topo, "x", a, b, json=False)
    for line in m.out.splitlines():
        diag("| " + line)
    missing = [p for p in MIG_PHASES if not re.search(r"\b%s\b" % p, m.out)]
    check_eq(missing, [], "phase names missing from capctl migrate's timeline")
    check(re.search(r"\bdowntime\b.*\d", m.out), "no 'downtime' with a figure in %r" % m.out)
    client.more(50, 20)
    client.stop()
    check_eq(topo.lookup(x.addr), ("x", 2, 2), "directory entry of X after the move")
    wait_listed_only_on(topo, "x", b)


class UdpStream:
    """Numbered datagrams at a steady pace from one socket; replies recorded by number."""

    def __init__(self, sock, addr, interval=0.001, size=64):
        self.sock, self.addr, self.interval, self.size = sock, addr, interval, size
        self.sent_at = []            # send time of datagram i
        self.replies = {}            # number -> count of replies
        self.junk = 0
        self.stopping = False
        self.error = None
        self.cond = threading.Condition()
        self.sock.settimeout(0.2)
        self.rx = threading.Thread(target=self._recv, daemon=True)
        self.tx = threading.Thread(target=self._send, daemon=True)
        self.rx.start()
        self.tx.start()

    def payload(self, n):
        head = b"udp %010d " % n
        return head + b"x" * (self.size - len(head))

    def _send(self):
        try:
            while not self.stopping:
                n = len(self.sent_at)
                with self.cond:
                    self.sent_at.append(time.monotonic())
                self.sock.sendto(self.payload(n), (self.addr, 7))
                time.sleep(self.interval)
        except OSError as e:
            self.error = "send: %s" % e

    def _recv(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            m = re.match(rb"udp (\d{10}) ", data)
            with self.cond:
                if m and peer == (self.addr, 7) and data == self.payload(int(m.group(1))):
                    n = int(m.group(1))
                    self.replies[n] = self.replies.get(n, 0) + 1
                else:
                    self.junk += 1
                self.cond.notify_all()

    def answered(self):
        with self.cond:
            return len(self.replies)

    def more(self, n, timeout):
        with self.cond:
            want = len(self.replies) + n
            self.cond.wait_for(lambda: len(self.replies) >= want, timeout)
            check(len(self.replies) >= want, "UDP: %d of %d more replies within %.0fs" % (
                len(self.replies) - want + n, n, timeout))

    def stop(self):
        self.stopping = True
        self.tx.join(5)
        check(self.error is None, "UDP sender: %s" % self.error)


def drops(hosts, capsule=None):
    """The hosts' drop counters; with capsule (a name), also the drops of that capsule's
    caprun on whichever host runs it now (a burst released after a pause can meet a full
    channel into the capsule: drop_host_full) and of the capsule's own network stack,
    which caprun reads from its control page (a burst can overflow the socket's queue:
    rx_socket_full).  The capsule's counters travel with it, so they are read from the
    host it runs on, under one name."""
    total = {}
    for h in hosts:
        for k, v in daemon_stats(h).items():
            base = k.split(".")[-1]
            if base in DROP_COUNTERS:
                total[h.name + "." + base] = v
        if capsule:
            code, out, _ = h.capctl(["stats", "--json", capsule])
            if code == 0:
                st = json.loads(out)
                total[h.name + ".caprun.drop_host_full"] = st["drop_host_full"]
                for k, v in st["capsule"].items():
                    total["capsule." + k] = v
    return total


def kernel_udp(nss):
    """Each namespace's kernel UDP counters (/proc/net/snmp "Udp:"), for the diagnosis
    when the books do not balance: a datagram the kernel dropped is on no host's books."""
    out = {}
    for name, ns in nss:
        _, text, _ = ns.run(["cat", "/proc/net/snmp"])
        rows = [l.split() for l in text.splitlines() if l.startswith("Udp:")]
        if len(rows) == 2:
            out.update({name + "." + k: int(v) for k, v in zip(rows[0][1:], rows[1][1:])})
    return out


def udp_through_move(pause=False):
    """pause False: an ordinary move.  True: the target pulls 5 s late (its caphostd's
    CAPSULE_MIG_FAULT=target-ignore-commit), so the capsule runs nowhere for ~5 s and ~5000
    datagrams meet the bounded queues (gateway hold, SYNC queues), most of them dropped:
    the books must balance all the same."""
    env = {"B": {"CAPSULE_MIG_FAULT": "target-ignore-commit"}} if pause else {}
    topo = Topology(hosts=("A", "B", "G"), gateway="G", daemon_env=env).start()
    a, b = topo["A"], topo["B"]
    hosts = list(topo.hosts.values())
    x = a.capsule("udpecho", name="u").start()
    sock = topo.client.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    # Room for a released burst of replies while this process is busy elsewhere: the
    # client's own kernel dropping replies would put datagrams on nobody's books.
    sock.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)   # SO_RCVBUFFORCE: past rmem_max, as root
    # Warm-up, one datagram at a time (routes and the gateway's lookup settle), so
    # that the counted stream below starts with no drop pending anywhere.
    sock.settimeout(0.5)
    answered = 0
    for i in range(100):
        sock.sendto(b"warm-up %d" % i, (x.addr, 7))
        try:
            while True:
                data, _ = sock.recvfrom(2048)
                if data == b"warm-up %d" % i:
                    answered += 1
                    break
        except socket.timeout:
            continue
        if answered >= 10:
            break
    check(answered >= 10, "udpecho answered %d of the warm-up datagrams" % answered)
    while True:   # late warm-up replies drain (0.5 s of silence) before the counters are read
        try:
            sock.recvfrom(2048)
        except socket.timeout:
            break
    drops0 = drops(hosts, "u")
    nss = [(h.name, h) for h in hosts] + [("client", topo.client)]
    kernel0 = kernel_udp(nss)

    stream = UdpStream(sock, x.addr)
    stream.more(100, 20)
    m = migrate_run(topo, "u", a, b, json=True)
    check(m.code == 0, "capctl migrate u A -> B: %r" % m)
    diag(timeline(m.json))
    stream.more(200, 30)
    stream.stop()
    sent = len(stream.sent_at)
    # Replies still in flight arrive within a moment; a drop counted at a later release
    # (a held queue given up) too.  Wait until the books balance, bounded.
    deadline = time.monotonic() + 12
    while True:
        drops1 = drops(hosts, "u")
        grown = {k: v - drops0.get(k, 0) for k, v in drops1.items() if v != drops0.get(k, 0)}
        lost = sum(grown.values())
        if stream.answered() + lost >= sent or time.monotonic() > deadline:
            break
        time.sleep(0.1)   # bounded poll of counters another process keeps
    got = stream.answered()
    missing = sorted(set(range(sent)) - set(stream.replies))
    in_window = sum(1 for t in stream.sent_at if m.t0 <= t <= m.t1)
    diag("UDP: sent %d, answered %d, counted lost %d %r, unanswered %d, sent during the "
         "migration %d, duplicates %d" % (sent, got, lost, grown, len(missing), in_window,
                                         sum(v - 1 for v in stream.replies.values())))
    if got + lost != sent:
        kernel1 = kernel_udp(nss)
        diag("kernel UDP counters that moved: %r" % {
            k: v - kernel0.get(k, 0) for k, v in kernel1.items()
            if v != kernel0.get(k, 0) and ("Errors" in k or "NoPorts" in k)})
    check_eq(stream.junk, 0, "UDP replies that are not an echo of ours")
    check_eq([n for n, k in stream.replies.items() if k > 1][:5], [], "datagrams answered twice")
    check_eq(got + lost, sent, "UDP: replies received + drops counted by the hosts, against "
             "datagrams sent (unanswered: %s)" % missing[:20])
    # The bound: a datagram can only be lost while the capsule moves, so no more than
    # were sent during the migration, and every unanswered one was sent then.
    check(lost <= in_window, "UDP: %d lost, more than the %d sent during the migration" % (
        lost, in_window))
    late = [n for n in missing if not (m.t0 - 0.05 <= stream.sent_at[n] <= m.t1 + 0.5)]
    check_eq(late[:10], [], "unanswered datagrams sent outside the migration (+-50/500 ms)")
    check_eq(topo.lookup(x.addr), ("u", 2, 2), "directory entry of U after the move")
    if pause:
        # The queues were used and bounded: some datagrams sent while U ran nowhere were
        # answered afterwards (held, then released), and most were dropped (counted).
        held = sum(1 for n in stream.replies if m.t0 + 0.1 <= stream.sent_at[n] <= m.t1 - 0.1)
        check(held > 0, "no datagram sent during the pause was answered (nothing held?)")
        check(lost > 0, "nothing dropped though %d datagrams met bounded queues" % in_window)
    sock.close()


def usage_errors():
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a = topo["A"]
    x = a.capsule("counter", name="x").start()
    client = CountClient(topo.client.connect(x.addr, 9000))
    client.more(20, 20)

    def one_line_error(m, words, what):
        text = (m.err + m.out).strip()
        check(m.code in (1, 2), "%s: %r, want exit 1 or 2" % (what, m))
        check(len(text.splitlines()) == 1, "%s: not one line: %r" % (what, text))
        for w in words:
            check(w in text, "%s: error %r does not name %r" % (what, text, w))
        diag("%s: exit %d: %s" % (what, m.code, text))

    one_line_error(migrate_run(topo, "nosuch", a, 2), ["nosuch"], "unknown capsule")
    one_line_error(migrate_run(topo, "x", a, 1), ["1"], "--to its own host")
    client.more(20, 20)
    m = migrate_run(topo, "x", a, 42)
    text = (m.err + m.out).strip()
    check_eq(m.code, 1, "exit status of a migration to an unknown host 42 (%r)" % text)
    check("42" in text, "error for --to 42 does not name the host: %r" % text)
    diag("--to 42: exit %d: %s" % (m.code, text.splitlines()[-1] if text else ""))
    for args, what in ((["migrate", "x"], "no --to"), (["migrate", "x", "--to", "B"], "--to B"),
                       (["migrate"], "no name"), (["migrate", "x", "--to", "2", "--bogus"],
                                                  "unknown option")):
        code, out, err = a.capctl(args)
        check_eq(code, 2, "capctl %s (%s) exit status; stderr %r" % (" ".join(args), what, err))
    client.more(50, 20)
    client.stop()
    check_eq(topo.lookup(x.addr), ("x", 1, 1), "directory entry of X after the refused requests")
    wait_listed_only_on(topo, "x", a)
    check(x.proc.poll() is None, "X's caprun exited: %s" % x.output_text()[-300:])
    check(not x.wait_for("migrated", 0), "X's caprun says it migrated: %s" % x.output_text())


def main():
    tap = Tap()
    tap.run("migrate: capsule with a capsule peer (B) and an ordinary client moves A -> C live; "
            "streams byte-exact, no RST, directory host 3 epoch 2, A forwards nothing",
            happy_path)
    tap.run("migrate: capctl migrate without --json prints every phase and the downtime",
            human_timeline)
    tap.run("migrate: UDP stream through a move: replies + counted drops == sent, loss only "
            "during the migration", udp_through_move)
    tap.run("migrate: UDP through a 5 s pause (the target pulls 5 s late): bounded queues "
            "overflow, replies + counted drops == sent", udp_through_move, True)
    tap.run("migrate: unknown name, own host, unknown host 42, bad arguments: one-line errors, "
            "the capsule keeps counting on A", usage_errors)
    tap.done()


main()
