"""test_snapshot_state.py: threads blocked in accept, read, a pipe read and a condition wait survive a snapshot; pipe and /tmp file keep contents and offsets; the console continues."""
import os
import re

from caplib import Host, Tap, check, check_eq, connect, need_capsule_host, request, snapshot, tempdir

READY = "stateful: listening on"


def threads_files_pipes_survive():
    host, d = Host(), tempdir()
    cap = host.capsule("stateful", name="state").start(app_ready=READY)
    busy = connect(cap.addr, 9002)    # its thread will be blocked in read() at the snapshot
    idle = connect(cap.addr, 9002)    # so will this one's, never used before the snapshot
    check_eq(request(busy, "hello"), "hello", "first command")
    check_eq(request(busy, "file"), "file offset=6 size=22 rest=beta-gamma-delta", "/tmp file")
    check_eq(request(busy, "read 5"), "read beta-", "read from the /tmp file")
    check_eq(request(busy, "pipe 5"), "pipe pipe-", "first piece of the held pipe")
    check_eq(request(busy, "wake"), "woke 1", "main thread's first wake-up")
    check(cap.wait_for(r"stateful: main thread woke up \(1\)", 10),
          "console line of the first wake-up missing; output: %s" % cap.output_text()[-300:])
    path = os.path.join(d, "state.snap")
    snapshot(host, cap, path)
    again = host.resume(path)
    # Every thread was blocked at the snapshot; each must still be.
    check_eq(request(busy, "file"), "file offset=11 size=22 rest=gamma-delta",
             "/tmp file offset and contents after resume")
    check_eq(request(busy, "read 6"), "read gamma-", "read from the /tmp file after resume")
    check_eq(request(busy, "pipe 100"), "pipe data-one", "rest of the held pipe after resume")
    check_eq(request(idle, "feed kiwi"), "fed kiwi", "pipe reader thread (blocked in read)")
    check_eq(request(idle, "wake"), "woke 2", "main thread (blocked in a condition wait)")
    with connect(again.addr, 9002) as fresh:   # accept thread (blocked in accept)
        check_eq(request(fresh, "hello"), "hello", "a new connection after resume")
        check_eq(request(fresh, "print after resume"), "printed", "print command")
    for line in (r"stateful: pipe reader got kiwi", r"stateful: main thread woke up \(2\)",
                 r"stateful: after resume"):
        check(again.wait_for(line, 10),
              "resumed caprun's output lacks /%s/; output: %s" % (line, again.output_text()[-400:]))
    check(not re.search(r"main thread woke up \(1\)", again.output_text()),
          "console output before the snapshot printed again after resume")
    busy.close()
    idle.close()


def main():
    tap = Tap()
    name = ("snapshot: threads in accept/read/pipe read/cond wait survive; pipe, /tmp file "
            "offsets and console continue")
    if not need_capsule_host(tap, name):
        tap.run(name, threads_files_pipes_survive)
    tap.done()


main()
