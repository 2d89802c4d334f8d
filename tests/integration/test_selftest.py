"""test_selftest.py: runtime features (threads, pipes, /tmp, stdio, time, malloc) work, and every writable page stays in the capsule's memfd ranges."""
from caplib import (Capsule, Tap, abi_constants, check, check_eq, connect,
                    read_header, recv_all, need_capsule_host)


# The workload sleeps and waits on pipes, so the capsule goes idle (and caprun
# says "running") before it listens: wait for its own line too.
LISTENING = r"selftest: listening on TCP port 9100"


def report(cap):
    for _ in range(2):   # the report is served to every client, again and again
        with connect(cap.addr, 9100) as s:
            line = recv_all(s).decode()
        check_eq(line, "selftest ok 6/6\n", "selftest report (capsule output: %r)" %
                 cap.output_text()[-400:])


def capsule_process(cap, vbase):
    """The capsule's own process under caprun: the one with the control page mapped."""
    for pid in cap.capsule_pids():
        try:
            with open("/proc/%d/maps" % pid) as f:
                if any(line.startswith("%x-" % vbase) for line in f):
                    return pid
        except OSError:
            continue
    return None


def writable_mappings_inside(cap):
    abi = abi_constants()
    vbase, arena = abi["CAP_VBASE"], abi["CAP_ARENA_BASE"]
    with open(cap.image, "rb") as f:
        mem_size = read_header(f.read(176))["mem_size"]
    end = arena + mem_size
    # The workload has run (the report says so); look while the capsule is alive.
    report(cap)
    pid = capsule_process(cap, vbase)
    check(pid, "no process under caprun %d maps the control page at %#x (children: %s)" % (
        cap.pid, vbase, cap.capsule_pids()))
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    outside = []
    for line in maps:
        fields = line.split()
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        if "w" in fields[1] and not (vbase <= lo and hi <= end):
            outside.append(line)
    check(not outside, "writable mappings outside %#x..%#x: %s" % (vbase, end, "; ".join(outside)))


def main():
    tap = Tap()
    tap.run("selftest: threads, mutex/cond, pipes, /tmp, stdio, time, malloc",
            lambda: report(Capsule("selftest").start(app_ready=LISTENING)))
    if not need_capsule_host(tap, "selftest: no writable mapping outside the capsule's ranges"):
        tap.run("selftest: no writable mapping outside the capsule's ranges",
                lambda: writable_mappings_inside(Capsule("selftest").start(app_ready=LISTENING)))
    tap.done()


main()
