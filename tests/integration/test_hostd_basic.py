"""test_hostd_basic.py: two hosts + directory: capsules attach to caphostd (no TUN of their own), X on A relays to Y on B across hosts byte-exact, an ordinary client goes through the gateway; clean daemon exit."""
import os
import re

from topolib import (Tap, Topology, check, check_eq, daemon_ctl, daemon_stats,
                    recv_exact)

Y_IP = "198.18.0.30"


def two_hosts():
    topo = Topology(hosts=("A", "B"), gateway="A", client=True).start()
    a, b = topo["A"], topo["B"]
    y = b.capsule("echo", ip=Y_IP, name="y").start()
    x = a.capsule("relayer", name="x", args=("9000", Y_IP, "7")).start()
    check_eq(y.addr, Y_IP, "Y got the address it asked for")
    check(x.addr.startswith("198.18.0."), "X got an address from the directory: %s" % x.addr)
    check_eq((a.tun_devices(), b.tun_devices()), ([], []), "attached capsules make no TUN devices")
    check_eq(topo.lookup(Y_IP)[:2], ("y", 2), "directory: Y on host 2")
    check_eq(topo.lookup(x.addr)[:2], ("x", 1), "directory: X on host 1")

    # An ordinary client -> gateway A -> X (local on A) -> X's own connection to Y on host B.
    s = topo.client.connect(x.addr, 9000)
    data = bytes((i * 7 + 3) & 0xff for i in range(200000))
    s.sendall(data)
    got = recv_exact(s, len(data))
    check(got == data, "echo through X (host A) and Y (host B): %d bytes, first difference at %s" % (
        len(got), next((i for i in range(len(got)) if got[i] != data[i]), None)))
    for i in range(20):
        line = ("line %d\n" % i).encode()
        s.sendall(line)
        check_eq(recv_exact(s, len(line)), line, "line %d" % i)
    s.close()

    sa, sb = daemon_stats(a), daemon_stats(b)
    check(sa["data_out"] > 0 and sb["data_in"] > 0, "A wrapped packets to B: %r / %r" % (
        sa["data_out"], sb["data_in"]))
    check(sa["gw_in"] > 0 and sa["gw_out"] > 0, "gateway A carried the client's traffic")
    for s_ in (sa, sb):
        check_eq((s_["wire_bad_tag"], s_["wire_replay"], s_["up_spoofed"]), (0, 0, 0),
                 "no forged, replayed or spoofed packets")
    ps = daemon_ctl(b, "ps")
    check(ps is not None and re.search(r"\by,%s,running,1\b" % re.escape(Y_IP), ps),
          "caphostd ps on B: %r" % ps)

    # A capsule that exits gives its address back to the directory.
    y.stop()
    x.stop()
    check_eq(topo.lookup(Y_IP), None, "directory: Y released after it stopped")

    # SIGTERM: the daemons remove their sockets, capgw and its route.
    for h in (a, b):
        check_eq(h.daemon.stop(), 0, "caphostd on %s exit status" % h.name)
        for f in ("caphostd.sock", "caphostd.ctl"):
            check(not os.path.exists(os.path.join(h.run_dir, f)), "%s left on %s" % (f, h.name))
    _, links, _ = a.run(["ip", "-o", "link", "show"])
    check("capgw" not in links, "capgw still there after caphostd stopped: %s" % links)
    _, routes, _ = a.run(["ip", "route", "show"])
    check("198.18.0.0/16" not in routes, "capsule route left on A: %s" % routes)


def bad_flags():
    from topolib import CAPHOSTD, run_tool
    cases = [
        ([], "required"),
        (["--host-id", "0", "--listen", "198.19.0.1", "--dir", "198.19.0.254", "--keys", "/x"],
         "--host-id 0"),
        (["--host-id", "1", "--listen", "nowhere", "--dir", "198.19.0.254", "--keys", "/x"],
         "--listen nowhere"),
        (["--host-id", "1", "--listen", "198.19.0.1", "--dir", "198.19.0.254", "--keys",
          "/nonexistent/keys"], "--keys /nonexistent/keys"),
        (["--host-id", "1", "--listen", "198.19.0.1", "--dir", "198.19.0.254", "--keys", "/x",
          "--network", "10.0.0.0/8"], "198.18.0.0/15"),
    ]
    for argv, want in cases:
        code, out, err = run_tool([CAPHOSTD] + argv)
        check(code != 0, "caphostd %s: exit 0" % " ".join(argv))
        lines = err.strip().splitlines()
        check(len(lines) == 1 and want in lines[0] or (not argv and "usage" in err),
              "caphostd %s: stderr %r (want one line naming %r)" % (" ".join(argv), err, want))


def main():
    tap = Tap()
    name = "caphostd: capsule X on host A reaches Y on host B and a client via the gateway"
    tap.run(name, two_hosts)
    tap.run("caphostd: bad flags and files give one-line errors", bad_flags)
    tap.done()


main()
