"""test_spoof.py: the host drops and counts packets a capsule sends with a source address not its own."""
import json
import socket

from caplib import Host, Tap, check, check_eq, need_capsule_host


def forged_dropped_and_counted():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 5555))
    rx.settimeout(5)
    host = Host()
    cap = host.capsule("spoof")
    try:
        cap.start(app_ready=r"spoof: done")
        got = set()
        while len(got) < 2:   # the two genuine datagrams; forged ones never arrive
            data, (addr, _) = rx.recvfrom(2048)
            check_eq(addr, cap.addr, "source of a datagram that arrived (%r)" % data)
            got.add(data)
        check_eq(got, {b"raw-genuine", b"genuine"}, "datagrams that reached the host")
        rx.settimeout(0.2)
        try:
            extra = rx.recvfrom(2048)
            raise AssertionError("unexpected datagram %r" % (extra,))
        except socket.timeout:
            pass
        code, out, err = host.capctl(["stats", "--json", cap.name])
        check_eq(code, 0, "capctl stats exit (%s)" % err.strip())
        stats = json.loads(out)
        check_eq(stats["drop_spoofed"], 3, "packets refused for a forged source")
        check_eq(stats["drop_malformed"], 1, "packets refused as not IPv4")
        check(stats["packets_out"] >= 2, "genuine packets counted: %r" % stats)
    finally:
        cap.stop()
        rx.close()


def main():
    tap = Tap()
    name = "spoof: forged source addresses are dropped and counted by the host"
    if not need_capsule_host(tap, name):
        tap.run(name, forged_dropped_and_counted)
    tap.done()


main()
