"""test_snapshot_files.py: snapshot files: capctl inspect, bad snapshots refused whole, unwritable destinations, sparse size."""
import json
import os
import socket
import struct
import subprocess

from caplib import (CAPCTL, CAPRUN, IMAGES, Capsule, Host, TestFailure, Tap, check, check_eq, connect,
                    descendants, host_snapshot_key, my_children, need_capsule_host, net_state,
                    next_count, no_guard,
                    request, run_tool, snap_as_version, snap_chunk_table_offset, snap_header,
                    snap_remac, snap_reseal, snapshot, SNAP_CHUNK, tempdir)

MIB = 1 << 20


# ------------------------------------------------------------------ inspect

def client_seqs(sock):
    """(next sequence number to send, next expected) of our side, via TCP_REPAIR; None if refused."""
    TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ = 19, 20, 21
    TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    except OSError:
        return None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
        write_seq = struct.unpack("<I", sock.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
        sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
        rcv_nxt = struct.unpack("<I", sock.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
    finally:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, -1)   # off, no window probe
        except OSError:
            sock.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0)
    return write_seq, rcv_nxt


def flat(d, out=None):
    """A nested JSON object's leaves under their own names (the innermost wins)."""
    out = {} if out is None else out
    for k, v in d.items():
        if isinstance(v, dict):
            flat(v, out)
        else:
            out[k] = v
    for k, v in d.items():   # this level's own keys win over nested ones
        if not isinstance(v, dict):
            out[k] = v
    return out


def endpoint(fd, side):
    """(ip, port) of an fd entry's local/remote end, whatever the exact JSON spelling."""
    f = flat(fd)
    for key in (side, side + "_addr", side + "_address"):
        v = f.get(key)
        if isinstance(v, str) and ":" in v:
            ip, port = v.rsplit(":", 1)
            return ip, int(port)
    return f.get(side + "_ip"), f.get(side + "_port")


def tcp_state(fd):
    f = flat(fd)
    return str(f.get("tcp_state", f.get("state", ""))).upper()


def inspect_counter():
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="insp").start()
    s = connect(cap.addr, 9000)
    check_eq([next_count(s) for _ in range(3)], [1, 2, 3], "replies before the snapshot")
    me_ip, me_port = s.getsockname()
    seqs = client_seqs(s)
    path = os.path.join(d, "insp.snap")
    snapshot(host, cap, path, keep_running=True)
    code, out, err = host.capctl(["inspect", "--json", path])
    check_eq(code, 0, "capctl inspect --json exit code (stderr %r)" % err)
    try:
        j = json.loads(out)
    except ValueError as e:
        raise TestFailure("capctl inspect --json is not JSON (%s): %r" % (e, out[:300]))
    check(isinstance(j, dict) and {"image", "capsule", "memory", "threads", "fds"} <= set(j),
          "capctl inspect --json keys: %r" % (sorted(j) if isinstance(j, dict) else type(j)))
    image = j["image"]
    check_eq(image.get("name") if isinstance(image, dict) else image, "counter", "image name")
    capsule = flat(j["capsule"]) if isinstance(j["capsule"], dict) else {}
    check_eq(capsule.get("name"), "insp", "capsule name")
    check_eq(capsule.get("ip"), cap.addr, "capsule ip")
    waits = [str(flat(t).get("blocked_on", "")) for t in j["threads"]]
    check(any(w.startswith("poll") for w in waits), "no thread blocked in poll: %r" % waits)
    tcp = [f for f in j["fds"] if "tcp" in str(flat(f).get("kind", flat(f).get("type", ""))).lower()]
    listen = [f for f in tcp if tcp_state(f) == "LISTEN"]
    check_eq([endpoint(f, "local")[1] for f in listen], [9000], "LISTEN sockets' ports")
    est = [f for f in tcp if tcp_state(f) == "ESTABLISHED"]
    check_eq(len(est), 1, "ESTABLISHED sockets (fds %r)" % j["fds"])
    e = flat(est[0])
    check_eq(endpoint(est[0], "local"), (cap.addr, 9000), "established socket's local end")
    check_eq(endpoint(est[0], "remote"), (me_ip, me_port), "established socket's remote end")
    for k in ("snd_una", "snd_nxt", "rcv_nxt", "unsent", "unacked", "unread"):
        check(isinstance(e.get(k), int), "established socket: %s missing or not a number: %r" % (k, e))
    check_eq((e["unsent"], e["unread"]), (0, 0), "unsent and unread bytes")
    check_eq(e["unacked"], (e["snd_nxt"] - e["snd_una"]) % (1 << 32), "unacked = snd_nxt - snd_una")
    if seqs:   # the capsule got all 15 bytes we sent, we got all 6 it sent
        check_eq((e["rcv_nxt"], e["snd_nxt"]), seqs,
                 "capsule rcv_nxt/snd_nxt against the client's write_seq/rcv_nxt")
    else:
        print("# TCP_REPAIR refused: sequence numbers not compared with the client's")
    code, text, err = host.capctl(["inspect", path])
    check_eq(code, 0, "capctl inspect exit code (stderr %r)" % err)
    for word in ("counter", cap.addr, "LISTEN", "ESTABLISHED", str(me_port), "poll"):
        check(word in text, "capctl inspect text lacks %r: %r" % (word, text[:600]))
    check_eq(next_count(s), 4, "capsule still counting after the snapshot")
    s.close()


# ---------------------------------------------------------- bad snapshots

def resume_must_fail(host, path, extra=(), why="", code=126):
    """caprun [extra] --resume path must exit code (126: cannot be run; 127: not there) with
    one line naming path, leaving nothing."""
    before_net, before_run = no_guard(net_state()), sorted(os.listdir(host.run_dir))
    p = subprocess.Popen([CAPRUN] + list(extra) + ["--resume", path], env=host.env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        for pid in descendants(p.pid):
            os.kill(pid, 9)
        p.kill()
        p.communicate()
        raise TestFailure("%s: caprun still running after 20 s" % why)
    out = out.decode("utf-8", "replace")
    lines = out.splitlines()
    check_eq(p.returncode, code, "%s: caprun exit code (output %r)" % (why, out))
    check(len(lines) == 1 and lines[0].startswith("caprun: %s: " % path),
          "%s: want one line 'caprun: %s: problem', got %r" % (why, path, out))
    check_eq(my_children(), [], "%s: processes left" % why)
    check_eq(no_guard(net_state()), before_net, "%s: links, addresses, routes left" % why)
    check_eq(sorted(os.listdir(host.run_dir)), before_run, "%s: files left in the run directory" % why)
    return lines[0]


def bad_snapshots_refused():
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="bad").start()
    with connect(cap.addr, 9000) as s:
        check_eq(next_count(s), 1, "reply before the snapshot")
    good = os.path.join(d, "good.snap")
    snapshot(host, cap, good)
    data = open(good, "rb").read()
    h = snap_header(data)
    check_eq(h["magic"], b"CAPSNP\r\n", "snapshot magic")
    check_eq(h["format_version"], 5, "the snapshot's format version")
    check_eq(snap_reseal(data, host_snapshot_key()), data,
             "our checksum and chunk tags of the untouched snapshot (test's own check)")

    def variant(name, content):
        p = os.path.join(d, name)
        with open(p, "wb") as f:
            f.write(content)
        return p

    mid = h["data_offset"] + h["data_size"] // 2
    flipped = bytearray(data)
    flipped[mid] ^= 0x10
    flip_chunk = (mid - h["data_offset"]) // SNAP_CHUNK
    version = bytearray(data)
    struct.pack_into("<I", version, 8, 99)
    old_format = bytearray(data)
    struct.pack_into("<I", old_format, 8, 1)   # format 1 had no MAC: refused, and says why
    # The control page (memfd offset 0, the first extent) no longer says "frozen capsule":
    # resume would jump wherever it points, so it is refused before anything is made.
    # Checksum and MAC made to fit with this host's key, as a buggy writer here would.
    check_eq(struct.unpack_from("<Q", data, 4096), (0,), "first extent's offset: the control page")
    unfrozen = bytearray(data)
    unfrozen[h["data_offset"]] ^= 0xff          # struct cap_control's magic
    cases = [
        ("truncated in the data", variant("half.snap", data[:len(data) // 2]), (), "truncat"),
        ("truncated in the header", variant("head.snap", data[:100]), (), "truncat"),
        ("empty file", variant("empty.snap", b""), (), ""),
        # --eager checks every chunk before anything is made (lazily, test_snapshot_lazy.py)
        ("one bit flipped in the data", variant("flip.snap", bytes(flipped)), ("--eager",),
         "chunk %d (file bytes %d-%d): checksum mismatch: snapshot is corrupt" % (
             flip_chunk, h["data_offset"] + flip_chunk * SNAP_CHUNK,
             h["data_offset"] + min((flip_chunk + 1) * SNAP_CHUNK, h["data_size"]))),
        ("wrong magic", variant("magic.snap", b"NOTASNAP" + data[8:]), (), "magic"),
        ("wrong format version", variant("version.snap", snap_reseal(version)), (), "version"),
        ("format version 1", variant("v1.snap", snap_reseal(old_format)), (),
         "snapshot format version 1 carries no authentication; this host reads only versions 2 to 5"),
        ("another image", good, ("--image", os.path.join(IMAGES, "echo.cap")), "build"),
        ("control page not frozen", variant("unfrozen.snap", snap_remac(snap_reseal(unfrozen, host_snapshot_key()), host_snapshot_key())),
         (), "the snapshot holds no frozen control page"),
        ("missing file", os.path.join(d, "nonexistent.snap"), (), ""),
    ]
    for why, path, extra, word in cases:
        line = resume_must_fail(host, path, extra, why, 127 if why == "missing file" else 126)
        check(word.lower() in line.lower(), "%s: error %r does not say %r" % (why, line, word))
    # A chunk hash edited (the checksum over the tables redone by hand, the MAC left): the
    # checksum made to fit says nothing to the MAC; left as it was, the checksum catches it.
    table = snap_chunk_table_offset(h["nextents"])
    hashed = bytearray(data)
    hashed[table + 5] ^= 0x01
    check_eq(resume_must_fail(host, variant("hash.snap", bytes(hashed)), (), "a chunk hash edited"),
             "caprun: %s: checksum mismatch: snapshot is corrupt" % os.path.join(d, "hash.snap"),
             "a chunk hash edited: the error")
    # ... and the good one still resumes (the failures above changed nothing).
    again = host.resume(good)
    with connect(again.addr, 9000) as s:
        check_eq(next_count(s), 2, "the good snapshot after all the bad ones")
    again.stop()
    # The same capsule as a version 2 file (no chunk table, the checksum over all of it), as
    # this host made them before version 3: still resumed (eagerly).
    v2 = snap_as_version(data, 2, host_snapshot_key())
    check_eq(snap_header(v2)["data_offset"], snap_chunk_table_offset(h["nextents"]),
             "the version 2 file's data offset")
    check_eq(len(v2), snap_chunk_table_offset(h["nextents"]) + h["data_size"],
             "the version 2 file's size")
    older = host.resume(variant("v2.snap", v2))
    with connect(older.addr, 9000) as s:
        check_eq(next_count(s), 2, "the same snapshot as a version 2 file")
    older.stop()
    # ... and as a version 3 file (BLAKE2b-256 per chunk, as written before version 5): still
    # resumed lazily, and a flipped bit in a chunk still refused.
    v3 = snap_as_version(data, 3, host_snapshot_key())
    check_eq(snap_header(v3)["format_version"], 3, "the version 3 file's format version")
    older = host.resume(variant("v3.snap", v3), plain=True)
    with connect(older.addr, 9000) as s:
        check_eq(next_count(s), 2, "the same snapshot as a version 3 file")
    older.stop()
    h3 = snap_header(v3)
    flipped3 = bytearray(v3)
    flipped3[h3["data_offset"] + (mid - h["data_offset"])] ^= 0x10
    check(resume_must_fail(host, variant("flip3.snap", bytes(flipped3)), ("--eager",),
                           "a bit flipped in a version 3 file").endswith(
        "chunk %d (file bytes %d-%d): checksum mismatch: snapshot is corrupt" % (
            flip_chunk, h3["data_offset"] + flip_chunk * SNAP_CHUNK,
            h3["data_offset"] + min((flip_chunk + 1) * SNAP_CHUNK, h3["data_size"]))),
          "a bit flipped in a version 3 file: its chunk named")


def unwritable_destinations():
    host, d = Host(), tempdir()
    cap = host.capsule("counter", name="nowrite").start()
    s = connect(cap.addr, 9000)
    check_eq(next_count(s), 1, "reply before the snapshots")

    missing = os.path.join(d, "no", "such", "dir", "x.snap")
    code, out, err = host.capctl(["snapshot", "nowrite", "-o", missing])
    check(code != 0, "missing directory: capctl exit 0, output %r %r" % (out, err))
    check_eq(len((out + err).strip().splitlines()), 1, "missing directory: error lines %r" % (out + err))
    check_eq(cap.proc.poll(), None, "caprun after a failed snapshot (missing directory)")
    check_eq(next_count(s), 2, "capsule answers after a failed snapshot (missing directory)")
    check_eq(os.listdir(d), [], "files left after a failed snapshot (missing directory)")

    # A read-only file system (permissions alone do not stop root): a second
    # capsule whose caprun runs in a private mount namespace where RO is a
    # read-only tmpfs; the mount vanishes with that caprun.
    ro = os.path.join(d, "ro")
    os.mkdir(ro)
    wrap = ["unshare", "-m", "sh", "-c",
            'mount -t tmpfs -o ro,size=1m capsule-ro "$0" && exec "$@"', ro]
    rocap = Capsule("counter", name="rofs", ip="198.18.0.3", env=host.env, prefix=wrap).start()
    rs = connect(rocap.addr, 9000)
    check_eq(next_count(rs), 1, "read-only test capsule's first reply")
    # capctl runs in that mount namespace too: whichever of the two writes the file sees RO.
    p = subprocess.run(["nsenter", "-m", "-t", str(rocap.pid), CAPCTL, "snapshot", "rofs", "-o",
                        os.path.join(ro, "x.snap")], env=host.env, capture_output=True, timeout=60)
    code, out, err = p.returncode, p.stdout.decode(), p.stderr.decode()
    check(code != 0, "read-only directory: capctl exit 0, output %r %r" % (out, err))
    check_eq(len((out + err).strip().splitlines()), 1, "read-only directory: error lines %r" % (out + err))
    check_eq(rocap.proc.poll(), None, "caprun after a failed snapshot (read-only directory)")
    check_eq(next_count(rs), 2, "capsule answers after a failed snapshot (read-only directory)")
    code, left, lserr = run_tool(["nsenter", "-m", "-t", str(rocap.pid), "ls", "-A", ro])
    check_eq((code, left.split()), (0, []), "files left in the read-only directory (%s)" % lserr)
    check_eq(os.listdir(ro), [], "files left under the read-only mount point")
    rs.close()
    rocap.stop()
    # and it can still be snapshotted for real
    snapshot(host, cap, os.path.join(d, "fine.snap"), keep_running=True)
    check_eq(next_count(s), 3, "capsule answers after a good snapshot")
    check_eq(sorted(os.listdir(d)), ["fine.snap", "ro"], "files in the snapshot directory")
    s.close()


# ------------------------------------------------------------------ sparse

def sparse_file_size():
    host, d = Host(), tempdir()
    cap = host.capsule("memtouch", name="sparse").start()
    s = connect(cap.addr, 9003, timeout=60)
    check_eq(request(s, "touch 4"), "touched 4 total 4", "touching 4 MiB")
    small = os.path.join(d, "small.snap")
    size4 = snapshot(host, cap, small, keep_running=True)["bytes"]
    h = snap_header(open(small, "rb").read(4096))
    # memtouch is built with a 2 GiB arena (images/build.mk) for the 1 GiB migration figures
    check_eq(h["arena_size"], 2 << 30, "arena size in the snapshot header")
    check(4 * MIB <= size4 <= 16 * MIB, "snapshot of a 2 GiB arena with 4 MiB touched is %d bytes" % size4)
    check_eq(request(s, "touch 64"), "touched 64 total 68", "touching 64 MiB more")
    size68 = snapshot(host, cap, os.path.join(d, "big.snap"), keep_running=True)["bytes"]
    check(64 * MIB <= size68 - size4 <= 66 * MIB,
          "64 MiB more touched grew the snapshot by %d bytes" % (size68 - size4))
    print("# 2 GiB arena: 4 MiB touched -> %.2f MiB file, 68 MiB touched -> %.2f MiB" % (
        size4 / MIB, size68 / MIB))
    st = os.stat(small)
    check(st.st_blocks * 512 <= st.st_size + 64 * 1024, "file takes more disk than its size")
    s.close()


def main():
    tap = Tap()
    tests = [
        ("snapshot: capctl inspect of counter with one client (json and text)", inspect_counter),
        ("snapshot: truncated, bit-flipped, wrong magic/version/image refused (exit 126, 127 if missing, nothing left)",
         bad_snapshots_refused),
        ("snapshot: missing or read-only destination fails, capsule keeps answering, no file left",
         unwritable_destinations),
        ("snapshot: file size follows touched memory, not the 2 GiB arena", sparse_file_size),
    ]
    for name, fn in tests:
        if not need_capsule_host(tap, name):
            tap.run(name, fn)
    tap.done()


main()
