"""test_volumes.py: host directories in a capsule (caprun -v HOSTDIR:PATH[:ro], -w DIR): every file call, read-only volumes, no escape, sendfile and mmap, open files across snapshot-resume and live migration, a file missing after resume."""
# tests/run timeout: 300
import os
import socket

from caplib import (CAPRUN, IMAGES, Capsule, Host, Tap, check, check_eq, connect, recv_exact, request, run_caprun,
                    snapshot, tempdir)

PORT = 7000
BIG = bytes((i * 7 + (i >> 9)) & 0xff for i in range(300 * 1024 + 123))   # several data records


def volume_dir():
    """A host directory for a volume, with a file outside it to try to escape to."""
    top = tempdir("capsule-vol.")
    vol = os.path.join(top, "vol")
    os.mkdir(vol)
    with open(os.path.join(top, "secret"), "w") as f:
        f.write("secret\n")
    with open(os.path.join(vol, "hello.txt"), "w") as f:
        f.write("hello\n")
    with open(os.path.join(vol, "big.bin"), "wb") as f:
        f.write(BIG)
    os.symlink("..", os.path.join(vol, "out"))                        # relative, leads out
    os.symlink(top, os.path.join(vol, "abs"))                         # absolute
    os.symlink("hello.txt", os.path.join(vol, "in"))                  # stays inside
    return top, vol


def start(host, volumes, args=(), name="files"):
    caprun_args = []
    for v in volumes:
        caprun_args += ["-v", v]
    return host.capsule("files", name=name, caprun_args=caprun_args + list(args)).start(
        app_ready="files: listening")


def every_call():
    top, vol = volume_dir()
    host = Host()
    cap = start(host, [vol + ":/data"], ["-w", "/data"])
    with connect(cap.addr, PORT) as s:
        check_eq(request(s, "pwd"), "/data", "the working directory from -w")
        check_eq(request(s, "check /data"), "ok", "file calls on a writable volume")
        check_eq(request(s, "escape /data"), "ok", "escapes")
    with open(os.path.join(vol, "sub", "b.txt"), "rb") as f:
        check_eq(f.read(), b"final\n", "sub/b.txt seen from the host")
    with open(os.path.join(vol, "copy.bin"), "rb") as f:
        check(f.read() == BIG, "copy.bin (sendfile host -> /tmp -> host) is byte-exact")
    check(not os.path.exists(os.path.join(vol, "a.txt")), "a.txt was renamed away")
    check(not os.path.exists(os.path.join(vol, "gone")), "gone was unlinked")
    check(not os.path.exists(os.path.join(top, "sub")), "nothing written outside the volume")


def read_only():
    top, vol = volume_dir()
    host = Host()
    cap = start(host, [vol + ":/srv/ro:ro"])
    with connect(cap.addr, PORT) as s:
        check_eq(request(s, "ro /srv/ro"), "ok", "writes refused on a read-only volume")
    check_eq(sorted(os.listdir(vol)), ["abs", "big.bin", "hello.txt", "in", "out"],
             "the read-only volume's host directory after the attempts")


def sendfile_and_mmap():
    top, vol = volume_dir()
    host = Host()
    cap = start(host, [vol + ":/www"])
    with connect(cap.addr, PORT) as s:
        s.sendall(b"send /www/big.bin\n")
        line = b""
        while not line.endswith(b"\n"):
            line += s.recv(1)
        check_eq(line, b"size %d\n" % len(BIG), "size line")
        check(recv_exact(s, len(BIG)) == BIG, "sendfile from a host file to TCP is byte-exact")
        h = 1469598103934665603
        for b in BIG:
            h = ((h ^ b) * 1099511628211) & 0xffffffffffffffff
        check_eq(request(s, "map /www/big.bin"), "map %d %016x" % (len(BIG), h),
                 "mmap MAP_PRIVATE of a host file")


def bad_options():
    top, vol = volume_dir()
    for args, want in ((["-v", "/nonexistent-dir:/data"], "/nonexistent-dir"),
                       (["-v", vol + ":/tmp/x"], "PATH must be absolute"),
                       (["-v", vol + ":data"], "PATH must be absolute"),
                       (["-v", vol], "expected HOSTDIR:PATH"),
                       (["-v", vol + ":/data", "-w", "/data/nope"], "-w /data/nope"),
                       (["-w", "/etc"], "-w /etc")):
        code, out = run_caprun(args + [os.path.join(IMAGES, "files.cap")])
        check(code == 125 and want in out and len(out.strip().splitlines()) == 1,
              "caprun %s: exit %s, output %r" % (" ".join(args), code, out))


def snapshot_and_resume(host, cap, d, vol, before=None):
    """Snapshot cap to disk (it stops), run before(), resume with `caprun -v VOL:/data SNAP`."""
    path = os.path.join(d, cap.name + ".snap")
    snapshot(host, cap, path)
    if before:
        before()
    return Capsule(cap.name, env=host.env, argv=[CAPRUN, "-v", vol + ":/data", path]).start()


def held_file_across_snapshot():
    top, vol = volume_dir()
    host, d = Host(), tempdir()
    cap = start(host, [vol + ":/data"], name="held")
    s = connect(cap.addr, PORT)
    check_eq(request(s, "open /data/big.bin"), "ok", "open")
    check_eq(request(s, "read 10"), "data " + BIG[:10].hex(), "first 10 bytes")
    again = snapshot_and_resume(host, cap, d, vol)
    check_eq(request(s, "read 10"), "data " + BIG[10:20].hex(), "the next 10 bytes after resume")
    check_eq(request(s, "read 5"), "data " + BIG[20:25].hex(), "and on")
    s.close()
    again.stop()


def missing_after_resume():
    top, vol = volume_dir()
    host, d = Host(), tempdir()
    cap = start(host, [vol + ":/data"], name="miss")
    s = connect(cap.addr, PORT)
    check_eq(request(s, "open /data/hello.txt"), "ok", "open")
    check_eq(request(s, "read 2"), "data " + b"he".hex(), "first bytes")
    again = snapshot_and_resume(host, cap, d, vol,
                                before=lambda: os.unlink(os.path.join(vol, "hello.txt")))
    check_eq(request(s, "read 2"), "err EIO", "read on the file missing after resume")
    check_eq(request(s, "read 2"), "err EIO", "and again")
    check_eq(request(s, "pwd"), "/", "the capsule still serves")
    lines = [l for l in again.output_text().splitlines() if "hello.txt" in l]
    check_eq(len(lines), 1, "console lines about the missing file (%r)" % lines)
    check("/data/hello.txt" in lines[0] and "EIO" in lines[0], "the console line: %r" % lines[0])
    s.close()


def requests_in_flight_across_freezes():
    """Snapshots with --keep-running while file requests are in flight: the host drops what
    arrives while the capsule freezes, the capsule sends it again; every byte arrives once."""
    import threading
    top, vol = volume_dir()
    host, d = Host(), tempdir()
    cap = start(host, [vol + ":/data"], name="busy")
    s = connect(cap.addr, PORT)
    results, stop = [], []

    def transfers():
        try:
            while not stop:
                s.sendall(b"send /data/big.bin\n")
                line = b""
                while not line.endswith(b"\n"):
                    line += s.recv(1)
                results.append(line == b"size %d\n" % len(BIG) and recv_exact(s, len(BIG)) == BIG)
        except OSError as e:
            results.append(e)
    t = threading.Thread(target=transfers, daemon=True)
    t.start()
    for i in range(8):
        snapshot(host, cap, os.path.join(d, "busy-%d.snap" % i), keep_running=True)
    stop.append(1)
    t.join(60)
    check(not t.is_alive(), "the transfers did not finish after the snapshots")
    check(len(results) >= 2 and all(r is True for r in results),
          "transfers during the freezes: %r" % results[:20])
    s.close()


def held_file_across_migration():
    from miglib import Topology, migrate, wait_listed_only_on
    top_a, vol_a = volume_dir()
    top_b, vol_b = volume_dir()
    moved = BIG[:10] + b"B" * 10 + BIG[20:]   # host B's copy differs where the capsule reads next
    with open(os.path.join(vol_b, "big.bin"), "wb") as f:
        f.write(moved)
    topo = Topology(hosts=("A", "B", "G"), gateway="G",
                    daemon_args={"B": ["--volume", vol_b + ":/data"]}).start()
    a, b = topo["A"], topo["B"]
    x = a.capsule("files", name="x", caprun_args=["-v", vol_a + ":/data"]).start(
        app_ready="files: listening")
    s = topo.client.connect(x.addr, PORT)
    check_eq(request(s, "open /data/big.bin"), "ok", "open on host A")
    check_eq(request(s, "read 10"), "data " + BIG[:10].hex(), "first 10 bytes on host A")
    migrate(topo, "x", a, b)
    wait_listed_only_on(topo, "x", b)
    check_eq(request(s, "read 10"), "data " + (b"B" * 10).hex(),
             "the next 10 bytes, from host B's volume, after the migration")
    check_eq(request(s, "read 4"), "data " + moved[20:24].hex(), "and on")
    s.close()


def main():
    tap = Tap()
    tests = [
        ("volumes: every file call on a -v volume, -w, contents checked from the host", every_call),
        ("volumes: a read-only volume refuses writes with EROFS", read_only),
        ("volumes: sendfile from a host file to a TCP client, mmap MAP_PRIVATE", sendfile_and_mmap),
        ("volumes: bad -v / -w options give one line and exit 125", bad_options),
        ("volumes: a file held open continues at its offset across snapshot and resume",
         held_file_across_snapshot),
        ("volumes: a file missing after resume gives EIO and one console line", missing_after_resume),
        ("volumes: file requests in flight across --keep-running snapshots, byte-exact",
         requests_in_flight_across_freezes),
        ("volumes: a file held open continues at its offset across a live migration "
         "(caphostd --volume on the target)", held_file_across_migration),
    ]
    for name, fn in tests:
        tap.run(name, fn)
    tap.done()


if __name__ == "__main__":
    main()
