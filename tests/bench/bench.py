"""bench.py: start time, image sizes, echo throughput and round trip: capsule vs. native, same run."""
import argparse
import os
import socket
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from caplib import IMAGES, Capsule, connect, recv_exact  # noqa: E402

ECHO_PORT = 7


def first_reply_ms(make):
    """Launch to first echoed byte, in ms (the launch includes loading + readiness)."""
    t0 = time.monotonic()
    cap = make()
    try:
        cap.start()
        with connect(cap.addr, ECHO_PORT) as s:
            s.sendall(b"x")
            recv_exact(s, 1)
        return (time.monotonic() - t0) * 1000
    finally:
        cap.stop()


def throughput_mib_s(addr, total):
    """Send total bytes and read them back concurrently; MiB/s of echoed data."""
    chunk = b"\xa5" * (1 << 20)
    with connect(addr, ECHO_PORT, timeout=60) as s:
        def sender():
            left = total
            while left:
                n = s.send(chunk[:min(left, len(chunk))])
                left -= n
            s.shutdown(socket.SHUT_WR)
        t0 = time.monotonic()
        th = threading.Thread(target=sender)
        th.start()
        got = 0
        while got < total:
            n = len(s.recv(1 << 20))
            if not n:
                break
            got += n
        th.join()
        dt = time.monotonic() - t0
    if got != total:
        raise RuntimeError("echo returned %d of %d bytes" % (got, total))
    return total / dt / (1 << 20)


def round_trip_us(addr, count):
    """Median time for a 64-byte message to come back, in microseconds."""
    msg = b"r" * 64
    times = []
    with connect(addr, ECHO_PORT) as s:
        for i in range(count + 50):
            t0 = time.perf_counter_ns()
            s.sendall(msg)
            recv_exact(s, 64)
            if i >= 50:   # the first ones warm up caches and TCP's window
                times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1000


def perf_counts(pid, addr, count):
    """System calls and context switches of one process (all its threads) per round trip.

    perf stat attaches to the running process, count round trips run, perf stops;
    returns (syscalls, context switches) per round trip, or None without perf.
    """
    try:
        p = subprocess.Popen(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter,context-switches",
                              "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError:
        return None
    time.sleep(0.5)   # perf attaches
    round_trip_us(addr, count)
    p.send_signal(signal.SIGINT)
    err = p.communicate(timeout=30)[1].decode()
    got = {}
    for line in err.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0].isdigit():
            got[f[2]] = int(f[0])
    if len(got) != 2:
        return None
    return got["raw_syscalls:sys_enter"] / (count + 50), got["context-switches"] / (count + 50)


def count_row(what, counts):
    if counts is None:
        print("  %-28s (perf stat unavailable)" % what)
    else:
        print("  %-28s %8.2f system calls %8.2f context switches" % ((what,) + counts))


def row(what, cap, nat, unit, better_low):
    ratio = cap / nat if nat else float("nan")
    hint = "(lower is better)" if better_low else "(higher is better)"
    print("%-30s %12.3f %12.3f %8.2fx  %s %s" % (what, cap, nat, ratio, unit, hint))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--native", required=True)
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--mib", type=int, default=100)
    ap.add_argument("--rtts", type=int, default=2000)
    ap.add_argument("--count-rtts", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    image = os.path.join(IMAGES, "echo.cap")
    make_cap = lambda: Capsule("echo")
    make_nat = lambda: Capsule("echo", native=a.native)

    print("capsule vs. native (gcc, Linux loopback), same source images/echo/echo.c; medians")
    print("%-30s %12s %12s %9s" % ("", "capsule", "native", "ratio"))

    cap_start = statistics.median(first_reply_ms(make_cap) for _ in range(a.starts))
    nat_start = statistics.median(first_reply_ms(make_nat) for _ in range(a.starts))
    row("start to first reply (n=%d)" % a.starts, cap_start, nat_start, "ms", True)

    cap, nat = make_cap().start(), make_nat().start()
    try:
        total = a.mib << 20
        tp_c = statistics.median(throughput_mib_s(cap.addr, total) for _ in range(a.repeat))
        tp_n = statistics.median(throughput_mib_s(nat.addr, total) for _ in range(a.repeat))
        row("echo throughput (%d MiB)" % a.mib, tp_c, tp_n, "MiB/s", False)
        rt_c = round_trip_us(cap.addr, a.rtts)
        rt_n = round_trip_us(nat.addr, a.rtts)
        row("64-byte round trip (n=%d)" % a.rtts, rt_c, rt_n, "us", True)
        print("\nper 64-byte round trip (perf stat on each process over %d round trips)" % a.count_rtts)
        c_run = perf_counts(cap.proc.pid, cap.addr, a.count_rtts)
        c_cap = perf_counts(cap.inner[0][0], cap.addr, a.count_rtts) if cap.inner else None
        c_nat = perf_counts(nat.proc.pid, nat.addr, a.count_rtts)
        count_row("caprun", c_run)
        count_row("capsule", c_cap)
        if c_run and c_cap:
            count_row("caprun + capsule", (c_run[0] + c_cap[0], c_run[1] + c_cap[1]))
        count_row("native echo", c_nat)
    finally:
        cap.stop()
        nat.stop()

    print("\nimage sizes (bytes)")
    nat_size = os.path.getsize(a.native)
    print("  %-28s %10d  (gcc, dynamically linked against glibc)" % ("native echo", nat_size))
    for name in sorted(os.listdir(IMAGES)):
        if name.endswith(".cap"):
            print("  %-28s %10d" % (name, os.path.getsize(os.path.join(IMAGES, name))))
    print("  echo.cap / native echo: %.1fx (the capsule carries libc, runtime and TCP/IP)" %
          (os.path.getsize(image) / nat_size))


if __name__ == "__main__":
    main()
