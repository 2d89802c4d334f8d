"""test_tcphold.py: the TCP holder against real Linux peers: zero-window holding keeps connections open, silence kills them.

In this test's own network namespace, build/tests/tcphold_tun plays a capsule
on a TUN device (198.18.0.2).  Linux clients connect, exchange data, then the
tool switches to tcphold (hosts/caphostd/tcphold.c) for HOLD_S seconds while one client
keeps sending (zero-window probes) and one sits idle (keep-alives).  Two more
connections, to a port the tool leaves silent while holding, are the control:
with net.ipv4.tcp_retries2=3 and short keep-alives they must die within a few
seconds, so the held ones surviving HOLD_S means the holder's answers did it.
After release, every byte the sender wrote arrives exactly once, and no RST
comes from the capsule side or on a held connection (Linux does reset the
control connection whose keep-alives went unanswered).
"""
import errno
import os
import socket
import struct
import subprocess
import threading
import time

from caplib import BUILD, Tap, check, check_eq

TOOL = os.path.join(BUILD, "tests", "tcphold_tun")
IFNAME = "tchold0"
SERVER = "198.18.0.2"
PORT, SILENT = 7000, 7001
HOLD_S = 10
SEND_TOTAL = 200000


def fnv1a(data, h=0xcbf29ce484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


class Sniffer(threading.Thread):
    """Counts every TCP packet on the TUN link with RST set, and zero-window ACKs from the server."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
        self.sock.bind((IFNAME, 3))
        self.sock.settimeout(0.2)
        self.rst = 0
        self.rst_seen = []
        self.zero_windows = 0
        self.stopping = False

    def run(self):
        while not self.stopping:
            try:
                p = self.sock.recv(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            if len(p) < 40 or p[0] >> 4 != 4 or p[9] != 6:
                continue
            t = p[(p[0] & 15) * 4:]
            if len(t) >= 20 and t[13] & 0x04:
                self.rst += 1
                self.rst_seen.append("%s:%d->%s:%d" % (socket.inet_ntoa(p[12:16]), struct.unpack("!H", t[0:2])[0],
                                                       socket.inet_ntoa(p[16:20]), struct.unpack("!H", t[2:4])[0]))
            if socket.inet_ntoa(p[12:16]) == SERVER and struct.unpack("!H", t[14:16])[0] == 0:
                self.zero_windows += 1

    def stop(self):
        self.stopping = True
        self.join(2)
        self.sock.close()


class Tool:
    def __init__(self):
        self.p = subprocess.Popen([TOOL, IFNAME, SERVER, str(PORT), str(SILENT)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            with self.cv:
                self.lines.append(line.strip())
                self.cv.notify_all()

    def wait(self, prefix, timeout=15):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for i, l in enumerate(self.lines):
                    if l.startswith(prefix):
                        return self.lines.pop(i)
                left = end - time.monotonic()
                check(left > 0 and self.p.poll() is None,
                      "tcphold_tun: no %r line (got %r, exit %r)" % (prefix, self.lines, self.p.poll()))
                self.cv.wait(left)

    def say(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()

    def stop(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    check(r.returncode == 0, "%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r.stdout


def established_ports():
    """Local ports of our client connections that Linux still has ESTABLISHED, with their timers."""
    out = sh("ss", "-Htno", "state", "established", "dst", SERVER)
    ports = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4:
            ports[int(f[2].rsplit(":", 1)[1])] = line
    return ports


def client(port, keepalive=False):
    s = socket.create_connection((SERVER, port), timeout=10)
    if keepalive:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
    check_eq(s.recv(3), b"hi\n", "greeting on port %d" % port)
    return s


def hold_and_release():
    check(os.path.exists(TOOL), "%s not built" % TOOL)
    tool = Tool()
    sniffer = None
    socks = []
    try:
        tool.wait("ready")
        sh("ip", "link", "set", IFNAME, "up")
        sh("ip", "addr", "add", "198.18.0.1/24", "dev", IFNAME)
        sh("sysctl", "-qw", "net.ipv4.tcp_retries2=3")   # per namespace: unanswered peers die fast
        sniffer = Sniffer()
        sniffer.start()

        sender = client(PORT)                      # A: keeps sending through the hold
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)   # so sendall blocks while held
        idle = client(PORT, keepalive=True)        # B: idle, keep-alives every second
        dead_idle = client(SILENT, keepalive=True)  # C: control, unanswered keep-alives
        dead_sender = client(SILENT)               # D: control, unanswered data
        socks = [sender, idle, dead_idle, dead_sender]
        pattern = bytes((i * 7 + 3) & 0xFF for i in range(SEND_TOTAL + 1000))
        sender.sendall(pattern[:1000])             # live exchange before the freeze

        tool.say("hold")
        tool.wait("holding")
        t0 = time.monotonic()
        errors = {}

        def send(sock, data, name):
            try:
                sock.settimeout(HOLD_S + 30)
                sock.sendall(data)
            except OSError as e:
                errors[name] = e.errno

        a = threading.Thread(target=send, args=(sender, pattern[1000:], "A"), daemon=True)
        d = threading.Thread(target=send, args=(dead_sender, pattern[:50000], "D"), daemon=True)
        a.start()
        d.start()
        time.sleep(HOLD_S)   # the point of the test: time passes while the capsule is away
        ports = established_ports()
        held = time.monotonic() - t0
        a_port, b_port = sender.getsockname()[1], idle.getsockname()[1]
        check(a_port in ports, "sender connection not ESTABLISHED after %.1fs hold: %r" % (held, ports))
        check(b_port in ports, "idle keep-alive connection not ESTABLISHED after %.1fs hold" % held)
        check("persist" in ports[a_port], "sender not in zero-window persist mode: %r" % ports[a_port])
        check(dead_idle.getsockname()[1] not in ports,
              "control: unanswered keep-alive connection survived %.1fs" % held)
        check(dead_sender.getsockname()[1] not in ports,
              "control: unanswered sender connection survived %.1fs" % held)
        check(a.is_alive(), "sender finished while the capsule was held (errors %r)" % errors)
        check(sniffer.zero_windows > 0, "no zero-window ACK seen")

        tool.say("release")
        released = tool.wait("released")
        check_eq(released, "released 16384", "bytes held (one window)")
        a.join(30)
        check(not a.is_alive() and "A" not in errors, "sender after release: %r" % errors)
        sender.shutdown(socket.SHUT_WR)
        closed = tool.wait("closed %d" % PORT)
        want = "closed %d bytes=%d hash=%016x" % (PORT, len(pattern), fnv1a(pattern))
        check_eq(closed, want, "what the capsule received")
        sender.settimeout(10)
        check_eq(sender.recv(10), b"", "capsule's FIN after ours")
        idle.shutdown(socket.SHUT_WR)
        check_eq(tool.wait("closed %d" % PORT), "closed %d bytes=0 hash=%016x" % (PORT, fnv1a(b"")),
                 "idle connection closes cleanly")
        idle.settimeout(10)
        check_eq(idle.recv(10), b"", "capsule's FIN on the idle connection")
        d.join(10)
        err = dead_idle.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        check_eq(err, errno.ETIMEDOUT, "control keep-alive connection's error")
        err = errors.get("D") or dead_sender.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        check_eq(err, errno.ETIMEDOUT, "control sender's error")
        # Linux itself resets a connection whose keep-alives went unanswered (the control C);
        # on the held connections, and from the capsule side at all, there must be none.
        bad = [r for r in sniffer.rst_seen if r.startswith(SERVER) or not r.endswith(":%d" % SILENT)]
        check_eq(bad, [], "RST segments from the capsule side or on held connections")
        print("# held %.1fs; %d zero-window ACKs; tcp_retries2=3" % (held, sniffer.zero_windows),
              flush=True)
    finally:
        for s in socks:
            s.close()
        if sniffer:
            sniffer.stop()
        tool.stop()


def main():
    tap = Tap()
    tap.run("tcphold: Linux peers stay ESTABLISHED through a %ds hold, silence kills them, "
            "bytes exact after release, no RST" % HOLD_S, hold_and_release)
    tap.done()


main()
