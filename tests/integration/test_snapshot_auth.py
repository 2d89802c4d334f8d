"""test_snapshot_auth.py: snapshots are authenticated: edited ones (plain checksum recomputed) and ones from another key are refused with one line and exit 126; untouched ones resume; the host key is made on first need; a cluster key in the run directory wins."""
import json
import os
import stat
import struct
import subprocess

from caplib import (CAPRUN, Host, Tap, TestFailure, check, check_eq, cluster_snapshot_key, connect,
                    descendants, my_children, need_capsule_host, net_state, next_count, no_guard,
                    SNAP_CHUNK, SNAP_FMT, snap_header, snap_reseal, snapshot, snapshot_key_id,
                    tempdir)


def key_file(path, key):
    with open(path, "wb") as f:
        f.write(key)
    os.chmod(path, 0o600)


def counter_snapshot(host, d, name, count=3):
    """A snapshot of a counter capsule that answered `count` times; (path, bytes)."""
    cap = host.capsule("counter", name=name).start()
    with connect(cap.addr, 9000) as s:
        check_eq([next_count(s) for _ in range(count)], list(range(1, count + 1)), "replies")
    path = os.path.join(d, name + ".snap")
    snapshot(host, cap, path)
    with open(path, "rb") as f:
        return path, f.read()


def refused(host, path, want, extra=()):
    """caprun [EXTRA] --resume path: exit 126, exactly the line `caprun: PATH: want`, nothing left."""
    before_net, before_run = no_guard(net_state()), sorted(os.listdir(host.run_dir))
    p = subprocess.Popen([CAPRUN] + list(extra) + ["--resume", path], env=host.env,
                         stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        for pid in descendants(p.pid):
            os.kill(pid, 9)
        p.kill()
        p.communicate()
        raise TestFailure("caprun --resume %s still running after 20 s" % path)
    check_eq((p.returncode, out.decode(), err.decode()), (126, "", "caprun: %s: %s\n" % (path, want)),
             "caprun --resume (exit code, stdout, stderr)")
    check_eq(my_children(), [], "processes left")
    check_eq(no_guard(net_state()), before_net, "links, addresses, routes left")
    check_eq(sorted(os.listdir(host.run_dir)), before_run, "files left in the run directory")


def resumes(host, path, count):
    cap = host.resume(path)
    with connect(cap.addr, 9000) as s:
        check_eq(next_count(s), count, "the resumed counter's next reply")
    cap.stop()


def edited_snapshots_refused():
    host, d = Host(), tempdir()
    path, data = counter_snapshot(host, d, "edited")
    h = snap_header(data)
    with open(os.environ["CAPSULE_HOST_KEY"], "rb") as f:
        check_eq(h["key_id"], snapshot_key_id(f.read()), "the snapshot names this host's key")
    key = h["key_id"].hex()
    check_eq(snap_reseal(data), data, "our plain checksum of the untouched snapshot (test's own)")
    check_eq(h["format_version"], 5, "the snapshot's format version")
    # A header field with the plain checksum redone: the MAC catches it.
    off = struct.calcsize(SNAP_FMT[:SNAP_FMT.index("qq")])   # the frozen-at time
    edited = bytearray(data)
    edited[off] ^= 0x01
    bad = os.path.join(d, "edited-%d.snap" % off)
    with open(bad, "wb") as f:
        f.write(snap_reseal(bytes(edited)))
    refused(host, bad, "authentication failed (contents changed since it was made with host "
            "key %s)" % key)
    # One byte of the capsule's memory: its chunk's tag needs the key, so the plain checksum
    # redone changes nothing and the tag catches it (--eager: before anything is made).
    off = h["data_offset"] + h["data_size"] // 2
    chunk = (off - h["data_offset"]) // SNAP_CHUNK
    edited = bytearray(data)
    edited[off] ^= 0x01
    bad = os.path.join(d, "edited-%d.snap" % off)
    with open(bad, "wb") as f:
        f.write(snap_reseal(bytes(edited)))
    refused(host, bad, "chunk %d (file bytes %d-%d): checksum mismatch: snapshot is corrupt" % (
        chunk, h["data_offset"] + chunk * SNAP_CHUNK,
        h["data_offset"] + min((chunk + 1) * SNAP_CHUNK, h["data_size"])), ("--eager",))
    resumes(host, path, 4)   # and the untouched one still resumes


def other_keys_refused():
    host, d = Host(), tempdir()
    path, data = counter_snapshot(host, d, "otherkey")
    key = snap_header(data)["key_id"].hex()
    # Another host (key) of no cluster: it cannot verify, and says whose key it would need.
    other = os.urandom(32)
    key_file(os.path.join(d, "other.key"), other)
    host.env["CAPSULE_HOST_KEY"] = os.path.join(d, "other.key")
    refused(host, path, "authentication failed: snapshot was made with key %s, this host has no "
            "such key (it has host key %s)" % (key, snapshot_key_id(other).hex()))
    # A host with no key at all: refused, and resuming does not make one.
    host.env["CAPSULE_HOST_KEY"] = os.path.join(d, "none", "host.key")
    refused(host, path, "authentication failed: snapshot was made with key %s, this host has no "
            "such key (it has no snapshot key)" % key)
    check(not os.path.exists(os.path.join(d, "none")), "resume made a host key")
    # capctl inspect still shows it, and says it does not verify here.
    code, out, err = host.capctl(["inspect", "--json", path])
    check_eq((code, err), (0, ""), "capctl inspect --json with a foreign key (exit code, stderr)")
    k = json.loads(out)["key"]
    check_eq((k["id"], k["verified"], k["verified_with"]), (key, False, None), "inspect's key")
    check("no such key" in k["problem"], "inspect's problem: %r" % k["problem"])
    host.env["CAPSULE_HOST_KEY"] = os.environ["CAPSULE_HOST_KEY"]
    code, out, err = host.capctl(["inspect", path])
    check_eq(code, 0, "capctl inspect exit code (stderr %r)" % err)
    want = "  key        %s: verified with this host's host key" % key
    check(want in out.splitlines(), "capctl inspect lacks %r: %r" % (want, out[:500]))
    resumes(host, path, 4)


def host_key_made_on_first_need():
    host, d = Host(), tempdir()
    fresh = os.path.join(d, "state", "capsule", "host.key")
    host.env["CAPSULE_HOST_KEY"] = fresh
    path, data = counter_snapshot(host, d, "firstkey")
    st = os.stat(fresh)
    check_eq((stat.S_IMODE(st.st_mode), st.st_size), (0o600, 32), "the new host key's mode and size")
    for sub in ("state", os.path.join("state", "capsule")):
        check_eq(stat.S_IMODE(os.stat(os.path.join(d, sub)).st_mode), 0o700, "mode of %s" % sub)
    with open(fresh, "rb") as f:
        key = f.read()
    check_eq(snap_header(data)["key_id"], snapshot_key_id(key), "the snapshot names the new key")
    check_eq(sorted(os.listdir(os.path.dirname(fresh))), ["host.key"], "files beside the key")
    path2, data2 = counter_snapshot(host, d, "firstkey2")
    with open(fresh, "rb") as f:
        check_eq(f.read(), key, "the host key after a second snapshot (made once)")
    resumes(host, path, 4)


def cluster_key_wins():
    """A run directory with snapshot.key (what caphostd writes): snapshots use it, hosts that
    have it (the cluster) resume them, a host without it does not."""
    d = tempdir()
    cluster = cluster_snapshot_key(os.urandom(32))
    a, b, c = Host(), Host(), Host()
    for h in (a, c):
        key_file(os.path.join(h.run_dir, "snapshot.key"), cluster)
    path, data = counter_snapshot(a, d, "clustered")
    key = snapshot_key_id(cluster).hex()
    check_eq(snap_header(data)["key_id"].hex(), key, "the snapshot names the cluster key")
    mine_path = os.environ["CAPSULE_HOST_KEY"]
    mine = None
    if os.path.exists(mine_path):   # made by an earlier test of this run, or not
        with open(mine_path, "rb") as f:
            mine = snapshot_key_id(f.read()).hex()
    refused(b, path, "authentication failed: snapshot was made with key %s, this host has no "
            "such key (it has %s)" % (key, "host key %s" % mine if mine else "no snapshot key"))
    resumes(c, path, 4)


def main():
    tap = Tap()
    tests = [
        ("snapshot auth: a memory byte or header field edited, plain checksum redone: refused",
         edited_snapshots_refused),
        ("snapshot auth: another host key or none: refused naming the key; inspect says so",
         other_keys_refused),
        ("snapshot auth: the host key is made on first need (0600, directories 0700), once",
         host_key_made_on_first_need),
        ("snapshot auth: a cluster key in the run directory wins; only its holders resume",
         cluster_key_wins),
    ]
    for name, fn in tests:
        if not need_capsule_host(tap, name):
            tap.run(name, fn)
    tap.done()


main()
