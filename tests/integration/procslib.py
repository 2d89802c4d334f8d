"""procslib.py: what the process test programs print, shared by the tests that run them here, snapshotted, or moved (test_procs.py, test_procs_migrate.py, test_pgroups.py), and the same programs built for Linux (test_pgroups.py, test_shm.py)."""
import os

from caplib import ROOT, check, run_tool, tempdir


def same_as_linux(image, want):
    """images/IMAGE built by gcc and run on Linux, and as a capsule (--no-net): both exit 0 and
    print want; the capsule prints nothing on stderr."""
    import subprocess
    from caplib import CAPRUN, IMAGES, check_eq
    native = subprocess.run([native_build(image)], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    check_eq((native.returncode, native.stdout), (0, want), "Linux: exit code and output")
    p = subprocess.run([CAPRUN, "--no-net", os.path.join(IMAGES, image + ".cap")], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout, p.stderr), (0, want, ""), "the capsule: exit code, output, errors")


def answered_after_resume(host, cap, procs, answer, exit_code, what):
    """cap (a capsule of procs processes that answers one connection on port 9100, then exits)
    snapshotted and resumed: its processes, its answer (what it shows) and pid 1's exit code.
    The resumed capsule."""
    from caplib import check_eq, recv_all, snapshot
    path = os.path.join(tempdir(), "hold.snap")
    snapshot(host, cap, path)
    again = host.resume(path, plain=True)
    check_eq(len(again.capsule_pids()), procs, "host processes after the resume")
    with host.connect(again.addr, 9100) as s:
        check_eq(recv_all(s), answer, what)
    check_eq(again.wait_exit(30), exit_code, "caprun's exit code after the resume: pid 1's")
    return again


def native_build(image):
    """images/IMAGE/IMAGE.c built by gcc for Linux: the program's path."""
    exe = os.path.join(tempdir("capsule-%s." % image), image)
    code, out, err = run_tool(["gcc", "-std=c11", "-O2", "-o", exe,
                               os.path.join(ROOT, "images", image, image + ".c")], timeout=120)
    check(code == 0, "gcc %s.c: %s" % (image, err[-400:]))
    return exe


# images/procs/procs.c, "tree": its line once ready, and what it prints once set going: pids
# as the capsule sees them, every byte of the pipe, the pending signal, the waits and the zombie.
TREE_READY = r"tree: pid 1, middle 2 ready, listening on 9100"
TREE_AFTER = """reader: pid 4 ppid 2, go 1
reader: 75000 bytes, 0 wrong, then EOF
reader: SIGUSR1 pending 1
reader: SIGUSR1 handled 1
middle: child 4 exited with 44
middle, the zombie: child 3 exited with 3
middle: pid 2 ppid 1, then -1 ECHILD
tree: child 2 exited with 2
tree: done
""".splitlines()
TREE_EXIT = 12

# images/pgroups/pgroups.c, "hold": group 2 holds B (pid 2) and C (pid 3); a connection kills
# the group, reaps it and reads the pipe only B wrote; then pid 1 exits 11.
HOLD_READY = r"hold: group 2 of 2, listening on 9100"
HOLD_ANSWER = b"groups: B 2 C 2; kill(-B): 0\nreaped by SIGTERM: 2; B's pipe: end of file\n"
HOLD_EXIT = 11

# images/shm/shm.c, "hold": pid 1 and its child 2 map one shm_open object; a connection has
# pid 1 write into it and the child answer through it; then pid 1 exits 11.
SHM_HOLD_READY = r"shm hold: child 2 maps it, listening on 9100"
SHM_HOLD_ANSWER = (b'the child saw "before the snapshot" and "after the resume", pattern 0 wrong; '
                   b'it exited 0\na process made now opens it by name: yes, its size\n')
SHM_HOLD_EXIT = 11

# images/tmpshare/tmpshare.c, "hold": a child holds a /tmp file open; a connection has pid 1
# append to it and unlink it, and the child read it through its descriptor; then pid 1 exits 11.
TMP_HOLD_READY = r"tmpshare hold: child 2 holds it, listening on 9100"
TMP_HOLD_ANSWER = (b"child exited 0; the child read 37 bytes:\n"
                   b"before the snapshot\nafter the resume\n")
TMP_HOLD_EXIT = 11
