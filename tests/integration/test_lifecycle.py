"""test_lifecycle.py: exit codes pass through caprun, unsupported calls say so once, signals clean up, a last reply before the exit is delivered."""
import os
import signal

from caplib import (IMAGES, Capsule, Tap, check, check_eq, connect, my_children, need_capsule_host,
                    net_state, recv_all, recv_line, run_caprun)

IMAGE = os.path.join(IMAGES, "lifecycle.cap")


def exit_code_passes_through():
    before = net_state()
    for want in (0, 3, 42):
        code, out = run_caprun([IMAGE, "--", "exit", str(want)])
        check_eq(code, want, "caprun's exit status (output %r)" % out[-300:])
        check("lifecycle: exiting with %d" % want in out, "app's line missing: %r" % out[-300:])
    check_eq(my_children(), [], "processes left behind")
    check_eq(net_state(), before, "network state after the capsules exited")


def unsupported_call_said_once():
    code, out = run_caprun([IMAGE, "--", "unsupported"])
    check_eq(code, 0, "exit status (output %r)" % out[-400:])
    check_eq(out.count("ptrace returned -1, errno Function not implemented"), 2,
             "ptrace results in %r" % out[-400:])
    check_eq(out.count("capsule: unsupported system call ptrace (nr 101)"), 1,
             "one-time console note in %r" % out[-400:])


def signal_stops_and_cleans(sig, want_code):
    before = net_state()
    cap = Capsule("lifecycle", args=["--", "serve"])
    try:
        cap.start(app_ready=r"lifecycle: serving on 9200")
        s = connect(cap.addr, 9200)
        check_eq(recv_line(s), b"alive\n", "reply before the signal")
        s.close()
        check(any("cap-" in line for line in net_state()), "no cap- device while running")
        inner = cap.capsule_pids()
        check(inner, "no capsule process seen under caprun")
        cap.proc.send_signal(sig)
        code = cap.wait_exit(10)
        check_eq(code, want_code, "caprun's exit status after %s" % signal.Signals(sig).name)
        check_eq([p for p in inner if os.path.exists("/proc/%d" % p) and
                  open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[0] != "Z"],
                 [], "capsule processes still alive")
        check_eq(net_state(), before, "network state after %s" % signal.Signals(sig).name)
    finally:
        cap.stop()


def last_words_delivered():
    """A capsule that answers and exits at once, its packets relayed by caprun
    (CAPRUN_RELAY_PACKETS=1): what it sent before its end still reaches the client, every time
    (caprun relays what waits in the ended process's channel before it stops)."""
    env = dict(os.environ, CAPRUN_RELAY_PACKETS="1")
    for i in range(10):
        cap = Capsule("lifecycle", args=["--", "lastword"], env=env)
        try:
            cap.start(app_ready=r"lifecycle: last words on 9200")
            s = connect(cap.addr, 9200)
            s.settimeout(10)
            check_eq(recv_all(s), b"last words\n", "the reply of a capsule that then exits (run %d)" % i)
            s.close()
            check_eq(cap.wait_exit(10), 7, "caprun's exit status: the capsule's")
        finally:
            cap.stop()


def ignored_signals_reset():
    """Signals ignored by whoever started caprun (a shell's trap '', nohup) stay ignored
    through its exec, and through the loader's: the loader sets them back to the default,
    reading which ones from /proc (so the capsule ignores SIGPIPE alone)."""
    def sig_ign(pid):
        with open("/proc/%d/status" % pid) as f:
            return int(next(l for l in f if l.startswith("SigIgn:")).split()[1], 16)
    ignored = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGRTMIN + 3)
    cap = Capsule("echo")
    cap.argv = ["sh", "-c", "trap '' %s; exec \"$@\"" % " ".join(str(int(s)) for s in ignored),
                "sh"] + cap.argv
    try:
        cap.start()
        want = sum(1 << (int(s) - 1) for s in ignored)
        check_eq(sig_ign(cap.proc.pid) & want, want, "signals ignored by caprun (the test's setup)")
        inner = cap.capsule_pids()
        check(inner, "no capsule process seen under caprun")
        check_eq(sig_ign(inner[0]), 1 << (signal.SIGPIPE - 1), "signals the capsule ignores")
    finally:
        cap.stop()


def main():
    tap = Tap()
    cases = [
        ("lifecycle: the capsule's exit status becomes caprun's", exit_code_passes_through),
        ("lifecycle: unsupported call gets ENOSYS and one console note", unsupported_call_said_once),
        ("lifecycle: SIGTERM stops the capsule, exit 143, nothing left",
         lambda: signal_stops_and_cleans(signal.SIGTERM, 143)),
        ("lifecycle: SIGINT stops the capsule, exit 130, nothing left",
         lambda: signal_stops_and_cleans(signal.SIGINT, 130)),
        ("lifecycle: a capsule's last reply before it exits reaches its client (10 runs, relayed)",
         last_words_delivered),
        ("lifecycle: signals ignored by caprun's parent are the default again in the capsule",
         ignored_signals_reset),
    ]
    for name, fn in cases:
        if not need_capsule_host(tap, name):
            tap.run(name, fn)
    tap.done()


main()
