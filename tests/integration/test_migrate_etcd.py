"""test_migrate_etcd.py: live migrations in a ring under traffic with the directory on a 3-member etcd cluster and two capdird replicas: the etcd leader killed, a replica killed, quorum lost and back; one copy, streams byte-exact."""
# tests/run timeout: 900
import socket

from caplib import Tap
from miglib import (Sniffer, Topology, check, check_eq, daemon_stats, hosts_listing,  # noqa: F401
                    migrate_run, relay_streams, rsts, wait_listed_only_on, RING)
import etcdlib


def setup():
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G", directory="etcd").start()
    y = topo["B"].capsule("echo", name="y").start()
    x = topo["A"].capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    sniff = Sniffer("eth0", topo.client)
    streams = relay_streams(topo, x, y, 3, warm=100, rate=0.002)
    return topo, x, y, sniff, streams


def migrate_killing(src, dst, kill=None, phase="transfer", timeout=200):
    """capctl migrate x --to dst --json on src; kill() runs as soon as `phase` has ended
    (its progress line), i.e. in the middle of the migration.  (code, json or None, text)."""
    import json
    import subprocess
    from caplib import CAPCTL
    p = subprocess.Popen(src.prefix + [CAPCTL, "migrate", "x", "--to", str(dst.host_id), "--json"],
                         env=src.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    progress = []
    for line in p.stderr:                      # "  PHASE MS ..." as each phase ends
        progress.append(line.decode().strip())
        if kill and progress[-1].startswith(phase):
            kill()
            kill = None
    out, err = p.communicate(timeout=timeout)
    text = "exit %d, progress %r, stdout %r, stderr %r" % (p.returncode, progress, out[-300:],
                                                          err[-300:])
    return p.returncode, json.loads(out) if p.returncode == 0 else None, text


def one_move(topo, x, src, dst, streams, what, kill=None):
    """Migrate x src -> dst (kill() in its middle): it completes (x on dst, epoch + 1) or
    fails and x stays on src; either way x is listed on exactly one host, the directory
    agrees, and every stream gets 20 more lines back through wherever x runs.  Returns the
    host x runs on and whether it moved."""
    before = topo.lookup(x.addr)
    sent = [s.sent for s in streams]
    code, j, text = migrate_killing(src, dst, kill)
    where = dst if code == 0 else src
    print("# %s %s -> %s: %s" % (what, src.name, dst.name, "done, downtime %d ms, total %d ms" % (
        j["downtime_ms"], j["total_ms"]) if code == 0 else text), flush=True)
    if code == 0:
        check_eq((j["to"], j["epoch"]), (dst.host_id, before[2] + 1),
                 "%s: migration JSON to, epoch" % what)
    wait_listed_only_on(topo, "x", where)
    entry = topo.lookup(x.addr)
    check_eq(entry[:2], ("x", where.host_id), "%s: the directory names the host x runs on (%s)" % (
        what, text))
    check(entry[2] >= before[2] + (1 if code == 0 else 0), "%s: epoch went back" % what)
    for s, n in zip(streams, sent):
        s.wait_got(n + 20, 60)
    return where, code == 0


def finish(topo, x, sniff, streams, last, moved):
    """Every line back exactly once, no RST, and X (under last's caphostd once it moved)
    moved exactly the bytes the client sent, each way."""
    for s in streams:
        n = s.finish(60)
        check_eq(s.got, n, "%s: lines back against lines sent" % s.tag)
    check_eq(rsts(sniff.snapshot()), [], "RST segments seen by the client")
    where = last.daemon if moved else x
    for i, s in enumerate(streams, 1):
        s.sock.shutdown(socket.SHUT_WR)
        m = where.wait_for(r"relayer: pair %d closed: (\d+) bytes client->target, (\d+) bytes "
                           r"target->client" % i, 30)
        check(m is not None, "X never reported pair %d closed" % i)
        want = s.sent * len(s.line(0))
        check_eq((int(m.group(1)), int(m.group(2))), (want, want),
                 "%s: bytes X moved each way, byte-exact" % s.tag)


def leader_then_replica():
    topo, x, y, sniff, streams = setup()
    here, done = 0, 0
    where = topo["A"]
    for i in range(6):
        src, dst = topo[RING[here]], topo[RING[(here + 1) % len(RING)]]
        kill = None
        if i == 1:
            leader = topo.etcd.leader()
            check(leader is not None, "no etcd leader")

            def kill():
                print("# killing etcd leader %s after the transfer of migration 2" % leader.name,
                      flush=True)
                leader.kill()
        if i == 3:
            def kill():
                print("# killing capdird replica 0 (every host's first) after the transfer of "
                      "migration 4", flush=True)
                topo.kill_replica(0)
        where, ok = one_move(topo, x, src, dst, streams, "migration %d" % (i + 1), kill)
        done += ok
        if ok:
            here = (here + 1) % len(RING)
    print("# %d of 6 migrations completed, the rest left x on its source" % done, flush=True)
    check(done >= 4, "only %d of 6 migrations completed" % done)
    finish(topo, x, sniff, streams, where, done > 0)


def quorum_lost_and_back():
    """Quorum (2 of 3 members) is killed once the migration's transfer is done: the target's
    pull (the MOVE, retried until answered) cannot commit, so the migration waits; the members
    come back, the MOVE commits and the migration completes (within the source's 10 s wait)."""
    import subprocess
    import time
    from caplib import CAPCTL
    topo, x, y, sniff, streams = setup()
    src, dst = topo["A"], topo["B"]
    before = topo.lookup(x.addr)
    p = subprocess.Popen(src.prefix + [CAPCTL, "migrate", "x", "--to", str(dst.host_id), "--json"],
                         env=src.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    progress = []
    lost = []
    for line in p.stderr:                      # "  PHASE MS ..." as each phase ends
        progress.append(line.decode().strip())
        if progress[-1].startswith("transfer"):
            leader = topo.etcd.leader()
            lost = [leader] + [m for m in topo.etcd.members if m is not leader][:1]
            for m in lost:
                m.kill()
            break
    check(lost, "no transfer phase in the migration's progress: %r" % progress)
    t_lost = time.monotonic()
    print("# transfer done; etcd members %s killed: no quorum" % [m.name for m in lost], flush=True)
    # synchronize on the outage itself: the surviving member says it is unhealthy (no leader)
    alive = [m for m in topo.etcd.members if m not in lost][0]
    deadline = time.monotonic() + 30
    while alive.healthy():
        check(time.monotonic() < deadline, "member %s still healthy without quorum" % alive.name)
    code, _, err = topo.capdir("lookup", x.addr)      # nor does either replica answer
    check(code != 0 and "no answer" in err, "the directory answered without quorum: %d %r" % (
        code, err))
    waited = p.poll() is None
    print("# %.1f s without quorum, the migration %s" % (
        time.monotonic() - t_lost, "still waiting" if waited else "had already ended"), flush=True)
    for m in lost:
        m.start()
    topo.etcd.wait_healthy(60)
    outage = time.monotonic() - t_lost
    print("# quorum back after %.1f s" % outage, flush=True)
    out, err = p.communicate(timeout=200)
    check(waited, "the migration ended before quorum returned")
    # The source waits STARTED_TIMEOUT_MS (caprun_mig.c, 10 s) for the target to say it
    # started; within it the target's pull, retried until answered, commits once quorum is
    # back and the migration completes.  A longer outage (a loaded machine restarts etcd
    # slowly) lets the source give up: then its FENCE or the pull, whichever commits first,
    # decides; either way one copy, where the directory says.
    where = dst if p.returncode == 0 else src
    print("# the migration %s" % ("completed" if p.returncode == 0 else
                                  "left x on its source: %r" % err[-200:]), flush=True)
    if outage < 8:
        check_eq(p.returncode, 0, "the migration after a %.1f s outage: %r %r" % (
            outage, out[-300:], err[-300:]))
    wait_listed_only_on(topo, "x", where)
    entry = topo.lookup(x.addr)
    check_eq(entry[:2], ("x", where.host_id), "the directory names where x runs")
    if p.returncode == 0:
        check_eq(entry[2], before[2] + 1, "the directory: epoch + 1")
    sent = [s.sent for s in streams]
    for s, n in zip(streams, sent):
        s.wait_got(n + 20, 60)
    nxt = topo["C"]                            # and the next migration, with quorum
    m2 = migrate_run(topo, "x", where, nxt, timeout=120)
    check_eq(m2.code, 0, "a migration after quorum returned: %r" % m2)
    wait_listed_only_on(topo, "x", nxt)
    finish(topo, x, sniff, streams, nxt, True)


def main():
    tap = Tap()
    if not etcdlib.available():
        tap.skip("migrations over etcd", "no etcd binary (mk/deps.sh installs etcd-server)")
        tap.done()
    tap.run("migrate over etcd: ring under traffic, etcd leader killed, then a capdird replica, "
            "each mid-migration",
            leader_then_replica)
    tap.run("migrate over etcd: quorum lost mid-migration: it waits, completes when quorum is back",
            quorum_lost_and_back)
    tap.done()


main()
