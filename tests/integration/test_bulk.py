"""test_bulk.py: the bulk capsule (images/bulk) sinks and sources byte-exact streams, at the default MTU and at --mtu 1500."""
import os
import random
import socket
import threading

import bulklib
import caplib
from caplib import Capsule, Tap, check, check_eq, connect, run_tool


def zero_sums_line():
    return b"0 " + b"0" * 16 + b" " + b"0" * 16 + b"\n"


def device_mtu(cap, want):
    """The capsule's TUN device has the MTU asked for (65000 by default)."""
    if caplib.NATIVE:
        return   # a native run has no device
    code, out, err = run_tool(["ip", "-o", "link", "show", "dev", "cap-" + cap.name])
    check_eq(code, 0, "ip link show cap-%s (stderr %r)" % (cap.name, err))
    check_eq(out.split(" mtu ")[1].split()[0], str(want), "MTU of cap-%s" % cap.name)


def sink_small(cap):
    with connect(cap.addr, bulklib.SINK_PORT) as s:   # nothing sent: the answer for nothing
        s.shutdown(socket.SHUT_WR)
        check_eq(bulklib.read_to_eof(s), zero_sums_line(), "answer to an empty stream")
    for n in (1, 7, 8, 9, 15, 16, 17):
        data = bytes(range(200, 200 + n))
        check_eq(bulklib.sink(cap.addr, [data])[0], (n,) + bulklib.sums(data),
                 "answer to %d bytes" % n)
    # One byte known by hand: 0x01 is word 1, so SUM1 = SUM2 = 1.
    check_eq(bulklib.sink(cap.addr, [b"\x01"])[0], (1, 1, 1), "answer to one 0x01 byte")


def sink_large_in_odd_pieces(cap):
    """3 MiB + 5 of random bytes in pieces of odd sizes, so words straddle the reads."""
    data = os.urandom(3 * bulklib.CHUNK + 5)
    rnd = random.Random(12)
    pieces, at = [], 0
    while at < len(data):
        n = rnd.choice((1, 3, 7, 9, 4093, 65537, 200003))
        pieces.append(data[at:at + n])
        at += n
    check_eq(bulklib.sink(cap.addr, pieces)[0], (len(data),) + bulklib.sums(data),
             "answer to 3 MiB + 5 random bytes")
    # A reordering of words changes SUM2 but not SUM1: the answer sees it.
    swapped = data[8:16] + data[0:8] + data[16:]
    a = bulklib.sink(cap.addr, [swapped])[0]
    check(a[1] == bulklib.sums(data)[0] and a[2] != bulklib.sums(data)[1],
          "two words swapped: SUM1 the same, SUM2 different (got %r)" % (a,))


def source_exact(cap):
    for n in (0, 1, 250, 251, 252, 3 * 251 + 7, 3 * bulklib.CHUNK + 5):
        got, _ = bulklib.source(cap.addr, n)
        check_eq(len(got), n, "bytes sent for a request of %d" % n)
        check(got == bulklib.pattern(0, n), "the %d bytes sent differ from the pattern" % n)


def bad_request(cap):
    for req in (b"12x\n", b"\n", b"123456789012345678901\n", b"-5\n", b"5\nmore"):
        with connect(cap.addr, bulklib.SOURCE_PORT) as s:
            s.sendall(req)
            s.shutdown(socket.SHUT_WR)
            check_eq(bulklib.read_to_eof(s),
                     b"bulk: bad request: want a byte count and a newline\n", "answer to %r" % req)


def both_ways_at_once(cap):
    """Two sinks and two sources at once, 2 MiB each: every stream exact."""
    data = [os.urandom(2 * bulklib.CHUNK + i) for i in range(2)]
    results, errors = {}, []

    def run(key, fn):
        try:
            results[key] = fn()
        except Exception as e:   # reported below, in the main thread
            errors.append("%s: %s" % (key, e))
    threads = [threading.Thread(target=run, args=(("sink", i), lambda d=d: bulklib.sink(cap.addr, [d])[0]))
               for i, d in enumerate(data)]
    threads += [threading.Thread(target=run, args=(("source", i),
                                                   lambda i=i: bulklib.source(cap.addr, 2 * bulklib.CHUNK + i)[0]))
                for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check_eq(errors, [], "errors in concurrent streams")
    for i, d in enumerate(data):
        check_eq(results[("sink", i)], (len(d),) + bulklib.sums(d), "sink %d's answer" % i)
        n = 2 * bulklib.CHUNK + i
        check(results[("source", i)] == bulklib.pattern(0, n), "source %d's bytes" % i)


def main():
    tap = Tap()
    for mtu in (None, 1500):
        label = "default MTU" if mtu is None else "--mtu %d" % mtu
        caprun_args = ["--mtu", str(mtu)] if mtu else []
        tap.run("bulk (%s): the device's MTU" % label,
                lambda a=caprun_args, m=mtu or 65000: device_mtu(Capsule("bulk", caprun_args=a).start(), m))
        for name, fn in (("sink: empty and small streams", sink_small),
                         ("sink: 3 MiB in odd pieces, reordering seen", sink_large_in_odd_pieces),
                         ("source: exact bytes, 0 to 3 MiB", source_exact),
                         ("source: a bad request gets one line", bad_request),
                         ("two sinks and two sources at once", both_ways_at_once)):
            tap.run("bulk (%s): %s" % (label, name),
                    lambda fn=fn, a=caprun_args: fn(Capsule("bulk", caprun_args=a).start()))
    tap.done()


main()
