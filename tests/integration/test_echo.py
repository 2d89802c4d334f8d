"""test_echo.py: the echo capsule (TCP port 7) echoes exactly, to one client and to many at once."""
import os
import selectors

from caplib import Capsule, Tap, check, check_eq, connect, recv_exact, run_tool


def small_message(cap):
    with connect(cap.addr, 7) as s:
        s.sendall(b"hello capsule\n")
        check_eq(recv_exact(s, 14), b"hello capsule\n", "echo reply")


def one_mebibyte_with_half_close(cap):
    data = os.urandom(1 << 20)
    with connect(cap.addr, 7) as s:
        # Send everything, then half-close: the echo must still come back whole.
        sel = selectors.DefaultSelector()
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        sent, got = 0, bytearray()
        while True:
            events = sel.select(timeout=10)
            check(events, "no progress for 10 s (sent %d, got %d)" % (sent, len(got)))
            for _, mask in events:
                if mask & selectors.EVENT_WRITE and sent < len(data):
                    sent += s.send(data[sent:sent + 65536])
                    if sent == len(data):
                        s.shutdown(2 - 1)   # SHUT_WR
                        sel.modify(s, selectors.EVENT_READ)
                if mask & selectors.EVENT_READ:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        check_eq(len(got), len(data), "bytes echoed before close")
                        check(bytes(got) == data, "echoed bytes differ from sent bytes")
                        return
                    got += chunk


def many_clients_at_once(cap):
    socks = [connect(cap.addr, 7) for _ in range(64)]
    try:
        # Every client sends before any reads: a server serving one client at
        # a time would not answer the later ones in this order.
        for i, s in enumerate(socks):
            s.sendall(b"client %03d\n" % i)
        for i, s in reversed(list(enumerate(socks))):
            check_eq(recv_exact(s, 11), b"client %03d\n" % i, "reply to client %d" % i)
    finally:
        for s in socks:
            s.close()


def netcat_client(cap):
    code, out, err = run_tool(["nc", "-N", "-w", "5", cap.addr, "7"], input=b"via netcat\n")
    check_eq((code, out), (0, "via netcat\n"), "nc exit code and output (stderr %r)" % err)


def main():
    tap = Tap()
    for name, fn in (("echo: small message", small_message),
                     ("echo: 1 MiB then half-close", one_mebibyte_with_half_close),
                     ("echo: 64 concurrent clients", many_clients_at_once),
                     ("echo: nc client", netcat_client)):
        tap.run(name, lambda fn=fn: fn(Capsule("echo").start()))
    tap.done()


main()
