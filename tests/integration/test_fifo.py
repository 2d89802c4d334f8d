"""test_fifo.py: named pipes (mkfifo in the capsule's /tmp) between processes (docs/PROCESSES.md, section 5): opens that wait for the other side, O_NONBLOCK's ENXIO, 1000 lines and end of file, stat, unlink; a blocked read of a pipe between processes interrupted by a signal (EINTR) or restarted (SA_RESTART); the output equal to the same program's on Linux."""
from procslib import same_as_linux
from caplib import Tap

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
no SA_RESTART: read -1 (Interrupted system call), handler ran 1
SA_RESTART: read 1 (a byte), handler ran 1
"""


def main():
    tap = Tap()
    tap.run("fifo: mkfifo, a parent and its child meet through it; a blocked pipe read and a signal, "
            "with and without SA_RESTART; as on Linux", lambda: same_as_linux("fifo", WANT))
    tap.done()


main()
