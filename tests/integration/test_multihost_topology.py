"""test_multihost_topology.py: the multi-host test topology itself (no host daemon needed): bridge, host and client namespaces, routes, directory reachable, nothing left behind."""

from topolib import (CAPDIR, DIR_IP, Tap, Topology, check, check_eq, net_state,
                    run_tool, stop_all)


def links_and_directory():
    before = net_state()
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G", daemons=False).start()
    a, b, c, g = (topo[n] for n in "ABCG")
    check_eq([h.ip for h in (a, b, c, g)],
             ["198.19.0.1", "198.19.0.2", "198.19.0.3", "198.19.0.4"], "host addresses")
    for src in (a, b, c):                       # host to host over the bridge
        for dst in (a, b, c, g):
            if src is not dst:
                topo.wait_ping(src.netns, dst.ip, timeout=5)
    topo.wait_ping(topo.client, g.ip, timeout=5)
    _, routes, _ = topo.client.run(["ip", "-o", "route", "show"])
    check("198.18.0.0/16 via 198.19.0.4 dev eth0" in routes,
          "client's route for the capsule network via the gateway: %r" % routes)
    _, fwd, _ = g.run(["sysctl", "-n", "net.ipv4.ip_forward"])
    check_eq(fwd.strip(), "1", "ip_forward on the gateway host")
    _, fwd, _ = a.run(["sysctl", "-n", "net.ipv4.ip_forward"])
    check_eq(fwd.strip(), "0", "ip_forward on an ordinary host")
    # Nothing routes anywhere but the test network: no default route in any namespace.
    for ns in [h.netns for h in (a, b, c, g)] + [topo.client]:
        _, r, _ = ns.run(["ip", "-o", "route", "show", "table", "all"])
        check("default" not in r, "a default route in a test namespace: %r" % r)
    # The directory answers the observer, and a host's key works from inside its namespace.
    code, out, err = topo.capdir("list")
    check_eq((code, out, err), (0, "", ""), "capdir list on an empty directory")
    code, out, err = a.run([CAPDIR, "--dir", DIR_IP, "--host-id", "1", "--keys", topo.keys,
                            "hello", a.ip, "7471"])
    check_eq((code, out), (0, "hello 198.19.0.1:7471 ok\n"), "hello from host A's namespace (%s)" % err)
    check_eq(topo.lookup("198.18.0.2"), None, "lookup of an address nobody created")
    code, out, err = a.run([CAPDIR, "--dir", DIR_IP, "--host-id", "1", "--keys", topo.keys,
                            "create", "probe"])
    check_eq(out, "created probe 198.18.0.2 epoch 1\n", "create from host A (%s)" % err)
    check_eq(topo.lookup("198.18.0.2"), ("probe", 1, 1), "lookup as the observer")
    stop_all()
    check_eq(net_state(), before, "the test namespace after the topology was removed")
    check_eq(run_tool(["ip", "link", "show", "capsw"])[0] != 0, True, "bridge removed")


def main():
    tap = Tap()
    tap.run("multihost topology: bridge, 4 host namespaces + client, gateway route, directory, "
            "clean removal", links_and_directory)
    tap.done()


main()
