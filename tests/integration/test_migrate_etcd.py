"""test_migrate_etcd.py: live migrations in a ring under traffic with the directory on a 3-member etcd cluster and two capdird replicas: the etcd leader killed, a replica killed, quorum lost before a move (it waits with the capsule running) and after the freeze; one copy, streams byte-exact."""
# tests/run timeout: 900
import socket
import time

from caplib import Tap
from miglib import (Sniffer, Topology, caprun_pids, check, check_eq, daemon_stats,  # noqa: F401
                    host_of_pid, hosts_listing, migrate_run, relay_streams, rsts,
                    wait_counter, wait_listed_only_on, RING)
import etcdlib


def setup(daemon_env=None):
    topo = Topology(hosts=("A", "B", "C", "G"), gateway="G", directory="etcd",
                    daemon_env=daemon_env).start()
    y = topo["B"].capsule("echo", name="y").start()
    x = topo["A"].capsule("relayer", name="x", args=["9100", y.addr, "7"]).start()
    sniff = Sniffer("eth0", topo.client)
    streams = relay_streams(topo, x, y, 3, warm=100, rate=0.002)
    return topo, x, y, sniff, streams


def migrate_killing(src, dst, kill=None, after=0.0, timeout=200):
    """capctl migrate x --to dst --json on src; kill() runs `after` seconds after it started
    (a random moment: in any phase, or once it ended).  (code, json or None, text, where the
    kill landed)."""
    import json
    import subprocess
    import threading
    from caplib import CAPCTL
    p = subprocess.Popen(src.prefix + [CAPCTL, "migrate", "x", "--to", str(dst.host_id), "--json"],
                         env=src.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    progress, landed = [], []

    def fire():
        # the last phase that ended when the kill landed ("start": none yet)
        landed.append("after %s" % (progress[-1].split()[0] if progress else "start")
                      if p.poll() is None else "after the migration ended")
        kill()
    timer = threading.Timer(after, fire) if kill else None
    if timer:
        timer.start()
    try:
        for line in p.stderr:                  # "  PHASE MS ..." as each phase ends
            progress.append(line.decode().strip())
        out, err = p.communicate(timeout=timeout)
    finally:
        if timer:
            timer.join()                       # the kill happened before anything is judged
    text = "exit %d, progress %r, stdout %r, stderr %r" % (p.returncode, progress, out[-300:],
                                                          err[-300:])
    return p.returncode, json.loads(out) if p.returncode == 0 else None, text, \
        landed[0] if landed else None


def one_move(topo, x, src, dst, streams, what, kill=None, after=0.0, others=()):
    """Migrate x src -> dst (kill() `after` seconds into it): it completes (x on dst, epoch + 1)
    or fails and x stays on src; either way x is listed on exactly one host, the directory
    agrees, exactly one caprun (besides the PIDs in others) runs it, and every stream gets 20
    more lines back through wherever x runs.  Returns the host x runs on, whether it moved,
    and the migration's total ms (0 if it failed)."""
    before = topo.lookup(x.addr)
    sent = [s.sent for s in streams]
    code, j, text, landed = migrate_killing(src, dst, kill, after)
    where = dst if code == 0 else src
    print("# %s %s -> %s: %s%s" % (what, src.name, dst.name, "done, downtime %d ms, total %d ms" % (
        j["downtime_ms"], j["total_ms"]) if code == 0 else text,
        "; the kill %.3f s in landed %s" % (after, landed) if kill else ""), flush=True)
    if code == 0:
        check_eq((j["to"], j["epoch"]), (dst.host_id, before[2] + 1),
                 "%s: migration JSON to, epoch" % what)
    wait_listed_only_on(topo, "x", where)
    entry = topo.lookup(x.addr)
    check_eq(entry[:2], ("x", where.host_id), "%s: the directory names the host x runs on (%s)" % (
        what, text))
    check(entry[2] >= before[2] + (1 if code == 0 else 0), "%s: epoch went back" % what)
    xs = caprun_pids(exclude=others)
    check_eq([getattr(host_of_pid(topo, pid), "name", "?") for pid in xs], [where.name],
             "%s: the capruns of x (exactly one copy)" % what)
    for s, n in zip(streams, sent):
        s.wait_got(n + 20, 60)
    return where, code == 0, j["total_ms"] if code == 0 else 0


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
    """A ring of 6 migrations under traffic; the etcd leader is killed at a random moment of
    migration 2 or 3, a capdird replica (every host's first) at a random moment of migration 4
    or 5: each moment uniform over 0 .. 1.5 x the first migration's length, so it lands in any
    phase or just after the migration ended (seeded: CAPTEST_SEED replays a run)."""
    import os
    import random
    seed = int(os.environ.get("CAPTEST_SEED") or random.SystemRandom().randrange(1 << 32))
    rng = random.Random(seed)
    print("# seed %d (replay: CAPTEST_SEED=%d)" % (seed, seed), flush=True)
    topo, x, y, sniff, streams = setup()
    leader_at, replica_at = rng.choice((2, 3)), rng.choice((4, 5))
    fractions = (rng.uniform(0, 1.5), rng.uniform(0, 1.5))
    here, done, first_s = 0, 0, None
    where = topo["A"]
    for i in range(1, 7):
        src, dst = topo[RING[here]], topo[RING[(here + 1) % len(RING)]]
        kill, after = None, 0.0
        if i == leader_at:
            leader = topo.etcd.leader()
            check(leader is not None, "no etcd leader")
            after = fractions[0] * first_s

            def kill():
                print("# killing etcd leader %s, %.3f s into migration %d" % (
                    leader.name, after, i), flush=True)
                leader.kill()
        if i == replica_at:
            after = fractions[1] * first_s

            def kill():
                print("# killing capdird replica 0 (every host's first), %.3f s into migration %d"
                      % (after, i), flush=True)
                topo.kill_replica(0)
        where, ok, total_ms = one_move(topo, x, src, dst, streams, "migration %d" % i, kill, after,
                                       others=(y.pid,))
        if first_s is None:
            check(ok, "the first migration, before any kill, failed")
            first_s = total_ms / 1000.0
        done += ok
        if ok:
            here = (here + 1) % len(RING)
    print("# %d of 6 migrations completed, the rest left x on its source" % done, flush=True)
    check(done >= 4, "only %d of 6 migrations completed" % done)
    finish(topo, x, sniff, streams, where, done > 0)


def lose_quorum(topo):
    """Kill the etcd leader and one more member, and wait until the survivor says it is
    unhealthy (no leader): the cluster cannot commit.  The members killed."""
    import time
    leader = topo.etcd.leader()
    check(leader is not None, "no etcd leader")
    lost = [leader] + [m for m in topo.etcd.members if m is not leader][:1]
    for m in lost:
        m.kill()
    alive = [m for m in topo.etcd.members if m not in lost][0]
    deadline = time.monotonic() + 30
    while alive.healthy():
        check(time.monotonic() < deadline, "member %s still healthy without quorum" % alive.name)
    return lost


def regain_quorum(topo, lost):
    for m in lost:
        m.start()
    topo.etcd.wait_healthy(60)


def quorum_lost_before_moves():
    """Quorum is lost before each migration starts: the source first checks that the directory
    can commit, and while it cannot it waits with x running where it is (its streams keep
    answering all along); quorum comes back after about 5 s, then after 14 s (longer than the
    source's 10 s wait for the target, which used to bound it); both migrations complete: x on
    the target only, epoch + 1, the timeline says how long it waited; streams byte-exact."""
    import json
    import subprocess
    import threading
    import time
    from caplib import CAPCTL
    topo, x, y, sniff, streams = setup()
    here = 0
    for n, outage in enumerate((5.0, 14.0), 1):
        src, dst = topo[RING[here]], topo[RING[(here + 1) % len(RING)]]
        before = topo.lookup(x.addr)
        lost = lose_quorum(topo)
        t_lost = time.monotonic()
        print("# move %d: etcd members %s killed: no quorum" % (n, [m.name for m in lost]),
              flush=True)
        p = subprocess.Popen(src.prefix + [CAPCTL, "migrate", "x", "--to", str(dst.host_id),
                                           "--wait-directory", "120", "--json"],
                             env=src.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        progress, cond = [], threading.Condition()

        def reader():
            for line in p.stderr:              # "  PHASE ..." as each phase ends
                with cond:
                    progress.append(line.decode().strip())
                    cond.notify_all()
            with cond:
                progress.append(None)
                cond.notify_all()
        rd = threading.Thread(target=reader, daemon=True)
        rd.start()
        with cond:
            check(cond.wait_for(lambda: any(l is None or l.startswith("directory-wait:")
                                            for l in progress), 60),
                  "no directory-wait line within 60 s: %r" % progress)
        check(None not in progress, "the migration ended without quorum: %r" % progress)
        # the whole outage (and at least once after the wait began): x answers on its source
        rounds = 0
        while rounds == 0 or time.monotonic() - t_lost < outage:
            for s in streams:
                s.wait_got(s.got + 5, 30)
            rounds += 1
        check(p.poll() is None, "the migration ended without quorum: %r" % progress)
        # (capctl ps asks each caprun, and a migrating one answers only when done: count them)
        xs = caprun_pids(exclude=(y.pid,))
        check_eq([getattr(host_of_pid(topo, pid), "name", "?") for pid in xs], [src.name],
                 "without quorum, the capruns of x")
        print("# move %d: %.1f s without quorum, x answered all along (%d checks), the migration "
              "waits" % (n, time.monotonic() - t_lost, rounds), flush=True)
        regain_quorum(topo, lost)
        print("# move %d: quorum back after %.1f s" % (n, time.monotonic() - t_lost), flush=True)
        out = p.stdout.read()                  # (stderr is the reader's alone)
        p.wait(200)
        rd.join(10)
        check_eq(p.returncode, 0, "move %d after a %.0f s outage: %r" % (n, outage, progress))
        j = json.loads(out)
        print("# move %d %s -> %s: waited %d ms for the directory, downtime %d ms, total %d ms" % (
            n, src.name, dst.name, j["directory_wait_ms"], j["downtime_ms"], j["total_ms"]),
            flush=True)
        check_eq((j["to"], j["epoch"]), (dst.host_id, before[2] + 1), "move %d: to, epoch" % n)
        check(j["directory_wait_ms"] >= (outage - 1) * 1000,
              "move %d: the timeline's wait, %d ms, is shorter than the outage (%.0f s)" % (
                  n, j["directory_wait_ms"], outage))
        check(any(l and l.startswith("directory-wait ") and "commits again" in l
                  for l in progress), "move %d: no 'directory-wait N ms' line: %r" % (n, progress))
        wait_listed_only_on(topo, "x", dst)
        check_eq(topo.lookup(x.addr)[:2], ("x", dst.host_id), "move %d: the directory names %s" % (
            n, dst.name))
        for s in streams:
            s.wait_got(s.got + 20, 60)
        here = (here + 1) % len(RING)
    finish(topo, x, sniff, streams, topo[RING[here]], True)


def resubscribed_after_failover():
    """B looked x up (y's answers go to x), subscribing.  Replica 0 is killed: every host fails
    over to replica 1 and subscribes again there; replica 0 comes back (empty: subscriptions
    live in a replica's memory), replica 1 is killed: B fails over to replica 0 and subscribes
    again.  x then moves A -> C, pulled through replica 0: B hears it by NOTIFY from replica 0
    (its notifies counter), not by a stale-epoch redirect (redirect_in unchanged)."""
    topo, x, y, sniff, streams = setup()
    B = topo["B"]
    for s in streams:
        s.wait_got(s.got + 20, 60)                  # B has sent to x: it looked x up
    st = daemon_stats(B)
    # A host fails over round-robin (dirclient.c), so with two replicas the one it uses is its
    # failover count mod 2; under load a slow answer may already have moved it off replica 0.
    first = st["dir_failovers"] % 2
    other = 1 - first
    topo.kill_replica(first)
    print("# replica %d (B's) killed" % first, flush=True)
    wait_counter(B, "dir_failovers", st["dir_failovers"] + 1, 30, "failing over to replica %d" % other)
    wait_counter(B, "dir_resubscribed", st["dir_resubscribed"] + 1, 10, "x again via replica %d" % other)
    topo.start_replica(first)
    st = daemon_stats(B)
    check_eq(st["dir_failovers"] % 2, other, "the replica B uses")
    topo.kill_replica(other)
    print("# replica %d back (it knows no subscriber), replica %d killed" % (first, other), flush=True)
    wait_counter(B, "dir_failovers", st["dir_failovers"] + 1, 30, "failing over to replica %d" % first)
    wait_counter(B, "dir_resubscribed", st["dir_resubscribed"] + 1, 10, "x again via replica %d" % first)
    for h in (topo["A"], topo["C"]):                # the move's pull goes through that one too
        deadline = time.monotonic() + 30
        while daemon_stats(h)["dir_failovers"] % 2 != first:
            check(time.monotonic() < deadline, "host %s never failed over to replica %d" % (
                h.name, first))
            time.sleep(0.1)   # bounded poll of a counter another process keeps
    before = daemon_stats(B)
    m = migrate_run(topo, "x", topo["A"], topo["C"], timeout=120)
    check_eq(m.code, 0, "x A -> C: %r" % m)
    wait_listed_only_on(topo, "x", topo["C"])
    n = wait_counter(B, "notifies", before["notifies"] + 1, 10, "the NOTIFY of x's move")
    after = daemon_stats(B)
    print("# B: %d NOTIFY, %d redirects since the move" % (
        n - before["notifies"], after["redirect_in"] - before["redirect_in"]), flush=True)
    check_eq(after["redirect_in"], before["redirect_in"], "B's stale-epoch redirects")
    for s in streams:
        s.wait_got(s.got + 20, 60)
    finish(topo, x, sniff, streams, topo["C"], True)


def quorum_lost_and_back():
    """Quorum (2 of 3 members) is killed once the migration's transfer is done: the target's
    pull (the MOVE, retried until answered) cannot commit, so the migration waits; the members
    come back, the MOVE commits and the migration completes (within the source's 10 s wait).

    The target holds its pull until quorum is gone (CAPSULE_MIG_FAULT=target-hold-pull, a
    file the test creates): a restore of a few ms would otherwise often pull before the
    members are dead."""
    import os
    import tempfile
    hold_dir = tempfile.mkdtemp(prefix="capsule-hold.")
    hold = os.path.join(hold_dir, "release")
    try:
        quorum_lost_mid_migration(hold)
    finally:
        if os.path.exists(hold):
            os.unlink(hold)
        os.rmdir(hold_dir)


def quorum_lost_mid_migration(hold):
    import subprocess
    import time
    from caplib import CAPCTL
    topo, x, y, sniff, streams = setup(daemon_env={"B": {"CAPSULE_MIG_FAULT": "target-hold-pull",
                                                         "CAPSULE_MIG_HOLD": hold}})
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
    open(hold, "w").close()                    # the target may pull now: it must wait
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
            "each at a random moment",
            leader_then_replica)
    tap.run("replicas over etcd: a host that failed over subscribes again: a move through the "
            "other replica reaches it by NOTIFY", resubscribed_after_failover)
    tap.run("migrate over etcd: quorum lost before the moves (5 s, 14 s): each waits with the "
            "capsule running on its source, completes when quorum is back", quorum_lost_before_moves)
    tap.run("migrate over etcd: quorum lost mid-migration (after the freeze): the pull waits, "
            "the move completes when quorum is back or the capsule stays on its source",
            quorum_lost_and_back)
    tap.done()


main()
