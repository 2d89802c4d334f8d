"""test_chaos.py: a ring of live migrations, each with one process killed (kill -9) at a random moment: the source's or the target's caprun, the source's, the target's or the gateway's caphostd, or capdird; daemons are restarted as a supervisor would.  After each round the capsule runs in exactly one place and the directory says where (or, only when the caprun holding its one current copy was killed, it is gone and the directory says so), and the client's count continues without a gap or a repeat.

Topology: hosts A B C G (ids 1-4, G the gateway) + the ordinary client.
X = images/memtouch with 16 MiB written (a move takes long enough for
faults to land in every phase), asked "ping" in a loop through the gateway:
every answer must be the previous + 1.  CHAOS_ROUNDS (default 100; `make
soak` runs 1000) and CHAOS_SEED (printed at the start: a failure replays
with the same seed) choose the run.
"""
import os
import random
import threading
import time

from miglib import (CountClient, Tap, Topology, caprun_pids, check, check_eq, daemon_stats,
                    host_of_pid, migrate_run, request, wait_one_place)

ROUNDS = int(os.environ.get("CHAOS_ROUNDS", "100"))
SEED = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1 << 31))
RING = ("A", "B", "C")
VICTIMS = ("source caprun", "target caprun", "source caphostd", "target caphostd",
           "gateway caphostd", "capdird")
# CHAOS_VICTIMS="capdird,target caphostd": only those (for chasing one kind of failure)
if os.environ.get("CHAOS_VICTIMS"):
    VICTIMS = tuple(v.strip() for v in os.environ["CHAOS_VICTIMS"].split(","))
TOUCH_MIB = 16
VERBOSE = os.environ.get("CHAOS_VERBOSE") == "1"


def diag(text):
    print("# " + text, flush=True)


def new_capsule(topo, host, name):
    x = host.capsule("memtouch", name=name).start()
    sock = topo.client.connect(x.addr, 9003)
    sock.settimeout(120)
    check(request(sock, "touch %d" % TOUCH_MIB).startswith("touched %d" % TOUCH_MIB),
          "memtouch did not touch %d MiB" % TOUCH_MIB)
    client = CountClient(sock, ask="ping")
    client.more(20, 30)
    return x, client


def the_caprun(topo, host):
    """The one caprun of X on host (X is the only capsule of the run), or None."""
    for pid in caprun_pids():
        if host_of_pid(topo, pid) is host:
            return pid
    return None


def kill_pid(pid):
    try:
        os.kill(pid, 9)
    except OSError:
        pass


def dump(topo, why):
    """What each daemon saw, for a failure's report."""
    diag(why)
    for h in topo.hosts.values():
        try:
            st = daemon_stats(h)
            diag("caphostd %s counters: %s" % (h.name, " ".join(
                "%s=%d" % kv for kv in sorted(st.items()) if kv[1] and not kv[0].startswith("wire"))))
        except Exception as e:   # the report must not hide the failure
            diag("caphostd %s counters: %s" % (h.name, e))
        if h.daemon:
            diag("caphostd %s says: %s" % (h.name, h.daemon.output_text()[-600:].replace("\n", " | ")))


class RoundWatch:
    """A watchdog for the report: a round normally takes about a second; one that takes
    longer than SLOW_S prints, once, what it is waiting for and what each daemon saw,
    so a run cut short by tests/run's timeout still says where it stuck."""
    SLOW_S = 30

    def __init__(self, topo):
        self.topo, self.lock = topo, threading.Lock()
        self.round, self.step, self.t0, self.told = 0, "", time.monotonic(), True
        threading.Thread(target=self.watch, daemon=True).start()

    def enter(self, rnd, step):
        with self.lock:
            if rnd != self.round and self.round >= 0:
                self.round, self.t0, self.told = rnd, time.monotonic(), False
            self.step = step

    def stop(self):
        with self.lock:
            self.told, self.round = True, -1

    def watch(self):
        while True:
            time.sleep(1)   # a watchdog's tick, not synchronization
            with self.lock:
                late = not self.told and time.monotonic() - self.t0 > self.SLOW_S
                if late:
                    self.told = True
                    what = "round %d stuck %.0f s in: %s" % (self.round, time.monotonic() - self.t0,
                                                             self.step)
            if late:
                dump(self.topo, "%s; capruns %s" % (what, caprun_pids()))


def one_round(topo, rnd, i, x, here, span, watch):
    """Migrate X from here to the next host of the ring with one fault; returns
    (where X runs now or None if gone, what was killed, the victim's kind)."""
    there = topo[RING[(RING.index(here.name) + 1) % len(RING)]]
    victim = rnd.choice(VICTIMS)
    at = rnd.uniform(0, span)
    restart_after = rnd.choice((0.0, 0.0, 0.5, 2.0))   # a supervisor, quick or slow
    watch.enter(i, "capctl migrate %s -> %s, %s to be killed" % (here.name, there.name, victim))
    before = daemon_stats(there)
    result = {}
    t = threading.Thread(target=lambda: result.update(m=migrate_run(topo, x.name, here, there,
                                                                    timeout=180)))
    t.start()
    time.sleep(at)   # the fault's random moment (fault injection, not synchronization)
    killed = None
    if victim == "source caprun":
        killed = the_caprun(topo, here)
        if killed:
            kill_pid(killed)
    elif victim == "target caprun":
        # The incoming caprun once it exists (if the move ended meanwhile: X itself, there).
        deadline = time.monotonic() + span
        while killed is None and (t.is_alive() or time.monotonic() < deadline):
            killed = the_caprun(topo, there)
            if killed is None:
                time.sleep(0.005)   # bounded poll for a process another one spawns
        if killed:
            kill_pid(killed)
    else:
        daemon = {"source caphostd": here, "target caphostd": there,
                  "gateway caphostd": topo["G"]}.get(victim)
        if daemon:
            daemon.kill_daemon()
        else:
            topo.kill_directory()
        time.sleep(restart_after)   # how long the supervisor takes
        if daemon:
            daemon.restart_daemon()
        else:
            topo.start_directory()
        killed = victim
    t.join(200)
    check(not t.is_alive(), "round %d: capctl migrate did not return within 200 s" % i)
    m = result["m"]
    what = "%s (%s)" % (victim, killed) if killed else "%s (no such process then)" % victim
    what += " at %.0f ms, restarted after %.1f s" % (at * 1000, restart_after)
    if VERBOSE:
        diag("round %d: %s -> %s, killed %s at %.0f ms: capctl exit %d: %s" % (
            i, here.name, there.name, what, at * 1000, m.code,
            (m.out + m.err).strip().splitlines()[-1:] or ""))
    watch.enter(i, "waiting for X in one place after killing %s" % what)
    try:
        where = wait_one_place(topo, x, timeout=90)
    except Exception:
        diag("round %d: %s -> %s, killed %s at %.0f ms: capctl exit %d: %s" % (
            i, here.name, there.name, what, at * 1000, m.code, (m.out + m.err).strip()[-400:]))
        for h in topo.hosts.values():
            if h.daemon:
                diag("caphostd %s: %s" % (h.name, h.daemon.output_text()[-800:]))
        raise
    if where is None:
        # Gone: allowed only when the caprun holding its one current copy was killed: the
        # source's (its only copy unless the target holds a complete one, which then pulls),
        # or the target's after it started running X (STARTING reached its caphostd).
        check(victim in ("source caprun", "target caprun") and killed,
              "round %d: X is gone after killing %s; capctl: %r" % (i, what, m))
        after = daemon_stats(there)
        if victim == "target caprun":
            check(after["mig_started"] > before["mig_started"], "round %d: X is gone although "
                  "the target caprun was killed before it started X (the source held a copy); "
                  "capctl: %r" % (i, m))
        else:
            # The target pulls only once the whole stream is in, and then always (it does
            # not wait for the source's COMMIT): a pull means it held a complete copy.
            check(after["mig_pulls"] == before["mig_pulls"], "round %d: X is gone although "
                  "the target held a complete copy (it pulled) when the source caprun was "
                  "killed; capctl: %r" % (i, m))
        check(m.code != 0 or victim == "target caprun", "round %d: capctl said success but X "
              "is gone: %r" % (i, m))
    elif m.code == 0 or victim != "source caprun":
        # capctl reports success exactly when X runs on the target (unless the caprun it
        # asked was killed: then it cannot know, and says so).
        check_eq(m.code == 0, where is there, "round %d (%s): capctl exit %d while X ends on %s"
                 " (%r)" % (i, what, m.code, where.name, (m.out + m.err).strip()[-200:]))
    return where, what


def chaos():
    rnd = random.Random(SEED)
    diag("chaos seed %d, %d rounds (replay: CHAOS_SEED=%d CHAOS_ROUNDS=%d)" % (
        SEED, ROUNDS, SEED, ROUNDS))
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
    gen = 1
    x, client = new_capsule(topo, topo["A"], "x1")
    here = topo["A"]
    # A clean move first: how long one takes sets the window the faults land in.
    t0 = time.monotonic()
    m = migrate_run(topo, x.name, here, topo["B"])
    took = time.monotonic() - t0
    check_eq(m.code, 0, "the first (fault-free) migration: %r" % m)
    span = max(0.1, 1.2 * took)
    here = topo["B"]
    client.more(20, 30)
    diag("a clean move takes %.0f ms: faults land in the first %.0f ms of each" % (
        took * 1000, span * 1000))
    tally = {}
    lost = 0
    watch = RoundWatch(topo)
    t_start = time.monotonic()
    for i in range(1, ROUNDS + 1):
        where, what = one_round(topo, rnd, i, x, here, span, watch)
        kind = what.split(" (")[0]
        tally[kind] = tally.get(kind, 0) + 1
        if where is None:
            lost += 1
            client.stopping = True   # its connection died with X; a new capsule takes over
            gen += 1
            here = topo[RING[i % len(RING)]]
            watch.enter(i, "a new capsule x%d on %s" % (gen, here.name))
            x, client = new_capsule(topo, here, "x%d" % gen)
            continue
        here = where
        watch.enter(i, "the client's next 10 answers from X on %s (after %s)" % (where.name, what))
        try:
            client.more(10, 60)
        except Exception:
            dump(topo, "round %d (%s): X on %s, its client stalled" % (i, what, where.name))
            raise
        if i % 10 == 0 or i == ROUNDS:
            diag("%d rounds in %.0f s; X (%s) on %s; count %s; lost with their only copy: %d" % (
                i, time.monotonic() - t_start, x.name, here.name, client.last, lost))
    watch.stop()
    n = client.stop()
    diag("victims: %s" % ", ".join("%s %d" % kv for kv in sorted(tally.items())))
    diag("count of the last capsule continued to %d; longest wait for an answer %.0f ms" % (
        n, client.longest * 1000))


def main():
    tap = Tap()
    tap.run("chaos: %d live migrations, each with one process killed at a random moment "
            "(seed %d): one place, the directory agrees, the count continues" % (ROUNDS, SEED),
            chaos)
    tap.done()


main()
