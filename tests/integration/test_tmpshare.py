"""test_tmpshare.py: one /tmp for every process of a capsule (docs/PROCESSES.md, section 5): files written, read, renamed, truncated, unlinked and made by one process seen by the others at once, an unlinked file still open, a descriptor's offset shared across fork and SCM_RIGHTS, O_APPEND from two processes, mkfifo and mkdir after a fork, an unlinked file freed when its last holder is killed (CAP_MSG_LOST), four processes using /tmp at once: the output equal to the same program's on Linux; a file a child holds open kept across a snapshot and resume (moved live: test_procs_migrate.py; busybox redirects: test_busybox.py)."""
from procslib import TMP_HOLD_ANSWER, TMP_HOLD_EXIT, TMP_HOLD_READY, answered_after_resume, same_as_linux
from caplib import Host, Tap, check_eq

WANT = """child exited 0; parent reads: from the child
a second child reads:
from the child
from the parent
the sibling counts 5 lines from stdin
inherited descriptor, offset after the child's write and ours: 6; the file: A
B
C
after the child read 2 bytes, the parent reads 4: B
C
the child got it with SCM_RIGHTS and read "world"
after the child's read, the sender's offset: 11
O_APPEND from two processes: size 9600, parent 300 lines, child 300, torn 0
child renamed a to b and truncated it: 0
stat a: No such file or directory; b: size 4; the parent's descriptor: size 4, links 1
child unlinked b: open says No such file or directory; still open here: links 0, reads "0123"
the child, after the parent unlinked and closed it: "kept for the child"
mkfifo after the fork: 0
the child read from the FIFO: through a FIFO made after fork
after a child's mkdir, the parent lists: sub x y
after a child's unlink and rename, the parent lists: sub
and in sub lists: z
the child removes both directories: 0; the parent's stat: gone
the last holder of an unlinked 40 MiB file: killed by signal 9
another file as large: 40 MiB written
4 processes at once: 0 with errors; their log: 6000 lines of 6000, 0 torn
at the end, its directory lists:
rmdir: 0
"""

def held_across_snapshot():
    host = Host()
    cap = host.capsule("tmpshare", name="tmpshare-hold", args=["hold"]).start(app_ready=TMP_HOLD_READY)
    check_eq(len(cap.capsule_pids()), 2, "host processes: pid 1 and the child")
    answered_after_resume(host, cap, 2, TMP_HOLD_ANSWER, TMP_HOLD_EXIT,
                          "what the child read through the descriptor it held across the snapshot, "
                          "after pid 1 appended to the file and unlinked it")


def main():
    tap = Tap()
    tap.run("tmpshare: one /tmp for every process: writes, reads, rename, ftruncate, unlink, "
            "shared offsets, O_APPEND, mkfifo and mkdir after fork, a killed holder, four at once; as on Linux",
            lambda: same_as_linux("tmpshare", WANT))
    tap.run("tmpshare: a /tmp file a child holds open across a snapshot and resume",
            held_across_snapshot)
    tap.done()


main()
