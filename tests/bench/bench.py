"""bench.py: start time, image sizes, echo and one-way bulk throughput, round trip: capsule vs. native, same run."""
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
from caplib import CAPRUN, IMAGES, Capsule, connect, recv_exact  # noqa: E402
import bulklib  # noqa: E402

ECHO_PORT = 7


def cpu_ms(pid):
    """CPU time a process has used so far, ms (the kernel's own count, in ns)."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0]) / 1e6


def start_once(make):
    """One start: (ms from launch to the first byte echoed, CPU ms its processes used until
    then, of which the capsule process's: caploader and the capsule's own start).

    The launch includes loading and readiness.  The CPU time (caprun and the capsule, or
    the native process) is what load on the shared machine moves least.  schedstat counts
    one thread: right for these, which start none (a thread that exited would be missed).
    """
    t0 = time.monotonic()
    cap = make()
    try:
        cap.start()
        with connect(cap.addr, ECHO_PORT) as s:
            s.sendall(b"x")
            recv_exact(s, 1)
        wall = (time.monotonic() - t0) * 1000
        inner = sum(cpu_ms(p) for p in cap.capsule_pids())
        return wall, cpu_ms(cap.proc.pid) + inner, inner
    finally:
        cap.stop()


def first_reply_ms(make):
    """Launch to first echoed byte, in ms (the launch includes loading + readiness)."""
    return start_once(make)[0]


def exec_ms(argv):
    """Wall time of running argv to its exit, ms: fork, exec, dynamic linking, its own work."""
    t0 = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.monotonic() - t0) * 1000


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


def round_trips(s, count, times):
    """count 64-byte messages sent and awaited on s, each one's time (ns) appended to times."""
    msg = b"r" * 64
    for _ in range(count):
        t0 = time.perf_counter_ns()
        s.sendall(msg)
        recv_exact(s, 64)
        times.append(time.perf_counter_ns() - t0)


def round_trip_us(addr, count):
    """Median time for a 64-byte message to come back, in microseconds."""
    times = []
    with connect(addr, ECHO_PORT) as s:
        round_trips(s, 50, [])   # the first ones warm up caches and TCP's window
        round_trips(s, count, times)
    return statistics.median(times) / 1000


def round_trip_pair_us(addr_a, addr_b, count, slices=10):
    """Medians for two servers measured in alternating slices, so a busy machine hits both alike."""
    ta, tb = [], []
    with connect(addr_a, ECHO_PORT) as a, connect(addr_b, ECHO_PORT) as b:
        round_trips(a, 50, [])
        round_trips(b, 50, [])
        for _ in range(slices):
            round_trips(a, count // slices, ta)
            round_trips(b, count // slices, tb)
    return statistics.median(ta) / 1000, statistics.median(tb) / 1000


def perf_counts(pid, addr, count):
    """System calls, context switches and CPU time of one process (all its threads) per round trip.

    perf stat attaches to the running process, count round trips run, perf stops;
    returns (syscalls, context switches, CPU us) per round trip, or None without perf.
    """
    try:
        p = subprocess.Popen(["perf", "stat", "-x,", "-e",
                              "raw_syscalls:sys_enter,context-switches,task-clock",
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
        if len(f) > 2 and f[0].replace(".", "", 1).isdigit():
            got[f[2]] = float(f[0])
        elif len(f) > 2 and f[0] == "<not counted>":
            got[f[2]] = 0.0   # the process never ran meanwhile (caprun, off the packet path)
    if len(got) != 3:
        return None
    n = count + 50
    return (got["raw_syscalls:sys_enter"] / n, got["context-switches"] / n,
            got["task-clock"] * 1000 / n)   # task-clock is in ms


def count_row(what, counts):
    if counts is None:
        print("  %-28s (perf stat unavailable)" % what)
    else:
        print("  %-28s %8.2f system calls %8.2f context switches %8.1f us CPU" % ((what,) + counts))


def pss_kib(pid):
    """Proportional set size of one process, KiB (shared pages divided among their users)."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def idle_memory(make, n):
    """Start n echo servers, one request each, then median PSS (KiB) of caprun, of the capsule."""
    started = []
    try:
        for _ in range(n):
            started.append(make().start())
            with connect(started[-1].addr, ECHO_PORT) as s:
                s.sendall(b"x")
                recv_exact(s, 1)
        outer = statistics.median(pss_kib(c.proc.pid) for c in started)
        inner = statistics.median(pss_kib(c.inner[0][0]) for c in started) if started[0].inner else 0
        return outer, inner
    finally:
        for c in started:
            c.stop()


def private_netns():
    """True when this network namespace has no device but lo and capsules' cap-*: a
    namespace made for the bench (unshare -n), where changing lo's MTU touches nothing else.
    (/proc/1/ns/net, to compare with, is not readable in every container.)"""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = [ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ":" in ln]
    return bool(names) and all(n == "lo" or n.startswith("cap-") for n in names)


def set_lo_mtu(mtu):
    subprocess.run(["ip", "link", "set", "dev", "lo", "mtu", str(mtu)], check=True)


def bulk_rows(native, mib, repeat):
    """One-way bulk throughput to and from images/bulk, capsule against the same source built
    natively on loopback; at the default capsule MTU against lo's own (65536), then with
    --mtu 1500 against lo set to MTU 1500 (in this private namespace, restored after).
    Capsule and native runs alternate, so a busy machine hits both alike."""
    print("\none-way bulk TCP, %d MiB per transfer on one connection, images/bulk/bulk.c "
          "(sink port 9, source port 19); medians of %d alternating runs" % (mib, repeat))
    lo_mtu = None
    for label, caprun_args, lo in (("default MTU", [], None), ("--mtu 1500", ["--mtu", "1500"], 1500)):
        if lo and not private_netns():
            print("  (%s rows left out: lo's MTU is changed only in a private network namespace; "
                  "run under unshare -n as bench.sh does)" % label)
            continue
        cap = Capsule("bulk", caprun_args=caprun_args).start()
        try:
            if lo:
                lo_mtu = int(subprocess.run(["ip", "-o", "link", "show", "dev", "lo"], check=True,
                                            capture_output=True, text=True).stdout.split(" mtu ")[1].split()[0])
                set_lo_mtu(lo)
            nat = Capsule("bulk", native=native).start()
            try:
                for what, fn in (("to capsule", bulklib.to_mib_s), ("from capsule", bulklib.from_mib_s)):
                    runs = [(fn(cap.addr, mib), fn(nat.addr, mib)) for _ in range(repeat)]
                    row("%s, %s" % (what, label), statistics.median(r[0] for r in runs),
                        statistics.median(r[1] for r in runs), "MiB/s", False)
            finally:
                nat.stop()
        finally:
            cap.stop()
            if lo_mtu:
                set_lo_mtu(lo_mtu)
                lo_mtu = None
    print("  native: Linux loopback, lo at MTU 65536, then at 1500 for the --mtu 1500 rows")


def row(what, cap, nat, unit, better_low):
    ratio = cap / nat if nat else float("nan")
    hint = "(lower is better)" if better_low else "(higher is better)"
    print("%-30s %12.3f %12.3f %8.2fx  %s %s" % (what, cap, nat, ratio, unit, hint))


def mtu_1500_throughput(a):
    """Echo throughput with the capsule at --mtu 1500 and, alternating, the native echo with
    this namespace's loopback at MTU 1500 too (bench.sh's own namespace; set back after):
    (capsule, native) medians in MiB/s."""
    cap = Capsule("echo", caprun_args=["--mtu", "1500"]).start()
    nat = Capsule("echo", native=a.native).start()
    shown = subprocess.run(["ip", "-o", "link", "show", "dev", "lo"], capture_output=True,
                           text=True, check=True).stdout.split()
    lo_mtu = shown[shown.index("mtu") + 1]
    subprocess.run(["ip", "link", "set", "lo", "mtu", "1500"], check=True)
    try:
        total = a.mib << 20
        tps = [(throughput_mib_s(cap.addr, total), throughput_mib_s(nat.addr, total))
               for _ in range(a.repeat)]
        return statistics.median(t[0] for t in tps), statistics.median(t[1] for t in tps)
    finally:
        subprocess.run(["ip", "link", "set", "lo", "mtu", lo_mtu], check=True)
        cap.stop()
        nat.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--native", required=True, help="the natively built echo")
    ap.add_argument("--native-bulk", help="the natively built bulk (default: bulk beside --native)")
    ap.add_argument("--bulk-mib", type=int, default=200)
    ap.add_argument("--starts", type=int, default=40)
    ap.add_argument("--mib", type=int, default=100)
    ap.add_argument("--rtts", type=int, default=2000)
    ap.add_argument("--count-rtts", type=int, default=5000)
    ap.add_argument("--idle", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    image = os.path.join(IMAGES, "echo.cap")
    make_cap = lambda: Capsule("echo")
    make_nat = lambda: Capsule("echo", native=a.native)

    print("capsule vs. native (gcc, Linux loopback), same source images/echo/echo.c; medians")
    print("%-30s %12s %12s %9s" % ("", "capsule", "native", "ratio"))

    # Alternating, as startbench.py does: a burst of load on the shared machine hits both.
    # Which goes first turns too: a capsule's teardown (its TUN device, its filter's hook)
    # still costs the machine for a moment after caprun exits, and a native start always
    # right after one paid 0.3 ms of it (docs/STARTUP.md section 15).
    cap_runs, nat_runs = [], []
    start_once(make_cap), start_once(make_nat)   # unmeasured: page cache, binaries, as startbench.py
    for i in range(a.starts):
        if i % 2:
            nat_runs.append(start_once(make_nat))
        cap_runs.append(start_once(make_cap))
        if not i % 2:
            nat_runs.append(start_once(make_nat))
    med = lambda runs, i: statistics.median(r[i] for r in runs)
    row("start to first reply (n=%d)" % a.starts, med(cap_runs, 0), med(nat_runs, 0), "ms", True)
    print("  CPU used until then: caprun + capsule %.1f ms (capsule process %.1f), native %.1f ms"
          % (med(cap_runs, 1), med(cap_runs, 2), med(nat_runs, 1)))
    # A piece of the start: what caprun costs before it does anything (exec and the dynamic
    # linker), beside a program that does nothing, alternating (docs/STARTUP.md).
    pairs = [(exec_ms([CAPRUN, "--version"]), exec_ms(["/bin/true"])) for _ in range(a.starts)]
    print("  of which exec + dynamic linking: caprun --version %.1f ms, /bin/true %.1f ms" %
          (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)))

    cap, nat = make_cap().start(), make_nat().start()
    try:
        total = a.mib << 20
        tps = [(throughput_mib_s(cap.addr, total), throughput_mib_s(nat.addr, total))
               for _ in range(a.repeat)]   # alternating: a busy machine hits both alike
        tp_c = statistics.median(t[0] for t in tps)
        tp_n = statistics.median(t[1] for t in tps)
        row("echo throughput (%d MiB)" % a.mib, tp_c, tp_n, "MiB/s", False)
        rt_c, rt_n = round_trip_pair_us(cap.addr, nat.addr, a.rtts)
        row("64-byte round trip (n=%d)" % a.rtts, rt_c, rt_n, "us", True)
        print("\nper 64-byte round trip (perf stat on each process over %d round trips)" % a.count_rtts)
        c_run = perf_counts(cap.proc.pid, cap.addr, a.count_rtts)
        c_cap = perf_counts(cap.inner[0][0], cap.addr, a.count_rtts) if cap.inner else None
        c_nat = perf_counts(nat.proc.pid, nat.addr, a.count_rtts)
        count_row("caprun", c_run)
        count_row("capsule", c_cap)
        if c_run and c_cap:
            count_row("caprun + capsule", tuple(x + y for x, y in zip(c_run, c_cap)))
        count_row("native echo", c_nat)
    finally:
        cap.stop()
        nat.stop()
    small = mtu_1500_throughput(a)
    row("echo throughput at MTU 1500", small[0], small[1], "MiB/s", False)

    bulk_rows(a.native_bulk or os.path.join(os.path.dirname(a.native), "bulk"), a.bulk_mib, a.repeat)

    run_kib, cap_kib = idle_memory(make_cap, a.idle)
    nat_kib = idle_memory(make_nat, 1)[0]
    print("\nhost memory per idle echo server (%d capsules; PSS, median)" % a.idle)
    print("  %-28s %8d KiB" % ("caprun", run_kib))
    print("  %-28s %8d KiB" % ("capsule process", cap_kib))
    print("  %-28s %8d KiB" % ("native echo", nat_kib))

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
