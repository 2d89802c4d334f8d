"""topolib.py: multi-host test topologies: a bridge, host namespaces, an ordinary client, capdird, caphostd per host; live-migration helpers.

Split from caplib.py (which it re-exports, so a test imports everything it
needs from here): processes, clients and TAP reporting live there; the
pieces that only multi-host tests need live here.
"""

import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

from caplib import *          # noqa: F401,F403  (re-exported for the tests)
from caplib import _started, _proc_start_time, proc_stat_fields   # _started: stopped by caplib.stop_all()

# ------------------------------------------------------- multi-host topology
#
# Several capsule hosts on one machine (docs/NETWORK.md): a bridge
# "capsw" in the test's own namespace (tests/run made it, `unshare -n`), one
# namespace per host with a veth into the bridge and 198.19.0.ID/24, an
# ordinary client namespace 198.19.0.100 whose route for the capsule network
# goes via the gateway host, the directory (capdird) on the bridge's own
# address 198.19.0.254, and one caphostd per host with its own run directory
# (CAPSULE_RUN_DIR), so caprun started "on" a host attaches to that host's
# daemon.  Everything is registered with stop_all() and removed by PID (the
# veths and the bridge vanish with their namespaces).

CAPHOSTD = os.path.join(BIN, "caphostd")
CAPDIRD = os.path.join(BIN, "capdird")
CAPDIR = os.path.join(BIN, "capdir")
HOST_NET = "198.19.0."            # hosts' own addresses (locators): 198.19.0.ID
DIR_IP = "198.19.0.254"           # the bridge's address, where capdird listens
DIR_IP2 = "198.19.0.253"          # directory="etcd": a second capdird replica, also on the bridge
ETCD_NET = "198.19.0.20"          # directory="etcd": members 198.19.0.201-203, a namespace each
CLIENT_IP = "198.19.0.100"        # the ordinary (non-capsule) client
DIR_PORT, DATA_PORT = 7470, 7471
CAPSULE_NET = "198.18.0.0/16"
BRIDGE = "capsw"
OBSERVER_ID = 99                  # a key of the test's own, for read-only directory queries
from wirelib import NETWORK_ID    # noqa: E402  (every host's --network-id, and the wire's)


def sh_ok(argv, prefix=(), timeout=20):
    """Run a setup command (ip, sysctl); any failure is a test failure naming it."""
    code, out, err = run_tool(list(prefix) + list(argv), timeout=timeout)
    check(code == 0, "%s: exit %d: %s" % (" ".join(argv), code, err.strip() or out.strip()))
    return out


class Proc:
    """A daemon we started (capdird, caphostd): output collected, stopped by PID."""

    def __init__(self, name, argv, prefix=(), env=None):
        self.name = name
        self.argv = list(prefix) + list(argv)
        self.lines = []
        self.cond = threading.Condition()
        self.closed = 0
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        _started.append(self)
        for f in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._reader, args=(f,), daemon=True).start()

    def _reader(self, f):
        for raw in iter(f.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.closed += 1
            self.cond.notify_all()

    def mark(self):
        """The number of output lines so far: a start for wait_for that skips older lines."""
        with self.cond:
            return len(self.lines)

    def wait_for(self, regex, timeout, start=0):
        """First match of regex in an output line (from line index start), or None."""
        if isinstance(regex, str):
            regex = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for text in self.lines[start:]:
                    m = regex.search(text)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed == 2:
                    return None
                self.cond.wait(left)

    def lines_from(self, start, keep, want, timeout=10):
        """The lines since START that KEEP (a predicate) accepts, once there are WANT of them
        or TIMEOUT passed.  A capsule's console is the daemon's stdout and the daemon's own
        lines (an incoming caprun "exited") its stderr: two pipes read by two threads, so the
        exit can be seen before the console's last lines are; wait for them (bounded)."""
        with self.cond:
            self.cond.wait_for(lambda: self.closed == 2 or
                               sum(1 for t in self.lines[start:] if keep(t)) >= want, timeout)
            return [t for t in self.lines[start:] if keep(t)]

    def output_text(self):
        with self.cond:
            return "\n".join(self.lines)

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        # What the daemon spawned (caphostd: `caprun --incoming` per migration, and their
        # capsules), seen before it stops: whatever of it outlives the daemon goes too.
        kids = [(p, _proc_start_time(p)) for p in descendants(self.proc.pid)]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid, st in kids:
            if st is not None and _proc_start_time(pid) == st:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        with self.cond:
            self.cond.wait_for(lambda: self.closed == 2, 2.0)
        return self.proc.returncode


class _Cleanup:
    """A stop() that runs a function (remove a link, a directory) at the end of the test."""

    def __init__(self, fn):
        self.fn = fn
        _started.append(self)

    def stop(self):
        try:
            self.fn()
        except Exception:
            pass


def _veth_into(ns, outer, inner_ip, prefix_len=24):
    """A veth pair: `outer` on the bridge in our namespace, `eth0` with inner_ip in ns."""
    sh_ok(["ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns",
           str(ns.proc.pid)])
    # Deleted explicitly: a veth dies with its namespace, but only later (kernel workqueue).
    _Cleanup(lambda: run_tool(["ip", "link", "del", outer]))
    sh_ok(["ip", "link", "set", outer, "master", BRIDGE, "up"])
    sh_ok(["ip", "addr", "add", "%s/%d" % (inner_ip, prefix_len), "dev", "eth0"], ns.prefix)
    sh_ok(["ip", "link", "set", "eth0", "up"], ns.prefix)


class TopoHost(Host):
    """One capsule host of a Topology: namespace, run directory, host id, address, caphostd."""

    def __init__(self, topo, name, host_id):
        super().__init__(netns=True)
        self.topo, self.name, self.host_id = topo, name, host_id
        self.ip = HOST_NET + str(host_id)
        self.port = "v-" + name            # its veth on the bridge, in the test namespace
        self.daemon = None
        self.gateway = False

    def daemon_argv(self):
        argv = [CAPHOSTD, "--host-id", str(self.host_id), "--listen", self.ip,
                "--dir", self.topo.dir_arg(), "--keys", self.topo.keys, "--run-dir", self.run_dir]
        if self.gateway:
            argv.append("--gateway")
        elif self.topo.gateway:
            argv += ["--gateway-host", str(self.topo.gateway.host_id)]
        if self.topo.net_faults:
            # testing only: each host its own seed, derived from the topology's (printed)
            argv += ["--net-faults", self.topo.net_faults,
                     "--net-faults-seed", str(self.topo.net_faults_seed + self.host_id)]
        return argv + list(self.topo.daemon_args.get(self.name, ()))

    def start_daemon(self, timeout=10.0, env=None):
        """Start caphostd; ready when its caphostd.sock accepts a connection (caprun's test).

        env: extra variables for this daemon only (and so for the `caprun --incoming`
        it spawns), e.g. {"CAPSULE_MIG_FAULT": "target-refuse"}; default: the
        Topology's daemon_env for this host."""
        extra = self.topo.daemon_env.get(self.name, {}) if env is None else env
        self.daemon = Proc("caphostd-" + self.name, self.daemon_argv(), self.prefix,
                           dict(self.env, **extra))
        sock_path = os.path.join(self.run_dir, "caphostd.sock")
        deadline = time.monotonic() + timeout
        while True:
            if os.path.exists(sock_path):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                try:
                    s.connect(sock_path)
                    return self
                except OSError:
                    pass
                finally:
                    s.close()
            check(self.daemon.running(), "caphostd on host %s exited %s: %s" % (
                self.name, self.daemon.proc.returncode, self.daemon.output_text()[-600:] or "(no output)"))
            check(time.monotonic() < deadline, "caphostd on host %s: no %s after %.0fs; output: %s" % (
                self.name, sock_path, timeout, self.daemon.output_text()[-600:] or "(none)"))
            time.sleep(0.02)   # bounded poll for a file another process creates

    def kill_daemon(self):
        """SIGKILL this host's caphostd (only it: what it spawned lives on, as after a crash)."""
        if self.daemon is not None and self.daemon.running():
            self.daemon.proc.kill()
            self.daemon.proc.wait()

    def restart_daemon(self, timeout=10.0):
        """Start caphostd again with the same arguments and run directory, as a supervisor
        would (without the test faults of its first start)."""
        self.kill_daemon()
        return self.start_daemon(timeout=timeout, env={})

    def tun_devices(self):
        """Names of caprun's own TUN devices (cap-*) in this host's namespace: none when attached."""
        _, out, _ = self.run(["ip", "-o", "link", "show"])
        return [l.split(":")[1].strip().split("@")[0] for l in out.splitlines()
                if l.split(":")[1].strip().startswith("cap-")]

    def run(self, argv, timeout=20):
        return self.netns.run(argv, timeout=timeout)

    def ps(self, all_hosts=False):
        """capctl ps --json [--all] on this host, parsed; a failure is a test failure."""
        args = ["ps", "--json"] + (["--all"] if all_hosts else [])
        code, out, err = self.capctl(args)
        check(code == 0, "capctl %s on host %s: exit %d: %s" % (" ".join(args), self.name, code,
                                                               err.strip()))
        import json
        return json.loads(out)

    def stats(self):
        return daemon_stats(self)


# How the tests read a caphostd's counters.  BRIEF-C fixes no command for it;
# these are tried in order and the first that exits 0 with counters wins.  A
# JSON object (nested objects flattened with dots) or "name value" lines.
HOSTD_STATS_COMMANDS = [
    ["{capctl}", "hoststats", "--json"],
    ["{capctl}", "stats", "--host", "--json"],
    ["{capctl}", "host", "stats", "--json"],
    ["{caphostd}", "--stats", "--run-dir", "{run_dir}"],
]


def _flatten(obj, prefix=""):
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, "%s%s." % (prefix, k)))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix[:-1]] = obj
    return out


def parse_counters(text):
    import json
    text = text.strip()
    if text.startswith("{"):
        try:
            return _flatten(json.loads(text))
        except ValueError:
            return None
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*([A-Za-z_][\w.\-]*)\s*[:=]?\s+(\d+)\s*$", line)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out or None


def daemon_ctl(host, request, timeout=5.0):
    """One request line to RUN_DIR/caphostd.ctl (hosts/formats/uplink.h); the reply text, or None."""
    path = os.path.join(host.run_dir, "caphostd.ctl")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(request.encode() + b"\n")
        return recv_all(s).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        s.close()


def daemon_stats(host):
    """{counter: value} of host's caphostd; a failure names every way tried."""
    tried = []
    text = daemon_ctl(host, "stats")
    if text is not None:
        body = re.sub(r"^ok\s*", "", text.strip())
        c = parse_counters(body) or {k: int(v) for k, v in re.findall(r"([A-Za-z_][\w.]*)=(\d+)", body)}
        if not c:   # "name value name value ..." on one line
            c = {k: int(v) for k, v in re.findall(r"([A-Za-z_][\w.]*)\s+(\d+)", body)}
        if c:
            return c
        tried.append("caphostd.ctl stats (reply %r)" % text[:120])
    else:
        tried.append("caphostd.ctl stats (no answer)")
    for tmpl in HOSTD_STATS_COMMANDS:
        argv = [a.format(capctl=CAPCTL, caphostd=CAPHOSTD, run_dir=host.run_dir) for a in tmpl]
        p = subprocess.run(host.prefix + argv, capture_output=True, timeout=20, env=host.env,
                           stdin=subprocess.DEVNULL)
        if p.returncode == 0:
            c = parse_counters(p.stdout.decode("utf-8", "replace"))
            if c:
                return c
        tried.append("%s (exit %d: %s)" % (" ".join(argv[-3:]), p.returncode,
                                          p.stderr.decode("utf-8", "replace").strip()[:80]))
    daemon = getattr(host, "daemon", None)
    if daemon is not None and not daemon.running():   # the likeliest reason: say it first
        raise TestFailure("cannot read caphostd counters on host %s: it exited %s: %s" % (
            host.name, daemon.proc.returncode, daemon.output_text()[-400:] or "(no output)"))
    if daemon is not None:   # alive, not answering: where is it?
        st = proc_stat_fields("/proc/%d/stat" % daemon.proc.pid)
        cpu = " CPU %.2f s," % ((int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")) if st else ""
        tried.append("caphostd pid %d:%s %s; output: %s" % (
            daemon.proc.pid, cpu, _task_states(daemon.proc.pid), daemon.output_text()[-300:]))
    raise TestFailure("cannot read caphostd counters on host %s; tried: %s" % (host.name, "; ".join(tried)))


def wait_counter(host, name, at_least, timeout=20.0, what=None):
    """Bounded wait until host's caphostd counter name reaches at_least; returns its value.
    what: said in the failure, after the figures."""
    deadline = time.monotonic() + timeout
    while True:
        v = daemon_stats(host).get(name, 0)
        if v >= at_least:
            return v
        check(time.monotonic() < deadline, "host %s: %s is %d after %.0f s, want >= %d%s" % (
            host.name, name, v, timeout, at_least, " (%s)" % what if what else ""))
        time.sleep(0.05)   # bounded poll of another process's counters


def counter(stats, *words):
    """Sum of the counters whose name ends with one of words (e.g. 'bad_tag' matches 'drop_bad_tag')."""
    total = 0
    for k, v in stats.items():
        base = re.split(r"[.]", k)[-1]
        if any(base == w or base.endswith("_" + w) for w in words):
            total += v
    return total


_topologies = []   # the Topology last started, for stall_report


def _task_states(pid):
    """Each thread of pid: its state, where in the kernel it waits, and its kernel stack's
    top frames (root reads them): a process stuck on a page fault says so."""
    out = []
    try:
        tids = sorted(os.listdir("/proc/%d/task" % pid), key=int)
    except OSError:
        return "gone"
    for tid in tids:
        base = "/proc/%d/task/%s/" % (pid, tid)
        st = proc_stat_fields(base + "stat")
        if not st:
            continue
        state = st[0]
        try:
            with open(base + "wchan") as f:
                wchan = f.read().strip() or "-"
            with open(base + "stack") as f:
                frames = [l.split()[1].split("+")[0] for l in f.read().splitlines()[:5] if l.split()]
        except (OSError, IndexError):
            continue
        out.append("%s %s %s [%s]" % (tid, state, wchan, " ".join(frames)))
    return "; ".join(out)


def _fds(pid):
    """pid's open descriptors, 'number:what' each."""
    try:
        fds = sorted(os.listdir("/proc/%d/fd" % pid), key=int)
    except OSError:
        return "gone"
    out = []
    for fd in fds:
        try:
            out.append("%s:%s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
        except OSError:
            pass
    return " ".join(out)


def stall_report(tag):
    """After a stream stalled: every host's non-zero counters and the client's TCP state
    (ss -tnio), as '# ' lines, so a failure seen once in CI says where the bytes stopped."""
    for topo in _topologies:
        for h in topo.hosts.values():
            try:
                st = daemon_stats(h) if h.daemon is not None and h.daemon.running() else {}
            except TestFailure as e:
                st = {"unreadable": 1}
                print("# %s: host %s: %s" % (tag, h.name, e), flush=True)
            print("# %s: host %s counters: %s" % (tag, h.name, " ".join(
                "%s=%d" % kv for kv in sorted(st.items()) if kv[1])), flush=True)
            code, out, _ = h.capctl(["ps", "--json"], timeout=10)
            for cap in (json.loads(out) if code == 0 else []):
                name = cap.get("name", "?")
                code, out, err = h.capctl(["stats", name], timeout=10)
                print("# %s: host %s capsule %s: %s" % (tag, h.name, name, " ".join(
                    (out if code == 0 else err).split())), flush=True)
        for cap in list(_started):
            if getattr(cap, "proc", None) is None or not hasattr(cap, "capsule_pids") or \
                    cap.proc.poll() is not None:
                continue
            for pid in [cap.proc.pid] + cap.capsule_pids():
                print("# %s: %s pid %d: %s" % (tag, cap.name, pid, _task_states(pid)), flush=True)
            print("# %s: %s caprun fds: %s" % (tag, cap.name, _fds(cap.proc.pid)), flush=True)
            for line in cap.output_text().splitlines()[-6:]:
                print("# %s: %s said: %s" % (tag, cap.name, line), flush=True)
        if topo.client is not None:
            _, out, _ = topo.client.run(["ss", "-tnio"])
            for line in out.splitlines():
                print("# %s: client ss: %s" % (tag, line.strip()), flush=True)


class Topology:
    """hosts: names (ids 1, 2, ... in order); gateway: one of them (default: the first).

    start() builds the links, starts capdird and (daemons=True) one caphostd
    per host.  Everything stops with stop_all() (Tap.run calls it).
    """

    def __init__(self, hosts=("A", "B", "C"), gateway=None, client=True, daemons=True,
                 client_sysctls=(), daemon_env=None, net_faults=None, net_faults_seed=None,
                 daemon_args=None, directory=None):
        import tempfile
        self.names = list(hosts)
        # net_faults: a `caphostd --net-faults` spec for every host (e.g. "loss=5,dup=2,
        # reorder=5"); the seed (env NET_FAULTS_SEED, else random) is printed so a failing
        # run can be replayed with the same faults.
        self.net_faults = net_faults
        if net_faults_seed is None:
            env_seed = os.environ.get("NET_FAULTS_SEED")
            net_faults_seed = int(env_seed) if env_seed else int.from_bytes(os.urandom(6), "big")
        self.net_faults_seed = net_faults_seed
        if net_faults:
            print("# net faults %s on every host, NET_FAULTS_SEED=%d" % (net_faults, net_faults_seed),
                  flush=True)
        self.daemon_env = dict(daemon_env or {})   # host name -> extra env for its caphostd
        self.daemon_args = dict(daemon_args or {})   # host name -> extra caphostd arguments (--volume)
        self.gateway_name = gateway or self.names[0]
        self.want_client = client
        self.want_daemons = daemons
        self.client_sysctls = list(client_sysctls)
        self.tmp = tempfile.mkdtemp(prefix="capsule-topo.")
        _Cleanup(lambda: __import__("shutil").rmtree(self.tmp, ignore_errors=True))
        self.keys = os.path.join(self.tmp, "keys")
        self.key = {}
        self.hosts = {}
        self.client = None
        self.directory = None
        self.gateway = None
        # directory="etcd": a 3-member etcd cluster (each member in a namespace of its own on
        # the bridge) and two capdird replicas over it; hosts know both (docs/DIRECTORY.md 6)
        # CAPTEST_DIRECTORY=etcd runs any topology test against the etcd store
        self.store = directory or os.environ.get("CAPTEST_DIRECTORY", "sqlite")
        self.etcd = None
        self.replicas = []

    def __getitem__(self, name):
        return self.hosts[name]

    def write_keys(self):
        ids = list(range(1, len(self.names) + 1)) + [OBSERVER_ID]
        self.key = {i: os.urandom(32) for i in ids}
        self.data_key = os.urandom(32)
        with open(self.keys + ".tmp", "w") as f:
            f.write("# test cluster: per-host keys, then the data-plane key\n")
            for i, k in self.key.items():
                f.write("%d %s\n" % (i, k.hex()))
            f.write("data %s\n" % self.data_key.hex())
        os.rename(self.keys + ".tmp", self.keys)

    def build_links(self):
        """Bridge, host namespaces with veths, client namespace; no daemons."""
        sh_ok(["ip", "link", "add", BRIDGE, "type", "bridge"])
        _Cleanup(lambda: run_tool(["ip", "link", "del", BRIDGE]))
        sh_ok(["ip", "addr", "add", DIR_IP + "/24", "dev", BRIDGE])
        if self.store == "etcd":
            sh_ok(["ip", "addr", "add", DIR_IP2 + "/24", "dev", BRIDGE])
        sh_ok(["ip", "link", "set", BRIDGE, "up"])
        for i, name in enumerate(self.names, 1):
            h = TopoHost(self, name, i)
            _veth_into(h.netns, h.port, h.ip)
            self.hosts[name] = h
        self.gateway = self.hosts[self.gateway_name]
        self.gateway.gateway = True
        sh_ok(["sysctl", "-qw", "net.ipv4.ip_forward=1"], self.gateway.prefix)
        if self.want_client:
            self.client = Netns()
            _veth_into(self.client, "v-client", CLIENT_IP)
            sh_ok(["ip", "route", "add", CAPSULE_NET, "via", self.gateway.ip], self.client.prefix)
            for kv in self.client_sysctls:
                sh_ok(["sysctl", "-qw", kv], self.client.prefix)
        # The bridge forwards only once its ports are up: wait until every host answers.
        for h in self.hosts.values():
            self.wait_ping(None, h.ip)
        if self.client:
            self.wait_ping(None, CLIENT_IP)

    def wait_ping(self, ns, ip, timeout=10.0):
        """Bounded wait until ns (None: the test's namespace) gets an ICMP echo reply from ip."""
        def probe():
            s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            try:
                s.settimeout(0.3)
                ident = os.getpid() & 0xFFFF
                deadline = time.monotonic() + timeout
                seq = 0
                while time.monotonic() < deadline:
                    seq += 1
                    msg = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"capsule-topology"
                    msg = msg[:2] + struct.pack("!H", ip_checksum(msg)) + msg[4:]
                    s.sendto(msg, (ip, 0))
                    end = time.monotonic() + 0.3
                    while time.monotonic() < end:
                        try:
                            p, (src, _) = s.recvfrom(2048)
                        except (socket.timeout, BlockingIOError):
                            break
                        icmp = p[(p[0] & 15) * 4:]
                        if src == ip and icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
                            return True
                return False
            finally:
                s.close()
        ok = ns.call(probe) if ns else probe()
        check(ok, "no ICMP echo reply from %s within %.0fs" % (ip, timeout))

    def dir_arg(self):
        if self.store == "etcd":
            return "%s:%d,%s:%d" % (DIR_IP, DIR_PORT, DIR_IP2, DIR_PORT)
        return DIR_IP

    def start_etcd(self):
        import etcdlib
        nss = []
        for i in range(3):
            ns = Netns()
            _veth_into(ns, "v-etcd%d" % i, "%s%d" % (ETCD_NET, i + 1))
            nss.append(ns)
        self.etcd = etcdlib.Cluster(["%s%d" % (ETCD_NET, i + 1) for i in range(3)],
                                    prefixes=[ns.prefix for ns in nss])
        _Cleanup(self.etcd.stop)
        self.etcd.start()

    def start_replica(self, i):
        """capdird replica i (0: on DIR_IP, 1: on DIR_IP2) over the etcd cluster."""
        addr = (DIR_IP, DIR_IP2)[i]
        p = Proc("capdird-%d" % i, [CAPDIRD, "--listen", "%s:%d" % (addr, DIR_PORT), "--etcd",
                                    self.etcd.endpoints(), "--keys", self.keys, "--network",
                                    CAPSULE_NET])
        check(p.wait_for("capdird listening on", 20),
              "capdird replica %d did not start: %s" % (i, p.output_text()[-400:]))
        while len(self.replicas) <= i:
            self.replicas.append(None)
        self.replicas[i] = p
        if i == 0:
            self.directory = p

    def kill_replica(self, i):
        p = self.replicas[i]
        if p is not None and p.running():
            p.proc.kill()
            p.proc.wait()

    def start_directory(self):
        if self.store == "etcd":
            if self.etcd is None:
                self.start_etcd()
            self.start_replica(0)
            self.start_replica(1)
            return
        self.directory = Proc("capdird", [CAPDIRD, "--listen", "%s:%d" % (DIR_IP, DIR_PORT),
                                          "--db", os.path.join(self.tmp, "dir.db"),
                                          "--keys", self.keys, "--network", CAPSULE_NET])
        check(self.directory.wait_for("capdird listening on", 10),
              "capdird did not start: %s" % self.directory.output_text()[-400:])

    def kill_directory(self):
        """SIGKILL capdird (its database stays, as after a crash); over etcd: every replica."""
        if self.store == "etcd":
            for i in range(len(self.replicas)):
                self.kill_replica(i)
            return
        if self.directory is not None and self.directory.running():
            self.directory.proc.kill()
            self.directory.proc.wait()

    def restart_directory(self):
        self.kill_directory()
        self.start_directory()

    def start(self):
        _topologies[:] = [self]   # the one a stalled stream reports on (stall_report)
        for tool in (CAPDIRD, CAPHOSTD) if self.want_daemons else (CAPDIRD,):
            check(os.access(tool, os.X_OK), "%s is not built (make test builds it)" % tool)
        self.write_keys()
        self.build_links()
        self.start_directory()
        if self.want_daemons:
            # The gateway first: the others send it their ordinary traffic.
            order = [self.gateway] + [h for h in self.hosts.values() if h is not self.gateway]
            for h in order:
                h.start_daemon()
        return self

    def capdir(self, *args):
        """capdir as the observer (a key of its own, so no host's seq or NOTIFY address moves)."""
        return run_tool([CAPDIR, "--dir", self.dir_arg(), "--host-id",
                         str(OBSERVER_ID), "--keys", self.keys] + list(args), timeout=30)

    def lookup(self, ip):
        """(name, host_id, epoch) of ip in the directory, or None if it has no entry."""
        code, out, err = self.capdir("lookup", ip)
        if code != 0 and "NOT_FOUND" in err:
            return None
        check(code == 0, "capdir lookup %s: exit %d: %s" % (ip, code, err.strip()))
        m = re.match(r"(\S+) (\S+) host (\d+) at (\S+) epoch (\d+)$", out.strip())
        check(m is not None, "capdir lookup %s printed %r" % (ip, out))
        return m.group(2), int(m.group(3)), int(m.group(5))

    def host_by_id(self, host_id):
        for h in self.hosts.values():
            if h.host_id == host_id:
                return h
        return None


# ---------------------------------------------- the data-plane wire (hosts/formats/wire.h)

from wirelib import (WIRE_DATA, WIRE_HDR, WIRE_REDIR, WIRE_REDIRECT,  # noqa: E402,F401
                     wire_open, wire_seal, wire_seq, wire_tag)


def ip_checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4_udp(src, dst, sport, dport, data, ttl=64):
    """A well-formed IPv4/UDP packet (UDP checksum 0: allowed for IPv4)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x1234, 0, ttl, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", ip_checksum(hdr)) + hdr[12:]
    return hdr + udp


class Sniffer(threading.Thread):
    """Every IPv4 packet on one link (AF_PACKET, opened inside ns if given), parsed briefly.

    Records (time, src, dst, proto, sport, dport, info): info is the wire
    type for UDP to/from port 7471, the TCP flags for TCP, the directory
    message type for UDP to/from 7470.
    """

    def __init__(self, ifname, ns=None):
        super().__init__(daemon=True)
        self.ifname = ifname

        def opener():
            # ETH_P_ALL: on a bridge port, only taps for every protocol see frames the
            # bridge takes; the IPv4 ones are picked out below.
            s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
            s.bind((ifname, 3))
            s.settimeout(0.2)
            return s
        self.sock = ns.call(opener) if ns else opener()
        self.records = []
        self.lock = threading.Lock()
        self.stopping = False
        _Cleanup(self.stop)
        self.start()

    def run(self):
        while not self.stopping:
            try:
                p, addr = self.sock.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[1] != 0x0800 or len(p) < 20 or p[0] >> 4 != 4:
                continue
            ihl = (p[0] & 15) * 4
            src, dst, proto = socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20]), p[9]
            t = p[ihl:]
            sport = dport = 0
            info = None
            if proto in (6, 17) and len(t) >= 8:
                sport, dport = struct.unpack("!HH", t[:4])
            if proto == 6 and len(t) >= 20:
                info = t[13]
            elif proto == 17 and len(t) >= 8 + WIRE_HDR.size and DATA_PORT in (sport, dport):
                w = t[8:]
                inner = None
                if len(w) >= WIRE_HDR.size + 20 and w[1] == WIRE_DATA:
                    ip = w[WIRE_HDR.size:]
                    inner = (socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20]))
                info = (w[1], inner)
            elif proto == 17 and len(t) >= 14 and DIR_PORT in (sport, dport):
                info = t[8 + 5]
            with self.lock:
                self.records.append((time.monotonic(), src, dst, proto, sport, dport, info))

    def snapshot(self, since=0.0):
        with self.lock:
            return [r for r in self.records if r[0] >= since]

    def stop(self):
        self.stopping = True
        if self.is_alive() and threading.current_thread() is not self:
            self.join(2)
        self.sock.close()


def rsts(records):
    """TCP segments with RST among sniffed records, as "src:port->dst:port"."""
    return ["%s:%d->%s:%d" % (r[1], r[4], r[2], r[5]) for r in records
            if r[3] == 6 and r[6] is not None and r[6] & 0x04]


class LineStream:
    """A byte-exact check of a TCP stream through an echo path: numbered lines out, the
    same lines back, in a sender and a receiver thread; progress can be awaited.

    max_inflight: at most that many lines sent and not yet back (None: no limit).  A
    client with a limit never fills the path's windows, so what a stall measures is loss
    and moves, not a backlog waiting behind a zero window."""

    def __init__(self, sock, tag, rate=0.002, line_len=40, max_inflight=None):
        self.sock, self.tag, self.rate, self.line_len = sock, tag, rate, line_len
        self.max_inflight = max_inflight
        self.sent = 0            # lines written
        self.got = 0             # lines received back, verified
        self.last_rx = time.monotonic()
        self.longest_stall = (0.0, 0)   # (seconds, lines back when it ended): the longest wait
                                        # between two verified lines while lines were owed
        self.error = None
        self.stopping = False
        self.cond = threading.Condition()
        self.sock.settimeout(None)
        self.tx = threading.Thread(target=self._send, daemon=True)
        self.rx = threading.Thread(target=self._recv, daemon=True)
        self.tx.start()
        self.rx.start()

    def line(self, n):
        body = ("%s %010d " % (self.tag, n)).encode()
        return body + hashlib.sha256(body).hexdigest()[:self.line_len - len(body) - 1].encode() + b"\n"

    def _fail(self, why):
        with self.cond:
            if self.error is None:
                self.error = why
            self.cond.notify_all()

    def _send(self):
        try:
            while not self.stopping and self.error is None:
                if self.max_inflight:
                    with self.cond:   # woken by every line back (and by a failure)
                        self.cond.wait_for(lambda: self.sent - self.got < self.max_inflight or
                                           self.error is not None or self.stopping)
                    if self.stopping or self.error is not None:
                        break
                self.sock.sendall(self.line(self.sent))
                with self.cond:
                    self.sent += 1
                if self.rate:
                    time.sleep(self.rate)   # pacing: continuous traffic, not a flood
        except OSError as e:
            self._fail("%s: send after %d lines: %s" % (self.tag, self.sent, e))

    def _recv(self):
        buf = b""
        try:
            while self.error is None:
                chunk = self.sock.recv(65536)
                if not chunk:
                    self._fail("%s: connection closed after %d lines back" % (self.tag, self.got))
                    return
                buf += chunk
                while b"\n" in buf:
                    l, buf = buf.split(b"\n", 1)
                    want = self.line(self.got)
                    if l + b"\n" != want:
                        self._fail("%s: line %d is %r, want %r" % (self.tag, self.got, l, want))
                        return
                    now = time.monotonic()
                    with self.cond:
                        self.got += 1
                        if now - self.last_rx > self.longest_stall[0]:
                            self.longest_stall = (now - self.last_rx, self.got)
                        self.last_rx = now
                        self.cond.notify_all()
        except OSError as e:
            if not self.stopping:
                self._fail("%s: recv after %d lines back: %s (errno %s)" % (self.tag, self.got, e, e.errno))

    def wait_got(self, n, timeout):
        """Wait until n lines came back verified; a failure (or timeout) raises."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.got < n and self.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            check(self.error is None, self.error or "")
            if self.got < n:
                stall_report(self.tag)
            check(self.got >= n, "%s: only %d of %d lines back within %.0fs (sent %d)" % (
                self.tag, self.got, n, timeout, self.sent))

    def more(self, n, timeout):
        """Wait for n more verified lines than now."""
        self.wait_got(self.got + n, timeout)

    def finish(self, timeout=20):
        """Stop sending, wait for every sent line to come back; returns the count."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()   # a sender waiting for room (max_inflight) stops too
        self.tx.join(timeout)
        check(not self.tx.is_alive(), "%s: sender still blocked at the end" % self.tag)
        self.wait_got(self.sent, timeout)
        return self.sent


def relay_streams(topo, x, y, n, warm=300, rate=0.002, max_inflight=None, lossy=False):
    """n LineStreams from the ordinary client through relayer capsule x (TCP 9100) to echo
    capsule y (TCP 7): each client connection makes x open its own connection to y, so every
    stream crosses client<->x and x<->y, both ways.  Returns them once each has warm lines
    back, verified.  rate: seconds between two lines of one stream; max_inflight: lines a
    stream may have out and not back (LineStream).  lossy: the network drops packets on
    purpose, so a handshake may need several tries: the capsule resends its SYN and SYN-ACK
    at 1, 3, 7, 15 and 31 s (docs/NETWORK.md 9.1), and three lost in a row are a matter of
    time over a ring of 100 migrations; 60 s sees six tries."""
    streams = []
    patience = 60 if lossy else 15
    for i in range(1, n + 1):
        sock = topo.client.connect(x.addr, 9100, timeout=patience)
        check(x.wait_for("relayer: pair %d connected to %s:7" % (i, y.addr), patience),
              "X did not connect to Y for pair %d; output: %s" % (i, x.output_text()[-400:]))
        streams.append(LineStream(sock, "client%d" % i, rate=rate, max_inflight=max_inflight))
    for s in streams:
        s.wait_got(warm, 2 * patience)
    return streams
