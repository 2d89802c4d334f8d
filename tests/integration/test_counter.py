"""test_counter.py: the counter capsule (TCP 9000) answers each line with the next number of one shared count."""
import threading

from caplib import Capsule, Tap, check, check_eq, connect, recv_exact, recv_line, run_tool


def sequence_across_connections(cap):
    with connect(cap.addr, 9000) as s:
        for want in (b"1\n", b"2\n", b"3\n"):
            s.sendall(b"next\n")
            check_eq(recv_line(s), want, "reply on the first connection")
    with connect(cap.addr, 9000) as s:
        s.sendall(b"a\nb\n")   # two lines in one segment: two replies
        check_eq(recv_exact(s, 4), b"4\n5\n", "replies on a second connection")
    code, out, err = run_tool(["nc", "-N", "-w", "5", cap.addr, "9000"], input=b"x\ny\n")
    check_eq(out, "6\n7\n", "nc output (exit %d, stderr %r)" % (code, err))


def concurrent_clients_share_one_count(cap):
    clients, per_client = 20, 50
    results, errors = [], []

    def client():
        try:
            with connect(cap.addr, 9000) as s:
                got = []
                for _ in range(per_client):
                    s.sendall(b"n\n")
                    got.append(int(recv_line(s)))
                results.append(got)
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    check(not errors, "client errors: %s" % errors[:3])
    check(all(got == sorted(got) for got in results), "a client saw its numbers go backwards")
    every = sorted(n for got in results for n in got)
    check_eq(every, list(range(1, clients * per_client + 1)), "all numbers handed out")


def main():
    tap = Tap()
    tap.run("counter: 1, 2, 3 across connections and nc",
            lambda: sequence_across_connections(Capsule("counter").start()))
    tap.run("counter: 20 concurrent clients get distinct numbers",
            lambda: concurrent_clients_share_one_count(Capsule("counter").start()))
    tap.done()


main()
