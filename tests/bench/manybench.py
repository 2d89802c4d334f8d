"""manybench.py: host memory for many idle echo capsules on one host (default 1,000), each answering a real client, beside as many native echo processes."""
import argparse
import os
import re
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from topolib import (CAPRUN, IMAGES, READY_RE, Topology, check, descendants,  # noqa: E402
                     stop_all, _proc_start_time)

ECHO_PORT = 7
NATIVE_READY_RE = re.compile(r"listening on")
ROLLUP = ("Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "Rss")
MEMINFO = ("MemAvailable", "Slab", "SUnreclaim", "PageTables", "KernelStack", "Shmem")


class Fleet:
    """Many processes started by us, their merged output read by one thread (no thread each)."""

    def __init__(self):
        self.procs = []             # (Popen, ready regex, launch time)
        self.ready = {}             # index -> (time ready, regex match)
        self.failed = {}            # index -> reason
        self.lines = {}             # index -> last lines (for errors)
        self.cond = threading.Condition()
        self.ep = select.epoll()
        self.byfd = {}
        self.bufs = {}
        self.stopping = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def launch(self, argv, regex, env=None):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, env=env)
        with self.cond:
            i = len(self.procs)
            self.procs.append((p, regex, time.monotonic()))
            self.byfd[p.stdout.fileno()] = i
            self.bufs[i] = b""
            self.lines[i] = []
        self.ep.register(p.stdout.fileno(), select.EPOLLIN)
        return i

    def _read(self):
        while not self.stopping:
            for fd, _ in self.ep.poll(0.2):
                with self.cond:
                    i = self.byfd.get(fd)
                if i is None:
                    continue
                data = os.read(fd, 65536)
                with self.cond:
                    p, regex, _ = self.procs[i]
                    if not data:
                        self.ep.unregister(fd)
                        if i not in self.ready:
                            self.failed[i] = "exited: " + " | ".join(self.lines[i][-3:])
                        self.cond.notify_all()
                        continue
                    self.bufs[i] += data
                    *done, self.bufs[i] = self.bufs[i].split(b"\n")
                    for raw in done:
                        text = raw.decode("utf-8", "replace")
                        self.lines[i] = (self.lines[i] + [text])[-5:]
                        m = regex.search(text)
                        if m and i not in self.ready:
                            self.ready[i] = (time.monotonic(), m)
                    self.cond.notify_all()

    def settled(self, i):
        return i in self.ready or i in self.failed

    def stop(self):
        """SIGTERM to every process we started, then SIGKILL to what is left below them."""
        kids = []
        for p, _, _ in self.procs:
            kids += [(k, _proc_start_time(k)) for k in descendants(p.pid)]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p, _, _ in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for pid, st in kids:
            if st is not None and _proc_start_time(pid) == st:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.stopping = True
        self.reader.join(2)
        for p, _, _ in self.procs:
            p.stdout.close()


def start_all(fleet, commands, batch, timeout=60.0):
    """Launch commands keeping at most batch starting at once; returns (seconds, start times)."""
    t0 = time.monotonic()
    todo = list(commands)
    started = []
    while todo or any(not fleet.settled(i) for i in started):
        with fleet.cond:
            busy = [i for i in started if not fleet.settled(i)]
        while todo and len(busy) < batch:
            argv, regex, env = todo.pop(0)
            busy.append(fleet.launch(argv, regex, env))
            started.append(busy[-1])
        with fleet.cond:
            fleet.cond.wait_for(lambda: any(fleet.settled(i) for i in busy), timeout)
            stuck = [i for i in busy if not fleet.settled(i)]
            if stuck and time.monotonic() - fleet.procs[stuck[0]][2] > timeout:
                raise RuntimeError("process %d not ready after %.0f s: %s" % (
                    stuck[0], timeout, fleet.lines[stuck[0]]))
        if fleet.failed:
            i, why = next(iter(fleet.failed.items()))
            raise RuntimeError("start %d of %d failed: %s" % (i + 1, len(commands), why))
    each = [(fleet.ready[i][0] - fleet.procs[i][2]) * 1000 for i in started]
    return time.monotonic() - t0, each


def rollup(pid):
    out = dict.fromkeys(ROLLUP, 0)
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k = line.split(":")[0]
                if k in out:
                    out[k] = int(line.split()[1])
    except OSError:
        pass
    return out


def status_kib(pids):
    """Sum over pids of page tables (VmPTE, KiB) and of threads (each has a 16 KiB kernel stack)."""
    pte = threads = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmPTE:"):
                        pte += int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads += int(line.split()[1])
        except OSError:
            pass
    return {"pte": pte, "kstack": 16 * threads}


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k = line.split(":")[0]
            if k in MEMINFO:
                out[k] = int(line.split()[1])
    return out


def ask_all(connect, addrs, workers=16):
    """One request to every server: each must echo it; returns the number that answered."""
    def one(addr):
        host, port = addr
        with connect(host, port) as s:
            s.sendall(b"ping\n")
            got = b""
            while len(got) < 5:
                c = s.recv(64)
                if not c:
                    return False
                got += c
            return got == b"ping\n"
    with ThreadPoolExecutor(workers) as ex:
        return sum(ex.map(one, addrs))


def plain_connect(host, port):
    return socket.create_connection((host, port), timeout=20)


def sum_rollups(pids):
    tot = dict.fromkeys(ROLLUP, 0)
    for pid in pids:
        for k, v in rollup(pid).items():
            tot[k] += v
    return tot


def run_set(label, n, batch, commands, connect, addr_of, extra_pids=()):
    """Start n servers, ask each once, measure; returns a dict of figures (KiB unless said)."""
    fleet = Fleet()
    extra_before = sum_rollups(extra_pids)
    before = meminfo()
    try:
        secs, each = start_all(fleet, commands, batch)
        addrs = [addr_of(fleet, i) for i in range(n)]
        t0 = time.monotonic()
        answered = ask_all(connect, addrs)
        ask_s = time.monotonic() - t0
        check(answered == n, "%s: %d of %d answered" % (label, answered, n))
        after = meminfo()
        outer = [p.pid for p, _, _ in fleet.procs]
        inner = [k for pid in outer for k in descendants(pid)]
        res = {"n": n, "start_s": secs, "start_ms_median": statistics.median(each),
               "ask_s": ask_s, "outer": sum_rollups(outer), "inner": sum_rollups(inner),
               "kern": status_kib(outer + inner),
               "extra": {k: v - extra_before[k] for k, v in sum_rollups(extra_pids).items()},
               "mem": {k: before[k] - after[k] if k == "MemAvailable" else after[k] - before[k]
                       for k in MEMINFO}}
    finally:
        fleet.stop()
    return res


def report(cap, nat, mode):
    n = cap["n"]
    print("\n%d idle echo capsules on one host (%s), each answered a client; beside %d native "
          "echo processes" % (n, mode, nat["n"]))
    print("  started in %.1f s (median %.0f ms each, batches in parallel); every one answered in "
          "%.1f s; natives: %.1f s" % (cap["start_s"], cap["start_ms_median"], cap["ask_s"],
                                         nat["start_s"]))
    print("  %-44s %12s %12s %12s" % ("per server, KiB", "capsule", "native", "ratio"))

    def line(what, c, nv):
        r = "%11.2fx" % (c / nv) if nv else "%12s" % "-"
        print("  %-44s %12.0f %12.0f %s" % (what, c, nv, r))
    pc = lambda d, k: d[k] / n   # noqa: E731
    pn = lambda d, k: d[k] / nat["n"]   # noqa: E731
    line("PSS caprun", pc(cap["outer"], "Pss"), 0)
    line("PSS capsule process", pc(cap["inner"], "Pss"), 0)
    line("  of which memfd (capsule's touched memory)", pc(cap["inner"], "Pss_Shmem"), 0)
    line("PSS caphostd growth (%s)" % ("shared by all" if mode == "attached" else "none"),
         pc(cap["extra"], "Pss"), 0)
    tot_c = (cap["outer"]["Pss"] + cap["inner"]["Pss"] + cap["extra"]["Pss"]) / n
    line("PSS, all processes", tot_c, pn(nat["outer"], "Pss"))
    beyond = tot_c - pc(cap["inner"], "Pss_Shmem")
    line("PSS beyond the capsule's touched memory", beyond, pn(nat["outer"], "Pss"))
    acc = lambda d, per: (d["outer"]["Pss"] + d["inner"]["Pss"] + d.get("extra", {}).get("Pss", 0)
                          + d["kern"]["pte"] + d["kern"]["kstack"]) / per   # noqa: E731
    line("page tables (VmPTE) + kernel stacks", (cap["kern"]["pte"] + cap["kern"]["kstack"]) / n,
         (nat["kern"]["pte"] + nat["kern"]["kstack"]) / nat["n"])
    line("accounted: PSS + page tables + kernel stacks", acc(cap, n), acc(nat, nat["n"]))
    line("  the same beyond the capsule's touched memory", acc(cap, n) - pc(cap["inner"], "Pss_Shmem"),
         acc(nat, nat["n"]))
    line("system: MemAvailable drop", pc(cap["mem"], "MemAvailable"), pn(nat["mem"], "MemAvailable"))
    line("  kernel: slab", pc(cap["mem"], "Slab"), pn(nat["mem"], "Slab"))
    line("  kernel: page tables", pc(cap["mem"], "PageTables"), pn(nat["mem"], "PageTables"))
    line("  kernel: stacks", pc(cap["mem"], "KernelStack"), pn(nat["mem"], "KernelStack"))
    line("  shmem (memfds)", pc(cap["mem"], "Shmem"), pn(nat["mem"], "Shmem"))
    over = pc(cap["mem"], "MemAvailable") - pc(cap["inner"], "Pss_Shmem")
    print("  host memory per capsule beyond its touched memory (MemAvailable drop - memfd): "
          "%.0f KiB (target <= 1024 KiB)" % over)
    # Other work on a shared machine moves Shmem by GiBs (memfds of its own): without the
    # whole Shmem change, i.e. without every memfd, ours included.
    print("  the same without the system's Shmem change (MemAvailable drop - Shmem rise): "
          "%.0f KiB; native %.0f KiB" % (over + pc(cap["inner"], "Pss_Shmem") - pc(cap["mem"], "Shmem"),
                                         pn(nat["mem"], "MemAvailable") - pn(nat["mem"], "Shmem")))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=8, help="starts in flight at once")
    ap.add_argument("--native", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                     "build", "bench", "native", "echo"))
    ap.add_argument("--mode", choices=("attached", "standalone"), default="attached",
                    help="attached: every caprun on one caphostd (gateway host); "
                         "standalone: each caprun its own TUN")
    a = ap.parse_args()
    try:
        if a.mode == "attached":
            topo = Topology(hosts=("A",), gateway="A").start()
            host = topo["A"]
            cmds = [(host.prefix + [CAPRUN, "--name", "m%d" % i, os.path.join(IMAGES, "echo.cap")],
                     READY_RE, host.env) for i in range(a.count)]
            connect, extra = topo.client.connect, [host.daemon.proc.pid]
        else:
            cmds = [([CAPRUN, "--name", "m%d" % i, "--ip", "198.18.%d.%d" % (i // 250, i % 250 + 2),
                      os.path.join(IMAGES, "echo.cap")], READY_RE, None) for i in range(a.count)]
            connect, extra = plain_connect, []
        cap = run_set("capsules", a.count, a.batch, cmds, connect,
                      lambda f, i: (f.ready[i][1].group(2), ECHO_PORT), extra)
        ncmds = [([a.native, str(20000 + i)], NATIVE_READY_RE, None) for i in range(a.count)]
        nat = run_set("natives", a.count, a.batch, ncmds, plain_connect,
                      lambda f, i: ("127.0.0.1", 20000 + i))
        report(cap, nat, a.mode)
    except Exception as e:   # benchmarks never gate: say what broke
        print("manybench (%d, %s) failed: %s" % (a.count, a.mode, " ".join(str(e).split())[:400]))
    finally:
        stop_all()


if __name__ == "__main__":
    main()
