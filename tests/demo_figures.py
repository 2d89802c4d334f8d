"""demo_figures.py: `make demo-figures [FIG=N]`: short narrated demos of the seed's figures 3, 4, 5 (5A/5B), 6, 7, 8 and 9 on namespace hosts, with packet captures read by tshark and docs/wireshark/capsule.lua.

Each figure builds its own small cluster (topolib.Topology: hosts are
network namespaces on a bridge inside the namespace `make` made with
unshare -n), says in plain words what happens and why, shows the commands'
output and the packets, and removes everything when it ends, also on
Ctrl-C.  docs/DEMOS.md tells what to look at in each.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "integration"))
from miglib import (CAPCTL, CountClient, Proc, Topology, check, daemon_stats, migrate,  # noqa: E402
                    snapshot, stop_all)
from topolib import DATA_PORT, OBSERVER_ID, WIRE_DATA, _started, ip_checksum, wire_seal  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LUA = os.path.join(ROOT, "docs", "wireshark", "capsule.lua")
TMP = tempfile.mkdtemp(prefix="capsule-figures.")


def say(text=""):
    print(text, flush=True)


def title(text):
    say()
    say("=" * 78)
    say(text)
    say("=" * 78)


def show(host, args, keep=40):
    """Run capctl ARGS on host and print what it said (the first keep lines)."""
    code, out, err = host.capctl(args)
    say("$ capctl %s        (on host %s)" % (" ".join(args), host.name))
    lines = (out + err).rstrip("\n").splitlines()
    for line in lines[:keep]:
        say("  " + line)
    if len(lines) > keep:
        say("  ... (%d more lines)" % (len(lines) - keep))
    return code, out


def counters(host, names):
    st = daemon_stats(host)
    return " ".join("%s=%d" % (n, st.get(n, 0)) for n in names)


class Capture:
    """capctl capture WHAT -w FILE [--wire] on a host, running until stop()."""

    def __init__(self, host, what, name, wire=True):
        self.path = os.path.join(TMP, name + ".pcap")
        argv = [CAPCTL, "capture", what, "-w", self.path] + (["--wire"] if wire else [])
        self.proc = Proc("capture-" + name, argv, host.prefix, host.env)
        check(self.proc.wait_for(r"^capturing ", 10),
              "capctl capture on %s: %s" % (host.name, self.proc.output_text()))
        say("$ capctl capture %s -w %s%s        (on host %s, in the background)" % (
            what, os.path.basename(self.path), " --wire" if wire else "", host.name))

    def stop(self):
        self.proc.proc.send_signal(signal.SIGINT)
        self.proc.proc.wait(20)
        m = self.proc.wait_for(r"^(\d+) packets written", 5)
        say("  capture stopped: %s" % (m.group(0) if m else self.proc.output_text()[-200:]))
        return self.path


def tshark(path, *args, limit=30, indent="  ", quiet=False):
    """tshark with the dissector over path; prints (at most limit; nothing if quiet) and
    returns its lines."""
    argv = ["tshark", "-X", "lua_script:" + LUA, "-r", path] + list(args)
    if quiet:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        return [l for l in p.stdout.splitlines() if l.strip()]
    say("$ tshark -X lua_script:docs/wireshark/capsule.lua -r %s %s" % (
        os.path.basename(path), " ".join("'%s'" % a if " " in a else a for a in args)))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    if len(lines) <= limit:
        shown = lines
    else:   # the start and the end: where things change
        head = limit // 3
        shown = lines[:head] + ["... (%d lines)" % (len(lines) - limit)] + lines[head - limit:]
    for l in shown:
        say(indent + l)
    if p.returncode:
        say(indent + "tshark failed: " + p.stderr.strip()[-300:])
    return lines


def show_hold(path, addr):
    """A gateway capture's hold, condensed: HOLD, the holder's last ACKs before the window
    closed, how many zero-window ACKs it sent, FLUSH, what came next; then the RST count."""
    rows = [r.split("\t") for r in tshark(
        path, "-Y", '(capsule.msg != "DATA" && capsule.msg != "ACK") || (ip.src == %s && '
        '!capsule && tcp.len == 0)' % addr, "-T", "fields", "-e", "frame.time_relative",
        "-e", "capsule.msg", "-e", "ip.src", "-e", "tcp.ack", "-e", "tcp.window_size",
        "-E", "occurrence=f", quiet=True)]
    say("  seconds    message   from          ack      window   (HOLD/FLUSH and x's bare ACKs)")
    flush = next((i for i, r in enumerate(rows) if r[1] == "FLUSH"), len(rows))
    hold = next((i for i, r in enumerate(rows) if r[1] == "HOLD"), 0)
    held = rows[hold:flush]
    zeros = [r for r in held if r[4:5] == ["0"]]
    first_zero = held.index(zeros[0]) if zeros else len(held)
    pick = held[:1] + held[max(1, first_zero - 4):first_zero + 1]
    for r in pick:
        say("  %-10.3f %-9s %-13s %-8s %s" % (float(r[0]), r[1], r[2], r[3], r[4]))
    if len(zeros) > 1:
        say("  ... %d more zero-window ACKs (answers to the client's window probes) until %.3f s"
            % (len(zeros) - 1, float(zeros[-1][0])))
    for r in rows[flush:flush + 4]:
        say("  %-10.3f %-9s %-13s %-8s %s" % (float(r[0]), r[1], r[2], r[3], r[4]))
    rst = tshark(path, "-Y", "tcp.flags.reset == 1", "-T", "fields", "-e", "frame.number", quiet=True)
    say("  zero-window ACKs in x's place while it was away: %d; RST segments: %d" % (
        len(zeros), len(rst)))


# ------------------------------------------------------------------ figure 3

def figure3():
    title("Figure 3: creating a capsule. The host asks the directory for an address (the\n"
          "capsule's identity) and records where it runs (its locator); everything the\n"
          "service's processes hold is inside the capsule's one block of memory.")
    topo = Topology(hosts=("A", "G"), gateway="G").start()
    a = topo["A"]
    say("Two hosts: A (id 1, 198.19.0.1) and the gateway G (id 2); the directory capdird at\n"
        "198.19.0.254.  Each host runs caphostd.  We start a capsule on A without an address:")
    say("$ caprun --name web build/images/http.cap        (on host A)")
    web = a.capsule("http", name="web").start()
    say("  " + web.output_text().strip().splitlines()[-1])
    say("caprun attached to A's caphostd (ATTACH with ip 0); caphostd sent CREATE to the\n"
        "directory, which picked %s and recorded it as on host 1 at epoch 1:" % web.addr)
    code, out, err = topo.capdir("lookup", web.addr)
    say("$ capdir lookup %s\n  %s" % (web.addr, (out + err).strip()))
    show(a, ["ps"])
    show(a, ["ps", "--all"])
    say("The processes of the service are captured: caprun (the host's side) and one\n"
        "sandboxed capsule process whose every writable byte lives in one memfd:")
    for pid in [web.pid] + web.capsule_pids():
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
            with open("/proc/%d/maps" % pid) as f:
                maps = f.read().splitlines()
        except OSError:
            continue
        writable = [m for m in maps if m.split()[1][1] == "w"]
        memfd = [m for m in writable if "memfd:" in m]
        say("  pid %d %-40s %d writable mappings, %d of them the capsule's memfd" % (
            pid, exe, len(writable), len(memfd)))
    say("A snapshot of it without stopping it shows what the capsule holds:")
    path = os.path.join(TMP, "web.snap")
    snapshot(a, web, path, keep_running=True)
    show(a, ["inspect", path], keep=40)


# ------------------------------------------------------------------ figure 4

def figure4():
    title("Figure 4: the directory hands out capsule IPs (identities) and tracks where\n"
          "each runs (host = locator) and its epoch, which grows with every move.")
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    one = a.capsule("counter", name="one").start()
    two = b.capsule("counter", name="two").start()
    say("capsule one started on A got %s; capsule two started on B got %s" % (one.addr, two.addr))
    show(a, ["ps", "--all"])
    say("Move one from A to B (live).  The identity stays; the locator and epoch change:")
    client = CountClient(topo.client.connect(one.addr, 9000), rate=0.01)
    client.more(10, 20)
    j = migrate(topo, "one", a, b)
    say("  migrated: host %d epoch %d, downtime %d ms" % (j["to"], j["epoch"], j["downtime_ms"]))
    client.more(10, 20)
    client.stop()
    show(b, ["ps", "--all"])
    say("Stop capsule two: its host releases the address, the directory forgets it.")
    two.stop()
    code, out, err = topo.capdir("lookup", two.addr)
    say("$ capdir lookup %s\n  %s" % (two.addr, (out + err).strip()))
    show(a, ["ps", "--all"])


# ------------------------------------------------------------------ figure 5A / 5B

def figure5():
    title("Figures 5A and 5B: per-peer synchronization during a live migration.  The source\n"
          "(A) tells every peer host to hold its packets for the moving capsule (SYNC); each\n"
          "answers (SYNC_ACK) and queues; the capsule freezes, moves to the target (C) and\n"
          "starts there; the target tells the peers where it is now (FLUSH_TO).")
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
    a, b, c, g = topo["A"], topo["B"], topo["C"], topo["G"]
    y = b.capsule("echo", name="y").start()
    x = a.capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    say("x (%s) runs on A and relays each client line to y (%s, echo) on B; the client\n"
        "reaches x through the gateway G.  Peer hosts of x: B (capsule to capsule) and G." % (
            x.addr, y.addr))
    sock = topo.client.connect(x.addr, 9100)
    stop = threading.Event()
    got = [0]

    def stream():
        f = sock.makefile("rb")
        n = 0
        while not stop.is_set():
            sock.sendall(b"line %06d\n" % n)
            check(f.readline() == b"line %06d\n" % n, "echo through x")
            n += 1
            got[0] = n
            time.sleep(0.005)
    th = threading.Thread(target=stream, daemon=True)
    th.start()
    caps = [Capture(h, x.addr, "fig5-" + h.name) for h in (b, c)]
    show(a, ["migrate", "x", "--to", "3"])
    time.sleep(0.5)   # a demo: let the stream run through C for a moment before we look
    stop.set()
    th.join(5)
    say("the client's stream went on through the move: %d lines echoed, each checked" % got[0])
    paths = [cap.stop() for cap in caps]
    say("\nThe peer B's view (figure 5A, a peer of the source): SYNC in, SYNC_ACK out, its\n"
        "queue, then FLUSH_TO from the target and the packets go to C:")
    tshark(paths[0], "-Y", 'capsule.msg != "DATA"', "-T", "fields", "-e", "frame.time_relative",
           "-e", "ip.src", "-e", "ip.dst", "-e", "_ws.col.Info")
    say("  B's counters: " + counters(b, ("sync_in", "sync_acks_out", "flush_to_in",
                                          "sync_released_pkts", "sync_dropped")))
    say("\nThe target C's view (figure 5B): it tells the peers where x runs now (FLUSH_TO)\n"
        "and the gateway to release the client (FLUSH); then DATA for x comes to C:")
    tshark(paths[1], "-Y", 'capsule.msg != "DATA"', "-T", "fields", "-e", "frame.time_relative",
           "-e", "ip.src", "-e", "ip.dst", "-e", "_ws.col.Info")
    senders = tshark(paths[1], "-Y", 'capsule.msg == "DATA"', "-T", "fields", "-e", "capsule.sender",
                     "-e", "ip.dst", "-E", "occurrence=f", quiet=True)
    by = {}
    for r in senders:
        by[r] = by.get(r, 0) + 1
    say("  DATA datagrams in C's capture after the move, by (sender host, outer destination):")
    for k, v in sorted(by.items()):
        say("    %-28s %d" % (k.replace("\t", " -> "), v))


# ------------------------------------------------------------------ figure 6

def figure6():
    title("Figure 6: buffering and back-pressure, seen by the sending application.  While\n"
          "the capsule moves, the gateway holds the client's connection: it acknowledges\n"
          "what fits the capsule's window, then advertises a zero window.  The client's\n"
          "kernel stops sending; its socket fills; the app gets EAGAIN.  Nothing is lost.")
    topo = Topology(hosts=("A", "B", "G"), gateway="G",
                    daemon_env={"B": {"CAPSULE_MIG_FAULT": "target-ignore-commit"}}).start()
    a, b, g = topo["A"], topo["B"], topo["G"]
    x = a.capsule("counter", name="x").start()
    say("x = images/counter on A (each newline: the next number).  B, the target, is told\n"
        "(CAPSULE_MIG_FAULT=target-ignore-commit) to wait 5 s before it starts x, so the\n"
        "pause is long enough to watch.")

    def small_socket():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        s.connect((x.addr, 9000))
        s.setblocking(False)
        return s
    sock = topo.client.call(small_socket)
    line = b"x" * 1023 + b"\n"
    log, state = [], {"sent": 0, "answers": b"", "stop": False}

    def app():
        t0, blocked = time.monotonic(), None
        while not state["stop"]:
            try:
                state["answers"] += sock.recv(65536)
            except BlockingIOError:
                pass
            try:
                state["sent"] += sock.send(line)
                if blocked is not None:
                    log.append("  %5.2f s: send() works again after %.2f s of EAGAIN (%d bytes sent)" % (
                        time.monotonic() - t0, time.monotonic() - blocked, state["sent"]))
                    blocked = None
                time.sleep(0.005)
            except BlockingIOError:
                if blocked is None:
                    blocked = time.monotonic()
                    log.append("  %5.2f s: send() -> EAGAIN: the socket is full (%d bytes sent)" % (
                        blocked - t0, state["sent"]))
                time.sleep(0.002)
    th = threading.Thread(target=app, daemon=True)
    th.start()
    time.sleep(0.5)   # a demo: the stream runs for a moment before the move
    cap = Capture(g, x.addr, "fig6-G")
    show(a, ["migrate", "x", "--to", "2"])
    time.sleep(0.5)
    state["stop"] = True
    th.join(5)
    say("What the sending app saw (times from its start):")
    for l in log:
        say(l)
    path = cap.stop()
    say("\nOn the gateway: HOLD from A, the holder's last ACKs in x's place (window almost\n"
        "and then exactly zero), FLUSH from B, the window opening again:")
    show_hold(path, x.addr)
    say("  G's counters: " + counters(g, ("hold_in", "hold_bytes", "flush_in", "reinjected_pkts")))
    n = state["sent"] // len(line)
    deadline = time.monotonic() + 30
    while state["answers"].count(b"\n") < n and time.monotonic() < deadline:
        try:
            state["answers"] += sock.recv(65536)
        except BlockingIOError:
            time.sleep(0.01)
    nums = [int(v) for v in state["answers"].split()]
    say("every line the kernel accepted was answered, in order: %d lines, answers 1..%d %s" % (
        n, nums[-1] if nums else 0, "OK" if nums == list(range(1, n + 1)) else "MISMATCH"))


# ------------------------------------------------------------------ figures 7 and 8

def figure7_8():
    title("Figures 7 and 8: wrapping and redirects.  A packet from capsule x (host A) to\n"
          "capsule y (host B) travels as DATA in an authenticated UDP datagram between the\n"
          "hosts' locators; a sender with a stale view of where a capsule is gets a REDIRECT.")
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G").start()
    a, b, c = topo["A"], topo["B"], topo["C"]
    y = b.capsule("echo", name="y").start()
    x = a.capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    cap = Capture(b, y.addr, "fig7-B")
    sock = topo.client.connect(x.addr, 9100)
    f = sock.makefile("rb")
    for i in range(3):
        sock.sendall(b"hello %d\n" % i)
        f.readline()
    path = cap.stop()
    say("\nFigure 7 on host B: each record twice, as it reaches y (inner) and as it crossed\n"
        "the wire (outer IPv4/UDP 7471, the capsule header, then the inner IPv4/TCP):")
    tshark(path, "-T", "fields", "-E", "occurrence=a", "-e", "ip.src", "-e", "ip.dst", "-e",
           "udp.dstport", "-e", "capsule.msg", "-e", "capsule.epoch", "-e", "tcp.len", limit=12)
    say("\nOne DATA datagram, layer by layer:")
    lines = tshark(path, "-V", "-Y", 'capsule.msg == "DATA" && tcp.len > 0', quiet=True)
    first = []
    for l in lines:
        if l.startswith("Frame ") and first:
            break
        if not l.startswith(" ") or re.match(r"\s+(Sender host id|Epoch \(|Sequence \(|Tag \()", l):
            first.append(l)
    for l in first:
        say("  " + l)

    say("\nFigure 8: x moves from A to C; then a stale sender (the demo itself, with the\n"
        "cluster key, as host %d) wraps a packet for x to A at the old epoch 1:" % OBSERVER_ID)
    migrate(topo, "x", a, c)
    cap = Capture(a, x.addr, "fig8-A")
    inner = bytes.fromhex("45000014000040004006") + b"\0\0" + socket.inet_aton(y.addr) + \
        socket.inet_aton(x.addr)
    inner = inner[:10] + ip_checksum(inner).to_bytes(2, "big") + inner[12:]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(wire_seal(topo.data_key, WIRE_DATA, OBSERVER_ID, 1, inner), (a.ip, DATA_PORT))
    try:
        s.recvfrom(2048)
        say("  A answered.")
    except socket.timeout:
        say("  A did not answer within 3 s")
    s.close()
    path = cap.stop()
    tshark(path, "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "_ws.col.Info",
           "-E", "occurrence=f")
    say("A does not forward for a capsule that left (no home agent): it drops the packet and\n"
        "tells the sender where x is now.  " + counters(a, ("redirect_out", "drop_epoch")))


# ------------------------------------------------------------------ figure 9

def figure9():
    title("Figure 9: the special router (the gateway) holding an ordinary peer.  x goes to\n"
          "disk; the client keeps sending; the gateway answers in x's place: it\n"
          "acknowledges what fits x's window, then ACKs with a zero window, never a RST.\n"
          "x resumes on another host; the gateway hands over the bytes and opens the window.")
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b, g = topo["A"], topo["B"], topo["G"]
    x = a.capsule("counter", name="x").start()
    sock = topo.client.connect(x.addr, 9000)
    sock.sendall(b"\n")
    say("the client asks x for a number: %s" % sock.recv(64).strip().decode())
    cap = Capture(g, x.addr, "fig9-G")
    path = os.path.join(TMP, "x.snap")
    snapshot(a, x, path)
    say("x is on disk (%s); the client sends 256 KiB of data now:" % os.path.basename(path))
    sock.setblocking(False)
    sent = 0
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        try:
            sent += sock.send(b"x" * 4096)
        except BlockingIOError:
            time.sleep(0.05)
        if sent >= 256 << 10:
            break
    time.sleep(2)   # a demo: the held connection sits still for a while (window probes)
    say("  the client's kernel accepted all %d bytes from the app: part acknowledged by the "
        "gateway in x's place, the rest waiting in the client's socket" % sent)
    moved = b.resume(path)
    say("x resumed on B: %s" % moved.output_text().strip().splitlines()[-1])
    sock.setblocking(True)
    sock.settimeout(10)
    sock.sendall(b"\n")
    say("the client asks again on the same connection: %s" % sock.recv(64).strip().decode())
    path = cap.stop()
    say("\nThe gateway's capture: HOLD from A, the holder's last ACKs in x's place (the\n"
        "window almost and then exactly zero), FLUSH from B, the window opening again:")
    show_hold(path, x.addr)
    say("  G's counters: " + counters(g, ("hold_in", "hold_bytes", "flush_in", "reinjected_pkts",
                                          "reinject_confirmed")))


FIGURES = {"3": figure3, "4": figure4, "5": figure5, "6": figure6, "7": figure7_8, "8": figure7_8,
           "9": figure9}


def main():
    want = sys.argv[1:] or ["3", "4", "5", "6", "7", "9"]
    bad = [w for w in want if w not in FIGURES]
    if bad:
        say("demo_figures: no demo for figure %s (figures: 3 4 5 6 7 8 9)" % ", ".join(bad))
        sys.exit(2)
    if not shutil.which("tshark"):
        say("demo_figures: tshark is missing (mk/deps.sh installs it)")
        sys.exit(1)
    failed = 0
    try:
        for w in want:
            try:
                FIGURES[w]()
            except Exception as e:   # noqa: BLE001 (a demo goes on with the next figure)
                failed += 1
                say("figure %s FAILED: %s" % (w, e))
            finally:
                stop_all()
                del _started[:]
    except KeyboardInterrupt:
        say("\ninterrupted: cleaning up")
        stop_all()
        failed += 1
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(1 if failed else 0)


main()
