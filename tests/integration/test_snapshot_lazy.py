"""test_snapshot_lazy.py: caprun FILE runs a snapshot before its memory is loaded: pages come from the file on first touch and in the background, each chunk checked first; a chunk found bad later stops the capsule with one line."""
# caprun's background loader is held back by a test hook (CAPSULE_TEST_LAZYLOAD_WAITS_FOR:
# no background loading until that file exists; faults are still served), so "still
# loading" is a state the test controls, and a chunk corrupted after the start is
# certainly found by a fault of the capsule, not by the background loader first.
import json
import os
import subprocess

from caplib import (CAPRUN, SNAP_CHUNK, Host, Tap, check, check_eq, connect, my_children, request,
                    snap_header, snapshot, tempdir)

MIB = 1 << 20
PORT = 9003   # images/memtouch
TOUCHED = 64  # MiB: 16384 pages, 256 chunks


def memtouch_snapshot(name):
    """A stopped memtouch snapshot with TOUCHED MiB stamped, its spare block dirtied, and
    a client connection that stays open across it."""
    host, d = Host(), tempdir()
    cap = host.capsule("memtouch", name=name).start()
    s = connect(cap.addr, PORT, timeout=60)
    s.settimeout(60)
    check_eq(request(s, "touch %d" % TOUCHED), "touched %d total %d" % (TOUCHED, TOUCHED), "touch")
    check_eq(request(s, "regrow"), "regrow 0", "the spare block before the snapshot")
    check_eq(request(s, "map"), "mapped", "1 MiB mapped and filled")
    check_eq(request(s, "ping"), "pong 1", "ping before the snapshot")
    path = os.path.join(d, name + ".snap")
    snapshot(host, cap, path)
    return host, d, path, s


def held_host(d):
    """A host whose capruns load nothing in the background until d/go exists."""
    host = Host()
    host.env["CAPSULE_TEST_LAZYLOAD_WAITS_FOR"] = os.path.join(d, "go")
    return host


def memory_mib(host, name):
    """The capsule's memfd as capctl ps --json counts it (bytes allocated), in MiB."""
    code, out, err = host.capctl(["ps", "--json"])
    check_eq(code, 0, "capctl ps (%s)" % err)
    rows = [r for r in json.loads(out) if r["name"] == name]
    check_eq(len(rows), 1, "capsule %s in capctl ps: %r" % (name, out))
    return rows[0]["memory_bytes"] / MIB


def loads_on_demand():
    _, d, path, s = memtouch_snapshot("lazy")
    host = held_host(d)
    cap = host.resume(path, plain=True)
    # Nothing loaded in the background: only what the capsule touched since it started.
    before = memory_mib(host, "lazy")
    check(before < TOUCHED / 4, "memory of the lazily resumed capsule before it looked at its "
          "heap: %.1f MiB" % before)
    # The same TCP connection goes on, byte for byte.
    check_eq(request(s, "ping"), "pong 2", "ping on the connection from before the snapshot")
    # Freed while loading: the pages given back must read zero when taken again, never the
    # snapshot's old bytes (rt_host_discard zeroes while CAP_HOST_LAZY_LOAD is set).
    check_eq(request(s, "regrow"), "regrow 0", "calloc after a free while loading")
    check_eq(request(s, "remap"), "remap 0", "the same range unmapped and mapped again while loading")
    # Every page, each brought in by a fault, as it was written.
    check_eq(request(s, "check"), "check ok %d 0" % (TOUCHED * 256), "memtouch's check, on demand")
    # A snapshot while still loading (the background loader still held): caprun finishes
    # the load first, then takes it; that file resumes whole.
    again = os.path.join(d, "again.snap")
    snapshot(host, cap, again)
    check_eq(snap_header(open(again, "rb").read(4096))["data_size"] >= TOUCHED * MIB, True,
             "the second snapshot holds all the memory")
    eager = Host().resume(again, extra=("--eager",))
    check_eq(request(s, "ping"), "pong 3", "ping after the second snapshot, resumed eagerly")
    check_eq(request(s, "check"), "check ok %d 0" % (TOUCHED * 256), "memtouch's check after both")
    s.close()
    eager.stop()


def loads_in_background():
    _, d, path, s = memtouch_snapshot("bg")
    host = Host()
    cap = host.resume(path)
    check_eq(request(s, "ping"), "pong 2", "ping after a lazy resume")
    # A snapshot waits for the background load; then everything is there.
    keep = os.path.join(d, "keep.snap")
    snapshot(host, cap, keep, keep_running=True)
    check(memory_mib(host, "bg") >= TOUCHED, "all memory loaded after the snapshot")
    check_eq(request(s, "check"), "check ok %d 0" % (TOUCHED * 256), "memtouch's check")
    s.close()
    cap.stop()


def bad_chunk_later(how):
    """The file damaged after caprun started (how: 'flip' or 'truncate'): the capsule touches
    the damaged chunk, caprun kills it and says so in one line, exit 126."""
    _, d, path, s = memtouch_snapshot("bad" + how)
    h = snap_header(open(path, "rb").read(4096))
    host = held_host(d)
    cap = host.resume(path)
    check_eq(request(s, "ping"), "pong 2", "ping after the lazy resume")
    chunk = (h["data_size"] // 2) // SNAP_CHUNK         # the middle of memtouch's heap
    start = h["data_offset"] + chunk * SNAP_CHUNK
    end = h["data_offset"] + min((chunk + 1) * SNAP_CHUNK, h["data_size"])
    with open(path, "r+b") as f:
        if how == "flip":
            f.seek(start + 1000)
            b = f.read(1)
            f.seek(start + 1000)
            f.write(bytes([b[0] ^ 0x40]))
            why = "checksum mismatch: snapshot is corrupt"
        else:
            f.truncate(start + 4096)
            why = "truncated: the file ends at %d" % (start + 4096)
    s.sendall(b"check\n")   # touches every page: the damaged chunk's too
    code = cap.wait_exit(60)
    check_eq(code, 126, "caprun's exit code (output %r)" % cap.output_text())
    err = [t for stream, t in cap.lines if stream == "err"]
    check_eq(err, ["caprun: %s: chunk %d (file bytes %d-%d): %s; capsule bad%s stopped" % (
        path, chunk, start, end, why, how)], "caprun's error")
    # No answer ever came: the capsule died before it could say anything about that memory.
    s.setblocking(False)
    try:
        got = s.recv(4096)
    except (BlockingIOError, ConnectionError):
        got = b""
    check_eq(got, b"", "what memtouch said to 'check'")
    s.close()
    check_eq(my_children(), [], "processes left")


def bad_chunk_before_start():
    """Damaged before the start: eagerly refused up front; lazily, stopped at the chunk."""
    _, d, path, s = memtouch_snapshot("early")
    s.close()
    h = snap_header(open(path, "rb").read(4096))
    chunk = (h["data_size"] // 2) // SNAP_CHUNK
    start = h["data_offset"] + chunk * SNAP_CHUNK
    with open(path, "r+b") as f:
        f.seek(start + 77)
        b = f.read(1)
        f.seek(start + 77)
        f.write(bytes([b[0] ^ 0x01]))
    line = "chunk %d (file bytes %d-%d): checksum mismatch: snapshot is corrupt" % (
        chunk, start, start + SNAP_CHUNK)
    host = Host()
    p = subprocess.run([CAPRUN, "--eager", path], env=host.env, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    check_eq((p.returncode, p.stdout, p.stderr.decode()), (126, b"", "caprun: %s: %s\n" % (path, line)),
             "--eager: refused before anything runs")
    # Lazily it starts (the tables authenticate), and the background loader finds the chunk.
    p = subprocess.run([CAPRUN, path], env=host.env, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    err = p.stderr.decode().splitlines()
    check_eq((p.returncode, err), (126, ["caprun: %s: %s; capsule early stopped" % (path, line)]),
             "lazily: stopped at the bad chunk")
    check_eq(my_children(), [], "processes left")


def main():
    tap = Tap()
    tap.run("lazy resume: pages on demand, a free while loading reads zero, a snapshot while "
            "loading is whole, the TCP stream goes on", loads_on_demand)
    tap.run("lazy resume: the background load completes; memtouch's check passes", loads_in_background)
    tap.run("lazy resume: a chunk flipped after the start stops the capsule (one line, exit 126)",
            lambda: bad_chunk_later("flip"))
    tap.run("lazy resume: a file truncated after the start stops the capsule (one line, exit 126)",
            lambda: bad_chunk_later("truncate"))
    tap.run("lazy resume: a chunk bad before the start: --eager refuses it, lazily it stops there",
            bad_chunk_before_start)
    tap.done()


main()
