"""test_shm.py: POSIX named shared memory in a capsule (docs/PROCESSES.md, section 5): shm_open, ftruncate, fstat, mmap MAP_SHARED, pread/pwrite and shm_unlink between processes, with Linux's errors, an object freed when its last holder is killed, the output equal to the same program's on Linux; an object mapped by two processes kept across a snapshot and resume, and opened by name after it (its live migration: test_procs_migrate.py)."""
import os
import subprocess

from procslib import SHM_HOLD_ANSWER, SHM_HOLD_EXIT, SHM_HOLD_READY, answered_after_resume, native_build
from caplib import CAPRUN, IMAGES, Host, Tap, check_eq

IMAGE = os.path.join(IMAGES, "shm.cap")

WANT = """open a name that does not exist: -1 ENOENT
new: size 0, regular yes, mode 600, links 1
ftruncate: 0
sized: size 100000, regular yes, mode 600, links 1
child: pattern 0 wrong, its own mapping and the inherited one the same bytes: yes
parent: child exited 0; counter 200000; message "hello from the child"
open again with O_CREAT|O_EXCL: -1 EEXIST
pwrite, then the mapping: abc
pread at the end: 5
ftruncate of a read-only descriptor: -1 EINVAL
writable MAP_SHARED of a read-only descriptor: EACCES
read-only mapping: counter 200000
shm_unlink: 0
open after unlink: -1 ENOENT
shm_unlink again: -1 ENOENT
still open: size 100000, regular yes, mode 600, links 0
a child writes the unlinked object's pages: after unlink
the name again: size 0, regular yes, mode 640, links 1
shrunk to 100, grown to 8192: 100 bytes kept, 8092 zeros
stat by path: 0
stat by path: size 8192
shm_unlink: 0
stat by path after unlink: -1 ENOENT
the last holder of an unlinked object: killed by signal 9
another object as large: ftruncate: 0
another object as large: mapped yes
done
"""

def same_as_linux():
    exe = native_build("shm")
    # The capsule's umask is 022: the same natively, for the modes it prints.
    native = subprocess.run([exe], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL, umask=0o022)
    check_eq((native.returncode, native.stdout), (0, WANT), "Linux: exit code and output")
    p = subprocess.run([CAPRUN, "--no-net", IMAGE], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check_eq(p.stdout, WANT, "the capsule's output (stderr %r)" % p.stderr)
    check_eq(p.stderr, "", "stderr")
    check_eq(p.returncode, 0, "caprun's exit code")


def mapped_across_snapshot():
    host = Host()
    cap = host.capsule("shm", name="shm-hold", args=["hold"]).start(app_ready=SHM_HOLD_READY)
    check_eq(len(cap.capsule_pids()), 2, "host processes: pid 1 and the child")
    answered_after_resume(host, cap, 2, SHM_HOLD_ANSWER, SHM_HOLD_EXIT,
                          "the object's bytes in both processes after the resume, and its name")


def main():
    tap = Tap()
    tap.run("shm: shm_open, ftruncate, fstat, mmap MAP_SHARED across processes, pread/pwrite, "
            "shm_unlink, Linux's errors: the same output as on Linux", same_as_linux)
    tap.run("shm: an object mapped by two processes across a snapshot and resume, then opened "
            "by name", mapped_across_snapshot)
    tap.done()


main()
