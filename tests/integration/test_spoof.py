"""test_spoof.py: the host drops and counts packets a capsule sends with a source address not its own (on its own TUN device, where the kernel's filter stops them, and through caprun's relay), and channel records out of turn (empty, short, an unasked FROZEN, the host's own types); the channel and snapshots go on."""
import json
import os
import socket
import subprocess

from caplib import Host, Tap, check, check_eq, need_capsule_host, snapshot, tempdir


def forged_dropped_and_counted(path):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 5555))
    rx.settimeout(5)
    host = Host()
    if path == "relay":
        host.env["CAPRUN_RELAY_PACKETS"] = "1"   # caprun moves (and checks) every packet
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
        check_eq(stats["packet_path"], path, "who moved the capsule's packets")
        # Nothing was sent to it, and the kernel sends nothing of its own on the device:
        # it has no IPv6 address (no router solicitation, no MLD report).
        check_eq(stats["packets_in"], 0, "packets that reached the capsule")
        check_eq(subprocess.run(["ip", "-6", "-o", "addr", "show", "dev", "cap-" + cap.name],
                                capture_output=True, text=True, check=True).stdout, "",
                 "IPv6 addresses of the capsule's device")
    finally:
        cap.stop()
        rx.close()


def records_out_of_turn():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("0.0.0.0", 5555))
    rx.settimeout(5)
    host = Host()
    cap = host.capsule("spoof", args=["records"])
    try:
        cap.start(app_ready=r"spoof: records done")
        data, (addr, _) = rx.recvfrom(2048)
        check_eq((data, addr), (b"after-records", cap.addr), "the datagram after the records")
        code, out, err = host.capctl(["stats", "--json", cap.name])
        check_eq(code, 0, "capctl stats exit (%s)" % err.strip())
        stats = json.loads(out)
        check_eq(stats["drop_bad_record"], 7, "records counted and ignored (%r)" % stats)
        # A snapshot now is answered by the capsule's real FROZEN, not the early one.
        path = os.path.join(tempdir(), "spoof.snap")
        snap = snapshot(host, cap, path, keep_running=True)
        check(snap["bytes"] > 0, "snapshot: %r" % snap)
        check(cap.proc.poll() is None, "caprun exited: %s" % cap.output_text()[-300:])
        check(not cap.wait_for(r"closed|exiting", 0), "caprun took a record for the end of the "
              "channel: %s" % cap.output_text()[-300:])
    finally:
        cap.stop()
        rx.close()


def main():
    tap = Tap()
    name = "spoof: forged source addresses are dropped and counted by the host"
    if not need_capsule_host(tap, name):
        tap.run(name + " (its own TUN device: the kernel's filter)",
                lambda: forged_dropped_and_counted("tun"))
        tap.run(name + " (caprun's relay)", lambda: forged_dropped_and_counted("relay"))
        tap.run("spoof: channel records out of turn (empty, short, an unasked FROZEN, the host's "
                "types, unknown) are counted and ignored; a snapshot still works",
                records_out_of_turn)
    tap.done()


main()
