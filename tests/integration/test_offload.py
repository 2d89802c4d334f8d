"""test_offload.py: the capsule's own TUN with offloads (IFF_VNET_HDR, CAP_HOST_TUN_VNET): a byte-exact stream at --mtu 1500 crosses the device in packets larger than the MTU both ways, a TCP segment with a bad checksum the kernel did not vouch for is still dropped, and CAPRUN_TUN_OFFLOAD=0 keeps the bare device."""
import hashlib
import json
import os
import socket
import struct
import threading

from caplib import (Host, Tap, check, check_eq, connect, need_capsule_host, recv_exact, snapshot,
                    tempdir)

MIB = 1 << 20


def device_counts(ifname):
    """The device's kernel counters, from /proc/net/dev (this namespace's; /sys is the root's)."""
    for line in open("/proc/net/dev"):
        name, _, rest = line.partition(":")
        if name.strip() == ifname:
            f = [int(x) for x in rest.split()]
            return {"rx_bytes": f[0], "rx_packets": f[1], "tx_bytes": f[8], "tx_packets": f[9]}
    raise AssertionError("no device %s in /proc/net/dev" % ifname)


def tcp_csum_errors():
    """This namespace's TCP segments refused for a bad checksum (/proc/net/snmp, InCsumErrors)."""
    rows = [l.split() for l in open("/proc/net/snmp") if l.startswith("Tcp:")]
    return int(rows[1][rows[0].index("InCsumErrors")])


def echo_stream(addr, total):
    """Send total pattern bytes to the echo capsule and read them back: (sent, got) digests."""
    block = bytes((i * 7 + 3) & 0xff for i in range(256 * 1024))
    sent, got = hashlib.sha256(), hashlib.sha256()
    s = connect(addr, 7)
    s.settimeout(30)

    def writer():
        left = total
        while left:
            piece = block[:min(left, len(block))]
            s.sendall(piece)
            sent.update(piece)
            left -= len(piece)
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=writer)
    t.start()
    n = 0
    while True:
        data = s.recv(1 << 20)
        if not data:
            break
        got.update(data)
        n += len(data)
    t.join()
    s.close()
    check_eq(n, total, "bytes echoed back")
    return sent.hexdigest(), got.hexdigest()


def stream_at_mtu_1500(offload):
    host = Host()
    if not offload:
        host.env["CAPRUN_TUN_OFFLOAD"] = "0"
    cap = host.capsule("echo", caprun_args=["--mtu", "1500"])
    try:
        cap.start()
        ifname = "cap-" + cap.name
        before = device_counts(ifname)
        errors = tcp_csum_errors()
        sent, got = echo_stream(cap.addr, 32 * MIB)
        check_eq(got, sent, "sha256 of what came back")
        check_eq(tcp_csum_errors() - errors, 0, "TCP segments with a bad checksum from the capsule")
        after = device_counts(ifname)
        d = {k: after[k] - before[k] for k in after}
        # tx: the kernel to the capsule; rx: the capsule to the kernel (the device's view)
        to_capsule = d["tx_bytes"] / max(d["tx_packets"], 1)
        from_capsule = d["rx_bytes"] / max(d["rx_packets"], 1)
        if offload:
            check(to_capsule > 1500 and from_capsule > 1500,
                  "mean packet on the device %.0f bytes to the capsule, %.0f from it: no offload "
                  "(%r)" % (to_capsule, from_capsule, d))
        else:
            check(to_capsule <= 1500 and from_capsule <= 1500,
                  "a bare device carried packets past its MTU: %.0f / %.0f" % (to_capsule,
                                                                              from_capsule))
        code, out, err = host.capctl(["stats", "--json", cap.name])
        check_eq(code, 0, "capctl stats exit (%s)" % err.strip())
        stats = json.loads(out)
        check_eq(stats["packet_path"], "tun", "who moved the capsule's packets")
        check_eq(cap.proc.poll(), None, "caprun still running")
    finally:
        cap.stop()


def tcp_syn(src, dst, sport, dport, good):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr))
    data = pseudo + hdr
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    csum = (~s & 0xffff) if good else ((~s + 0x55) & 0xffff)
    return hdr[:16] + struct.pack("!H", csum) + hdr[18:]


def syn_answered(raw, src, dst, sport, good):
    """Send a SYN to dst:7 from a raw socket; True when a SYN-ACK comes back within a second."""
    raw.sendto(tcp_syn(src, dst, sport, 7, good), (dst, 0))
    raw.settimeout(1.0)
    try:
        while True:
            pkt, (frm, _) = raw.recvfrom(4096)
            ihl = (pkt[0] & 15) * 4
            sp, dp = struct.unpack("!HH", pkt[ihl:ihl + 4])
            if frm == dst and sp == 7 and dp == sport and pkt[ihl + 13] & 0x12 == 0x12:
                return True
    except socket.timeout:
        return False


def bad_checksum_dropped():
    host = Host()
    cap = host.capsule("echo")
    try:
        cap.start()
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect((cap.addr, 9))
        src = probe.getsockname()[0]
        probe.close()
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        try:
            # made by a raw socket: the kernel neither checked nor offloaded its checksum, so the
            # device's header vouches for nothing and lwIP checks it
            check(not syn_answered(raw, src, cap.addr, 40001, good=False),
                  "a SYN with a bad TCP checksum was answered")
            check(syn_answered(raw, src, cap.addr, 40002, good=True),
                  "the same SYN with a good checksum was not answered")
        finally:
            raw.close()
        code, out, err = host.capctl(["stats", "--json", cap.name])
        check_eq(json.loads(out)["packet_path"], "tun", "who moved the capsule's packets")
    finally:
        cap.stop()


def echo_on(s, total, seed):
    """total pattern bytes through the echo capsule on the open socket s, read back exact."""
    data = bytes((i * 13 + seed) & 0xff for i in range(total))
    t = threading.Thread(target=s.sendall, args=(data,))
    t.start()
    got = recv_exact(s, total)
    t.join()
    check(got == data, "%d bytes echoed with seed %d came back different" % (total, seed))


def mean_packets(ifname, fn):
    before = device_counts(ifname)
    fn()
    after = device_counts(ifname)
    d = {k: after[k] - before[k] for k in after}
    return (d["tx_bytes"] / max(d["tx_packets"], 1), d["rx_bytes"] / max(d["rx_packets"], 1))


def resumed_across_offloads():
    """One connection through three hosts' devices: with offloads, without (the capsule's lwIP
    built its TCP packets without checksums on the first, so the port sums them now), with."""
    host = Host()
    cap = host.capsule("echo", caprun_args=["--mtu", "1500"]).start()
    d = tempdir()
    s = connect(cap.addr, 7)
    s.settimeout(30)
    errors = tcp_csum_errors()
    try:
        for seed, offload in ((1, True), (2, False), (3, True)):
            if offload:
                host.env.pop("CAPRUN_TUN_OFFLOAD", None)
            else:
                host.env["CAPRUN_TUN_OFFLOAD"] = "0"
            if seed > 1:
                path = os.path.join(d, "offload%d.snap" % seed)
                snapshot(host, cap, path)
                cap = host.resume(path)
            to_cap, from_cap = mean_packets("cap-" + cap.name, lambda: echo_on(s, 4 * MIB, seed))
            if offload:
                check(to_cap > 1500 and from_cap > 1500, "round %d: mean packet %.0f / %.0f bytes: "
                      "no offload" % (seed, to_cap, from_cap))
            else:
                check(to_cap <= 1500 and from_cap <= 1500, "round %d: mean packet %.0f / %.0f "
                      "bytes on a bare device" % (seed, to_cap, from_cap))
        # every segment the capsule sent, with the kernel's sum or its own, was right
        check_eq(tcp_csum_errors() - errors, 0, "TCP segments with a bad checksum from the capsule")
    finally:
        s.close()
        cap.stop()


def main():
    tap = Tap()
    name = "offload"
    if not need_capsule_host(tap, name):
        tap.run("offload: 32 MiB echoed byte-exact at --mtu 1500, in packets past the MTU both "
                "ways on the capsule's device", stream_at_mtu_1500, True)
        tap.run("offload: CAPRUN_TUN_OFFLOAD=0 keeps the bare device (packets within the MTU), "
                "byte-exact", stream_at_mtu_1500, False)
        tap.run("offload: one connection, byte-exact, resumed from the offloading device onto a "
                "bare one (CAPRUN_TUN_OFFLOAD=0) and back", resumed_across_offloads)
        tap.run("offload: a TCP segment with a bad checksum the kernel did not vouch for is "
                "dropped; with a good one it is answered", bad_checksum_dropped)
    tap.done()


if __name__ == "__main__":
    main()
