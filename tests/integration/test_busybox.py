"""test_busybox.py: busybox 1.35.0 from Debian 12 source, built with capcc (mk/build-program.sh), runs `sh -c 'a | b | c'` pipelines whose applets are forked and exec'd (/proc/self/exe, docs/PROCESSES.md section 2b): output and exit status equal to the same busybox built natively; so is a last command, which ash execs in the capsule's pid 1 itself, and so are other programs: a .cap on a volume, a shell script; so are redirects to /tmp files that several processes write and read; a process running a program from a volume (pid 1 too) snapshotted, resumed and moved live with it; a running pipeline snapshotted and resumed, and moved live, prints what Linux prints."""
# tests/run timeout: 300
import os
import re
import shutil
import subprocess
import time

from caplib import (BUILD, CAPRUN, IMAGES, ROOT, Host, Tap, TestFailure, check, check_eq, descendants,
                    recv_exact, run_tool, snap_header, snapshot, tempdir)

CAP = os.path.join(BUILD, "programs", "cap", "busybox")
NATIVE = os.path.join(BUILD, "programs", "native", "busybox")

# Each is run as `busybox sh -c SCRIPT`: every applet after a pipe is a forked child, and
# tr, wc, uniq, tail, cat, tee, sed, grep and rev are exec'd (the others run in the child).
PIPELINES = [
    "seq 1 20 | sort -r | head -n 3 | tr 0-9 a-j",
    "seq 1 1000 | grep 7 | wc -l",
    "printf 'b\\na\\nc\\na\\n' | sort | uniq -c | sed 's/^ *//'",
    "echo abcdef | rev | cut -c1-3 | tr a-z A-Z",
    "seq 5 | tee /dev/null | tail -n 2 | cat",
    "seq 100000 | sort -rn | sed -n '1p;$p' | tr '\\n' ' '; echo",
    "yes capsule | head -n 1000 | uniq -c | sed 's/^ *//'",
    "x=$(seq 3 | tr '\\n' +); echo ${x}0 | sed 's/+/ + /g'; expr 1 + 2 + 3",
    "seq 3 | grep 4; echo grep said $?",
    "false | true; echo $?; true | false; echo $?",
    "seq 10 | sed s/1/one/ | grep -v 5 | sort | tail -n 4 | cat; exit 3",
]


def run(exe, script, capsule, caprun_args=()):
    argv = ([CAPRUN, "--no-net"] + list(caprun_args) + [exe] if capsule else [exe]) + ["sh", "-c", script]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def pipelines_as_linux():
    check(os.path.exists(CAP) and os.path.exists(NATIVE),
          "%s or %s is missing (make test builds them)" % (CAP, NATIVE))
    for script in PIPELINES:
        want = run(NATIVE, script, False)
        check_eq(want[2], "", "Linux's stderr for %r" % script)
        check_eq(run(CAP, script, True), want, "exit code, output and stderr of %r" % script)


# /tmp shared by the processes of the capsule (docs/PROCESSES.md, section 5): a redirect written
# by one forked child and read by a later one, exec'd with the file as its stdin; a group's and an
# exec'd descriptor's writes from several children at one offset; O_APPEND; a background job.
# $T is /tmp in the capsule and a directory of the test's own on Linux.
TMP_SCRIPTS = [
    "seq 100 > $T/o; wc -l < $T/o",
    "seq 5 | sort -r > $T/o; cat $T/o | tr '\\n' ' '; echo",
    "{ seq 2; echo mid; seq 3 5; } > $T/g; cat $T/g | tr '\\n' ,; echo",
    "exec 3>$T/log; seq 3 >&3; echo x >&3; seq 2 >&3; exec 3>&-; wc -l < $T/log; tr '\\n' , < $T/log; echo",
    "seq 3 >> $T/a; seq 2 >> $T/a; wc -l < $T/a",
    "seq 10 > $T/b & wait; tail -n 2 $T/b",
    "echo one > $T/f; (echo two >> $T/f); cat $T/f; (cat $T/f | wc -l)",
    "seq 20 > $T/c; sed -n 5p < $T/c > $T/d; cat $T/d; grep -c 1 $T/c",
]


def tmp_files_as_linux():
    for script in TMP_SCRIPTS:
        want = run(NATIVE, "T=%s; %s" % (tempdir("capsule-busybox-tmp."), script), False)
        check_eq(want[2], "", "Linux's stderr for %r" % script)
        check_eq(run(CAP, "T=/tmp; " + script, True), want, "exit code, output and stderr of %r" % script)


def exec_in_pid1():
    # ash execs a script's last simple command itself, in the capsule's pid 1.
    for script in ["cat /dev/null", "seq 3 | cat; tr a b </dev/null", "exec seq 2", "exec false"]:
        want = run(NATIVE, script, False)
        check_eq(run(CAP, script, True), want, "exit code, output and stderr of %r" % script)


# Other programs than busybox itself: images/execs on a volume (a .cap there, gcc's on Linux),
# and a shell script (not a .cap: execve says ENOEXEC and ash runs it, as on Linux).
FOREIGN = [
    "$D/execs gen 3 | tr 1-3 a-c | $D/execs upper; echo $?",
    "$D/execs relaunch-gen | rev | wc -l",
    "$D/script arg | cat; echo $?",
    "$D/nothing 2>/dev/null; echo $?",
    "$D/plain 2>/dev/null; echo $?; $D 2>/dev/null; echo $?",
    "seq 3 | $D/execs upper | grep -c UPPER",
]


def foreign_programs():
    d = tempdir("capsule-busybox.")
    exe = os.path.join(d, "execs")
    code, out, err = run_tool(["gcc", "-std=c11", "-O2", "-o", exe,
                               os.path.join(ROOT, "images", "execs", "execs.c")], timeout=120)
    check(code == 0, "gcc execs.c: %s" % err[-400:])
    vol = tempdir("capsule-busybox-vol.")
    shutil.copy(os.path.join(IMAGES, "execs.cap"), os.path.join(vol, "execs"))
    for where in (d, vol):
        with open(os.path.join(where, "script"), "w") as f:
            f.write("echo from the script $1\nseq 2 | rev\n")
        os.chmod(os.path.join(where, "script"), 0o755)
        with open(os.path.join(where, "plain"), "w") as f:   # not executable: EACCES, 126
            f.write("echo never\n")
    for script in FOREIGN:
        want = run(NATIVE, "D=%s; %s" % (d, script), False)
        got = run(CAP, "D=/opt; %s" % script, True, ["-v", vol + ":/opt:ro"])
        check_eq(got, want, "exit code, output and stderr of %r" % script)


def volume_with_execs():
    vol = tempdir("capsule-busybox-vol.")
    shutil.copy(os.path.join(IMAGES, "execs.cap"), os.path.join(vol, "execs"))
    return vol


def wait_mapped(cap, path, timeout=20):
    """Until one of the capsule's host processes maps path (a loader maps a program's code from
    its .cap: so the exec happened)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for pid in descendants(cap.proc.pid):
            try:
                with open("/proc/%d/maps" % pid) as f:
                    if path in f.read():
                        return pid
            except OSError:
                pass
        time.sleep(0.05)
    raise TestFailure("no process of capsule %s maps %s after %d s" % (cap.name, path, timeout))


def volume_with_echo():
    vol = tempdir("capsule-busybox-vol.")
    shutil.copy(os.path.join(IMAGES, "echo.cap"), os.path.join(vol, "echo"))
    return vol


def echoes(sock, text):
    sock.sendall(text)
    check_eq(recv_exact(sock, len(text)), text, "the echo of %r" % text)


# ash execs a last simple command in pid 1 itself: here a TCP echo server (images/echo) on a
# volume, another program than the capsule's own (busybox).
ECHO_IN_PID1 = ["sh", "-c", "exec /opt/echo"]
ECHO_READY = r"echo: listening on TCP port 7"


def pid1_foreign_across_snapshot():
    """Pid 1 running a program from a volume since its exec: snapshotted with it (capctl inspect
    names it under pid 1), resumed from it, its server answering again; the capsule's own program
    stays the header's."""
    host, d = Host(), tempdir()
    vol = volume_with_echo()
    cap = host.capsule("busybox", image=CAP, name="busybox", caprun_args=["-v", vol + ":/opt:ro"],
                       args=ECHO_IN_PID1).start(app_ready=ECHO_READY)
    with host.connect(cap.addr, 7) as a:
        echoes(a, b"before the snapshot\n")
    path = os.path.join(d, "pid1.snap")
    snapshot(host, cap, path)
    with open(path, "rb") as f:
        h = snap_header(f.read(4096))
    check_eq(h["format_version"], 5, "the snapshot's format version (a process table names pid 1's program)")
    code, out, err = host.capctl(["inspect", path])
    check_eq(code, 0, "capctl inspect: %r" % err)
    check(re.search(r"image\s+busybox ", out) and "runs echo (%s) since its exec" % os.path.realpath(
          os.path.join(vol, "echo")) in out, "capctl inspect: %r" % out)
    again = host.resume(path, plain=True)
    with host.connect(again.addr, 7) as a:
        echoes(a, b"after the resume\n")


def pid1_foreign_across_migration():
    """The same capsule moved live A -> B with a connection open: it echoes on from B."""
    from miglib import Topology, migrate_run
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    vol = volume_with_echo()
    x = a.capsule("busybox", image=CAP, name="busybox", caprun_args=["-v", vol + ":/opt:ro"],
                  args=ECHO_IN_PID1).start(app_ready=ECHO_READY)
    with topo.client.connect(x.addr, 7) as s:
        echoes(s, b"on A\n")
        m = migrate_run(topo, "busybox", a, b)
        check_eq(m.code, 0, "capctl migrate: %r" % (m,))
        echoes(s, b"on B, the same connection\n")
    # (B's pid 1 runs echo's code mapped from the volume: with busybox's it could not answer)


# A pipeline that runs for seconds, one stage of it a program from a volume (images/execs, its
# own .cap): upper-cases each line, "upper: N"; grep counts the lines with a 7.
FOREIGN_LONG = "seq 6000000 | /opt/execs upper | grep -c 7; exit 3"
FOREIGN_WANT = [str(sum(1 for i in range(1, 6000001) if "7" in str(i)))]


def foreign_across_snapshot():
    """A process running a program from a volume is snapshotted with it: the snapshot names the
    .cap (capctl inspect shows it), resume refuses another build at that path with one line and
    keeps the snapshot, and resumed with the right one the pipeline prints what Linux prints."""
    host, d = Host(), tempdir()
    vol = volume_with_execs()
    prog = os.path.join(vol, "execs")
    cap = host.capsule("busybox", image=CAP, name="busybox", caprun_args=["-v", vol + ":/opt:ro"],
                       args=["sh", "-c", FOREIGN_LONG]).start()
    wait_mapped(cap, prog)
    path = os.path.join(d, "foreign.snap")
    snapshot(host, cap, path)
    code, out, err = host.capctl(["inspect", path])
    check_eq(code, 0, "capctl inspect: %r" % err)
    check("runs execs (%s) since its exec" % os.path.realpath(prog) in out,
          "capctl inspect names the program: %r" % out)
    # Another program at that path: refused, the snapshot kept as it was.
    os.rename(prog, prog + ".real")
    shutil.copy(os.path.join(IMAGES, "echo.cap"), prog)
    with open(path, "rb") as f:
        before = f.read()
    p = subprocess.run([CAPRUN, path], env=host.env, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check(p.returncode != 0, "caprun resumed with another program at %s" % prog)
    check(("its program %s is not the one it ran (execs): another build-id" % os.path.realpath(prog))
          in p.stderr, "caprun's line: %r" % p.stderr)
    with open(path, "rb") as f:
        check(f.read() == before, "the snapshot is unchanged after the refusal")
    os.replace(prog + ".real", prog)
    again = host.resume(path, plain=True)
    check_eq(again.wait_exit(120), 3, "caprun's exit code after the resume: sh's")
    with again.cond:
        out = own_lines(t for s_, t in again.lines if s_ == "out")
    check_eq(out, FOREIGN_WANT, "the pipeline's output after the resume")


def moved_pipeline(script, want, caprun_args=(), ready=None):
    """script run in a capsule on A, moved live to B once ready(capsule) returns: it ends
    there with sh's exit status 3 and want as its output."""
    from miglib import Topology, migrate_run
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("busybox", image=CAP, name="busybox", caprun_args=list(caprun_args),
                  args=["sh", "-c", script]).start()
    ready(x)
    mark = b.daemon.mark()
    m = migrate_run(topo, "busybox", a, b)
    check_eq(m.code, 0, "capctl migrate: %r" % (m,))
    st = b.daemon.wait_for(r"incoming migration caprun \d+ exited with status (\d+)", 120, mark)
    check(st is not None and st.group(1) == "3", "the capsule's exit status on B: %r" % (st,))
    out = b.daemon.lines_from(mark, own_line, len(want))
    check_eq(out, want, "the pipeline's output on B")


def foreign_across_migration():
    """The same pipeline moved live A -> B: the target opens the program from the volume."""
    vol = volume_with_execs()
    moved_pipeline(FOREIGN_LONG, FOREIGN_WANT, ["-v", vol + ":/opt:ro"],
                   lambda x: wait_mapped(x, os.path.join(vol, "execs")))


# A pipeline that runs for seconds in a capsule (grep and wc exec'd, seq run in its fork):
# frozen and moved while every stage holds bytes in its pipes.  exit 3: caphostd reports only
# an incoming capsule's non-zero status.
LONG = "seq 6000000 | grep 7 | wc -l; exit 3"


def own_line(text):
    return not text.startswith(("capsule ", "caphostd"))


def own_lines(lines):
    return [t for t in lines if own_line(t)]


def pipeline_across_snapshot():
    want = run(NATIVE, LONG, False)
    check_eq(want[0], 3, "Linux's exit code")
    host, d = Host(), tempdir()
    cap = host.capsule("busybox", image=CAP, name="busybox", args=["sh", "-c", LONG]).start()
    time.sleep(1)
    path = os.path.join(d, "pipeline.snap")
    snapshot(host, cap, path)
    with open(path, "rb") as f:   # several processes (sh and the three stages): a process section
        check_eq(snap_header(f.read(4096))["format_version"], 5, "the snapshot's format version")
    again = host.resume(path, plain=True)
    check_eq(again.wait_exit(120), 3, "caprun's exit code after the resume: sh's")
    with again.cond:
        out = own_lines(t for s_, t in again.lines if s_ == "out")
    check_eq(out, want[1].splitlines(), "the pipeline's output after the resume")


def pipeline_across_migration():
    want = run(NATIVE, LONG, False)
    moved_pipeline(LONG, want[1].splitlines(), ready=lambda x: time.sleep(1))


def main():
    tap = Tap()
    tap.run("busybox: sh -c pipelines of forked and exec'd applets, the same as busybox on Linux",
            pipelines_as_linux)
    tap.run("busybox: a last command ash execs in pid 1 itself, the same as on Linux",
            exec_in_pid1)
    tap.run("busybox: redirects to /tmp files written by one child and read by another, "
            "several children at one offset, O_APPEND; the same as on Linux", tmp_files_as_linux)
    tap.run("busybox: other programs: a .cap on a volume, a shell script (ENOEXEC), one missing; "
            "the same as on Linux", foreign_programs)
    tap.run("busybox: pid 1 running a program from a volume since its exec, snapshotted and "
            "resumed: its server answers", pid1_foreign_across_snapshot)
    tap.run("busybox: pid 1 running a program from a volume, moved live A -> B with a connection "
            "open", pid1_foreign_across_migration)
    tap.run("busybox: a process running a program from a volume snapshotted and resumed (another "
            "build there refused): output as on Linux", foreign_across_snapshot)
    tap.run("busybox: a process running a program from a volume moved live A -> B: output as "
            "on Linux", foreign_across_migration)
    tap.run("busybox: a running pipeline snapshotted and resumed: its output as on Linux",
            pipeline_across_snapshot)
    tap.run("busybox: a running pipeline moved live A -> B: its output as on Linux",
            pipeline_across_migration)
    tap.done()


main()
