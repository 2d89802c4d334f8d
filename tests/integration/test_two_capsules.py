"""test_two_capsules.py: two capsules at once, each with its own IP, both reachable; no host listener on their ports."""
import re

from caplib import Capsule, Tap, check, check_eq, connect, recv_exact, run_tool, need_capsule_host

IP_A, IP_B = "198.18.0.2", "198.18.0.3"


def get(ip):
    code, out, err = run_tool(["curl", "-sS", "--max-time", "10", "http://%s/" % ip])
    check_eq(code, 0, "curl http://%s/ exit code (stderr %r)" % (ip, err))
    return out


def two_at_once():
    a = Capsule("http", ip=IP_A, name="web-a").start()
    b = Capsule("http", ip=IP_B, name="web-b").start()
    check_eq((a.addr, b.addr), (IP_A, IP_B), "addresses the capsules report")
    check_eq(get(IP_A), "Hello from capsule %s: 1 requests served so far\n" % IP_A, "capsule A")
    check_eq(get(IP_B), "Hello from capsule %s: 1 requests served so far\n" % IP_B, "capsule B")
    check_eq(get(IP_A), "Hello from capsule %s: 2 requests served so far\n" % IP_A, "capsule A again")
    # Stopping one leaves the other serving.
    a.stop()
    check_eq(get(IP_B), "Hello from capsule %s: 2 requests served so far\n" % IP_B,
             "capsule B after A stopped")


def no_host_listener():
    caps = [Capsule("echo", ip="198.18.0.2", name="echo"),
            Capsule("udpecho", ip="198.18.0.3", name="udpecho"),
            Capsule("counter", ip="198.18.0.4", name="counter"),
            Capsule("http", ip="198.18.0.5", name="http")]
    for c in caps:
        c.start()
    with connect(caps[0].addr, 7) as s:   # the services are really up
        s.sendall(b"up?\n")
        check_eq(recv_exact(s, 4), b"up?\n", "echo reply")
    code, out, err = run_tool(["ss", "-H", "-l", "-n", "-t", "-u"])
    check_eq(code, 0, "ss exit code (stderr %r)" % err)
    ports = {7, 80, 9000}
    bad = [l for l in out.splitlines()
           if re.search(r":(\d+)\s", l) and int(re.search(r":(\d+)\s", l).group(1)) in ports]
    check(not bad, "host sockets listening on capsule ports: %s" % bad)


def main():
    tap = Tap()
    if not need_capsule_host(tap, "two capsules: different IPs, both reachable"):
        tap.run("two capsules: different IPs, both reachable", two_at_once)
    if not need_capsule_host(tap, "ss: no host listener on the capsules' ports"):
        tap.run("ss: no host listener on the capsules' ports", no_host_listener)
    tap.done()


main()
