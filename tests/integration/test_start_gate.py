"""test_start_gate.py: a fresh start's loader is spawned before caprun makes the network and waits at its gate, unsandboxed and without a device, until the device's source filter is in place; a name taken meanwhile starts it again as NAME-2."""
import os
import threading
import time

from caplib import (Capsule, Tap, check, check_eq, connect, descendants, need_capsule_host,
                    recv_exact, run_tool, tempdir)

GATE_WAIT = 10     # seconds for the loader to reach its gate
NR_PPOLL = 271     # x86-64: the loader waits for "go" in ppoll


def launch(cap):
    """cap.start() in a thread (it returns once the capsule runs); the thread and its error."""
    result = {}

    def run():
        try:
            cap.start()
        except Exception as e:   # reported by the caller, which waits for it
            result["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def finish(t, result):
    t.join(30)
    check(not t.is_alive(), "the capsule did not report running after its gate opened")
    if "error" in result:
        raise result["error"]


def gated_loader(cap):
    """caprun's child once it waits at its gate (blocked in ppoll, no seccomp yet): its pid."""
    deadline = time.monotonic() + GATE_WAIT
    while time.monotonic() < deadline:
        if cap.proc is not None:
            for pid in descendants(cap.proc.pid):
                try:
                    with open("/proc/%d/syscall" % pid) as f:
                        nr = f.read().split()[0]
                    with open("/proc/%d/comm" % pid) as f:
                        comm = f.read().strip()
                except (OSError, IndexError):
                    continue
                if comm == "caploader" and nr == str(NR_PPOLL):
                    return pid
        time.sleep(0.01)   # polling for a state, not waiting for time to pass
    raise AssertionError("no loader waiting at its gate under caprun within %ds; output: %s"
                         % (GATE_WAIT, cap.output_text()[-400:]))


def seccomp_mode(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("Seccomp:")).split()[1])


def fd_targets(pid):
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            pass
    return out


def echoes(cap):
    with connect(cap.addr, 7) as s:
        s.sendall(b"gate")
        check_eq(recv_exact(s, 4), b"gate", "the capsule's echo")


def waits_until_filtered():
    """Held between the loader's spawn and the network (CAPSULE_TEST_GATE_WAITS_FOR): the
    loader is there, not sandboxed yet (no capsule code ran: the jump comes after seccomp),
    holds no TUN device, and neither the device nor its filter exists.  Released: the
    capsule runs, sandboxed, on its own device, filter in place."""
    d = tempdir(prefix="capsule-gate.")
    go = os.path.join(d, "go")
    cap = Capsule("echo", env=dict(os.environ, CAPSULE_TEST_GATE_WAITS_FOR=go))
    t, result = launch(cap)
    try:
        loader = gated_loader(cap)
        check_eq(seccomp_mode(loader), 0, "the waiting loader's seccomp mode")
        check("/dev/net/tun" not in fd_targets(loader).values(),
              "the waiting loader holds a TUN device: %r" % fd_targets(loader))
        check_eq(run_tool(["ip", "link", "show", "cap-echo"])[0] != 0, True,
                 "no device cap-echo while the loader waits")
        check_eq(run_tool(["nft", "list", "table", "netdev", "cap-echo"])[0] != 0, True,
                 "no filter table while the loader waits")
        check("listening" not in cap.output_text(), "the capsule's app ran before its gate opened")
        open(go, "w").close()
        finish(t, result)
        check_eq(cap.name, "echo", "the capsule's name")
        echoes(cap)
        check_eq(seccomp_mode(loader), 2, "the capsule's seccomp mode once it runs")
        check_eq(fd_targets(loader).get(8), "/dev/net/tun", "the capsule's fd 8")
        check_eq(run_tool(["nft", "list", "table", "netdev", "cap-echo"])[0], 0,
                 "the device's filter table once the capsule runs")
    finally:
        open(go, "w").close()
        cap.stop()


def relayed_gets_no_device():
    """CAPRUN_RELAY_PACKETS=1: the gate opens with no device; caprun moves every packet."""
    cap = Capsule("echo", env=dict(os.environ, CAPRUN_RELAY_PACKETS="1"))
    try:
        cap.start()
        echoes(cap)
        inner = cap.capsule_pids()
        check(inner, "no capsule process seen under caprun")
        check("/dev/net/tun" not in fd_targets(inner[0]).values(),
              "a relayed capsule holds a TUN device: %r" % fd_targets(inner[0]))
    finally:
        cap.stop()


def name_taken_meanwhile(fixed):
    """A device named cap-echo appears while the loader waits: caprun kills that loader and
    starts again the usual way, as echo-2; with --name echo it says so and exits 125.  No
    loader is left behind either way."""
    d = tempdir(prefix="capsule-gate.")
    go = os.path.join(d, "go")
    env = dict(os.environ, CAPSULE_TEST_GATE_WAITS_FOR=go)
    cap = Capsule("echo", name="echo" if fixed else None, env=env)
    t, result = launch(cap)
    added = False
    try:
        first = gated_loader(cap)
        code, _, err = run_tool(["ip", "tuntap", "add", "dev", "cap-echo", "mode", "tun"])
        check_eq(code, 0, "adding a device cap-echo (%s)" % err.strip())
        added = True
        open(go, "w").close()
        if fixed:
            check_eq(cap.wait_exit(30), 125, "caprun's exit status; output: %s" % cap.output_text())
            check("caprun: no free device name for capsule echo" in cap.output_text(),
                  "the error line in %r" % cap.output_text()[-400:])
            check(not os.path.exists("/proc/%d" % first), "the gated loader is left behind")
            return
        finish(t, result)
        check_eq(cap.name, "echo-2", "the name it got")
        echoes(cap)
        check(not os.path.exists("/proc/%d" % first), "the first loader is left behind (or a zombie)")
        check_eq(len(descendants(cap.proc.pid)), 1, "processes under caprun")
        check_eq(run_tool(["ip", "link", "show", "cap-echo-2"])[0], 0, "the device cap-echo-2")
    finally:
        open(go, "w").close()
        cap.stop()
        if added:
            run_tool(["ip", "link", "del", "cap-echo"])


def main():
    tap = Tap()
    cases = [
        ("start gate: the loader waits unsandboxed, with no device and no filter made yet, "
         "then runs on its filtered device", waits_until_filtered),
        ("start gate: relayed (CAPRUN_RELAY_PACKETS=1), the capsule gets no device", relayed_gets_no_device),
        ("start gate: its device's name taken meanwhile, the capsule starts as echo-2",
         lambda: name_taken_meanwhile(False)),
        ("start gate: its device's name taken meanwhile with --name, exit 125, nothing left",
         lambda: name_taken_meanwhile(True)),
    ]
    for name, fn in cases:
        if not need_capsule_host(tap, name):
            tap.run(name, fn)
    tap.done()


main()
