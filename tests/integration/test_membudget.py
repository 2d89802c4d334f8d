"""test_membudget.py: a capsule's processes share one memory budget, the image's memory size (docs/PROCESSES.md, section 2): a child cannot map what its parent holds, a fork whose copy would not fit fails with ENOMEM, memory a child gave back (by exiting) or its parent unmapped is room again."""
import os

from caplib import CAPRUN, IMAGES, Tap, check_eq, run_tool

IMAGE = os.path.join(IMAGES, "membudget.cap")
WANT = """parent: mmap 100 MiB: ok
child: mmap 100 MiB: Out of memory
child: mmap 40 MiB: ok
child exited with 0
parent, the child gone: mmap 100 MiB: ok
fork with 200 MiB mapped: Out of memory
second child: mmap 40 MiB: ok
fork after unmapping 100 MiB: ok
second child exited with 0
"""


def shared_budget():
    code, out, err = run_tool([CAPRUN, "--no-net", IMAGE], timeout=60)
    check_eq((code, out, err), (0, WANT, ""), "membudget's exit code, output and errors (256 MiB image)")


def main():
    tap = Tap()
    tap.run("membudget: the processes of a capsule map at most its memory size together; a fork "
            "that would not fit fails with ENOMEM", shared_budget)
    tap.done()


main()
