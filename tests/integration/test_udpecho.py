"""test_udpecho.py: the udpecho capsule (UDP port 7) sends every datagram back to its sender."""
import json
import os
import socket
import time

from caplib import Capsule, Host, Tap, check, check_eq, run_tool

QUEUE = 256   # a UDP socket's receive queue in the capsule (DEFAULT_UDP_RECVMBOX_SIZE)


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


def queue_overflow_counted():
    """Datagrams past a full socket queue are dropped inside the capsule and counted
    (capctl stats: capsule.rx_socket_full), so every datagram is on someone's books."""
    host = Host()
    cap = host.capsule("udpecho", args=["7", "9007"])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)   # SO_RCVBUFFORCE: room for every echo
    try:
        cap.start(app_ready=r"reading once TCP port 9007 is connected")

        def stats():
            code, out, err = host.capctl(["stats", "--json", cap.name])
            check_eq(code, 0, "capctl stats exit (%s)" % err.strip())
            return json.loads(out)
        before = stats()["packets_in"]   # whatever the host sent it at start
        sent = QUEUE + 44
        for i in range(sent):
            s.sendto(b"d %05d" % i, (cap.addr, 7))
        deadline = time.monotonic() + 10
        while stats()["packets_in"] - before < sent and time.monotonic() < deadline:
            time.sleep(0.02)   # bounded poll of a counter another process keeps
        st = stats()
        check_eq((st["packets_in"] - before, st["drop_host_full"]), (sent, 0),
                 "datagrams caprun handed to the capsule, and dropped for lack of room")
        check_eq(st["capsule"], {"rx_no_memory": 0, "rx_backlog_full": 0,
                                 "rx_socket_full": sent - QUEUE, "tx_channel_full": 0},
                 "the capsule's own drop counters")
        gate = socket.create_connection((cap.addr, 9007), timeout=5)
        gate.close()
        s.settimeout(5)
        got = sorted(int(s.recv(100).split()[1]) for _ in range(QUEUE))
        check_eq(got, list(range(QUEUE)), "the datagrams echoed: the first %d, in the queue" % QUEUE)
        s.settimeout(0.3)
        try:
            extra = s.recv(100)
            raise AssertionError("an echo past the queue's bound: %r" % extra)
        except socket.timeout:
            pass
    finally:
        s.close()
        cap.stop()


def main():
    tap = Tap()
    for name, fn in (("udpecho: datagrams of 1..30000 bytes", datagrams),
                     ("udpecho: two senders", two_senders),
                     ("udpecho: nc -u client", netcat_client)):
        tap.run(name, lambda fn=fn: fn(Capsule("udpecho").start()))
    tap.run("udpecho: datagrams past a full socket queue are dropped and counted "
            "(capctl stats: capsule.rx_socket_full)", queue_overflow_counted)
    tap.done()


main()
