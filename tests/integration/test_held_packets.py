"""test_held_packets.py: a request that reaches the host while the capsule freezes for a snapshot travels inside the snapshot (capsule-abi/cap_held.h) and is answered at resume, before the client would retransmit it."""
# The race is made certain, not hoped for (caplib.during_freeze): the capsule's
# process is stopped while capctl asks for the snapshot, and the client sends its
# line once caprun waits for the capsule's FROZEN, reading nothing from the TUN
# device: exactly a packet that arrives as the capsule freezes.  The client's retransmission timeout is raised to 3 s on the
# capsule's route (`ip route change ... rto_min`), so an answer in time can
# only come from the held packet, and the client's TCP_INFO says it never
# retransmitted.
import os
import struct
import subprocess

from caplib import (CAPCTL, CAPRUN, SNAP_PAGE, Capsule, Host, Tap, check, check_eq, connect,
                    next_count, recv_line, run_tool, snap_header, tempdir, during_freeze)

HELD_ADDR = 0x10010000          # capsule-abi/cap_held.h: CAP_HELD_ADDR
VBASE = 0x10000000
HELD_MAGIC = 0x444c4548
TCPI_TOTAL_RETRANS = 8 + 23 * 4  # struct tcp_info: 8 one-byte fields, then tcpi_total_retrans is u32 #23


def held_area(path):
    """(count, [packets]) in the snapshot file's held area (0, [] if it holds nothing)."""
    with open(path, "rb") as f:
        data = f.read()
    h = snap_header(data)
    table = data[SNAP_PAGE:SNAP_PAGE + 16 * h["nextents"]]
    pos = h["data_offset"]
    want = HELD_ADDR - VBASE
    for i in range(h["nextents"]):
        off, length = struct.unpack_from("<QQ", table, 16 * i)
        if off <= want < off + length:
            area = data[pos + want - off:pos + length]
            magic, count, nbytes, _ = struct.unpack_from("<IIII", area)
            if magic != HELD_MAGIC:
                return 0, []
            packets, at = [], 16
            for _ in range(count):
                (n,) = struct.unpack_from("<I", area, at)
                packets.append(area[at + 8:at + 8 + n])
                at += (8 + n + 7) & ~7
            return count, packets
        pos += length
    return 0, []


def total_retrans(sock):
    import socket
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return struct.unpack_from("<I", info, TCPI_TOTAL_RETRANS)[0]


def request_held_across_snapshot():
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="held").start()
    s = connect(cap.addr, 9000)
    check_eq(next_count(s), 1, "first count")
    # The client's first retransmission of what it sends next: no sooner than 3 s.
    code, out, err = run_tool(["ip", "route", "show", cap.addr + "/32"])
    route = out.strip() or ("%s dev %s" % (cap.addr, "cap-" + cap.name))
    code, out, err = run_tool(["ip", "route", "change"] + route.split() + ["rto_min", "3s"])
    check(code == 0, "ip route change %s rto_min 3s: %s" % (route, err.strip()))
    path = os.path.join(d, "held.snap")
    ctl = during_freeze(
        cap, lambda: subprocess.Popen([CAPCTL, "snapshot", "held", "-o", path], env=host.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL),
        lambda: s.sendall(b"n\n"))
    out, err = ctl.communicate(timeout=60)
    check(ctl.returncode == 0, "capctl snapshot: exit %d, %r %r" % (ctl.returncode, out, err))
    check_eq(cap.wait_exit(20), 0, "caprun's exit code after the snapshot")
    count, packets = held_area(path)
    check_eq(count, 1, "packets held in the snapshot")
    check(packets[0].endswith(b"n\n") and packets[0][9] == 6,
          "the held packet is the client's TCP segment with its line: %r" % packets[0][-24:])
    again = Capsule("held", env=host.env, argv=[CAPRUN, path]).start()
    s.settimeout(2.5)   # under the 3 s rto_min: only the held packet can be answered in time
    check_eq(recv_line(s), b"2\n", "the answer to the line sent as the capsule froze")
    check_eq(total_retrans(s), 0, "segments the client retransmitted")
    s.settimeout(10)
    check_eq(next_count(s), 3, "the count goes on")
    # The capsule emptied the area: a second snapshot holds nothing.
    path2 = os.path.join(d, "again.snap")
    code, out, err = host.capctl(["snapshot", "held", "-o", path2, "--keep-running"])
    check(code == 0, "capctl snapshot --keep-running: %r %r" % (out, err))
    check_eq(held_area(path2), (0, []), "the held area of the next snapshot")
    check_eq(next_count(s), 4, "the count after the second snapshot")
    s.close()
    again.stop()


def main():
    tap = Tap()
    tap.run("held packets: a line sent as the capsule froze for a snapshot is answered at resume, "
            "without a retransmission", request_held_across_snapshot)
    tap.done()


if __name__ == "__main__":
    main()
