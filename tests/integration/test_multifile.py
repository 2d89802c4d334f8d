"""test_multifile.py: the multi-file program built with `make CC=capcc` runs as a capsule."""
from caplib import Capsule, Tap, check_eq, connect, recv_line


def word_counts(cap):
    with connect(cap.addr, 9002) as s:
        s.sendall(b"hello big world\n")
        check_eq(recv_line(s), b"3 words, 15 chars\n", "reply")
        s.sendall(b"  spaced   out  \n")
        check_eq(recv_line(s), b"2 words, 16 chars\n", "reply")


def main():
    tap = Tap()
    tap.run("multifile: word and character counts", lambda: word_counts(Capsule("multifile").start()))
    tap.done()


main()
