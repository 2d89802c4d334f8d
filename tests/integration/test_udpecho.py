"""test_udpecho.py: the udpecho capsule (UDP port 7) sends every datagram back to its sender."""
import os
import socket

from caplib import Capsule, Tap, check_eq, run_tool


def datagrams(cap):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    try:
        for size in (1, 100, 1400, 8000, 30000):
            payload = os.urandom(size)
            s.sendto(payload, (cap.addr, 7))
            data, peer = s.recvfrom(65536)
            check_eq((len(data), data == payload, peer), (size, True, (cap.addr, 7)),
                     "reply to a %d-byte datagram (length, equal, from)" % size)
    finally:
        s.close()


def two_senders(cap):
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for s in (a, b):
            s.settimeout(5)
        a.sendto(b"from a", (cap.addr, 7))
        b.sendto(b"from b", (cap.addr, 7))
        check_eq(b.recv(100), b"from b", "reply to b")
        check_eq(a.recv(100), b"from a", "reply to a")
    finally:
        a.close()
        b.close()


def netcat_client(cap):
    code, out, err = run_tool(["nc", "-u", "-w", "2", cap.addr, "7"], input=b"udp via nc\n")
    check_eq(out, "udp via nc\n", "nc -u output (exit %d, stderr %r)" % (code, err))


def main():
    tap = Tap()
    for name, fn in (("udpecho: datagrams of 1..30000 bytes", datagrams),
                     ("udpecho: two senders", two_senders),
                     ("udpecho: nc -u client", netcat_client)):
        tap.run(name, lambda fn=fn: fn(Capsule("udpecho").start()))
    tap.done()


main()
