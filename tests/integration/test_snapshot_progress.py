"""test_snapshot_progress.py: capctl snapshot shows its progress on stderr when that is a terminal and the snapshot takes more than a second, and says nothing there when it is not a terminal; stdout's one line is the same either way.

Two capsules are snapshotted at once, each capctl's stderr a pseudo-terminal for one and a
pipe for the other; caprun's snapshot writers are held by a test hook until the terminal has
shown progress (so both took more than a second), then let go.
"""
import os
import re
import select
import subprocess

from caplib import CAPCTL, SNAPSHOT_RE, Host, Tap, check, check_eq, tempdir


def progress_only_on_a_terminal():
    d = tempdir(prefix="progress.")
    go = os.path.join(d, "go")
    host = Host()
    host.env["CAPSULE_TEST_SNAPSHOT_WRITER_WAITS_FOR"] = go   # caprun's writer waits for it
    caps = [host.capsule("echo", name=n).start() for n in ("tty", "pipe")]
    master, slave = os.openpty()
    argv = lambda n: [CAPCTL, "snapshot", n, "-o", os.path.join(d, n + ".snap"), "--keep-running"]
    tty = subprocess.Popen(argv("tty"), env=host.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=slave)
    pipe = subprocess.Popen(argv("pipe"), env=host.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(slave)
    shown = b""
    try:
        # Readiness: the terminal shows a progress line (after a second: both are held).
        while not re.search(rb"snapshot tty: \d+\.\d s, \d+\.\d MiB written", shown):
            r, _, _ = select.select([master], [], [], 20)
            check(r, "no progress on the terminal within 20 s: %r" % shown)
            shown += os.read(master, 4096)
    finally:
        open(go, "w").close()
    tout, _ = tty.communicate(timeout=30)
    pout, perr = pipe.communicate(timeout=30)
    while True:   # what the terminal got until capctl closed it
        r, _, _ = select.select([master], [], [], 1)
        try:
            chunk = os.read(master, 4096) if r else b""
        except OSError:   # EIO: the other end is closed
            chunk = b""
        if not chunk:
            break
        shown += chunk
    os.close(master)
    check_eq((tty.returncode, pipe.returncode), (0, 0), "capctl snapshot exit statuses")
    for name, out in (("tty", tout), ("pipe", pout)):
        path = os.path.join(d, name + ".snap")
        check(re.fullmatch((SNAPSHOT_RE % (name, re.escape(path))) + "\n", out.decode()),
              "capctl snapshot %s stdout: %r" % (name, out))
    check(shown.endswith(b"\r\033[K"), "the progress line is cleared at the end: %r" % shown[-40:])
    check_eq(perr, b"", "stderr without a terminal")
    for c in caps:
        c.stop()


def main():
    tap = Tap()
    tap.run("snapshot progress: on stderr when it is a terminal and the snapshot takes over a "
            "second, cleared at the end; nothing without a terminal", progress_only_on_a_terminal)
    tap.done()


main()
