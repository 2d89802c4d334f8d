"""test_exec.py: execve and posix_spawn in a capsule (docs/PROCESSES.md, section 2b): images/execs runs the same as on Linux, line for line (argv and envp, a pipeline of exec'd programs, FD_CLOEXEC, a socket pair and /dev/null, children forked before the exec waited for after it, signal state kept and reset, exit statuses through waitpid, ENOENT, posix_spawn and posix_spawnp), a file on a volume keeping its offset; execve in pid 1 (the capsule goes on as the new program; pid 1 execing itself into a server that forks and execs, snapshotted and resumed); a capsule snapshotted after an exec and resumed, its exec'd process going on with its pipe."""
import os
import subprocess

from caplib import (CAPRUN, IMAGES, ROOT, Host, Tap, check, check_eq, recv_all, run_tool, snapshot,
                    tempdir)

IMAGE = os.path.join(IMAGES, "execs.cap")

WANT = """show: argc 5
show: argv[0] = "execs"
show: argv[1] = "show"
show: argv[2] = "two words"
show: argv[3] = ""
show: argv[4] = "last"
show: env FOO=bar
show: env EMPTY=
show: same pid: yes, same parent: yes
show: exited with 7
upper: LINE 1
upper: LINE 2
upper: LINE 3
upper: LINE 4
upper: end of file
pipeline: upper: exited with 6
pipeline: gen: exited with 0
fdcheck: fd 4 open
fdcheck: fd 6 closed
fdcheck: fd 9 open
cloexec: fdcheck: exited with 0
cloexec: the close-on-exec pipe's reader: 0 (end of file)
cloexec: the kept pipe's reader once it exited: 0
sigs: SIGUSR1 ignored
sigs: SIGUSR2 default
sigs: SIGUSR2 blocked 1, pending 1
sigs: killed by signal 12
socketpair: "upper: PING|upper: PONG|upper: end of file|"
socketpair: upper: exited with 6
reap: a child from before the exec: found, exited with 5
reap: then -1 ECHILD
reap: exited with 0
execve /no/such/program: -1 No such file or directory
enoent: exited with 3
posix_spawn: 0
posix_spawn: its output "line 1|line 2|line 3|"
posix_spawn: gen: exited with 0
posix_spawnp execs: 0
posix_spawnp: gen: exited with 0
posix_spawn /no/such/program: No such file or directory
done
"""

HOLD_READY = r"upper: WRITTEN BEFORE THE SNAPSHOT"
HOLD_BEFORE = ["hold: child 2, listening on 9100", "upper: pid 2 ppid 1",
               "upper: WRITTEN BEFORE THE SNAPSHOT"]
HOLD_AFTER = ["upper: WRITTEN AFTER THE RESUME", "upper: end of file",
              "hold: upper: exited with 6"]


def same_as_linux():
    d = tempdir("capsule-execs.")
    exe = os.path.join(d, "execs")
    code, out, err = run_tool(["gcc", "-std=c11", "-O2", "-o", exe,
                               os.path.join(ROOT, "images", "execs", "execs.c")], timeout=120)
    check(code == 0, "gcc execs.c: %s" % err[-400:])
    # posix_spawnp finds "execs" on PATH, as it finds the image's name in a capsule.
    env = dict(os.environ, PATH=d + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
    native = subprocess.run([exe], capture_output=True, text=True, timeout=60, env=env,
                            stdin=subprocess.DEVNULL)
    check_eq((native.returncode, native.stdout), (0, WANT), "Linux: exit code and output")
    p = subprocess.run([CAPRUN, "--no-net", IMAGE], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check_eq(p.stdout, WANT, "the capsule's output (stderr %r)" % p.stderr)
    # The exec'd "sigs" ends by SIGUSR2's default action, and a capsule's process says so.
    check_eq(p.stderr, "capsule: terminated by signal 12\n", "stderr")
    check_eq(p.returncode, 0, "caprun's exit code")


FILES_WANT = """files: gen: exited with 0
files: written by pid 1
written before the exec
line 1
line 2
"""


def file_across_exec():
    d = tempdir("capsule-execs.")
    exe = os.path.join(d, "execs")
    code, out, err = run_tool(["gcc", "-std=c11", "-O2", "-o", exe,
                               os.path.join(ROOT, "images", "execs", "execs.c")], timeout=120)
    check(code == 0, "gcc execs.c: %s" % err[-400:])
    native = subprocess.run([exe, "files", d], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    check_eq((native.returncode, native.stdout), (0, FILES_WANT), "Linux: exit code and output")
    vol = tempdir("capsule-execs-vol.")
    p = subprocess.run([CAPRUN, "--no-net", "-v", vol + ":/data", IMAGE, "files", "/data"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout, p.stderr), (0, FILES_WANT, ""), "the capsule's exit code, "
             "output and stderr")
    with open(os.path.join(vol, "exec-file.txt")) as f:
        check_eq(f.read(), "written by pid 1\nwritten before the exec\nline 1\nline 2\n",
                 "the file on the volume")


def exec_in_pid1():
    """pid 1 execs "gen 2": the capsule goes on as the new program, and ends with its status."""
    p = subprocess.run([CAPRUN, "--no-net", IMAGE, "relaunch-gen"], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout, p.stderr), (0, "line 1\nline 2\n", ""),
             "caprun's exit code, output and stderr")


def stdout_lines(cap):
    """The capsule's own output lines (caprun's "capsule NAME running ..." left out)."""
    with cap.cond:
        return [t for stream, t in cap.lines if stream == "out" and not t.startswith("capsule ")]


def snapshot_after_exec(relaunch=False):
    """hold: pid 1 forks a child that execs; relaunch: pid 1 first execs itself into hold
    (its network stack starts again, on its own TUN device), then the same."""
    host, d = Host(), tempdir()
    cap = host.capsule("execs", name="execs-hold", args=["relaunch" if relaunch else "hold"]).start(
        app_ready=HOLD_READY)
    # pid 1 and the exec'd child print at the same time: their lines in any order
    check_eq(sorted(stdout_lines(cap)), sorted(HOLD_BEFORE), "output before the snapshot")
    check_eq(len(cap.capsule_pids()), 2, "host processes: pid 1 and its exec'd child")
    path = os.path.join(d, "execs.snap")
    snapshot(host, cap, path)
    again = host.resume(path, plain=True)
    check_eq(len(again.capsule_pids()), 2, "host processes after the resume")
    with host.connect(again.addr, 9100) as s:
        check_eq(recv_all(s), b"hold done\n", "pid 1's answer after the resume")
    check_eq(again.wait_exit(30), 4, "caprun's exit code after the resume: pid 1's")
    check_eq(stdout_lines(again), HOLD_AFTER, "the exec'd program's output after the resume")
    check_eq([t for s_, t in again.lines if s_ == "err"], [], "stderr after the resume")


def main():
    tap = Tap()
    tap.run("execs: execve and posix_spawn of the program itself, the same output as on Linux",
            same_as_linux)
    tap.run("execs: a file on a volume across execve keeps its offset, the same as on Linux",
            file_across_exec)
    tap.run("execs: execve in pid 1: the capsule goes on as the new program", exec_in_pid1)
    tap.run("execs: snapshot after an exec, resumed: the exec'd process reads its pipe on",
            snapshot_after_exec)
    tap.run("execs: pid 1 execs itself into a server, which forks and execs; snapshot, resume, "
            "its TCP and pipe go on", lambda: snapshot_after_exec(relaunch=True))
    tap.done()


main()
