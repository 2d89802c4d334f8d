"""test_directory.py: capdird end to end: create/lookup/move, refusals counted, replay and forgery dropped, crash safety, NOTIFY (CAPDIR_STORE=etcd: the same over etcd)."""
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

from caplib import BIN, Tap, check, check_eq

CAPDIRD = os.path.join(BIN, "capdird")
CAPDIR = os.path.join(BIN, "capdir")
DIR_ADDR = "127.0.0.1"
DIR_PORT = 7470            # the test runs in its own network namespace: the port is ours
STORE = os.environ.get("CAPDIR_STORE", "sqlite")     # "etcd": test_directory_etcd.py
ETCD = None                # the etcd member (on loopback) of the running case when STORE is etcd
_prefixes = iter(range(1, 1000))

# Wire format (hosts/formats/dirproto.h): big-endian header, body, HMAC-SHA256.
HDR = struct.Struct(">4sBBHIIQII")
T = dict(HELLO=1, HELLO_OK=2, CREATE=3, CREATED=4, MOVE=5, MOVED=6, LOOKUP=7, ENTRY=8,
         RELEASE=9, RELEASED=10, LIST=11, ENTRIES=12, STATS=13, STATS_REPLY=14, NOTIFY=15,
         NOTIFY_ACK=16, ERROR=17, STATE=18, HOST_LOOKUP=19, HOST=20)
ENTRY = struct.Struct(">IIIHHI64s")      # ip host_id host_addr data_port state epoch name


def ip2int(s):
    return struct.unpack(">I", socket.inet_aton(s))[0]


def int2ip(v):
    return socket.inet_ntoa(struct.pack(">I", v))



def capdir_run(dir_arg, keys, host, *args):
    """(exit code, stdout, stderr) of `capdir --dir DIR_ARG --host-id HOST --keys KEYS ARGS`."""
    p = subprocess.run([CAPDIR, "--dir", dir_arg, "--host-id", str(host), "--keys", keys] +
                       list(args), capture_output=True, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def capdir_ok(dir_arg, keys, host, *args):
    """capdir_run that must exit 0: its stdout."""
    code, out, err = capdir_run(dir_arg, keys, host, *args)
    check(code == 0, "capdir %s: exit %d: %s" % (" ".join(args), code, err.strip()))
    return out

class PyHost:
    """A host speaking the protocol directly (python's hmac), to craft exact datagrams."""

    _last = 0

    def __init__(self, host_id, key, mac_key=None, addr=None):
        self.host_id, self.key = host_id, key
        self.mac_key = mac_key or key        # a different mac_key forges a bad MAC
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(addr or (DIR_ADDR, DIR_PORT))
        self.sock.settimeout(10)
        self.dir_seq = 0

    # The capdir CLI also speaks as these hosts, with seq = ms << 20 | counter,
    # and the directory rightly drops a seq at or below the last one it saw as a
    # replay.  So the two never share a millisecond: we pick ours only after the
    # clock ticked past anything the CLI sent, and let it tick again after sending.
    @staticmethod
    def _tick():
        t = int(time.time() * 1000)
        while int(time.time() * 1000) == t:
            time.sleep(0.0002)
        return int(time.time() * 1000)

    @classmethod
    def next_seq(cls):
        ms = cls._tick()
        s = max(ms << 20, cls._last + 1)
        cls._last = s
        return s

    def encode(self, mtype, body, request_id, seq=None):
        seq = self.next_seq() if seq is None else seq
        hdr = HDR.pack(b"CDIR", 1, mtype, 0, self.host_id, 1, seq, request_id, len(body))
        return hdr + body + hmac.new(self.mac_key, hdr + body, hashlib.sha256).digest()

    def decode(self, data):
        check(len(data) >= 64, "short datagram from the directory")
        body, mac = data[32:-32], data[-32:]
        check(hmac.compare_digest(hmac.new(self.key, data[:-32], hashlib.sha256).digest(), mac),
              "directory's MAC does not verify")
        magic, ver, mtype, flags, host, net, seq, req, blen = HDR.unpack(data[:32])
        check_eq((magic, ver, host, blen), (b"CDIR", 1, 0, len(body)), "directory header")
        check(seq > self.dir_seq, "directory's seq did not increase")
        self.dir_seq = seq
        return mtype, req, body

    def send(self, datagram):
        self.sock.send(datagram)
        self._tick()

    def recv(self):
        return self.decode(self.sock.recv(2048))

    def request(self, mtype, body, request_id):
        d = self.encode(mtype, body, request_id)
        self.send(d)
        t, req, b = self.recv()
        check_eq(req, request_id, "request id echoed")
        return d, t, b

    def close(self):
        self.sock.close()


class Directory:
    """One capdird process on a temp db; stopped (by PID) when the test ends."""

    def __init__(self, tmp, network=None):
        self.tmp = tmp
        self.db = os.path.join(tmp, "dir.db")
        self.prefix = "/t%d/" % next(_prefixes)        # a fresh directory in the shared etcd
        self.keys = os.path.join(tmp, "keys")
        self.network = network
        self.proc = None
        if not os.path.exists(self.keys):
            self.key = {h: os.urandom(32) for h in (1, 2, 3)}
            with open(self.keys, "w") as f:
                f.write("# test cluster\n")
                for h, k in self.key.items():
                    f.write("%d %s\n" % (h, k.hex()))
                f.write("data %s\n" % os.urandom(32).hex())
        else:
            self.key = {}
            for line in open(self.keys):
                w = line.split()
                if len(w) == 2 and w[0].isdigit():
                    self.key[int(w[0])] = bytes.fromhex(w[1])

    def start(self):
        store = (["--etcd", ETCD.endpoints(), "--etcd-prefix", self.prefix] if STORE == "etcd"
                 else ["--db", self.db])
        argv = [CAPDIRD, "--listen", "%s:%d" % (DIR_ADDR, DIR_PORT)] + store + ["--keys", self.keys]
        if self.network:
            argv += ["--network", self.network]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline().decode()     # readiness: the "listening" line
        check("capdird listening on" in line, "capdird did not start: %r" % line)
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        if self.proc:
            self.proc.stdout.close()
        code, self.proc = (self.proc.returncode if self.proc else None), None
        return code

    def cli(self, host, *args):
        return capdir_run("%s:%d" % (DIR_ADDR, DIR_PORT), self.keys, host, *args)

    def ok(self, host, *args):
        return capdir_ok("%s:%d" % (DIR_ADDR, DIR_PORT), self.keys, host, *args)

    def stats(self):
        out = self.ok(1, "stats")
        return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def with_directory(fn, network=None):
    def run():
        global ETCD
        tmp = tempfile.mkdtemp(prefix="capdird.")
        d = Directory(tmp, network)
        try:
            if STORE == "etcd":     # a fresh member per case: Tap stops every process after each
                import etcdlib
                ETCD = etcdlib.Cluster(["127.0.0.1"]).start()
            d.start()
            fn(d)
        finally:
            d.kill()
            if ETCD:
                ETCD.stop()
                ETCD = None
            shutil.rmtree(tmp, ignore_errors=True)
    return run


def create_lookup_move(d):
    check_eq(d.ok(1, "hello", "198.19.0.1", "7471"), "hello 198.19.0.1:7471 ok\n", "hello")
    d.ok(2, "hello", "198.19.0.2", "7471")
    check_eq(d.ok(1, "create", "web"), "created web 198.18.0.2 epoch 1\n", "first address")
    check_eq(d.ok(1, "create", "db", "198.18.0.40"), "created db 198.18.0.40 epoch 1\n", "asked for")
    check_eq(d.ok(1, "lookup", "198.18.0.2"), "198.18.0.2 web host 1 at 198.19.0.1:7471 epoch 1\n",
             "lookup")
    check_eq(d.ok(1, "move", "198.18.0.2", "2", "1"), "moved 198.18.0.2 to host 2 epoch 2\n", "move")
    check_eq(d.ok(3, "lookup", "198.18.0.2"), "198.18.0.2 web host 2 at 198.19.0.2:7471 epoch 2\n",
             "lookup after move")
    code, out, err = d.cli(1, "create", "again", "198.18.0.40")
    check_eq((code, err), (1, "capdir: create again: IP_IN_USE\n"), "address in use")
    code, out, err = d.cli(3, "lookup", "198.18.0.99")
    check_eq((code, err), (1, "capdir: lookup 198.18.0.99: NOT_FOUND\n"), "unknown address")
    lines = d.ok(1, "list").splitlines()
    check_eq(len(lines), 2, "list lines")
    check(d.ok(1, "list", "--json").startswith('[{"ip":"198.18.0.2","name":"web","host":2'), "json")
    s = d.stats()
    check_eq((s["creates"], s["moves"], s["err_ip_in_use"], s["err_not_found"]), (2, 1, 1, 1),
             "counters")


def stale_epoch_refused(d):
    d.ok(1, "create", "m")
    d.ok(1, "move", "198.18.0.2", "2", "1")
    code, out, err = d.cli(2, "move", "198.18.0.2", "3", "1")      # epoch 1 is gone
    check_eq((code, out, err), (1, "", "capdir: move 198.18.0.2: STALE_EPOCH (current epoch 2)\n"),
             "stale move")
    code, out, err = d.cli(3, "move", "198.18.0.2", "1", "2")      # neither holder nor destination
    check_eq((code, err), (1, "capdir: move 198.18.0.2: NOT_AUTHORIZED (current epoch 2)\n"),
             "bystander move")
    code, out, err = d.cli(1, "release", "198.18.0.2", "2")        # only the holder releases
    check_eq(code, 1, "release by a former holder")
    s = d.stats()
    check_eq((s["err_stale_epoch"], s["err_not_authorized"], s["moves"]), (1, 2, 1), "counters")
    check_eq(d.ok(2, "release", "198.18.0.2", "2"), "released 198.18.0.2\n", "release")


def forged_and_replayed_dropped(d):
    h1 = PyHost(1, d.key[1])
    sent, t, body = h1.request(T["CREATE"], struct.pack(">I64s", 0, b"py"), 1000)
    check_eq(t, T["CREATED"], "reply type")
    check_eq(struct.unpack(">II", body), (ip2int("198.18.0.2"), 1), "created")
    # The same request again with a new seq: a retry; answered from the cache, not re-done.
    _, t, body = h1.request(T["CREATE"], struct.pack(">I64s", 0, b"py"), 1000)
    check_eq(struct.unpack(">II", body), (ip2int("198.18.0.2"), 1), "retry answered the same")
    h1.send(sent)                                                   # exact same bytes: replay
    forger = PyHost(1, d.key[1], mac_key=os.urandom(32))            # host 1 without its key
    forger.send(forger.encode(T["CREATE"], struct.pack(">I64s", 0, b"evil"), 7))
    stranger = PyHost(9, os.urandom(32))                            # no such host
    stranger.send(stranger.encode(T["STATS"], b"", 8))
    h1.send(b"CDIR\x01")                                            # truncated
    h1.send(b"XDIR" + sent[4:])                                     # malformed
    s = d.stats()       # the same server socket, FIFO: everything above was processed first
    check_eq((s["drop_replay"], s["drop_bad_mac"], s["drop_unknown_host"], s["drop_truncated"],
              s["drop_malformed"], s["retries_answered"], s["creates"]), (1, 1, 1, 1, 1, 1, 1),
             "drop counters")
    check_eq(d.ok(1, "list"), "198.18.0.2 py host 1 at 0.0.0.0:0 epoch 1\n", "one capsule only")
    for h in (h1, forger, stranger):
        h.close()


def crash_loses_nothing(d):
    h1 = PyHost(1, d.key[1])
    d.ok(1, "create", "a")
    d.ok(1, "create", "b")
    sent, t, _ = h1.request(T["MOVE"], struct.pack(">III", ip2int("198.18.0.3"), 2, 1), 5)
    check_eq(t, T["MOVED"], "move acknowledged")
    check_eq(d.kill(), -signal.SIGKILL, "capdird killed")          # right after the reply
    d.start()
    check_eq(d.ok(3, "list"), "198.18.0.2 a host 1 at 0.0.0.0:0 epoch 1\n"
                              "198.18.0.3 b host 2 at 0.0.0.0:0 epoch 2\n", "state after SIGKILL")
    h1.send(sent)                  # replay protection survived the restart (seq in the db)
    check_eq(d.stats()["drop_replay"], 1, "replay after restart")
    check_eq(d.ok(1, "create", "c"), "created c 198.18.0.4 epoch 1\n", "allocation continues")
    h1.close()
    check_eq(d.kill(signal.SIGTERM), 0, "clean exit on SIGTERM")


def syncs_while(d, fn):
    """How many fsync and fdatasync calls capdird makes while fn runs (strace attached to it)."""
    log = os.path.join(d.tmp, "strace.log")
    st = subprocess.Popen(["strace", "-f", "-e", "trace=fsync,fdatasync", "-o", log, "-p",
                           str(d.proc.pid)], stderr=subprocess.PIPE, text=True)
    try:
        line = st.stderr.readline()      # readiness: "strace: Process N attached"
        check("attached" in line, "strace did not attach: %r" % line)
        fn()
    finally:
        st.send_signal(signal.SIGINT)    # detaches, capdird runs on
        st.communicate(timeout=10)
    with open(log) as f:
        return sum(1 for line in f if "fsync(" in line or "fdatasync(" in line)


def reads_not_synced(d):
    """A read's commit is not synced on its own (a lookup costs no fsync), a decision's is;
    a capdird killed right after a read still refuses that read's replay."""
    d.ok(1, "hello", "198.19.0.1", "7471")
    d.ok(1, "create", "r")
    ip = "198.18.0.2"
    reads = lambda: [d.ok(h, *args) for h in (1, 2, 3) for args in
                     (("lookup", ip), ("host", "1"), ("list",), ("stats",))]
    check_eq(syncs_while(d, reads), 0, "fsyncs for 12 reads (lookup, host, list, stats)")
    check(syncs_while(d, lambda: d.ok(1, "move", ip, "2", "1")) >= 1, "a MOVE's commit is synced")
    h3 = PyHost(3, d.key[3])
    sent, t, _ = h3.request(T["LOOKUP"], struct.pack(">II", ip2int(ip), 0), 9)
    check_eq(t, T["ENTRY"], "lookup answered")
    check_eq(d.kill(), -signal.SIGKILL, "capdird killed right after the read")
    d.start()
    h3.send(sent)
    check_eq(d.stats()["drop_replay"], 1, "the read's seq survived the kill: its replay dropped")
    h3.close()


def notify_reaches_subscriber(d):
    d.ok(1, "hello", "198.19.0.1", "7471")
    d.ok(3, "hello", "198.19.0.3", "7471")
    d.ok(1, "create", "n")
    h2 = PyHost(2, d.key[2])                                        # host 2, played by python
    _, t, body = h2.request(T["LOOKUP"], struct.pack(">II", ip2int("198.18.0.2"), 1), 77)
    check_eq(t, T["ENTRY"], "lookup reply")
    check_eq(ENTRY.unpack(body)[:6], (ip2int("198.18.0.2"), 1, ip2int("198.19.0.1"), 7471, 0, 1),
             "entry")
    d.ok(1, "move", "198.18.0.2", "3", "1")
    t, req, body = h2.recv()                                        # the NOTIFY
    check_eq(t, T["NOTIFY"], "notify type")
    ip, host, addr, port, _, epoch, name = ENTRY.unpack(body)
    check_eq((int2ip(ip), host, int2ip(addr), port, epoch, name.rstrip(b"\0")),
             ("198.18.0.2", 3, "198.19.0.3", 7471, 2, b"n"), "notify entry")
    h2.send(h2.encode(T["NOTIFY_ACK"], struct.pack(">II", ip, epoch), req))
    # The ACK is a datagram: wait for capdird to count it.  On a loaded machine
    # the 200 ms resend may fire before it, so notify_sent is 1 or more.
    deadline = time.monotonic() + 5
    s = d.stats()
    while s["notify_acked"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
        s = d.stats()
    check_eq((s["notify_acked"], s["notify_given_up"]), (1, 0), "notify counters")
    check(s["notify_sent"] >= 1, "notify_sent %d" % s["notify_sent"])
    h2.close()

    # The same through dirclient: `capdir watch` as host 2 (lookup+subscribe, wait).
    w = subprocess.Popen([CAPDIR, "--dir", "%s:%d" % (DIR_ADDR, DIR_PORT), "--host-id", "2",
                          "--keys", d.keys, "watch", "198.18.0.2", "2", "20"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = w.stdout.readline().decode()
        check_eq(first, "entry 198.18.0.2 n host 3 at 198.19.0.3:7471 epoch 2\n", "watch entry")
        d.ok(3, "move", "198.18.0.2", "1", "2")
        check_eq(w.stdout.readline().decode(),
                 "notify 198.18.0.2 n host 1 at 198.19.0.1:7471 epoch 3\n", "watch notify")
        d.ok(1, "release", "198.18.0.2", "3")
        check_eq(w.stdout.readline().decode(),
                 "notify 198.18.0.2 n host 0 at 0.0.0.0:0 epoch 3\n", "released notify")
        check_eq(w.wait(10), 0, "watch exit")
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()
        w.stdout.close()
        w.stderr.close()
    s = d.stats()
    check_eq((s["notify_acked"], s["notify_given_up"]), (3, 0), "all notifies acknowledged")


def state_and_host_lookup(d):
    d.ok(1, "hello", "198.19.0.1", "7471")
    d.ok(1, "create", "st")
    ip = "198.18.0.2"
    entry = lambda: json.loads(d.ok(3, "list", "--json"))[0]
    check_eq(entry()["state"], "unknown", "state before any report")
    check_eq(d.ok(1, "state", ip, "1", "running"), "state %s running epoch 1\n" % ip, "holder report")
    check_eq(entry()["state"], "running", "state in LIST after the report")
    code, _, err = d.cli(2, "state", ip, "1", "saved")
    check_eq((code, err), (1, "capdir: state %s: NOT_AUTHORIZED\n" % ip), "non-holder refused")
    code, _, err = d.cli(1, "state", ip, "7", "saved")
    check_eq((code, err), (1, "capdir: state %s: STALE_EPOCH\n" % ip), "stale epoch refused")
    # state 0 ("unknown") is never reported: an authenticated bad body, answered BAD_REQUEST
    h2 = PyHost(1, d.key[1])
    _, t, body = h2.request(T["STATE"], struct.pack(">IIHH", ip2int(ip), 1, 0, 0), 5)
    check_eq((t, struct.unpack(">HHI", body)[0]), (T["ERROR"], 6), "STATE unknown refused")
    # LOOKUP carries the state in the entry's former reserved field
    _, t, body = h2.request(T["LOOKUP"], struct.pack(">II", ip2int(ip), 0), 6)
    check_eq((t, ENTRY.unpack(body)[4]), (T["ENTRY"], 1), "state 1 (running) in ENTRY")
    h2.close()
    check_eq(entry()["state"], "running", "refusals changed nothing")
    d.ok(2, "move", ip, "2", "1")
    check_eq((entry()["host"], entry()["epoch"], entry()["state"]), (2, 2, "unknown"),
             "a move resets the state: it was the old holder's")
    code, _, err = d.cli(1, "state", ip, "2", "frozen")
    check_eq((code, err), (1, "capdir: state %s: NOT_AUTHORIZED\n" % ip), "old holder refused")
    d.ok(2, "state", ip, "2", "saved")
    check_eq(entry()["state"], "saved", "new holder's report")
    # HOST_LOOKUP: the locator from HELLO; NOT_FOUND before a HELLO or for no such host
    check_eq(d.ok(3, "host", "1"), "host 1 at 198.19.0.1:7471\n", "host lookup")
    code, _, err = d.cli(3, "host", "2")
    check_eq((code, err), (1, "capdir: host 2: NOT_FOUND\n"), "host without HELLO")
    code, _, err = d.cli(3, "host", "99")
    check_eq((code, err), (1, "capdir: host 99: NOT_FOUND\n"), "unknown host")
    s = d.stats()
    check_eq((s["states"], s["host_lookups"], s["err_not_authorized"], s["err_stale_epoch"]),
             (2, 1, 2, 1), "state and host lookup counters")


def no_free_ip(d):
    for i in range(5):                              # /29: .2 to .6
        d.ok(1, "create", "c%d" % i)
    code, out, err = d.cli(1, "create", "full")
    check_eq((code, err), (1, "capdir: create full: NO_FREE_IP\n"), "network full")
    code, out, err = d.cli(1, "create", "gw", "198.18.5.1")
    check_eq((code, err), (1, "capdir: create gw: BAD_REQUEST\n"), "gateway address refused")


def bad_flags_one_line():
    tmp = tempfile.mkdtemp(prefix="capdird.")
    try:
        keys = os.path.join(tmp, "keys")
        with open(keys, "w") as f:
            f.write("1 nothex\n")
        cases = [
            ([CAPDIRD, "--listen", "127.0.0.1", "--keys", keys], "required"),
            ([CAPDIRD, "--listen", "127.0.0.1", "--db", tmp + "/d", "--keys", keys], keys + " line 1"),
            ([CAPDIRD, "--listen", "127.0.0.1", "--db", tmp + "/d", "--keys", tmp + "/none"],
             tmp + "/none"),
            ([CAPDIRD, "--listen", "1.2.3", "--db", "x", "--keys", keys], "--listen 1.2.3"),
            ([CAPDIRD, "--listen", "127.0.0.1", "--db", "x", "--keys", keys, "--network", "10/8"],
             "--network 10/8"),
            ([CAPDIR, "--dir", "127.0.0.1", "--host-id", "1", "--keys", keys, "list"], keys),
        ]
        for argv, want in cases:
            p = subprocess.run(argv, capture_output=True, timeout=10)
            err = p.stderr.decode()
            check(p.returncode != 0, "%r exited 0" % argv)
            check(want in err.splitlines()[0], "%r: error %r does not mention %r" % (argv, err, want))
    finally:
        shutil.rmtree(tmp)


def main():
    tap = Tap()
    tag = "directory" if STORE == "sqlite" else "directory[%s]" % STORE
    if True:
        tap.run(tag + ": create, lookup, move, list, counters", with_directory(create_lookup_move))
        tap.run(tag + ": stale epoch and bystander refused and counted",
                with_directory(stale_epoch_refused))
        tap.run(tag + ": forged, unknown, replayed, truncated datagrams dropped and counted",
                with_directory(forged_and_replayed_dropped))
        tap.run(tag + ": SIGKILL after acknowledged create+move loses nothing",
                with_directory(crash_loses_nothing))
        tap.run(tag + ": NOTIFY reaches the host that looked the entry up",
                with_directory(notify_reaches_subscriber))
        tap.run(tag + ": STATE from the holder only, carried in entries; HOST_LOOKUP",
                with_directory(state_and_host_lookup))
        tap.run(tag + ": small network fills up, gateway never handed out",
                with_directory(no_free_ip, network="198.18.5.0/29"))
        if STORE == "sqlite":
            tap.run("directory: a read's commit is not synced, a MOVE's is; SIGKILL loses neither",
                    with_directory(reads_not_synced))
            tap.run("directory: bad flags and files give one-line errors", bad_flags_one_line)
    tap.done()


if __name__ == "__main__":
    main()
