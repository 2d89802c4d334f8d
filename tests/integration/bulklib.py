"""bulklib.py: the client side of images/bulk's protocol (port 9 sinks and answers COUNT SUM1 SUM2, port 19 sends N pattern bytes), for test_bulk.py and tests/bench/bench.py."""
import itertools
import socket
import sys
import time
from array import array

from caplib import connect

SINK_PORT = 9
SOURCE_PORT = 19
PERIOD = 251                 # byte i of a source stream is i % 251
MASK = (1 << 64) - 1
CHUNK = 1 << 20


def sums(data):
    """(SUM1, SUM2) of data as bulk.c computes them: little-endian 64-bit words, the last
    padded with zeros; SUM1 their sum, SUM2 the sum of SUM1 after each word, mod 2^64."""
    words = array("Q", bytes(data) + bytes(-len(data) % 8))
    if sys.byteorder != "little":
        words.byteswap()
    return sum(words) & MASK, sum(itertools.accumulate(words)) & MASK


def repeated_sums(chunk, times):
    """sums(chunk * times) without building it: chunk a whole number of words.
    After copy j the running SUM1 is j*A, so copy j adds j*A*L + B to SUM2."""
    assert len(chunk) % 8 == 0
    a, b = sums(chunk)
    words = len(chunk) // 8
    return (a * times) & MASK, (b * times + a * words * (times * (times - 1) // 2)) & MASK


def pattern(offset, n):
    """n bytes of the source stream from offset."""
    one = bytes(range(PERIOD))
    start = offset % PERIOD
    reps = (start + n) // PERIOD + 1
    return (one * reps)[start:start + n]


def parse_answer(line):
    """The sink's answer line -> (count, sum1, sum2); ValueError if it is not one."""
    f = line.decode("ascii").split()
    if len(f) != 3 or not line.endswith(b"\n") or len(f[1]) != 16 or len(f[2]) != 16:
        raise ValueError("not a bulk answer line: %r" % line)
    return int(f[0]), int(f[1], 16), int(f[2], 16)


def read_to_eof(s):
    got = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(got)
        got += b


def sink(addr, pieces, timeout=60):
    """Send each of pieces (bytes-like) to the sink, half-close, return its answer line's
    fields and the seconds from the first send to the answer."""
    with connect(addr, SINK_PORT, timeout=timeout) as s:
        t0 = time.monotonic()
        for p in pieces:
            s.sendall(p)
        s.shutdown(socket.SHUT_WR)
        line = read_to_eof(s)
        dt = time.monotonic() - t0
    return parse_answer(line), dt


def source(addr, n, keep=True, timeout=60):
    """Ask the source for n bytes and read to its EOF: (the bytes, or their count when not
    keep, seconds from the request to the EOF)."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    got, kept = 0, bytearray() if keep else None
    with connect(addr, SOURCE_PORT, timeout=timeout) as s:
        t0 = time.monotonic()
        s.sendall(b"%d\n" % n)
        while True:
            k = s.recv_into(view)
            if not k:
                break
            got += k
            if keep:
                kept += view[:k]
        dt = time.monotonic() - t0
    return (bytes(kept) if keep else got), dt


def to_mib_s(addr, mib):
    """MiB/s of mib MiB sent to the sink (its count and sums checked), one connection."""
    chunk = bytes(range(256)) * (CHUNK // 256)
    (count, s1, s2), dt = sink(addr, itertools.repeat(memoryview(chunk), mib))
    if (count, s1, s2) != (mib * CHUNK,) + repeated_sums(chunk, mib):
        raise RuntimeError("sink at %s answered %d %016x %016x for %d MiB" % (addr, count, s1, s2, mib))
    return mib / dt


def from_mib_s(addr, mib):
    """MiB/s of mib MiB read from the source (the count checked), one connection."""
    got, dt = source(addr, mib * CHUNK, keep=False)
    if got != mib * CHUNK:
        raise RuntimeError("source at %s sent %d of %d bytes" % (addr, got, mib * CHUNK))
    return mib / dt
