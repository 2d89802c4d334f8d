"""test_fifo.py: named pipes (mkfifo in the capsule's /tmp) between processes (docs/PROCESSES.md, section 5): opens that wait for the other side, O_NONBLOCK's ENXIO, 1000 lines and end of file, stat, unlink; the output equal to the same program's on Linux."""
import os
import subprocess

from procslib import native_build
from caplib import CAPRUN, IMAGES, Tap, check_eq

IMAGE = os.path.join(IMAGES, "fifo.cap")
WANT = """mkfifo: 0
mkfifo again: File exists
a FIFO: yes, mode 600
open for writing, no reader, O_NONBLOCK: No such device or address
read 25000 bytes, 1000 lines, then end of file: yes
child exited with 0
open for reading, O_NONBLOCK, no writer: opened
read with no writer: 0
open for writing with a reader, O_NONBLOCK: opened
write: 3
read: 3
unlink: 0
stat after unlink: No such file or directory
"""


def same_as_linux():
    native = subprocess.run([native_build("fifo")], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    check_eq((native.returncode, native.stdout), (0, WANT), "Linux: exit code and output")
    p = subprocess.run([CAPRUN, "--no-net", IMAGE], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout, p.stderr), (0, WANT, ""), "the capsule: exit code, output, errors")


def main():
    tap = Tap()
    tap.run("fifo: mkfifo, a parent and its child meet through it as on Linux", same_as_linux)
    tap.done()


main()
