"""test_udpprocs.py: UDP sockets in every process of a capsule (docs/PROCESSES.md, section 4, "UDP sockets"): a forked child's own client against an echo server outside, also after the child exec'd and as the first command of a busybox pipeline (boundaries kept, a short buffer truncating with MSG_TRUNC, EAGAIN, connect's filter and AF_UNSPEC), a child's server answered from outside with EADDRINUSE for a second bind of its port and EINVAL for a second bind of a socket, pid 1's socket shared with its child (both send, whichever reads answers), a child's socket inherited by a grandchild and working on for pid 1 when the child is killed, a child's full receive queue keeping datagrams in order and counting the rest as dropped, a name looked up in a child through the capsule's name server, and a child's server across a snapshot and resume and across a live migration."""
import json
import os
import re
import shutil
import signal
import socket
import struct
import threading
import time

from caplib import BUILD, GATEWAY, IMAGES, Host, Tap, check, check_eq, snapshot, tempdir
from miglib import Topology, migrate_run


def child_lines(cap, prefix=r"(child|pid) \d"):
    return [l for l in cap.output_text().splitlines() if re.match(prefix, l)]


def udp(port=0, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.settimeout(timeout)
    return s


class Echo:
    """The outside echo server for 'client': each datagram back; for 'filter' a datagram from
    another port first (the child's connected socket must not see it); for 'open' an answer
    from that other port only."""

    def __init__(self, port):
        self.a, self.b = udp(port), udp(port + 1)
        self.got = []
        self.t = threading.Thread(target=self.serve, daemon=True)
        self.t.start()

    def serve(self):
        try:
            while True:
                data, src = self.a.recvfrom(65536)
                self.got.append((data, src))
                if data == b"filter":
                    self.b.sendto(b"intruder", src)
                    self.a.sendto(b"filter-reply", src)
                elif data == b"open":
                    self.b.sendto(b"from b", src)
                    return
                else:
                    self.a.sendto(data, src)
        except socket.timeout:
            return

    def stop(self):
        self.t.join(15)
        self.a.close()
        self.b.close()


def client_lines(pid, port):
    """What images/udpprocs's client prints as process pid, its socket on port."""
    return [l % pid for l in [
        "child %d: empty, O_NONBLOCK: EAGAIN",
        "child %d: SO_RCVBUF, SO_BROADCAST, SO_REUSEADDR accepted",
        "child %d: sent from port nonzero",
        "child %%d: got 3 bytes from %s:7100: one" % GATEWAY,
        "child %d: recvmsg into 10 bytes: 10, MSG_TRUNC, mmmmmmmmmm",
        "child %d: recv(MSG_TRUNC) into 10 bytes says 3000",
        "child %d: all read, MSG_DONTWAIT: EAGAIN",
        "child %d: blocking, SO_RCVTIMEO 100 ms: EAGAIN",
        "child %%d: connected to %s:7100, port %d" % (GATEWAY, port),
        "child %%d: connected, got filter-reply from %s:7100" % GATEWAY,
        "child %d: dissolved: getpeername ENOTCONN, send EDESTADDRREQ",
        "child %d: unconnected, got from b from another port: yes"]]


def echo_port(echo, cap):
    """The client's datagrams, byte for byte and one by one, from one port of the capsule."""
    got = [d for d, _ in echo.got]
    check_eq(got, [b"one", b"m" * 1000, b"L" * 3000, b"filter", b"open"],
             "the datagrams the client sent, byte for byte and one by one")
    src = {s for _, s in echo.got}
    check_eq(len(src), 1, "every datagram from the client's one socket and port: %r" % src)
    (addr, port), = src
    check_eq(addr, cap.addr, "they come from the capsule's address")
    return port


def child_client(mode="client"):
    host = Host()
    echo = Echo(7100)
    cap = host.capsule("udpprocs", name="udpclient", args=[mode, GATEWAY, "7100"]).start()
    check_eq(cap.wait_exit(30), 0, "caprun's exit code (output %r)" % cap.output_text()[-800:])
    echo.stop()
    port = echo_port(echo, cap)
    check_eq(child_lines(cap), client_lines(2, port) + ["child 2 exited with 0"], "the child's lines")


def in_shell_pipeline():
    """busybox's ash (pid 1) runs the client from a volume as the first command of a pipeline:
    a forked child that execs another program, its lines through a pipe to cat."""
    busybox = os.path.join(BUILD, "programs", "cap", "busybox")
    check(os.path.exists(busybox), "%s is missing (make test builds it)" % busybox)
    vol = tempdir("capsule-udp-vol.")
    shutil.copy(os.path.join(IMAGES, "udpprocs.cap"), os.path.join(vol, "udpprocs"))
    host = Host()
    echo = Echo(7100)
    cap = host.capsule("busybox", image=busybox, name="busybox", caprun_args=["-v", vol + ":/opt:ro"],
                       args=["sh", "-c", "/opt/udpprocs client-here %s 7100 | cat" % GATEWAY]).start()
    check_eq(cap.wait_exit(30), 0, "caprun's exit code (output %r)" % cap.output_text()[-800:])
    echo.stop()
    port = echo_port(echo, cap)
    lines = child_lines(cap, r"child \d")
    pid = int(lines[0].split()[1].rstrip(":")) if lines else 0
    check_eq(lines, client_lines(pid, port), "the client's lines through the pipe")


def grandchild():
    """A child's own connected socket, inherited by its child: the grandchild talks through it,
    ends, then the child does (both from the socket's one port)."""
    host = Host()
    s = udp(7150)
    cap = host.capsule("udpprocs", name="udpfamily", args=["family", GATEWAY, "7150"]).start()
    got = []
    for _ in range(2):
        data, src = s.recvfrom(100)
        got.append((data, src))
        s.sendto(data, src)
    check_eq(cap.wait_exit(30), 0, "caprun's exit code (output %r)" % cap.output_text()[-600:])
    check_eq([d for d, _ in got], [b"from grandchild 3", b"from child 2"], "what each sent, in order")
    check_eq(len({src for _, src in got}), 1, "one socket, one port: %r" % got)
    check_eq(child_lines(cap, r"(grand)?child \d"), [
        "grandchild 3: got back from grandchild 3", "child 3 exited with 0",
        "child 2: got back from child 2", "child 2 exited with 0"], "the lines")
    s.close()


SERVER_READY = r"child 2: serving udp 7200"
BIND_LINES = ["child 3: bind of a port in use: EADDRINUSE", "child 3: bind to port 0 gives port nonzero",
              "child 3: a second bind of that socket: EINVAL", "child 3 exited with 0"]


def ask(s, addr, payload, port=7200):
    s.sendto(payload, (addr, port))
    data, src = s.recvfrom(70000)
    check_eq(src, (addr, port), "the answer's source")
    return data


def child_server():
    host, d = Host(), tempdir()
    cap = host.capsule("udpprocs", name="udpserver", args=["server", "7200"]).start(app_ready=SERVER_READY)
    check(cap.wait_for(r"child 3 exited", 10), "the second child's bind")
    check_eq(child_lines(cap)[1:], BIND_LINES, "a second bind of the port, and a bind to port 0")
    c = udp()
    check_eq(ask(c, cap.addr, b"hello"), b"child 2: hello", "the child's answer")
    big = os.urandom(30000)
    check_eq(ask(c, cap.addr, big), b"child 2: " + big, "a 30000-byte datagram answered whole")
    for i in range(50):
        c.sendto(b"n%02d" % i, (cap.addr, 7200))
    got = [c.recvfrom(100)[0] for _ in range(50)]
    check_eq(got, [b"child 2: n%02d" % i for i in range(50)], "50 datagrams answered one by one, in order")

    path = os.path.join(d, "udpserver.snap")
    snapshot(host, cap, path)
    code, out, err = host.capctl(["inspect", path])
    check(code == 0 and re.search(r"\n  -\s+udp\s+0\.0\.0\.0:7200 -> 0\.0\.0\.0:0\n", out),
          "capctl inspect: pid 1 serves the stack's socket behind the child's (%r %r)" % (out[-2000:], err))
    again = host.resume(path, plain=True)
    check_eq(ask(c, again.addr, b"after the resume"), b"child 2: after the resume",
             "the child's socket answers after the resume")
    check_eq(ask(c, again.addr, b"quit"), b"child 2: quit", "the child's last answer")
    check_eq(again.wait_exit(30), 0, "caprun's exit code after the resume")
    check(again.wait_for(r"child 2 exited with 0", 5), "pid 1 reaped the server child")
    c.close()


def shared_socket():
    host, d = Host(), tempdir()
    t = udp(7301)
    cap = host.capsule("udpprocs", name="udpshared", args=["shared", "7300", GATEWAY, "7301"]).start()
    hellos = set()
    for _ in range(2):
        data, src = t.recvfrom(100)
        hellos.add((data, src))
    check_eq(hellos, {(b"hello from pid 1", (cap.addr, 7300)), (b"hello from pid 2", (cap.addr, 7300))},
             "both processes send through the one socket (its port)")
    path = os.path.join(d, "udpshared.snap")
    snapshot(host, cap, path, keep_running=True)
    code, out, err = host.capctl(["inspect", path])
    check(code == 0 and re.search(r"\n  3\s+udp-relay\s+0\.0\.0\.0:7300 -> 0\.0\.0\.0:0, 0 datagrams unread, "
                                  r"0 unsent \(relayed by pid 1\)\n", out),
          "capctl inspect: pid 1's descriptor is the shared socket (%r %r)" % (out[-2000:], err))
    code, out, err = host.capctl(["inspect", "--json", path])
    fds = [f for f in json.loads(out)["fds"] if f["kind"] == "udp-relay"] if code == 0 else []
    check_eq([(f["fd"], f["proto"], f["local"], f["remote"], f["unread"], f["unsent"]) for f in fds],
             [(3, "udp", "0.0.0.0:7300", "0.0.0.0:0", 0, 0)], "capctl inspect --json's udp-relay (%r)" % err)
    c = udp()
    n = 40
    for i in range(n):
        c.sendto(b"d%02d" % i, (cap.addr, 7300))
    answers = [c.recvfrom(100)[0].decode() for _ in range(n)]
    readers = [a.split(":")[0] for a in answers]
    check_eq(sorted(a.split(": ")[1] for a in answers), ["d%02d" % i for i in range(n)],
             "every datagram answered exactly once")
    check(set(readers) <= {"pid 1", "pid 2"}, "answered by pid 1 or pid 2: %r" % set(readers))
    c.sendto(b"quit", (cap.addr, 7300))
    c.sendto(b"quit", (cap.addr, 7300))
    check_eq(cap.wait_exit(30), 0, "caprun's exit code")
    m1 = cap.wait_for(r"^pid 1 answered (\d+); child exited with 0$", 5)
    m2 = cap.wait_for(r"^pid 2 answered (\d+)$", 5)
    check(m1 and m2, "both processes' counts: %r" % cap.output_text()[-400:])
    check_eq(int(m1.group(1)) + int(m2.group(1)), n, "the two counts add up to the datagrams sent")
    check_eq((int(m1.group(1)), int(m2.group(1))), (readers.count("pid 1"), readers.count("pid 2")),
             "each process's count, as its answers say")
    c.close()
    t.close()


def shared_child_killed():
    """pid 1's shared socket keeps working for pid 1 when the child holding it too is killed
    from outside (pid 1 takes the child's holds away, and its wake-up bits)."""
    host = Host()
    t = udp(7311)
    cap = host.capsule("udpprocs", name="udpkill", args=["shared", "7310", GATEWAY, "7311"]).start()
    check_eq(sorted(t.recvfrom(100)[0] for _ in range(2)), [b"hello from pid 1", b"hello from pid 2"],
             "both processes said hello")
    code, out, err = host.capctl(["ps", "--tree", "--json"])
    check_eq(code, 0, "capctl ps --tree --json (stderr %r)" % err)
    host_pid = {p["pid"]: p["host_pid"] for p in json.loads(out)[0]["tree"]}
    os.kill(host_pid[2], signal.SIGKILL)   # a process we started (caprun's child)
    check(cap.wait_for(r"process 2 \(host pid %d\) killed from outside by signal SIGKILL" % host_pid[2], 10),
          "caprun reports the killed child")
    c = udp()
    for i in range(10):
        c.sendto(b"k%d" % i, (cap.addr, 7310))
    check_eq(sorted(c.recvfrom(100)[0] for _ in range(10)), sorted(b"pid 1: k%d" % i for i in range(10)),
             "pid 1 answers every datagram after its child was killed")
    c.sendto(b"quit", (cap.addr, 7310))
    check_eq(cap.wait_exit(30), 0, "caprun's exit code")
    check(cap.wait_for(r"^pid 1 answered 10; child exited with 137$", 5), "pid 1's count and the child's end: %r" %
          cap.output_text()[-400:])
    c.close()
    t.close()


def full_queue_drops_counted():
    """A child's socket that does not read (until it is told, on another port, after the burst
    reached the capsule): its receive ring keeps datagrams in order while it has room, the rest
    are dropped and counted in rx_socket_full, as Linux's full socket buffer.  (The child may
    start reading while the relay still hands it the end of the burst: how many it keeps
    varies, their sum with the drops does not.)"""
    host = Host()
    cap = host.capsule("udpprocs", name="udpsink", args=["sink", "7400"]).start(
        app_ready=r"child 2: sink on 7400, go on 7401")

    def stats():
        code, out, err = host.capctl(["stats", "--json", cap.name])
        check_eq(code, 0, "capctl stats exit (%s)" % err.strip())
        return json.loads(out)
    before = stats()
    c = udp()
    c.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)   # SO_RCVBUFFORCE: room for the answer
    n = 200
    for i in range(n):
        c.sendto(struct.pack("<I", i) + b"d" * 996, (cap.addr, 7400))
    deadline = time.monotonic() + 10
    while stats()["packets_in"] - before["packets_in"] < n and time.monotonic() < deadline:
        time.sleep(0.02)   # bounded poll of a counter another process keeps
    c.sendto(b"go", (cap.addr, 7401))
    answer = c.recvfrom(100)[0].decode()
    m = re.fullmatch(r"kept (\d+), in order", answer)
    check(m, "the child's answer: %r" % answer)
    kept = int(m.group(1))
    after = stats()
    dropped = after["capsule"]["rx_socket_full"] - before["capsule"]["rx_socket_full"]
    check_eq((kept + dropped, after["drop_host_full"] - before["drop_host_full"]), (n, 0),
             "every datagram kept or counted as dropped (kept %d, dropped %d)" % (kept, dropped))
    check(dropped > 0 and kept >= 60, "a full ring (about 68 KiB of 1000-byte datagrams) drops: kept %d, "
          "dropped %d" % (kept, dropped))
    print("# kept %d of %d datagrams of 1000 bytes, %d dropped and counted" % (kept, n, dropped), flush=True)
    c.sendto(b"bye", (cap.addr, 7401))
    check_eq(cap.wait_exit(30), 0, "caprun's exit code")
    c.close()


def unshared_tcp():
    """pid 1's UDP socket is shared at a fork, its TCP socket neither connected nor listening is
    not: the child's copy refuses (not as Linux, which would say ENOTCONN and EPIPE), with one
    line on the console."""
    host = Host()
    cap = host.capsule("udpprocs", name="udpunshared", args=["unshared"]).start()
    check_eq(cap.wait_exit(30), 0, "caprun's exit code (output %r)" % cap.output_text()[-600:])
    check_eq(child_lines(cap), ["child 2: tcp socket: read: Not supported",   # musl's strerror
                                "child 2: tcp socket: send: Not a socket",
                                "child 2: udp socket: bound to 7600", "child 2 exited with 0"],
             "what the child's copies give")
    line = ("capsule: process 2: a socket pid 1 had not shared at the fork (neither connected nor "
            "listening, or the fork was not fork()) does not work here")
    check_eq([l for l in cap.output_text().splitlines() if l.startswith("capsule: process")], [line],
             "the one console line")


def dns_answer(query):
    """A DNS answer to query: one A record (198.18.7.7) for an A question, none for others."""
    qid, flags, qd = struct.unpack("!HHH", query[:6])
    end = 12
    while query[end]:
        end += query[end] + 1
    question = query[12:end + 5]
    qtype = struct.unpack("!H", query[end + 1:end + 3])[0]
    answers = b""
    if qtype == 1:
        answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("198.18.7.7")
    return struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100), 1, 1 if answers else 0, 0, 0) + \
        question + answers


def lookup_in_child():
    host = Host()
    ns = udp(53)
    asked = []

    def serve():
        try:
            while True:
                q, src = ns.recvfrom(512)
                asked.append((q, src))
                ns.sendto(dns_answer(q), src)
        except (socket.timeout, OSError):
            return
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    cap = host.capsule("udpprocs", name="udpdns", args=["dns", "service.example"],
                       caprun_args=["--dns", GATEWAY]).start()
    check_eq(cap.wait_exit(30), 0, "caprun's exit code (output %r)" % cap.output_text()[-600:])
    check_eq(child_lines(cap), ["child 2: service.example is 198.18.7.7:80", "child 2 exited with 0"],
             "the child's lookup")
    ns.close()
    th.join(5)
    check(asked and all(src[0] == cap.addr for _, src in asked),
          "the queries came from the capsule: %r" % [src for _, src in asked])
    check(any(b"\x07service\x07example\x00\x00\x01" in q for q, _ in asked), "an A query for the name")


def ask_until_answered(s, addr, word, port=7200):
    """Through a gateway the first datagrams may be lost while routes settle (as for
    test_migrate's udpecho): WORD 0, WORD 1, ... until one is answered; its number."""
    s.settimeout(0.5)
    for i in range(40):
        s.sendto(b"%s %d" % (word, i), (addr, port))
        try:
            while True:
                data, src = s.recvfrom(2048)
                if data == b"child 2: %s %d" % (word, i) and src == (addr, port):
                    return i
        except socket.timeout:
            continue
    check(False, "no answer to %r" % word)


def migrated():
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("udpprocs", name="x", args=["server", "7200"]).start(app_ready=SERVER_READY)
    c = topo.client.call(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    ask_until_answered(c, x.addr, b"on A")
    mark = b.daemon.mark()
    m = migrate_run(topo, "x", a, b)
    check_eq(m.code, 0, "capctl migrate x A -> B: %r" % (m,))
    check_eq(x.wait_exit(10), 0, "the source caprun's exit status")
    ask_until_answered(c, x.addr, b"on B")
    c.settimeout(10)
    c.sendto(b"quit", (x.addr, 7200))
    while c.recvfrom(2048)[0] != b"child 2: quit":
        pass   # late answers to the retries
    check(b.daemon.wait_for(r"child 2 exited with 0", 30, mark), "pid 1 reaped the server on B: %s" %
          b.daemon.output_text()[-400:])
    c.close()


def main():
    tap = Tap()
    tap.run("udpprocs: a forked child's own UDP client: boundaries, MSG_TRUNC, EAGAIN, options, connect's "
            "filter and AF_UNSPEC", child_client)
    tap.run("udpprocs: the same client in a child that exec'd the program first (as a shell runs one)",
            child_client, "exec-client")
    tap.run("udpprocs: the client as the first command of a busybox sh pipeline, from a volume",
            in_shell_pipeline)
    tap.run("udpprocs: a child's own socket inherited by its child (a grandchild): both talk through it",
            grandchild)
    tap.run("udpprocs: a child's UDP server answered from outside, EADDRINUSE for a second bind, "
            "across a snapshot and resume", child_server)
    tap.run("udpprocs: pid 1's UDP socket shared with its child: both send, whichever reads answers",
            shared_socket)
    tap.run("udpprocs: pid 1's shared socket works on after its child is killed from outside",
            shared_child_killed)
    tap.run("udpprocs: a full receive queue in a child keeps datagrams in order and counts the rest "
            "as dropped", full_queue_drops_counted)
    tap.run("udpprocs: pid 1's TCP socket neither connected nor listening at a fork is not shared, "
            "its UDP socket is", unshared_tcp)
    tap.run("udpprocs: getaddrinfo in a forked child through the capsule's name server", lookup_in_child)
    tap.run("udpprocs: a child's UDP server moved live A -> B", migrated)
    tap.done()


main()
