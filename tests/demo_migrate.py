"""demo_migrate.py: `make demo-migrate`: a counter capsule moves live between two hosts and back while an ordinary client keeps asking it for the next number.

Three hosts (A, B and the gateway G) are network namespaces on one bridge,
each with its own caphostd; capdird is the directory; the client is a
fourth namespace that reaches capsules through G.  Everything lives inside
the namespace `make demo-migrate` runs in (unshare -n) and is removed at
the end.  Read docs/MIGRATION-WALKTHROUGH.md alongside.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "integration"))
from miglib import CountClient, Topology, stop_all  # noqa: E402


def say(text=""):
    print(text, flush=True)


def show(host, args):
    code, out, err = host.capctl(args)
    say("$ capctl %s        (on host %s)" % (" ".join(args), host.name))
    for line in (out + err).rstrip("\n").splitlines():
        say("  " + line)
    return code


def main():
    try:
        topo = Topology(hosts=("A", "B", "G"), gateway="G").start()
        a, b = topo["A"], topo["B"]
        say("hosts: A = 198.19.0.1 (id 1), B = 198.19.0.2 (id 2), G = 198.19.0.3 (gateway, id 3); "
            "directory at 198.19.0.254; client at 198.19.0.100")
        web = a.capsule("counter", name="web").start()
        say("capsule web (images/counter) runs on host A at %s" % web.addr)
        client = CountClient(topo.client.connect(web.addr, 9000), rate=0.01)
        client.more(20, 30)
        say("the client asks for the next number every 10 ms; it got up to %d" % client.last)
        say()
        show(a, ["migrate", "web", "--to", "2"])
        client.more(20, 30)
        say("the client's numbers went on without a gap: now %d (longest wait %.1f ms)" % (
            client.last, client.longest * 1000))
        say()
        show(b, ["ps"])
        show(a, ["ps", "--all"])
        say()
        show(b, ["migrate", "web", "--to", "1", "--json"])
        client.more(20, 30)
        last = client.stop()
        say()
        say("back on host A; the same TCP connection answered %d after %d answers: "
            "nothing lost, nothing twice" % (last, client.replies))
    finally:
        stop_all()


main()
