"""test_bad_files.py: a FIFO, a directory, a device or a socket where an image, snapshot or key file belongs is refused at once: exit 2 (caprun: 126, 125 for --keys), one line, nothing left."""
import os
import signal
import socket
import subprocess

from caplib import (BIN, CAPCTL, CAPRUN, Host, Tap, TestFailure, check_eq, connect, my_children,
                    need_capsule_host, net_state, next_count, no_guard, snapshot, tempdir)

CAPHOSTD = os.path.join(BIN, "caphostd")
CAPDIRD = os.path.join(BIN, "capdird")
CAPDIR = os.path.join(BIN, "capdir")
TIMEOUT = 5   # seconds; a refusal takes milliseconds, a FIFO used to block for ever


def specials(d):
    """(path, what the error calls it) for each kind of non-regular file."""
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    directory = os.path.join(d, "dir")
    os.mkdir(directory)
    sock_path = os.path.join(d, "sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock_path)   # the socket file stays after close; nobody listens on it
    s.close()
    return [(fifo, "a FIFO"), (directory, "a directory"), ("/dev/null", "a character device"),
            (sock_path, "a socket")]


def run(argv, env):
    """(exit code, stdout, stderr); a process still running after TIMEOUT fails the test."""
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise TestFailure("%s: still running after %d s" % (" ".join(argv), TIMEOUT))
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def refused_everywhere(make_argv, line, host=None, code=2):
    """make_argv(path, scratch) run on each special file: exit code (2; caprun's 126 for an
    image or snapshot, 125 for its --keys), no output but the line
    `line % path` + the file's kind, nothing left in scratch, the run directory or the network."""
    host = host or Host()
    before_net, before_run = no_guard(net_state()), sorted(os.listdir(host.run_dir))
    scratch = tempdir(prefix="bad-files-out.")
    for path, kind in specials(tempdir(prefix="bad-files.")):
        argv = make_argv(path, scratch)
        got = run(argv, host.env)
        want = "%s: not a regular file (%s)\n" % (line % path, kind)
        check_eq(got, (code, "", want), "%s: (exit code, stdout, stderr)" % " ".join(argv))
        check_eq(my_children(), [], "%s: processes left" % " ".join(argv))
        check_eq(os.listdir(scratch), [], "%s: files left" % " ".join(argv))
    check_eq(no_guard(net_state()), before_net, "links, addresses, routes left")
    check_eq(sorted(os.listdir(host.run_dir)), before_run, "files left in the run directory")


def good_snapshot(host, d):
    """A real snapshot of the counter capsule, for `caprun --image BAD GOOD.snap`."""
    cap = host.capsule("counter", name="badfiles").start()
    with connect(cap.addr, 9000) as s:
        check_eq(next_count(s), 1, "counter's first reply")
    path = os.path.join(d, "good.snap")
    snapshot(host, cap, path)
    return path


def image_of_snapshot():
    host, d = Host(), tempdir()
    snap = good_snapshot(host, d)
    refused_everywhere(lambda p, _: [CAPRUN, "--image", p, snap], "caprun: %s", host, 126)
    again = host.resume(snap)   # the refusals changed nothing
    with connect(again.addr, 9000) as s:
        check_eq(next_count(s), 2, "the snapshot after the refusals")


def main():
    tap = Tap()
    if need_capsule_host(tap, "bad files"):
        tap.done()
    keys = ["--host-id", "1", "--keys"]
    j = os.path.join
    cases = [
        ("caprun IMAGE", lambda p, _: [CAPRUN, p], "caprun: %s", 126),
        ("caprun --resume SNAPSHOT", lambda p, _: [CAPRUN, "--resume", p], "caprun: %s", 126),
        ("caprun --incoming --keys", lambda p, _: [CAPRUN, "--incoming"] + keys + [p],
         "caprun: --keys %s", 125),
        ("capctl info", lambda p, _: [CAPCTL, "info", p], "capctl: info: %s"),
        ("capctl info --json", lambda p, _: [CAPCTL, "info", "--json", p], "capctl: info: %s"),
        ("capctl inspect", lambda p, _: [CAPCTL, "inspect", p], "capctl: inspect: %s"),
        ("capctl pack", lambda p, d: [CAPCTL, "pack", "--name", "x", p, j(d, "out.cap")],
         "capctl: pack: %s"),
        ("capctl ps --all --keys",
         lambda p, _: [CAPCTL, "ps", "--all", "--dir", "127.0.0.1"] + keys + [p],
         "capctl: ps --all: --keys %s"),
        ("capdird --keys",
         lambda p, d: [CAPDIRD, "--listen", "127.0.0.1", "--db", j(d, "dir.db"), "--keys", p],
         "capdird: --keys %s"),
        ("capdir --keys", lambda p, _: [CAPDIR, "--dir", "127.0.0.1"] + keys + [p, "list"],
         "capdir: --keys %s"),
        ("caphostd --keys",
         lambda p, d: [CAPHOSTD, "--listen", "127.0.0.1", "--dir", "127.0.0.1", "--run-dir",
                       j(d, "run")] + keys + [p], "caphostd: --keys %s"),
    ]
    for name, make_argv, line, *code in cases:
        code = code[0] if code else 2
        tap.run("bad files: %s: FIFO, directory, /dev/null, socket refused at once, exit %d"
                % (name, code), refused_everywhere, make_argv, line, None, code)
    tap.run("bad files: caprun --image BAD SNAPSHOT: FIFO, directory, /dev/null, socket refused "
            "at once, exit 126", image_of_snapshot)
    tap.done()


main()
