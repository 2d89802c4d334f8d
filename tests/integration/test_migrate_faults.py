"""test_migrate_faults.py: one live migration per failure (target dies mid-stream or before CONFIRM, refuses, lacks the image, is not running, ignores COMMIT; source dies or stalls after CONFIRM): capctl's exit status, exactly one host runs the capsule and the directory names it, the client's count goes on with the next number, no second copy anywhere.

Topology per case: hosts A B G (ids 1-3, G the gateway) + the ordinary
client.  X = images/counter on A (every "\\n" gets the next number of one
count); a client asks in a loop on one connection throughout and checks each
answer is the previous + 1, so a lost or repeated capsule state (a copy that
ran twice, a rollback) shows up as a wrong number.  Target-side faults are
set in B's caphostd environment (CAPSULE_MIG_FAULT, inherited by the
`caprun --incoming` it spawns), source-side ones with capctl's test flag
--fault (BRIEF-D.md).  The expected outcome of each is the transaction rule
of hosts/caprun/migfsm.h.
"""
import os
import re
import shutil

from miglib import (IMAGES, CountClient, Tap, Topology, check, check_eq, hosts_listing,
                     migrate, migrate_run, request, tempdir, wait_listed_only_on,
                     wait_one_copy)

# name -> (where the fault is set, capctl exit status, host the capsule ends on,
#          its directory epoch afterwards, why)
CASES = [
    ("target-exit-mid-stream", "target", 1, "A", 1,
     "END never written (64 MiB, more than the sockets buffer): the source cuts the stream "
     "and thaws, no directory change"),
    ("target-refuse-mid-stream", "target", 1, "A", 1,
     "the target refuses in the middle of the transfer and ends: the source reads its REFUSE "
     "after the broken stream, and thaws"),
    ("target-exit-before-confirm", "target", 1, "A", 2,
     "END written, no CONFIRM: the source FENCEs (re-claims at epoch 2) and thaws"),
    ("target-refuse", "target", 1, "A", 1,
     "REFUSE: the target discarded it, the source thaws without the directory"),
    ("image-missing", None, 1, "A", 1,
     "the target cannot open the capsule's image: a real refusal"),
    ("target-not-running", None, 1, "A", 1,
     "no caphostd on B: connection refused, the source thaws"),
    ("target-ignore-commit", "target", 0, "B", 2,
     "the pull 5 s late, whatever the source says: the target's MOVE still wins; it says STARTED"),
    ("target-exit-after-pull", "target", 1, "A", 3,
     "the target caprun dies after its pull won, before it runs: its caphostd hands the entry "
     "back (epoch 3); the source finds itself named again and thaws"),
    ("source-exit-after-confirm", "source", 1, "B", 2,
     "the source caprun dies after CONFIRM: the confirmed target pulls and runs it"),
    ("source-stall-after-confirm", "source", 0, "B", 2,
     "the source stops 10 s after CONFIRM (no COMMIT): the target pulls anyway and runs it"),
]


# What the error line says, where it must say more than that the capsule continues here.
WANT_TEXT = {
    "target-exit-mid-stream": r"host 2 closed the connection while the capsule was sent",
    "target-refuse-mid-stream": r"host 2 refused the capsule: refused by fault injection "
                                r"\(CAPSULE_MIG_FAULT=target-refuse-mid-stream\)",
}


def diag(text):
    print("# " + text, flush=True)


def one_case(fault, where, want_code, ends_on, want_epoch, why):
    env = {"B": {"CAPSULE_MIG_FAULT": fault}} if where == "target" else {}
    topo = Topology(hosts=("A", "B", "G"), gateway="G", daemon_env=env).start()
    a, b = topo["A"], topo["B"]
    image = None
    if fault == "image-missing":
        image = os.path.join(tempdir(), "counter-copy.cap")
        shutil.copyfile(os.path.join(IMAGES, "counter.cap"), image)
    if fault in ("target-exit-mid-stream", "target-refuse-mid-stream"):
        # A stream far larger than both sockets' buffers, so the target dies while the
        # source is still writing (with the counter's ~600 KiB the source would already
        # have written END into its socket: a FENCE case, like before-confirm).
        x = a.capsule("memtouch", name="x").start()
        sock = topo.client.connect(x.addr, 9003)
        sock.settimeout(60)
        reply = request(sock, "touch 64")
        check(reply.startswith("touched 64"), "memtouch: touch 64 answered %r" % reply)
        client = CountClient(sock, ask="ping")
    else:
        x = a.capsule("counter", name="x", image=image).start()
        client = CountClient(topo.client.connect(x.addr, 9000))
    check_eq(topo.lookup(x.addr), ("x", 1, 1), "directory entry of X before the migration")
    client.more(50, 20)
    if fault == "image-missing":
        os.unlink(image)   # the capsule runs on; only a host that must load the image lacks it
    if fault == "target-not-running":
        b.daemon.stop()
        check(not b.daemon.running(), "host B's caphostd still runs")

    mark_b = b.daemon.mark()
    m = migrate_run(topo, "x", a, b, json=True,
                    fault=fault if where == "source" else None)
    text = (m.err + m.out).strip()
    diag("%s: exit %s in %.2f s: %s" % (fault, m.code, m.seconds,
                                        text.splitlines()[-1] if text else "(no output)"))
    check_eq(m.code, want_code, "capctl migrate exit status (%s); output %r" % (why, text[-400:]))
    if m.code != 0:   # an error is one line naming what failed, last on stderr
        last = m.err.strip().splitlines()[-1] if m.err.strip() else ""
        check(last.startswith("capctl: migrate x"), "capctl exit %d without an error line "
              "naming the migration (stderr %r)" % (m.code, m.err[-300:]))
    if want_code == 1 and ends_on == "A":
        check(re.search(r"continues on", text), "the error does not say the capsule continues "
              "on this host: %r" % text[-300:])
    if fault in WANT_TEXT:
        check(re.search(WANT_TEXT[fault], text), "the error does not say why: want /%s/ in %r" % (
            WANT_TEXT[fault], text[-400:]))
    if want_code == 0:
        check_eq((m.json["to"], m.json["epoch"]), (2, want_epoch), "JSON to, epoch")

    host = topo[ends_on]
    wait_listed_only_on(topo, "x", host)
    check_eq(topo.lookup(x.addr), ("x", host.host_id, want_epoch),
             "directory entry of X afterwards (%s)" % why)
    where_now, pid = wait_one_copy(topo, [x])
    ran_on_b = b.daemon.wait_for(r"capsule x running at", 0, mark_b) if b.daemon.running() else None
    if ends_on == "A":
        check_eq(pid, x.pid, "the one caprun copy of X is its original on A (%s)" % where_now)
        check(ran_on_b is None, "host B started X: %r" % (ran_on_b and ran_on_b.group(0)))
        check(not x.wait_for("migrated", 0), "X's caprun says it migrated: %s" %
              x.output_text()[-300:])
    else:
        check(where_now.startswith("host B"), "the one caprun copy of X runs at %s" % where_now)
        check(b.daemon.wait_for(r"capsule x running at %s\b" % re.escape(x.addr), 10, mark_b),
              "host B's caphostd output has no 'capsule x running': %s" %
              b.daemon.output_text()[-400:])
        code = x.wait_exit(15)
        want_exit = 3 if fault == "source-exit-after-confirm" else 0
        check_eq(code, want_exit, "exit status of the source caprun on A")
    client.more(50, 30)
    n = client.stop()
    diag("%s: X on host %s epoch %d; count continued to %d; longest wait for an answer %.0f ms" % (
        fault, ends_on, want_epoch, n, client.longest * 1000))
    if fault == "source-stall-after-confirm":
        # The target pulls right after CONFIRM, not after the COMMIT the stalled source sends
        # 10 s late: the client waits a move's pause, not the 5 s a wait for COMMIT took.
        check(client.longest < 2.5, "the client waited %.2f s for an answer while the source "
              "stalled: did the target wait for COMMIT?" % client.longest)

    if fault == "target-not-running":
        # Once B's daemon is back, the same capsule moves: the failed attempt left nothing behind.
        b.start_daemon(env={})
        client = CountClient(client.sock)
        client.more(20, 20)
        j = migrate(topo, "x", a, b)
        check_eq((j["to"], j["epoch"]), (2, 2), "JSON of the retry after B came back")
        client.more(50, 30)
        client.stop()
        wait_listed_only_on(topo, "x", b)
        wait_one_copy(topo, [x])
    check_eq(sorted(hosts_listing(topo, "x")), [ends_on if fault != "target-not-running" else "B"],
             "hosts listing X at the end")


def main():
    tap = Tap()
    for fault, where, code, ends_on, epoch, why in CASES:
        tap.run("migrate fault %s: exit %d, runs on %s at epoch %d, count continues, one copy" % (
            fault, code, ends_on, epoch), one_case, fault, where, code, ends_on, epoch, why)
    tap.done()


main()
