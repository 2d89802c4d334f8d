"""test_hostd_restart.py: daemons die under running capsules: a host's caphostd (kill -9, restarted) and the capsule attaches again, the gateway's, the directory's (nothing waits for it; an outsider's packets to unused addresses are cached negatively and rate-limited per source).

Topology: hosts A G (ids 1-2, G the gateway) + the ordinary client.
X = images/counter on A; a client asks for the next number in a loop on one
connection throughout and checks each answer is the previous + 1.  Daemons
are killed with SIGKILL and restarted with the same arguments and run
directory, as a supervisor would.
"""
import random
import socket
import time

from miglib import (CountClient, Tap, Topology, caprun_pids, check, check_eq, daemon_stats,
                    ipv4_udp, wait_one_place)


def diag(text):
    print("# " + text, flush=True)


def start():
    topo = Topology(hosts=("A", "G"), gateway="G").start()
    x = topo["A"].capsule("counter", name="x").start()
    client = CountClient(topo.client.connect(x.addr, 9000))
    client.more(30, 20)
    return topo, x, client


def host_daemon_killed():
    topo, x, client = start()
    a = topo["A"]
    mark = len(x.lines)
    a.kill_daemon()
    check(x.proc.poll() is None, "X's caprun died with its caphostd: %s" % x.output_text()[-300:])
    check(x.wait_for(r"caphostd closed the uplink", 10, mark),
          "caprun did not notice its caphostd died: %s" % x.output_text()[-300:])
    a.restart_daemon()
    check(x.wait_for(r"capsule x: attached again to caphostd", 15, mark),
          "caprun did not attach to the new caphostd: %s" % x.output_text()[-300:])
    client.more(50, 30)
    check_eq(topo.lookup(x.addr), ("x", 1, 1), "directory entry of X (unchanged)")
    check_eq(wait_one_place(topo, x), a, "where X runs")
    check_eq(daemon_stats(a)["reattached"], 1, "reattached counter of the new caphostd")
    n = client.stop()
    diag("count continued to %d; longest wait for an answer %.0f ms" % (n, client.longest * 1000))
    # The new daemon owns it fully: when it exits, its address goes back to the directory.
    x.stop()
    deadline = time.monotonic() + 15
    while topo.lookup(x.addr) is not None:
        check(time.monotonic() < deadline, "X's entry still in the directory after it stopped")
        time.sleep(0.1)   # bounded poll: the release is asynchronous


def gateway_daemon_killed():
    topo, x, client = start()
    g = topo["G"]
    g.kill_daemon()
    g.restart_daemon()
    client.more(50, 60)   # the client's TCP retransmits until the gateway is back
    check_eq(wait_one_place(topo, x), topo["A"], "where X runs")
    n = client.stop()
    diag("count continued to %d; longest wait for an answer %.0f ms" % (n, client.longest * 1000))


def flood(topo, seconds, rate=400):
    """UDP from the client to random unused capsule addresses (through the gateway) for
    seconds; returns how many were sent."""
    def body():
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        sent, rnd = 0, random.Random(7)
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                dst = "198.18.%d.%d" % (rnd.randrange(100, 250), rnd.randrange(2, 250))
                s.sendto(ipv4_udp("198.19.0.100", dst, 40000, 9, b"probe"), (dst, 0))
                sent += 1
                time.sleep(1.0 / rate)   # pacing: a steady stream of strangers, not a burst
        finally:
            s.close()
        return sent
    return topo.client.call(body)


def directory_killed_and_flooded():
    topo, x, client = start()
    g = topo["G"]
    # With the directory up: every address is unknown; only the budget lets lookups through.
    before = daemon_stats(g)
    t0 = time.monotonic()
    sent = flood(topo, 5)
    took = time.monotonic() - t0
    after = daemon_stats(g)
    lookups = after["dir_lookups"] - before["dir_lookups"]
    limited = after["dir_lookup_rate_limited"] - before["dir_lookup_rate_limited"]
    diag("directory up: %d packets to unused addresses in %.1f s: %d lookups, %d rate-limited, "
         "%d negative-cache hits" % (sent, took, lookups, limited,
                                     after["dir_lookup_neg_hits"] - before["dir_lookup_neg_hits"]))
    check(sent >= 1000, "the flood sent only %d packets" % sent)
    check(lookups <= 40 + 20 * (took + 1), "%d directory lookups for %d packets from one source "
          "in %.1f s (budget: 40 + 20/s)" % (lookups, sent, took))
    check(limited > 0, "no lookup was refused by the per-source budget")
    client.more(30, 10)

    # The directory dies: packets still flow; lookups wait in jobs, never in the loop.
    topo.kill_directory()
    client.longest = 0.0
    sent = flood(topo, 5)
    client.more(100, 20)
    check(client.longest < 3.0, "a client answer took %.1f s while the directory was down "
          "and strangers needed lookups: the packet loop waited" % client.longest)
    st = daemon_stats(g)
    diag("directory down: %d more packets; longest wait for an answer %.0f ms; lookups busy %d, "
         "rate-limited %d" % (sent, client.longest * 1000, st["dir_lookup_busy"],
                              st["dir_lookup_rate_limited"]))
    topo.restart_directory()
    client.more(30, 20)
    n = client.stop()
    check_eq(wait_one_place(topo, x), topo["A"], "where X runs")
    diag("count continued to %d" % n)


def main():
    tap = Tap()
    tap.run("caphostd killed under a running capsule: it keeps running, attaches again to the "
            "restarted daemon, the count continues, the directory entry is unchanged",
            host_daemon_killed)
    tap.run("the gateway's caphostd killed while a capsule runs: after its restart the client's "
            "connection continues, the count goes on", gateway_daemon_killed)
    tap.run("the directory killed while capsules run and strangers send to unused addresses: "
            "packets keep flowing, lookups are budgeted per source and never stall the loop",
            directory_killed_and_flooded)
    tap.done()


main()
