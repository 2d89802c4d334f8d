"""talker.py: the benchmarks' client: pings a capsule as fast as replies come and keeps the longest wait (snapbench, migbench, downbench); and where a move froze the capsule, from the hosts' CAPSULE_TRACE marks, to tell the wait across the freeze from the waits while pre-copy rounds ran."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from caplib import request  # noqa: E402


class Talker:
    """One client pinging as fast as replies come; remembers the longest wait for a reply."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(None)
        self.stop = threading.Event()
        self.replies = 0
        self.longest = 0.0
        self.pings = []   # (sent, answered), CLOCK_MONOTONIC ms, since reset_longest
        self.error = None
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            while not self.stop.is_set():
                t0 = time.monotonic()
                request(self.sock, "ping")
                dt = time.monotonic() - t0
                with self.cond:
                    self.longest = max(self.longest, dt)
                    self.pings.append((t0 * 1000, (t0 + dt) * 1000))
                    self.replies += 1
                    self.cond.notify_all()
        except Exception as e:
            self.error = e
            with self.cond:
                self.cond.notify_all()

    def wait_replies(self, more):
        with self.cond:
            want = self.replies + more
            self.cond.wait_for(lambda: self.replies >= want or self.error, 120)
        if self.error:
            raise RuntimeError("talker: %r" % self.error)

    def reset_longest(self):
        with self.cond:
            self.longest = 0.0
            self.pings = []

    def longest_across(self, start_ms, end_ms):
        """The longest wait of a ping outstanding at some moment of [start_ms, end_ms]
        (CLOCK_MONOTONIC ms, as time.monotonic() and CAPSULE_TRACE both are)."""
        with self.cond:
            return max([b - a for a, b in self.pings if a <= end_ms and b >= start_ms] or [0.0])

    def close(self):
        self.stop.set()
        self.thread.join(10)
        if self.thread.is_alive():   # stuck on a capsule that is gone: unblock it
            self.sock.shutdown(socket.SHUT_RDWR)
            self.thread.join(10)
        self.sock.close()


def freeze_window(trace_path):
    """(start, end) in ms of the last move in a CAPSULE_TRACE file: the source's "src
    sync-start" (its peers are told to hold their packets: from here on the capsule
    answers nobody) to the moved capsule's "ready" on the target; None if not found.
    The hosts of a topology share the machine's monotonic clock with the client."""
    start = end = None
    try:
        with open(trace_path) as f:
            marks = [line.split(None, 2) for line in f]
    except OSError:
        return None
    for m in marks:
        if len(m) == 3 and m[2].strip() == "src sync-start":
            start, end = float(m[0]), None
        elif len(m) == 3 and m[2].strip() == "ready" and start is not None and end is None and \
                float(m[0]) >= start:
            end = float(m[0])
    return (start, end) if start is not None and end is not None else None
