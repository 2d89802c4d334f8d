"""test_redis.py: Redis 7.0.15 from Debian source, built by its own Makefile with capcc, served to redis-cli and redis-benchmark: 50 and 1,000 clients, SAVE and BGSAVE (a forked child) to a volume and reload, a BGSAVE child frozen by a snapshot and finishing after the resume, BGREWRITEAOF, INCR continuing across snapshot-resume and a live migration under load."""
# tests/run timeout: 600
#
# The capsule is build/programs/cap/redis-server (mk/build-program.sh, a make test
# prerequisite); the clients are Debian's redis-tools on the host.  Every count is exact:
# redis-benchmark's INCR test increments one key ("counter:__rand_int__" without -r), so
# after N requests it holds N, whatever froze or moved in between.
import os
import re
import resource
import subprocess
import time

from caplib import (BUILD, CAPRUN, Capsule, Host, Tap, TestFailure, check, check_eq, descendants,
                    snapshot, tempdir)

REDIS = os.path.join(BUILD, "programs", "cap", "redis-server")
PORT = 6379
READY = "Ready to accept connections"
KEYS = 1000
# --max-fds: Redis asks for maxclients + 32 descriptors and lowers maxclients to fit.
CAPRUN_ARGS = ["--max-fds", "1100", "-w", "/data"]
REDIS_ARGS = ["--protected-mode", "no", "--save", ""]


def more_fds():
    """redis-benchmark -c 1000 needs more descriptors than a shell's default 1024."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))


def start(host, vol, name="redis", extra=(), ready=READY, prefix_args=()):
    check(os.path.exists(REDIS), "%s is missing (make test builds it)" % REDIS)
    return host.capsule("redis", image=REDIS, name=name,
                        caprun_args=list(prefix_args) + ["-v", vol + ":/data"] + CAPRUN_ARGS,
                        args=REDIS_ARGS + list(extra)).start(app_ready=ready)


def cli(addr, *args, prefix=()):
    """One redis-cli command; its output lines (raw mode: stdout is not a terminal)."""
    p = subprocess.run(list(prefix) + ["redis-cli", "-h", addr, "-p", str(PORT)] + list(args),
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    check(p.returncode == 0 and not p.stderr, "redis-cli %s: exit %d, %r %r" % (
        " ".join(args), p.returncode, p.stdout[-200:], p.stderr[-200:]))
    return p.stdout.decode().splitlines()


class Session:
    """One long-lived redis-cli (its prompt loop reading stdin): one TCP connection.

    redis-cli would reconnect by itself after an error, so each check also asks
    CLIENT ID: Redis numbers connections, and the same id means the same connection."""

    def __init__(self, addr, prefix=()):
        self.proc = subprocess.Popen(list(prefix) + ["redis-cli", "-h", addr, "-p", str(PORT)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.client_id = self.ask("CLIENT ID")

    def ask(self, line, lines=1):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        out = []
        for _ in range(lines):
            got = self.proc.stdout.readline()
            if not got:
                raise TestFailure("redis-cli ended after %r (exit %s)" % (line, self.proc.wait(5)))
            out.append(got.decode().rstrip("\n"))
        return out[0] if lines == 1 else out

    def same_connection(self, what):
        check_eq(self.ask("CLIENT ID"), self.client_id, "CLIENT ID (the same connection) " + what)

    def close(self):
        self.proc.stdin.close()
        check_eq(self.proc.wait(10), 0, "redis-cli's exit code")


def load_keys(s):
    """KEYS keys with distinct values, set through the session; returns the values."""
    values = ["v%d-%s" % (i, "x" * (i % 50)) for i in range(KEYS)]
    for start_i in range(0, KEYS, 100):
        pairs = []
        for i in range(start_i, start_i + 100):
            pairs += ["k%d" % i, values[i]]
        check_eq(s.ask("MSET " + " ".join(pairs)), "OK", "MSET")
    return values


def check_keys(s, values, what, others=1):
    """The loaded keys, and others more (counters) in all."""
    check_eq(s.ask("DBSIZE"), str(KEYS + others), "DBSIZE " + what)
    got = s.ask("MGET " + " ".join("k%d" % i for i in range(KEYS)), lines=KEYS)
    check(got == values, "every key's value " + what)


def benchmark(addr, clients, requests, tests="set,get,incr", prefix=()):
    """redis-benchmark --csv; {test name: requests per second}."""
    p = subprocess.run(list(prefix) + ["redis-benchmark", "-h", addr, "-p", str(PORT), "-c", str(clients),
                        "-n", str(requests), "-t", tests, "--csv"],
                       capture_output=True, timeout=300, stdin=subprocess.DEVNULL, preexec_fn=more_fds)
    out = p.stdout.decode()
    check(p.returncode == 0, "redis-benchmark -c %d: exit %d, %r %r" % (
        clients, p.returncode, out[-300:], p.stderr[-300:]))
    rates = {m.group(1): float(m.group(2)) for m in re.finditer(r'^"(\w+)","([\d.]+)"', out, re.M)}
    for t in tests.upper().split(","):
        check(rates.get(t, 0) > 0, "redis-benchmark -c %d reported %s: %r" % (clients, t, out[-300:]))
    return rates


def info(addr, section, prefix=()):
    return dict(l.split(":", 1) for l in cli(addr, "INFO", section, prefix=prefix) if ":" in l)


def fifty_and_thousand_clients():
    host, vol = Host(), tempdir("capsule-redis.")
    cap = start(host, vol)
    r50 = benchmark(cap.addr, 50, 20000)
    check_eq(cli(cap.addr, "GET", "counter:__rand_int__"), ["20000"], "the counter after 20,000 INCRs")
    check_eq(info(cap.addr, "clients")["maxclients"].strip(), "1068", "maxclients (1100 fds - 32)")
    r1000 = benchmark(cap.addr, 1000, 20000)
    check_eq(cli(cap.addr, "GET", "counter:__rand_int__"), ["40000"], "the counter after 40,000 INCRs")
    check_eq(cli(cap.addr, "STRLEN", "key:__rand_int__"), ["3"], "the benchmark's SET value's length")
    stats = info(cap.addr, "stats")
    check_eq(stats["rejected_connections"].strip(), "0", "connections Redis rejected")
    check(int(stats["total_connections_received"]) >= 3 * 1050,
          "connections received: %s" % stats["total_connections_received"])
    print("# redis-benchmark requests/s, 50 clients: %s; 1000 clients: %s" % (
        ", ".join("%s %.0f" % kv for kv in sorted(r50.items())),
        ", ".join("%s %.0f" % kv for kv in sorted(r1000.items()))), flush=True)


def save_and_reload():
    host, vol = Host(), tempdir("capsule-redis.")
    cap = start(host, vol)
    s = Session(cap.addr)
    values = load_keys(s)
    check_eq(s.ask("INCR hits"), "1", "INCR")
    check_eq(s.ask("SAVE"), "OK", "SAVE")
    with open(os.path.join(vol, "dump.rdb"), "rb") as f:
        check_eq(f.read(9), b"REDIS0010", "dump.rdb (written through the volume) starts")
    check(cap.wait_for(r"DB saved on disk", 5), "Redis did not log the save: %s" % cap.output_text()[-300:])
    # BGSAVE forks (docs/PROCESSES.md): the child, pid 2 of the capsule, writes dump.rdb
    # through its own copy of the volume's open files and exits; the parent reaps it.  The
    # key set after SAVE is in the file only if the child wrote it.
    check_eq(s.ask("SET bgsave yes"), "OK", "SET after SAVE")
    check_eq(s.ask("BGSAVE"), "Background saving started", "BGSAVE's reply")
    check(cap.wait_for(r"Background saving started by pid 2$", 10) and
          cap.wait_for(r"^2:C .* DB saved on disk", 10) and
          cap.wait_for(r"Background saving terminated with success", 10),
          "the console after BGSAVE: %s" % cap.output_text()[-500:])
    check_eq(s.ask("PING"), "PONG", "PING after BGSAVE")
    s.close()
    cap.stop()
    again = start(host, vol, name="redis2", ready=r"DB loaded from disk")
    s = Session(again.addr)
    check_keys(s, values, "after a restart that loaded dump.rdb", others=2)
    check_eq(s.ask("GET bgsave"), "yes", "the key only BGSAVE's child saved")
    check_eq(s.ask("INCR hits"), "2", "INCR after the reload")
    s.close()


def incr_across_snapshot():
    host, vol, d = Host(), tempdir("capsule-redis."), tempdir()
    cap = start(host, vol)
    s = Session(cap.addr)
    values = load_keys(s)
    for n in range(1, 6):
        check_eq(s.ask("INCR hits"), str(n), "INCR before the snapshot")
    path = os.path.join(d, "redis.snap")
    snapshot(host, cap, path)
    again = Capsule("redis", env=host.env, argv=[CAPRUN, "-v", vol + ":/data", path]).start()
    check_eq(s.ask("INCR hits"), "6", "INCR on the same connection after resume")
    s.same_connection("after resume")
    check_keys(s, values, "after resume")
    check_eq(s.ask("SAVE"), "OK", "SAVE after resume (the volume again)")
    s.close()
    again.stop()


def incr_across_migration_under_load():
    from miglib import Topology, migrate, wait_listed_only_on
    vol_a, vol_b = tempdir("capsule-redis."), tempdir("capsule-redis.")
    topo = Topology(hosts=("A", "B", "G"), gateway="G",
                    daemon_args={"B": ["--volume", vol_b + ":/data"]}).start()
    a, b, client = topo["A"], topo["B"], topo.client
    cap = start(a, vol_a, name="x")
    s = Session(cap.addr, prefix=client.prefix)
    values = load_keys(s)
    check_eq(s.ask("INCR hits"), "1", "INCR before the migration")
    # Load: 50 clients INCRementing one key, running through the move.
    total = 200000
    bench = subprocess.Popen(client.prefix + ["redis-benchmark", "-h", cap.addr, "-p", str(PORT), "-c", "50",
                             "-n", str(total), "-t", "incr", "--csv"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        while int(s.ask("GET counter:__rand_int__") or 0) < total // 10:
            if bench.poll() is not None:
                raise TestFailure("redis-benchmark ended early: exit %d, %r" % (
                    bench.returncode, bench.communicate()))
        t0 = time.monotonic()
        mig = migrate(topo, "x", a, b)
        running = bench.poll() is None
        took = time.monotonic() - t0
        wait_listed_only_on(topo, "x", b)
        at_move = int(s.ask("GET counter:__rand_int__"))
        out, err = bench.communicate(timeout=240)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    check(bench.returncode == 0, "redis-benchmark across the migration: exit %d, %r %r" % (
        bench.returncode, out[-300:], err[-300:]))
    check(running, "the benchmark had ended when the migration (%.1f s) did: exit %d, %r %r" % (
        took, bench.returncode, out[-300:], err[-300:]))
    check_eq(s.ask("GET counter:__rand_int__"), str(total), "the benchmark's counter: every INCR once")
    check_eq(s.ask("INCR hits"), "2", "INCR on the same connection after the migration")
    s.same_connection("after the migration")
    check_keys(s, values, "after the migration", others=2)
    check_eq(s.ask("SAVE"), "OK", "SAVE on host B")
    s.close()
    check(os.path.exists(os.path.join(vol_b, "dump.rdb")) and not os.path.exists(os.path.join(vol_a, "dump.rdb")),
          "dump.rdb written into host B's volume, not host A's")
    print("# redis migrated in %.2f s, counter %d of %d after it; downtime %s ms" % (
        took, at_move, total, mig.get("downtime_ms")), flush=True)


def bgsave_frozen_and_aof_rewrite():
    """Redis's own persistence with processes: a BGSAVE child (slowed to about 2 s by
    rdb-key-save-delay) is frozen mid-save by a snapshot with every process, resumed from the
    file, and finishes; BGREWRITEAOF's child rewrites the AOF; a restart loads the AOF, and
    one without it loads the dump the resumed child wrote.  The redis-cli connection, relayed
    by pid 1 since the fork (docs/PROCESSES.md, section 4), goes on throughout."""
    host, vol, d = Host(), tempdir("capsule-redis."), tempdir()
    cap = start(host, vol, extra=["--appendonly", "yes", "--enable-debug-command", "yes"])
    s = Session(cap.addr)
    values = load_keys(s)
    check_eq(s.ask("DEBUG POPULATE 100000 bulk 16"), "OK", "DEBUG POPULATE")
    check_eq(s.ask("CONFIG SET rdb-key-save-delay 20"), "OK", "rdb-key-save-delay (us per key)")
    check_eq(s.ask("BGSAVE"), "Background saving started", "BGSAVE's reply")
    check(cap.wait_for(r"Background saving started by pid 2$", 10), "BGSAVE's child")
    check_eq(len(descendants(cap.pid)), 2, "host processes: Redis and its saving child")
    path = os.path.join(d, "redis.snap")
    snap = snapshot(host, cap, path)
    again = Capsule("redis", env=host.env, argv=[CAPRUN, "-v", vol + ":/data", path]).start()
    check(again.wait_for(r"Background saving terminated with success", 60),
          "the resumed child's save: %s" % again.output_text()[-500:])
    s.same_connection("after the resume")
    check_eq(s.ask("SET after resume"), "OK", "SET after the resume")
    check_eq(s.ask("CONFIG SET rdb-key-save-delay 0"), "OK", "no more delay")
    check_eq(s.ask("BGREWRITEAOF"), "Background append only file rewriting started", "BGREWRITEAOF")
    check(again.wait_for(r"Background AOF rewrite finished successfully", 60),
          "the AOF rewrite: %s" % again.output_text()[-500:])
    check_eq(s.ask("SET after rewrite"), "OK", "SET after the rewrite")
    s.close()
    again.stop()
    aof = start(host, vol, name="redis-aof", extra=["--appendonly", "yes"],
                ready=r"DB loaded from append only file")
    s = Session(aof.addr)
    check_keys(s, values, "after a restart from the AOF", others=100000 + 1)
    check_eq(s.ask("GET after"), "rewrite", "the last write, from the AOF's increment")
    s.close()
    aof.stop()
    rdb = start(host, vol, name="redis-rdb", ready=r"DB loaded from disk")
    s = Session(rdb.addr)
    check_eq(s.ask("DBSIZE"), str(KEYS + 100000), "the dump the frozen and resumed child wrote")
    check_eq(s.ask("STRLEN bulk:99999"), "16", "DEBUG POPULATE's last key in the dump")
    s.close()
    print("# snapshot during BGSAVE: %d MiB, frozen %.1f ms" % (snap["bytes"] >> 20, snap["frozen_ms"]),
          flush=True)


def main():
    tap = Tap()
    tests = [
        ("redis: redis-benchmark with 50 and 1,000 clients, exact counts, no connection rejected",
         fifty_and_thousand_clients),
        ("redis: SAVE writes dump.rdb into the -v volume and a new capsule loads every key; "
         "BGSAVE's forked child saves too",
         save_and_reload),
        ("redis: a redis-cli connection's INCR continues across snapshot to disk and resume",
         incr_across_snapshot),
        ("redis: INCR continues across a live migration under redis-benchmark load, every key intact",
         incr_across_migration_under_load),
        ("redis: a snapshot freezes BGSAVE's child mid-save, the resumed child finishes; BGREWRITEAOF; "
         "restarts load the AOF and the dump",
         bgsave_frozen_and_aof_rewrite),
    ]
    for name, fn in tests:
        tap.run(name, fn)
    tap.done()


if __name__ == "__main__":
    main()
