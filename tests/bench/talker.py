"""talker.py: the benchmarks' client: pings a capsule as fast as replies come and keeps the longest wait (snapbench, migbench)."""
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

    def close(self):
        self.stop.set()
        self.thread.join(10)
        if self.thread.is_alive():   # stuck on a capsule that is gone: unblock it
            self.sock.shutdown(socket.SHUT_RDWR)
            self.thread.join(10)
        self.sock.close()
