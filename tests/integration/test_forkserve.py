"""test_forkserve.py: TCP sockets shared by a capsule's processes (docs/PROCESSES.md, section 4): a connection handed to a forked child that echoes it byte for byte (fork per connection), a listener inherited by pre-forked workers that each accept, both across a snapshot and resume with the connection open in a child; children's own sockets (connect out, a refused connect, a listener) asked of pid 1's stack; a listener and a connection handed over with SCM_RIGHTS; shutdown(SHUT_WR) acting on the connection for every process."""
import json
import os
import re
import threading

from caplib import (Host, Tap, check, check_eq, recv_all, recv_exact, recv_line, snapshot, tempdir)


def line(sock):
    return recv_line(sock).decode().rstrip("\n")

PERCONN_READY = r"forkserve: one process per connection on 9000"
PREFORK_READY = r"forkserve: 2 workers accept on 9000"


def echo_bulk(sock, data):
    """Send data while reading it back (the relay's rings are 64 KiB): what came back."""
    err = []

    def send():
        try:
            sock.sendall(data)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send)
    t.start()
    got = recv_exact(sock, len(data))
    t.join()
    check(not err, "sending: %r" % err)
    return got


def per_connection():
    host = Host()
    cap = host.capsule("forkserve", name="perconn", args=["perconn", "3"]).start(app_ready=PERCONN_READY)
    data = os.urandom(4 << 20)
    pids = []
    with host.connect(cap.addr, 9000) as a, host.connect(cap.addr, 9000) as b:
        pids.append(line(a))
        pids.append(line(b))
        check_eq(echo_bulk(a, data) == data, True, "4 MiB echoed byte for byte by the first child")
        b.sendall(b"a line through the second child\n")
        check_eq(recv_exact(b, 32), b"a line through the second child\n", "the second child's echo")
        a.shutdown(2)
        b.shutdown(1)
        check_eq(recv_all(b), b"", "end of file once the child saw ours")
    check_eq(sorted(pids), ["pid 2", "pid 3"], "each connection served by its own child")
    with host.connect(cap.addr, 9000) as c:
        check_eq(line(c), "pid 4", "the third connection's child")
        c.sendall(b"x" * 100000)
        c.shutdown(1)
        check_eq(recv_all(c), b"x" * 100000, "the third child's echo to the end")
    check_eq(cap.wait_exit(30), 0, "caprun's exit code: every child exited 0")
    check(cap.wait_for(r"served 3 connections, 0 children failed", 5), "pid 1's summary")


def reset_seen():
    """A client that resets its connection (SO_LINGER 0): the child serving it reads
    ECONNRESET, as on Linux, not a plain end of file."""
    import socket
    import struct
    host = Host()
    cap = host.capsule("forkserve", name="perconn-rst", args=["perconn", "1"]).start(app_ready=PERCONN_READY)
    a = host.connect(cap.addr, 9000)
    check_eq(line(a), "pid 2", "the child")
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    a.close()   # an RST
    check(cap.wait_for(r"^child 2: read: Connection reset by peer$", 10),
          "the child's read after the reset: %s" % cap.output_text()[-300:])
    check_eq(cap.wait_exit(30), 0, "caprun's exit code")


def prefork():
    host = Host()
    cap = host.capsule("forkserve", name="prefork", args=["prefork", "2"]).start(app_ready=PREFORK_READY)
    with host.connect(cap.addr, 9000) as a:
        a.sendall(b"first\n")
        first = line(a)
        m = re.fullmatch(r"worker (\d+): first", first)
        check(m, "a worker answered: %r" % first)
        with host.connect(cap.addr, 9000) as b:
            b.sendall(b"second\n")
            second = line(b)
            check_eq(second, "worker %d: second" % (5 - int(m.group(1))),
                     "the other worker took the second connection while the first is busy")
            b.sendall(b"quit\n")
            check_eq(line(b), "worker %d: quit" % (5 - int(m.group(1))), "the other worker quits")
        a.sendall(b"again\n")
        check_eq(line(a), "worker %s: again" % m.group(1), "the first connection still served")
        a.sendall(b"quit\n")
        check_eq(line(a), "worker %s: quit" % m.group(1), "the first worker quits")
    check_eq(cap.wait_exit(30), 0, "caprun's exit code")
    check(cap.wait_for(r"2 of 2 workers ended well", 5), "pid 1's summary")


def worker_killed():
    """A pre-forked worker killed from outside (kill -9) while it serves a connection: its
    client sees the connection end, and the other worker takes every new connection."""
    import signal
    host = Host()
    cap = host.capsule("forkserve", name="prefork-kill", args=["prefork", "2"]).start(app_ready=PREFORK_READY)
    code, out, err = host.capctl(["ps", "--tree", "--json"])
    check_eq(code, 0, "capctl ps --tree --json (stderr %r)" % err)
    host_pid = {p["pid"]: p["host_pid"] for p in json.loads(out)[0]["tree"]}
    check_eq(sorted(host_pid), [1, 2, 3], "the parent and two workers (capctl ps --tree)")
    a = host.connect(cap.addr, 9000)
    a.sendall(b"who\n")
    m = re.fullmatch(r"worker (\d+): who", line(a))
    check(m, "a worker answered")
    served_by = int(m.group(1))
    os.kill(host_pid[served_by], signal.SIGKILL)   # a process we started (caprun's child)
    check(cap.wait_for(r"process %d \(host pid %d\) killed from outside by signal SIGKILL" %
                       (served_by, host_pid[served_by]), 10), "caprun reports the killed worker")
    a.settimeout(10)
    check_eq(recv_all(a), b"", "the killed worker's connection ends")
    a.close()
    other = 5 - served_by
    for i in range(3):
        with host.connect(cap.addr, 9000) as b:
            b.sendall(b"after %d\n" % i)
            check_eq(line(b), "worker %d: after %d" % (other, i), "a new connection, to the other worker")
    with host.connect(cap.addr, 9000) as b:
        b.sendall(b"quit\n")
        check_eq(line(b), "worker %d: quit" % other, "the other worker quits")
    check_eq(cap.wait_exit(30), 1, "caprun's exit code: one worker did not end well")
    check(cap.wait_for(r"1 of 2 workers ended well", 5), "pid 1's summary")


def across_snapshot():
    host, d = Host(), tempdir()
    cap = host.capsule("forkserve", name="perconn-snap", args=["perconn", "2"]).start(app_ready=PERCONN_READY)
    a = host.connect(cap.addr, 9000)
    check_eq(line(a), "pid 2", "the first child")
    a.sendall(b"before the snapshot\n")
    check_eq(recv_exact(a, 20), b"before the snapshot\n", "echo before")
    path = os.path.join(d, "perconn.snap")
    snapshot(host, cap, path)
    code, out, err = host.capctl(["inspect", path])
    check(code == 0 and re.search(r"tcp-relay\s+LISTEN", out) and
          re.search(r"\n  -\s+tcp\s+ESTABLISHED", out), "capctl inspect: pid 1's shared listener and the "
          "stack's connection it relays for its child (%r %r)" % (out[-1500:], err))
    again = host.resume(path, plain=True)
    data = os.urandom(1 << 20)
    check_eq(echo_bulk(a, data) == data, True, "1 MiB echoed by the child after the resume")
    with host.connect(again.addr, 9000) as b:
        check_eq(line(b), "pid 3", "a new connection's child after the resume")
        b.shutdown(1)
        check_eq(recv_all(b), b"", "its end")
    a.shutdown(1)
    check_eq(recv_all(a), b"", "the first connection's end")
    a.close()
    check_eq(again.wait_exit(30), 0, "caprun's exit code after the resume")


def children_make_sockets():
    """Children's own sockets, asked of pid 1's stack: a blocking connect out, a non-blocking
    connect to a closed port (EINPROGRESS, then ECONNREFUSED by SO_ERROR), and a listener."""
    import socket
    host = Host()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 7000))
    srv.listen(1)
    srv.settimeout(30)
    cap = host.capsule("forkserve", name="dial", args=["dial", "198.18.0.1", "7000"]).start()
    c, peer = srv.accept()
    with c:
        check_eq(peer[0], cap.addr, "the child's connection comes from the capsule's address")
        check_eq(c.makefile().readline(), "child 2 dials from port nonzero\n", "what the child sent")
        c.sendall(b"hello, child\n")
    srv.close()
    check(cap.wait_for(r"child 4 listens on 9001", 30), "the third child listens: %s" % cap.output_text()[-400:])
    with host.connect(cap.addr, 9001) as t:
        t.sendall(b"knock knock\n")
        check_eq(line(t), "child 4 heard: knock knock", "the listening child's answer")
    check_eq(cap.wait_exit(30), 0, "caprun's exit code")
    out = [l for l in cap.output_text().splitlines() if l.startswith("child")]
    check_eq(out, ["child 2 read: hello, child", "child 2 exited with 0",
                   "child 3: non-blocking connect: in progress", "child 3: then: Connection refused",
                   "child 3 exited with 0", "child 4 listens on 9001", "child 4 exited with 0"],
             "the children's lines")


def handoff():
    """SCM_RIGHTS of TCP sockets: pid 1 hands its child a listener it made after the fork, and a
    connection it accepted itself; the child serves both, pid 1 having closed its copies."""
    host = Host()
    cap = host.capsule("forkserve", name="handoff", args=["handoff"]).start(
        app_ready=r"forkserve: handing over on 9000 and 9001")
    check(cap.wait_for(r"child 2: got a listener", 10), "the child received the listener")
    with host.connect(cap.addr, 9000) as a:
        a.sendall(b"one\n")
        check_eq(line(a), "child 2 from the passed listener: one", "accepted by the child")
    with host.connect(cap.addr, 9001) as b:
        b.sendall(b"two\n")
        check_eq(line(b), "child 2 on a passed connection: two", "accepted by pid 1, served by the child")
    check_eq(cap.wait_exit(30), 0, "caprun's exit code")
    check(cap.wait_for(r"child exited with 0", 5), "pid 1 reaped the child")


def inetd():
    """As inetd: a forked child puts the connection on its stdin and stdout and execs the
    program again, which answers through them (the relayed connection crosses the execve)."""
    host = Host()
    cap = host.capsule("forkserve", name="inetd", args=["inetd"]).start(app_ready=r"forkserve: inetd on 9000")
    with host.connect(cap.addr, 9000) as a:
        a.sendall(b"hello service\n")
        check_eq(recv_all(a), b"exec'd pid 2 read: hello service\n", "the exec'd service's answer, then its end")
    check_eq(cap.wait_exit(30), 0, "caprun's exit code")
    check(cap.wait_for(r"service exited with 0", 5), "pid 1 reaped the service")


def shut_write():
    """shutdown(SHUT_WR) in a child acts on the connection, not on its descriptor (as on Linux,
    checked there by hand with the same program): the client reads end of file while pid 1
    still holds its copy open, every process's write then fails with EPIPE, and reading goes on."""
    host = Host()
    cap = host.capsule("forkserve", name="shutwr", args=["shutwr"]).start(app_ready=r"forkserve: shutwr on 9000")
    with host.connect(cap.addr, 9000) as a:
        a.settimeout(20)   # without the shared shutdown the end of file never comes
        check_eq(recv_all(a), b"hello from the child\n", "the child's line, then end of file")
        a.sendall(b"bye\n")
        check_eq(cap.wait_exit(30), 0, "caprun's exit code")
    for want in ("child's write after its shutdown: Broken pipe",
                 "parent's write after the child's shutdown: Broken pipe",
                 "child read: bye",
                 "child exited with 0; parent closes its copy"):
        check(cap.wait_for("^%s$" % re.escape(want), 5), "the line %r: %s" % (want, cap.output_text()[-400:]))


def main():
    tap = Tap()
    tap.run("forkserve: fork per connection: each child echoes its connection byte for byte, "
            "the parent closed its copy", per_connection)
    tap.run("forkserve: a client's reset reaches the child as ECONNRESET", reset_seen)
    tap.run("forkserve: pre-forked workers accept from one inherited listener", prefork)
    tap.run("forkserve: a worker killed from outside: its connection ends, the other worker takes "
            "the new ones", worker_killed)
    tap.run("forkserve: a connection served by a child continues across a snapshot and resume",
            across_snapshot)
    tap.run("forkserve: children make sockets of their own through pid 1: connect out, a refused "
            "non-blocking connect, a listener", children_make_sockets)
    tap.run("forkserve: a listener and an accepted connection handed to a child with SCM_RIGHTS",
            handoff)
    tap.run("forkserve: inetd-style, a connection on a child's stdin and stdout across execve", inetd)
    tap.run("forkserve: a child's shutdown(SHUT_WR) ends the connection's sending while pid 1 "
            "holds its copy, as on Linux", shut_write)
    tap.done()


main()
