"""test_resume_nudge.py: after a resume, a Linux client backed off by the pause sends again at once (lp_kick_tcp's duplicate ACKs and RFC 6069 ICMPs): snapshot + `caprun FILE` with the client's request lost three retransmissions deep, snapshot cycles under a busy client, and live migrations through a gateway; each bounds the client's longest wait by the pause plus 600 ms and prints the figures."""
import os
import time

from caplib import Host, Tap, check, next_count, recv_line, snapshot, tempdir
from remotelib import client_backoff, remote_client
from miglib import CountClient, Topology, migrate

# The bound over the pause: a loaded 2-core machine stays far inside it, while a client
# left in Linux's back-off (200 ms doubled per lost retransmission) waits 0.8-1.6 s more.
SLACK = 0.6
BACKOFF = 3   # Linux back-off steps the first case waits for: the next timer would be 1.6 s away


def diag(text):
    print("# " + text, flush=True)


def wait_backoff(ns, local_port, at_least, timeout=20.0):
    """Bounded poll until the client's kernel has backed off at_least times."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = client_backoff(ns, local_port)
        if b >= at_least:
            return b
        time.sleep(0.02)   # polling a kernel counter, not waiting for a server
    check(False, "the client never backed off %d times (ss shows %d)" % (
        at_least, client_backoff(ns, local_port)))


def lost_request_backed_off():
    """The request is sent while no caprun runs (certainly lost); the client backs off
    BACKOFF times; `caprun FILE` resumes; the answer must come within SLACK of 'running'."""
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="nudge").start()
    ns = remote_client(cap.addr)
    s = ns.connect(cap.addr, 9000, timeout=30)
    n = next_count(s)
    path = os.path.join(d, "nudge.snap")
    snapshot(host, cap, path)   # stops the capsule: nothing answers until the resume
    t_sent = time.monotonic()
    s.sendall(b"n\n")
    backoff = wait_backoff(ns, s.getsockname()[1], BACKOFF)
    t0 = time.monotonic()
    cap = host.resume(path, plain=True)
    t_running = time.monotonic()
    reply = recv_line(s).decode().strip()
    t_reply = time.monotonic()
    check(reply == str(n + 1), "counter answered %r after %d" % (reply, n))
    late = t_reply - t_running
    diag("request lost with the capsule on disk: client backed off %d times, capsule down "
         "%.0f ms from the request to 'running' (resume %.0f ms), answer %.0f ms after "
         "'running' (wait %.0f ms)" % (backoff, (t_running - t_sent) * 1000,
                                       (t_running - t0) * 1000, late * 1000,
                                       (t_reply - t_sent) * 1000))
    check(late < SLACK, "the answer came %.0f ms after the capsule ran again (bound %.0f ms): "
          "the client stayed in its back-off" % (late * 1000, SLACK * 1000))
    check(next_count(s) == n + 2, "the connection goes on")
    s.close()


def busy_client_snapshots():
    """A client asking as fast as answers come, through three snapshot + resume cycles: its
    longest wait per cycle stays within SLACK of the pause (capctl's start to 'running')."""
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="busy").start()
    client = CountClient(remote_client(cap.addr).connect(cap.addr, 9000, timeout=30), rate=0)
    client.more(50, 30)
    rows = []
    for i in range(3):
        with client.cond:
            client.longest = 0.0
        path = os.path.join(d, "busy%d.snap" % i)
        t0 = time.monotonic()
        snapshot(host, cap, path)
        cap = host.resume(path)
        paused = time.monotonic() - t0
        client.more(50, 30)
        rows.append((paused, client.longest))
        os.unlink(path)
    client.stop()
    diag("snapshot cycles, pause / client's longest wait (ms): " + ", ".join(
        "%.0f / %.0f" % (p * 1000, g * 1000) for p, g in rows))
    for p, g in rows:
        check(g < p + SLACK, "client waited %.0f ms across a %.0f ms pause" % (g * 1000, p * 1000))


def migrations_through_gateway():
    """An ordinary client (through the gateway) asking as fast as answers come while the
    capsule moves A -> B -> A: its longest wait stays within SLACK of the downtime."""
    topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("counter", name="x").start()
    client = CountClient(topo.client.connect(x.addr, 9000), rate=0)
    client.more(50, 30)
    rows = []
    for src, dst in ((a, b), (b, a)):
        with client.cond:
            client.longest = 0.0
        j = migrate(topo, "x", src, dst)
        client.more(50, 30)
        rows.append((j["downtime_ms"] / 1000.0, client.longest))
    client.stop()
    diag("migrations, downtime / client's longest wait (ms): " + ", ".join(
        "%.0f / %.0f" % (p * 1000, g * 1000) for p, g in rows))
    for p, g in rows:
        check(g < p + SLACK, "client waited %.0f ms across a %.0f ms downtime" % (
            g * 1000, p * 1000))


if __name__ == "__main__":
    tap = Tap()
    tap.run("a request lost while on disk is answered at once after caprun FILE",
            lost_request_backed_off)
    tap.run("a busy client's longest wait across snapshots is the pause", busy_client_snapshots)
    tap.run("an ordinary client's longest wait across migrations is the downtime",
            migrations_through_gateway)
    tap.done()
