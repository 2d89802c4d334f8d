"""test_directory_replicas.py: two capdird replicas over one 3-member etcd: one directory, one winner per compare-and-swap, NOTIFY across replicas, host failover, replay across replicas refused."""
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time

from caplib import Tap, check, check_eq
import etcdlib
from test_directory import CAPDIR, CAPDIRD, T, PyHost, capdir_ok, capdir_run, ip2int

REPLICAS = [("127.0.0.1", 7470), ("127.0.0.2", 7470)]
DEAD = ("127.0.0.3", 7470)           # nobody listens there


class Replicas:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="capdird.")
        self.keys = os.path.join(self.tmp, "keys")
        self.key = {h: os.urandom(32) for h in (1, 2, 3)}
        with open(self.keys, "w") as f:
            for h, k in self.key.items():
                f.write("%d %s\n" % (h, k.hex()))
        self.etcd = etcdlib.Cluster(["127.0.0.1"] * 3).start()
        self.procs = [None] * len(REPLICAS)

    def start(self, i):
        a, p = REPLICAS[i]
        proc = subprocess.Popen([CAPDIRD, "--listen", "%s:%d" % (a, p), "--etcd",
                                 self.etcd.endpoints(), "--keys", self.keys],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = proc.stdout.readline().decode()           # readiness: the "listening" line
        check("capdird listening on" in line, "replica %d did not start: %r" % (i, line))
        self.procs[i] = proc

    def kill(self, i):
        proc = self.procs[i]
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc:
            proc.stdout.close()
        self.procs[i] = None

    def cli(self, host, dirs, *args):
        return capdir_run(",".join("%s:%d" % r for r in dirs), self.keys, host, *args)

    def ok(self, host, dirs, *args):
        return capdir_ok(",".join("%s:%d" % r for r in dirs), self.keys, host, *args)

    def stats(self, i):
        out = self.ok(1, [REPLICAS[i]], "stats")
        return {k: int(v) for k, v in (line.split() for line in out.splitlines())}

    def stop(self):
        for i in range(len(self.procs)):
            self.kill(i)
        self.etcd.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def with_replicas(fn):
    def run():
        r = Replicas()
        try:
            r.start(0)
            r.start(1)
            fn(r)
        finally:
            r.stop()
    return run


A, B = [REPLICAS[0]], [REPLICAS[1]]


def one_directory(r):
    r.ok(1, A, "hello", "198.19.0.1", "7471")
    r.ok(2, B, "hello", "198.19.0.2", "7471")
    check_eq(r.ok(1, A, "create", "web"), "created web 198.18.0.2 epoch 1\n", "create via A")
    check_eq(r.ok(2, B, "create", "db"), "created db 198.18.0.3 epoch 1\n", "next address via B")
    check_eq(r.ok(3, B, "lookup", "198.18.0.2"),
             "198.18.0.2 web host 1 at 198.19.0.1:7471 epoch 1\n", "A's create seen via B")
    check_eq(r.ok(1, B, "move", "198.18.0.2", "2", "1"), "moved 198.18.0.2 to host 2 epoch 2\n",
             "move via B")
    code, _, err = r.cli(2, A, "move", "198.18.0.2", "3", "1")
    check_eq((code, err), (1, "capdir: move 198.18.0.2: STALE_EPOCH (current epoch 2)\n"),
             "the old epoch refused via A")
    check_eq(r.ok(3, A, "list"), "198.18.0.2 web host 2 at 198.19.0.2:7471 epoch 2\n"
                                 "198.18.0.3 db host 2 at 198.19.0.2:7471 epoch 1\n", "list via A")


def one_winner_per_epoch(r):
    """The holder's FENCE through A against the target's pull through B, both at epoch e,
    sent at the same moment, 20 times: exactly one wins each time, epochs grow by one."""
    r.ok(1, A, "create", "race")
    ip, epoch, holder = "198.18.0.2", 1, 1
    wins = {"fence": 0, "pull": 0}
    for _ in range(20):
        target = 3 if holder == 1 else 1
        res = {}
        go = threading.Barrier(2)

        def run(name, host, dirs, to):
            go.wait()
            res[name] = r.cli(host, dirs, "move", ip, str(to), str(epoch))

        ts = [threading.Thread(target=run, args=("fence", holder, A, holder)),
              threading.Thread(target=run, args=("pull", target, B, target))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        won = [n for n, (code, _, _) in res.items() if code == 0]
        check_eq(len(won), 1, "exactly one of FENCE and pull wins at epoch %d: %r" % (epoch, res))
        lost = "pull" if won[0] == "fence" else "fence"
        check_eq(res[lost][2], "capdir: move %s: STALE_EPOCH (current epoch %d)\n" % (ip, epoch + 1),
                 "the loser sees the winner's epoch")
        wins[won[0]] += 1
        epoch += 1
        holder = holder if won[0] == "fence" else target
        check_eq(r.ok(2, A, "lookup", ip).split()[3:], [str(holder), "at", "0.0.0.0:0", "epoch",
                                                        str(epoch)], "entry after round")
    check_eq(wins["fence"] + wins["pull"], 20, "20 decisions")


def notify_across_replicas(r):
    r.ok(1, A, "hello", "198.19.0.1", "7471")
    r.ok(3, A, "hello", "198.19.0.3", "7471")
    r.ok(1, A, "create", "n")
    w = subprocess.Popen([CAPDIR, "--dir", "%s:%d" % B[0], "--host-id", "2", "--keys", r.keys,
                          "watch", "198.18.0.2", "2", "20"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        check_eq(w.stdout.readline().decode(),
                 "entry 198.18.0.2 n host 1 at 198.19.0.1:7471 epoch 1\n", "watch entry via B")
        r.ok(1, A, "move", "198.18.0.2", "3", "1")              # through the other replica
        check_eq(w.stdout.readline().decode(),
                 "notify 198.18.0.2 n host 3 at 198.19.0.3:7471 epoch 2\n", "B's NOTIFY of A's move")
        r.ok(3, A, "release", "198.18.0.2", "2")
        check_eq(w.stdout.readline().decode(),
                 "notify 198.18.0.2 n host 0 at 0.0.0.0:0 epoch 2\n", "B's NOTIFY of A's release")
        check_eq(w.wait(10), 0, "watch exit")
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
        w.stdout.close()
        w.stderr.close()
    check_eq(r.stats(1)["notify_acked"], 2, "acknowledged to B")


def failover(r):
    both = [DEAD, REPLICAS[0], REPLICAS[1]]
    check_eq(r.ok(1, both, "create", "f1"), "created f1 198.18.0.2 epoch 1\n",
             "a dead replica listed first is passed over")
    r.kill(0)
    check_eq(r.ok(1, both, "create", "f2"), "created f2 198.18.0.3 epoch 1\n",
             "with replica A killed, B answers")
    check_eq(r.ok(1, both, "move", "198.18.0.3", "2", "1"), "moved 198.18.0.3 to host 2 epoch 2\n",
             "move through B")
    r.start(0)
    r.kill(1)
    check_eq(r.ok(3, both, "list"), "198.18.0.2 f1 host 1 at 0.0.0.0:0 epoch 1\n"
                                    "198.18.0.3 f2 host 2 at 0.0.0.0:0 epoch 2\n",
             "restarted A serves what B wrote")


def replay_across_replicas(r):
    h = PyHost(1, r.key[1], addr=REPLICAS[0])
    sent, t, body = h.request(T["CREATE"], struct.pack(">I64s", 0, b"once"), 41)
    check_eq((t, struct.unpack(">II", body)), (T["CREATED"], (ip2int("198.18.0.2"), 1)), "created")
    h.close()
    h = PyHost(1, r.key[1], addr=REPLICAS[1])
    h.send(sent)                                                 # A's datagram, replayed at B
    check_eq(r.stats(1)["drop_replay"], 1, "B refused A's datagram as a replay")
    check_eq(r.ok(3, A, "list"), "198.18.0.2 once host 1 at 0.0.0.0:0 epoch 1\n", "one capsule")
    # a retry (same request id, new seq) through B is answered from the shared retry cache
    _, t, body = h.request(T["CREATE"], struct.pack(">I64s", 0, b"once"), 41)
    check_eq((t, struct.unpack(">II", body)), (T["CREATED"], (ip2int("198.18.0.2"), 1)),
             "B answers A's cached reply")
    check_eq(r.stats(1)["retries_answered"], 1, "from the cache")
    h.close()


def host_lost(r):
    """Host 2 falls silent: once its lease expires (DIRDB_ETCD_LEASE_TTL, 6 s) its capsule is
    "host lost" in `capctl ps --all`, host 1's (which keeps talking) is not; host 2 speaks: back."""
    r.ok(1, A, "create", "a")
    r.ok(2, B, "create", "b")
    capctl = os.path.join(os.path.dirname(CAPDIR), "capctl")

    def ps():
        p = subprocess.run([capctl, "ps", "--all", "--dir", "%s:%d" % A[0], "--host-id", "1",
                            "--keys", r.keys], capture_output=True, timeout=30)
        check_eq(p.returncode, 0, "capctl ps --all: %s" % p.stderr.decode().strip())
        return {line.split()[0]: line.split(None, 4)[4] for line in
                p.stdout.decode().splitlines()[1:]}

    check_eq(ps(), {"a": "unknown", "b": "unknown"}, "both hosts alive at first")
    deadline = time.monotonic() + 30
    while ps().get("b") != "host lost":      # each ps is host 1 talking: its lease stays
        check(time.monotonic() < deadline, "host 2 not lost after 30 s")
    check_eq(ps(), {"a": "unknown", "b": "host lost"}, "only the silent host is lost")
    r.ok(2, A, "lookup", "198.18.0.3")       # host 2 is heard again: a new lease
    check_eq(ps(), {"a": "unknown", "b": "unknown"}, "host 2 back")


def main():
    tap = Tap()
    if not etcdlib.available():
        tap.skip("directory replicas", "no etcd binary (mk/deps.sh installs etcd-server)")
        tap.done()
    tap.run("replicas: one directory through either replica", with_replicas(one_directory))
    tap.run("replicas: FENCE via one against pull via the other: exactly one wins, 20 rounds",
            with_replicas(one_winner_per_epoch))
    tap.run("replicas: a move through A reaches B's subscriber as NOTIFY",
            with_replicas(notify_across_replicas))
    tap.run("replicas: hosts fail over to the next replica", with_replicas(failover))
    tap.run("replicas: a datagram accepted by A is a replay at B; retries answered from etcd",
            with_replicas(replay_across_replicas))
    tap.run("replicas: a host whose lease expired shows as \"host lost\" in capctl ps --all",
            with_replicas(host_lost))
    tap.done()


main()
