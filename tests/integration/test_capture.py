"""test_capture.py: `capctl capture` during a live migration: the gateway's capture with --wire, read by tshark with docs/wireshark/capsule.lua, holds the migration's SYNC, SYNC_ACK, HOLD, FLUSH, FLUSH_TO and ACK by name and the wrapped TCP decoded as IPv4/TCP; the source's capture without --wire holds only the capsule's own packets; --count; usage errors.

Topology: hosts A C G (ids 1, 3, 4; G the gateway), the ordinary client
198.19.0.100 counting through G with images/counter on A (x); x migrates
A -> C while `capctl capture x --wire` runs on G (by address: G has no
capsule named x) and `capctl capture x` runs on A (by name).  tshark is a
dependency (mk/deps.sh): missing, the test fails.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile

from miglib import (CAPCTL, CountClient, Proc, Tap, Topology, check, check_eq, daemon_stats, migrate)

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.normpath(os.path.join(HERE, "..", "..", "docs", "wireshark", "capsule.lua"))


def start_capture(host, what, path, *extra):
    """capctl capture WHAT -w PATH [extra] on host, in the background; returns the Proc once
    it said it captures (caphostd answered: from here on every packet is recorded)."""
    p = Proc("capture-" + host.name, [CAPCTL, "capture", what, "-w", path] + list(extra),
             host.prefix, host.env)
    m = p.wait_for(r"^capturing ", 10)
    check(m is not None, "capctl capture %s on %s never said it captures: %s" % (
        what, host.name, p.output_text()[-400:]))
    return p


def stop_capture(p, path):
    """Ctrl-C (SIGINT): capctl must finish the file, say how many packets, and exit 0."""
    p.proc.send_signal(signal.SIGINT)
    code = p.proc.wait(20)
    m = p.wait_for(r"^(\d+) packets written to %s$" % re.escape(path), 5)
    check(code == 0 and m is not None, "capctl capture after SIGINT: exit %s, output %r" % (
        code, p.output_text()[-400:]))
    check(os.path.exists(path) and not os.path.exists(path + ".tmp"),
          "%s missing, or %s.tmp left behind" % (path, path))
    return int(m.group(1))


def tshark(path, *args):
    """Rows (lists of fields) of tshark -r PATH with the dissector; a failure is a test failure."""
    tool = shutil.which("tshark")
    check(tool is not None, "tshark is not installed (mk/deps.sh installs it)")
    argv = [tool, "-X", "lua_script:" + LUA, "-r", path] + list(args)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, "%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr[-400:]))
    return [l.split("\t") for l in p.stdout.splitlines() if l.strip()]


def capture_migration():
    tshark_path = shutil.which("tshark")
    check(tshark_path is not None, "tshark is not installed (mk/deps.sh installs it)")
    out = tempfile.mkdtemp(prefix="capture.")
    try:
        topo = Topology(hosts=("A", "C", "G"), gateway="G").start()
        a, c, g = topo["A"], topo["C"], topo["G"]
        x = a.capsule("counter", name="x").start()
        client = CountClient(topo.client.connect(x.addr, 9000))
        client.more(20, 20)
        # --count: stops by itself after exactly that many records (the client keeps asking).
        five = os.path.join(out, "five.pcap")
        rc, o, err = a.capctl(["capture", "x", "-w", five, "--count", "5"], timeout=30)
        check_eq((rc, o.splitlines()[-1:]), (0, ["5 packets written to %s" % five]),
                 "capctl capture x --count 5 (stderr %r)" % err)
        check_eq(len(tshark(five, "-Y", "tcp && ip.addr == %s" % x.addr, "-T", "fields", "-e",
                            "frame.number")), 5, "x's TCP packets in %s" % five)
        gw_pcap, src_pcap = os.path.join(out, "gateway.pcap"), os.path.join(out, "source.pcap")
        gcap = start_capture(g, x.addr, gw_pcap, "--wire")
        scap = start_capture(a, "x", src_pcap)
        client.more(20, 20)
        j = migrate(topo, "x", a, c)
        check_eq((j["to"], j["epoch"]), (c.host_id, 2), "JSON to, epoch")
        client.more(50, 30)   # through C now: the capture saw DATA from C too
        client.stop()
        n_gw = stop_capture(gcap, gw_pcap)
        n_src = stop_capture(scap, src_pcap)
        stats = daemon_stats(g)
        check_eq(stats.get("capture_dropped"), 0, "records G's caphostd dropped")

        # Every record of the gateway's file, with the dissector's message names.
        rows = tshark(gw_pcap, "-T", "fields", "-E", "occurrence=f", "-e", "frame.number",
                      "-e", "capsule.msg", "-e", "capsule.sender", "-e", "ip.src", "-e", "tcp.srcport")
        check_eq(len(rows), n_gw, "records tshark read from %s against what capctl wrote" % gw_pcap)
        names = [r[1] for r in rows if len(r) > 1 and r[1]]
        for want in ("SYNC", "SYNC_ACK", "HOLD", "FLUSH", "FLUSH_TO", "ACK", "DATA"):
            check(want in names, "no %s in the gateway's capture; messages seen: %s" % (
                want, sorted(set(names))))
        # The order a migration has: SYNC before HOLD before FLUSH.
        first = {n: names.index(n) for n in ("SYNC", "HOLD", "FLUSH")}
        check(first["SYNC"] < first["HOLD"] < first["FLUSH"],
              "first SYNC, HOLD, FLUSH at message positions %r" % first)
        # DATA from A before the move and from C after it, its inner packet decoded as TCP.
        senders = {r[2] for r in rows if len(r) > 2 and r[1] == "DATA"}
        check({"1", "3"} <= senders, "DATA senders in the gateway's capture: %s" % sorted(senders))
        # (Not the capsule's ICMP nudges after a long pause, lp_report.c: they quote a TCP
        # header from the peer, which tshark decodes as tcp too.)
        inner = tshark(gw_pcap, "-Y", 'capsule.msg == "DATA" && tcp && !icmp && ip.src == %s'
                       % x.addr,
                       "-T", "fields", "-e", "tcp.srcport")
        check(inner and all(r[0] == "9000" for r in inner),
              "wrapped TCP from x:9000 decoded under DATA: %r" % [r for r in inner if r[0] != "9000"][:5])
        # The SYNC and the HOLD name the capsule.
        for msg in ("SYNC", "HOLD"):
            ips = tshark(gw_pcap, "-Y", 'capsule.msg == "%s"' % msg, "-T", "fields",
                         "-e", "capsule.capsule_ip")
            check(ips and all(r[0] == x.addr for r in ips), "%s names %r, want %s" % (
                msg, ips[:3], x.addr))

        # The source's capture without --wire: the capsule's own TCP packets only.
        rows = tshark(src_pcap, "-T", "fields", "-e", "ip.src", "-e", "ip.dst", "-e", "udp.port",
                      "-e", "tcp.port")
        check_eq(len(rows), n_src, "records tshark read from %s" % src_pcap)
        check(n_src > 0, "the source's capture is empty")
        bad = [r for r in rows if x.addr not in r[:2] or r[2] or not r[3]]
        check_eq(bad, [], "records in the source's capture that are not x's TCP")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def usage_errors():
    topo = Topology(hosts=("A",), gateway="A").start()
    a = topo["A"]
    for args, code, what in ((["capture", "x"], 2, "no -w"),
                             (["capture", "-w", "/tmp/x.pcap"], 2, "no capsule"),
                             (["capture", "x", "-w", "/tmp/x.pcap", "--count", "0"], 2, "--count 0"),
                             (["capture", "x", "-w", "/tmp/x.pcap", "--count", "3", "--seconds", "1"],
                              2, "--count and --seconds"),
                             (["capture", "nosuch", "-w", "/tmp/never.pcap"], 1, "unknown capsule"),
                             (["capture", "8.8.8.8", "-w", "/tmp/never.pcap"], 1, "address outside")):
        rc, out, err = a.capctl(args)
        check_eq(rc, code, "capctl %s (%s): exit status; stderr %r" % (" ".join(args), what, err))
        check(len(err.strip().splitlines()) >= 1 and err.startswith("capctl"),
              "capctl %s: stderr %r" % (" ".join(args), err))
    check(not os.path.exists("/tmp/never.pcap"), "a refused capture left /tmp/never.pcap")
    # --seconds ends it by itself with a valid (here empty) capture.
    out = tempfile.mkdtemp(prefix="capture.")
    try:
        path = os.path.join(out, "idle.pcap")
        rc, o, err = a.capctl(["capture", "198.18.0.77", "-w", path, "--seconds", "1"])
        check_eq((rc, o.splitlines()[-1:]), (0, ["0 packets written to %s" % path]),
                 "capctl capture --seconds 1 of an idle address (stderr %r)" % err)
        check_eq(len(tshark(path, "-T", "fields", "-e", "frame.number")), 0, "records in %s" % path)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main():
    tap = Tap()
    tap.run("capture: during a migration A -> C, the gateway's capture --wire shows SYNC, SYNC_ACK, "
            "HOLD, FLUSH, FLUSH_TO, ACK by name (docs/wireshark/capsule.lua) and DATA from A and C "
            "with the inner TCP decoded; the source's capture holds only x's TCP; --count 5 writes 5",
            capture_migration)
    tap.run("capture: usage errors exit 2, unknown capsules 1, one line each; --seconds ends "
            "with a valid empty file", usage_errors)
    tap.done()


main()
