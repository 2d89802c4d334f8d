"""test_snapshot_stream.py: a snapshot in the middle of a 32 MiB echo stream: after resume every byte comes back exactly once, in order."""
import hashlib
import os
import socket
import struct
import threading

from caplib import Host, Tap, check, check_eq, connect, need_capsule_host, snapshot, tempdir

TOTAL = 32 << 20
PAUSE_AT = 8 << 20   # the reader stops here until the capsule is back


def pattern(total):
    """Every 8 bytes hold their own offset: a lost, repeated or moved piece shows."""
    return b"".join(struct.pack("<Q", off) for off in range(0, total, 8))


def stream_across_snapshot():
    data = pattern(TOTAL)
    want = hashlib.sha256(data).hexdigest()
    host, d = Host(), tempdir()
    cap = host.capsule("echo", name="stream").start()
    s = connect(cap.addr, 7, timeout=120)
    sent = [0]
    got = bytearray()
    errors = []
    progress = threading.Condition()
    go_on = threading.Event()

    def sender():
        try:
            view = memoryview(data)
            while sent[0] < TOTAL:
                sent[0] += s.send(view[sent[0]:sent[0] + (1 << 20)])
            s.shutdown(socket.SHUT_WR)
        except Exception as e:
            errors.append("sender: %r" % e)

    def receiver():
        try:
            while len(got) < TOTAL:
                if len(got) >= PAUSE_AT and not go_on.is_set():
                    with progress:
                        progress.notify_all()
                    go_on.wait(120)
                chunk = s.recv(min(1 << 20, PAUSE_AT - len(got)) if len(got) < PAUSE_AT else 1 << 20)
                if not chunk:
                    break
                got.extend(chunk)
        except Exception as e:
            errors.append("receiver: %r" % e)
        with progress:
            progress.notify_all()

    threads = [threading.Thread(target=sender, daemon=True),
               threading.Thread(target=receiver, daemon=True)]
    for t in threads:
        t.start()
    try:
        with progress:
            progress.wait_for(lambda: len(got) >= PAUSE_AT or errors, 60)
        check(not errors and len(got) == PAUSE_AT, "stream did not reach %d bytes: got %d, %s" % (
            PAUSE_AT, len(got), errors[:2]))
        sent_at_snapshot = sent[0]
        check(sent_at_snapshot < TOTAL, "the client had sent everything before the snapshot")
        path = os.path.join(d, "stream.snap")
        info = snapshot(host, cap, path)
        cap = host.resume(path)
        go_on.set()
        for t in threads:
            t.join(120)
    except BaseException:
        s.shutdown(socket.SHUT_RDWR)   # unblocks our threads; the failure is reported
        raise
    finally:
        go_on.set()
    check(not errors, "; ".join(errors[:2]))
    check_eq(len(got), TOTAL, "bytes echoed back")
    if hashlib.sha256(got).hexdigest() != want:
        first = next(i for i in range(0, TOTAL, 8) if got[i:i + 8] != data[i:i + 8])
        check(False, "echoed stream differs from what was sent, first at offset %d" % first)
    print("# snapshot at %d of %d bytes sent, %d received; snapshot file %d bytes" % (
        sent_at_snapshot, TOTAL, PAUSE_AT, info["bytes"]))
    s.close()


def main():
    tap = Tap()
    name = "snapshot: 32 MiB echo stream, snapshot mid-stream, every byte back once, in order"
    if not need_capsule_host(tap, name):
        tap.run(name, stream_across_snapshot)
    tap.done()


main()
