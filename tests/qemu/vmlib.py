"""vmlib.py: QEMU guests as capsule hosts: start one on a TAP port of a bridge, drive its serial console with commands that end in markers, stop it by PID.

Each VM boots Debian's kernel (PVH, uncompressed vmlinux) with the
initramfs of vmimage.py; /init (init.sh) prints `CAPVM-READY NAME ADDR` and
then reads shell commands from the serial console, which is QEMU's stdio
here (pipes, no terminal).  `VM.sh(cmd)` writes the command and then
`echo "@@DONE<n>:$?"`: the command's output is every line before that
marker, its exit status the number in it.  Nothing waits on a sleep:
readiness is always a line some program printed (`waitlog` in the guest).
"""
import re
import shutil
import signal
import subprocess
import threading
import time

QEMU = "qemu-system-x86_64"
BRIDGE = "capsw"
STARTED = []           # what stop_all() stops, newest first


def qemu_path():
    """The QEMU binary, or None when the package is not installed."""
    return shutil.which(QEMU)


def sh_ok(argv):
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))


class Link:
    """A device this process created in its namespace (bridge, TAP), deleted at stop."""

    def __init__(self, name, argv, registry):
        sh_ok(argv)
        self.name = name
        registry.append(self)

    def stop(self):
        subprocess.run(["ip", "link", "del", self.name], capture_output=True)


def make_bridge(registry=None, addr=None):
    """The VMs' segment: a bridge in this (the demo's or test's own) namespace."""
    reg = STARTED if registry is None else registry
    Link(BRIDGE, ["ip", "link", "add", BRIDGE, "type", "bridge"], reg)
    if addr:
        sh_ok(["ip", "addr", "add", addr, "dev", BRIDGE])
    sh_ok(["ip", "link", "set", BRIDGE, "up"])


class VMError(Exception):
    pass


class VM:
    """One guest: name, address (CIDR), a MAC from index, an optional route "NET,VIA"."""

    def __init__(self, name, ip_cidr, index, kernel, initrd, route=None, mem_mb=256,
                 registry=None):
        self.name, self.ip = name, ip_cidr.split("/")[0]
        self.lines = []
        self.cond = threading.Condition()
        self.closed = False
        self.seq = 0
        reg = STARTED if registry is None else registry
        tap = "tq-" + name
        Link(tap, ["ip", "tuntap", "add", tap, "mode", "tap"], reg)
        sh_ok(["ip", "link", "set", tap, "master", BRIDGE, "up"])
        append = ("console=ttyS0 quiet loglevel=1 panic=-1 rdinit=/init capvm.name=%s capvm.ip=%s"
                  % (name, ip_cidr)) + (" capvm.route=" + route if route else "")
        self.argv = [QEMU, "-nodefaults", "-no-user-config", "-machine", "pc,accel=tcg",
                     "-cpu", "max", "-smp", "1", "-m", str(mem_mb), "-display", "none",
                     "-serial", "stdio", "-no-reboot",
                     "-kernel", kernel, "-initrd", initrd, "-append", append,
                     "-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no" % tap,
                     "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:c5:00:%02x" % index]
        self.started = time.monotonic()
        # Its own session: a Ctrl-C reaches the driver, which stops the VMs in order.
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        reg.append(self)
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for raw in iter(self.proc.stdout.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\r\n").replace("\r", "")
            with self.cond:
                self.lines.append(text)
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait_line(self, regex, timeout, start=0):
        """(match, index) of the first console line from index start matching regex."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m, i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise VMError("%s: no /%s/ on the console within %.0f s%s; %s" % (
                        self.name, regex, timeout, " (QEMU exited)" if self.closed else "",
                        self.last_words()))
                self.cond.wait(left)

    def shell_restarts(self):
        """Console lines where /init started a new shell because the last one ended."""
        with self.cond:
            return [l for l in self.lines if "console shell ended" in l]

    def last_words(self):
        """The console's last lines, a kernel panic's reason first (it scrolls away)."""
        with self.cond:
            panic = [l for l in self.lines if re.search(r"Kernel panic|Attempted to kill", l)]
            return "panic: %s; last lines: %s" % (" | ".join(panic[:2]) or "none",
                                                 " | ".join(self.lines[-12:]))

    def wait_ready(self, timeout):
        """Seconds from start to the guest's CAPVM-READY line."""
        self.wait_line(r"^CAPVM-READY ", timeout)
        return time.monotonic() - self.started

    def sh(self, cmd, timeout=60, check=True, rerun=False):
        """Run one shell command line in the guest: (exit status, output text).

        If the console shell ends before the command's marker (init starts another),
        the command may not have run: rerun=True (read-only commands) sends it again,
        otherwise that is an error."""
        for attempt in (1, 2):
            with self.cond:
                self.seq += 1
                n, start = self.seq, len(self.lines)
            try:
                self.proc.stdin.write(('%s\necho "@@DONE%d:$?"\n' % (cmd, n)).encode())
                self.proc.stdin.flush()
            except OSError as e:
                raise VMError("%s: QEMU's console is gone (%s, exit %s); %s" % (
                    self.name, e, self.proc.poll(), self.last_words()))
            m, at = self.wait_line(r"@@DONE%d:(\d+)$|console shell ended" % n, timeout, start)
            if m.group(1) is not None:
                break
            if not rerun or attempt == 2:
                raise VMError("%s: the console shell ended during `%s`" % (self.name, cmd))
        with self.cond:
            out = "\n".join(l for l in self.lines[start:at] if "console shell ended" not in l)
        code = int(m.group(1))
        if check and code != 0:
            raise VMError("%s: `%s` exited %d: %s" % (self.name, cmd, code, out[-600:]))
        return code, out

    def put(self, path, text):
        """Write a small text file in the guest (a here-document over the console)."""
        self.sh("cat > %s <<'CAPVM_EOF'\n%sCAPVM_EOF" % (path, text if text.endswith("\n")
                                                         else text + "\n"))

    def daemon(self, argv, log):
        """Start a program in the background in the guest, its output in /tmp/LOG."""
        self.sh("%s < /dev/null > /tmp/%s 2>&1 &" % (argv, log))

    def waitlog(self, log, regex, timeout):
        """The line a guest program printed to /tmp/LOG matching regex (bounded wait)."""
        return self.sh("waitlog /tmp/%s '%s' %d" % (log, regex, timeout), timeout=timeout + 30,
                       rerun=True)[1]

    def stop(self):
        """Power off: SIGTERM to QEMU (our child, by PID), SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


def stop_all(registry=None):
    """Stop VMs and delete links, newest first (TAPs before the bridge)."""
    reg = STARTED if registry is None else registry
    while reg:
        try:
            reg.pop().stop()
        except Exception:
            pass
