"""test_procs_migrate.py: live migration of a capsule of several processes (docs/PROCESSES.md section 7): a TCP connection a forked child serves, echoing while it moves A -> B -> A; a tree of 3 (a parent blocked in waitpid, a zombie, a reader blocked on a pipe with 5000 bytes unread, a pending signal) moved A -> B with pre-copy and back with --no-precopy, then set going with exact output, pids, pipe bytes and wait statuses; a busy pipe between two processes moved A -> B -> A with pre-copy, every byte in order; a child rewriting 16 MiB moved A -> B -> A, pre-copied while it writes, every page as last written; the target dying before CONFIRM leaves every process running on the source, pipes working; the source dying after CONFIRM leaves them all to the target; a process group (images/pgroups) moved, then killed and reaped as one; an shm_open object mapped by two processes (images/shm) moved, the same bytes in both after it; a /tmp file a child holds open (images/tmpshare) moved, then appended to, unlinked and read; processes that exec'd (images/execs) moved.

Topology (topolib.Topology): hosts A B G (ids 1-3), G the gateway for the
ordinary client.  After a move the capsule's console is the target
caphostd's output (the `caprun --incoming` it spawned), and its exit status
is that daemon's line "incoming migration caprun N exited with status S".
"""
import re
import time

from caplib import IMAGES, recv_all  # noqa: F401  (IMAGES: procs.cap is built there)
from procslib import (HOLD_ANSWER, HOLD_EXIT, HOLD_READY, SHM_HOLD_ANSWER, SHM_HOLD_EXIT,
                      SHM_HOLD_READY, TMP_HOLD_ANSWER, TMP_HOLD_EXIT, TMP_HOLD_READY, TREE_AFTER,
                      TREE_EXIT, TREE_READY)
from miglib import (Tap, Topology, _exe_name, check, check_eq, descendants, migrate, migrate_run,
                    wait_listed_only_on, wait_one_copy)

STREAM_END = ["stream: more than 1 MiB, 0 wrong", "stream: child 2 exited with 32"]
STREAM_EXIT = 13
CAPSULE_LINE = re.compile(r"^(reader|middle|tree|stream)\b")


def diag(text):
    print("# " + text, flush=True)


def capsule_processes(caprun_pid):
    """The capsule's host processes under one caprun (each process of the capsule is one)."""
    return [p for p in descendants(caprun_pid) if _exe_name(p)[0] not in (None, "caprun")]


def running(pids):
    """Those of pids that are not zombies."""
    out = []
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(p)
        except OSError:
            pass
    return out


def incoming_exit(host, mark, timeout=30):
    m = host.daemon.wait_for(r"incoming migration caprun \d+ exited with status (\d+)", timeout, mark)
    return int(m.group(1)) if m else None


def moved(topo, name, src, dst, want_procs, what, precopy=True):
    """Migrate and check it runs on dst alone, with every process; the daemon's output mark."""
    mark = dst.daemon.mark()
    m = migrate_run(topo, name, src, dst, extra=() if precopy else ("--no-precopy",))
    check_eq(m.code, 0, "capctl migrate %s (%s): %r" % (name, what, m))
    j = m.json
    diag("%s: %s -> %s, downtime %d ms, %d bytes frozen; %s" % (
        what, src.name, dst.name, j["downtime_ms"], j["bytes"],
        "; ".join(l.strip() for l in m.err.splitlines() if "processes" in l or "precopy" in l)))
    others = want_procs - 1
    say = "processes %d: %d pre-copied with pid 1, %d all while frozen" % (
        want_procs, others if precopy else 0, 0 if precopy else others)
    check(say in m.err, "capctl's progress says %r: %r" % (say, m.err))
    procs = j["processes"]
    check(procs["count"] == want_procs and 0 < procs["frozen_bytes"] <= j["bytes"] and
          procs["frozen_bytes"] % 4096 == 0, "JSON processes %r (frozen bytes %d)" % (procs, j["bytes"]))
    wait_listed_only_on(topo, name, dst)
    where, pid = wait_one_copy(topo)
    check(where.startswith("host %s" % dst.name), "the one copy runs at %s" % where)
    check_eq(len(capsule_processes(pid)), want_procs, "host processes of the capsule on %s" % dst.name)
    return mark


def tree_moves():
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("procs", name="x", args=["tree"]).start(app_ready=TREE_READY)
    check_eq(len(x.capsule_pids()), 3, "host processes of the tree on A (pids 1, 2, 4; 3 a zombie)")
    moved(topo, "x", a, b, 3, "the tree, pre-copied")
    check_eq(x.wait_exit(10), 0, "the source caprun's exit status")
    mark = moved(topo, "x", b, a, 3, "the tree, back, --no-precopy", precopy=False)
    # Set going on A: pids as the capsule sees them, every pipe byte, the pending signal, the
    # parent that was blocked in waitpid gets its child's status, the zombie is reaped.
    with topo.client.connect(x.addr, 9100) as s:
        check_eq(recv_all(s), b"tree done\n", "the tree's answer after two moves")
    check_eq(incoming_exit(a, mark), TREE_EXIT, "the capsule's exit status on A (pid 1's)")
    out = a.daemon.lines_from(mark, CAPSULE_LINE.match, len(TREE_AFTER))
    check_eq(out, TREE_AFTER, "the tree's output after two moves")
    for h in (a, b):
        check(not h.daemon.wait_for(r"caprun: .*(error|process \d+)", 0),
              "caprun on %s complained: %s" % (h.name, h.daemon.output_text()[-600:]))


def stream_moves_there_and_back():
    """A pipe kept busy between two processes, moved with pre-copy while it flows: the child
    writes the shared window (the pipe ring) through its own mapping, which pid 1's write
    tracking never sees; a page sent early and not again would corrupt the stream."""
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("procs", name="x", args=["stream"]).start(app_ready=r"stream: flowing")
    moved(topo, "x", a, b, 2, "the stream, out")
    check_eq(x.wait_exit(10), 0, "the source caprun's exit status")
    mark = moved(topo, "x", b, a, 2, "the stream, back")
    with topo.client.connect(x.addr, 9100) as s:
        check_eq(recv_all(s), b"stream done\n", "the stream's answer after two moves")
    check_eq(incoming_exit(a, mark), STREAM_EXIT, "the capsule's exit status on A")
    out = a.daemon.lines_from(mark, CAPSULE_LINE.match, len(STREAM_END))
    check_eq(out, STREAM_END, "the stream's end after two moves")


def child_memory_moves_precopied():
    """A child rewriting 16 MiB of its memory (40 pages every 10 ms) moved A -> B -> A: its
    pages go in pid 1's rounds while it writes, only what changed since goes frozen, and then
    it checks every page's contents against the generation it last wrote there."""
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("procs", name="x", args=["memkid", "16"]).start(
        app_ready=r"memkid: child 2 touched 16 MiB, listening on 9100")
    for src, dst in ((a, b), (b, a)):
        mark = dst.daemon.mark()
        m = migrate_run(topo, "x", src, dst)
        check_eq(m.code, 0, "capctl migrate %s -> %s: %r" % (src.name, dst.name, m))
        j = m.json
        diag("memkid %s -> %s: downtime %d ms; precopy %r; the other processes frozen: %d bytes" % (
            src.name, dst.name, j["downtime_ms"], j["precopy"], j["processes"]["frozen_bytes"]))
        check(j["precopy"]["bytes"] >= 16 << 20, "the child's 16 MiB went in the rounds: %r" %
              j["precopy"])
        check(j["processes"]["frozen_bytes"] < 8 << 20, "the child's frozen part is what changed, "
              "not its 16 MiB: %r" % j["processes"])
        wait_listed_only_on(topo, "x", dst)
    with topo.client.connect(x.addr, 9100) as s:
        check_eq(recv_all(s), b"memkid done\n", "the capsule's answer after two moves")
    check_eq(incoming_exit(a, mark), 14, "the capsule's exit status on A")
    out = a.daemon.lines_from(mark, lambda t: t.startswith("memkid"), 2)
    check_eq(out, ["memkid: 4096 pages, 0 wrong", "memkid: child 2 exited with 0"],
             "the child's check of every page after two moves")


def target_dies_before_confirm():
    """END written, the target gone before CONFIRM: the source fences and thaws every process."""
    topo = Topology(hosts=("A", "B", "G"), gateway="G",
                    daemon_env={"B": {"CAPSULE_MIG_FAULT": "target-exit-before-confirm"}}).start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("procs", name="x", args=["tree"]).start(app_ready=TREE_READY)
    m = migrate_run(topo, "x", a, b)
    check_eq(m.code, 1, "capctl migrate's exit status: %r" % m)
    last = m.err.strip().splitlines()[-1]
    check(last.startswith("capctl: migrate x") and "continues on this host" in last,
          "one line saying the capsule continues on A: %r" % last)
    check_eq(topo.lookup(x.addr), ("x", a.host_id, 2), "directory entry (A fenced at epoch 2)")
    where, pid = wait_one_copy(topo, [x])
    check_eq(pid, x.pid, "the one copy is the original on A (%s)" % where)
    check_eq(len(x.capsule_pids()), 3, "host processes of the tree on A after the failed move")
    seen = len(x.lines)
    with topo.client.connect(x.addr, 9100) as s:
        check_eq(recv_all(s), b"tree done\n", "the tree's answer on A")
    check_eq(x.wait_exit(30), TREE_EXIT, "caprun's exit code on A (pid 1's)")
    with x.cond:
        out = [t for stream, t in x.lines[seen:] if stream == "out"]
    check_eq(out, TREE_AFTER, "the tree's output on A, thawed")


def source_dies_after_confirm():
    """The source caprun dies once the target confirmed: the target pulls and runs every process."""
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("procs", name="x", args=["tree"]).start(app_ready=TREE_READY)
    mark = b.daemon.mark()
    m = migrate_run(topo, "x", a, b, fault="source-exit-after-confirm")
    check_eq(m.code, 1, "capctl migrate's exit status (its caprun died): %r" % m)
    check_eq(x.wait_exit(15), 3, "the source caprun's exit status (the fault's)")
    # Its frozen processes died with it (each loader's parent-death signal): no copy stays on A
    # (zombies until this test, their subreaper, reaps them: they run nothing).
    deadline = time.monotonic() + 10
    while running(x.capsule_pids()) and time.monotonic() < deadline:
        time.sleep(0.05)   # bounded wait for the kernel's SIGKILLs to land
    check_eq(running(x.capsule_pids()), [], "capsule processes still running on A")
    wait_listed_only_on(topo, "x", b)
    where, pid = wait_one_copy(topo, [x])
    check(where.startswith("host B"), "the one copy runs at %s" % where)
    check_eq(len(capsule_processes(pid)), 3, "host processes of the tree on B")
    with topo.client.connect(x.addr, 9100) as s:
        check_eq(recv_all(s), b"tree done\n", "the tree's answer on B")
    check_eq(incoming_exit(b, mark), TREE_EXIT, "the capsule's exit status on B (pid 1's)")
    out = b.daemon.lines_from(mark, CAPSULE_LINE.match, len(TREE_AFTER))
    check_eq(out, TREE_AFTER, "the tree's output on B")


def hold_moves(image, ready, procs, what, answer, status):
    """IMAGE "hold" moved A -> B with pre-copy, then a connection sets it going: its answer
    and pid 1's exit status on B."""
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule(image, name="x", args=["hold"]).start(app_ready=ready)
    mark = moved(topo, "x", a, b, procs, what)
    check_eq(x.wait_exit(10), 0, "the source caprun's exit status")
    with topo.client.connect(x.addr, 9100) as s:
        check_eq(recv_all(s), answer, "the answer after the move (%s)" % what)
    check_eq(incoming_exit(b, mark), status, "the capsule's exit status on B (pid 1's)")


def group_moves():
    """images/pgroups "hold": B and C in group B (setpgid from pid 1), moved A -> B; the
    groups live in each process's control page, so after the move kill(-B) still reaches
    both and waitpid(-B) reaps both; the pipe only B wrote then reads end of file."""
    hold_moves("pgroups", HOLD_READY, 3, "a process group, pre-copied", HOLD_ANSWER, HOLD_EXIT)


def shm_moves():
    """images/shm "hold": pid 1 and its child map one shm_open object, moved A -> B; its
    pages and its name are in the shared window, so after the move the child reads what
    pid 1 wrote before and after it, and a new process opens it by name."""
    hold_moves("shm", SHM_HOLD_READY, 2, "an shm_open object, pre-copied", SHM_HOLD_ANSWER,
               SHM_HOLD_EXIT)


def tmp_file_moves():
    """images/tmpshare "hold": a child holds a /tmp file open, moved A -> B; /tmp's nodes,
    descriptions and pages are in the shared window, so after the move pid 1 appends to the
    file and unlinks it, and the child reads it all through its descriptor."""
    hold_moves("tmpshare", TMP_HOLD_READY, 2, "a /tmp file a child holds, pre-copied",
               TMP_HOLD_ANSWER, TMP_HOLD_EXIT)


def connection_in_child_moves():
    """images/forkserve "perconn": a connection served by a forked child (its bytes relayed by
    pid 1's stack through the shared window) echoes 8 MiB while the capsule moves A -> B and
    back: every byte in order; a new connection on the last host gets a new child."""
    import os
    import threading
    from caplib import recv_exact, recv_line
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("forkserve", name="x", args=["perconn", "2"]).start(
        app_ready=r"forkserve: one process per connection")
    s = topo.client.connect(x.addr, 9000, timeout=60)
    check_eq(recv_line(s), b"pid 2\n", "the first connection's child")
    data = os.urandom(8 << 20)
    sender = threading.Thread(target=lambda: [s.sendall(data[i:i + 65536]) or time.sleep(0.002)
                                              for i in range(0, len(data), 65536)])
    sender.start()
    got = bytearray(recv_exact(s, 1 << 20))
    moved(topo, "x", a, b, 2, "a child's connection, pre-copied")
    check_eq(x.wait_exit(10), 0, "the source caprun's exit status")
    got += recv_exact(s, 2 << 20)
    mark = moved(topo, "x", b, a, 2, "a child's connection, back")
    got += recv_exact(s, len(data) - len(got))
    sender.join()
    check(bytes(got) == data, "the 8 MiB echoed by the child across two moves, byte for byte")
    with topo.client.connect(x.addr, 9000) as t:
        check_eq(recv_line(t), b"pid 3\n", "a new connection's child after the moves")
        t.shutdown(1)
        check_eq(recv_all(t), b"", "its end")
    s.shutdown(1)
    check_eq(recv_all(s), b"", "the first connection's end")
    s.close()
    # pid 1 reaps both children and exits 0 (caphostd names only a non-zero status)
    check(a.daemon.wait_for(r"served 2 connections, 0 children failed", 30, mark),
          "pid 1's summary on A: %s" % a.daemon.output_text()[-400:])
    check_eq(incoming_exit(a, mark, 2), None, "the capsule's exit status on A (0: not named)")


def exec_moves():
    """images/execs "relaunch": pid 1 exec'd itself into a server, whose child exec'd a
    reader of a pipe; moved A -> B: both go on there, the pipe and the exec'd child's wait."""
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("execs", name="x", args=["relaunch"]).start(
        app_ready=r"upper: WRITTEN BEFORE THE SNAPSHOT")
    mark = moved(topo, "x", a, b, 2, "exec'd processes, pre-copied")
    check_eq(x.wait_exit(10), 0, "the source caprun's exit status")
    with topo.client.connect(x.addr, 9100) as s:
        check_eq(recv_all(s), b"hold done\n", "pid 1's answer after the move")
    check_eq(incoming_exit(b, mark), 4, "the capsule's exit status on B (pid 1's)")
    want = ["upper: WRITTEN AFTER THE RESUME", "upper: end of file", "hold: upper: exited with 6"]
    out = b.daemon.lines_from(mark, lambda t: re.match(r"^(upper|hold):", t), len(want))
    check_eq(out, want, "the exec'd processes' output after the move")


def main():
    tap = Tap()
    tap.run("procs migrate: a tree of 3 (waitpid, zombie, pipe with unread bytes, pending "
            "signal) moved A -> B pre-copied, back with --no-precopy, then set going: exact "
            "output and exit status", tree_moves)
    tap.run("procs migrate: a busy pipe between two processes moved A -> B -> A with pre-copy: "
            "every byte in order", stream_moves_there_and_back)
    tap.run("procs migrate: a child rewriting 16 MiB moved A -> B -> A, pre-copied while it "
            "writes: every page as last written", child_memory_moves_precopied)
    tap.run("procs migrate: the target dies before CONFIRM: every process runs on, on A, and "
            "the tree ends there exactly", target_dies_before_confirm)
    tap.run("procs migrate: the source dies after CONFIRM: B pulls and runs every process, "
            "the tree ends there exactly", source_dies_after_confirm)
    tap.run("procs migrate: a process group moved A -> B: kill(-B) and waitpid(-B) reach both "
            "of its processes after the move", group_moves)
    tap.run("procs migrate: an shm_open object mapped by two processes moved A -> B: the same "
            "bytes in both after the move, and its name", shm_moves)
    tap.run("procs migrate: a /tmp file a child holds open moved A -> B: appended to and "
            "unlinked by pid 1 after the move, read whole by the child", tmp_file_moves)
    tap.run("procs migrate: a TCP connection a forked child serves (relayed by pid 1) echoes "
            "8 MiB while the capsule moves A -> B -> A: every byte in order", connection_in_child_moves)
    tap.run("procs migrate: processes that exec'd (pid 1 and a child) moved A -> B: the pipe, "
            "the wait and TCP go on", exec_moves)
    tap.done()


main()
