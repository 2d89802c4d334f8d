"""test_fileoff.py: the offset of an open file description several processes hold since a fork (docs/PROCESSES.md section 5): a volume file written by a parent and its child in turn through one descriptor, two children one after the other as `{ a; b; } > out`, a child's read and lseek moving the parent's offset, an exec'd child going on from it, and the same in /tmp; the output equal to the same program's on Linux."""
import os
import subprocess

from caplib import CAPRUN, IMAGES, Tap, check_eq, tempdir
from procslib import native_build

WANT = """parent, child, parent: offset 6, the file: A|B|C|
two children in turn, then the parent: offset 16807, size 16807
1001 lines, in order: yes, first: child 1 line 1
last: the parent's last line
after the child read 3 bytes, the parent reads 4: 3456
after the child's lseek to 1, the parent is at 1
a child exec'd in between: offset 35, the file: before|from the exec'd child|after|
unlink: 0
"""


def on_a_volume():
    d = tempdir("capsule-fileoff.")
    native = subprocess.run([native_build("fileoff"), d], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    check_eq((native.returncode, native.stdout), (0, WANT), "Linux: exit code and output")
    vol = tempdir("capsule-fileoff-vol.")
    p = subprocess.run([CAPRUN, "--no-net", "-v", vol + ":/data", os.path.join(IMAGES, "fileoff.cap"),
                        "/data"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout, p.stderr), (0, WANT, ""), "the capsule: exit code, output, errors")
    check_eq(os.listdir(vol), [], "files left on the volume")


def in_tmp():
    """The same in the capsule's /tmp, one file system for all its processes (its own offsets,
    tmpstore.c's descriptions, not fileshare.c's cells)."""
    native = subprocess.run([native_build("fileoff")], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    check_eq((native.returncode, native.stdout), (0, WANT), "Linux: exit code and output")
    p = subprocess.run([CAPRUN, "--no-net", os.path.join(IMAGES, "fileoff.cap")], capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout, p.stderr), (0, WANT, ""), "the capsule: exit code, output, errors")


def main():
    tap = Tap()
    tap.run("fileoff: a volume file's offset shared by parent, children and an exec'd child, as on "
            "Linux", on_a_volume)
    tap.run("fileoff: the same in the capsule's /tmp, as on Linux", in_tmp)
    tap.done()


main()
