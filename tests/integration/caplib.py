"""caplib.py: shared helpers for integration tests: start capsules, wait until they serve, talk to them, clean up.

Every test script runs inside its own network namespace (tests/run does the
`unshare -n`), so capsules and their TUN devices vanish with the test.  Still,
everything started here is stopped here, by PID, even when a test fails.

Readiness is caprun's stdout line `capsule NAME running at ADDR`: it is printed
when the capsule's runtime reports that every thread is blocked, i.e. the app
is serving.  Tests never sleep to wait for a server.

CAPTEST_NATIVE=DIR (for developing tests without a capsule host): run the
natively built apps DIR/NAME instead of caprun + NAME.cap; readiness is then
the app's own startup line and the address is 127.0.0.1.  Capsule-only checks
are skipped in that mode.
"""

import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, "build")
BIN = os.path.abspath(os.environ.get("CAPTEST_BIN") or os.path.join(BUILD, "bin"))  # build/san/bin: ASan pass
CAPRUN = os.path.join(BIN, "caprun")
# CAPTEST_IMAGES: a copy of build/images, for a run that must outlast rebuilds (downbench.py).
IMAGES = os.path.abspath(os.environ.get("CAPTEST_IMAGES") or os.path.join(BUILD, "images"))
NATIVE = os.environ.get("CAPTEST_NATIVE")

# Capsule addresses: only ever from 198.18.0.0/15 (RFC 2544 benchmarking).
GATEWAY = "198.18.0.1"
FIRST_IP = "198.18.0.2"

READY_RE = re.compile(r"capsule (\S+) running at (\d+\.\d+\.\d+\.\d+)")
NATIVE_READY_RE = re.compile(r"listening on")
START_TIMEOUT = 15.0
STOP_GRACE = 3.0

# Snapshots are MACed with the host key (hosts/formats/snapauth.h) unless a caphostd gave the run
# directory a cluster key.  A test keeps its host key in a directory of its own, shared by
# all the simulated hosts of that test (they are one machine), never in /var/lib/capsule.
if not os.environ.get("CAPSULE_HOST_KEY"):
    import shutil
    import tempfile
    _key_dir = tempfile.mkdtemp(prefix="capsule-hostkey.")
    os.environ["CAPSULE_HOST_KEY"] = os.path.join(_key_dir, "host.key")
    atexit.register(shutil.rmtree, _key_dir, True)


class TestFailure(Exception):
    """An assertion in a test failed; the message is the reason shown."""


def check(cond, reason):
    if not cond:
        raise TestFailure(reason)


def check_eq(got, want, what):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (what, got, want))


# ---------------------------------------------------------------- processes

_started = []   # every Capsule ever started, for the atexit sweep


def proc_stat_fields(path):
    """A /proc/.../stat file's fields after the command name (field 3, the state, first),
    or None if it is gone."""
    try:
        with open(path) as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _proc_start_time(pid):
    """Field 22 of /proc/PID/stat (start time in ticks), or None if gone."""
    st = proc_stat_fields("/proc/%d/stat" % pid)
    return int(st[19]) if st else None


def descendants(pid):
    """PIDs of every live descendant of pid (children first)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for tid in tasks:
            try:
                with open("/proc/%d/task/%s/children" % (p, tid)) as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def alive(pid):
    st = _proc_start_time(pid)
    if st is None:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Capsule:
    """One caprun process (or, in native mode, one native app) and its output."""

    def __init__(self, app, ip=None, name=None, args=(), image=None, caprun_args=(),
                 native=None, env=None, prefix=(), argv=None):
        self.app = app
        # native: path of a natively built app to run instead (baselines, CAPTEST_NATIVE)
        self.native = native or (os.path.join(NATIVE, app) if NATIVE else None)
        self.image = image or os.path.join(IMAGES, app + ".cap")
        self.want_ip = ip
        self.name = name
        self.lines = []          # (stream, text) in arrival order
        self.cond = threading.Condition()
        self.closed = 0          # streams at EOF
        self.proc = None
        self.addr = None
        self.inner = []          # (pid, start time) of caprun's descendants (the capsule)
        self.env = env           # environment for caprun (None: ours)
        # prefix: a command caprun runs under (e.g. nsenter into another namespace);
        # argv: the whole caprun command line, instead of one built from the rest
        self.argv = list(prefix) + (list(argv) if argv else self._command(args, caprun_args))

    def _command(self, args, caprun_args):
        if self.native:
            return [self.native] + list(args)
        cmd = [CAPRUN] + list(caprun_args)
        if self.want_ip:
            cmd += ["--ip", self.want_ip]
        if self.name:
            cmd += ["--name", self.name]
        return cmd + [self.image] + list(args)

    def start(self, timeout=START_TIMEOUT, app_ready=None):
        """Launch and wait for readiness; returns self.

        caprun's "running" line means the capsule went idle for the first
        time.  An app that blocks while setting up (a sleep, a pipe) goes
        idle before it listens: app_ready is then a regex for the app's own
        startup line to wait for as well.
        """
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=False, env=self.env)
        _started.append(self)
        for stream, f in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            threading.Thread(target=self._reader, args=(stream, f), daemon=True).start()
        m = self.wait_for(NATIVE_READY_RE if self.native else READY_RE, timeout)
        if not m:
            code = self.proc.poll()
            raise TestFailure("%s did not report running within %.0fs (%s); output: %s" % (
                self.app, timeout, "still running" if code is None else "exit %d" % code,
                self.output_text()[-600:] or "(none)"))
        if self.native:
            self.addr = "127.0.0.1"
        else:
            self.name, self.addr = m.group(1), m.group(2)
        if app_ready and not self.wait_for(app_ready, timeout):
            raise TestFailure("%s never printed /%s/; output: %s" % (
                self.app, app_ready, self.output_text()[-600:]))
        self.inner = [(p, _proc_start_time(p)) for p in descendants(self.proc.pid)]
        return self

    def _reader(self, stream, f):
        for raw in iter(f.readline, b""):
            with self.cond:
                self.lines.append((stream, raw.decode("utf-8", "replace").rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.closed += 1
            self.cond.notify_all()

    def wait_for(self, regex, timeout, start=0):
        """First match of regex in an output line (from line index start), or None on timeout/EOF."""
        if isinstance(regex, str):
            regex = re.compile(regex)
        deadline = time.monotonic() + timeout
        seen = start
        with self.cond:
            while True:
                for _, text in self.lines[seen:]:
                    m = regex.search(text)
                    if m:
                        return m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or self.closed == 2:
                    return None
                self.cond.wait(left)

    def output_text(self):
        with self.cond:
            return "\n".join(t for _, t in self.lines)

    @property
    def pid(self):
        return self.proc.pid

    def capsule_pids(self):
        """The live capsule process(es) under caprun."""
        return [p for p, st in self.inner if st is not None and _proc_start_time(p) == st]

    def wait_exit(self, timeout):
        """Wait for caprun to exit by itself; returns its exit code or None."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        with self.cond:   # let the readers collect the last lines
            self.cond.wait_for(lambda: self.closed == 2, 2.0)
        return code

    def stop(self):
        """SIGTERM, then SIGKILL after a grace period; then anything caprun left behind."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in self.capsule_pids():   # only processes we saw under our caprun
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        with self.cond:
            self.cond.wait_for(lambda: self.closed == 2, 2.0)
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def stop_all():
    for c in reversed(_started):
        try:
            c.stop()
        except Exception:
            pass
    # Whatever is left below us: processes a killed daemon left behind (they were reparented
    # to us, see _become_subreaper), all started by this test.
    for pid in descendants(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def _become_subreaper():
    """Orphans of our descendants (the `caprun --incoming` of a caphostd a test killed) are
    reparented to us, not to init: stop_all() finds and stops them, and tests can count them."""
    import ctypes
    PR_SET_CHILD_SUBREAPER = 36
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError:
        pass


_become_subreaper()


atexit.register(stop_all)


def _on_signal(signum, frame):
    stop_all()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


def run_caprun(args, timeout=20):
    """Run caprun to completion (for images that must fail); returns (code, stdout+stderr)."""
    proc = subprocess.Popen([CAPRUN] + list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        proc.kill()
        out, _ = proc.communicate()
        return None, out.decode("utf-8", "replace")
    return proc.returncode, out.decode("utf-8", "replace")


# ------------------------------------------------------------------ clients

def connect(addr, port, timeout=10.0):
    s = socket.create_connection((addr, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise TestFailure("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_line(sock):
    buf = bytearray()
    while not buf.endswith(b"\n"):
        c = sock.recv(1)
        if not c:
            raise TestFailure("connection closed mid-line after %r" % bytes(buf))
        buf += c
    return bytes(buf)


def recv_all(sock):
    buf = bytearray()
    while True:
        c = sock.recv(65536)
        if not c:
            return bytes(buf)
        buf += c


def run_tool(argv, timeout=20, input=None):
    """Run a client tool (curl, nc, ss); returns (code, stdout, stderr) as text."""
    p = subprocess.run(argv, input=input, capture_output=True, timeout=timeout)
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


# ---------------------------------------------------------------- reporting

class Tap:
    """Prints `ok - name` / `not ok - name: reason`; tests/run counts them."""

    def __init__(self):
        self.failed = 0

    def run(self, name, fn, *args):
        try:
            fn(*args)
        except TestFailure as e:
            self.not_ok(name, str(e))
        except Exception as e:   # a crash in the test is a failure too, with its cause
            tb = traceback.extract_tb(e.__traceback__)[-1]
            self.not_ok(name, "%s: %s (%s:%d)" % (type(e).__name__, e,
                                                   os.path.basename(tb.filename), tb.lineno))
        else:
            print("ok - %s" % name, flush=True)
        finally:
            stop_all()
            del _started[:]

    def skip(self, name, why):
        print("ok - %s # SKIP %s" % (name, why), flush=True)

    def not_ok(self, name, reason):
        self.failed += 1
        print("not ok - %s: %s" % (name, " ".join(reason.split())), flush=True)

    def done(self):
        sys.exit(1 if self.failed else 0)


def private_mounts():
    """Run the rest of this test in a mount namespace of its own: re-execute it (same PID)
    under `unshare -m --propagation private`, so what it mounts (an empty /run/capsule, a
    /dev/log) is seen by it and its children only, and is gone when it ends."""
    if os.environ.get("CAPTEST_PRIVATE_MOUNTS") == "1":
        return
    env = dict(os.environ, CAPTEST_PRIVATE_MOUNTS="1")
    if "_key_dir" in globals():   # the new process makes its own (our atexit will not run)
        shutil.rmtree(_key_dir, True)
        env.pop("CAPSULE_HOST_KEY")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe("unshare", ["unshare", "-m", "--propagation", "private", sys.executable, "-u"] +
               sys.argv, env)


def mount_tmpfs(path):
    """An empty tmpfs at path (made if missing), in this test's own mount namespace only."""
    check(os.environ.get("CAPTEST_PRIVATE_MOUNTS") == "1", "mount_tmpfs outside private_mounts()")
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64m", "captest", path],
                   check=True)


def need_capsule_host(tap, name):
    """Capsule-only checks cannot run natively; returns True if this one must be skipped."""
    if NATIVE:
        tap.skip(name, "native mode")
        return True
    return False


# ------------------------------------------------------------ image and snapshot files

from filelib import (  # noqa: F401  (the file formats, for every test)
    abi_constants, HEADER_FMT, HEADER_SIZE, CHECKSUM_OFF, read_header, image_checksum,
    xxh3_128, reseal, SNAP_FMT, SNAP_KEYS, SNAP_MAC_OFF, SNAP_KEY_ID_OFF, SNAP_CHECKSUM_OFF,
    SNAP_PAGE, snap_header, SNAP_CHUNK, SNAP_EXT_OFF, SNAP_PROCS_HASH_OFF, SNAP_SALT_OFF,
    snap_chunk_table_offset, snap_chunk_entry_len, snap_data_offset, snap_chunk_key,
    snap_chunk_entry, host_snapshot_key, snap_reseal, snap_as_version, snap_remac,
    snapshot_key_id, cluster_snapshot_key)


def net_state():
    """Links, addresses and routes of this namespace, to compare before/after."""
    out = []
    for argv in (["ip", "-o", "link", "show"], ["ip", "-o", "addr", "show"],
                 ["ip", "-o", "route", "show", "table", "all"]):
        _, text, _ = run_tool(argv)
        # link lines carry changing counters on some kernels: keep name + flags only
        out.extend(sorted(re.sub(r"\s+", " ", l).strip() for l in text.splitlines()))
    return out


def my_children():
    """Live (non-zombie) child PIDs of this test process."""
    return [p for p in descendants(os.getpid()) if alive(p)]


# ---------------------------------------------------- snapshots and "hosts"
#
# A simulated host is a private CAPSULE_RUN_DIR (where caprun puts its control
# socket NAME.sock) and, optionally, a network namespace of its own.  Both are
# created per test and removed by stop_all(), like capsules.

CAPCTL = os.path.join(BIN, "capctl")
CLONE_NEWNET = 0x40000000
SNAPSHOT_RE = r"snapshot %s -> %s \((\d+) bytes, frozen ([0-9.]+) ms, written ([0-9.]+) ms\)"
SAVED_RE = r"capsule %s saved to %s"
_libc = None


def _setns_net(path):
    """Move the calling thread (only it) into the network namespace at path."""
    global _libc
    if hasattr(os, "setns"):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.setns(fd, CLONE_NEWNET)
        finally:
            os.close(fd)
        return
    import ctypes
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns %s: %s" % (path, os.strerror(err)))
    finally:
        os.close(fd)


class Netns:
    """A network namespace of our own (lo up), held open by one child process.

    Commands enter it with nsenter (which execs, so PIDs stay ours); sockets
    are created in it by a helper thread that setns()es itself.  It vanishes,
    with every device and route in it, when the holder is killed.
    """

    def __init__(self):
        self.proc = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "ip link set lo up && echo ready && exec cat >/dev/null"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        _started.append(self)
        line = self.proc.stdout.readline()
        check(line == b"ready\n", "could not create a network namespace (unshare -n): %r" % line)
        self.path = "/proc/%d/ns/net" % self.proc.pid
        self.prefix = ["nsenter", "--net=" + self.path]

    def run(self, argv, timeout=20):
        return run_tool(self.prefix + list(argv), timeout=timeout)

    def call(self, fn, *args):
        """fn(*args) in a thread that lives in this namespace; returns its result."""
        out = {}

        def body():
            try:
                _setns_net(self.path)
                out["value"] = fn(*args)
            except BaseException as e:   # handed to the caller
                out["error"] = e
        t = threading.Thread(target=body)
        t.start()
        t.join()
        if "error" in out:
            raise out["error"]
        return out["value"]

    def connect(self, addr, port, timeout=10.0):
        return self.call(connect, addr, port, timeout)

    def net_state(self):
        out = []
        for argv in (["ip", "-o", "link", "show"], ["ip", "-o", "addr", "show"],
                     ["ip", "-o", "route", "show", "table", "all"]):
            _, text, _ = self.run(argv)
            out.extend(sorted(re.sub(r"\s+", " ", l).strip() for l in text.splitlines()))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Host:
    """A simulated host: a private run directory, maybe its own namespace (netns=True)."""

    def __init__(self, netns=False):
        import tempfile
        self.netns = Netns() if netns else None
        self.run_dir = tempfile.mkdtemp(prefix="capsule-run.")
        _started.append(self)
        self.env = dict(os.environ, CAPSULE_RUN_DIR=self.run_dir)
        self.prefix = self.netns.prefix if self.netns else []

    def capsule(self, app, **kw):
        return Capsule(app, env=self.env, prefix=self.prefix, **kw)

    def resume(self, snapshot, name=None, image=None, plain=False, timeout=START_TIMEOUT,
               app_ready=None, extra=()):
        """caprun [EXTRA] [--name N] [--image I] --resume FILE (or `caprun FILE` if plain); started."""
        argv = [CAPRUN] + list(extra)
        if plain:
            argv.append(snapshot)
        else:
            if name:
                argv += ["--name", name]
            if image:
                argv += ["--image", image]
            argv += ["--resume", snapshot]
        cap = Capsule(os.path.basename(snapshot), env=self.env, prefix=self.prefix, argv=argv)
        return cap.start(timeout=timeout, app_ready=app_ready)

    def capctl(self, args, timeout=60):
        """(exit code, stdout, stderr) of capctl ARGS against this host's run directory."""
        p = subprocess.run(self.prefix + [CAPCTL] + list(args), capture_output=True,
                           timeout=timeout, env=self.env, stdin=subprocess.DEVNULL)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def connect(self, addr, port, timeout=10.0):
        return self.netns.connect(addr, port, timeout) if self.netns else connect(addr, port, timeout)

    def net_state(self):
        return self.netns.net_state() if self.netns else net_state()

    def stop(self):
        import shutil
        shutil.rmtree(self.run_dir, ignore_errors=True)


def no_guard(state):
    """net_state() without the fail-closed `unreachable 198.18.0.0/15` route, which caprun
    deliberately leaves behind for a capsule saved to disk (its peers then fail closed)."""
    return [l for l in state if not l.startswith("unreachable 198.18.0.0/15")]


def snapshot(host, cap, path, keep_running=False, timeout=60):
    """capctl snapshot NAME -o PATH [--keep-running]; checks its one line; returns
    {"bytes", "frozen_ms", "written_ms", "seconds"} (seconds: capctl's wall time).
    Without keep_running also checks that caprun said "saved" and exited 0."""
    seen = len(cap.lines)
    args = ["snapshot", cap.name, "-o", path] + (["--keep-running"] if keep_running else [])
    t0 = time.monotonic()
    code, out, err = host.capctl(args, timeout=timeout)
    took = time.monotonic() - t0
    check(code == 0, "capctl %s: exit %d, stdout %r, stderr %r" % (" ".join(args), code, out, err))
    m = re.search(SNAPSHOT_RE % (re.escape(cap.name), re.escape(path)), out)
    check(m is not None, "capctl snapshot printed %r (stderr %r)" % (out, err))
    size = int(m.group(1))
    check_eq(os.path.getsize(path), size, "size of %s against what capctl printed" % path)
    if not keep_running:
        code = cap.wait_exit(20)
        check(code == 0, "caprun after the snapshot: %s; output: %s" % (
            "still running" if code is None else "exit %d" % code, cap.output_text()[-400:]))
        check(cap.wait_for(SAVED_RE % (re.escape(cap.name), re.escape(path)), 1, seen),
              "caprun did not print 'capsule %s saved to %s'; output: %s" % (
                  cap.name, path, cap.output_text()[-400:]))
    return {"bytes": size, "frozen_ms": float(m.group(2)), "written_ms": float(m.group(3)),
            "seconds": took}


def wait_blocked_in_poll(pid, timeout=10.0):
    """Wait until process pid sleeps in poll(2) (syscall 7).  A capctl does once it has
    sent its request; caprun does in exactly one place: waiting for its capsule to answer
    a freeze, while it reads nothing from the TUN device."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/syscall" % pid) as f:
                if f.read().split()[0] == "7":
                    return
        except (OSError, IndexError):
            pass
        time.sleep(0.005)   # bounded poll of another process's state
    raise TestFailure("process %d never waited in poll(2)" % pid)


def during_freeze(cap, request, send):
    """Make "send() arrives while the capsule freezes" certain rather than likely.

    The capsule's process is stopped (SIGSTOP), request() starts what freezes it (a
    capctl), and once caprun waits for the capsule's FROZEN (then it reads nothing from
    the TUN device) send() sends; then the capsule goes on.  What send() sent is queued
    behind the freeze.  Returns what request() returned."""
    pids = cap.capsule_pids()
    check(pids, "no capsule process under caprun %d" % cap.pid)
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    try:
        started = request()
        wait_blocked_in_poll(cap.pid)
        send()
    finally:
        for p in pids:
            os.kill(p, signal.SIGCONT)
    return started


def tempdir(prefix="capsule-snap."):
    """A temporary directory removed by stop_all()."""
    import tempfile

    class _Dir:
        def __init__(self):
            self.path = tempfile.mkdtemp(prefix=prefix)

        def stop(self):
            import shutil
            if os.path.ismount(self.path):  # mount_tmpfs'd: a mount point cannot be removed
                subprocess.run(["umount", "--lazy", self.path])
            shutil.rmtree(self.path, ignore_errors=True)
    d = _Dir()
    _started.append(d)
    return d.path


def request(sock, line):
    """Send one command line, return the one reply line (without its newline) as text."""
    sock.sendall(line.encode() + b"\n")
    return recv_line(sock).decode("utf-8", "replace").rstrip("\n")


def next_count(sock):
    """One line to the counter capsule; the number it answers."""
    reply = request(sock, "n")
    check(reply.isdigit(), "counter answered %r" % reply)
    return int(reply)
