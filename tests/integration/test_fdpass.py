"""test_fdpass.py: descriptors passed over socket pairs (SCM_RIGHTS) in a capsule (runtime/fdpass.c, docs/PROCESSES.md section 5): a pipe's read end passed within one process and to a forked child, a socket pair's end the child writes through, one dropped by a plain read (its pipe's writer then gets EPIPE); the output equal to the same program's on Linux."""
from procslib import same_as_linux
from caplib import Tap

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


def main():
    tap = Tap()
    tap.run("fdpass: SCM_RIGHTS within a process and to a child: a pipe end, a socket pair end, one "
            "dropped by read(); the same output as on Linux", lambda: same_as_linux("fdpass", WANT))
    tap.done()


main()
