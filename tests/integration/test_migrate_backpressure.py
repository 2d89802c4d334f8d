"""test_migrate_backpressure.py: while a capsule migrates, an ordinary client sending to it on a non-blocking socket gets EAGAIN (a full socket), never loss: every line it managed to send is answered, in order, once the capsule runs on the target.

Topology: hosts A B G (G the gateway) + the ordinary client.  X =
images/counter on A (each "\\n" gets the next number; other bytes are
ignored), so 1 KiB "lines" make a real byte stream with few replies.  B's
caphostd runs with CAPSULE_MIG_FAULT=target-ignore-commit: the target waits
5 s before it starts the capsule (it pulls), which makes the pause long
enough that the client's socket fills for certain.  The client has a small
send buffer (8 KiB) so the point where the kernel says "full" is reached
soon after the gateway's hold buffer and the zero window stop the stream.
"""
import errno
import socket
import threading
import time

from miglib import (CountClient, Tap, Topology, check, check_eq, migrate, wait_one_copy)  # noqa: F401

LINE = b"x" * 1023 + b"\n"
PACE = 0.005     # one 1 KiB line per 5 ms when the socket has room: ~200 KiB/s


class Sender:
    """Non-blocking sender of LINEs; records each EAGAIN episode as (start, end)."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.setblocking(False)
        self.sent = 0                 # bytes accepted by the kernel
        self.episodes = []            # (t_start, t_end) of each run of EAGAIN
        self.pending = b""
        self.stopping = False
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        blocked_since = None
        try:
            while not self.stopping:
                if not self.pending:
                    self.pending = LINE
                try:
                    n = self.sock.send(self.pending)
                except BlockingIOError as e:
                    check(e.errno in (errno.EAGAIN, errno.EWOULDBLOCK), "send: %s" % e)
                    if blocked_since is None:
                        blocked_since = time.monotonic()
                    time.sleep(0.002)   # a non-blocking app would poll for POLLOUT here
                    continue
                if blocked_since is not None:
                    self.episodes.append((blocked_since, time.monotonic()))
                    blocked_since = None
                self.sent += n
                self.pending = self.pending[n:]
                if not self.pending:
                    time.sleep(PACE)
            if blocked_since is not None:
                self.episodes.append((blocked_since, time.monotonic()))
        except Exception as e:   # noqa: BLE001 (reported by the test)
            self.error = e


class Reader:
    """Reads the counter's answers; each must be the previous + 1."""

    def __init__(self, sock):
        self.sock = sock
        self.first = self.last = None
        self.count = 0
        self.error = None
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        buf = b""
        try:
            while True:
                try:
                    chunk = self.sock.recv(65536)
                except BlockingIOError:
                    time.sleep(0.002)
                    continue
                if not chunk:
                    raise OSError("connection closed after %d answers" % self.count)
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    n = int(line)
                    with self.cond:
                        if self.last is not None and n != self.last + 1:
                            raise OSError("answer %d after %d" % (n, self.last))
                        self.first = n if self.first is None else self.first
                        self.last = n
                        self.count += 1
                        self.cond.notify_all()
        except Exception as e:   # noqa: BLE001
            with self.cond:
                self.error = e
                self.cond.notify_all()

    def wait_count(self, n, timeout):
        with self.cond:
            self.cond.wait_for(lambda: self.count >= n or self.error, timeout)
            check(self.error is None, "reader: %s" % self.error)
            check(self.count >= n, "only %d of %d answers within %.0fs" % (self.count, n, timeout))


def backpressure_not_loss():
    topo = Topology(hosts=("A", "B", "G"), gateway="G",
                    daemon_env={"B": {"CAPSULE_MIG_FAULT": "target-ignore-commit"}}).start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("counter", name="x").start()

    def small_socket():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        s.settimeout(15)
        s.connect((x.addr, 9000))
        return s
    sock = topo.client.call(small_socket)
    reader = Reader(sock)
    sender = Sender(sock)
    reader.wait_count(50, 30)   # the stream runs: 50 lines answered before the move

    result = {}

    def do_migrate():
        result["json"] = migrate(topo, "x", a, b)
    t0 = time.monotonic()
    mt = threading.Thread(target=do_migrate, daemon=True)
    mt.start()
    mt.join(60)
    t1 = time.monotonic()
    check(not mt.is_alive(), "capctl migrate did not return within 60 s")
    check("json" in result, "the migration failed (see above)")
    j = result["json"]
    print("# migration: downtime %d ms, total %d ms" % (j["downtime_ms"], j["total_ms"]), flush=True)

    # Keep sending a little after the move, then stop and account for every byte.
    reader.wait_count(reader.count + 50, 30)
    sender.stopping = True
    sender.thread.join(10)
    check(sender.error is None, "sender: %r" % sender.error)
    during = [(s, e) for s, e in sender.episodes if e >= t0 and s <= t1]
    longest = max((e - s for s, e in during), default=0.0)
    print("# EAGAIN episodes during the migration: %d, longest %.2f s; bytes sent %d" % (
        len(during), longest, sender.sent), flush=True)
    check(during, "the sender never saw EAGAIN while the capsule was away "
          "(episodes %r, migration %.2f..%.2f)" % (sender.episodes[:5], t0, t1))
    check(longest >= 1.0, "the longest EAGAIN while the capsule was away lasted %.2f s; with "
          "a 5 s pause the socket must stay full for seconds" % longest)

    # Every line the kernel accepted is answered exactly once, in order.
    lines = sender.sent // len(LINE)
    reader.wait_count(lines, 60)
    check_eq((reader.first, reader.last, reader.count), (1, lines, lines),
             "answers (first, last, count) for %d lines sent" % lines)
    check(reader.error is None, "reader: %s" % reader.error)
    where = wait_one_copy(topo, [x])
    check("host B" in where[0], "the capsule runs at %r, want host B" % (where,))
    sock.close()


def main():
    tap = Tap()
    tap.run("migrate: a client sending during the move sees EAGAIN for seconds, then every "
            "line is answered in order (back-pressure, not loss)", backpressure_not_loss)
    tap.done()


main()
