"""test_pgroups.py: process groups and sessions in a capsule (docs/PROCESSES.md, section 6b): setsid, setpgid with Linux's errors, getpgid/getsid of another process, kill to a group, to a sibling and to no one, waitpid(0 / -pgid), waitid(P_PGID), the output equal to the same program's on Linux; a group kept across a snapshot and resume, then killed as one; a process killed from outside reported as such, its pipe ends closed for it."""
import json
import os
import re
import signal
import subprocess

from procslib import HOLD_ANSWER, HOLD_EXIT, HOLD_READY, answered_after_resume, native_build
from caplib import CAPRUN, IMAGES, Host, Tap, check_eq, recv_all

IMAGE = os.path.join(IMAGES, "pgroups.cap")

WANT = """leads its group and session: yes
setsid in a group leader: -1 EPERM
A: in its parent's group and session: yes
A: setsid made a session and group of its own: yes
A seen from its parent: its own group and session: yes
setpgid(A, my group): A leads a session: -1 EPERM
A exited with 0
setpgid(B, 0): 0
setpgid(C, B): 0
C is in B's group: yes
setpgid(C, a group that does not exist): -1 EPERM
setpgid of a process that is not my child: -1 ESRCH
kill(-B, 0): 0
kill(-4242, SIGTERM): -1 ESRCH
kill(4242, 0): -1 ESRCH
waitpid(-B, WNOHANG) with both alive: 0
kill(-B, SIGTERM): 0
a child of group B killed by signal 15
a child of group B killed by signal 15
both B and C reaped through waitpid(-B): yes
waitpid(-B) once the group is gone: -1 ECHILD
D: SIGUSR1 from a sibling
D exited with 5
E, after kill(D, SIGUSR1), exited with 0
waitpid(0) reaped F: yes
F exited with 3
waitpid(0) with G in a group of its own: -1 ECHILD
waitid(P_PGID, G) reaped G: yes
G exited with 0
the child's alarm(0) after fork: 0
the parent's alarm(0): 100
done
"""


def same_as_linux():
    exe = native_build("pgroups")
    # Natively as a session leader, as a capsule's pid 1 is (its group and session are 1).
    native = subprocess.run([exe], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    check_eq((native.returncode, native.stdout), (0, WANT), "Linux: exit code and output")
    p = subprocess.run([CAPRUN, "--no-net", IMAGE], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check_eq(p.stdout, WANT, "the capsule's output (stderr %r)" % p.stderr)
    # B and C end by SIGTERM's default action, and a capsule's process says so.
    check_eq(p.stderr, "capsule: terminated by signal 15\n" * 2, "stderr")
    check_eq(p.returncode, 0, "caprun's exit code")




def group_across_snapshot():
    host = Host()
    cap = host.capsule("pgroups", name="pgroups-hold", args=["hold"]).start(app_ready=HOLD_READY)
    check_eq(len(cap.capsule_pids()), 3, "host processes: pid 1 and the group of B and C")
    code, out, err = host.capctl(["ps", "--json"])
    rows = json.loads(out) if code == 0 else []
    check_eq([(r["name"], r["processes"]) for r in rows], [("pgroups-hold", 3)],
             "capctl ps --json: the capsule and its processes (stderr %r)" % err)
    code, out, err = host.capctl(["ps"])
    check_eq((code, out.splitlines()[1].split()[5] if code == 0 else err), (0, "3"),
             "capctl ps: the PROCS column")
    code, out, err = host.capctl(["ps", "--tree", "--json"])
    tree = json.loads(out)[0]["tree"] if code == 0 else err
    check_eq([(p["pid"], p["ppid"], p["pgid"], p["sid"]) for p in tree],
             [(1, 0, 1, 1), (2, 1, 2, 1), (3, 1, 2, 1)], "capctl ps --tree: B and C in group B")
    answered_after_resume(host, cap, 3, HOLD_ANSWER, HOLD_EXIT,
                          "the group, read from the resumed control pages, killed as one")


def killed_from_outside():
    host = Host()
    cap = host.capsule("pgroups", name="pgroups-outside", args=["hold"]).start(app_ready=HOLD_READY)
    pids = sorted(cap.capsule_pids())
    check_eq(len(pids), 3, "host processes: pid 1, B and C")
    os.kill(pids[1], signal.SIGKILL)   # B, the second process the capsule made (started by us)
    want = "caprun: capsule pgroups-outside: process 2 (host pid %d) killed from outside by " \
           "signal SIGKILL" % pids[1]
    cap.wait_for(re.escape(want), 10)
    # pid 1 sees B killed by SIGKILL; C, still in B's group, takes the group's SIGTERM.
    with host.connect(cap.addr, 9100) as s:
        check_eq(recv_all(s), b"groups: B 2 C 2; kill(-B): 0\nreaped by SIGTERM: 1; "
                 b"B's pipe: end of file\n", "the group after B was killed from outside: "
                 "its pipe end taken away (CAP_MSG_LOST)")
    check_eq(cap.wait_exit(30), HOLD_EXIT, "caprun's exit code: pid 1's")


def main():
    tap = Tap()
    tap.run("pgroups: setsid, setpgid, getpgid/getsid, kill to a group, a sibling, no one, "
            "waitpid(0/-pgid), waitid(P_PGID): the same output as on Linux", same_as_linux)
    tap.run("pgroups: a process group kept across a snapshot and resume, then killed as one",
            group_across_snapshot)
    tap.run("pgroups: a process killed from outside is reported, its parent and group see it "
            "killed, and the pipe it alone wrote ends", killed_from_outside)
    tap.done()


main()
