"""criubench.py: a stopping snapshot of a memtouch capsule with 64 MiB touched against CRIU's dump of the same program built natively, alternated in one run (issue 13's baseline; CRIU is not part of the build).

    # criu first in PATH: Debian 12's (3.17) stops at kernel 6.18's vDSO; 4.2 from source works
    unshare -n -m sh -c 'mount --make-rprivate / && mount -t tmpfs tmpfs /run &&
        ip link set lo up && python3 tests/bench/criubench.py --rounds 5'

Each round: memtouch as a capsule, 64 MiB touched over one TCP connection that stays open,
`capctl snapshot` (the capsule stops; capctl's wall time, caprun's own written figure);
then images/memtouch/memtouch.c built by gcc, the same 64 MiB touched over one open
connection, `criu dump --tcp-established` (the process is killed once dumped, as a
stopping snapshot stops the capsule; criu's wall time). /run on a tmpfs in a private
mount namespace and `--network-lock nftables`: criu re-probes the kernel on every call
unless /run is a tmpfs (about 90 ms here), and its iptables lock costs about 25 ms a
connection; both are setup, not the dump. Medians and the files' sizes."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from caplib import BUILD, Host, connect, request, snapshot, stop_all, tempdir  # noqa: E402

PORT = 9003   # images/memtouch
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def du(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def capsule_round(mib, d, i):
    host = Host()
    cap = host.capsule("memtouch", name="crb").start()
    s = connect(cap.addr, PORT, timeout=120)
    s.settimeout(120)
    if not request(s, "touch %d" % mib).startswith("touched"):
        raise RuntimeError("memtouch did not touch %d MiB" % mib)
    path = os.path.join(d, "crb%d.snap" % i)
    snap = snapshot(host, cap, path, timeout=300)
    s.close()
    size = os.path.getsize(path)
    os.unlink(path)
    return snap["seconds"] * 1000, snap["written_ms"], size


def criu_round(native, mib, d, i):
    out = open(os.path.join(d, "native.out"), "w")
    p = subprocess.Popen([native], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                         start_new_session=True, cwd=d)
    try:
        deadline = time.monotonic() + 10
        while "listening" not in open(out.name).read():
            if time.monotonic() > deadline or p.poll() is not None:
                raise RuntimeError("native memtouch did not start: %r" % open(out.name).read())
            time.sleep(0.01)
        s = connect("127.0.0.1", PORT, timeout=120)
        s.settimeout(120)
        if not request(s, "touch %d" % mib).startswith("touched"):
            raise RuntimeError("native memtouch did not touch %d MiB" % mib)
        images = os.path.join(d, "criu%d" % i)
        os.mkdir(images)
        t0 = time.monotonic()
        r = subprocess.run(["criu", "dump", "-t", str(p.pid), "-D", images, "-o", "dump.log",
                            "--tcp-established", "--network-lock", "nftables"],
                           capture_output=True, text=True)
        ms = (time.monotonic() - t0) * 1000
        if r.returncode != 0:
            logf = os.path.join(images, "dump.log")
            log = open(logf).read()[-600:] if os.path.exists(logf) else r.stderr[-600:]
            raise RuntimeError("criu dump: exit %d: %s" % (r.returncode, log))
        # CRIU writes its images without fsync; a snapshot file is durable when capctl
        # returns. What it takes to make CRIU's images durable too:
        t1 = time.monotonic()
        for dirpath, _, files in os.walk(images):
            for f in files:
                fd = os.open(os.path.join(dirpath, f), os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
        dfd = os.open(images, os.O_RDONLY | os.O_DIRECTORY)
        os.fsync(dfd)
        os.close(dfd)
        sync_ms = (time.monotonic() - t1) * 1000
        size = du(images)
        shutil.rmtree(images)
        s.close()
        return ms, sync_ms, size
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
        out.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mib", type=int, default=64)
    a = ap.parse_args()
    if not shutil.which("criu"):
        print("criubench: no criu in PATH (docs/MIGRATION.md section 4f); nothing measured")
        return
    native = os.path.join(BUILD, "bench", "native", "memtouch")
    os.makedirs(os.path.dirname(native), exist_ok=True)
    subprocess.run(["gcc", "-std=c11", "-D_DEFAULT_SOURCE", "-O2", "-o", native,
                    os.path.join(ROOT, "images", "memtouch", "memtouch.c")], check=True)
    d = tempdir()
    ours, written, ours_size, theirs, synced, theirs_size = [], [], [], [], [], []
    try:
        for i in range(a.rounds + 1):   # round 0 unmeasured: page cache, binaries
            ms, w, size = capsule_round(a.mib, d, i)
            cms, csync, csize = criu_round(native, a.mib, d, i)
            if i:
                ours.append(ms)
                written.append(w)
                ours_size.append(size)
                theirs.append(cms)
                synced.append(cms + csync)
                theirs_size.append(csize)
    finally:
        stop_all()
    print("stopping snapshot, %d MiB touched, 1 open TCP connection; medians of %d alternating "
          "rounds" % (a.mib, a.rounds))
    print("  capctl snapshot (capsule)     %7.1f ms (caprun's written %.0f ms)  %6.1f MiB" % (
        statistics.median(ours), statistics.median(written), statistics.median(ours_size) / 2**20))
    print("  criu dump (native process)    %7.1f ms                          %6.1f MiB" % (
        statistics.median(theirs), statistics.median(theirs_size) / 2**20))
    print("  criu dump, then fsync'd       %7.1f ms" % statistics.median(synced))
    print("  ratio (capsule / criu)        %7.2fx (%.2fx against the fsync'd dump; a snapshot "
          "file is durable when capctl returns)" % (
              statistics.median(ours) / statistics.median(theirs),
              statistics.median(ours) / statistics.median(synced)))


if __name__ == "__main__":
    main()
