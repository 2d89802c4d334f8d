"""test_migrate_daemons.py: daemons die in the middle of live migrations: capdird (kill -9 50 ms into the move, restarted 3 s later), the target's caphostd (at the pull, and at moments 50-300 ms into the move), the source's caphostd (at moments, and exactly after the pre-copy); each time the capsule runs in exactly one place, the directory names it, capctl's answer agrees, and the client's count continues.

Topology: hosts A B G (ids 1-3, G the gateway) + the ordinary client.
X = images/counter on A, a client asking for the next number in a loop
through the gateway.  Rounds move X to the other of A and B, whichever it
is on.  Daemons are restarted with the same arguments and run directory, as
a supervisor would; a capsule process is never restarted.  The kill times
are fault-injection timing, not synchronization: the rule must hold
whatever the moment.
"""
import json
import os
import signal
import subprocess
import threading
import time

from caplib import CAPCTL, tempdir
from miglib import (CountClient, Tap, Topology, check, check_eq, migrate_run, request,
                    wait_one_place)


def diag(text):
    print("# " + text, flush=True)


def setup(env=None, touch_mib=0):
    """X on A with its client; touch_mib > 0: a memtouch capsule with that much memory written,
    so a move takes long enough (hundreds of ms) for faults to land in its middle."""
    topo = Topology(hosts=("A", "B", "G"), gateway="G", daemon_env=env or {}).start()
    if touch_mib:
        x = topo["A"].capsule("memtouch", name="x").start()
        sock = topo.client.connect(x.addr, 9003)
        sock.settimeout(60)
        check(request(sock, "touch %d" % touch_mib).startswith("touched %d" % touch_mib),
              "memtouch did not touch %d MiB" % touch_mib)
        client = CountClient(sock, ask="ping")
    else:
        x = topo["A"].capsule("counter", name="x").start()
        client = CountClient(topo.client.connect(x.addr, 9000))
    client.more(30, 20)
    return topo, x, client


def migrate_with(topo, x, here, fault_at, fault, recover, settle=60):
    """Migrate x from here to the other host; at fault_at seconds after capctl starts run
    fault(), later recover().  Then the rule: one place, the directory names it, capctl exit 0
    exactly when it moved.  Returns the host it runs on."""
    there = topo["B"] if here is topo["A"] else topo["A"]
    result = {}
    t = threading.Thread(target=lambda: result.update(m=migrate_run(topo, "x", here, there,
                                                                    timeout=120)))
    t.start()
    time.sleep(fault_at)   # the fault's moment (see the module comment)
    fault()
    recover()
    t.join(150)
    check(not t.is_alive(), "capctl migrate did not return within 150 s")
    m = result["m"]
    where = wait_one_place(topo, x, timeout=settle)
    check(where is not None, "capsule x is gone although no capsule process was killed")
    moved = where is there
    check_eq(m.code == 0, moved, "capctl exit %d while X ends on %s (output %r)" % (
        m.code, where.name, (m.out + m.err).strip()[-300:]))
    if m.code:
        check("continues on this host" in m.err, "the error does not say where it continues: %r"
              % m.err.strip()[-300:])
    diag("fault at %3.0f ms: capctl exit %d in %.1f s; X on %s at epoch %d" % (
        fault_at * 1000, m.code, m.seconds, where.name, topo.lookup(x.addr)[2]))
    return where


def directory_killed():
    topo, x, client = setup(touch_mib=48)
    here = topo["A"]
    for at in (0.05, 0.2, 0.4):
        here = migrate_with(topo, x, here, at, topo.kill_directory,
                            lambda: (time.sleep(3), topo.start_directory()))
        client.more(30, 30)
    n = client.stop()
    diag("count continued to %d; longest wait for an answer %.0f ms" % (n, client.longest * 1000))


def target_daemon_dies_at_pull():
    topo, x, client = setup(env={"B": {"CAPSULE_MIG_FAULT": "target-hostd-exit-on-pull"}})
    a, b = topo["A"], topo["B"]
    m = migrate_run(topo, "x", a, b, timeout=120)   # B's caphostd exits at the pull ...
    # ... (capctl waits: the source holds its frozen copy until the target runs it or the
    # directory says otherwise); a supervisor restarts B's daemon: the incoming caprun
    # attaches to it and pulls.
    check(m.code in (0, 1), "capctl migrate: %r" % m)
    where = wait_one_place(topo, x)
    diag("without a restart: capctl exit %d, X on %s" % (m.code, where.name))
    check_eq((m.code, where), (1, a), "B's daemon stayed down past the source's wait: X "
             "continues on A")
    # Now with a supervisor: restart B's daemon while the source waits for STARTED.
    b.restart_daemon()
    client.more(20, 20)
    b.daemon.stop()
    b.start_daemon(env={"CAPSULE_MIG_FAULT": "target-hostd-exit-on-pull"})
    result = {}
    t = threading.Thread(target=lambda: result.update(m=migrate_run(topo, "x", a, b, timeout=120)))
    t.start()
    deadline = time.monotonic() + 60
    while b.daemon.running():
        check(time.monotonic() < deadline, "B's caphostd did not reach the pull")
        time.sleep(0.05)   # bounded poll: the fault ends the daemon at the pull
    b.restart_daemon()
    t.join(150)
    m = result["m"]
    where = wait_one_place(topo, x)
    check_eq((m.code, where), (0, b), "capctl exit and host after B's daemon came back (%r)" % m)
    client.more(30, 30)
    n = client.stop()
    diag("with a restart: X on B; count continued to %d; longest wait %.0f ms" % (
        n, client.longest * 1000))


def source_daemon_dies_at_prepare():
    topo, x, client = setup(env={"A": {"CAPSULE_MIG_FAULT": "source-hostd-exit-on-prepare"}})
    a = topo["A"]
    result = {}
    t = threading.Thread(target=lambda: result.update(m=migrate_run(topo, "x", a, topo["B"],
                                                                    timeout=60)))
    t.start()
    deadline = time.monotonic() + 30
    while a.daemon.running():
        check(time.monotonic() < deadline, "A's caphostd did not reach MIG_PREPARE")
        time.sleep(0.02)   # bounded poll: the fault ends the daemon at MIG_PREPARE
    a.restart_daemon()
    t.join(90)
    m = result["m"]
    check_eq(m.code, 1, "capctl exit (%r)" % m)
    check("went away while preparing" in m.err and "continues on this host" in m.err,
          "capctl's error: %r" % m.err.strip()[-300:])
    check_eq(wait_one_place(topo, x), a, "where X runs")
    # The capsule's caprun attached to the new daemon while the migration was its loop:
    # its relay must watch that uplink, or X never hears from the network again.
    client.more(50, 30)
    n = client.stop()
    diag("X stays on A; count continued to %d; longest wait %.0f ms" % (n, client.longest * 1000))


def source_daemon_dies_after_precopy():
    """The source's caphostd dies while its caprun is not reading the uplink (pre-copy just
    ended; a test fault makes caprun kill its peer then): the next record to it finds the
    socket dead.  caprun must attach to the restarted daemon and go on, not retry the dead
    socket (it once spun there forever: seen in test_chaos)."""
    topo, x, client = setup()
    a, b = topo["A"], topo["B"]
    result = {}
    t = threading.Thread(target=lambda: result.update(m=migrate_run(
        topo, "x", a, b, fault="source-hostd-killed-after-precopy", timeout=60)))
    t.start()
    deadline = time.monotonic() + 30
    while a.daemon.running():
        check(time.monotonic() < deadline, "A's caphostd was not killed after the pre-copy")
        time.sleep(0.02)   # bounded poll: the fault ends the daemon
    a.restart_daemon()
    t.join(90)
    check(not t.is_alive(), "capctl migrate did not return within 90 s of the restart")
    m = result["m"]
    check_eq((m.code, wait_one_place(topo, x)), (0, b),
             "capctl exit and where X runs (%r)" % ((m.out + m.err).strip()[-300:],))
    client.more(30, 30)
    n = client.stop()
    diag("X on B; count continued to %d; longest wait %.0f ms" % (n, client.longest * 1000))


def target_daemon_killed():
    topo, x, client = setup(touch_mib=48)
    here = topo["A"]
    for at in (0.05, 0.1, 0.2, 0.3):
        there = topo["B"] if here is topo["A"] else topo["A"]
        here = migrate_with(topo, x, here, at, there.kill_daemon, there.restart_daemon)
        client.more(30, 30)
    n = client.stop()
    diag("count continued to %d; longest wait for an answer %.0f ms" % (n, client.longest * 1000))


def source_daemon_killed():
    topo, x, client = setup(touch_mib=48)
    here = topo["A"]
    for at in (0.02, 0.1, 0.25, 0.4):
        src = here
        here = migrate_with(topo, x, here, at, src.kill_daemon, src.restart_daemon)
        client.more(30, 30)
    n = client.stop()
    diag("count continued to %d; longest wait for an answer %.0f ms" % (n, client.longest * 1000))


def asked_while_migrating():
    """The directory is stopped (SIGSTOP), so a move of X waits before anything, X running on
    A: meanwhile `capctl ps` on A lists X as migrating, `capctl stats` answers, a snapshot
    is refused in one line; once the directory goes on, the move completes."""
    topo, x, client = setup()
    a = topo["A"]
    stopped = [p.proc.pid for p in ([topo.directory] if topo.store != "etcd" else topo.replicas)]
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    mig = None
    try:
        mig = subprocess.Popen(a.prefix + [CAPCTL, "migrate", "x", "--to", "2", "--json"],
                               env=a.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:   # readiness: caprun answers ps from inside the migration
            state = [r["state"] for r in a.ps() if r["name"] == "x"]
            if state == ["migrating"]:
                break
            check(time.monotonic() < deadline and mig.poll() is None,
                  "capctl ps on A never showed x migrating (last: %r)" % state)
            time.sleep(0.05)   # bounded poll of another process's state
        client.more(10, 20)   # X still runs on A and answers
        code, out, err = a.capctl(["stats", "--json", "x"])
        check_eq((code, json.loads(out)["name"] if code == 0 else err), (0, "x"),
                 "capctl stats x during the migration")
        code, out, err = a.capctl(["snapshot", "x", "-o", os.path.join(tempdir(), "x.snap")])
        text = (out + err).strip()
        check(code == 1 and len(text.splitlines()) == 1 and "migrating" in text,
              "capctl snapshot during the migration: exit %d, %r" % (code, text))
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    out, err = mig.communicate(timeout=120)
    check_eq(mig.returncode, 0, "capctl migrate once the directory went on (%r)" % err[-300:])
    check_eq(json.loads(out)["to"], 2, "where capctl migrate says x went")
    check(wait_one_place(topo, x, timeout=30) is topo["B"], "x is not on B alone")
    client.more(30, 30)
    client.stop()


def main():
    tap = Tap()
    tap.run("migrate: while a move waits for a stopped directory, capctl ps on the source lists "
            "X as migrating, stats answers, a snapshot is refused; the move then completes",
            asked_while_migrating)
    tap.run("migrate: capdird killed 50-400 ms into a move and back 3 s later (3 rounds): one place, "
            "the directory agrees, the count continues", directory_killed)
    tap.run("migrate: the target's caphostd dies at the pull: the incoming caprun holds its copy "
            "and pulls through the restarted daemon; without one, the source keeps it",
            target_daemon_dies_at_pull)
    tap.run("migrate: the source's caphostd dies at MIG_PREPARE and restarts: the move fails, "
            "X continues on A and still hears its client", source_daemon_dies_at_prepare)
    tap.run("migrate: the source's caphostd dies after the pre-copy, before caprun asks the "
            "directory: caprun attaches to the restarted daemon and the move completes",
            source_daemon_dies_after_precopy)
    tap.run("migrate: the target's caphostd killed 50-300 ms into a move and restarted "
            "(4 rounds): one place, the directory agrees, the count continues",
            target_daemon_killed)
    tap.run("migrate: the source's caphostd killed mid-move and restarted (4 rounds): one "
            "place, the directory agrees, the count continues", source_daemon_killed)
    tap.done()


main()
