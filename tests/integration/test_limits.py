"""test_limits.py: caprun --max-fds: getrlimit/setrlimit report and enforce it, and TCP connections beyond it are refused at once (RST) while the ones inside it work."""
import socket
import time

from caplib import CAPRUN, IMAGES, Capsule, Tap, check, check_eq, recv_exact, run_caprun

MAX_FDS = 64
EXTRA = 30


def limit_lines(cap):
    """The limits image's report on its descriptor limit, before it serves."""
    cap.wait_for(r"^listening on 7000$", 10)
    with cap.cond:
        return [t for s, t in cap.lines
                if s == "out" and not t.startswith(("listening", "capsule "))]


def expected_limit_lines(limit):
    free = limit - 3   # 0, 1, 2: the console
    return ["nofile %d %d" % (limit, limit),
            "setrlimit above the limit: EPERM",
            "setrlimit unlimited: EPERM",
            "free descriptors: %d (then EMFILE)" % free,
            "setrlimit soft 16: ok",
            "free descriptors below 16: 13",
            "pipe with no descriptor free: EMFILE, with one: EMFILE, then free: 1",
            "dup2 to fd 16: EBADF",
            "setrlimit back: ok",
            "free descriptors again: %d" % free]


def default_limit():
    cap = Capsule("limits").start(app_ready=r"^listening on 7000$")
    check_eq(limit_lines(cap), expected_limit_lines(1024), "limits without --max-fds")


def bad_option():
    code, out = run_caprun(["--max-fds", "8", IMAGES + "/limits.cap"])
    check_eq(code, 125, "exit code of caprun --max-fds 8 (output %r)" % out)
    check("--max-fds 8: must be 16..65536" in out, "caprun said %r" % out)


def connections_beyond_capacity():
    cap = Capsule("limits", caprun_args=["--max-fds", str(MAX_FDS)]).start(
        app_ready=r"^listening on 7000$")
    check_eq(limit_lines(cap), expected_limit_lines(MAX_FDS), "limits with --max-fds %d" % MAX_FDS)
    socks, refused, slow = [], 0, []
    for i in range(MAX_FDS + EXTRA):
        t0 = time.monotonic()
        try:
            socks.append(socket.create_connection((cap.addr, 7000), timeout=5))
        except ConnectionRefusedError:
            refused += 1
        except OSError as e:
            check(False, "connection %d: %r after %.1fs (neither accepted nor refused)" % (
                i, e, time.monotonic() - t0))
        took = time.monotonic() - t0
        if took > 1.0:
            slow.append((i, round(took, 2)))
    check(not slow, "connections that took over a second: %s" % slow)
    # The server holds MAX_FDS - 4 descriptors of connections (0-2 console, 3 the listener);
    # its next accept fails with EMFILE; a few more complete in lwIP's backlog until the
    # capsule's TCP capacity (MAX_FDS connections) is reached; the rest are refused.
    served = MAX_FDS - 4
    check(cap.wait_for(r"^accept: EMFILE after %d connections$" % served, 10),
          "no EMFILE after %d connections: %s" % (served, cap.output_text()[-300:]))
    check(served <= len(socks) <= MAX_FDS, "%d connections accepted (refused %d)" % (len(socks), refused))
    check(refused >= EXTRA, "only %d of %d connections refused" % (refused, MAX_FDS + EXTRA))
    for i, s in enumerate(socks[:served]):
        s.sendall(b"ping %d\n" % i)
        check_eq(recv_exact(s, len(b"ping %d\n" % i)), b"ping %d\n" % i, "echo on connection %d" % i)
    for s in socks:
        s.close()


def main():
    tap = Tap()
    tap.run("limits: without --max-fds, 1024 descriptors; setrlimit above fails with EPERM",
            default_limit)
    tap.run("limits: caprun --max-fds 8 is refused (16..65536)", bad_option)
    tap.run("limits: --max-fds 64: setrlimit honoured below, EPERM above; connections beyond "
            "capacity refused at once, the first ones served", connections_beyond_capacity)
    tap.done()


main()
