"""test_procs.py: capsules of several processes (docs/PROCESSES.md): fork, getpid/getppid, exit and wait statuses, SIGCHLD, copied memory, a pipe and an AF_UNIX socket pair across fork with blocking and EOF, anonymous MAP_SHARED memory across fork; a tree of processes (a parent in waitpid, a zombie, a reader blocked on a pipe with bytes unread elsewhere, a pending signal) snapshotted and resumed as one, with and without --keep-running, a failed snapshot thawing them all, a corrupt process table refused; a busy pipe through snapshots with wake-ups held in flight (their live migration: test_procs_migrate.py); a child killed before it ever ran leaves no pipe end behind."""
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import time

from procslib import TREE_AFTER, TREE_EXIT, TREE_READY
from caplib import (CAPRUN, IMAGES, Host, Tap, check, check_eq, connect, net_state, no_guard,
                    recv_all, snap_as_version, snap_header, snap_remac, snap_reseal, snapshot,
                    tempdir)

IMAGE = os.path.join(IMAGES, "procs.cap")

WANT_STDOUT = """start: pid 1 ppid 0
child: pid 2 ppid 1 copied 42
waitpid: child 2 exited with 7
parent: pid 1 copied 1
parent: SIGCHLD seen 1
wait any: child 3 killed by signal 15
grandchild: pid 5 ppid 4
child waits: child 5 exited with 3
parent waits: child 4 exited with 4
no children left: -1 ECHILD
pipe: hello from pid 6
pipe: 300000 bytes, 0 wrong, then EOF
pipe writer: child 6 exited with 0
vfork: child 7 exited with 9
kill SIGTERM: 0
kill: child 8 killed by signal 15
kill SIGKILL: 0
kill: child 9 killed by signal 9
kill a stranger: -1 ESRCH
socketpair: parent read 4 bytes "ping"
socketpair: 200000 bytes, 0 wrong, then EOF
socketpair: child 10 exited with 0
shared memory: child 11 exited with 0
shared memory: counter 200000, the child's page seen, private page 0
done
"""


def fork_wait_pipe():
    p = subprocess.run([CAPRUN, "--no-net", IMAGE, "pipe"], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    out, err = p.stdout.decode(), p.stderr.decode()
    check_eq(out, WANT_STDOUT, "the program's output (stderr %r)" % err)
    # The two children killed by SIGTERM's default action say so, as a capsule does.
    check_eq(err, "capsule: terminated by signal 15\n" * 2, "stderr")
    check_eq(p.returncode, 0, "caprun's exit code")


def orphan_adopted():
    """A grandchild whose parent exits first: its getppid turns to 1 (the host writes its control
    page) and pid 1 reaps it with waitpid (CAP_MSG_ADOPTED), as init does."""
    p = subprocess.run([CAPRUN, "--no-net", IMAGE, "orphan"], capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout.decode(), p.stderr.decode()),
             (0, "orphan: parent gone, ppid now 1\npid 1 reaped the orphan: yes, exit 0\n", ""),
             "exit code, output, errors")


def child_ends_snapshot_after():
    host, d = Host(), tempdir()
    cap = host.capsule("procs", name="procs-hold", args=["hold"]).start(
        app_ready=r"hold: child 2 waits, listening on 9100")
    path = os.path.join(d, "procs.snap")
    check_eq(len(cap.capsule_pids()), 2, "host processes of the capsule (one each)")
    # The first connection ends the child (its pipe closes), the parent reaps it.
    with connect(cap.addr, 9100) as s:
        check_eq(recv_all(s), b"processes of pid 1: 1\n", "reply of the capsule")
    check(cap.wait_for(r"hold: child 2 exited with 5", 10), "the held child's end: %r" %
          cap.output_text()[-300:])
    check_eq(len(cap.capsule_pids()), 1, "host processes of the capsule once the child ended")
    # One process again: a snapshot works, and the capsule resumes and answers.
    snapshot(host, cap, path)
    again = host.resume(path, plain=True)
    with connect(again.addr, 9100) as s:
        check_eq(recv_all(s), b"processes of pid 1: 1\n", "reply after resume")




def stdout_lines(cap, start=0):
    with cap.cond:
        return [t for stream, t in cap.lines[start:] if stream == "out"]


def set_going(host, cap, what):
    """Connect to the tree: it runs to its end; its output and caprun's exit code, exact."""
    seen = len(cap.lines)
    with host.connect(cap.addr, 9100) as s:
        check_eq(recv_all(s), b"tree done\n", "the tree's answer (%s)" % what)
    check_eq(cap.wait_exit(30), TREE_EXIT, "caprun's exit code: pid 1's (%s)" % what)
    check_eq(stdout_lines(cap, seen), TREE_AFTER, "the tree's output (%s)" % what)
    check_eq([t for s_, t in cap.lines if s_ == "err"], [], "stderr (%s)" % what)


def start_tree(host, name):
    cap = host.capsule("procs", name=name, args=["tree"]).start(app_ready=TREE_READY)
    check_eq(len(cap.capsule_pids()), 3, "host processes of the tree (pids 1, 2, 4; 3 is a zombie)")
    return cap


def inspect_tree(host, path):
    code, out, err = host.capctl(["inspect", path])
    check_eq(code, 0, "capctl inspect (stderr %r)" % err)
    lines = out.splitlines()
    i = lines.index("processes (3), as the capsule sees them")
    rows = [l.split(None, 4) for l in lines[i + 2:i + 5]]
    check_eq([r[:3] for r in rows], [["1", "0", "0"], ["2", "1", "1"], ["4", "2", "2"]],
             "inspect: pid, parent, slot of each process")
    check_eq([r[4] for r in rows[1:]], ["wait", "pipe read"], "inspect: what pids 2 and 4 wait for")
    check_eq(lines[i + 5], "  (the next fork gets pid 5)", "inspect: the next pid")
    check("4    pipe-write 5000 of 65536 bytes buffered, other end open" in out,
          "inspect: pid 1's pipe with the 5000 unread bytes: %s" % out)


def tree_snapshot_resume():
    host, d = Host(), tempdir()
    cap = start_tree(host, "procs-tree")
    path = os.path.join(d, "tree.snap")
    snapshot(host, cap, path)
    with open(path, "rb") as f:
        check_eq(snap_header(f.read(4096))["format_version"], 5, "format version of 3 processes")
    inspect_tree(host, path)
    again = host.resume(path, plain=True)
    check_eq(len(again.capsule_pids()), 3, "host processes after the resume")
    set_going(host, again, "resumed")
    # The same file twice: it is not consumed.
    again = host.resume(path, plain=True)
    set_going(host, again, "resumed a second time")


def ps_tree(host, cap, name):
    """capctl ps --tree (and --json) of the running tree: pids, parents, slots, host pids."""
    code, out, err = host.capctl(["ps", "--tree"])
    check_eq(code, 0, "capctl ps --tree (stderr %r)" % err)
    lines = out.splitlines()
    i = lines.index("%s: processes (3), as the capsule sees them" % name)
    rows = [l.split() for l in lines[i + 2:i + 5]]
    check_eq([r[:3] + r[4:6] for r in rows], [["1", "0", "0", "1", "1"], ["2", "1", "1", "1", "1"],
                                             ["4", "2", "2", "1", "1"]],
             "ps --tree: pid, parent, slot, group and session of each process: %s" % out)
    check_eq(sorted(int(r[6]) for r in rows), sorted(cap.capsule_pids()), "ps --tree: host pids")
    check_eq(lines[i + 5], "  (the next fork gets pid 5)", "ps --tree: the next pid")
    code, out, err = host.capctl(["ps", "--tree", "--json"])
    check_eq(code, 0, "capctl ps --tree --json (stderr %r)" % err)
    row = json.loads(out)[0]
    check_eq(([(p["pid"], p["ppid"], p["slot"]) for p in row["tree"]], row["next_pid"]),
             ([(1, 0, 0), (2, 1, 1), (4, 2, 2)], 5), "ps --tree --json: the tree and the next pid")
    check(all(p["memory_bytes"] > 0 for p in row["tree"]), "ps --tree --json: memory of each")


def tree_keep_running():
    host, d = Host(), tempdir()
    cap = start_tree(host, "procs-keep")
    ps_tree(host, cap, "procs-keep")
    path = os.path.join(d, "keep.snap")
    snapshot(host, cap, path, keep_running=True)
    set_going(host, cap, "kept running after the snapshot")
    again = host.resume(path, plain=True)
    set_going(host, again, "resumed from the kept-running snapshot")


def tree_failed_snapshot_thaws():
    host, d = Host(), tempdir()
    cap = start_tree(host, "procs-fail")
    # The file's name is a directory: everything is written, the rename fails, the temp goes.
    target = os.path.join(d, "tree.snap")
    os.mkdir(target)
    code, out, err = host.capctl(["snapshot", cap.name, "-o", target, "--force"])
    check(code != 0, "capctl snapshot onto a directory exited 0 (%r)" % out)
    check_eq(len(err.splitlines()), 1, "capctl's one line: %r" % err)
    check("rename" in err and target in err, "the line names the path and the step: %r" % err)
    check_eq(sorted(os.listdir(d)), ["tree.snap"], "files left in the directory")
    set_going(host, cap, "thawed after the failed snapshot")


SECTION_HASH_OFF = 832 + 8   # struct cap_snap_header_ext: procs_size, then procs_hash


def corrupt_process_table():
    host, d = Host(), tempdir()
    cap = start_tree(host, "procs-bad")
    path = os.path.join(d, "good.snap")
    snapshot(host, cap, path)
    with open(path, "rb") as f:
        data = f.read()
    h = snap_header(data)
    start = h["data_offset"] + h["data_size"]
    span = "process table (file bytes %d-%d)" % (start, len(data))
    before = no_guard(net_state())
    with open(os.environ["CAPSULE_HOST_KEY"], "rb") as f:
        key = f.read()

    def refused(edited, want, what):
        bad = os.path.join(d, "bad.snap")
        with open(bad, "wb") as f:
            f.write(edited)
        p = subprocess.run([CAPRUN, bad], capture_output=True, timeout=30, env=host.env,
                           stdin=subprocess.DEVNULL)
        check_eq(p.returncode, 126, "caprun's exit code (%s)" % what)
        check_eq(p.stderr.decode().splitlines(), ["caprun: %s: %s" % (bad, want)], "the one line (%s)" % what)
        check_eq(p.stdout, b"", "stdout (%s)" % what)
        check_eq(no_guard(net_state()), before, "devices and routes left (%s)" % what)
        check_eq(os.listdir(host.run_dir), [], "control sockets left (%s)" % what)

    # A flipped byte in the table: the section's hash says so, by place.
    flipped = bytearray(data)
    flipped[start + 8] ^= 1   # nprocs
    refused(bytes(flipped), span + ": checksum mismatch: snapshot is corrupt", "a flipped byte")
    # Re-hashed, re-sealed and re-MACed (only a key holder can): the table's own checks.
    edited = bytearray(data)
    struct.pack_into("<I", edited, start + 8, 70)
    edited[SECTION_HASH_OFF:SECTION_HASH_OFF + 32] = hashlib.blake2b(
        bytes(edited[start:]), digest_size=32).digest()
    edited = snap_remac(snap_reseal(bytes(edited)), key)
    refused(edited, span + ": 70 processes, next pid 5 (1 to 64 processes)", "70 processes")
    # Truncated inside the section: caught by the size before anything is hashed.
    refused(data[:-4096], "truncated: file is %d bytes, header says %d" % (len(data) - 4096, len(data)),
            "truncated")
    # The untouched file still resumes.
    again = host.resume(path, plain=True)
    set_going(host, again, "the untouched file")
    # ... and as the version 4 file a host wrote before version 5 (chunk hashes, no salt).
    v4 = os.path.join(d, "v4.snap")
    with open(v4, "wb") as f:
        f.write(snap_as_version(data, 4, key))
    again = host.resume(v4, plain=True)
    check_eq(len(again.capsule_pids()), 3, "host processes after the version 4 file's resume")
    set_going(host, again, "the version 4 file")


STREAM_END = ["stream: more than 1 MiB, 0 wrong", "stream: child 2 exited with 32"]


def stream_end(host, cap, what):
    seen = len(cap.lines)
    with host.connect(cap.addr, 9100) as s:
        check_eq(recv_all(s), b"stream done\n", "the stream's answer (%s)" % what)
    check_eq(cap.wait_exit(30), 13, "caprun's exit code (%s)" % what)
    check_eq(stdout_lines(cap, seen), STREAM_END, "the stream's end (%s)" % what)
    check_eq([t for s_, t in cap.lines if s_ == "err"], [], "stderr (%s)" % what)


def stream_through_snapshots():
    """A pipe kept busy between two processes: each snapshot freezes them with wake-ups in
    flight, which are held, not lost (a lost one stalls the pipe for good)."""
    host, d = Host(), tempdir()
    cap = host.capsule("procs", name="procs-stream", args=["stream"]).start(
        app_ready=r"stream: flowing")
    paths = [os.path.join(d, "s%d.snap" % i) for i in range(3)]
    for path in paths:
        snapshot(host, cap, path, keep_running=True)
    # Until one froze with a wake-up on its way (most do): its resume must deliver it.
    held = None
    for i in range(20):
        path = os.path.join(d, "h%d.snap" % i)
        snapshot(host, cap, path, keep_running=True)
        code, out, err = host.capctl(["inspect", "--json", path])
        check_eq(code, 0, "capctl inspect --json (stderr %r)" % err)
        procs = json.loads(out)["processes"]
        check_eq([(p["pid"], p["ppid"], p["slot"]) for p in procs], [(1, 0, 0), (2, 1, 1)],
                 "the stream's processes")
        if any(p["held"] for p in procs):
            check(all(h == "wake-up" for p in procs for h in p["held"]), "held: %r" % procs)
            held = path
            break
    check(held is not None, "20 snapshots of a busy pipe and no wake-up ever in flight")
    stream_end(host, cap, "kept running through the snapshots")
    for i, path in enumerate(paths[:2] + [held]):
        again = host.resume(path, plain=True)
        stream_end(host, again, "resumed from %s" % os.path.basename(path))
    # A resumed capsule of several processes snapshotted again, stopped, resumed.
    again = host.resume(paths[2], plain=True)
    second = os.path.join(d, "second.snap")
    snapshot(host, again, second)
    last = host.resume(second, plain=True)
    stream_end(host, last, "resumed, snapshotted, resumed")


def held_children(caprun_pid):
    """caprun's children stopped before they ran (CAPSULE_TEST_FORK_HELD)."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "T" and int(fields[1]) == caprun_pid:
            found.append(int(name))
    return found


def child_killed_before_it_ran():
    # depth 1: pid 1 reads and handles the loss itself; depth 2: its child reads, pid 1 handles
    # the loss, maybe before the reader has moved the copies to the held child's slot.
    for depth in (1, 2):
        env = dict(os.environ, CAPSULE_TEST_FORK_HELD=str(depth))
        p = subprocess.Popen([CAPRUN, "--no-net", IMAGE, "unran", str(depth)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        try:
            deadline, held = time.monotonic() + 20, []
            while not held and time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.02)
                held = held_children(p.pid)
            check_eq(len(held), 1, "depth %d: one child held before it ran" % depth)
            os.kill(held[0], signal.SIGKILL)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        kid = depth + 1
        want = ("unran: forked, reading\nunran: pipe: end of file\nunran: socketpair: end of file\n"
                "unran: child %d killed by signal 9\n" % kid)
        if depth == 2:
            want += "unran: child 2 exited with 0\n"
        check_eq(out, want, "depth %d: the reader sees end of file (stderr %r)" % (depth, err))
        check("process %d (host pid %d) killed from outside by signal SIGKILL" % (kid, held[0])
              in err, "depth %d: the kill reported: %r" % (depth, err))
        check_eq(p.returncode, 0, "depth %d: caprun's exit code" % depth)


def main():
    tap = Tap()
    tap.run("procs: fork, exit and wait statuses, SIGCHLD, copied memory, a pipe, a socket pair and "
            "MAP_SHARED memory across fork, vfork, kill",
            fork_wait_pipe)
    tap.run("procs: a child ends when its pipe closes; once one process, snapshot and resume",
            child_ends_snapshot_after)
    tap.run("procs: an orphan is re-parented to pid 1: its getppid says 1, and pid 1 reaps it",
            orphan_adopted)
    tap.run("procs: a tree of 3 processes snapshotted, inspected, resumed twice: pipes, waits, "
            "zombie, pending signal, pids, exit code", tree_snapshot_resume)
    tap.run("procs: capctl ps --tree of the running tree; a --keep-running snapshot of it: it "
            "goes on, and the file resumes",
            tree_keep_running)
    tap.run("procs: a snapshot that cannot be written thaws every process; nothing left",
            tree_failed_snapshot_thaws)
    tap.run("procs: a corrupt or edited process table is refused with one line, nothing made",
            corrupt_process_table)
    tap.run("procs: a busy pipe between two processes through --keep-running snapshots, resumes "
            "and a snapshot of a resumed capsule: every byte, in order", stream_through_snapshots)
    tap.run("procs: a child killed before it ever ran: the pipe and socket pair it alone held "
            "end for the reader, whether pid 1 or another process reads", child_killed_before_it_ran)
    tap.done()


main()
