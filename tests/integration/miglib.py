"""miglib.py: helpers for live-migration tests: run `capctl migrate`, check its JSON, find where a capsule runs, count copies, a counting client.

Split from topolib.py (which it re-exports, so a migration test imports
everything it needs from here).
"""

import os
import re
import threading
import time

from topolib import *          # noqa: F401,F403  (re-exported for the tests)
from topolib import TestFailure, alive, check, check_eq, descendants, request  # noqa: F401

# ------------------------------------------------ live migration (BRIEF-D.md)
#
# `capctl migrate NAME --to HOSTID [--json] [--svg FILE]` runs on the capsule's current
# (source) host.  Afterwards the capsule runs under a `caprun --incoming`
# that the target's caphostd spawned: its console lines appear in that
# daemon's output (host.daemon), `capctl ps` lists it there and no longer on
# the source, and the directory names the target at epoch + 1.

MIG_PHASES = ("sync", "freeze", "transfer", "restore", "directory", "flush")
MIG_JSON_KEYS = ("name", "from", "to", "epoch", "phases", "downtime_ms", "total_ms", "bytes",
                 "peers")


class Migration:
    """One `capctl migrate` run: exit code, output, parsed JSON (or None), wall-clock span."""

    def __init__(self, code, out, err, t0, t1, as_json):
        import json as _json
        self.code, self.out, self.err, self.t0, self.t1 = code, out, err, t0, t1
        self.seconds = t1 - t0
        self.json = None
        if as_json and code == 0:
            try:
                self.json = _json.loads(out)
            except ValueError:
                raise TestFailure("capctl migrate --json printed no JSON object: %r (stderr %r)" % (
                    out[-400:], err[-200:]))

    def __repr__(self):
        return "exit %s, stdout %r, stderr %r" % (self.code, self.out[-500:], self.err[-300:])


def migrate_run(topo, name, from_host, to_host, json=True, fault=None, timeout=90, extra=()):
    """capctl migrate NAME --to ID [--json] [--fault F] [EXTRA...] on from_host, whatever the
    outcome.

    to_host: a TopoHost, or a host id (an int, e.g. an unknown one)."""
    to_id = to_host if isinstance(to_host, int) else to_host.host_id
    args = ["migrate", name, "--to", str(to_id)] + (["--json"] if json else []) + \
        (["--fault", fault] if fault else []) + list(extra)
    t0 = time.monotonic()
    code, out, err = from_host.capctl(args, timeout=timeout)
    return Migration(code, out, err, t0, time.monotonic(), json)


def check_migration_json(j, name, from_id, to_id, epoch):
    """The --json object of a successful migration has exactly what BRIEF-D.md promises."""
    missing = [k for k in MIG_JSON_KEYS if k not in j]
    check(not missing, "capctl migrate --json lacks %s: %r" % (missing, j))
    check_eq((j["name"], j["from"], j["to"], j["epoch"]), (name, from_id, to_id, epoch),
             "capctl migrate --json name, from, to, epoch")
    phases = j["phases"]
    check(isinstance(phases, dict), "phases is not an object: %r" % (phases,))
    for p in MIG_PHASES:
        v = phases.get(p + "_ms")
        check(isinstance(v, int) and not isinstance(v, bool) and v >= 0,
              "phases.%s_ms is %r, want an integer >= 0 (phases %r)" % (p, v, phases))
    for k in ("downtime_ms", "total_ms", "bytes"):
        check(isinstance(j[k], int) and not isinstance(j[k], bool) and j[k] >= 0,
              "%s is %r, want an integer >= 0" % (k, j[k]))
    check(j["downtime_ms"] <= j["total_ms"], "downtime_ms %d > total_ms %d" % (
        j["downtime_ms"], j["total_ms"]))
    check(j["bytes"] > 0, "bytes transferred is 0")
    peers = j["peers"]
    check(isinstance(peers, dict) and isinstance(peers.get("asked"), int) and
          isinstance(peers.get("acked"), int) and 0 <= peers["acked"] <= peers["asked"],
          "peers is %r, want {asked, acked} with 0 <= acked <= asked" % (peers,))


def migrate(topo, name, from_host, to_host, json=True, fault=None, timeout=90, extra=()):
    """A migration that must succeed: capctl exit 0 (checked), the JSON checked against
    the contract (epoch: the directory's before + 1); returns the parsed JSON (json=True)
    or the Migration (json=False)."""
    before = None
    if json:
        ip = [r.get("ip") for r in from_host.ps() if r.get("name") == name]
        check(ip, "capctl ps on host %s does not list %s before migrating it" % (
            from_host.name, name))
        before = topo.lookup(ip[0])
    m = migrate_run(topo, name, from_host, to_host, json=json, fault=fault, timeout=timeout,
                    extra=extra)
    check(m.code == 0, "capctl migrate %s %s -> %s: %r" % (
        name, from_host.name, getattr(to_host, "name", to_host), m))
    if not json:
        return m
    check_migration_json(m.json, name, from_host.host_id, to_host.host_id,
                         (before[2] + 1) if before else m.json.get("epoch"))
    return m.json


def hosts_listing(topo, name):
    """Names of the hosts whose `capctl ps --json` lists a capsule called name."""
    return [h.name for h in topo.hosts.values()
            if any(r.get("name") == name for r in h.ps())]


def wait_listed_only_on(topo, name, host, timeout=15.0):
    """Bounded wait until exactly host lists name (a source's caprun exits just after it
    reports, so the answer may take a moment to settle); a timeout is a failure."""
    deadline = time.monotonic() + timeout
    while True:
        where = hosts_listing(topo, name)
        if where == [host.name]:
            return
        check(time.monotonic() < deadline, "capctl ps lists %s on %s, want only on %s" % (
            name, where or "no host", host.name))
        time.sleep(0.05)   # bounded poll of other processes' state


def _exe_name(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None, []
    return os.path.basename(argv[0].decode("utf-8", "replace")), [a.decode() for a in argv if a]


def caprun_copies(topo, originals=()):
    """Live caprun processes that could run the capsule: the originals (Capsule objects the
    test started) still alive, and every caprun below any host's caphostd (`--incoming`).
    As [(where, pid)]."""
    out = [("%s caprun" % getattr(c, "name", "?"), c.pid) for c in originals
           if c.proc is not None and c.proc.poll() is None]
    for h in topo.hosts.values():
        if h.daemon is None or not h.daemon.running():
            continue
        for pid in descendants(h.daemon.proc.pid):
            exe, argv = _exe_name(pid)
            if exe == "caprun" and alive(pid):
                out.append(("host %s: %s" % (h.name, " ".join(argv[1:4])), pid))
    return out


def caprun_pids(exclude=()):
    """Every live caprun below this test process (it is a subreaper: the `caprun --incoming`
    of a caphostd the test killed is still ours), except the PIDs in exclude."""
    out = []
    for pid in descendants(os.getpid()):
        exe, _ = _exe_name(pid)
        if exe == "caprun" and alive(pid) and pid not in exclude:
            out.append(pid)
    return out


def host_of_pid(topo, pid):
    """The TopoHost whose network namespace process pid is in, or None."""
    try:
        ns = os.readlink("/proc/%d/ns/net" % pid)
    except OSError:
        return None
    for h in topo.hosts.values():
        try:
            if os.readlink(h.netns.path) == ns:
                return h
        except OSError:
            pass
    return None


def wait_one_place(topo, cap, exclude=(), timeout=60.0):
    """Bounded wait until the capsule cap (a Capsule: its name and address) runs in exactly
    one place: one caprun process holds it (all capruns below the test minus exclude), that
    process is on host H, the directory names H, and H's `capctl ps` lists it running.
    Returns H.  Or, if no caprun holds it, the directory must have no entry (it is gone):
    returns None.  Anything else after timeout is a failure naming what was seen."""
    deadline = time.monotonic() + timeout
    while True:
        pids = caprun_pids(exclude)
        entry = topo.lookup(cap.addr)
        seen = "capruns %s on %s; directory %r" % (
            pids, [getattr(host_of_pid(topo, p), "name", "?") for p in pids], entry)
        if len(pids) == 1 and entry is not None:
            h = host_of_pid(topo, pids[0])
            if h is not None and entry[1] == h.host_id and any(
                    r.get("name") == cap.name and r.get("state") == "running" for r in h.ps()):
                return h
        if not pids and entry is None:
            return None
        check(time.monotonic() < deadline, "capsule %s not in exactly one place after %.0f s: %s"
              % (cap.name, timeout, seen))
        time.sleep(0.1)   # bounded poll of other processes' state


def wait_one_copy(topo, originals=(), timeout=20.0):
    """Bounded wait until exactly one caprun can run the capsule; returns where it is."""
    deadline = time.monotonic() + timeout
    while True:
        copies = caprun_copies(topo, originals)
        if len(copies) == 1:
            return copies[0]
        check(time.monotonic() < deadline, "%d caprun copies of the capsule: %r" % (
            len(copies), copies))
        time.sleep(0.05)   # bounded poll of other processes' state


def ask_count(sock, ask="n"):
    """One question to a counting capsule, its number: images/counter ("n" -> "N") or
    images/memtouch ("ping" -> "pong N")."""
    reply = request(sock, ask)
    m = re.fullmatch(r"(?:pong )?(\d+)", reply)
    check(m is not None, "%r answered %r" % (ask, reply))
    return int(m.group(1))


class CountClient:
    """A client of images/counter (TCP 9000; or memtouch, ask="ping") asking for the next
    number in a loop, in a thread: every answer must be exactly the previous one + 1
    (nothing lost, nothing twice); shared=True: one of several clients of one count, each
    answer only larger than the one before.  Progress can be awaited; the longest wait for
    one answer is kept, and the longest time between two answers since reset_window()."""

    def __init__(self, sock, rate=0.005, ask="n", shared=False):
        self.sock, self.rate, self.ask, self.shared = sock, rate, ask, shared
        self.last_at = None
        self.longest_between = 0.0
        self.sock.settimeout(None)
        self.first = self.last = None
        self.replies = 0
        self.longest = 0.0
        self.error = None
        self.stopping = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while not self.stopping:
                t0 = time.monotonic()
                n = ask_count(self.sock, self.ask)
                dt = time.monotonic() - t0
                now = time.monotonic()
                with self.cond:
                    if self.last is not None and (n <= self.last if self.shared
                                                  else n != self.last + 1):
                        self.error = "counter answered %d after %d" % (n, self.last)
                    if self.last_at is not None:
                        self.longest_between = max(self.longest_between, now - self.last_at)
                    self.last_at = now
                    if self.first is None:
                        self.first = n
                    self.last = n
                    self.replies += 1
                    self.longest = max(self.longest, dt)
                    self.cond.notify_all()
                    if self.error:
                        return
                if self.rate:
                    time.sleep(self.rate)   # pacing: a steady client, not a flood
        except (OSError, TestFailure) as e:
            with self.cond:
                if self.error is None:
                    self.error = "counter client after %d replies (last %s): %s" % (
                        self.replies, self.last, e)
                self.cond.notify_all()

    def reset_window(self):
        """Start measuring longest_between afresh (from the next answer on)."""
        with self.cond:
            self.longest_between = 0.0
            self.last_at = None

    def more(self, n, timeout):
        """Wait for n more answers than now; an error or a timeout is a failure."""
        with self.cond:
            want = self.replies + n
            self.cond.wait_for(lambda: self.replies >= want or self.error, timeout)
            check(self.error is None, self.error or "")
            check(self.replies >= want, "counter client: %d of %d more answers within %.0fs "
                  "(last %s)" % (self.replies - want + n, n, timeout, self.last))

    def stop(self, timeout=30):
        """Stop asking; then one more question on the same connection must get last + 1.
        Returns that number."""
        self.stopping = True
        self.thread.join(timeout)
        check(not self.thread.is_alive(), "counter client stuck waiting for an answer "
              "(last %s)" % self.last)
        check(self.error is None, self.error or "")
        n = ask_count(self.sock, self.ask)
        if self.shared:
            check(n > self.last, "the counter's next number after %d answers: %d, not above %d"
                  % (self.replies, n, self.last))
        else:
            check_eq(n, self.last + 1, "the counter's next number after %d answers" % self.replies)
        self.last = n
        return n


# ------------------------------------------------ the ring of migrations

RING = ("A", "B", "C")


def migrate_ring(count, net_faults=None, rate=0.002, warm=100, max_stall=None, max_inflight=None,
                 diag=print):
    """One capsule migrates around a ring of hosts (A -> B -> C -> A ...) count times while a
    capsule peer and ordinary clients stream through it (test_migrate_many, test_migrate_lossy).

    Topology: hosts A B C G (ids 1-4, G the gateway) + the ordinary client.  Y = echo on B;
    X = relayer on A (each client connection makes X open its own connection to Y:7), so each
    stream crosses client<->X and X<->Y.  net_faults: every caphostd's --net-faults spec.
    After each move every stream must get 20 more lines back (lines sent after the move: the
    stream runs through the new host).  At the end: every line exactly once, in order, the
    relaying capsule's byte counts equal the client's, no RST.  max_stall (seconds): the
    longest wait for a line after warm-up must stay below it.  max_inflight: lines a stream
    may have out and not back (LineStream).  Returns a summary dict."""
    import socket
    import statistics
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G", net_faults=net_faults).start()
    b = topo["B"]
    y = b.capsule("echo", name="y").start()
    x = topo["A"].capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    client_sniff = Sniffer("eth0", topo.client)
    streams = relay_streams(topo, x, y, 3, warm=warm, rate=rate, max_inflight=max_inflight,
                            lossy=net_faults is not None)
    for s in streams:
        with s.cond:
            s.longest_stall = (0.0, s.got)   # from here on: what the moves cost

    downtimes, totals, moves = [], [], []
    t_start = time.monotonic()
    here = 0
    for i in range(count):
        src, dst = topo[RING[here]], topo[RING[(here + 1) % len(RING)]]
        sent_before = [s.sent for s in streams]
        j = migrate(topo, "x", src, dst)
        check_eq((j["to"], j["epoch"]), (dst.host_id, i + 2), "migration %d: JSON to, epoch" % (i + 1))
        downtimes.append(j["downtime_ms"])
        totals.append(j["total_ms"])
        # Progress with lines sent after the move: the streams run through the new host.
        t0 = time.monotonic()
        for s, n in zip(streams, sent_before):
            s.wait_got(n + 20, 30)
        moves.append(time.monotonic() - t0)
        here = (here + 1) % len(RING)
        if (i + 1) % 10 == 0 or i + 1 == count:
            diag("%d migrations in %.0f s; lines back %s" % (
                i + 1, time.monotonic() - t_start, [s.got for s in streams]))
            check_eq(topo.lookup(x.addr), ("x", dst.host_id, i + 2),
                     "directory entry of X after migration %d" % (i + 1))
            wait_listed_only_on(topo, "x", dst)

    for s in streams:
        n = s.finish(30)
        check_eq(s.got, n, "%s: lines back against lines sent" % s.tag)
        check(n >= 20 * count, "%s: only %d lines over %d migrations" % (s.tag, n, count))
    check_eq(rsts(client_sniff.snapshot()), [], "RST segments seen by the client")
    check(y.proc.poll() is None, "Y's caprun exited: %s" % y.output_text()[-300:])
    # The other end's count: closing each client's sending side ends its pair in X, which
    # prints how many bytes it moved each way (on the host it ended on, via that caphostd).
    last = topo[RING[count % len(RING)]]
    where = last.daemon if count else x   # after a move X runs under that host's caphostd
    for i, s in enumerate(streams, 1):
        s.sock.shutdown(socket.SHUT_WR)
        m = where.wait_for(r"relayer: pair %d closed: (\d+) bytes client->target, (\d+) bytes "
                           r"target->client" % i, 30)
        check(m is not None, "X never reported pair %d closed (on host %s)" % (i, last.name))
        want = s.sent * len(s.line(0))
        check_eq((int(m.group(1)), int(m.group(2))), (want, want),
                 "%s: bytes X moved client->Y and Y->client, against %d lines of %d bytes" % (
                     s.tag, s.sent, len(s.line(0))))
    stall = max(s.longest_stall[0] for s in streams)
    summary = {"seconds": time.monotonic() - t_start, "longest_stall": stall,
               "slowest_move": max(moves) if moves else 0.0,
               "downtime_median": statistics.median(downtimes) if downtimes else 0,
               "downtime_max": max(downtimes) if downtimes else 0}
    diag("downtime ms over %d migrations: median %.0f, max %d, min %d; total ms median %.0f, "
         "max %d" % (count, summary["downtime_median"], summary["downtime_max"],
                     min(downtimes) if downtimes else 0,
                     statistics.median(totals) if totals else 0, max(totals) if totals else 0))
    diag("longest stall of a stream after warm-up %.2f s (%s); slowest progress after a move "
         "%.2f s" % (stall, ", ".join("%s %.2f s at line %d" % (s.tag, s.longest_stall[0],
                                                                 s.longest_stall[1])
                                      for s in streams), summary["slowest_move"]))
    if net_faults:
        faults = {}
        for h in topo.hosts.values():
            for k, v in daemon_stats(h).items():
                if k.startswith(("fault_", "ctl_", "reinject_", "wire_replay", "wire_too_old",
                                 "drop_", "sync_timeouts", "sync_dropped")) or \
                        k.endswith(("_stale", "_given_up")):
                    faults[k] = faults.get(k, 0) + v
        diag("all hosts: %s" % " ".join("%s=%d" % kv for kv in sorted(faults.items()) if kv[1]))
    if max_stall is not None:
        check(stall < max_stall, "a stream waited %.1f s for a line (bound %.0f s)" % (
            stall, max_stall))
    return summary
