"""test_procs.py: capsules of several processes (docs/PROCESSES.md): fork, getpid/getppid, exit and wait statuses, SIGCHLD, copied memory, a pipe across fork with blocking and EOF; snapshot and migration of several processes refused, allowed again once the children are gone."""
import os
import subprocess

from caplib import (CAPRUN, IMAGES, Host, Tap, check, check_eq, connect, recv_all, snapshot,
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


def refused_then_allowed():
    host, d = Host(), tempdir()
    cap = host.capsule("procs", name="procs-hold", args=["hold"]).start(
        app_ready=r"hold: child 2 waits, listening on 9100")
    path = os.path.join(d, "procs.snap")
    want = ("capsule procs-hold has 2 processes; snapshots and migrations of several "
            "processes are not supported yet")
    code, out, err = host.capctl(["snapshot", cap.name, "-o", path])
    check(code != 0, "capctl snapshot of two processes exited 0 (stdout %r)" % out)
    check_eq(err.splitlines(), ["capctl: snapshot procs-hold: " + want], "capctl snapshot's one line")
    check(not os.path.exists(path), "a snapshot file was written anyway")
    code, out, err = host.capctl(["migrate", cap.name, "--to", "2"])
    check(code != 0, "capctl migrate of two processes exited 0 (stdout %r)" % out)
    check_eq(err.splitlines(), ["capctl: migrate procs-hold to host 2: " + want], "capctl migrate's one line")
    check_eq(len(cap.capsule_pids()), 2, "host processes of the capsule (one each)")
    # Still running: the first connection ends the child (its pipe closes), the parent reaps it.
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


def main():
    tap = Tap()
    tap.run("procs: fork, exit and wait statuses, SIGCHLD, copied memory, a pipe across fork, vfork, kill",
            fork_wait_pipe)
    tap.run("procs: snapshot and migrate of two processes refused; once one, snapshot and resume",
            refused_then_allowed)
    tap.done()


main()
