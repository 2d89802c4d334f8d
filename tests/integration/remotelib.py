"""remotelib.py: a Linux client in a namespace of its own behind a veth, whose packets to a capsule are lost while no caprun serves it (as from another machine), and its socket's back-off."""
import re

from caplib import Netns, check, run_tool


def _sh(argv):
    code, out, err = run_tool(argv)
    check(code == 0, "%s: exit %d, %s" % (" ".join(argv), code, err.strip()))


_clients = 0   # veth names used so far


def remote_client(capsule_ip):
    """A Linux client in a namespace of its own behind a veth (198.19.99.2 -> this namespace,
    198.19.99.1, which forwards to the capsules' TUN devices), so its packets leave its
    kernel and are lost on the way, as on another machine, while no caprun serves the
    capsule: a blackhole route under caprun's /32 drops them without the ICMP error the
    'unreachable' route would send back (which by itself undoes Linux's back-off)."""
    global _clients
    _clients += 1
    ns, here = Netns(), "nudge%d" % _clients   # a dead namespace's veth may linger a moment
    _sh(["ip", "link", "add", here, "type", "veth", "peer", "name", "nudge", "netns",
        str(ns.proc.pid)])
    _sh(["ip", "addr", "add", "198.19.99.1/24", "dev", here])
    _sh(["ip", "link", "set", here, "up"])
    _sh(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
    _sh(["ip", "route", "replace", "blackhole", capsule_ip + "/32", "metric", "4000"])
    for argv in (["ip", "addr", "add", "198.19.99.2/24", "dev", "nudge"],
                 ["ip", "link", "set", "nudge", "up"],
                 ["ip", "route", "add", "198.18.0.0/15", "via", "198.19.99.1"]):
        _sh(ns.prefix + argv)
    return ns


def client_backoff(ns, local_port):
    """The client socket's retransmission back-off count (ss -ti in its namespace), 0 if none."""
    _, out, _ = ns.run(["ss", "-tinH", "sport", "= :%d" % local_port])
    m = re.search(r"\bbackoff:(\d+)", out)
    return int(m.group(1)) if m else 0
