"""test_threads.py: the threads capsule (TCP 9001): a thread per connection, lines upper-cased, one shared line count."""
import threading

from caplib import Capsule, Tap, check, check_eq, connect, recv_exact, recv_line, run_tool


def upper_cased(cap):
    with connect(cap.addr, 9001) as s:
        s.sendall(b"hello, Capsule 42\n")
        check_eq(recv_line(s), b"HELLO, CAPSULE 42\n", "reply")
        s.sendall(b"two\nlines\n")
        check_eq(recv_exact(s, 10), b"TWO\nLINES\n", "two lines in one segment")
    code, out, err = run_tool(["nc", "-N", "-w", "5", cap.addr, "9001"], input=b"netcat\n")
    check_eq(out, "NETCAT\n", "nc output (exit %d, stderr %r)" % (code, err))
    m = cap.wait_for(r"connection closed after 1 lines; 4 lines in total", 10)
    check(m, "no total line count on stdout: %r" % cap.output_text()[-300:])


def concurrent_connections(cap):
    clients, lines = 16, 40
    errors = []
    # All connections open at once and interleave: one blocked thread must not stall the rest.
    socks = [connect(cap.addr, 9001) for _ in range(clients)]

    def talk(i, s):
        try:
            for j in range(lines):
                s.sendall(b"client %d line %d\n" % (i, j))
                check_eq(recv_line(s), b"CLIENT %d LINE %d\n" % (i, j), "reply")
            s.close()
        except Exception as e:
            errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=talk, args=(i, s)) for i, s in enumerate(socks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not errors, "; ".join(errors[:3]))
    total = clients * lines
    m = cap.wait_for(r"%d lines in total" % total, 10)
    check(m, "no thread reported %d lines in total: %r" % (total, cap.output_text()[-300:]))


def main():
    tap = Tap()
    tap.run("threads: lines come back upper-cased; count on stdout",
            lambda: upper_cased(Capsule("threads").start()))
    tap.run("threads: 16 connections at once, shared count",
            lambda: concurrent_connections(Capsule("threads").start()))
    tap.done()


main()
