"""test_precopy.py: pre-copy live migration: memory moves in rounds while the capsule runs and keeps rewriting it, then only what changed moves frozen; every page arrives as last written, given-back memory comes back zero, the client's count goes on; stop-and-copy on request, and the fallback when it writes faster than the rounds go.

Topology: hosts A B G (ids 1-3, G the gateway) + the ordinary client.
X = images/memtouch with MIB MiB written, rewriting pages at a set rate
("churn") and freeing and calloc'ing a block now and then; "check" makes X
verify every page's stamp and count callocs that were not zero.  A lost
write (a page changed during a round and not sent again) or a revived page
(one the capsule gave back, sent early, never punched) fails "check".
"""
# tests/run timeout: 400
import os
import re

from caplib import CAPRUN, Capsule, Host, connect, tempdir
from miglib import CountClient, Tap, Topology, check, check_eq, migrate, request

MIB = 64
GROW_PER_MOVE = 128   # MiB the grower may add during one move (grows_while_moving)


def diag(text):
    print("# " + text, flush=True)


def setup(churn):
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    x = topo["A"].capsule("memtouch", name="x").start()
    ctl = topo.client.connect(x.addr, 9003)
    ctl.settimeout(60)
    check(request(ctl, "touch %d" % MIB).startswith("touched %d" % MIB),
          "memtouch did not touch %d MiB" % MIB)
    check_eq(request(ctl, "churn %d" % churn), "churn %d" % churn, "churn answer")
    client = CountClient(topo.client.connect(x.addr, 9003), ask="ping")
    client.more(30, 20)
    return topo, x, ctl, client


def check_memory(ctl, when):
    reply = request(ctl, "check")
    check_eq(reply, "check ok %d 0" % (MIB * 256), "memtouch check %s" % when)


def rounds_of(m):
    return [int(r) for r in re.findall(r"precopy round (\d+):", m)]


def precopy_under_writes():
    topo, x, ctl, client = setup(churn=16)
    check_memory(ctl, "before moving")
    here, there = topo["A"], topo["B"]
    for _ in range(2):
        client.longest = 0.0
        j = migrate(topo, "x", here, there)
        pc = j["precopy"]
        diag("%s -> %s: precopy %d rounds %.1f MiB in %d ms, then %d bytes frozen; phases %s; "
             "downtime %d ms" % (here.name, there.name, pc["rounds"], pc["bytes"] / 1048576,
                                 pc["ms"], j["bytes"], j["phases"], j["downtime_ms"]))
        check(pc["rounds"] >= 1, "no pre-copy round: %r" % j)
        check(pc["bytes"] >= MIB << 20, "pre-copy sent %d bytes, less than the %d MiB written" % (
            pc["bytes"], MIB))
        check(j["bytes"] < MIB << 20, "the frozen part sent %d bytes: all of it again" % j["bytes"])
        client.more(30, 30)
        diag("the client's longest wait for an answer around that move: %.0f ms" % (
            client.longest * 1000))
        check_memory(ctl, "after %s -> %s" % (here.name, there.name))
        here, there = there, here
    n = client.stop()
    diag("count continued to %d; longest wait for an answer %.0f ms" % (n, client.longest * 1000))


def grows_while_moving():
    """Memory mapped while the rounds run lies above the arena's mark the first looks saw
    (cap_control.arena_high: pre-copy scans the arena only below it): a second connection
    keeps asking for 1 MiB more ("touch 1", fresh arena pages, written at once) through two
    moves; every page of all of it must arrive as written.  No churn: memtouch's check
    expects the churn's pattern over a fixed number of blocks.  The grower works only while
    a move is asked for, up to GROW_PER_MOVE MiB each: a fast machine finishes a move in
    about 100 ms, and a grower left to run would spend its whole budget on the first."""
    import threading
    topo, x, ctl, client = setup(churn=0)
    grower = topo.client.connect(x.addr, 9003)
    grower.settimeout(60)
    total, limit, stop, moving = [MIB], [MIB], threading.Event(), threading.Event()

    def grow():
        while not stop.is_set():
            if not moving.wait(0.05) or total[0] >= limit[0]:
                continue
            m = re.match(r"touched 1 total (\d+)$", request(grower, "touch 1"))
            check(m is not None, "touch 1 while moving")
            total[0] = int(m.group(1))
    t = threading.Thread(target=grow, daemon=True)
    t.start()
    here, there = topo["A"], topo["B"]
    for _ in range(2):
        before = total[0]
        limit[0] = before + GROW_PER_MOVE
        moving.set()
        try:
            j = migrate(topo, "x", here, there)
        finally:
            moving.clear()
        diag("%s -> %s: %d MiB mapped and written during the move (precopy %d rounds, %d bytes "
             "frozen, downtime %d ms)" % (here.name, there.name, total[0] - before,
                                           j["precopy"]["rounds"], j["bytes"], j["downtime_ms"]))
        check(total[0] > before, "nothing was mapped while moving: the test proves nothing")
        here, there = there, here
    stop.set()
    t.join(60)
    check(not t.is_alive(), "the grower did not stop")
    check_eq(request(ctl, "check"), "check ok %d 0" % (total[0] * 256),
             "memtouch check after two moves while growing to %d MiB" % total[0])
    grower.close()
    client.stop()


def stop_and_copy_on_request():
    topo, x, ctl, client = setup(churn=16)
    m = migrate(topo, "x", topo["A"], topo["B"], json=False, extra=["--no-precopy"])
    text = m.out + m.err
    check("precopy off (asked)" in text, "no 'precopy off (asked)' line: %r" % text[-600:])
    check(not rounds_of(text), "pre-copy rounds despite --no-precopy: %r" % text[-600:])
    check(re.search(r"then|%d bytes of memory" % 0, text) is None or "rounds while it ran" not in text,
          "the timeline names pre-copy rounds: %r" % text[-600:])
    client.more(30, 30)
    check_memory(ctl, "after a stop-and-copy move")
    client.stop()


def falls_back_when_writing_fast():
    topo, x, ctl, client = setup(churn=600)
    m = migrate(topo, "x", topo["A"], topo["B"], json=False, extra=["--max-downtime", "1"])
    text = m.out + m.err
    rounds = rounds_of(text)
    said = re.search(r"precopy \d+ ms: .*", text)
    diag("rounds %s; %s" % (rounds, said.group(0) if said else "(no precopy line)"))
    check(rounds and rounds == list(range(1, len(rounds) + 1)), "rounds %r" % rounds)
    # How it stopped depends on how much CPU the capsule got meanwhile (a starved capsule
    # writes less): either way the line says which, and the memory must be intact.
    check(said and re.search(r"the rest moves while frozen|the rest fits the downtime target",
                             said.group(0)), "the timeline does not say how pre-copy stopped: %r" %
          text[-800:])
    # the target said ROUND_DONE for every round before the freeze (migctl.h)
    check(re.search(r"host 2 had written it all \d+ ms after the last round", said.group(0)),
          "the source did not learn that the target wrote every round: %r" % said.group(0))
    client.more(30, 30)
    check_memory(ctl, "after a move that fell back to stop-and-copy")
    client.stop()


def write_protected(cap):
    """{start address: registered for userfaultfd write-protection (smaps VmFlags "uw")} for
    each writable window of the capsule process's memfd."""
    out, start = {}, None
    with open("/proc/%d/smaps" % cap.capsule_pids()[0]) as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-[0-9a-f]+ (\S+) .*/memfd:capsule", line)
            if m or re.match(r"[0-9a-f]+-[0-9a-f]+ ", line):
                start = int(m.group(1), 16) if m and m.group(2).startswith("rw") else None
            elif start is not None and line.startswith("VmFlags:"):
                out[start] = "uw" in line.split()[1:]
    return out


def snapshot_while_writing():
    """--keep-running pre-copies into a staging copy; the file resumes with every page intact.
    Write-protection is registered by that first pre-copy, not at the start: a registered
    window maps a page read first without write access, so its first write faults again."""
    host = Host()
    cap = host.capsule("memtouch", name="snapx").start()
    with connect(cap.addr, 9003) as s:
        s.settimeout(60)
        check(request(s, "touch %d" % MIB).startswith("touched %d" % MIB), "touch")
        check_eq(request(s, "churn 16"), "churn 16", "churn answer")
        wp = write_protected(cap)
        check(len(wp) >= 3 and not any(wp.values()),
              "a fresh capsule's windows registered for write-protection: %r" % wp)
        path = os.path.join(tempdir(), "x.snap")
        code, out, err = host.capctl(["snapshot", "snapx", "-o", path, "--keep-running"])
        check(code == 0, "capctl snapshot --keep-running: exit %d, %r %r" % (code, out, err))
        wp = write_protected(cap)
        check(len(wp) >= 3 and all(wp.values()),
              "windows not registered for write-protection after a pre-copy: %r" % wp)
        m = re.search(r"frozen (\d+) ms", out)
        check(m is not None, "no frozen time in %r" % out)
        diag("keep-running snapshot of %d MiB rewritten at 16 MiB/s: %s" % (MIB, out.strip()))
        check_memory(s, "in the capsule that kept running")
    cap.stop()
    again = Capsule("snapx", env=host.env, argv=[CAPRUN, path]).start()
    with connect(again.addr, 9003) as s:
        s.settimeout(60)
        check_memory(s, "in the capsule resumed from the file")
    again.stop()


def main():
    tap = Tap()
    tap.run("precopy: 64 MiB rewritten at 16 MiB/s moves A -> B -> A in rounds while it runs, "
            "the frozen part is what changed, every page as last written, calloc memory zero, "
            "the count continues", precopy_under_writes)
    tap.run("precopy: memory mapped and written while the rounds run (above the arena mark the "
            "first looks saw) arrives, every page as written, through two moves", grows_while_moving)
    tap.run("precopy: --no-precopy moves all memory frozen and says so; memory intact",
            stop_and_copy_on_request)
    tap.run("precopy: a capsule rewriting 600 MiB/s with --max-downtime 1: rounds stop, the "
            "timeline says why (usually: the rest moves frozen), memory intact",
            falls_back_when_writing_fast)
    tap.run("precopy: a --keep-running snapshot of 64 MiB rewritten at 16 MiB/s is copied while it "
            "runs (its first look registers write-protection, none before); the capsule resumed "
            "from the file has every page as last written",
            snapshot_while_writing)
    tap.done()


main()
