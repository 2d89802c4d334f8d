"""test_snapshot_disk.py: a snapshot that sits on disk: 30 s later the same client connection continues; the capsule's monotonic clock skips the time on disk."""
import os
import time

from caplib import (Host, Tap, check, check_eq, connect, need_capsule_host, next_count,
                    recv_line, request, snapshot, tempdir)

ON_DISK_S = 30      # the requirement: a snapshot that sat on disk 30 s
CLOCK_GAP_S = 3     # long enough to see a jump in the capsule's clock


def thirty_seconds_on_disk():
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="sleeper").start()
    s = connect(cap.addr, 9000, timeout=120)
    check_eq([next_count(s) for _ in range(3)], [1, 2, 3], "replies before the snapshot")
    path = os.path.join(d, "sleeper.snap")
    snapshot(host, cap, path)
    saved_at = time.monotonic()
    # A line sent while the capsule is on disk: the client's TCP keeps
    # retransmitting it, and the resumed capsule answers it.
    s.sendall(b"while on disk\n")
    time.sleep(ON_DISK_S)
    again = host.resume(path)
    resumed_at = time.monotonic()
    check_eq(recv_line(s), b"4\n", "reply to the line sent while on disk")
    answered_at = time.monotonic()
    check_eq([next_count(s) for _ in range(2)], [5, 6], "same connection after %ds on disk" % ON_DISK_S)
    with connect(again.addr, 9000) as s2:
        check_eq(next_count(s2), 7, "a new connection")
    print("# on disk %.1f s; the line sent meanwhile was answered %.1f s after resume" % (
        resumed_at - saved_at, answered_at - resumed_at))
    s.close()


def clock(sock):
    reply = request(sock, "clock").split()
    check(len(reply) == 3 and reply[0] == "clock", "clock reply %r" % reply)
    return int(reply[1]), int(reply[2])


def monotonic_clock_skips_disk_time():
    host, d = Host(), tempdir()
    cap = host.capsule("stateful", name="clock").start(app_ready="listening on")
    s = connect(cap.addr, 9002)
    t0 = time.monotonic()
    mono1, real1 = clock(s)
    check(abs(real1 - time.time_ns()) < 1e9, "wall clock %d is not the host's %d" % (real1, time.time_ns()))
    path = os.path.join(d, "clock.snap")
    snapshot(host, cap, path)
    t_saved = time.monotonic()
    time.sleep(CLOCK_GAP_S)
    t_resume = time.monotonic()
    host.resume(path, app_ready=None)
    mono2, real2 = clock(s)
    t1 = time.monotonic()
    host_running = (t_saved - t0) + (t1 - t_resume)   # host time the capsule could have run
    step = (mono2 - mono1) / 1e9
    check(mono2 > mono1, "monotonic clock went back: %d then %d" % (mono1, mono2))
    check(step <= host_running + 0.25,
          "monotonic clock jumped %.3f s across %.1f s on disk (it ran at most %.3f s)" % (
              step, CLOCK_GAP_S, host_running))
    check(abs(real2 - time.time_ns()) < 1e9, "wall clock after resume %d is not the host's %d" % (
        real2, time.time_ns()))
    check((real2 - real1) / 1e9 >= CLOCK_GAP_S, "wall clock did not advance by the time on disk")
    print("# capsule monotonic step %.3f s, host running time %.3f s, on disk %.1f s" % (
        step, host_running, t_resume - t_saved))
    s.close()


def main():
    tap = Tap()
    tests = [
        ("snapshot: 30 s on disk, same connection continues (client retransmits bridge the gap)",
         thirty_seconds_on_disk),
        ("snapshot: monotonic clock neither jumps nor goes back across time on disk; wall clock is the host's",
         monotonic_clock_skips_disk_time),
    ]
    for name, fn in tests:
        if not need_capsule_host(tap, name):
            tap.run(name, fn)
    tap.done()


main()
