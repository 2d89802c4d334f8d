"""test_fdpass.py: descriptors passed over socket pairs (SCM_RIGHTS) in a capsule (runtime/fdpass.c, docs/PROCESSES.md section 5): a pipe's read end passed within one process and to a forked child, a socket pair's end the child writes through, one dropped by a plain read (its pipe's writer then gets EPIPE); the output equal to the same program's on Linux."""
import os
import subprocess

from procslib import native_build
from caplib import CAPRUN, IMAGES, Tap, check_eq

IMAGE = os.path.join(IMAGES, "fdpass.cap")
WANT = """one process: message self with a descriptor: yes
one process read to the end: through our own passed pipe
child: message pipe with a descriptor: yes
child read to the end: through a pipe whose read end was passed
child: message pair with a descriptor: yes
parent read to the end: the child writes through a passed socket
child: read() of message drop
write to a pipe whose passed read end was dropped: Broken pipe
child exited with 0
"""


def same_as_linux():
    native = subprocess.run([native_build("fdpass")], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    check_eq((native.returncode, native.stdout), (0, WANT), "Linux: exit code and output")
    p = subprocess.run([CAPRUN, "--no-net", IMAGE], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout, p.stderr), (0, WANT, ""), "the capsule: exit code, output, errors")


def main():
    tap = Tap()
    tap.run("fdpass: SCM_RIGHTS within a process and to a child: a pipe end, a socket pair end, one "
            "dropped by read(); the same output as on Linux", same_as_linux)
    tap.done()


main()
